# ruff: noqa: E501 - tables of exact expected messages read better unwrapped
"""Checks evaluated on synthetic facts: no Docker, no probe."""

from __future__ import annotations

from typing import Any

import pytest
from check_facts import EMPTY_FACTS
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from devbox_conformance import expectations as exp
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.binaries import extract_version
from devbox_conformance.kinds.image_config import health_budget

MANIFEST = {
    "sets": {
        "gpu-tools": {
            "included": True,
            "requested": ["nvtop"],
            "skipped": [{"name": "nvtop", "reason": "no candidate for arm64 in the configured apt sources"}],
        },
        "python-extras": {
            "included": False,
            "reason": "INSTALL_PYTHON_EXTRAS=false",
            "requested": ["mlflow"],
        },
    },
    "features": {"flash-attn": {"state": "skipped", "reason": "torch has no CUDA"}},
}


def ctx(
    facts: dict[str, Any] | None = None,
    *,
    image_attrs: dict[str, Any] | None = None,
    cond: dict[str, Any] | None = None,
) -> verdict.Context:
    base = {**EMPTY_FACTS, "manifest": MANIFEST, **(facts or {})}
    return verdict.Context(
        facts=base,
        conditions=cond or {"arch": "amd64", "sets": None},
        target_kind="image",
        image_attrs=image_attrs,
    )


@pytest.mark.parametrize(
    "output, regex, version",
    [
        ("ripgrep 13.0.0\n-SIMD -AVX (compiled)", None, "13.0.0"),
        ("git version 2.39.5", None, "2.39.5"),
        ("tmux 3.3a", None, "3.3"),
        ("0.38.0 (debian)", None, "0.38.0"),
        ("gcc (Debian 12.2.0-14) 12.2.0", None, "12.2.0"),
        ("v0.24.0", None, "0.24.0"),
        ("cmake version 3.25.1\n\nCMake suite maintained", None, "3.25.1"),
        ("no digits here", None, None),
        ("tool build 77 release 1.5", r"release (\S+)", "1.5"),
    ],
)
def test_extract_version(output: str, regex: str | None, version: str | None) -> None:
    assert extract_version(output, regex) == version


def binary(**kw: Any) -> exp.Binary:
    kw.setdefault("name", "rg")
    return exp.Binary(key=kw["name"], source="common.yaml:3", **kw)


def test_binary_pass_and_version_failure() -> None:
    facts = {"binaries": {"rg": {"path": "/usr/bin/rg", "version_output": "ripgrep 13.0.0"}}}
    assert verdict.verify("binaries", binary(version=SpecifierSet(">=13")), ctx(facts)).status == "passed"
    out = verdict.verify("binaries", binary(version=SpecifierSet(">=14")), ctx(facts))
    assert out.status == "failed"
    assert out.message == (
        "binaries[rg] (common.yaml:3)\nexpected: on PATH, version >=14\nfound:    /usr/bin/rg, version 13.0.0"
    )


def test_absent_binary_explained_from_the_manifest() -> None:
    out = verdict.verify("binaries", binary(name="nvtop"), ctx())
    assert out.status == "failed"
    assert out.message.endswith(
        "why:      build manifest: nvtop skipped at build (gpu-tools): "
        "no candidate for arm64 in the configured apt sources"
    )


def test_optional_absent_is_a_skip_with_reason_never_a_pass() -> None:
    out = verdict.verify("binaries", binary(name="nvtop", optional=True, reason="contrib only"), ctx())
    assert out.status == "skipped"
    assert out.message.startswith("optional, absent: contrib only (build manifest: nvtop skipped")


def test_optional_present_but_wrong_is_still_a_failure() -> None:
    facts = {"binaries": {"rg": {"path": "/usr/bin/rg", "version_output": "ripgrep 11.0"}}}
    item = binary(version=SpecifierSet(">=13"), optional=True, reason="r")
    assert verdict.verify("binaries", item, ctx(facts)).status == "failed"


def test_when_false_skips_naming_the_fact() -> None:
    item = binary(when=exp.When(gpu=True))
    out = verdict.verify("binaries", item, ctx(cond={"gpu": False}))
    assert out == verdict.Outcome("skipped", "when: gpu is true, but the target has no GPU visible")


def dist(**kw: Any) -> exp.PythonDist:
    kw.setdefault("name", "transformers")
    kw.setdefault("import_name", kw["name"].replace("-", "_"))
    return exp.PythonDist(key=kw["name"], source="s", **kw)


