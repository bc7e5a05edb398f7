"""Peer benchmark runner: the parts that need no Docker (summary and ratios, CST result mapping, JUnit)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import peer_cst  # noqa: E402
import peer_report  # noqa: E402
import peer_run  # noqa: E402


def test_summary_uses_medians_and_the_parallel_suite_as_the_unit() -> None:
    runs = [
        peer_run.RunResult("suite", 200, 10.0, 0),
        peer_run.RunResult("suite", 200, 14.0, 0),
        peer_run.RunResult("suite", 200, 12.0, 0),
        peer_run.RunResult("cst", 200, 360.0, 1, {"passed": 199, "failed": 1}, extrapolated_from=50),
        peer_run.RunResult("testinfra", 200, 96.0, 0),
    ]
    rows = {r["runner"]: r for r in peer_report.summarize(runs)}
    assert list(rows) == ["suite", "testinfra", "cst"]
    assert rows["suite"]["wall_s"] == 12.0 and rows["suite"]["walls_s"] == [10.0, 14.0, 12.0]
    assert rows["testinfra"]["ratio_vs_suite"] == 8.0
    assert rows["cst"]["ratio_vs_suite"] == 30.0 and rows["cst"]["extrapolated_from"] == 50
    assert rows["cst"]["checks_per_s"] == round(200 / 360, 2)


def test_cst_results_map_back_to_checks() -> None:
    covers = {
        "commandTests:binaries[rg]": ["binaries[rg]"],
        "fileExistenceTests:files[/etc/x]": ["files[/etc/x]"],
        "metadataTest:Metadata Test": ["labels[a]", "env[B]"],
    }
    assert peer_cst.cst_key("Command Test: binaries[rg]", covers) == "commandTests:binaries[rg]"
    assert (
        peer_cst.cst_key("File Existence Test: files[/etc/x]", covers) == "fileExistenceTests:files[/etc/x]"
    )
    assert peer_cst.cst_key("Metadata Test", covers) == "metadataTest:Metadata Test"
    assert peer_cst.cst_key("Command Test: something else", covers) == ""


def test_junit_counts(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text('<testsuites><testsuite tests="10" failures="2" errors="1" skipped="3"/></testsuites>')
    assert peer_run.junit_counts(path) == {"passed": 4, "failed": 2, "skipped": 3, "error": 1}
    assert peer_run.junit_counts(tmp_path / "missing.xml") == {}
