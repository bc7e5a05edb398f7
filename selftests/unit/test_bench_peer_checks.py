"""Peer benchmark: one check list from a synthetic contract, and the same list in every peer's config.

No Docker: these pin down that the three runners are told to check the same things (bench/peer_checks.py),
and that the in-container checker the peers share decides like the suite does.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devbox_conformance import expectations as exp

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import incontainer_check as checker  # noqa: E402
import peer_checks as pc  # noqa: E402

COMMON = """\
binaries:
  - name: python3
    version: ">=3.8"
  - name: rg
    when: {sets: [dev-tools]}
  - name: nvtop
    optional: true
    reason: contrib only
  - name: nsys
    when: {arch: [arm64]}
packages:
  - name: libx11-dev
  - name: du-dust
    optional: true
    reason: not in Debian bookworm
  - name: cowsay
    when: {sets: [fun-tools]}
python_dists:
  - name: torch
    min_version: "2.3"
  - name: pillow
    import: PIL
  - name: tf-keras
    import: false
  - name: flash-attn
    optional: true
    reason: no wheel
    when: {cuda: true}
labels:
  - name: org.opencontainers.image.title
    value: gpu-devbox
  - name: org.opencontainers.image.revision
    regex: "[0-9a-f]{7,40}"
env:
  - name: LANG
    value: C.UTF-8
files:
  - path: /usr/local/bin/devbox-greeting
    type: file
    mode: "0755"
    owner: root
  - path: /etc/devbox/build-manifest.json
    type: file
    content: '"schema_version"'
  - path: /opt/devbox/base-constraints.txt
    type: file
users:
  - name: root
    uid: 0
    home: /root
groups:
  - name: root
    gid: 0
shells:
  - name: bash-login-interactive
    shell: bash
    login: true
    interactive: true
    greeting: Welcome to GPU devbox!
    path_contains: ["~/.local/bin"]
    aliases: [ll]
image_config:
  - name: cmd
    value: ["/bin/bash", "-l"]
  - name: workdir
    value: /workspace
  - name: healthcheck
    value: /usr/local/bin/devbox-healthcheck
    healthy: true