@pytest.mark.parametrize(
    "facts, status, found",
    [
        ({"dists": {"transformers": "4.57.1"}, "imports": {"transformers": {"ok": True}}}, "passed", None),
        (
            {"dists": {"transformers": "4.30.0"}, "imports": {"transformers": {"ok": True}}},
            "failed",
            "found:    version 4.30.0",
        ),
        ({"dists": {}}, "failed", "found:    not installed"),
        (
            {
                "dists": {"transformers": "4.57.1"},
                "imports": {"transformers": {"ok": False, "error": "ImportError: x"}},
            },
            "failed",
            "found:    version 4.57.1; import transformers failed: ImportError: x",
        ),
    ],
)
def test_python_dist(facts: dict, status: str, found: str | None) -> None:
    out = verdict.verify("python_dists", dist(min_version=Version("4.40")), ctx(facts))
    assert out.status == status
    if found:
        assert found in out.message


def test_python_dist_name_normalization_and_feature_reason() -> None:
    facts = {"dists": {"huggingface-hub": "0.30"}, "imports": {"huggingface_hub": {"ok": True}}}
    assert (
        verdict.verify(
            "python_dists", dist(name="Huggingface_Hub", import_name="huggingface_hub"), ctx(facts)
        ).status
        == "passed"
    )
    out = verdict.verify("python_dists", dist(name="flash-attn"), ctx())
    assert "why:      build manifest: feature flash-attn skipped: torch has no CUDA" in out.message
    out = verdict.verify("python_dists", dist(name="mlflow"), ctx())
    assert "build manifest: set python-extras not included (INSTALL_PYTHON_EXTRAS=false)" in out.message


def test_env_from_the_image_config_is_not_the_probes_environment() -> None:
    attrs = {"Config": {"Env": ["PATH=/usr/bin", "DEVBOX_CONTAINER=1", "EMPTY="]}}
    item = exp.EnvVar(key="DEVBOX_CONTAINER", name="DEVBOX_CONTAINER", value="1", in_config=True)
    # Set by a profile script only: the process sees it, the image config does not hold it.
    only_process = ctx({"env": {"DEVBOX_CONTAINER": "1"}}, image_attrs={"Config": {"Env": ["PATH=/usr/bin"]}})
    missing = verdict.verify("env", item, only_process)
    assert missing.status == "failed" and "expected: = '1' in the image config's Env" in missing.message
    assert verdict.verify("env", item, ctx(image_attrs=attrs)).message == "1"
    wrong = {"Config": {"Env": ["DEVBOX_CONTAINER=0"]}}
    assert "found:    '0'" in verdict.verify("env", item, ctx(image_attrs=wrong)).message
    assert verdict.verify("env", item, ctx()).status == "skipped"  # local host: no image config
    empty = exp.EnvVar(key="EMPTY", name="EMPTY", value="", in_config=True)
    assert verdict.verify("env", empty, ctx(image_attrs=attrs)).status == "passed"


def test_labels_env_files_users() -> None:
    attrs = {"Config": {"Labels": {"org.opencontainers.image.title": "gpu-devbox"}}}
    lab = exp.Label(key="t", name="org.opencontainers.image.title", value="gpu-devbox")
    assert verdict.verify("labels", lab, ctx(image_attrs=attrs)).status == "passed"
    lab = exp.Label(key="t", name="org.opencontainers.image.title", regex="gpu-.*y")
    assert verdict.verify("labels", lab, ctx(image_attrs=attrs)).status == "failed"
    assert verdict.verify("labels", lab, ctx()).status == "skipped"  # local host: no image
    env = exp.EnvVar(key="TZ", name="TZ", value="UTC")
    assert verdict.verify("env", env, ctx({"env": {"TZ": "UTC"}})).status == "passed"
    assert (
        "found:    'Europe/Paris'" in verdict.verify("env", env, ctx({"env": {"TZ": "Europe/Paris"}})).message
    )
    f = exp.File(key="/x", path="/x", type="file", mode="0755", content="greeting")
    good = {
        "exists": True,
        "type": "file",
        "target_type": "file",
        "mode": "0755",
        "content": "devbox-greeting",
    }
    assert verdict.verify("files", f, ctx({"files": {"/x": good}})).status == "passed"
    assert (
        "found:    mode 0644"
        in verdict.verify("files", f, ctx({"files": {"/x": {**good, "mode": "0644"}}})).message
    )
    u = exp.User(key="root", name="root", uid=0, home="/root")
    assert (
        verdict.verify("users", u, ctx({"users": {"root": {"uid": 0, "home": "/root"}}})).status == "passed"
    )
    assert verdict.verify("users", u, ctx({"users": {"root": None}})).status == "failed"


