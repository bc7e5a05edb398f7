"""Run the in-target scripts through a target and re-measure figures that came back noisy.

One full run per script per session (CUDA initialises once, torch imports once); a metric whose
verdict is INCONCLUSIVE is measured again on its own, up to the baseline's ``reruns``, and the
least noisy attempt is kept. Example::

    measurer = Measurer(devbox_target, "cpu_bench")
    outcome = measurer.judged("shell_bash", spec, noise, ctx)
    outcome.verdict.outcome    # PerfOutcome.PASS
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devbox_conformance import intarget
from devbox_conformance.arch import local_arch
from devbox_conformance.probe import package_source

from .baselines import MetricBaseline, NoisePolicy
from .report import BenchReport, Measurement, ReportError, parse_report
from .verdict import PerfContext, PerfOutcome, Verdict, judge

SCRIPTS = ("cpu_bench", "gpu_bench")
# Wall-clock budget for one full run of a script in the target (import torch + every metric).
DEFAULT_TIMEOUT_S = {"cpu_bench": 900.0, "gpu_bench": 1200.0}
# nvidia-smi fields quoted in a GPU failure message (clocks, power, link: what explains a low figure).
STATE_FIELDS = (
    "clocks.sm",
    "clocks.max.sm",
    "clocks.mem",
    "power.limit",
    "power.max_limit",
    "pcie.link.gen.current",
    "pcie.link.width.current",
    "temperature.gpu",
)


class RunsPython(Protocol):
    """The part of the suite's target this module uses."""

    kind: str
    arch: str

    def run_python(self, source: str, args: list[str], timeout: float) -> Any: ...


def script_source(name: str) -> str:
    """One Python source that runs an in-target script: ``python3 -c SOURCE ARGS`` (nothing is copied in).

    The script travels with the in-target modules it imports (``devbox_conformance.intarget``: the one
    pty runner, the one summary), all served from memory under their own names, and runs as
    ``__main__``; the target needs its own python3 and nothing of this project.
    """
    if name not in SCRIPTS:
        raise ValueError(f"unknown script {name!r}")
    module = f"{__package__}.{name}"
    source = Path(__file__).with_name(f"{name}.py").read_text(encoding="utf-8")
    return package_source(
        module, package=intarget.__name__, extra_modules={module: source}, whole_package=False
    )


def host_arch() -> str:
    return local_arch()


def is_emulated(target: RunsPython) -> bool:
    """A container whose architecture differs from this host's runs under QEMU (local never does)."""
    return target.kind != "local" and target.arch != host_arch()


def device_state(smi: Mapping[str, str]) -> dict[str, str]:
    return {k: smi[k] for k in STATE_FIELDS if smi.get(k) not in (None, "", "[N/A]", "N/A")}


@dataclass(frozen=True)
class Judged:
    """A metric's final figure and verdict, with every attempt's spread (for the report)."""

    measurement: Measurement
    verdict: Verdict
    attempts: tuple[float, ...]


class Measurer:
    """Measures through one target with one script; caches the full run for the session."""

    def __init__(
        self,
        target: RunsPython,
        script: str,
        args: tuple[str, ...] = (),
        timeout: float | None = None,
        metrics: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        self.script = script
        self.args = args
        # What the session run measures (the selected tests' metrics); () = the script's default set.
        self.metrics = metrics
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT_S[script]
        self._report: BenchReport | None = None

    def run(self, metrics: tuple[str, ...] = (), timeout: float | None = None) -> BenchReport:
        """One run of the script in the target; ``ReportError`` with exit code and output tail."""
        args = [*self.args, "--json"]
        if metrics:
            args += ["--metrics", ",".join(metrics)]
        budget = timeout if timeout is not None else self.timeout
        result = self.target.run_python(script_source(self.script), args, timeout=budget)
        try:
            return parse_report(result.stdout)
        except ReportError as exc:
            tail = (result.stderr or "").strip()[-600:]
            raise ReportError(
                f"{self.script} in the target exited {result.exit_code}: {exc}; stderr: {tail}"
            ) from None

    def report(self) -> BenchReport:
        if self._report is None:
            self._report = self.run(self.metrics)
        return self._report

    def judged(
        self, metric: str, spec: MetricBaseline | None, noise: NoisePolicy, ctx: PerfContext
    ) -> Judged | None:
        """The metric judged, re-measured alone while INCONCLUSIVE; None when it was not measured."""
        measurement = self.report().metrics.get(metric)
        if measurement is None:
            return None

        def remeasure() -> Measurement | None:
            again = self.run((metric,))
            self._report = self.report().merged(again)
            return again.metrics.get(metric)

        return judge_with_reruns(measurement, remeasure, spec, noise, ctx)


def judge_with_reruns(
    first: Measurement,
    remeasure: Callable[[], Measurement | None],
    spec: MetricBaseline | None,
    noise: NoisePolicy,
    ctx: PerfContext,
) -> Judged:
    """Judge ``first``; while INCONCLUSIVE and re-runs are left, measure again and judge that.

    The first conclusive attempt wins; if none is, the least noisy inconclusive one is reported.
    """
    measurement, verdict = first, judge(first, spec, noise, ctx)
    attempts = [first.spread]
    best = (measurement, verdict)
    for _ in range(noise.reruns):
        if verdict.outcome is not PerfOutcome.INCONCLUSIVE:
            break
        again = remeasure()
        if again is None:
            break
        measurement, verdict = again, judge(again, spec, noise, ctx)
        attempts.append(again.spread)
        if verdict.outcome is not PerfOutcome.INCONCLUSIVE or again.spread < best[0].spread:
            best = (measurement, verdict)
    return Judged(best[0], best[1], tuple(attempts))
