"""files' later fields (exists: false, group, sha256, symlink target, contains / not_contains) and
python_dists' `version:` specifier: loading, the in-target gatherer, and the checks' messages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance.intarget.files import probe_file
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.files import File
from devbox_conformance.kinds.files import request as files_request
from devbox_conformance.kinds.python_dists import PythonDist


def _load(tmp_path: Path, body: str) -> exp.Expectations:
    (tmp_path / "common.yaml").write_text(body)
    (tmp_path / "amd64.yaml").write_text("{}\n")
    return exp.load(tmp_path, "amd64", "standin")


def _verify(kind: str, item: exp.Item, facts: dict[str, object]) -> verdict.Outcome:
    ctx = verdict.Context(facts=facts, conditions={}, target_kind="image", image_attrs={})
    return verdict.verify(kind, item, ctx)


def test_the_new_file_fields_load_and_ask_the_probe_for_what_they_need(tmp_path: Path) -> None:
    digest = "AB" * 32
    model = _load(
        tmp_path,
        f"""\
files:
  - path: /etc/conf
    contains: "mode = on"
    not_contains: [debug, trace]
    sha256: {digest}
    group: staff
  - path: /gone
    exists: false
  - path: /link
    type: symlink
    target: /usr/bin/real
python_dists:
  - name: pkg
    version: ">=1.0,<2"
