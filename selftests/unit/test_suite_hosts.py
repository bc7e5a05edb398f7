"""One record per host, the hello's manifest handed to the probe, one arch table, modules kept small."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from devbox_conformance import arch, hosts, probe, session
from devbox_conformance.arch import local_arch
from devbox_conformance.target import Target

REPO = Path(__file__).resolve().parents[2]


def _local() -> Target:
    return Target.from_spec("local://", name="local", kind="local", arch=local_arch())


def _probe_says(path: Path) -> tuple[object, str]:
    """What the probe itself reports for the manifest at `path`."""
    request = {"manifest": str(path), "gatherers": []}
    facts = probe.collect_facts(_local(), request, timeout=120)
    return facts["manifest"], facts["manifest_status"]


@pytest.mark.parametrize(
    "content",
    [
        '{"base": {"kind": "standin"}, "sets": {}}',
        # U+2028 inside a string: a line split and re-join of the hello's output would change the value.
        '{"base": {"kind": "ngc"}, "note": "a\u2028b\\u00e9"}\n\n',
        "null",
    ],
)
def test_a_whole_manifest_is_taken_from_the_hello_exactly_as_the_probe_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    path = tmp_path / "build-manifest.json"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setattr(probe, "MANIFEST_PATH", str(path))
    greeted = hosts.hello(_local())
    assert greeted.error is None
    assert greeted.manifest == _probe_says(path)
    assert greeted.base == (json.loads(content) or {}).get("base", {}).get("kind")


def test_an_absent_manifest_is_absent_for_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "none.json"
    monkeypatch.setattr(probe, "MANIFEST_PATH", str(path))
    assert hosts.hello(_local()).manifest == (None, "absent") == _probe_says(path)


@pytest.mark.parametrize("case", ["cut at the cap", "not JSON", "not UTF-8", "a directory", "a BOM"])
def test_a_manifest_the_hello_cannot_vouch_for_is_left_to_the_probe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The false greens: a copy cut at the cap, or read with bytes replaced, must not pass as `present`."""
    path = tmp_path / "build-manifest.json"
    if case == "cut at the cap":
        monkeypatch.setattr(hosts, "HELLO_MANIFEST_MAX", 40)
        path.write_text("7" * 80)  # cut, it is still valid JSON: another number
    elif case == "not JSON":
        path.write_text('{"base": ')
    elif case == "not UTF-8":
        path.write_bytes(b'{"base": {"kind": "ngc"}, "x": "\xff"}')
    elif case == "a BOM":
        path.write_bytes(b'\xef\xbb\xbf{"base": {"kind": "ngc"}}')
    else:
        path.mkdir()
    monkeypatch.setattr(probe, "MANIFEST_PATH", str(path))
    greeted = hosts.hello(_local())
    assert greeted.error is None
    assert greeted.manifest is None  # the probe reads it: its verdict, as before


def test_the_probe_skips_the_manifest_it_is_told_the_host_holds() -> None:
    facts = probe.collect_facts(_local(), {"manifest": "", "gatherers": []}, timeout=120)
    assert "manifest" not in facts and "manifest_status" not in facts


def test_a_host_record_holds_its_target_and_copies_none_of_its_fields(tmp_path: Path) -> None:
    target_fields = {f.name for f in dataclasses.fields(Target)}
    record_fields = {f.name for f in dataclasses.fields(hosts.HostState)}
    assert not target_fields & record_fields
    target = dataclasses.replace(_local(), image_attrs={"Architecture": "amd64"}, has_timeout=True)
    host = hosts.HostState(target=target, base_kind="other", facts_path=str(tmp_path / "f.json"))
    state = session.RunState(run_id="r1", expectations_dir=str(tmp_path), hosts=(host,), connection={"x": 1})
    loaded = session.RunState.load(state.save(tmp_path))
    assert loaded.hosts == (host,)
    assert loaded.first.name == "local" and loaded.first.has_timeout and loaded.first.arch == local_arch()
    given = loaded.target("local")
    assert given.connection == {"x": 1} and given is not loaded.first.target


def test_the_harness_reads_the_suites_arch_table() -> None:
    from devbox_build import config  # noqa: PLC0415

    assert config.MACHINE_TO_ARCH is arch.MACHINE_TO_ARCH
    copies = [
        p
        for root in ("src", "build")
        for p in (REPO / root).rglob("*.py")
        if '"aarch64": "arm64"' in p.read_text(encoding="utf-8") and p.name != "arch.py"
    ]
    assert copies == []


@pytest.mark.parametrize(
    "module", ["engine.py", "session.py", "target.py", "intarget/security.py", "hosts.py", "reaper.py"]
)
def test_the_split_modules_stay_under_400_lines(module: str) -> None:
    lines = (REPO / "src" / "devbox_conformance" / module).read_text(encoding="utf-8").count("\n")
    assert lines < 400, f"{module}: {lines} lines"
