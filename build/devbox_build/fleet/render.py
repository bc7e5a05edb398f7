"""The views of a FleetReport: a terminal table, Markdown, JSON for tools, JUnit for CI dashboards.

Pure and deterministic (no clock, no terminal width): the same report always renders the same bytes.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from devbox_build.fleet.summary import FleetReport, NodeRow

FORMATS = ("table", "md", "json", "junit")
JSON_SCHEMA_VERSION = 1
_COUNTS = ("passed", "failed", "skipped", "error")


def _verdict(row: NodeRow) -> str:
    if row.result.path is None:
        return "MISSING"
    return "RED" if row.red else "green"


def headline(report: FleetReport) -> str:
    total = len(report.rows)
    red = len(report.red)
    miss = len(report.missing)
    return (
        f"fleet: {total - red} green, {red} red"
        + (f" ({miss} missing)" if miss else "")
        + f" of {total} node(s); figures judged against the fleet median within {100 * report.tolerance:g} %"
    )


def _cells(row: NodeRow) -> list[str]:
    t = row.result.totals
    counts = [str(t.get(k, 0)) if row.result.path else "-" for k in _COUNTS]
    return [row.result.node, _verdict(row), *counts, row.problems[0] if row.problems else ""]


def _figure_lines(report: FleetReport) -> list[list[str]]:
    out = []
    for row in report.rows:
        for fr in row.figures:
            f = fr.figure
            limit = f.lower_limit if f.higher_is_better else f.upper_limit
            out.append(
                [
                    row.result.node,
                    f.model,
                    f.metric,
                    f"{f.value:.4g} {f.unit}",
                    "-" if limit is None else f"{limit:.4g}",
                    f.outcome,
                    f"{100 * fr.vs_median:.0f} %" + (" SLOW" if fr.outlier else ""),
                ]
            )
    return out


_HEAD = ["node", "verdict", *_COUNTS, "first problem"]
_FIG_HEAD = ["node", "model", "metric", "value", "floor", "suite", "vs fleet median"]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [fmt(head), *(fmt(r) for r in rows)]


def text(report: FleetReport) -> str:
    lines = _table(_HEAD, [_cells(r) for r in report.rows])
    figs = _figure_lines(report)
    if figs:
        lines += ["", *_table(_FIG_HEAD, figs)]
    reds = [r for r in report.rows if r.red]
    if reds:
        lines.append("")
        for row in reds:
            lines.append(f"{row.result.node}:")
            lines += [f"  - {p}" for p in row.problems]
    lines += ["", headline(report)]
    return "\n".join(lines) + "\n"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown(report: FleetReport) -> str:
    lines = [f"**{headline(report)}**", "", _md_row(_HEAD), _md_row(["---"] * len(_HEAD))]
    lines += [_md_row(_cells(r)) for r in report.rows]
    figs = _figure_lines(report)
    if figs:
        lines += ["", _md_row(_FIG_HEAD), _md_row(["---"] * len(_FIG_HEAD)), *(_md_row(f) for f in figs)]
    return "\n".join(lines) + "\n"


def document(report: FleetReport) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tolerance": report.tolerance,
        "nodes": len(report.rows),
        "red": list(report.red),
        "missing": list(report.missing),
        "rows": [
            {
                "node": r.result.node,
                "verdict": _verdict(r).lower(),
                "file": r.result.path,
                "exit_status": r.result.exit_status,
                "totals": dict(r.result.totals),
                "problems": list(r.problems),
                "figures": [
                    {
                        "metric": fr.figure.metric,
                        "model": fr.figure.model,
                        "unit": fr.figure.unit,
                        "value": fr.figure.value,
                        "lower_limit": fr.figure.lower_limit,
                        "upper_limit": fr.figure.upper_limit,
                        "outcome": fr.figure.outcome,
                        "fleet_median": fr.fleet_median,
                        "vs_median": round(fr.vs_median, 4),
                        "outlier": fr.outlier,
                    }
                    for fr in r.figures
                ],
            }
            for r in report.rows
        ],
    }


def as_json(report: FleetReport) -> str:
    return json.dumps(document(report), indent=2, sort_keys=True) + "\n"


def junit(report: FleetReport) -> str:
    """One testcase per node in one suite; a red node is a failure whose text lists its problems."""
    suite = ET.Element(
        "testsuite",
        name="devbox-fleet",
        tests=str(len(report.rows)),
        failures=str(len(report.red)),
        errors="0",
        skipped="0",
    )
    for row in report.rows:
        case = ET.SubElement(suite, "testcase", classname="devbox.fleet", name=row.result.node)
        if row.red:
            failure = ET.SubElement(case, "failure", message=row.problems[0][:300])
            failure.text = "\n".join(row.problems)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS = {"table": text, "md": markdown, "json": as_json, "junit": junit}
