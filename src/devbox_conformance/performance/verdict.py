"""Floor, ceiling, tolerance and noise decisions on one measured figure.

Pure functions on frozen values, so every rule is unit-tested without a target. Example::

    verdict = judge(measurement, spec, noise, PerfContext(subject="H200 SXM", peak=989.0))
    if verdict.outcome is PerfOutcome.FAIL:
        pytest.fail(verdict.message)

Rules, in order:

1. No baseline for the metric, or a throughput figure from an emulated target: UNJUDGED (the
   figure is still reported; QEMU throughput says nothing about the image).
2. Limits: lower = max(floor x peak x scale, min x scale, reference x (1 - tolerance)) for
   higher-is-better units; upper = min(max x emulation factor, reference x (1 + tolerance)) for
   time-like ones.
3. Noise: when the spread is above ``max_spread`` and the repeat samples straddle a limit (some
   pass, some breach), the verdict could flip on a re-run: INCONCLUSIVE, never FAIL. A noisy figure
   whose every sample lands on the same side is decided as usual (noise cannot change that verdict:
   seven login shells of 5-11 s all breach a 1.5 s ceiling however noisy they are).
4. Otherwise PASS or FAIL, the message naming metric, measured, limit, peak and the context
   (GPU model, clocks, power limit).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .baselines import MetricBaseline, NoisePolicy
from .report import Measurement


class PerfOutcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    UNJUDGED = "unjudged"


@dataclass(frozen=True)
class PerfContext:
    """What a message needs beyond the figure: whose baseline, which peak, the device state."""

    # "H200 SXM (h200.yaml)", "amd64 (cpu-amd64.yaml)", or the borrowed-family explanation.
    subject: str
    # The peak the floor is a fraction of (the host link's for pinned copies); None: the spec's.
    peak: float | None = None
    peak_source: str = "datasheet"
    # Multiplies floors (borrowed family baselines derate them).
    floor_scale: float = 1.0
    # True when the target runs under QEMU: throughput unjudged, ceilings x emulation_factor.
    emulated: bool = False
    emulation_factor: float = 1.0
    # Recorded device state for the message: clocks, power limit, PCIe link (name -> value).
    device_state: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    outcome: PerfOutcome
    message: str
    lower: float | None = None
    upper: float | None = None


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:,.1f} {unit}" if abs(value) >= 10 else f"{value:.3g} {unit}"


def _state(ctx: PerfContext) -> str:
    if not ctx.device_state:
        return ""
    return "; " + ", ".join(f"{k}={v}" for k, v in ctx.device_state.items())


def limits(spec: MetricBaseline, ctx: PerfContext) -> tuple[float | None, float | None]:
    """(lower, upper) for ``spec`` in ``ctx``; None where that side has no limit."""
    if spec.higher_is_better:
        return spec.lower_limit(peak=ctx.peak, scale=ctx.floor_scale), None
    scale = ctx.emulation_factor if ctx.emulated else 1.0
    return None, spec.upper_limit(scale=scale)


def _bound_text(
    m: Measurement, spec: MetricBaseline, ctx: PerfContext, lower: float | None, upper: float | None
) -> str:
    """`floor 600 TFLOP/s = 0.8 x peak 750 TFLOP/s (spec sheet)`: the limit and where it came from."""
    if lower is not None:
        bound = f"floor {_fmt(lower, m.unit)}"
        peak = ctx.peak if ctx.peak is not None else spec.peak
        if spec.floor is not None and peak is not None:
            scaled = f" x {ctx.floor_scale:g}" if ctx.floor_scale != 1.0 else ""
            bound += f" = {spec.floor:g}{scaled} x peak {_fmt(peak, m.unit)} ({ctx.peak_source})"
        return bound
    bound = f"ceiling {_fmt(upper, m.unit)}"
    if ctx.emulated and ctx.emulation_factor != 1.0:
        bound += f" (= {_fmt(spec.maximum, m.unit)} x emulation factor {ctx.emulation_factor:g})"
    return bound


def judge(m: Measurement, spec: MetricBaseline | None, noise: NoisePolicy, ctx: PerfContext) -> Verdict:
    """Decide one figure; see the module docstring for the rules."""
    figure = f"{m.name} = {_fmt(m.value, m.unit)} (spread {m.spread:.1%})"
    if spec is None:
        return Verdict(PerfOutcome.UNJUDGED, f"{figure}: no baseline for {m.name} in {ctx.subject}")
    if spec.unit != m.unit:
        return Verdict(
            PerfOutcome.FAIL,
            f"{figure}: baseline {ctx.subject} gives {m.name} in {spec.unit}, measured {m.unit}",
        )
    if ctx.emulated and spec.higher_is_better:
        return Verdict(
            PerfOutcome.UNJUDGED,
            f"{figure}: target runs under emulation, throughput is not judged ({ctx.subject})",
        )
    lower, upper = limits(spec, ctx)
    if lower is None and upper is None:
        return Verdict(PerfOutcome.UNJUDGED, f"{figure}: {ctx.subject} sets no limit for {m.name}")

    def breaches(value: float) -> bool:
        return (lower is not None and value < lower) or (upper is not None and value > upper)

    bound = _bound_text(m, spec, ctx, lower, upper)
    samples = m.samples or (m.value,)
    noisy = m.spread > noise.max_spread
    straddles = len({breaches(s) for s in (*samples, m.value)}) > 1
    if noisy and straddles:
        shown = ", ".join(_fmt(s, m.unit) for s in samples)
        return Verdict(
            PerfOutcome.INCONCLUSIVE,
            f"inconclusive: {figure} above the noise limit {noise.max_spread:.0%} after re-runs; "
            f"repeat figures {shown}; {bound}; {ctx.subject}{_state(ctx)}",
            lower,
            upper,
        )
    if breaches(m.value):
        side = "below" if lower is not None and m.value < lower else "above"
        return Verdict(
            PerfOutcome.FAIL,
            f"{m.name}: measured {_fmt(m.value, m.unit)} is {side} the {bound}; "
            f"{ctx.subject}{_state(ctx)}; {m.how}",
            lower,
            upper,
        )
    return Verdict(PerfOutcome.PASS, f"{figure} within {bound}; {ctx.subject}", lower, upper)
