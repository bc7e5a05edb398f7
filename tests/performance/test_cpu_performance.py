"""CPU-side figures of the target: BLAS GEMM, import times, login-shell startup.

Each figure is measured inside the target by ``cpu_bench`` (one run per session), judged against
``expectations/baselines/cpu-<arch>.yaml``, fed to pytest-benchmark and recorded in the results JSON.
"""

from __future__ import annotations

from typing import Any

import pytest

from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance.conclude import conclude
from devbox_conformance.performance.measure import Measurer, is_emulated
from devbox_conformance.performance.verdict import PerfContext

pytestmark = [pytest.mark.performance, pytest.mark.xdist_group("performance")]

CPU_METRICS = ("gemm_numpy", "gemm_torch", "import_torch", "import_transformers", "shell_bash", "shell_zsh")
# Per-metric details worth keeping beside the figure (BLAS backend, bare-shell time...).
DETAIL_KEYS = (
    "backend",
    "library_version",
    "threads",
    "bare_seconds",
    "bare_command",
    "exit_codes",
    "python",
)


@pytest.mark.benchmark(group="performance-cpu")
@pytest.mark.parametrize("metric", CPU_METRICS)
def test_cpu_figure(
    metric: str,
    benchmark: Any,
    cpu_measurer: Measurer,
    cpu_baseline: bl.Baseline,
    devbox_target: Any,
    results_record: Any,
) -> None:
    report = cpu_measurer.report()
    if metric not in report.metrics:
        error = report.errors.get(metric, "no figure in the report")
        if error.startswith("absent:"):
            pytest.skip(f"{metric}: not measurable in this target ({error})")
        pytest.fail(f"{metric}: measuring failed in the target: {error}", pytrace=False)
    emulated = is_emulated(devbox_target)
    ctx = PerfContext(
        subject=f"{cpu_baseline.name} ({cpu_baseline.source.name})",
        emulated=emulated,
        emulation_factor=cpu_baseline.emulation_factor,
    )
    judged = cpu_measurer.judged(metric, cpu_baseline.metrics.get(metric), cpu_baseline.noise, ctx)
    assert judged is not None
    details = judged.measurement.details
    extra = {k: details[k] for k in DETAIL_KEYS if k in details}
    if metric.startswith("shell_") and any(code != 0 for code in details.get("exit_codes", [])):
        pytest.fail(
            f"{metric}: the login shell exited {details['exit_codes']}; its output ended with: "
            f"{details.get('output_tail', '')!r}",
            pytrace=False,
        )
    conclude(
        judged,
        benchmark=benchmark,
        record=results_record,
        extra={
            "arch": devbox_target.arch,
            "emulated": emulated,
            "target_kind": devbox_target.kind,
            "cpu_count": report.raw.get("cpu_count"),
            **extra,
        },
    )
