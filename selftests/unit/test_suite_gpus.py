"""--gpus: which `run` arguments the image target gets from each engine."""

from __future__ import annotations

import shutil

import pytest

from devbox_conformance.engine import Engine, gpu_run_args

DOCKER = Engine("docker", "docker")
PODMAN = Engine("podman", "podman")


def test_none_asks_for_nothing() -> None:
    assert gpu_run_args(DOCKER, "none") == [] and gpu_run_args(PODMAN, "none") == []


def test_all_asks_for_every_gpu_and_what_nccl_needs() -> None:
    args = gpu_run_args(DOCKER, "all")
    assert args[:2] == ["--gpus", "all"] and "--ipc=host" in args and "memlock=-1" in args


def test_podman_names_the_gpus_through_cdi() -> None:
    assert gpu_run_args(PODMAN, "all")[:2] == ["--device", "nvidia.com/gpu=all"]


def test_auto_asks_for_nothing_on_a_machine_without_a_gpu_driver() -> None:
    # Real probes, nothing mocked: this machine has no nvidia-smi, so auto must not pass --gpus.
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has a GPU driver; the case is about machines without one")
    assert gpu_run_args(DOCKER, "auto") == [] and gpu_run_args(PODMAN, "auto") == []
