"""The security kind: loading and its schema, the probe request, each check's verdict on bad and good facts,
and the in-target walk on a temporary tree (with GNU find and with the os.scandir fallback)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance.intarget import security as walk
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.security import SecurityCheck

REPO = Path(__file__).resolve().parents[2]
# The walk with GNU find where this machine has it, and always the fallback.
METHODS = [
    pytest.param(True, id="find", marks=pytest.mark.skipif(not shutil.which("find"), reason="no find here")),
    pytest.param(False, id="scandir"),
]


def _load(tmp_path: Path, body: str) -> exp.Expectations:
    (tmp_path / "common.yaml").write_text(body)
    (tmp_path / "amd64.yaml").write_text("{}\n")
    return exp.load(tmp_path, "amd64", "standin")


def _verify(item: SecurityCheck, facts: dict[str, Any]) -> verdict.Outcome:
    ctx = verdict.Context(
        facts={"security": {item.name: facts}}, conditions={}, target_kind="image", image_attrs={}
    )
    return verdict.verify("security", item, ctx)


def _item(check: str, **kw: Any) -> SecurityCheck:
    name = kw.pop("name", check)
    return SecurityCheck(
        key=name, name=name, check=check, paths=kw.pop("paths", ("/etc",)), source="common.yaml:3", **kw
    )


def _facts(**kw: Any) -> dict[str, Any]:
    base = {
        "check": "x",
        "method": "find",
        "visited": 120,
        "truncated": None,
        "found": [],
        "found_count": 0,
        "allowed": [],
        "allowed_count": 0,
        "missing": [],
        "errors": [],
        "error_count": 0,
        "seconds": 0.01,
    }
    return {**base, **kw}


def test_items_load_and_ask_the_probe_for_their_walks(tmp_path: Path) -> None:
    model = _load(
        tmp_path,
        """\
security:
  - name: no-ww
    check: world_writable
    paths: [/etc, /root]
  - name: suid
    check: setuid
    paths: [/usr/bin]
    allow: [/usr/bin/sudo, "/usr/lib/*/utempter"]
    prune: ["*/dist-packages"]
    max_entries: 500
