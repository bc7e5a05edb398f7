# ruff: noqa: E501 - tables of exact expected messages read better unwrapped
"""Checks evaluated on synthetic facts: no Docker, no probe."""

from __future__ import annotations

from typing import Any

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from devbox_conformance import checks
from devbox_conformance import expectations as exp
from devbox_conformance.checks.binaries import extract_version
from devbox_conformance.checks.image_config import health_budget

MANIFEST = {"sets": {
    "gpu-tools": {"included": True, "requested": ["nvtop"], "skipped": [
        {"name": "nvtop", "reason": "no candidate for arm64 in the configured apt sources"}]},
    "python-extras": {"included": False, "reason": "INSTALL_PYTHON_EXTRAS=false", "requested": ["mlflow"]}},
    "features": {"flash-attn": {"state": "skipped", "reason": "torch has no CUDA"}}}


def ctx(facts: dict[str, Any] | None = None, *, image_attrs: dict[str, Any] | None = None,
        cond: dict[str, Any] | None = None, wait=None) -> checks.Context:
    base = {"binaries": {}, "dists": {}, "imports": {}, "files": {}, "env": {}, "users": {}, "groups": {},
            "shells": {}, "manifest": MANIFEST}
    base.update(facts or {})
    return checks.Context(facts=base, conditions=cond or {"arch": "amd64", "sets": None},
                          target_kind="image", image_attrs=image_attrs, wait_healthy=wait)


@pytest.mark.parametrize("output, regex, version", [
    ("ripgrep 13.0.0\n-SIMD -AVX (compiled)", None, "13.0.0"),
    ("git version 2.39.5", None, "2.39.5"),
    ("tmux 3.3a", None, "3.3"),
    ("0.38.0 (debian)", None, "0.38.0"),
    ("gcc (Debian 12.2.0-14) 12.2.0", None, "12.2.0"),
    ("v0.24.0", None, "0.24.0"),
    ("cmake version 3.25.1\n\nCMake suite maintained", None, "3.25.1"),
    ("no digits here", None, None),
    ("tool build 77 release 1.5", r"release (\S+)", "1.5"),
])
def test_extract_version(output: str, regex: str | None, version: str | None) -> None:
    assert extract_version(output, regex) == version


def binary(**kw: Any) -> exp.Binary:
    kw.setdefault("name", "rg")
    return exp.Binary(key=kw["name"], source="common.yaml:3", **kw)


def test_binary_pass_and_version_failure() -> None:
    facts = {"binaries": {"rg": {"path": "/usr/bin/rg", "version_output": "ripgrep 13.0.0"}}}
    assert checks.verify("binaries", binary(version=SpecifierSet(">=13")), ctx(facts)).status == "passed"
    out = checks.verify("binaries", binary(version=SpecifierSet(">=14")), ctx(facts))
    assert out.status == "failed"
    assert out.message == ("binaries[rg] (common.yaml:3)\nexpected: on PATH, version >=14\n"
                           "found:    /usr/bin/rg, version 13.0.0")


def test_absent_binary_explained_from_the_manifest() -> None:
    out = checks.verify("binaries", binary(name="nvtop"), ctx())
    assert out.status == "failed"
    assert out.message.endswith("why:      build manifest: nvtop skipped at build (gpu-tools): "
                                "no candidate for arm64 in the configured apt sources")


def test_optional_absent_is_a_skip_with_reason_never_a_pass() -> None:
    out = checks.verify("binaries", binary(name="nvtop", optional=True, reason="contrib only"), ctx())
    assert out.status == "skipped"
    assert out.message.startswith("optional, absent: contrib only (build manifest: nvtop skipped")


def test_optional_present_but_wrong_is_still_a_failure() -> None:
    facts = {"binaries": {"rg": {"path": "/usr/bin/rg", "version_output": "ripgrep 11.0"}}}
    item = binary(version=SpecifierSet(">=13"), optional=True, reason="r")
    assert checks.verify("binaries", item, ctx(facts)).status == "failed"


def test_when_false_skips_naming_the_fact() -> None:
    item = binary(when=exp.When(gpu=True))
    out = checks.verify("binaries", item, ctx(cond={"gpu": False}))
    assert out == checks.Outcome("skipped", "when: gpu is true, but the target has no GPU visible")


def dist(**kw: Any) -> exp.PythonDist:
    kw.setdefault("name", "transformers")
    kw.setdefault("import_name", kw["name"].replace("-", "_"))
    return exp.PythonDist(key=kw["name"], source="s", **kw)


@pytest.mark.parametrize("facts, status, found", [
    ({"dists": {"transformers": "4.57.1"}, "imports": {"transformers": {"ok": True}}}, "passed", None),
    ({"dists": {"transformers": "4.30.0"}, "imports": {"transformers": {"ok": True}}}, "failed",
     "found:    version 4.30.0"),
    ({"dists": {}}, "failed", "found:    not installed"),
    ({"dists": {"transformers": "4.57.1"}, "imports": {"transformers": {"ok": False, "error": "ImportError: x"}}},
     "failed", "found:    version 4.57.1; import transformers failed: ImportError: x"),
])
def test_python_dist(facts: dict, status: str, found: str | None) -> None:
    out = checks.verify("python_dists", dist(min_version=Version("4.40")), ctx(facts))
    assert out.status == status
    if found:
        assert found in out.message