""",
    )
    conf, gone, link = model.files_
    assert conf.contains == ("mode = on",) and conf.not_contains == ("debug", "trace")
    assert conf.sha256 == "ab" * 32 and conf.group == "staff" and conf.exists
    assert not gone.exists and link.target == "/usr/bin/real"
    assert model.python_dists[0].version == SpecifierSet(">=1.0,<2")
    files = {f["path"]: f for f in probe.build_request(model)["files"]}
    assert files["/etc/conf"] == {
        "path": "/etc/conf",
        "content": True,
        "sha256": True,
        "max_content": 1 << 20,
    }
    assert files["/gone"] == {"path": "/gone", "content": False}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "files:\n  - path: /x\n    sha256: nothex\n",
            "common.yaml:3: files[0].sha256: 'nothex' does not match",
        ),
        (
            "python_dists:\n  - name: p\n    version: '>>1'\n",
            "common.yaml:3: python_dists[0].version: invalid version spec '>>1' (PEP 440, e.g. '>=2.30')",
        ),
        ("files:\n  - path: /x\n    contains: []\n", "common.yaml:3: files[0].contains:"),
        (
            "files:\n  - path: /x\n    max_content: 0\n",
            "common.yaml:3: files[0].max_content: 0 is less than the minimum of 1",
        ),
        (
            "files:\n  - path: /x\n    max_content: 268435457\n",
            "common.yaml:3: files[0].max_content: 268435457 is greater than the maximum of 268435456",
        ),
    ],
)
def test_bad_new_fields_are_one_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(exp.ExpectationsError) as err:
        _load(tmp_path, body)
    assert message in str(err.value), str(err.value)


def test_the_gatherer_hashes_the_whole_file_and_reads_a_link_target(tmp_path: Path) -> None:
    data = b"x" * (3 << 20)  # larger than the content cap and the read block
    (tmp_path / "big").write_bytes(data)
    os.symlink(tmp_path / "big", tmp_path / "link")
    got = probe_file({"path": str(tmp_path / "big"), "sha256": True})
    assert got["sha256"] == hashlib.sha256(data).hexdigest() and "content" not in got
    link = probe_file({"path": str(tmp_path / "link"), "sha256": True})
    assert link["link_target"] == str(tmp_path / "big") and link["sha256"] == got["sha256"]
    assert "sha256" not in probe_file({"path": str(tmp_path)})


def _file(**kw: object) -> File:
    return File(key=str(kw["path"]), source="common.yaml:5", **kw)  # type: ignore[arg-type]


FOUND = {
    "exists": True,
    "type": "file",
    "target_type": "file",
    "mode": "0644",
    "owner": "root",
    "group": "root",
    "content": "mode = on\ndebug = 1\n",
    "sha256": "ab" * 32,
}


@pytest.mark.parametrize(
    ("item", "found", "status", "line"),
    [
        (_file(path="/gone", exists=False), {"exists": False, "error": "No such file"}, "passed", ""),
        (_file(path="/gone", exists=False), FOUND, "failed", "found:    exists (file)"),
        (_file(path="/c", group="staff"), FOUND, "failed", "found:    group root"),
        (
            _file(path="/c", contains=("mode = on",), not_contains=("debug",)),
            FOUND,
            "failed",
            "found:    holds 'debug'",
        ),
        (_file(path="/c", contains=("nope",)), FOUND, "failed", "found:    lacks 'nope'"),
        (_file(path="/c", sha256="cd" * 32), FOUND, "failed", f"found:    sha256 {'ab' * 32}"),
        (_file(path="/c", sha256="ab" * 32, group="root", contains=("mode",)), FOUND, "passed", ""),
        (
            _file(path="/l", target="/usr/bin/a"),
            {**FOUND, "type": "symlink", "link_target": "/usr/bin/b"},
            "failed",
            "found:    symlink to /usr/bin/b",
        ),
        (_file(path="/l", target="/usr/bin/a"), FOUND, "failed", "found:    not a symlink (type file)"),
    ],
)
def test_file_checks(item: File, found: dict[str, object], status: str, line: str) -> None:
    outcome = _verify("files", item, {"files": {item.path: found}})
    assert outcome.status == status, outcome.message
    if line:
        assert line in outcome.message.splitlines(), outcome.message


def test_a_file_that_must_be_absent_says_so() -> None:
    outcome = _verify("files", _file(path="/gone", exists=False), {"files": {"/gone": FOUND}})
    assert outcome.message.splitlines()[1] == "expected: absent"


# --- Content past what is read: never judged as if it were the whole file ---------------------------------

BIG = b"a" * 200_000 + b"\nFORBIDDEN\n"  # the forbidden text lies far past 64 KiB


@pytest.fixture
def big(tmp_path: Path) -> str:
    (tmp_path / "big").write_bytes(BIG)
    return str(tmp_path / "big")


def _probe_and_verify(path: str, **kw: object) -> verdict.Outcome:
    item = _file(path=path, **kw)
    spec = files_request([item])["files"][0]
    return _verify("files", item, {"files": {path: probe_file(spec)}})


CUT = f"found:    the file is {len(BIG)} bytes; only the first 65536 were judged (raise max_content)"


@pytest.mark.parametrize(
    ("fields", "status", "line"),
    [
        ({"not_contains": ("FORBIDDEN",), "max_content": 65536}, "failed", CUT),
        ({"not_contains": ("FORBIDDEN",)}, "failed", "found:    holds 'FORBIDDEN'"),  # 1 MiB: all of it
        ({"contains": ("FORBIDDEN",), "max_content": 65536}, "failed", CUT),
        ({"contains": ("aaaa",), "max_content": 65536}, "passed", ""),  # found in the part: in the whole
        ({"content": "^a+$", "max_content": 65536}, "failed", CUT),
        ({"content": r"\A[a\n]*\Z", "max_content": 65536}, "failed", CUT),
        ({"content": r"\A[a\n]*\Z"}, "failed", "found:    content without a match (first 200 chars: "),
        ({"content": "^FORBIDDEN$"}, "passed", ""),
        (
            {"contains": ("aaaa",), "not_contains": ("FORBIDDEN", "aaaa"), "max_content": 65536},
            "failed",
            "found:    holds 'aaaa'; " + CUT.removeprefix("found:    "),
        ),
    ],
)
def test_a_content_check_on_a_part_of_a_file_never_passes(
    big: str, fields: dict[str, object], status: str, line: str
) -> None:
    outcome = _probe_and_verify(big, **fields)
    assert outcome.status == status, outcome.message
    if line:
        assert any(got.startswith(line) for got in outcome.message.splitlines()), outcome.message


def test_the_gatherer_reads_max_content_and_says_what_it_kept(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes("aé".encode() * 10)  # 30 bytes, a 2-byte character at every third
    got = probe_file({"path": str(tmp_path / "f"), "content": True, "max_content": 5})
    assert got["content"] == "aéa" and got["content_read"] == 5 and got["content_truncated"]
    got = probe_file({"path": str(tmp_path / "f"), "content": True, "max_content": 30})
    assert got["content"] == "aé" * 10 and got["content_read"] == 30 and not got["content_truncated"]
    # /proc files say size 0: the cut is known from reading one byte more, and the message says so.
    found = {**FOUND, "size": 0, "content": "x", "content_read": 1, "content_truncated": True}
    outcome = _verify("files", _file(path="/p", not_contains=("y",)), {"files": {"/p": found}})
    assert "found:    the file holds more than 1 bytes; only the first 1 were judged (raise max_content)" in (
        outcome.message.splitlines()
    )


def test_one_path_read_by_several_items_is_read_as_far_as_the_largest_asks() -> None:
    items = [_file(path="/c", contains=("a",), max_content=10), _file(path="/c", content="b", max_content=99)]
    assert files_request(items)["files"] == [{"path": "/c", "content": True, "max_content": 99}]


@pytest.mark.parametrize(
    ("spec", "installed", "status"),
    [
        (">=1.0,<2", "1.2.0", "passed"),
        (">=1.0,<2", "2.1", "failed"),
        ("~=1.2", "1.9", "passed"),
        ("!=1.2.0", "1.2.0", "failed"),
        (">=1.0", "2.0rc1", "passed"),
    ],
)
def test_python_dist_version_specifier(spec: str, installed: str, status: str) -> None:
    item = PythonDist(key="pkg", name="pkg", version=SpecifierSet(spec), source="s")
    outcome = _verify("python_dists", item, {"dists": {"pkg": installed}})
    assert outcome.status == status
    if status == "failed":
        assert outcome.message.splitlines()[1:] == [
            f"expected: installed, version {SpecifierSet(spec)}",
            f"found:    version {installed}",
        ]
