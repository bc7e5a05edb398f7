"""GPU figures of the target: matmul TFLOPS, copy bandwidths, attention, NCCL, backend flags.

Measured inside the target by ``gpu_bench`` with CUDA events (one run per session), judged against
the GPU's file in ``expectations/baselines/`` (or the nearest family's, derated), fed to
pytest-benchmark and recorded with the GPU's name, memory, clocks, power limit and PCIe link.
Without a visible GPU every test here skips with the reason, unless GPUs were asked for (--gpus all):
then they fail.
"""

from __future__ import annotations

from typing import Any

import pytest

from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance import gpu_bench, node_spread
from devbox_conformance.performance.conclude import conclude, require_measurable
from devbox_conformance.performance.measure import Measurer, device_state
from devbox_conformance.performance.report import BenchReport
from devbox_conformance.performance.verdict import PerfContext

pytestmark = [pytest.mark.performance, pytest.mark.xdist_group("performance")]

GPU_METRICS = gpu_bench.FIGURE_METRICS


def gpu_record(report: BenchReport) -> dict[str, Any]:
    """GPU identity and state recorded with every GPU figure."""
    smi = report.smi
    return {
        "gpu": smi.get("name") or report.device.get("name"),
        "gpu_memory_bytes": report.device.get("memory_bytes"),
        "capability": report.device.get("capability"),
        "driver": smi.get("driver_version"),
        "torch": (report.raw.get("torch") or {}).get("version"),
        "torch_cuda": (report.raw.get("torch") or {}).get("cuda"),
        "smi_before": dict(report.raw.get("smi_before") or {}),
        "smi_after": dict(report.raw.get("smi_after") or {}),
    }


@pytest.mark.benchmark(group="performance-gpu")
@pytest.mark.parametrize("metric", GPU_METRICS)
def test_gpu_figure(
    metric: str,
    benchmark: Any,
    gpu_measurer: Measurer,
    gpu_report: BenchReport,
    gpu_match: bl.GpuMatch | None,
    results_record: Any,
) -> None:
    if metric not in gpu_report.metrics:
        error = gpu_report.errors.get(metric, "no figure in the report")
        if error.startswith("absent:"):
            pytest.skip(f"{metric}: not measurable in this target ({error})")
        pytest.fail(f"{metric}: measuring failed in the target: {error}", pytrace=False)
    gpu_name = str(gpu_report.smi.get("name") or gpu_report.device.get("name"))
    spec = gpu_match.baseline.metrics.get(metric) if gpu_match else None
    peak, peak_source = None, "datasheet"
    if spec is not None and spec.peak_from_link:
        link = bl.link_peak_gbps(gpu_report.smi)
        if link is not None:
            peak, peak_source = link[0], f"{link[1]} from nvidia-smi"
        else:
            peak_source = "datasheet host link (nvidia-smi reports none)"
    subject = (
        f"{gpu_name} judged by {gpu_match.how}"
        if gpu_match
        else f"{gpu_name}: no baseline file and no known family (capability "
        f"{gpu_report.device.get('capability')}); figure reported, not judged"
    )
    ctx = PerfContext(
        subject=subject,
        peak=peak,
        peak_source=peak_source,
        floor_scale=gpu_match.floor_scale if gpu_match else 1.0,
        device_state=device_state(gpu_report.smi),
    )
    noise = gpu_match.baseline.noise if gpu_match else bl.NoisePolicy()
    judged = gpu_measurer.judged(metric, spec, noise, ctx)
    assert judged is not None
    conclude(
        judged,
        benchmark=benchmark,
        record=results_record,
        extra={
            **gpu_record(gpu_report),
            "peak": peak or (spec.peak if spec else None),
            "peak_source": peak_source,
        },
    )


def test_nccl_single_rank_allreduce(
    gpu_measurer: Measurer, gpu_report: BenchReport, results_record: Any
) -> None:
    """NCCL loads, a one-rank process group initialises, and all_reduce returns the right sum."""
    # Its own run with a short budget: a hung NCCL init costs this test, not the session.
    report = gpu_measurer.run(("nccl_allreduce",), timeout=300)
    m = report.metrics.get("nccl_allreduce")
    if m is None:
        pytest.fail(
            f"NCCL smoke failed in the target: {report.errors.get('nccl_allreduce', 'no result')}",
            pytrace=False,
        )
    results_record(
        "nccl",
        {
            "ok": m.details.get("ok"),
            "seconds": m.value,
            "nccl_version": m.details.get("nccl_version"),
            **gpu_record(gpu_report),
        },
    )
    assert m.details.get("ok") is True, f"all_reduce over one rank changed the tensor ({m.how})"


def test_slowest_gpu_against_node_median(
    gpu_measurer: Measurer, devbox_gpus_required: str | None, results_record: Any
) -> None:
    """No GPU of the node is more than 5 % behind the node's median bf16 matmul (node_spread says why)."""
    report = require_measurable(
        gpu_measurer.run((gpu_bench.PER_DEVICE_METRIC,), timeout=900), devbox_gpus_required
    )
    m = report.metrics.get(gpu_bench.PER_DEVICE_METRIC)
    if m is None:
        error = report.errors.get(gpu_bench.PER_DEVICE_METRIC, "no figure in the report")
        pytest.fail(f"measuring every GPU failed in the target: {error}", pytrace=False)
    devices = list(m.details.get("devices") or [])
    spread = node_spread.judge(devices)
    results_record(
        "performance",
        {
            "metric": node_spread.METRIC,
            "unit": "%",
            "value": spread.percent,
            "lower_limit": spread.floor_percent,
            "upper_limit": None,
            "outcome": "pass" if spread.ok else "fail",
            "how": m.how,
            "devices": devices,
            **gpu_record(report),
        },
    )
    assert spread.ok, spread.message


@pytest.mark.parametrize("flag", ["cudnn_enabled", "flash_sdp_enabled"])
def test_gpu_backend_flag(flag: str, gpu_report: BenchReport, results_record: Any) -> None:
    """The fast paths are switched on: a disabled cuDNN or flash SDP silently costs most of the speed."""
    flags = gpu_report.flags
    results_record("torch_backend_flags", dict(flags))
    assert flags.get(flag) is True, (
        f"torch.backends reports {flag}={flags.get(flag)!r} (all flags: {dict(flags)})"
    )