"""

COND = {
    "arch": "amd64",
    "cuda": None,
    "gpu": False,
    "sets": ["base-tools"],
    "sets_excluded": {},
    "base": "standin",
}


@pytest.fixture
def model(tmp_path: Path) -> exp.Expectations:
    (tmp_path / "common.yaml").write_text(COMMON)
    (tmp_path / "amd64.yaml").write_text("")
    return exp.load(tmp_path, "amd64", "standin")


@pytest.fixture
def derivation(model: exp.Expectations) -> pc.Derivation:
    return pc.derive_checks(model, COND)


def test_derivation_keeps_what_applies_and_names_why_the_rest_does_not(derivation: pc.Derivation) -> None:
    ids = [c.id for c in derivation.checks]
    assert "binaries[python3]" in ids and "binaries[nvtop]" in ids  # optional items stay in
    left_out = dict(derivation.not_applicable)
    assert set(left_out) == {"binaries[rg]", "binaries[nsys]", "packages[cowsay]", "python_dists[flash-attn]"}
    assert "set dev-tools is not in this build" in left_out["binaries[rg]"]
    assert derivation.by_kind() == {
        "binaries": 2,
        "packages": 2,
        "python_dists": 3,
        "labels": 2,
        "env": 1,
        "files": 3,
        "users": 1,
        "groups": 1,
        "shells": 1,
        "image_config": 3,
    }


def test_kinds_the_peers_cannot_express_are_left_out_not_a_crash(tmp_path: Path) -> None:
    """The shipped contract has commands, security and CUDA items: deriving the peers' checks from it
    raised KeyError('commands'). They are named apart, and every other item still becomes a check."""
    (tmp_path / "common.yaml").write_text(
        COMMON + "commands:\n  - name: py-runs\n    argv: [python3, -c, pass]\n"
    )
    (tmp_path / "amd64.yaml").write_text("")
    derivation = pc.derive_checks(exp.load(tmp_path, "amd64", "standin"), COND)
    assert derivation.untranslated == ("commands[py-runs]",)
    assert "commands" not in derivation.by_kind() and derivation.by_kind()["binaries"] == 2


def test_the_shipped_contract_derives_without_error() -> None:
    model = exp.load(exp.SHIPPED_DIR, "amd64", "standin")
    derivation = pc.derive_checks(model, {**COND, "sets": None})
    kinds = {u.split("[", 1)[0] for u in derivation.untranslated}
    assert {"commands", "security"} <= kinds and len(derivation.checks) > 200


def test_check_specs_are_plain_json(derivation: pc.Derivation) -> None:
    by_id = {c.id: c for c in derivation.checks}
    assert by_id["binaries[python3]"].spec["version"] == ">=3.8"
    assert by_id["packages[libx11-dev]"].spec == {"name": "libx11-dev"}
    assert by_id["python_dists[pillow]"].spec == {"name": "pillow", "min_version": None, "import_name": "PIL"}
    assert by_id["python_dists[tf-keras]"].spec["import_name"] is None
    assert by_id["image_config[cmd]"].spec["value"] == ["/bin/bash", "-l"]
    json.dumps([c.to_json() for c in derivation.checks])


def test_unknown_set_list_means_every_set_item_applies(model: exp.Expectations) -> None:
    derivation = pc.derive_checks(model, {**COND, "sets": None})
    assert "binaries[rg]" in [c.id for c in derivation.checks]


def test_select_spreads_evenly_and_never_pads(derivation: pc.Derivation) -> None:
    checks = list(derivation.checks)
    assert pc.select(checks, 300) == checks
    picked = pc.select(checks, 7)
    assert len(picked) == 7 and len({c.id for c in picked}) == 7
    assert [checks.index(c) for c in picked] == sorted(checks.index(c) for c in picked)
    assert {c.kind for c in picked} >= {"binaries", "packages", "python_dists", "files", "image_config"}
    assert pc.select(checks, 0) == []


def test_suite_node_ids_name_real_tests(derivation: pc.Derivation) -> None:
    for kind, nodeid in pc.SUITE_TESTS.items():
        path, func = nodeid.split("::")
        tree = ast.parse((REPO / path).read_text())
        assert func in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, kind
    assert derivation.checks[0].suite_nodeid == "tests/test_binaries.py::test_binary[python3]"


def _cst(derivation: pc.Derivation) -> tuple[dict[str, Any], dict[str, list[str]]]:
    cfg, covers = pc.cst_config(list(derivation.checks))
    # what the runner writes must survive a YAML round trip unchanged
    assert yaml.safe_load(yaml.safe_dump(cfg, sort_keys=False, width=1 << 16)) == cfg
    return cfg, covers


def test_cst_config_covers_every_check_exactly_once(derivation: pc.Derivation) -> None:
    cfg, covers = _cst(derivation)
    covered = [i for ids in covers.values() for i in ids]
    assert sorted(covered) == sorted(c.id for c in derivation.checks)
    assert cfg["schemaVersion"] == "2.0.0"
    assert covers["metadataTest:Metadata Test"] == [
        "labels[org.opencontainers.image.title]",
        "labels[org.opencontainers.image.revision]",
        "env[LANG]",
        "image_config[cmd]",
        "image_config[workdir]",
    ]


def test_cst_config_uses_native_tests_where_they_fit(derivation: pc.Derivation) -> None:
    cfg, _ = _cst(derivation)
    meta = cfg["metadataTest"]
    assert {
        "key": "org.opencontainers.image.revision",
        "value": "^(?:[0-9a-f]{7,40})$",
        "isRegex": True,
    } in meta["labels"]
    assert {"key": "org.opencontainers.image.title", "value": "gpu-devbox"} in meta["labels"]
    assert meta["envVars"] == [{"key": "LANG", "value": "C.UTF-8"}]
    assert meta["cmd"] == ["/bin/bash", "-l"] and meta["workdir"] == "/workspace"
    assert cfg["fileExistenceTests"] == [
        {
            "name": "files[/usr/local/bin/devbox-greeting]",
            "path": "/usr/local/bin/devbox-greeting",
            "shouldExist": True,
            "permissions": "-rwxr-xr-x",
            "uid": 0,
        }
    ]
    assert cfg["fileContentTests"][0]["expectedContents"] == ['(?m)"schema_version"']
    commands = {t["name"]: t for t in cfg["commandTests"]}
    assert commands["files[/opt/devbox/base-constraints.txt]"]["args"] == [
        "-c",
        "test -f '/opt/devbox/base-constraints.txt'",
    ]
    assert commands["image_config[healthcheck]"]["args"] == ["-c", "/usr/local/bin/devbox-healthcheck"]
    assert commands["users[root]"]["expectedOutput"] == ["(?m)^root:[^:]*:0:[^:]*:[^:]*:/root:[^:]*$"]
    assert commands["groups[root]"]["expectedOutput"] == ["(?m)^root:[^:]*:0:"]
    # an absent optional binary passes with SKIP (CST has no skip); a required one fails
    assert "SKIP" in commands["binaries[nvtop]"]["args"][1]


def test_cst_package_tests_read_dpkgs_status_line(derivation: pc.Derivation) -> None:
    """`dpkg-query -s`, not `-W -f='${Status}'`: CST would expand ${Status} to nothing."""
    cfg, covers = _cst(derivation)
    commands = {t["name"]: t for t in cfg["commandTests"]}
    required = commands["packages[libx11-dev]"]
    assert required == {
        "name": "packages[libx11-dev]",
        "command": "dpkg-query",
        "args": ["-s", "libx11-dev"],
        "exitCode": 0,
        "expectedOutput": ["(?m)^Status: (install|hold) ok installed$"],
    }
    optional = commands["packages[du-dust]"]
    script = optional["args"][1]
    assert optional["command"] == "sh" and script.startswith("dpkg-query -s 'du-dust' 2>/dev/null")
    assert script.endswith("|| echo 'SKIP: optional, absent'")
    assert optional["expectedOutput"] == [
        "(?m)^(Status: (install|hold) ok installed|SKIP: optional, absent)$"
    ]
    assert covers["commandTests:packages[libx11-dev]"] == ["packages[libx11-dev]"]


@pytest.mark.parametrize(
    "dpkg_output, ok",
    [
        (
            "Package: du-dust\nStatus: install ok installed\nVersion: 0.8.4-1\n",
            "Status: install ok installed",
        ),
        ("Package: du-dust\nStatus: hold ok installed\n", "Status: hold ok installed"),
        ("Package: du-dust\nStatus: deinstall ok config-files\n", "SKIP: optional, absent"),
        ("", "SKIP: optional, absent"),  # dpkg-query: no information is available
        ("Package: du-dust\nStatus: install ok unpacked\n", None),  # present but broken: still a failure
    ],
)
def test_cst_optional_package_script(tmp_path: Path, dpkg_output: str, ok: str | None) -> None:
    """The optional package's sh script, run here against a stand-in dpkg-query printing what dpkg would."""
    (tmp_path / "dpkg-query").write_text(f"#!/bin/sh\nprintf '%s' '{dpkg_output}'\n[ -n '{dpkg_output}' ]\n")
    (tmp_path / "dpkg-query").chmod(0o755)
    check = pc.Check("packages", "du-dust", optional=True, reason="r", spec={"name": "du-dust"})
    (test,) = pc.cst_config([check])[0]["commandTests"]
    proc = subprocess.run(
        [test["command"], *test["args"]],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
    )
    matched = re.search(test["expectedOutput"][0], proc.stdout)
    assert proc.returncode == 0
    assert (matched.group(0) if matched else None) == ok, proc.stdout


