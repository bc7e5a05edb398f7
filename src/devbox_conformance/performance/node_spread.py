"""The slowest GPU of a node against the node's median.

Why: a data-parallel step runs at the pace of its slowest rank, so one GPU that is 10 % slow (a degraded
link, a throttled or failing part) costs the whole node 10 % while every per-GPU floor may still pass: a
floor is set low enough for every healthy part of a model. Comparing the GPUs of one node with each other
needs no baseline and catches what the floor forgives.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# A GPU more than this far below its node's median fails.
TOLERANCE = 0.05
METRIC = "gpu_slowest_vs_median"


@dataclass(frozen=True)
class Spread:
    """The verdict: `ok`, the line that says why, and the figure (slowest / median, %) when there is one."""

    ok: bool
    message: str
    percent: float | None = None
    floor_percent: float = 100.0 * (1.0 - TOLERANCE)


def _label(device: Mapping[str, Any]) -> str:
    name = device.get("name")
    return f"GPU {device.get('index', '?')}" + (f" ({name})" if name else "")


def judge(devices: Sequence[Mapping[str, Any]], tolerance: float = TOLERANCE) -> Spread:
    """Every device must have a figure; the slowest must be within `tolerance` of the median."""
    floor = 100.0 * (1.0 - tolerance)
    if not devices:
        return Spread(False, "no GPU was measured: nothing says the node's GPUs are even", None, floor)
    failed = [d for d in devices if not _is_figure(d.get("value"))]
    if failed:
        first = failed[0]
        why = first.get("error") or "no figure"
        return Spread(
            False,
            f"{_label(first)} could not be measured ({why}); "
            f"{len(failed)} of {len(devices)} GPU(s) without a figure",
            None,
            floor,
        )
    if len(devices) == 1:
        return Spread(True, f"{_label(devices[0])} is the node's only GPU: nothing to compare", 100.0, floor)
    median = statistics.median(float(d["value"]) for d in devices)
    slowest = min(devices, key=lambda d: float(d["value"]))
    percent = 100.0 * float(slowest["value"]) / median if median > 0 else 0.0
    line = (
        f"{_label(slowest)} {float(slowest['value']):,.1f} TFLOPS is {percent:.1f} % of the node's median "
        f"{median:,.1f} TFLOPS over {len(devices)} GPUs (floor {floor:.0f} %)"
    )
    return Spread(percent >= floor, line, percent, floor)


def _is_figure(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value > 0
