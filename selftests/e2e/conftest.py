"""Images and helpers shared by the end-to-end tests of the whole product.

The images are made through the harness CLI (`./devbox base`, `./devbox build`), so these fixtures prove the
README's build path as a side effect. They are named, not temporary: the engine's BuildKit cache is what
makes a second CI run fast, so they stay in the engine. Everything derived from them (broken images,
containers, registries) is removed by the test that made it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e_support import REPO, SuiteRun, docker_cli, image_exists, run_suite

__all__ = ["SuiteRun", "run_suite"]

# Sets built for the arm64 image: under QEMU every apt and pip step is about 5x slower, so CI checks the
# same Dockerfile with a documented subset (README, "Per-arch CI") and the expectations of those sets.
ARM64_CI_SETS = "base-tools,shell"


def _devbox(*args: str, timeout: float = 3600) -> None:
    """Run the harness CLI; on failure show its output, which names the failing step and its log."""
    cmd = [str(REPO / "devbox"), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-6000:]}"
            f"\n--- stderr ---\n{proc.stderr[-6000:]}",
            pytrace=False,
        )


def _standin_base(arch: str) -> str:
    tag = f"gpu-devbox-base:bookworm-{arch}"
    if not image_exists(tag):
        _devbox("base", "--arch", arch)
    return tag


@pytest.fixture(scope="session")
def devbox_amd64() -> str:
    """The full devbox image on the amd64 stand-in base, every default set included."""
    _standin_base("amd64")
    _devbox("build", "--standin", "--tag", "e2e-amd64")
    return "gpu-devbox:e2e-amd64"


@pytest.fixture(scope="session")
def devbox_arm64_subset() -> str:
    """The arm64 image under QEMU, limited to ARM64_CI_SETS (same Dockerfile, build args only)."""
    _standin_base("arm64")
    _devbox("build", "--standin", "--platforms", "linux/arm64", "--set-only", ARM64_CI_SETS,
            "--tag", "e2e-arm64")
    # Per-arch builds without buildx are tagged <image>:<tag>-<arch>.
    for ref in ("gpu-devbox:e2e-arm64-arm64", "gpu-devbox:e2e-arm64"):
        if image_exists(ref):
            return ref
    pytest.fail("arm64 build finished but no gpu-devbox:e2e-arm64[-arm64] image exists", pytrace=False)


@pytest.fixture
def derived_image(request: pytest.FixtureRequest) -> Iterator[object]:
    """Build small images FROM another one (one defect each) and remove them afterwards."""
    made: list[str] = []

    def build(base: str, name: str, dockerfile_lines: list[str]) -> str:
        tag = f"gpu-devbox-e2e-broken:{name}"
        ctx = Path(os.environ.get("TMPDIR", "/tmp")) / f"devbox-e2e-{name}-{os.getpid()}"
        ctx.mkdir(parents=True, exist_ok=True)
        try:
            (ctx / "Dockerfile").write_text("\n".join([f"FROM {base}", *dockerfile_lines]) + "\n")
            proc = subprocess.run(
                [docker_cli(), "build", "-q", "-t", tag, str(ctx)],
                capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "1"},
            )
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
        if proc.returncode != 0:
            pytest.fail(f"building {tag} failed:\n{proc.stderr[-4000:]}", pytrace=False)
        made.append(tag)
        return tag

    yield build
    for tag in made:
        subprocess.run([docker_cli(), "rmi", "-f", tag], capture_output=True)
