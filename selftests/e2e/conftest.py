"""The real devbox images shared by the end-to-end tests of the whole product.

They are made through the harness CLI (`./devbox base`, `./devbox build`), so these fixtures prove the
README's build path as a side effect. They are named, not temporary: the engine's BuildKit cache is what
makes a second CI run fast, so they stay in the engine. Everything derived from them (broken images,
containers, registries) is removed by the test that made it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"

# Sets built for the arm64 image: under QEMU every apt and pip step is about 5x slower, so CI checks the
# same Dockerfile with a documented subset (README, "One CI job per architecture") against the
# expectations of those sets.
ARM64_CI_SETS = "base-tools,shell"


def image_exists(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], capture_output=True).returncode == 0


def devbox(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """Run the harness CLI; on failure show its output, which names the failing step and its log."""
    cmd = [str(REPO / "devbox"), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-6000:]}"
            f"\n--- stderr ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )
    return proc


def standin_base(arch: str) -> str:
    """Always through `./devbox base`: its debootstrap tarball and BuildKit layers are cached, so a rerun
    takes seconds, and an engine holding an older stand-in gets the current recipe."""
    devbox("base", "--arch", arch)
    return f"gpu-devbox-base:bookworm-{arch}"


@pytest.fixture(scope="session")
def devbox_amd64() -> str:
    """The full devbox image on the amd64 stand-in base, every default set included."""
    standin_base("amd64")
    devbox("build", "--standin", "--tag", "e2e-amd64")
    return "gpu-devbox:e2e-amd64"


@pytest.fixture(scope="session")
def devbox_arm64_subset() -> str:
    """The arm64 image under QEMU, limited to ARM64_CI_SETS (same Dockerfile, build args only)."""
    standin_base("arm64")
    devbox("build", "--standin", "--platforms", "linux/arm64", "--set-only", ARM64_CI_SETS,
           "--tag", "e2e-arm64")
    ref = "gpu-devbox:e2e-arm64-arm64"  # per-arch builds are tagged <image>:<tag>-<arch>
    if not image_exists(ref):
        pytest.fail(f"arm64 build finished but {ref} does not exist", pytrace=False)
    return ref
