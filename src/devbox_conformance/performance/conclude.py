"""Turn a judged figure into a pytest outcome, after storing it everywhere it is read later.

Order matters: the figure goes to pytest-benchmark and to the results JSON *before* the test
fails or skips, so a failing or inconclusive run still leaves its numbers behind. Example::

    conclude(judged, benchmark=benchmark, record=results_record, extra={"gpu": "NVIDIA H200"})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from .benchfeed import feed
from .measure import Judged
from .report import BenchReport
from .verdict import PerfOutcome

SERIAL_HINT = "pytest --image IMG -m performance -p no:xdist  (or -n 0)"


def xdist_active(config: pytest.Config) -> bool:
    """Same test as pytest-benchmark's: it disables itself under xdist, so the figures would be lost."""
    dist = config.getoption("dist", "no") if hasattr(config.option, "dist") else "no"
    return dist != "no" or bool(os.environ.get("PYTEST_XDIST_WORKER"))


def skip_under_xdist(config: pytest.Config) -> None:
    if xdist_active(config):
        pytest.skip(
            "performance tests run serially, never beside other load, and pytest-benchmark is off under "
            f"xdist: run them on their own: {SERIAL_HINT}"
        )


def conclude(
    judged: Judged,
    *,
    benchmark: Any | None,
    record: Callable[[str, Any], None],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Feed, record, then pass / fail / skip (inconclusive or unjudged) with the verdict's message."""
    m, verdict = judged.measurement, judged.verdict
    figures: dict[str, Any] = {
        "metric": m.name,
        "unit": m.unit,
        "value": m.value,
        "spread": m.spread,
        "samples": list(m.samples),
        "attempt_spreads": list(judged.attempts),
        "how": m.how,
        "lower_limit": verdict.lower,
        "upper_limit": verdict.upper,
        "outcome": verdict.outcome.value,
        **dict(extra or {}),
    }
    if benchmark is not None:
        feed(benchmark, m, extra_info=figures)
    record("performance", figures)
    if verdict.outcome is PerfOutcome.FAIL:
        pytest.fail(verdict.message, pytrace=False)
    if verdict.outcome in (PerfOutcome.INCONCLUSIVE, PerfOutcome.UNJUDGED):
        pytest.skip(verdict.message)


def _num(value: float) -> str:
    """781 / 12.4 / 0.812: enough digits to compare with a limit, never pytest-benchmark's seconds."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def figure_line(figures: Mapping[str, Any]) -> str:
    """`matmul_bf16 781 TFLOPS >= 750 (104 %)`: the figure against the limit it was judged on.

    Why: pytest-benchmark's table shows milliseconds per round; the figure a floor is about (GFLOPS, GB/s)
    was only in the results JSON. A figure without a limit says so, with its outcome, never a bare number.
    """
    name, unit, value = figures.get("metric"), figures.get("unit") or "", figures.get("value")
    if not isinstance(value, (int, float)):
        return f"{name}: no figure ({figures.get('outcome')})"
    shown = f"{name} {_num(value)} {unit}".rstrip()
    parts = []
    lower, upper = figures.get("lower_limit"), figures.get("upper_limit")
    if isinstance(lower, (int, float)):
        ratio = f" ({value / lower * 100:.0f} %)" if lower > 0 else ""
        parts.append(f">= {_num(lower)}{ratio}")
    if isinstance(upper, (int, float)):
        ratio = f" ({value / upper * 100:.0f} %)" if upper > 0 else ""
        parts.append(f"<= {_num(upper)}{ratio}")
    outcome = str(figures.get("outcome") or "")
    if not parts:
        return f"{shown} (no limit: {outcome or 'unjudged'})"
    tail = "" if outcome == "pass" else f" {outcome.upper()}"
    return f"{shown} {', '.join(parts)}{tail}"


def figure_lines(entries: Iterable[Mapping[str, Any]], named: bool = False) -> list[str]:
    """One line per performance figure of the run's results entries, its host first when there are many."""
    lines = []
    for entry in entries:
        figures = (entry.get("records") or {}).get("performance")
        if isinstance(figures, Mapping):
            prefix = f"{entry.get('host')}: " if named and entry.get("host") else ""
            lines.append(prefix + figure_line(figures))
    return lines


def require_measurable(report: BenchReport, devbox_gpus_required: str | None) -> BenchReport:
    """A report that could not measure at all skips with its reason, or fails where GPUs were asked for."""
    if not report.available:
        if devbox_gpus_required:
            pytest.fail(
                f"GPUs were asked for ({devbox_gpus_required}) and GPU figures are not measurable in the "
                f"target: {report.reason}",
                pytrace=False,
            )
        pytest.skip(f"GPU figures not measurable in the target: {report.reason}")
    return report