SHELL = exp.Shell(
    key="bash-login",
    name="bash-login",
    shell="bash",
    login=True,
    interactive=True,
    greeting="Welcome to GPU devbox!",
    path_contains=("~/.local/bin",),
    aliases=("ll",),
)
GOOD_RUN = {
    "available": True,
    "exit_code": 0,
    "completed": True,
    "stdout": "Welcome to GPU devbox!\nArch: x\n",
    "stderr": "",
    "path": "/root/.local/bin:/usr/bin",
    "home": "/root",
    "aliases": {"ll": True},
}


@pytest.mark.parametrize(
    "change, problem",
    [
        ({}, None),
        ({"stdout": "Welcome to GPU devbox!\nWelcome to GPU devbox!\n"}, "printed 2 times"),
        ({"stdout": "hello\nWelcome to GPU devbox!\n"}, "first line is 'hello'"),
        ({"stdout": ""}, "printed 0 times"),
        ({"stderr": "bash: PS1: unbound variable\n"}, "stderr: 'bash: PS1: unbound variable'"),
        ({"path": "/usr/bin"}, "PATH lacks /root/.local/bin"),
        ({"aliases": {"ll": False}}, "alias ll not defined"),
        ({"exit_code": 1}, "exit code 1"),
    ],
)
def test_shell(change: dict, problem: str | None) -> None:
    out = verdict.verify("shells", SHELL, ctx({"shells": {"bash-login": {**GOOD_RUN, **change}}}))
    if problem is None:
        assert out.status == "passed", out.message
    else:
        assert out.status == "failed" and problem in out.message


def test_image_config_and_health_budget() -> None:
    health = {
        "Test": ["CMD", "/usr/local/bin/devbox-healthcheck"],
        "Interval": 30_000_000_000,
        "Timeout": 30_000_000_000,
        "StartPeriod": 20_000_000_000,
        "Retries": 3,
    }
    assert health_budget(health) == 20 + 3 * 60
    assert health_budget({}) == 3 * 60
    attrs = {"Config": {"Cmd": ["/bin/bash", "-l"], "WorkingDir": "/workspace", "Healthcheck": health}}
    cmd = exp.ImageConfig(key="cmd", name="cmd", value=("/bin/bash", "-l"))
    assert verdict.verify("image_config", cmd, ctx(image_attrs=attrs)).status == "passed"
    hc = exp.ImageConfig(key="healthcheck", name="healthcheck", healthy=True)
    stopped = {"container_health": {"healthy": False, "seen": "container stopped (exited, exit code 1)"}}
    out = verdict.verify("image_config", hc, ctx(stopped, image_attrs=attrs))
    assert out.status == "failed" and "container stopped" in out.message and "within 200 s" in out.message
    healthy = {"container_health": {"healthy": True, "seen": "healthy"}}
    assert verdict.verify("image_config", hc, ctx(healthy, image_attrs=attrs)).status == "passed"
    # No fact: the target has no container to wait for (local, or an image config read without one).
    assert verdict.verify("image_config", hc, ctx(image_attrs=attrs)).status == "skipped"
    none = {"Config": {"Healthcheck": {"Test": ["NONE"]}}}
    assert "no HEALTHCHECK" in verdict.verify("image_config", hc, ctx(image_attrs=none)).message


def package(**kw: Any) -> exp.Package:
    kw.setdefault("name", "libx11-dev")
    return exp.Package(key=kw["name"], source="common.yaml:300", **kw)


def dpkg(status: str, arch: str = "amd64", version: str = "2:1.8.4-2") -> dict[str, str]:
    return {"architecture": arch, "status": status, "version": version}


APT_MANIFEST = {
    "sets": {
        "dev-tools": {
            "kind": "apt",
            "included": True,
            "requested": ["libx11-dev", "ltrace"],
            "installed": ["libx11-dev"],
            "preinstalled": [],
            "skipped": [{"name": "ltrace", "reason": "no candidate for arm64 in the configured apt sources"}],
        },
        "fun-tools": {"kind": "apt", "included": False, "reason": "INSTALL_FUN_TOOLS=false"},
    }
}


