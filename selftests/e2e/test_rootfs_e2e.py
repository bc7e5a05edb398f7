"""The rootfs overlay on the real engine: a checkout without exec bits still gives programs of mode 0755,
and the image's HEALTHCHECK stays healthy with a project on /workspace that holds a torch/ folder.

A small image FROM the stand-in base (which has a CPU torch) takes the real Dockerfile's rootfs COPY lines,
WORKDIR and HEALTHCHECK verbatim, over a copy of rootfs/ whose files are all mode 0644.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
from devbox_e2e import DOCKER, REPO, docker_build, image_exists

pytestmark = pytest.mark.e2e

BASE = "gpu-devbox-base:bookworm-amd64"
PROGRAMS = (
    "/usr/local/bin/devbox-greeting",
    "/usr/local/bin/devbox-healthcheck",
    "/usr/local/lib/devbox/wire-shells.sh",
)


def dockerfile_lines() -> list[str]:
    """The real Dockerfile's `COPY rootfs...`, `WORKDIR` and `HEALTHCHECK` lines, in order."""
    wanted = re.compile(r"^(COPY (--chmod=\S+ )?rootfs\S* |WORKDIR |HEALTHCHECK )")
    lines = [ln for ln in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines() if wanted.match(ln)]
    assert any(ln.startswith("HEALTHCHECK") for ln in lines) and any("rootfs/ /" in ln for ln in lines)
    return lines


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not image_exists(BASE):
        pytest.skip(f"needs the stand-in base {BASE} (`./devbox base`)")
    ctx = tmp_path_factory.mktemp("rootfs-ctx")
    shutil.copytree(REPO / "rootfs", ctx / "rootfs")
    for path in (ctx / "rootfs").rglob("*"):
        if path.is_file():
            path.chmod(0o644)  # a checkout made without exec bits (a zip download, core.fileMode=false)
    lines = [
        f"FROM {BASE}",
        # the devcontainer mounts the user's project here; this one has a torch/ folder of its own
        "RUN mkdir -p /workspace/torch && echo 'raise ImportError(\"project torch\")' "
        "> /workspace/torch/__init__.py",
        *dockerfile_lines(),
    ]
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n", encoding="utf-8")
    tag = f"devbox-rootfs-e2e:{os.getpid()}"
    yield docker_build(tag, ctx, timeout=600)
    subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)
    shutil.rmtree(ctx, ignore_errors=True)


def test_programs_are_0755_whatever_the_checkout_bits(image: str) -> None:
    proc = subprocess.run(
        [DOCKER, "run", "--rm", "--entrypoint", "stat", image, "-c", "%a %n", *PROGRAMS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == [f"755 {p}" for p in PROGRAMS]


def test_healthcheck_is_healthy_with_a_torch_folder_in_the_workspace(image: str) -> None:
    name = f"devbox-rootfs-e2e-{os.getpid()}"
    start = [DOCKER, "run", "-d", "--name", name, "--health-interval=2s", "--health-start-period=0s"]
    proc = subprocess.run([*start, image, "sleep", "120"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    try:
        status = ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and status not in ("healthy", "unhealthy"):
            time.sleep(1)
            status = subprocess.run(
                [DOCKER, "inspect", "-f", "{{.State.Health.Status}}", name],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        log = subprocess.run(
            [DOCKER, "inspect", "-f", "{{json .State.Health.Log}}", name], capture_output=True, text=True
        ).stdout
        assert status == "healthy", log[-2000:]
        assert "ok: torch" in log
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True)
