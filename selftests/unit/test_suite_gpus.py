"""--gpus: which `run` arguments the image target gets from each engine, and GPUs asked for and absent."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace

import pytest

from devbox_conformance.engine import Engine, gpu_run_args
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.base import When
from devbox_conformance.kinds.commands import Command
from devbox_conformance.kinds.gpu import GpuItem
from devbox_conformance.session import Options, gpus_required

pytest_plugins = ["pytester"]

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


# ---------------------------------------------------------------------------------------------------
# Asked for and absent is red: GPUs the run (--gpus all, a node profile) or the item (a pinned count) asks
# for fail where none is visible; where nothing asked, the skip stays a skip (a CPU CI runner).

NO_GPU_FACTS = {
    "gpu": {"visible": False, "how": "no /dev/nvidia0 and no GPU from nvidia-smi -L"},
    "gpu_facts": {"ran": False, "why": "nvidia-smi not found"},
    "binaries": {},
}


def _verify(kind: str, item: object, **conditions: object) -> verdict.Outcome:
    ctx = verdict.Context(
        facts=NO_GPU_FACTS,
        conditions={
            "arch": "amd64",
            "cuda": None,
            "gpu": False,
            "sets": None,
            "base": "standin",
            **conditions,
        },
        target_kind="local",
        image_attrs=None,
    )
    return verdict.verify(kind, item, ctx)


def test_a_pinned_count_without_a_visible_gpu_fails_saying_what_asked() -> None:
    out = _verify("gpu", GpuItem(key="count", name="count", count=8, source="node.yaml:4"))
    assert out.status == "failed"
    assert out.message == (
        "gpu[count] (node.yaml:4)\n"
        "GPUs were asked for (count: 8 at node.yaml:4) and none is visible: nvidia-smi not found"
    )


def test_a_pinned_count_under_when_gpu_fails_too() -> None:
    item = GpuItem(key="count", name="count", count=8, when=When(gpu=True), source="node.yaml:4")
    out = _verify("gpu", item)
    assert out.status == "failed"
    assert out.message.endswith(
        "GPUs were asked for (count: 8 at node.yaml:4) and none is visible: "
        "no /dev/nvidia0 and no GPU from nvidia-smi -L"
    )


@pytest.mark.parametrize("name", ["count", "matmul", "nccl_all_reduce", "idle"])
def test_gpus_required_by_the_run_fail_every_gpu_item(name: str) -> None:
    for when in (When(), When(gpu=True)):
        item = GpuItem(key=name, name=name, when=when, source="c.yaml:9")
        out = _verify("gpu", item, gpus_required="--gpus all")
        assert out.status == "failed", (when, out)
        assert "GPUs were asked for (--gpus all) and none is visible: " in out.message


def test_gpus_required_fail_any_kind_under_when_gpu() -> None:
    item = Command(key="smi", name="smi", run="nvidia-smi", when=When(gpu=True), source="c.yaml:2")
    out = _verify("commands", item, gpus_required="--gpus all")
    assert out.status == "failed" and out.message.startswith("commands[smi] (c.yaml:2)\nGPUs were asked for")


def test_without_an_ask_no_gpu_stays_a_skip_with_its_reason() -> None:
    assert _verify("gpu", GpuItem(key="matmul", name="matmul", source="c.yaml:1")) == verdict.Outcome(
        "skipped", "no GPU visible: nvidia-smi not found"
    )
    under_when = GpuItem(key="count", name="count", when=When(gpu=True), source="c.yaml:1")
    assert _verify("gpu", under_when) == verdict.Outcome(
        "skipped", "when: gpu is true, but the target has no GPU visible"
    )
    zero = GpuItem(key="count", name="count", count=0, source="c.yaml:1")
    assert _verify("gpu", zero).status == "skipped"


def test_another_unmet_condition_still_skips_when_gpus_are_required() -> None:
    item = GpuItem(
        key="count", name="count", count=8, when=When(arch=("arm64",), gpu=True), source="c.yaml:1"
    )
    out = _verify("gpu", item, gpus_required="--gpus all")
    assert out == verdict.Outcome("skipped", "when: arch in ['arm64'], but the target is amd64")


def test_gpus_required_comes_from_gpus_all_only() -> None:
    opts = Options(
        image=None,
        container=None,
        hosts="local://",
        platform=None,
        expectations_dir="e",
        arch=None,
        base_kind=None,
    )
    assert gpus_required(opts) is None
    assert gpus_required(replace(opts, gpus="none")) is None
    assert gpus_required(replace(opts, gpus="all")) == "--gpus all"


def test_gpu_performance_tests_fail_when_gpus_were_asked_for_and_skip_otherwise(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under xdist this worker's marker would reach the child, and the performance tests skip there as they
    # do under xdist (conclude.xdist_active): the child is a serial run.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    if shutil.which("nvidia-smi") or os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has a GPU; the case is about a target without one")
    pytester.makefile(
        ".yaml", **{"exp/common": "binaries:\n  - name: sh\n", "exp/amd64": "", "exp/arm64": ""}
    )

    def outcomes(*extra: str) -> dict[str, tuple[str, str]]:
        out = pytester.path / "r.json"
        pytester.runpytest_subprocess(
            "-p", "devbox_conformance.plugin", "--hosts", "local://", "--expectations=exp", "--perf",
            "-k", "gpu_figure or nccl_single_rank or gpu_backend_flag", "-p", "no:xdist",
            "-p", "no:cacheprovider", f"--results-json={out}", *extra,
        )  # fmt: skip
        doc = json.loads(out.read_text())
        return {e["name"]: (e["outcome"], e["message"]) for e in doc["items"]}

    skipped = outcomes()
    assert len(skipped) == 11 and {o for o, _ in skipped.values()} == {"skipped"}, skipped
    assert all("no GPU visible in the target" in m for _, m in skipped.values())
    failed = outcomes("--gpus", "all")
    assert len(failed) == 11 and {o for o, _ in failed.values()} == {"error"}, failed
    assert all("GPUs were asked for (--gpus all) and none is visible: " in m for _, m in failed.values())