""",
    )
    ww, suid = model.items("security")
    assert ww.paths == ("/etc", "/root") and ww.allow == () and ww.max_entries == 1_000_000
    assert suid.allow == ("/usr/bin/sudo", "/usr/lib/*/utempter") and suid.max_entries == 500
    request = probe.build_request(model)
    assert "security" in request["gatherers"]
    assert request["security"][1] == {
        "name": "suid",
        "check": "setuid",
        "paths": ["/usr/bin"],
        "allow": ["/usr/bin/sudo", "/usr/lib/*/utempter"],
        "prune": ["*/dist-packages"],
        "max_entries": 500,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "security:\n  - name: x\n    check: nosuch\n    paths: [/etc]\n",
            "common.yaml:3: security[0].check:",
        ),
        (
            "security:\n  - name: x\n    check: setuid\n    paths: [etc]\n",
            "common.yaml:4: security[0].paths[0]:",
        ),
        ("security:\n  - name: x\n    check: setuid\n", "common.yaml:2: security[0]: 'paths' is required"),
        (
            "security:\n  - name: x\n    check: setuid\n    paths: [/etc]\n    max_entries: 0\n",
            "security[0].max_entries:",
        ),
    ],
)
def test_bad_items_are_one_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(exp.ExpectationsError) as err:
        _load(tmp_path, body)
    assert message in str(err.value), str(err.value)


def test_the_shipped_contract_covers_the_login_snippet_and_every_check() -> None:
    model = exp.load(REPO / "expectations", "amd64", "standin")
    items = {i.check: i for i in model.items("security")}
    assert set(items) == {"world_writable", "setuid", "secrets"}
    assert "/etc" in items["world_writable"].paths  # /etc/profile.d/00-devbox.sh
    assert {"/root", "/home", "/etc/ssh"} <= set(items["secrets"].paths)
    assert "/usr/bin/sudo" in items["setuid"].allow


# (check, facts of a walk, passes?, a line the failure message must hold)
CASES = [
    ("world_writable", _facts(), True, ""),
    (
        "world_writable",
        _facts(
            found=[{"path": "/etc/profile.d/00-devbox.sh", "what": "world-writable file (0646)"}],
            found_count=1,
        ),
        False,
        "found:    1 world-writable entry:",
    ),
    (
        "world_writable",
        _facts(
            found=[{"path": "/etc/x", "what": "world-writable directory without the sticky bit (0777)"}],
            found_count=1,
        ),
        False,
        "          /etc/x (world-writable directory without the sticky bit (0777))",
    ),
    ("setuid", _facts(allowed=["/usr/bin/sudo"], allowed_count=1), True, ""),
    (
        "setuid",
        _facts(
            found=[{"path": f"/usr/local/bin/t{i}", "what": "setuid root:root 4755"} for i in range(12)],
            found_count=30,
        ),
        False,
        "          ... and 20 more",
    ),
    ("secrets", _facts(), True, ""),
    (
        "secrets",
        _facts(found=[{"path": "/root/.ssh/id_rsa", "what": "ssh private key"}], found_count=1),
        False,
        "          /root/.ssh/id_rsa (ssh private key)",
    ),
    (
        "secrets",
        _facts(truncated="stopped after max_entries (100) entries", visited=100),
        False,
        "found:    the walk was truncated (stopped after max_entries (100) entries, 100 entries visited): "
        "the rest was not checked; raise max_entries or narrow paths",
    ),
    (
        "setuid",
        _facts(errors=["find: '/usr/x': Permission denied"], error_count=1),
        False,
        "found:    1 entries could not be read (is the probe root?): find: '/usr/x': Permission denied",
    ),
    ("setuid", {"error": "unknown check 'x'"}, False, "found:    the walk did not run: unknown check 'x'"),
]


@pytest.mark.parametrize(("check", "facts", "passes", "line"), CASES)
def test_each_check_fails_on_bad_facts_and_passes_on_good_ones(
    check: str, facts: dict[str, Any], passes: bool, line: str
) -> None:
    outcome = _verify(_item(check, allow=("/usr/bin/sudo",) if check == "setuid" else ()), facts)
    assert outcome.status == ("passed" if passes else "failed"), outcome.message
    if line:
        assert line in outcome.message.splitlines(), outcome.message
        assert outcome.message.splitlines()[0] == f"security[{check}] (common.yaml:3)"
        assert outcome.message.splitlines()[1].startswith("expected: no ")


def test_a_pass_says_what_was_walked_and_a_missing_walk_fails() -> None:
    item = _item("setuid", allow=("/usr/bin/sudo",))
    passed = _verify(item, _facts(allowed_count=3, missing=["/opt"]))
    assert passed.message == "120 entries in 0.01 s (find), 3 allowed, absent: /opt"
    ctx = verdict.Context(facts={}, conditions={}, target_kind="image", image_attrs={})
    assert "not probed" in verdict.verify("security", item, ctx).message


# ---- the in-target walk on a temporary tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """world-writable file and directory, a sticky directory, a setuid and a setgid file, a fake ssh key,
    a PEM key under another name, token files, a symlink to a world-writable file."""
    root = tmp_path / "t"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "ok.conf").write_text("x")
    (root / "etc" / "open.conf").write_text("x")
    (root / "etc" / "open.conf").chmod(0o666)
    (root / "etc" / "drop").mkdir()
    (root / "etc" / "drop").chmod(0o777)
    (root / "etc" / "tmp").mkdir()
    (root / "etc" / "tmp").chmod(0o1777)
    os.symlink("open.conf", root / "etc" / "link")
    (root / "bin").mkdir()
    for name, mode in (("suid", 0o4755), ("sgid", 0o2755), ("plain", 0o755)):
        (root / "bin" / name).write_text("#!/bin/sh\n")
        (root / "bin" / name).chmod(mode)
    home = root / "home" / "dev"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")
    (home / ".ssh" / "id_rsa.pub").write_text("ssh-rsa AAAA dev@box\n")
    (home / ".ssh" / "authorized_keys").write_text("ssh-rsa AAAA dev@box\n")
    (home / "deploy.key").write_text("\n-----BEGIN EC PRIVATE KEY-----\nAAAA\n")
    (home / "notes.py").write_text("-----BEGIN RSA PRIVATE KEY-----\n")  # a source file is not sniffed
    (home / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n")
    (home / ".netrc").write_text("machine api.wandb.ai login user password x\n")
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text("hf_x")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {"auth": "eDp5"}}}))
    (home / "empty").mkdir()
    (home / "empty" / ".netrc").write_text("")
    (root / "etc" / "ssh").mkdir()
    (root / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("k")
    (root / "etc" / "ssh" / "ssh_host_ed25519_key.pub").write_text("k")
    return root


def _scan(check: str, paths: list[Path], use_find: bool, **kw: Any) -> dict[str, Any]:
    return walk.scan({"name": "x", "check": check, "paths": [str(p) for p in paths], **kw}, use_find=use_find)


def _found(out: dict[str, Any], root: Path) -> dict[str, str]:
    return {e["path"][len(str(root)) :]: e["what"] for e in out["found"]}


@pytest.mark.parametrize("use_find", METHODS)
def test_the_walk_finds_world_writable_entries_but_not_sticky_dirs_or_symlinks(
    tree: Path, use_find: bool
) -> None:
    out = _scan("world_writable", [tree / "etc"], use_find)
    assert out["method"] == ("find" if use_find else "python")
    assert _found(out, tree) == {
        "/etc/open.conf": "world-writable file (0666)",
        "/etc/drop": "world-writable directory without the sticky bit (0777)",
    }
    assert out["found_count"] == 2 and out["visited"] == 9 and not out["truncated"] and not out["error_count"]
    allowed = _scan("world_writable", [tree / "etc"], use_find, allow=[str(tree / "etc" / "d*")])
    assert _found(allowed, tree) == {"/etc/open.conf": "world-writable file (0666)"}
    assert allowed["allowed"] == [str(tree / "etc" / "drop")] and allowed["unused_allow"] == []


@pytest.mark.parametrize("use_find", METHODS)
def test_the_walk_finds_setuid_and_setgid_files_outside_the_allow_list(tree: Path, use_find: bool) -> None:
    out = _scan("setuid", [tree / "bin"], use_find, allow=[str(tree / "bin" / "sgid"), "/nowhere"])
    found = _found(out, tree)
    assert list(found) == ["/bin/suid"] and found["/bin/suid"].startswith("setuid ")
    assert found["/bin/suid"].endswith(" 4755")
    assert out["allowed_count"] == 1 and out["unused_allow"] == ["/nowhere"]


@pytest.mark.parametrize("use_find", METHODS)
def test_a_pruned_directory_is_counted_but_not_walked(tree: Path, use_find: bool) -> None:
    site = tree / "bin" / "lib" / "dist-packages" / "pkg"
    site.mkdir(parents=True)
    (site / "tool").write_text("#!/bin/sh\n")
    (site / "tool").chmod(0o4755)
    every = _scan("setuid", [tree / "bin"], use_find)
    assert set(_found(every, tree)) == {"/bin/suid", "/bin/sgid", "/bin/lib/dist-packages/pkg/tool"}
    pruned = _scan("setuid", [tree / "bin"], use_find, prune=["*/dist-packages"])
    assert set(_found(pruned, tree)) == {"/bin/suid", "/bin/sgid"}
    # bin, its 3 files, lib and dist-packages itself: what is below a pruned directory is not visited.
    assert pruned["visited"] == every["visited"] - 2 == 6


@pytest.mark.parametrize("use_find", METHODS)
def test_the_walk_finds_keys_and_credentials_files(tree: Path, use_find: bool) -> None:
    out = _scan("secrets", [tree / "home", tree / "etc" / "ssh", tree / "nowhere"], use_find)
    assert out["method"] == "python"  # secrets always walks with os.scandir (name tests without a stat)
    assert _found(out, tree) == {
        "/home/dev/.ssh/id_rsa": "ssh private key",
        "/home/dev/deploy.key": "private key (-----BEGIN EC PRIVATE KEY-----)",
        "/home/dev/.netrc": "credentials file (.netrc)",
        "/home/dev/.cache/huggingface/token": "credentials file (.cache/huggingface/token)",
        "/home/dev/.docker/config.json": "docker credentials for ghcr.io",
        "/etc/ssh/ssh_host_ed25519_key": "ssh host key",
    }
    assert out["missing"] == [str(tree / "nowhere")]


def test_a_docker_config_without_credentials_is_no_secret(tmp_path: Path) -> None:
    docker = tmp_path / ".docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"auths": {"ghcr.io": {}}, "credsStore": "pass"}))
    assert _scan("secrets", [tmp_path], False)["found_count"] == 0


@pytest.mark.parametrize("use_find", METHODS)
def test_a_walk_past_its_cap_is_truncated(tree: Path, use_find: bool) -> None:
    out = _scan("world_writable", [tree], use_find, max_entries=5)
    assert out["truncated"] == "stopped after max_entries (5) entries"
    assert out["visited"] <= 5 + 12  # the fallback checks the cap between directories


@pytest.mark.parametrize("use_find", METHODS)
def test_the_walk_does_not_follow_a_symlinked_directory(tree: Path, tmp_path: Path, use_find: bool) -> None:
    os.symlink(tree / "bin", tree / "etc" / "bin-link")
    out = _scan("setuid", [tree / "etc"], use_find)
    assert out["found_count"] == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
@pytest.mark.parametrize("use_find", METHODS)
def test_an_unreadable_directory_is_an_error_not_a_pass(tree: Path, use_find: bool) -> None:
    locked = tree / "etc" / "drop"
    locked.chmod(0o700)
    (locked / "inner").mkdir()
    locked.chmod(0)
    try:
        out = _scan("setuid", [tree / "etc"], use_find)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert out["error_count"] == 1


def test_a_directory_the_fallback_cannot_list_is_an_error(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.scandir
    locked = str(tree / "etc" / "drop")

    def scandir(path: str) -> Any:
        if path == locked:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(walk.os, "scandir", scandir)
    out = _scan("setuid", [tree / "etc"], False)
    assert out["error_count"] == 1 and out["errors"] == [f"{locked}: Permission denied"]


def test_an_unknown_check_is_reported() -> None:
    assert walk.scan({"name": "x", "check": "nosuch", "paths": ["/"]})["error"] == "unknown check 'nosuch'"


@pytest.fixture
def pruned_tree(tmp_path: Path) -> Path:
    """A world-writable directory and a setuid file, each under a directory a prune pattern names."""
    root = tmp_path / "p"
    (root / "etc" / "ww").mkdir(parents=True)
    (root / "etc" / "ww").chmod(0o777)
    (root / "etc" / "ww" / "open").write_text("x")
    (root / "etc" / "ww" / "open").chmod(0o666)
    (root / "bin" / "sub").mkdir(parents=True)
    (root / "bin" / "sub" / "suid").write_text("x")
    (root / "bin" / "sub" / "suid").chmod(0o4755)
    (root / "bin" / "sub" / "a1").mkdir()
    (root / "bin" / "sub" / "a1" / "suid").write_text("x")
    (root / "bin" / "sub" / "a1" / "suid").chmod(0o4755)
    return root


@pytest.mark.parametrize("use_find", METHODS)
def test_a_pruned_directory_is_judged_itself_but_not_walked(pruned_tree: Path, use_find: bool) -> None:
    """Before: find skipped the pruned directory's own mode (0 found) where the fallback reported it."""
    out = _scan("world_writable", [pruned_tree / "etc"], use_find, prune=["*/ww"])
    assert _found(out, pruned_tree) == {"/etc/ww": "world-writable directory without the sticky bit (0777)"}
    assert out["visited"] == 2


