"""Parse the JSON the in-target scripts print into frozen, typed reports.

Example::

    report = parse_report(result.stdout)       # from devbox_target.run_python(...)
    report.metrics["matmul_bf16"].value         # 712.4 (TFLOPS)
    report.errors.get("attention_flash_attn")   # "absent: No module named 'flash_attn'"

The scripts keep library chatter off stdout, but a target's shell profile or a wrapper may still
print before the document; the last line that parses as a JSON object is the report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Keys of a metric entry that the model lifts into fields; the rest stay in ``details``.
_FIELDS = ("unit", "value", "spread", "samples", "durations_s", "how")


class ReportError(ValueError):
    """The target's output holds no valid report; the message carries the output's tail."""


@dataclass(frozen=True)
class Measurement:
    """One metric as measured in the target."""

    name: str
    unit: str
    # The figure that is judged: median of repeat medians (throughput or seconds).
    value: float
    # Relative spread (IQR / median) of the repeat medians: the noise figure.
    spread: float
    # The repeat medians in ``unit``, and as seconds per iteration (what pytest-benchmark gets).
    samples: tuple[float, ...]
    durations_s: tuple[float, ...]
    # How the figure was taken (shape, dtype, how bytes are counted), for the report.
    how: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchReport:
    """Everything one run of ``gpu_bench`` or ``cpu_bench`` printed."""

    kind: str
    # False when the script could not measure at all (no torch, no CUDA device); see ``reason``.
    available: bool
    reason: str | None
    metrics: Mapping[str, Measurement]
    # Metric -> why it was not measured ("absent: ..." for a missing library or tool).
    errors: Mapping[str, str]
    raw: Mapping[str, Any]

    @property
    def device(self) -> Mapping[str, Any]:
        return self.raw.get("device") or {}

    @property
    def smi(self) -> Mapping[str, str]:
        """nvidia-smi fields taken right after the load (clocks, power), else before it."""
        return self.raw.get("smi_after") or self.raw.get("smi_before") or {}

    @property
    def flags(self) -> Mapping[str, Any]:
        return self.raw.get("flags") or {}

    def merged(self, other: BenchReport) -> BenchReport:
        """This report with ``other``'s metrics and errors laid over it (a re-measurement)."""
        metrics = {**self.metrics, **other.metrics}
        errors = {k: v for k, v in {**self.errors, **other.errors}.items() if k not in other.metrics}
        return BenchReport(
            kind=self.kind,
            available=self.available,
            reason=self.reason,
            metrics=MappingProxyType(metrics),
            errors=MappingProxyType(errors),
            raw=self.raw,
        )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReportError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def parse_measurement(name: str, entry: Any) -> Measurement:
    """Validate one metric entry; ``ReportError`` names the metric and the bad key."""
    if not isinstance(entry, dict):
        raise ReportError(f"metrics.{name}: expected an object, got {type(entry).__name__}")
    missing = [k for k in ("unit", "value", "durations_s") if k not in entry]
    if missing:
        raise ReportError(f"metrics.{name}: missing {', '.join(missing)}")
    durations = entry["durations_s"]
    if not isinstance(durations, list) or not durations:
        raise ReportError(f"metrics.{name}.durations_s: expected a non-empty list")
    return Measurement(
        name=name,
        unit=str(entry["unit"]),
        value=_number(entry["value"], f"metrics.{name}.value"),
        spread=_number(entry.get("spread", 0.0), f"metrics.{name}.spread"),
        samples=tuple(_number(v, f"metrics.{name}.samples") for v in entry.get("samples", [])),
        durations_s=tuple(_number(v, f"metrics.{name}.durations_s") for v in durations),
        how=str(entry.get("how", "")),
        details=MappingProxyType({k: v for k, v in entry.items() if k not in _FIELDS}),
    )


def _last_json_object(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            return data
    # A pretty-printed document (--pretty, standalone use) spans lines: try the whole text.
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    tail = text.strip()[-400:] or "(no output)"
    raise ReportError(f"no JSON report in the target's output; its tail: {tail}")


def parse_report(stdout: str) -> BenchReport:
    """Parse the output of ``gpu_bench``/``cpu_bench``."""
    data = _last_json_object(stdout)
    if data.get("schema") != 1:
        raise ReportError(f"unsupported report schema {data.get('schema')!r} (this suite reads 1)")
    metrics_raw = data.get("metrics", {})
    errors_raw = data.get("errors", {})
    if not isinstance(metrics_raw, dict) or not isinstance(errors_raw, dict):
        raise ReportError("metrics and errors must be objects")
    metrics = {name: parse_measurement(name, entry) for name, entry in metrics_raw.items()}
    return BenchReport(
        kind=str(data.get("kind", "?")),
        available=bool(data.get("available", True)),
        reason=data.get("reason"),
        metrics=MappingProxyType(metrics),
        errors=MappingProxyType({str(k): str(v) for k, v in errors_raw.items()}),
        raw=MappingProxyType(data),
    )
