"""The real devbox images shared by the end-to-end tests of the whole product.

They are made through the harness CLI (`./devbox base`, `./devbox build`), so these fixtures prove the
README's build path as a side effect. They are named, not temporary: the engine's BuildKit cache is what
makes a second CI run fast, so they stay in the engine. Everything derived from them (broken images,
containers, registries) is removed by the test that made it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from devbox_e2e import ARM64_CI_SETS, LocalRegistry, devbox, image_exists, standin_base
from loopback_registry import Loopback


@pytest.fixture(scope="session")
def devbox_amd64() -> str:
    """The full devbox image on the amd64 stand-in base, every default set included."""
    standin_base("amd64")
    devbox("build", "--standin", "--tag", "e2e-amd64")
    return "gpu-devbox:e2e-amd64"


@pytest.fixture(scope="session")
def devbox_amd64_cuda() -> str:
    """The full devbox image on the CUDA stand-in base (`devbox base --cuda`: PyPI's CUDA torch and NVIDIA's
    runtime wheels), so every `cuda: true` item of the contract runs on a real CUDA torch (no GPU here)."""
    devbox("base", "--arch", "amd64", "--cuda")
    devbox("build", "--base-image", "gpu-devbox-base:bookworm-amd64-cuda", "--tag", "e2e-amd64-cuda")
    return "gpu-devbox:e2e-amd64-cuda"


@pytest.fixture(scope="session")
def devbox_arm64_subset() -> str:
    """The arm64 image under QEMU, limited to ARM64_CI_SETS (same Dockerfile, build args only)."""
    standin_base("arm64")
    devbox(
        "build", "--standin", "--platforms", "linux/arm64", "--set-only", ARM64_CI_SETS, "--tag", "e2e-arm64"
    )
    ref = "gpu-devbox:e2e-arm64-arm64"  # per-arch builds are tagged <image>:<tag>-<arch>
    if not image_exists(ref):
        pytest.fail(f"arm64 build finished but {ref} does not exist", pytrace=False)
    return ref


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """Debian's docker-registry on 127.0.0.1:<free port>; stopped and its storage deleted afterwards."""
    root = tmp_path_factory.mktemp("registry")
    try:
        with Loopback.serving(root) as server:
            yield LocalRegistry(server.address)
    finally:
        shutil.rmtree(root, ignore_errors=True)
