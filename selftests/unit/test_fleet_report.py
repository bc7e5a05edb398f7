"""`devbox fleet-report`: per-node results files -> one fleet verdict. Pure files, no Docker, no Slurm."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from devbox_build import cli
from devbox_build.fleet import collect, hostlist, render, summary
from hypothesis import given, settings
from hypothesis import strategies as st


def _perf(
    metric: str, value: float, *, gpu: str = "NVIDIA H200", lower: float | None = 700.0, unit: str = "TFLOPS"
):
    return {
        "metric": metric,
        "unit": unit,
        "value": value,
        "lower_limit": lower,
        "upper_limit": None if lower is not None else 10.0,
        "outcome": "pass",
        "gpu": gpu,
    }


def _doc(exit_status: int = 0, items: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    if items is None:
        items = [{"name": "test_gpu[count]", "outcome": "passed", "message": "", "records": {}}]
    return {
        "schema_version": 2,
        "exit_status": exit_status,
        "hosts": [{"name": "local://"}],
        "items": items,
        **extra,
    }


def _write(directory: Path, node: str, doc: Any) -> None:
    (directory / f"{node}.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))


def _report(tmp_path: Path, expected: tuple[str, ...] = ()) -> summary.FleetReport:
    return summary.summarize(collect.read_dir(tmp_path), expected=expected)


# --- hostlist ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("gpu01", ["gpu01"]),
        ("gpu[01-03]", ["gpu01", "gpu02", "gpu03"]),
        ("gpu[8-10],cpu1", ["gpu8", "gpu9", "gpu10", "cpu1"]),
        ("gpu[098-100,7]", ["gpu098", "gpu099", "gpu100", "gpu7"]),
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("a,a,b", ["a", "b"]),
        ("node[0]", ["node0"]),
    ],
)
def test_hostlist_expands_like_slurm(expr: str, names: list[str]) -> None:
    assert hostlist.expand(expr) == names


@pytest.mark.parametrize("expr", ["gpu[01-", "gpu]", "gpu[a-b]", "gpu[3-1]", "gpu[[1]]", "gpu[1-999999999]"])
def test_hostlist_refuses_what_slurm_refuses(expr: str) -> None:
    with pytest.raises(hostlist.HostlistError):
        hostlist.expand(expr)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True),
    low=st.integers(0, 500),
    span=st.integers(0, 40),
    width=st.integers(1, 4),
)
def test_hostlist_range_has_every_number_once(prefix: str, low: int, span: int, width: int) -> None:
    lo = str(low).zfill(width)
    hi = str(low + span).zfill(width) if width > 1 else str(low + span)
    names = hostlist.expand(f"{prefix}[{lo}-{hi}]")
    assert len(names) == span + 1
    assert [int(n.removeprefix(prefix)) for n in names] == list(range(low, low + span + 1))


# --- verdicts: every way a node could look green without being so ----------------------------------------


def test_green_nodes_are_green(tmp_path: Path) -> None:
    _write(tmp_path, "gpu01", _doc())
    _write(tmp_path, "gpu02", _doc())
    report = _report(tmp_path, ("gpu01", "gpu02"))
    assert report.red == () and report.missing == ()


def test_expected_node_without_a_file_is_red(tmp_path: Path) -> None:
    _write(tmp_path, "gpu01", _doc())
    report = _report(tmp_path, tuple(hostlist.expand("gpu[01-02]")))
    assert report.red == ("gpu02",) and report.missing == ("gpu02",)


def test_failed_item_names_the_item_and_what_was_found(tmp_path: Path) -> None:
    failing = {
        "name": "test_gpu[count]",
        "outcome": "failed",
        "message": "gpu[count] (common.yaml:3)\nexpected: exactly 8 GPU(s)\nfound:    7 GPU(s)",
    }
    _write(tmp_path, "gpu01", _doc(1, [failing]))
    (row,) = _report(tmp_path).rows
    assert row.problems[0] == "test_gpu[count]: 7 GPU(s)"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"schema_vers', "is not JSON"),
        ("[]", "not a results document"),
        (json.dumps({"schema_version": 1, "exit_status": 0, "items": []}), "not a results document"),
        (json.dumps(_doc(0, [])), "ran no check"),
        (json.dumps(_doc(0, [{"name": "t", "outcome": "skipped", "message": "no GPU"}])), "ran no check"),
        (json.dumps(_doc(4, [], error="cannot reach ssh://gpu01")), "cannot reach ssh://gpu01"),
        (json.dumps({"schema_version": 2, "items": [{"name": "t", "outcome": "passed"}]}), "no exit status"),
        (json.dumps(_doc(3)), "exit status 3"),
    ],
)
def test_a_node_that_says_nothing_usable_is_red(tmp_path: Path, content: str, problem: str) -> None:
    """Each of these would be a false green if a node were green unless proven red."""
    _write(tmp_path, "gpu01", content)
    (row,) = _report(tmp_path).rows
    assert row.red and any(problem in p for p in row.problems), row.problems


def test_slow_node_against_the_fleet_median_is_red(tmp_path: Path) -> None:
    for node, value in (("gpu01", 780.0), ("gpu02", 781.0), ("gpu03", 720.0)):
        item = {
            "name": "test_gpu_figure[matmul_bf16]",
            "outcome": "passed",
            "records": {"performance": _perf("matmul_bf16", value)},
        }
        _write(tmp_path, node, _doc(0, [item]))
    report = _report(tmp_path)
    assert report.red == ("gpu03",)
    assert "92 % of the fleet median 780" in report.rows[2].problems[0]


def test_lower_is_better_figures_are_judged_the_other_way(tmp_path: Path) -> None:
    for node, value in (("a", 1.0), ("b", 1.0), ("c", 1.5)):
        item = {
            "name": "t",
            "outcome": "passed",
            "records": {"performance": _perf("start", value, lower=None, unit="s")},
        }
        _write(tmp_path, node, _doc(0, [item]))
    assert _report(tmp_path).red == ("c",)


def test_figures_of_different_gpu_models_are_not_compared(tmp_path: Path) -> None:
    for node, value, gpu in (
        ("a", 780.0, "NVIDIA H200"),
        ("b", 300.0, "NVIDIA A100"),
        ("c", 781.0, "NVIDIA H200"),
    ):
        item = {
            "name": "t",
            "outcome": "passed",
            "records": {"performance": _perf("matmul_bf16", value, gpu=gpu)},
        }
        _write(tmp_path, node, _doc(0, [item]))
    assert _report(tmp_path).red == ()


def test_the_slowest_gpu_figure_of_each_node_is_shown_and_a_node_below_its_floor_is_red(
    tmp_path: Path,
) -> None:
    """What test_slowest_gpu_against_node_median records (gpu_slowest_vs_median, %, floor 95): a node whose
    slowest GPU is at 93 % of its own median is red with that figure; a node whose test failed without a
    figure (a GPU that could not be measured) is red from its failed item."""
    spread = {"name": "test_slowest_gpu_against_node_median", "outcome": "passed"}
    for node, value in (("gpu01", 99.0), ("gpu02", 99.4)):
        perf = {**_perf("gpu_slowest_vs_median", value, lower=95.0, unit="%")}
        _write(tmp_path, node, _doc(0, [{**spread, "records": {"performance": perf}}]))
    low = {**_perf("gpu_slowest_vs_median", 93.0, lower=95.0, unit="%"), "outcome": "fail"}
    failed = {**spread, "outcome": "failed", "message": "GPU 5 (NVIDIA H200) 690.0 TFLOPS is 93.0 % of …"}
    _write(tmp_path, "gpu03", _doc(1, [{**failed, "records": {"performance": low}}]))
    unmeasured = {**spread, "outcome": "failed", "message": "GPU 2 could not be measured (RuntimeError: …)"}
    unmeasured["records"] = {"performance": {**low, "value": None}}
    _write(tmp_path, "gpu04", _doc(1, [unmeasured]))
    report = _report(tmp_path)
    assert report.red == ("gpu03", "gpu04")
    table = render.RENDERERS["table"](report)
    assert "gpu_slowest_vs_median" in table and "93" in table, table
    assert "could not be measured" in render.as_json(report)


# --- views and the command --------------------------------------------------------------------------------


def _mixed(tmp_path: Path) -> None:
    _write(tmp_path, "gpu01", _doc())
    _write(
        tmp_path,
        "gpu02",
        _doc(1, [{"name": "test_gpu[idle]", "outcome": "failed", "message": "found: pid 7"}]),
    )


def test_every_format_names_every_node(tmp_path: Path) -> None:
    _mixed(tmp_path)
    report = _report(tmp_path, ("gpu01", "gpu02", "gpu03"))
    for fmt, draw in render.RENDERERS.items():
        out = draw(report)
        assert all(n in out for n in ("gpu01", "gpu02", "gpu03")), fmt
        assert draw(report) == out, f"{fmt} is not deterministic"
    doc = json.loads(render.as_json(report))
    assert doc["red"] == ["gpu02", "gpu03"] and doc["missing"] == ["gpu03"]
    suite = ET.fromstring(render.junit(report).split("\n", 1)[1]).find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"


def test_command_exit_codes_and_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _write(results, "gpu01", _doc())
    assert cli.main(["fleet-report", str(results)]) == 0
    assert cli.main(["fleet-report", str(results), "--nodes", "gpu[01-02]"]) == 1
    out = tmp_path / "fleet.md"
    assert cli.main(["fleet-report", str(results), "--format", "md", "--output", str(out)]) == 0
    assert out.read_text().startswith("**fleet: 1 green, 0 red of 1 node(s)")
    assert not list(tmp_path.glob(".fleet.md.tmp"))
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent-dir"], "no such directory"),
        (["{dir}", "--nodes", "gpu[1-"], "--nodes: unbalanced"),
        (["{dir}", "--tolerance", "1.5"], "--tolerance must be in [0, 1)"),
        (["{dir}"], "no <node>.json results files and no --nodes"),
    ],
)
def test_usage_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    argv = ["fleet-report", *(a.replace("{dir}", str(tmp_path)) for a in args)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
