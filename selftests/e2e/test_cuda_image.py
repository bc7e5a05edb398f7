"""The contract on the CUDA stand-in image: every `cuda: true` item runs on a real CUDA torch and passes,
and a torch that fell back to a CPU build fails exactly `test_cuda[torch_cuda]`.

No GPU exists here: the `gpu: true` items skip with their reason (they are proven against emulated GPUs in
selftests/unit/test_kind_cuda_gpu.py). nvcc is an NGC-base item: NVIDIA's compiler wheel has no nvcc driver.
"""

from __future__ import annotations

import subprocess

import pytest
from devbox_e2e import DOCKER

pytestmark = pytest.mark.e2e

SITE = "/usr/local/lib/python3.11/dist-packages"
CUDA_ITEMS = {"test_cuda[torch_cuda]", "test_cuda[cudnn]", "test_cuda[nccl]", "test_cuda[libraries]"}


def test_the_full_contract_passes_on_the_cuda_image_with_every_cuda_item_run(
    devbox_amd64_cuda: str, conformance
) -> None:
    run = conformance("--image", devbox_amd64_cuda, "-m", "not performance")
    assert run.returncode == 0, run.describe()
    assert CUDA_ITEMS <= run.names("passed"), run.describe()
    items = {e["name"]: e for e in run.results["items"]}
    assert items["test_cuda[torch_cuda]"]["message"].startswith("CUDA 12."), items["test_cuda[torch_cuda]"]
    assert run.skipped["test_cuda[nvcc]"] == "when: base in ['ngc'], but the target's base is standin"
    gpu_skips = {n: m for n, m in run.skipped.items() if n.startswith("test_gpu[")}
    assert len(gpu_skips) == 7 and all("no GPU visible" in m for m in gpu_skips.values()), gpu_skips


def test_a_cpu_torch_in_the_cuda_image_fails_exactly_torch_cuda(
    devbox_amd64_cuda: str, devbox_amd64: str, derive_image, conformance
) -> None:
    # The CPU image's torch put in place of the CUDA one, as a resolver that picked the CPU wheel would:
    # the image still says CUDA_VERSION, torch imports, and only the CUDA item notices.
    listed = subprocess.run(
        [
            DOCKER,
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            devbox_amd64,
            "-c",
            f"cd {SITE} && ls -d torch-*.dist-info",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dist_info = listed.stdout.strip()
    assert listed.returncode == 0 and "+cpu" in dist_info, listed
    lines = [
        f"RUN rm -rf {SITE}/torch {SITE}/torch-*.dist-info",
        f"COPY --from={devbox_amd64} {SITE}/torch {SITE}/torch",
        f"COPY --from={devbox_amd64} {SITE}/{dist_info} {SITE}/{dist_info}",
    ]
    image = derive_image("devbox-cpu-torch", lines, base=devbox_amd64_cuda)
    run = conformance("--image", image, "-m", "not performance")
    assert run.returncode == 1, run.describe()
    assert run.failed == {"test_cuda[torch_cuda]"}, run.describe()
    message = next(e["message"] for e in run.results["items"] if e["name"] == "test_cuda[torch_cuda]")
    assert "+cpu is a CPU build in an image that names CUDA_VERSION=12.8" in message, message
    for name in ("test_cuda[cudnn]", "test_cuda[nccl]", "test_cuda[libraries]"):
        assert "has no CUDA (see test_cuda[torch_cuda])" in run.skipped[name], run.describe()