@pytest.mark.parametrize("use_find", METHODS)
def test_a_start_path_a_prune_pattern_names_is_not_walked(pruned_tree: Path, use_find: bool) -> None:
    """Before: find pruned a start path, the fallback walked it: 0 against 2 findings on one tree."""
    out = _scan("setuid", [pruned_tree / "bin" / "sub"], use_find, prune=["*/sub"])
    assert out["found_count"] == 0 and out["visited"] == 1


@pytest.mark.parametrize(
    "prune, found",
    [
        (["*/a[0-9]"], {"/bin/sub/suid"}),
        (["*/a[!0-9]"], {"/bin/sub/suid", "/bin/sub/a1/suid"}),
        (["*/a[^0-9]"], {"/bin/sub/suid", "/bin/sub/a1/suid"}),  # [^ reads as [! on both walks
        (["*/a[^b]"], {"/bin/sub/suid"}),
        (["*sub*"], set()),
        (["*/su?/a?"], {"/bin/sub/suid"}),
    ],
)
def test_both_walks_prune_alike(pruned_tree: Path, prune: list[str], found: set[str]) -> None:
    verdicts = {}
    for use_find in ([True] if shutil.which("find") else []) + [False]:
        out = _scan("setuid", [pruned_tree / "bin"], use_find, prune=prune)
        verdicts[out["method"]] = (set(_found(out, pruned_tree)), out["visited"])
    assert all(v[0] == found for v in verdicts.values()), verdicts
    assert len({v[1] for v in verdicts.values()}) == 1, verdicts


@pytest.mark.parametrize("pattern", ["/a\\*b", "*/[[:alpha:]]x"])
def test_a_prune_pattern_the_walks_read_differently_is_refused(tmp_path: Path, pattern: str) -> None:
    body = f"security:\n  - name: x\n    check: setuid\n    paths: [/usr]\n    prune: ['{pattern}']\n"
    with pytest.raises(exp.ExpectationsError) as err:
        _load(tmp_path, body)
    assert "common.yaml:5: security[0].prune[0]: " in str(err.value)


def test_a_path_with_a_nul_byte_is_an_error_not_an_absent_path() -> None:
    """Before: os.path.lexists said False, the path counted as absent and the item passed."""
    out = walk.scan({"name": "x", "check": "setuid", "paths": ["/usr\0/bin"]})
    assert out["error"] == "path '/usr\\x00/bin' holds a NUL byte"
    item = SecurityCheck(key="x", name="x", check="setuid", paths=("/usr\0/bin",))
    ctx = verdict.Context(
        facts={"security": {"x": out}}, conditions={}, target_kind="local", image_attrs=None
    )
    assert verdict.verify("security", item, ctx).status == "failed"
