"""`devbox fleet-report` with the node's own spread figure (`gpu_slowest_vs_median`, %, floor 95).

The figure is what `test_slowest_gpu_against_node_median` records: the slowest GPU of a node against the
node's median. A node whose slowest GPU is 93 % of its median is red in every view and shown beside its
floor; a node whose spread test failed before it had a figure (a GPU that could not be measured: value
None) is red all the same; and a figure that is not a finite number never passes nor moves the fleet's
median.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from devbox_build.fleet import collect, render, summary

METRIC = "gpu_slowest_vs_median"
TEST = "test_slowest_gpu_against_node_median"
FLOOR = 95.0


def _spread_item(value: float | None, *, ok: bool) -> dict[str, Any]:
    """The results item the suite writes for the spread test (tests/performance/test_gpu_performance.py)."""
    if value is None:
        message = "GPU 5 (NVIDIA H200) could not be measured (CUDA error); 1 of 8 GPU(s) without a figure"
    else:
        message = (
            f"GPU 3 (NVIDIA H200) 730.0 TFLOPS is {value:.1f} % of the node's median 785.0 TFLOPS "
            f"over 8 GPUs (floor {FLOOR:.0f} %)"
        )
    return {
        "name": TEST,
        "outcome": "passed" if ok else "failed",
        "message": "" if ok else message,
        "records": {
            "performance": {
                "metric": METRIC,
                "unit": "%",
                "value": value,
                "lower_limit": FLOOR,
                "upper_limit": None,
                "outcome": "pass" if ok else "fail",
                "gpu": "NVIDIA H200",
            }
        },
    }


def _doc(*items: dict[str, Any]) -> dict[str, Any]:
    failed = any(i["outcome"] == "failed" for i in items)
    passed = {"name": "test_gpu[count]", "outcome": "passed", "message": "", "records": {}}
    return {
        "schema_version": 2,
        "exit_status": 1 if failed else 0,
        "hosts": [{"name": "local://"}],
        "items": [passed, *items],
    }


def _fleet(directory: Path, docs: dict[str, Any]) -> summary.FleetReport:
    for node, doc in docs.items():
        text = doc if isinstance(doc, str) else json.dumps(doc)
        (directory / f"{node}.json").write_text(text)
    return summary.summarize(collect.read_dir(directory), expected=tuple(docs))


def _spread_fleet(tmp_path: Path) -> summary.FleetReport:
    return _fleet(
        tmp_path,
        {
            "gpu01": _doc(_spread_item(99.0, ok=True)),
            "gpu02": _doc(_spread_item(93.0, ok=False)),
            "gpu03": _doc(_spread_item(99.0, ok=True)),
            "gpu04": _doc(_spread_item(99.0, ok=True)),
            "gpu05": _doc(_spread_item(None, ok=False)),
        },
    )


def _figure_line(table: str, node: str) -> str:
    (line,) = [ln for ln in table.splitlines() if ln.startswith(node + " ") and METRIC in ln]
    return line


def test_a_node_below_the_floor_is_red_with_its_floor_in_every_view(tmp_path: Path) -> None:
    report = _spread_fleet(tmp_path)
    assert report.red == ("gpu02", "gpu05"), [r.problems for r in report.rows]
    gpu02 = next(r for r in report.rows if r.result.node == "gpu02")
    assert gpu02.problems[0] == (
        f"{TEST}: GPU 3 (NVIDIA H200) 730.0 TFLOPS is 93.0 % of the node's median 785.0 TFLOPS over 8 GPUs "
        "(floor 95 %)"
    )
    # The table: node, model, metric, value, floor, the suite's verdict, the value against the fleet median.
    table = render.text(report)
    assert _figure_line(table, "gpu02").split() == [
        "gpu02", "NVIDIA", "H200", METRIC, "93", "%", "95", "fail", "94", "%", "SLOW",
    ]  # fmt: skip
    assert _figure_line(table, "gpu01").split()[4:] == ["99", "%", "95", "pass", "100", "%"]
    assert [ln.split()[:2] for ln in table.splitlines()[1:6]] == [
        ["gpu01", "green"], ["gpu02", "RED"], ["gpu03", "green"], ["gpu04", "green"], ["gpu05", "RED"],
    ]  # fmt: skip
    assert table.rstrip().endswith("fleet: 3 green, 2 red of 5 node(s); figures judged against the fleet "
                                   "median within 5 %")  # fmt: skip
    md = render.markdown(report)
    assert f"| gpu02 | NVIDIA H200 | {METRIC} | 93 % | 95 | fail | 94 % SLOW |" in md, md
    assert "| gpu02 | RED | 1 | 1 | 0 | 0 | test_slowest_gpu_against_node_median: GPU 3" in md, md
    doc = json.loads(render.as_json(report))
    assert doc["red"] == ["gpu02", "gpu05"]
    (figure,) = next(r for r in doc["rows"] if r["node"] == "gpu02")["figures"]
    assert figure == {
        "metric": METRIC,
        "model": "NVIDIA H200",
        "unit": "%",
        "value": 93.0,
        "lower_limit": FLOOR,
        "upper_limit": None,
        "outcome": "fail",
        "fleet_median": 99.0,
        "vs_median": 0.9394,
        "outlier": True,
    }


def test_a_failed_spread_test_without_a_figure_is_red(tmp_path: Path) -> None:
    report = _spread_fleet(tmp_path)
    gpu05 = next(r for r in report.rows if r.result.node == "gpu05")
    assert gpu05.red and gpu05.figures == ()
    assert gpu05.problems == (
        f"{TEST}: GPU 5 (NVIDIA H200) could not be measured (CUDA error); 1 of 8 GPU(s) without a figure",
    )
    table = render.text(report)
    assert not [ln for ln in table.splitlines() if ln.startswith("gpu05 ") and METRIC in ln], table
    row = next(r for r in json.loads(render.as_json(report))["rows"] if r["node"] == "gpu05")
    assert row["verdict"] == "red" and row["figures"] == [] and row["problems"][0].startswith(TEST)
    junit = render.junit(report)
    assert junit.count("<failure ") == 2 and 'name="gpu05"' in junit


def test_a_node_at_99_percent_alone_is_green(tmp_path: Path) -> None:
    """The control: the same documents without the two bad nodes are green (the tests above can fail)."""
    report = _fleet(tmp_path, {n: _doc(_spread_item(99.0, ok=True)) for n in ("gpu01", "gpu03", "gpu04")})
    assert report.red == ()
    assert all(fr.figure.outcome == "pass" and not fr.outlier for r in report.rows for fr in r.figures)


def _passing_with(value: str) -> str:
    """A spread record whose value is not a number (json writes NaN and Infinity bare), item passed."""
    text = json.dumps(_doc(_spread_item(99.0, ok=True)))
    return text.replace('"value": 99.0', f'"value": {value}')


def test_a_figure_that_is_not_a_finite_number_is_red(tmp_path: Path) -> None:
    """Was a false green: NaN was kept as a figure, never an outlier (every comparison with NaN is false)."""
    report = _fleet(
        tmp_path,
        {
            "gpu01": _doc(_spread_item(99.0, ok=True)),
            "gpu02": _passing_with("NaN"),
            "gpu03": _passing_with("Infinity"),
        },
    )
    assert report.red == ("gpu02", "gpu03"), [r.problems for r in report.rows]
    problems = {r.result.node: r.problems for r in report.rows}
    assert problems["gpu02"] == (f"{METRIC} ({TEST}) recorded nan, not a finite number",)
    assert problems["gpu03"] == (f"{METRIC} ({TEST}) recorded inf, not a finite number",)
    # Strict JSON out: no NaN or Infinity in the document a tool reads.
    json.loads(render.as_json(report), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_a_nan_figure_does_not_move_the_fleet_median(tmp_path: Path) -> None:
    """Was a false green: a NaN among the values made statistics.median's sort meaningless, so the median
    of this fleet came out as 96 and the 93 % node was within 5 % of it."""
    docs: dict[str, Any] = {"gpu01": _passing_with("NaN")}
    docs.update({f"gpu0{i}": _doc(_spread_item(99.0, ok=True)) for i in (2, 3)})
    docs["gpu04"] = _doc(_spread_item(93.0, ok=True))  # a passed item: only the median can make it red
    report = _fleet(tmp_path, docs)
    gpu04 = next(r for r in report.rows if r.result.node == "gpu04")
    (row,) = gpu04.figures
    assert row.fleet_median == 99.0 and row.outlier, row
    assert report.red == ("gpu01", "gpu04")
    assert not any(math.isnan(fr.fleet_median) for r in report.rows for fr in r.figures)
