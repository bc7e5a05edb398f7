"""The suite's public interface (devbox_conformance.api) on a real engine and the real image.

Why: the image diff and the benchmarks go through it, not the suite's internals; what it promises (one
container, probed once, removed; one-line errors) is checked here where a mock could not lie about it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devbox_conformance import api

pytestmark = pytest.mark.e2e

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def _containers_of(image_id: str) -> list[str]:
    out = subprocess.run(
        [DOCKER, "ps", "-aq", "--filter", f"ancestor={image_id}"], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_resolve_probe_and_history_of_the_image(devbox_amd64: str) -> None:
    image = api.resolve_image(devbox_amd64, pull="never")
    assert (image.arch, image.base_kind) == ("amd64", "standin")
    before = _containers_of(image.image_id)
    model = api.load_contract(api.SHIPPED_DIR, image.arch, image.base_kind)
    probed = api.probe_image(image, api.probe_request(model), run_health=False)
    # Facts of the image, not of this machine: the image's own os-release and its contract's binaries.
    assert probed.facts["binaries"]["rg"]["path"], probed.facts["binaries"]["rg"]
    assert 0 < probed.probe_s <= probed.total_s
    assert _containers_of(image.image_id) == before  # the one container it started is gone
    history = api.image_history(image)
    assert history.count("\n") >= 5 and '"CreatedBy"' in history


def test_a_missing_image_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(api.TargetError) as err:
        api.resolve_image("gpu-devbox:no-such-tag-here", pull="never")
    assert "\n" not in str(err.value) and "no-such-tag-here" in str(err.value)