def test_cst_logic_checks_ship_the_shared_checker(derivation: pc.Derivation) -> None:
    cfg, _ = _cst(derivation)
    commands = {t["name"]: t for t in cfg["commandTests"]}
    for name, kind in (
        ("binaries[python3]", "binary"),
        ("python_dists[torch]", "dist"),
        ("shells[bash-login-interactive]", "shell"),
    ):
        test = commands[name]
        assert test["command"] == "python3" and test["args"][1] == pc.CHECKER_SOURCE
        assert json.loads(test["args"][2])["check"] == kind
    assert json.loads(commands["python_dists[torch]"]["args"][2])["min_version"] == "2.3"


def test_testinfra_cases_one_per_check(derivation: pc.Derivation) -> None:
    cases = pc.testinfra_cases(list(derivation.checks))
    assert [c["id"] for c in cases] == [c.id for c in derivation.checks]
    shells = [c for c in cases if c["kind"] == "shells"]
    package = next(c for c in cases if c["id"] == "packages[du-dust]")
    assert package["spec"] == {"name": "du-dust"} and package["optional"] and package["reason"]
    assert shells[0]["checker_spec"]["check"] == "shell"
    assert shells[0]["checker_spec"]["greeting"] == "Welcome to GPU devbox!"
    json.dumps(cases)


