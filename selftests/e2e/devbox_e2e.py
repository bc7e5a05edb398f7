"""End-to-end helpers: the harness CLI as a user runs it, the stand-in bases, a loopback registry.

A plain module (not conftest.py) so test modules can import these by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"

# Sets built for the arm64 image: under QEMU every apt and pip step is about 5x slower, so CI checks the
# same Dockerfile with a documented subset (README, "One CI job per architecture") against the
# expectations of those sets.
ARM64_CI_SETS = "base-tools,dev-tools,shell"


def docker_build(tag: str, context: Path | str, *options: str, timeout: float = 900) -> str:
    """`docker build -q` with BuildKit of `context` as `tag` (`options`, e.g. "--platform", "linux/arm64",
    go before the tag); returns the tag. A failure raises RuntimeError naming the tag and the end of the
    build's errors: the fleet and cluster helpers that build node images also run outside pytest (bench/).

    One helper because the fleet's, the Slurm cluster's and the fixtures' copies of this call had drifted
    (an assert in one, RuntimeError in another)."""
    proc = subprocess.run(
        [DOCKER, "build", "-q", *options, "-t", tag, str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{proc.stderr[-3000:]}")
    return tag


def image_exists(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], capture_output=True).returncode == 0


def devbox(
    *args: str, timeout: float = 3600, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the harness CLI; on failure show its output, which names the failing step and its log."""
    cmd = [str(REPO / "devbox"), *args]
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    if check and proc.returncode != 0:
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


@dataclass(frozen=True)
class LocalRegistry:
    """A throwaway distribution registry on loopback, read through its HTTP API (no client tools)."""

    address: str  # 127.0.0.1:<port>; docker treats loopback registries as plain-http

    def _get(self, path: str) -> dict[str, object]:
        with urllib.request.urlopen(f"http://{self.address}{path}", timeout=5) as resp:
            return json.load(resp)

    def catalog(self) -> list[str]:
        return list(self._get("/v2/_catalog").get("repositories") or [])  # type: ignore[arg-type]

    def tags(self, repo: str) -> list[str]:
        try:
            return list(self._get(f"/v2/{repo}/tags/list").get("tags") or [])  # type: ignore[arg-type]
        except urllib.error.HTTPError as err:
            if err.code == 404:  # the registry answers 404 for a repository it never saw
                return []
            raise


SUITE_EXPECTATIONS = REPO / "selftests" / "fixtures" / "suite" / "expectations"


def slow_contract(directory: Path, seconds: int) -> Path:
    """The suite fixture's contract plus one binary whose version run takes `seconds`: a run's probe is still
    under way when a test signals, kills or overlaps it, however fast the rest of the run has become."""
    import shutil  # noqa: PLC0415 - only the tests that interrupt runs need these

    import yaml  # noqa: PLC0415

    shutil.copytree(SUITE_EXPECTATIONS, directory)
    common = yaml.safe_load((directory / "common.yaml").read_text())
    common["binaries"].append({"name": "sleep", "version_args": [str(seconds)], "version_regex": "."})
    (directory / "common.yaml").write_text(yaml.safe_dump(common, sort_keys=False))
    return directory