def test_python_dist_name_normalization_and_feature_reason() -> None:
    facts = {"dists": {"huggingface-hub": "0.30"}, "imports": {"huggingface_hub": {"ok": True}}}
    assert checks.verify("python_dists", dist(name="Huggingface_Hub", import_name="huggingface_hub"),
                         ctx(facts)).status == "passed"
    out = checks.verify("python_dists", dist(name="flash-attn"), ctx())
    assert "why:      build manifest: feature flash-attn skipped: torch has no CUDA" in out.message
    out = checks.verify("python_dists", dist(name="mlflow"), ctx())
    assert "build manifest: set python-extras not included (INSTALL_PYTHON_EXTRAS=false)" in out.message


def test_labels_env_files_users() -> None:
    attrs = {"Config": {"Labels": {"org.opencontainers.image.title": "gpu-devbox"}}}
    lab = exp.Label(key="t", name="org.opencontainers.image.title", value="gpu-devbox")
    assert checks.verify("labels", lab, ctx(image_attrs=attrs)).status == "passed"
    lab = exp.Label(key="t", name="org.opencontainers.image.title", regex="gpu-.*y")
    assert checks.verify("labels", lab, ctx(image_attrs=attrs)).status == "failed"
    assert checks.verify("labels", lab, ctx()).status == "skipped"  # local host: no image
    env = exp.EnvVar(key="TZ", name="TZ", value="UTC")
    assert checks.verify("env", env, ctx({"env": {"TZ": "UTC"}})).status == "passed"
    assert "found:    'Europe/Paris'" in checks.verify("env", env, ctx({"env": {"TZ": "Europe/Paris"}})).message
    f = exp.File(key="/x", path="/x", type="file", mode="0755", content="greeting")
    good = {"exists": True, "type": "file", "target_type": "file", "mode": "0755", "content": "devbox-greeting"}
    assert checks.verify("files", f, ctx({"files": {"/x": good}})).status == "passed"
    assert "found:    mode 0644" in checks.verify("files", f, ctx({"files": {"/x": {**good, "mode": "0644"}}})).message
    u = exp.User(key="root", name="root", uid=0, home="/root")
    assert checks.verify("users", u, ctx({"users": {"root": {"uid": 0, "home": "/root"}}})).status == "passed"
    assert checks.verify("users", u, ctx({"users": {"root": None}})).status == "failed"


SHELL = exp.Shell(key="bash-login", name="bash-login", shell="bash", login=True, interactive=True,
                  greeting="Welcome to GPU devbox!", path_contains=("~/.local/bin",), aliases=("ll",))
GOOD_RUN = {"available": True, "exit_code": 0, "completed": True, "stdout": "Welcome to GPU devbox!\nArch: x\n",
            "stderr": "", "path": "/root/.local/bin:/usr/bin", "home": "/root", "aliases": {"ll": True}}


@pytest.mark.parametrize("change, problem", [
    ({}, None),
    ({"stdout": "Welcome to GPU devbox!\nWelcome to GPU devbox!\n"}, "printed 2 times"),
    ({"stdout": "hello\nWelcome to GPU devbox!\n"}, "first line is 'hello'"),
    ({"stdout": ""}, "printed 0 times"),
    ({"stderr": "bash: PS1: unbound variable\n"}, "stderr: 'bash: PS1: unbound variable'"),
    ({"path": "/usr/bin"}, "PATH lacks /root/.local/bin"),
    ({"aliases": {"ll": False}}, "alias ll not defined"),
    ({"exit_code": 1}, "exit code 1"),
])
def test_shell(change: dict, problem: str | None) -> None:
    out = checks.verify("shells", SHELL, ctx({"shells": {"bash-login": {**GOOD_RUN, **change}}}))
    if problem is None:
        assert out.status == "passed", out.message
    else:
        assert out.status == "failed" and problem in out.message


def test_image_config_and_health_budget() -> None:
    health = {"Test": ["CMD", "/usr/local/bin/devbox-healthcheck"], "Interval": 30_000_000_000,
              "Timeout": 30_000_000_000, "StartPeriod": 20_000_000_000, "Retries": 3}
    assert health_budget(health) == 20 + 3 * 60
    assert health_budget({}) == 3 * 60
    attrs = {"Config": {"Cmd": ["/bin/bash", "-l"], "WorkingDir": "/workspace", "Healthcheck": health}}
    cmd = exp.ImageConfig(key="cmd", name="cmd", value=("/bin/bash", "-l"))
    assert checks.verify("image_config", cmd, ctx(image_attrs=attrs)).status == "passed"
    seen: list[float] = []

    def wait(budget: float) -> tuple[bool, str]:
        seen.append(budget)
        return False, "container stopped (exited, exit code 1)"

    hc = exp.ImageConfig(key="healthcheck", name="healthcheck", healthy=True)
    out = checks.verify("image_config", hc, ctx(image_attrs=attrs, wait=wait))
    assert out.status == "failed" and "container stopped" in out.message and seen == [200]
    none = {"Config": {"Healthcheck": {"Test": ["NONE"]}}}
    assert "no HEALTHCHECK" in checks.verify("image_config", hc, ctx(image_attrs=none)).message
