"""Judge a fleet from its nodes' records: which nodes are red and why, and each figure against the fleet.

    report = summarize(nodes, expected=["gpu001", "gpu002"], tolerance=0.05)
    report.red   # ("gpu002",)

A node is green only when its own run was green AND ran something AND none of its figures falls more than
`tolerance` behind the median of the same metric on the same GPU model across the fleet. The median test
finds the slow node that still clears the datasheet floor: the one that drags every multi-node job.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devbox_build.fleet.collect import Figure, NodeResult, missing

DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class FigureRow:
    """One figure of one node, beside its floor and the fleet's median."""

    figure: Figure
    # Median of the same metric on the same model over every node that measured it.
    fleet_median: float
    # value / median (for lower-is-better metrics: median / value), so below 1 is always worse.
    vs_median: float
    # True when vs_median < 1 - tolerance and at least two nodes measured it.
    outlier: bool


@dataclass(frozen=True)
class NodeRow:
    """One node's line in the report."""

    result: NodeResult
    figures: tuple[FigureRow, ...]
    # Why the node is red, one short phrase each; empty means green.
    problems: tuple[str, ...]

    @property
    def red(self) -> bool:
        return bool(self.problems)


@dataclass(frozen=True)
class FleetReport:
    rows: tuple[NodeRow, ...]
    tolerance: float

    @property
    def red(self) -> tuple[str, ...]:
        return tuple(r.result.node for r in self.rows if r.red)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(r.result.node for r in self.rows if r.result.path is None)


def _medians(nodes: Iterable[NodeResult]) -> dict[tuple[str, str], tuple[float, int]]:
    values: dict[tuple[str, str], list[float]] = {}
    for node in nodes:
        for fig in node.figures:
            values.setdefault((fig.model, fig.metric), []).append(fig.value)
    return {key: (statistics.median(v), len(v)) for key, v in values.items()}


def _figure_row(
    fig: Figure, medians: Mapping[tuple[str, str], tuple[float, int]], tolerance: float
) -> FigureRow:
    median, count = medians[(fig.model, fig.metric)]
    if fig.higher_is_better:
        ratio = fig.value / median if median > 0 else 1.0
    else:
        ratio = median / fig.value if fig.value > 0 else 1.0
    return FigureRow(fig, median, ratio, outlier=count >= 2 and ratio < 1.0 - tolerance)


def _problems(node: NodeResult, figures: Iterable[FigureRow]) -> tuple[str, ...]:
    out: list[str] = []
    if node.error:
        out.append(node.error)
    if node.path is not None and node.exit_status is None and not node.error:
        out.append("the file records no exit status")
    for failure in node.failures[:3]:
        out.append(f"{failure.name}: {failure.reason}")
    if len(node.failures) > 3:
        out.append(f"and {len(node.failures) - 3} more failed")
    if node.exit_status not in (None, 0) and not node.failures:
        out.append(f"exit status {node.exit_status}")
    out.extend(node.unfit_figures)
    if node.path is not None and not node.error and not any(node.totals.get(k) for k in ("passed", "failed")):
        out.append("ran no check")
    for row in figures:
        if row.outlier:
            fig = row.figure
            out.append(
                f"{fig.metric} {fig.value:.4g} {fig.unit} is {100 * row.vs_median:.0f} % of the fleet median "
                f"{row.fleet_median:.4g} ({fig.model})"
            )
    return tuple(out)


def summarize(
    nodes: Mapping[str, NodeResult], expected: Iterable[str] = (), tolerance: float = DEFAULT_TOLERANCE
) -> FleetReport:
    """Every node that wrote a file, plus every expected node that did not (red), in name order."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), not {tolerance}")
    every = dict(nodes)
    for name in expected:
        every.setdefault(name, missing(name))
    medians = _medians(every.values())
    rows = []
    for name in sorted(every):
        node = every[name]
        figs = tuple(_figure_row(f, medians, tolerance) for f in node.figures)
        rows.append(NodeRow(node, figs, _problems(node, figs)))
    return FleetReport(tuple(rows), tolerance)
