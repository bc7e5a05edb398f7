"""Naive per-check testinfra: the peer the suite is measured against, written as a typical team writes it.

compare_peers.py copies this file, with `cases.json` (from peer_checks.testinfra_cases) beside it, into a
temp dir and runs it serially with pytest. One container of the image is started for the session (its
creation is inside the measured time, as for the other runners); every test then makes its own testinfra
call(s) — `host.exists`, `host.package(...)`, `host.run`, `host.file(...)`, `host.user(...)`,
`host.environment()` — so a check costs at least one `docker exec`, and each Python import check pays a
fresh interpreter. That per-check cost is what "One probe, many checks" removes; this file exists to
measure it, not to be a model.

Image config and labels come from one `docker image inspect` per session (a team would do that too).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra
from packaging.specifiers import SpecifierSet
from packaging.version import Version

HERE = Path(__file__).parent
CASES: list[dict[str, Any]] = json.loads((HERE / "cases.json").read_text())
# The shared checker, packed with its pty runner (compare_peers writes peer_checks.CHECKER_SOURCE here).
CHECKER = (HERE / "incontainer_check.py").read_text()
IMAGE = os.environ["BENCH_IMAGE"]
LABEL = os.environ.get("BENCH_LABEL", "io.github.gpu-devbox.bench")
VERSION_RE = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)")
DOCKER = os.environ.get("BENCH_DOCKER", "docker")


@pytest.fixture(scope="session")
def host() -> Iterator[Any]:
    name = f"bench-testinfra-{uuid.uuid4().hex[:10]}"
    label = f"{LABEL}={os.environ.get('BENCH_RUN', '')}"
    subprocess.run(
        [
            DOCKER,
            "run",
            "-d",
            "--name",
            name,
            "--label",
            label,
            "--entrypoint",
            "",
            IMAGE,
            "sleep",
            "infinity",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield testinfra.get_host(f"docker://{name}")
    finally:
        subprocess.run([DOCKER, "rm", "-f", "-v", name], capture_output=True)


@pytest.fixture(scope="session")
def image_cfg() -> dict[str, Any]:
    out = subprocess.run([DOCKER, "image", "inspect", IMAGE], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)[0]["Config"]


def _absent(case: dict[str, Any], what: str) -> None:
    if case["optional"]:
        pytest.skip(f"optional, absent: {what}")
    pytest.fail(what)


def _value_ok(actual: str, spec: dict[str, Any]) -> bool:
    if spec["value"] is not None and actual != spec["value"]:
        return False
    return spec["regex"] is None or re.fullmatch(spec["regex"], actual, re.S) is not None


def _binary(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    if not host.exists(s["name"]):
        _absent(case, f"{s['name']} not on PATH")
    if s["version"]:
        args = " ".join(shlex.quote(a) for a in s["version_args"] or ["--version"])
        out = host.run(f"{shlex.quote(s['name'])} {args} 2>&1").stdout
        match = re.search(s["version_regex"], out, re.M) if s["version_regex"] else VERSION_RE.search(out)
        assert match, f"no version in {out[:200]!r}"
        version = match.group(1) if match.groups() else match.group(0)
        assert SpecifierSet(s["version"]).contains(Version(version), prereleases=True), version


def _package(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    if not host.package(case["spec"]["name"]).is_installed:
        _absent(case, f"{case['spec']['name']} not installed")


def _dist(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    code = (
        "import importlib, importlib.metadata as m, sys\n"
        "try:\n print(m.version(sys.argv[1]))\nexcept m.PackageNotFoundError:\n sys.exit(3)\n"
        "if sys.argv[2]: importlib.import_module(sys.argv[2])\n"
    )
    res = host.run("python3 -c %s %s %s", code, s["name"], s["import_name"] or "")
    if res.rc == 3:
        _absent(case, f"{s['name']} not installed")
    assert res.rc == 0, res.stderr[-500:]
    if s["min_version"]:
        version = res.stdout.splitlines()[0].strip()  # an import may print more after it
        assert Version(version) >= Version(s["min_version"]), version


def _file(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    f = host.file(s["path"])
    if s.get("exists") is False:
        assert not f.exists, f"{s['path']} exists"
        return
    if not f.exists:
        _absent(case, f"{s['path']} absent")
    if s["type"]:
        assert {"file": f.is_file, "directory": f.is_directory, "symlink": f.is_symlink}[s["type"]]
    if s["mode"]:
        assert f.mode == int(s["mode"], 8), oct(f.mode)
    if s["owner"]:
        assert f.user == s["owner"]
    if s["content"]:
        assert re.search(s["content"], f.content_string, re.M)


def _user(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    u = host.user(s["name"])
    if not u.exists:
        _absent(case, f"no user {s['name']}")
    for attr in ("uid", "home", "shell"):
        if s[attr] is not None:
            assert getattr(u, attr) == s[attr], attr


def _group(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    g = host.group(s["name"])
    if not g.exists:
        _absent(case, f"no group {s['name']}")
    if s["gid"] is not None:
        assert g.gid == s["gid"]


def _env(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    env = host.environment()
    if s["name"] not in env:
        _absent(case, f"{s['name']} not set")
    assert _value_ok(env[s["name"]], s), env[s["name"]]


def _label(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    labels = image_cfg.get("Labels") or {}
    if s["name"] not in labels:
        _absent(case, f"label {s['name']} not set")
    assert _value_ok(labels[s["name"]], s), labels[s["name"]]


def _image_config(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    s = case["spec"]
    if s["name"] == "healthcheck":
        test = (image_cfg.get("Healthcheck") or {}).get("Test") or []
        assert test and test[0] != "NONE", "no HEALTHCHECK"
        shown = " ".join(test[1:])
        assert s["value"] is None or shown == s["value"], shown
        if s["healthy"]:
            assert host.run(shown).rc == 0, "health command failed"
        return
    fields = {"cmd": "Cmd", "workdir": "WorkingDir", "entrypoint": "Entrypoint", "user": "User"}
    field = fields[s["name"]]
    actual = image_cfg.get(field)
    shown = " ".join(actual) if isinstance(actual, list) else str(actual or "")
    assert actual, f"{field} not set"
    if s["value"] is not None:
        assert actual == s["value"] or shown == s["value"], actual
    assert s["regex"] is None or re.fullmatch(s["regex"], shown, re.S), actual


def _shell(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    res = host.run("python3 -c %s %s", CHECKER, json.dumps(case["checker_spec"]))
    if res.stdout.startswith("SKIP:"):
        pytest.skip(res.stdout.strip())
    assert res.rc == 0, res.stdout[-500:]


# One function a kind, as a team's hand-written testinfra tests would have them.
_BY_KIND = {
    "binaries": _binary,
    "packages": _package,
    "python_dists": _dist,
    "files": _file,
    "users": _user,
    "groups": _group,
    "env": _env,
    "labels": _label,
    "image_config": _image_config,
    "shells": _shell,
}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_check(host: Any, image_cfg: dict[str, Any], case: dict[str, Any]) -> None:
    check = _BY_KIND.get(case["kind"])
    if check is None:
        pytest.fail(f"unknown kind {case['kind']}")
    check(host, image_cfg, case)
