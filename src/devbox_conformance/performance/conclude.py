"""Turn a judged figure into a pytest outcome, after storing it everywhere it is read later.

Order matters: the figure goes to pytest-benchmark and to the results JSON *before* the test
fails or skips, so a failing or inconclusive run still leaves its numbers behind. Example::

    conclude(judged, benchmark=benchmark, record=results_record, extra={"gpu": "NVIDIA H200"})
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from .benchfeed import feed
from .measure import Judged
from .verdict import Outcome

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
    if verdict.outcome is Outcome.FAIL:
        pytest.fail(verdict.message, pytrace=False)
    if verdict.outcome in (Outcome.INCONCLUSIVE, Outcome.UNJUDGED):
        pytest.skip(verdict.message)