@pytest.mark.parametrize(
    "records, status, found",
    [
        ([dpkg("install ok installed")], "passed", None),
        ([dpkg("hold ok installed")], "passed", None),  # apt-mark hold: still installed
        (
            [dpkg("deinstall ok config-files")],
            "failed",
            "found:    not installed (status deinstall ok config-files)",
        ),
        ([dpkg("install ok unpacked")], "failed", "found:    not installed (status install ok unpacked)"),
        ([], "failed", "found:    no such package"),
        (
            [dpkg("deinstall ok config-files"), dpkg("install ok half-configured", "i386")],
            "failed",
            "found:    not installed (amd64: status deinstall ok config-files; i386: status install ok half-configured)",
        ),
        ([dpkg("deinstall ok config-files"), dpkg("install ok installed", "i386")], "passed", None),
    ],
)
def test_package(records: list, status: str, found: str | None) -> None:
    out = verdict.verify(
        "packages", package(), ctx({"packages": {"libx11-dev": records}, "manifest": APT_MANIFEST})
    )
    assert out.status == status, out.message
    if status == "passed":
        assert out.message in ("2:1.8.4-2 amd64", "2:1.8.4-2 i386")
    else:
        assert out.message.startswith(
            "packages[libx11-dev] (common.yaml:300)\nexpected: installed (status install ok installed)\n"
        )
        assert found in out.message


def test_package_removed_after_build_is_explained_from_the_manifest() -> None:
    facts = {"packages": {"libx11-dev": [dpkg("deinstall ok config-files")]}, "manifest": APT_MANIFEST}
    out = verdict.verify("packages", package(), ctx(facts))
    assert out.message.endswith(
        "why:      build manifest: libx11-dev installed at build (dev-tools), so a later "
        "layer or this container removed or broke it"
    )


def test_package_optional_absent_skips_but_optional_broken_fails() -> None:
    item = package(name="ltrace", optional=True, reason="not published for arm64")
    out = verdict.verify("packages", item, ctx({"packages": {"ltrace": []}, "manifest": APT_MANIFEST}))
    assert out == verdict.Outcome(
        "skipped",
        "optional, absent: not published for arm64 (build manifest: ltrace "
        "skipped at build (dev-tools): no candidate for arm64 in the configured apt sources)",
    )
    removed = ctx({"packages": {"ltrace": [dpkg("deinstall ok config-files")]}, "manifest": APT_MANIFEST})
    assert verdict.verify("packages", item, removed).status == "skipped"
    broken = ctx(
        {"packages": {"ltrace": [dpkg("install reinstreq half-installed")]}, "manifest": APT_MANIFEST}
    )
    out = verdict.verify("packages", item, broken)
    assert out.status == "failed" and "status install reinstreq half-installed" in out.message


def test_package_without_a_dpkg_database_fails_with_the_probes_reason() -> None:
    why = "no dpkg database at /var/lib/dpkg/status: not a Debian-based target"
    facts = {"packages": {}, "packages_error": why, "manifest": None}
    for item in (package(), package(optional=True, reason="r")):  # not "absent": even optional items fail
        out = verdict.verify("packages", item, ctx(facts))
        assert out.status == "failed"
        assert out.message == (
            "packages[libx11-dev] (common.yaml:300)\n"
            f"expected: installed (status install ok installed)\nfound:    {why}"
        )


def test_package_of_a_set_left_out_skips_naming_the_set() -> None:
    item = package(name="cowsay", when=exp.When(sets=("fun-tools",)))
    cond = {"sets": ["dev-tools"], "sets_excluded": {"fun-tools": "INSTALL_FUN_TOOLS=false"}}
    out = verdict.verify("packages", item, ctx({"manifest": APT_MANIFEST}, cond=cond))
    assert out == verdict.Outcome(
        "skipped",
        "when: sets ['fun-tools'], but set fun-tools is not in this build (INSTALL_FUN_TOOLS=false)",
    )


@pytest.mark.parametrize("name, config_key", [("exposed_ports", "ExposedPorts"), ("volumes", "Volumes")])
def test_exposed_ports_and_volumes_are_compared_as_exact_sets(name: str, config_key: str) -> None:
    values = ["8888/tcp", "22/tcp"] if name == "exposed_ports" else ["/data", "/workspace"]
    attrs = {"Config": {config_key: {v: {} for v in values}}}
    item = exp.ImageConfig(key=name, name=name, value=tuple(reversed(values)))
    assert verdict.verify("image_config", item, ctx(image_attrs=attrs)).status == "passed"
    extra = {"Config": {config_key: {v: {} for v in [*values, "9999/udp"]}}}
    out = verdict.verify("image_config", item, ctx(image_attrs=extra))
    assert out.status == "failed" and "9999/udp" in out.message, out.message
    none = exp.ImageConfig(key=name, name=name, value=())
    assert verdict.verify("image_config", none, ctx(image_attrs={"Config": {}})).status == "passed"
    assert verdict.verify("image_config", none, ctx(image_attrs=attrs)).status == "failed"
