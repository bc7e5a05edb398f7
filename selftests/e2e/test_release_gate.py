"""Release gating with the real Dockerfile and the real suite, into a real registry on loopback.

Both arches are built with the CI subset of package sets (ARM64_CI_SETS): the gate's logic does not depend on
which sets are in, and the full amd64 image is already proven by test_devbox_images.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from devbox_e2e import ARM64_CI_SETS, DOCKER, REPO, LocalRegistry, devbox, standin_base

pytestmark = pytest.mark.e2e

PLATFORMS = "linux/amd64,linux/arm64"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


@pytest.fixture(scope="module", autouse=True)
def _bases() -> None:
    standin_base("amd64")
    standin_base("arm64")


def _release(registry: LocalRegistry, tag: str, tmp_path: Path, *suite_args: str, perf: bool = True):
    args = [
        "release",
        "--standin",
        "--registry",
        registry.address,
        "--tag",
        tag,
        "--platforms",
        PLATFORMS,
        "--set-only",
        ARM64_CI_SETS,
        "--require-label",
        "org.opencontainers.image.title=gpu-devbox",
        *([] if perf else ["--no-perf"]),
    ]
    if suite_args:
        args.append("--suite-args=" + " ".join(suite_args))
    env = {"SKIP_LOGIN": "1", "RESULTS_DIR": str(tmp_path / "results"), "LOG_DIR": str(tmp_path / "logs")}
    try:
        return devbox(*args, check=False, env=env)
    finally:
        local = [f"{registry.address}/gpu-devbox:{tag}-{arch}" for arch in ("amd64", "arm64")]
        subprocess.run([DOCKER, "rmi", "-f", *local], capture_output=True)


def _platforms(registry: LocalRegistry, tag: str) -> set[str]:
    req = urllib.request.Request(
        f"http://{registry.address}/v2/gpu-devbox/manifests/{tag}", headers={"Accept": MANIFEST_LIST}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        doc = json.load(resp)
    return {f"{m['platform']['os']}/{m['platform']['architecture']}" for m in doc.get("manifests", [])}


def test_green_release_pushes_both_arches_and_the_manifest_list(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    res = _release(registry, "green", tmp_path)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert "green" in registry.tags("gpu-devbox")
    assert _platforms(registry, "green") == {"linux/amd64", "linux/arm64"}
    # The verdicts were kept for the team's dashboards: checks per arch, and the serial performance run on
    # the arch this host runs natively (an emulated arch's figures are not judged).
    results = sorted(p.name for p in (tmp_path / "results").rglob("*.json"))
    assert results == ["amd64-performance.json", "amd64.json", "arm64.json"], results
    assert "== performance amd64: green" in res.stdout, res.stdout[-4000:]
    verify = devbox(
        "verify",
        f"{registry.address}/gpu-devbox:green",
        "--platforms",
        PLATFORMS,
        "--require-label",
        "org.opencontainers.image.title=gpu-devbox",
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_one_red_arch_pushes_nothing(registry: LocalRegistry, tmp_path: Path) -> None:
    # The arm64 contract gains a binary the image does not have: arm64 goes red, amd64 stays green.
    red = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", red)
    # Into the overlay's own binaries list: a second top-level `binaries:` is a duplicate-key error.
    overlay = yaml.safe_load((red / "arm64.yaml").read_text())
    overlay.setdefault("binaries", []).append({"name": "devbox-release-canary"})
    (red / "arm64.yaml").write_text(yaml.safe_dump(overlay, sort_keys=False))
    before = set(registry.tags("gpu-devbox"))
    res = _release(registry, "red", tmp_path, f"--expectations={red}", perf=False)
    assert res.returncode != 0, res.stdout[-6000:]
    assert "test_binary[devbox-release-canary]" in res.stdout + res.stderr, res.stdout[-6000:]
    # Nothing new under any tag: not the list, not the green arch's image.
    assert set(registry.tags("gpu-devbox")) == before
