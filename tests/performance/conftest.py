"""Fixtures of the performance tests: baselines, one measurer per in-target script, and the
serial-only guard (pytest-benchmark switches itself off under xdist, and figures taken beside
other tests' load would be noise)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.kinds.gpu import absent_message
from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance.conclude import require_measurable, skip_under_xdist
from devbox_conformance.performance.measure import Measurer
from devbox_conformance.performance.report import BenchReport
from devbox_conformance.plugin import expectations_dir


@pytest.fixture(scope="session", autouse=True)
def _performance_runs_serially(request: pytest.FixtureRequest) -> None:
    """Session-scoped: runs before the session fixtures that measure, so xdist never measures."""
    skip_under_xdist(request.config)


def baselines_dirs(config: pytest.Config) -> list[Path]:
    """The shipped baselines, then ``baselines/`` of the --expectations directory when it has one."""
    dirs = [bl.default_dir()]
    candidate = Path(expectations_dir(config)) / "baselines"
    if candidate.is_dir() and candidate.resolve() != dirs[0].resolve():
        dirs.append(candidate)
    return dirs


@pytest.fixture(scope="session")
def perf_baselines(pytestconfig: pytest.Config) -> bl.BaselineSet:
    """Every baseline file (a team's replace shipped ones of the same name); a bad file errors every
    performance test with one line."""
    return bl.load_dirs(baselines_dirs(pytestconfig))


@pytest.fixture(scope="session")
def cpu_baseline(perf_baselines: bl.BaselineSet, devbox_target: Any) -> bl.Baseline:
    baseline = perf_baselines.for_arch(devbox_target.arch)
    if baseline is None:
        pytest.skip(f"no CPU baseline for arch {devbox_target.arch} in {bl.default_dir()}")
    return baseline


def selected_metrics(session: pytest.Session, test_name: str) -> tuple[str, ...]:
    """``metric`` parameters of the selected items of ``test_name``: a ``-k shell_bash`` run
    measures only the login shell, not every import and GEMM."""
    metrics: list[str] = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "originalname", None) == test_name and callspec is not None:
            metric = callspec.params.get("metric")
            if isinstance(metric, str) and metric not in metrics:
                metrics.append(metric)
    return tuple(metrics)


@pytest.fixture(scope="session")
def cpu_measurer(devbox_target: Any, request: pytest.FixtureRequest) -> Measurer:
    return Measurer(devbox_target, "cpu_bench", metrics=selected_metrics(request.session, "test_cpu_figure"))


def _gpu_visible(facts: Any) -> tuple[bool, str]:
    gpu = facts.get("gpu") if isinstance(facts, dict) else None
    if isinstance(gpu, dict):
        return bool(gpu.get("visible")), str(gpu.get("how", ""))
    return bool(gpu), "probe fact 'gpu'"


@pytest.fixture(scope="session")
def gpu_measurer(
    devbox_target: Any, facts: Any, devbox_gpus_required: str | None, request: pytest.FixtureRequest
) -> Measurer:
    """Skips (with the probe's reason) when the target sees no GPU: GPU figures need one. Fails instead when
    GPUs were asked for (--gpus all, a GPU-node profile): asked for and absent is red."""
    visible, how = _gpu_visible(facts)
    if not visible:
        if devbox_gpus_required:
            pytest.fail(absent_message(devbox_gpus_required, how), pytrace=False)
        pytest.skip(
            f"no GPU visible in the target ({how}); GPU performance needs one "
            "(run on a GPU node with --hosts local://, or an image started with GPUs)"
        )
    return Measurer(devbox_target, "gpu_bench", metrics=selected_metrics(request.session, "test_gpu_figure"))


@pytest.fixture(scope="session")
def gpu_report(gpu_measurer: Measurer, devbox_gpus_required: str | None) -> BenchReport:
    return require_measurable(gpu_measurer.report(), devbox_gpus_required)


@pytest.fixture(scope="session")
def gpu_match(perf_baselines: bl.BaselineSet, gpu_report: BenchReport) -> bl.GpuMatch | None:
    """The GPU's baseline, a borrowed family one, or None (figures are then reported, unjudged)."""
    device = gpu_report.device
    name = str(gpu_report.smi.get("name") or device.get("name") or "")
    cap = device.get("capability")
    capability = (int(cap[0]), int(cap[1])) if isinstance(cap, list) and len(cap) == 2 else None
    return perf_baselines.for_gpu(name, capability)
