"""The real Dockerfile, built on the stand-in bases, meets the real expectations on both architectures."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def _assert_green(run, arch: str) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0 and not run.failed, run.describe()
    assert run.names("passed"), "the suite ran no check at all:\n" + run.describe()
    assert run.results.get("arch") == arch, run.results
    # An item that is not checked must say why; an empty reason would hide a silent pass.
    assert all(msg.strip() for msg in run.skipped.values()), run.skipped


def test_amd64_image_meets_the_contract(devbox_amd64: str, conformance) -> None:
    run = conformance("--image", devbox_amd64, "-n", "2")
    _assert_green(run, "amd64")
    # No GPU here: the GPU-only items are skipped, each naming the fact it waits for.
    gpu_skips = [name for name, msg in run.skipped.items() if "gpu" in msg.lower()]
    assert gpu_skips, f"expected GPU-only items to skip with a reason: {run.skipped}"


def test_arm64_subset_meets_the_contract_of_its_sets(devbox_arm64_subset: str, conformance) -> None:
    run = conformance("--image", devbox_arm64_subset, "--platform", "linux/arm64", "-n", "2")
    _assert_green(run, "arm64")
    # Sets left out of this build are skipped with the set's name, never passed.
    assert any("python-core" in msg for msg in run.skipped.values()), run.skipped