@pytest.mark.parametrize(
    "version, spec, ok",
    [
        ("2.13.0+cpu", ">=2.3", True),
        ("2.2.1", ">=2.3", False),
        ("0.30.1", ">=0.30", True),
        ("3.3", ">=3.2,<4", True),
        ("4.0", ">=3.2,<4", False),
        ("13", "==13.*", True),
        ("1.4.2", "~=1.4", True),
        ("2.0", "~=1.4", False),
        ("5.9", "!=5.9", False),
    ],
)
def test_checker_version_spec(version: str, spec: str, ok: bool) -> None:
    assert checker.satisfies(version, spec) is ok


def _run_checker(spec: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """The checker exactly as the peers ship it: source through `python3 -c`, spec in argv[1]."""
    return subprocess.run(
        [sys.executable, "-c", pc.CHECKER_SOURCE, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_checker_binary_and_dist_on_this_host() -> None:
    assert _run_checker({"check": "binary", "name": "python3", "version": ">=3.8"}).returncode == 0
    assert _run_checker({"check": "binary", "name": "python3", "version": ">=99"}).returncode == 1
    absent = _run_checker({"check": "binary", "name": "no-such-tool-xyz", "optional": True, "reason": "r"})
    assert absent.returncode == 0 and absent.stdout.startswith("SKIP:")
    assert _run_checker({"check": "binary", "name": "no-such-tool-xyz"}).returncode == 1
    assert (
        _run_checker(
            {"check": "dist", "name": "PyYAML", "min_version": "5", "import_name": "yaml"}
        ).returncode
        == 0
    )
    broken = _run_checker({"check": "dist", "name": "PyYAML", "import_name": "no_such_module_xyz"})
    assert broken.returncode == 1 and "import no_such_module_xyz failed" in broken.stdout


def test_subset_contract_loads_with_only_the_kept_items(tmp_path: Path, derivation: pc.Derivation) -> None:
    src = tmp_path / "src"
    (src / "bases").mkdir(parents=True)
    (src / "common.yaml").write_text(COMMON)
    (src / "amd64.yaml").write_text("binaries:\n  - name: rg\n    remove: true\n")
    (src / "bases" / "standin.yaml").write_text("binaries:\n  - name: nvtop\n    optional: false\n")
    keep = {"binaries[nvtop]", "files[/usr/local/bin/devbox-greeting]", "image_config[cmd]"}
    out = pc.write_subset(src, tmp_path / "dst", keep)
    model = exp.load(out, "amd64", "standin")
    assert sorted(f"{k}[{i.key}]" for k, i in model.all_items()) == sorted(keep)
    assert model.binaries[0].optional is False  # overlays still merge over the kept items
    assert model.files_[0].mode == "0755"


def test_subset_of_the_shipped_contract_keeps_grouped_items(tmp_path: Path) -> None:
    """The shipped contract writes items in groups ({when, items}); a subset keeps a grouped item, with its
    group's `when`, instead of failing on the group's missing key (KeyError: 'name')."""
    model = exp.load(exp.SHIPPED_DIR, "amd64", "standin")
    keep = {"binaries[rg]", "binaries[git]", "packages[git]"}
    out = pc.write_subset(exp.SHIPPED_DIR, tmp_path / "dst", keep)
    subset = exp.load(out, "amd64", "standin")
    assert sorted(f"{k}[{i.key}]" for k, i in subset.all_items()) == sorted(keep)
    rg = next(i for i in model.binaries if i.key == "rg")
    assert subset.binaries[[i.key for i in subset.binaries].index("rg")].when == rg.when


def test_cst_arguments_hold_no_dollar_sign(derivation: pc.Derivation) -> None:
    """container-structure-test expands $NAME in arguments with the image's env before running them."""
    cfg, _ = _cst(derivation)
    other = pc.Check(
        "files", "/x", spec={"path": "/x", "type": "file", "mode": "0644", "owner": "app", "content": "a"}
    )
    cfg2, _ = pc.cst_config([other])
    for test in cfg["commandTests"] + cfg2["commandTests"]:
        assert not any("$" in arg for arg in test["args"]), test["name"]


def test_a_path_that_must_be_absent_is_absent_for_every_peer() -> None:
    """`exists: false` (the build's scratch left behind) failed both peers on a clean image: the peers were
    told to find the path. CST asks shouldExist: false; testinfra's case carries the field."""
    gone = pc.Check("files", "/tmp/devbox-build", spec={"path": "/tmp/devbox-build", "exists": False})
    cfg, _ = pc.cst_config([gone])
    assert cfg["fileExistenceTests"] == [{"name": gone.id, "path": "/tmp/devbox-build", "shouldExist": False}]
    (case,) = pc.testinfra_cases([gone])
    assert case["spec"]["exists"] is False
