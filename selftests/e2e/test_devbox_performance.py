"""CPU performance baselines gate the real image in CI, and a slowed image fails its shell-startup check.

Performance runs are serial (`-p no:xdist`): pytest-benchmark turns itself off under xdist. No GPU here, so
the GPU tests must skip with their reason; on a GPU node the same tests measure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from devbox_e2e import REPO

pytestmark = pytest.mark.e2e

PERF = ("-m", "performance", "-p", "no:xdist")


@pytest.fixture
def storage() -> Iterator[str]:
    # pytest-benchmark wants its storage under the working directory (the suite runs from the repo root).
    folder = Path(REPO) / f".benchmarks-e2e-{os.getpid()}"
    try:
        yield f"--benchmark-storage=file://./{folder.name}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_real_image_meets_its_cpu_baselines_and_runs_can_be_compared(
    devbox_amd64: str, conformance, storage: str
) -> None:
    first = conformance("--image", devbox_amd64, *PERF, storage, "--benchmark-save=e2e")
    assert first.returncode == 0 and not first.failed, first.describe()
    passed = first.names("passed")
    assert {"test_cpu_figure[shell_bash]", "test_cpu_figure[gemm_torch]"} <= passed, first.describe()
    gpu_skips = {n: m for n, m in first.skipped.items() if n.startswith(("test_gpu", "test_nccl"))}
    assert gpu_skips and all("gpu" in m.lower() for m in gpu_skips.values()), first.skipped
    # A later run (a rebuilt image, in real use) compared with the saved one, as the README shows.
    second = conformance(
        "--image",
        devbox_amd64,
        *PERF,
        storage,
        "-k",
        "shell or import",
        "--benchmark-compare",
        "--benchmark-compare-fail=mean:1000%",
    )
    assert second.returncode == 0 and not second.failed, second.describe()
    assert "Comparing against benchmarks from" in second.output, second.output[-3000:]


def test_a_slow_login_fails_the_shell_startup_check(devbox_amd64: str, derive_image, conformance) -> None:
    slowed = derive_image(
        "devbox-slow-login", ["RUN echo 'sleep 2' > /etc/profile.d/99-slow-login.sh"], base=devbox_amd64
    )
    run = conformance("--image", slowed, *PERF, "-k", "shell_bash", "--benchmark-disable")
    assert run.returncode == 1, run.describe()
    assert run.failed == {"test_cpu_figure[shell_bash]"}, run.describe()
