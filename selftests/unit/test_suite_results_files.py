"""Results files never lie: --results-json and --junitxml say the last run's outcome, whichever way it ended.

Through pytester on the local target (no Docker): a green run, then a run to the same paths that stops at
start-up (an unreachable ssh host, bad expectations, a probe that fails), must leave files that say that
failure. Plus the per-host counts of skips, and the atomic writer itself.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from plugin_runs import lay_out_suite, run_plugin

from devbox_conformance import results

pytest_plugins = ["pytester"]

EXPECTATIONS = {
    "exp/common": "binaries:\n  - name: sh\ngpu:\n  - name: matmul\n    when: {gpu: true}\n",
    "exp/amd64": "",
    "exp/arm64": "",
}
TESTS = """
def test_binary(binary, check):
    check("binaries", binary)


def test_gpu(gpu_check, check):
    check("gpu", gpu_check)
"""
UNREACHABLE = "ssh://nobody@127.0.0.1:1"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return lay_out_suite(pytester, EXPECTATIONS, TESTS)


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_plugin(
        suite,
        "--no-contract",
        "--expectations=exp",
        "--results-json=out/r.json",
        "--junitxml=out/junit.xml",
        *args,
    )


def junit(suite: pytest.Pytester) -> ET.Element:
    suites = ET.parse(suite.path / "out" / "junit.xml").getroot()
    return suites.find("testsuite")  # type: ignore[return-value]


def leftovers(suite: pytest.Pytester) -> list[str]:
    return sorted(p.name for p in (suite.path / "out").iterdir() if p.name not in ("r.json", "junit.xml"))


def green_first(suite: pytest.Pytester) -> None:
    result = run(suite, "--hosts", "local://")
    assert result.ret == 0, result.stdout.str()
    doc = json.loads((suite.path / "out" / "r.json").read_text())
    assert doc["exit_status"] == 0 and doc["error"] is None and doc["totals"]["passed"] == 1
    assert junit(suite).get("errors") == "0" and junit(suite).get("tests") == "2"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--hosts", UNREACHABLE], "cannot reach ssh://nobody@127.0.0.1:1"),
        (["--hosts", "local://", "--expectations=nowhere"], "--expectations "),
    ],
    ids=["unreachable-host", "missing-expectations"],
)
def test_a_run_stopped_at_start_up_replaces_the_green_files(
    suite: pytest.Pytester, args: list[str], error: str
) -> None:
    green_first(suite)
    result = run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    doc = json.loads((suite.path / "out" / "r.json").read_text())
    assert doc["exit_status"] == 4 and error in doc["error"], doc
    assert doc["items"] == [] and doc["hosts"] == [] and doc["totals"]["passed"] == 0
    case = junit(suite)
    assert (case.get("errors"), case.get("tests")) == ("1", "1")
    assert error in case.find("testcase/error").get("message")  # type: ignore[union-attr]
    assert leftovers(suite) == []


def test_a_probe_that_fails_after_the_session_started_says_so_too(suite: pytest.Pytester) -> None:
    # The hello passes and the probe fails: the one line comes from pytest_runtestloop, after sessionstart,
    # where pytest itself would write its JUnit with no test and no error.
    green_first(suite)
    suite.makeconftest(
        "import devbox_conformance.probe as p\n"
        "def _broken(*a, **k):\n    raise p.ProbeError('the probe broke on purpose')\n"
        "p.collect_facts = _broken\n"
    )
    result = run(suite, "--hosts", "local://")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    doc = json.loads((suite.path / "out" / "r.json").read_text())
    assert doc["exit_status"] == 4 and doc["error"] == "the probe broke on purpose", doc
    assert doc["items"] == [] and doc["totals"]["passed"] == 0
    case = junit(suite)
    assert (case.get("errors"), case.get("tests")) == ("1", "1")
    assert case.find("testcase/error").get("message") == "the probe broke on purpose"  # type: ignore[union-attr]
    assert leftovers(suite) == []


def test_a_run_interrupted_while_preparing_writes_its_status(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        "import devbox_conformance.session as s\n"
        "def _boom(*a, **k):\n    raise KeyboardInterrupt\n"
        "s.prepare = _boom\n"
    )
    result = run(suite, "--hosts", "local://")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    doc = json.loads((suite.path / "out" / "r.json").read_text())
    assert doc["exit_status"] == 2 and "interrupted" in doc["error"] and doc["items"] == []


def test_skips_are_counted_per_host_and_name_their_host(suite: pytest.Pytester) -> None:
    result = run(suite, "--hosts", f"local://,{UNREACHABLE}", "-rs")
    assert result.ret == 1, result.stdout.str()
    doc = json.loads((suite.path / "out" / "r.json").read_text())
    hosts = {h["name"]: h["totals"] for h in doc["hosts"]}
    assert hosts["local"] == {"passed": 1, "failed": 0, "skipped": 1, "error": 0, "waived": 0}, hosts
    assert hosts[UNREACHABLE]["failed"] == 2 and hosts[UNREACHABLE]["skipped"] == 0, hosts
    skipped = next(e for e in doc["items"] if e["outcome"] == "skipped")
    assert skipped["host"] == "local"
    assert skipped["message"] == "local: when: gpu is true, but the target has no GPU visible"
    rows = {ln.split()[0]: ln.split()[1:5] for ln in result.stdout.str().splitlines() if ln.strip()}
    assert rows["local"] == ["1", "0", "1", "0"], result.stdout.str()
    assert rows[UNREACHABLE] == ["0", "2", "0", "0"], result.stdout.str()


def test_a_single_host_run_prints_its_counts_skips_included(suite: pytest.Pytester) -> None:
    result = run(suite, "--hosts", "local://")
    assert "devbox: 1 passed, 0 failed, 1 skipped, 0 error" in result.stdout.str()


def test_the_atomic_writer_replaces_whole_and_leaves_nothing_beside(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "r.json"
    results.write_atomically(target, "first\n")
    inode = target.stat().st_ino
    results.write_atomically(target, "second\n")
    assert target.read_text() == "second\n" and target.stat().st_ino != inode  # renamed over, not rewritten
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old\n")

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        results.write_atomically(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_the_junit_error_document_is_junit(tmp_path: Path) -> None:
    root = ET.fromstring(results.junit_error("pytest", 4, 'cannot reach <ssh://x> & "y"'))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    assert suite.find("testcase/error").get("message") == 'cannot reach <ssh://x> & "y"'  # type: ignore[union-attr]
