"""--gpus: which `docker run` arguments the image target gets."""

from __future__ import annotations

import shutil

import pytest

from devbox_conformance.target import gpu_run_args


def test_none_asks_for_nothing() -> None:
    assert gpu_run_args("none") == []


def test_all_asks_for_every_gpu_and_what_nccl_needs() -> None:
    args = gpu_run_args("all")
    assert args[:2] == ["--gpus", "all"] and "--ipc=host" in args and "memlock=-1" in args


def test_auto_asks_for_nothing_on_a_machine_without_a_gpu_driver() -> None:
    # Real probes, nothing mocked: this machine has no nvidia-smi, so auto must not pass --gpus.
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has a GPU driver; the case is about machines without one")
    assert gpu_run_args("auto") == []
