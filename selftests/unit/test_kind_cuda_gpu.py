"""The `cuda` and `gpu` kinds: their checks on given facts, the in-target helpers, and the contract's `gpu`
items run end to end on the local target against EMULATED GPUs.

No GPU exists on the machines that run these self-tests. The end-to-end tests below put
selftests/fixtures/emulated_gpu on the run's PYTHONPATH and its bin/ on PATH: the torch the suite's child
interpreter imports there is the real CPU torch behind an emulated `torch.cuda` (N GPUs, a capability, an
NCCL all-reduce summed on the CPU), and nvidia-smi is a script answering for the same GPUs. The path is the
real one (the probe, the gatherer, the child, the facts, the checks, the report); the figures are CPU
figures. The CUDA stand-in image runs the `cuda` items on a real CUDA torch (selftests/e2e).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance.intarget import torch_checks, torch_facts
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.base import When
from devbox_conformance.kinds.cuda import CudaItem
from devbox_conformance.kinds.gpu import GpuItem

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
EMULATION = REPO / "selftests" / "fixtures" / "emulated_gpu"
torch = pytest.importorskip("torch")


def _ctx(facts: dict[str, Any], gpu: bool = True, cuda: str | None = "12.8") -> verdict.Context:
    return verdict.Context(
        facts=facts,
        conditions={"arch": "amd64", "cuda": cuda, "gpu": gpu},
        target_kind="local",
        image_attrs=None,
    )


CUDA_FACTS = {
    "ran": True,
    "torch": "2.9.1+cu128",
    "cuda": "12.8",
    "cudnn": "9.10.2",
    "nccl": "2.27.3",
    "errors": {},
    "unresolved": {},
    "resolved_how": "ldd on libc10_cuda.so, libtorch_cuda.so",
    "loaded": ["/x/libcudart.so.12"],
}


def _cuda(name: str, facts: dict[str, Any], minimum: str | None = None, **more: Any) -> verdict.Outcome:
    item = CudaItem(key=name, name=name, min_version=Version(minimum) if minimum else None, source="c.yaml:1")
    return verdict.verify("cuda", item, _ctx({"cuda_facts": facts, **more}))


def test_cuda_items_pass_on_a_cuda_torch_at_or_above_their_minimums() -> None:
    assert _cuda("torch_cuda", CUDA_FACTS, "12.4").message == "CUDA 12.8"
    assert _cuda("cudnn", CUDA_FACTS, "9.0").message == "cudnn 9.10.2"
    assert _cuda("nccl", CUDA_FACTS, "2.20").status == "passed"
    assert _cuda("libraries", CUDA_FACTS).status == "passed"
    nvcc = {"path": "/usr/local/cuda/bin/nvcc", "exit_code": 0, "version": "12.9", "tail": ""}
    assert _cuda("nvcc", CUDA_FACTS, "12.4", nvcc=nvcc).message == "nvcc release 12.9"


def test_a_cpu_torch_in_a_cuda_image_fails_torch_cuda_alone() -> None:
    cpu = dict(CUDA_FACTS, torch="2.9.1+cpu", cuda=None, cudnn=None, nccl=None)
    out = verdict.verify(
        "cuda",
        CudaItem(key="torch_cuda", name="torch_cuda", source="c.yaml:3"),
        _ctx({"cuda_facts": cpu, "env": {"CUDA_VERSION": "12.8"}}),
    )
    assert out.status == "failed"
    assert "found:    torch 2.9.1+cpu is a CPU build in an image that names CUDA_VERSION=12.8" in out.message
    for name in ("cudnn", "nccl", "libraries"):
        assert _cuda(name, cpu).status == "skipped", name


@pytest.mark.parametrize(
    ("name", "facts", "minimum", "found"),
    [
        ("torch_cuda", dict(CUDA_FACTS, cuda="12.1"), "12.4", "built with CUDA 12.1"),
        ("cudnn", dict(CUDA_FACTS, cudnn="8.9.7"), "9.0", "cudnn 8.9.7"),
        (
            "nccl",
            dict(CUDA_FACTS, nccl=None, errors={"nccl": "RuntimeError: no NCCL"}),
            None,
            "torch reports no nccl version: RuntimeError: no NCCL",
        ),
        (
            "libraries",
            dict(CUDA_FACTS, unresolved={"libtorch_cuda.so": ["libcudnn.so.9"]}),
            None,
            "libtorch_cuda.so: libcudnn.so.9 not found",
        ),
        (
            "libraries",
            dict(CUDA_FACTS, resolved_how="ldd on no CUDA library of torch's"),
            None,
            "no CUDA library of torch's",
        ),
        (
            "cudnn",
            dict(CUDA_FACTS, import_error="ImportError: libcudart.so.12"),
            None,
            "torch could not be asked: ImportError: libcudart.so.12",
        ),
    ],
)
def test_each_cuda_item_fails_on_its_own_defect(
    name: str, facts: dict[str, Any], minimum: str | None, found: str
) -> None:
    out = _cuda(name, facts, minimum)
    assert out.status == "failed" and found in out.message, out.message


def test_nvcc_absent_is_absent_and_a_failing_nvcc_says_why() -> None:
    assert _cuda("nvcc", CUDA_FACTS, nvcc={"path": None}).absent
    broken = _cuda("nvcc", CUDA_FACTS, nvcc={"path": "/usr/bin/nvcc", "exit_code": 1, "tail": "boom"})
    assert "found:    /usr/bin/nvcc --version: exit 1: boom" in broken.message


def test_cuda_facts_not_gathered_skip_except_torch_cuda() -> None:
    facts = {"ran": False, "why": "torch is a CPU build and the image names no CUDA_VERSION"}
    assert _cuda("cudnn", facts).status == "skipped"
    assert _cuda("torch_cuda", facts).status == "failed"


def test_version_texts_of_cudnn_and_the_driver() -> None:
    assert torch_checks.version_of_cudnn(91002) == "9.10.2"
    assert torch_checks.version_of_cudnn(8902) == "8.9.2"
    assert torch_checks._driver_cuda(12080) == "12.8" and torch_checks._driver_cuda(13000) == "13.0"


def test_loaded_libraries_reads_the_cuda_ones_from_a_maps_file(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text(
        "7f0-7f1 r-xp 0 08:01 1 /opt/nvidia/cublas/lib/libcublasLt.so.12\n"
        "7f1-7f2 r-xp 0 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f2-7f3 r--p 0 08:01 1 /opt/nvidia/cublas/lib/libcublasLt.so.12\n"
        "7f3-7f4 rw-p 0 00:00 0 \n"
    )
    assert torch_checks.loaded_libraries(str(maps)) == ["/opt/nvidia/cublas/lib/libcublasLt.so.12"]


def test_the_cpu_torch_here_has_no_cuda_library_to_resolve() -> None:
    missing, how = torch_checks.unresolved_libraries(torch)
    assert missing == {} and how == "ldd on no CUDA library of torch's"


def test_the_gatherer_asks_torch_only_when_the_target_can_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VERSION", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    facts = torch_facts.gather({"cuda": {"timeout": 5}, "gpu": {"timeout": 5}}, pool=None)
    assert facts["cuda_facts"] == {
        "ran": False,
        "why": "torch is a CPU build and the image names no CUDA_VERSION",
    }
    assert facts["gpu_facts"]["ran"] is False and "no /dev/nvidia0" in facts["gpu_facts"]["why"]
    assert torch_facts.gather({}, pool=None) == {}


# ---------------------------------------------------------------------------------------------------
# gpu items on given facts.


def _gpu_facts(**over: Any) -> dict[str, Any]:
    device = {
        "name": "NVIDIA H200",
        "capability": "9.0",
        "matmul": {"ok": True, "max_abs_diff": 0.0},
        "bf16": {"ok": True, "max_abs_diff": 0.0},
    }
    facts = {
        "ran": True,
        "cuda": "12.8",
        "available": True,
        "count": 2,
        "driver_cuda": "12.8",
        "errors": {},
        "devices": [dict(device, index=0), dict(device, index=1)],
        "nccl_all_reduce": {"gpus": 2, "expected": 3.0, "got": [3.0, 3.0], "ok": True},
        "smi": {
            "gpus": [{"index": "0", "name": "NVIDIA H200"}, {"index": "1", "name": "NVIDIA H200"}],
            "driver": "570.86.15",
            "driver_cuda": "12.8",
            "processes": [],
            "errors": {},
        },
    }
    facts.update(over)
    return facts


def _gpu(name: str, facts: dict[str, Any], **fields: Any) -> verdict.Outcome:
    item = GpuItem(key=name, name=name, source="g.yaml:1", **fields)
    return verdict.verify("gpu", item, _ctx({"gpu_facts": facts}))


def test_gpu_items_pass_on_two_good_gpus() -> None:
    for name in ("count", "idle", "torch_devices", "driver", "matmul", "bf16", "nccl_all_reduce"):
        assert _gpu(name, _gpu_facts()).status == "passed", name
    assert _gpu("count", _gpu_facts(), count=2).status == "passed"


def test_gpu_items_skip_without_a_gpu_and_on_one_old_gpu() -> None:
    no_gpu = _gpu("matmul", {"ran": False, "why": "no /dev/nvidia0"})
    assert no_gpu.message == "no GPU visible: no /dev/nvidia0"
    old = dict(_gpu_facts()["devices"][0], capability="7.5", bf16={"skipped": "compute capability 7.5 < 8.0"})
    one = _gpu_facts(
        count=1,
        devices=[old],
        nccl_all_reduce={"skipped": "one GPU visible: an all-reduce needs two or more"},
    )
    assert _gpu("bf16", one).message == "GPU 0 (NVIDIA H200): compute capability 7.5 < 8.0"
    assert _gpu("nccl_all_reduce", one).status == "skipped"


def test_a_gpu_that_computes_wrong_fails_matmul_naming_it() -> None:
    facts = _gpu_facts()
    facts["devices"][1] = dict(facts["devices"][1], matmul={"ok": False, "max_abs_diff": 3.0})
    out = _gpu("matmul", facts)
    assert out.status == "failed" and "found:    GPU 1 (NVIDIA H200): max |GPU - CPU| = 3.0" in out.message


BUSY = {"pid": "7", "name": "python", "used_mib": "900"}


@pytest.mark.parametrize(
    ("name", "over", "fields", "found"),
    [
        ("count", {}, {"count": 8}, "2 GPU(s): NVIDIA H200, NVIDIA H200"),
        ("idle", {"smi": dict(_gpu_facts()["smi"], processes=[BUSY])}, {}, "pid 7 python (900 MiB)"),
        ("torch_devices", {"count": 1}, {}, "torch sees 1, nvidia-smi lists 2"),
        (
            "torch_devices",
            {"available": False, "errors": {"available": "RuntimeError: driver too old"}},
            {},
            "torch.cuda.is_available() is False (2 GPU(s) listed): RuntimeError: driver too old",
        ),
        ("driver", {"driver_cuda": "12.2"}, {}, "supports CUDA 12.2; torch is built with CUDA 12.8"),
        (
            "nccl_all_reduce",
            {"nccl_all_reduce": {"gpus": 2, "expected": 3.0, "got": [4.0, 4.0], "ok": False}},
            {},
            "expected 3.0 on each, got [4.0, 4.0]",
        ),
        ("matmul", {"import_error": "ImportError: libcuda.so.1"}, {}, "torch could not be asked"),
    ],
)
def test_each_gpu_item_fails_on_its_own_defect(
    name: str, over: dict[str, Any], fields: dict[str, Any], found: str
) -> None:
    out = _gpu(name, _gpu_facts(**over), **fields)
    assert out.status == "failed" and found in out.message, out.message


def test_minor_compat_accepts_a_driver_of_the_same_major_release() -> None:
    assert _gpu("driver", _gpu_facts(driver_cuda="12.2"), minor_compat=True).status == "passed"
    assert _gpu("driver", _gpu_facts(driver_cuda="11.8"), minor_compat=True).status == "failed"


# ---------------------------------------------------------------------------------------------------
# The contract's gpu items, end to end on the local target with emulated GPUs (see the module docstring).


def _contract_section(name: str) -> list[Any]:
    return yaml.safe_load((REPO / "expectations" / "common.yaml").read_text())[name]


GPU_TESTS = """
def test_gpu(gpu_check, check):
    check("gpu", gpu_check)
"""


@pytest.fixture
def emulated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makefile(
        ".yaml",
        **{
            "exp/common": yaml.safe_dump({"gpu": _contract_section("gpu")}),
            "exp/amd64": "{}",
            "exp/arm64": "{}",
        },
    )
    pytester.makepyfile(test_gpu_contract=GPU_TESTS)
    path = os.pathsep.join([str(EMULATION / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("PYTHONPATH", str(EMULATION))
    for name in (
        "DEVBOX_EMU_SMI_GPUS",
        "DEVBOX_EMU_BUSY",
        "DEVBOX_EMU_NCCL_BROKEN",
        "DEVBOX_EMU_DRIVER_CUDA",
        "DEVBOX_EMU_CAPABILITY",
        "DEVBOX_EMU_NCCL_HANG",
    ):
        monkeypatch.delenv(name, raising=False)
    return pytester


def _run(suite: pytest.Pytester, tmp_path: Path) -> dict[str, dict[str, Any]]:
    out = tmp_path / "results.json"
    suite.runpytest_subprocess(
        "-p",
        "devbox_conformance.plugin",
        "--no-contract",
        "--hosts",
        "local://",
        "--base-kind",
        "standin",
        "--expectations=exp",
        f"--results-json={out}",
        "-p",
        "no:cacheprovider",
    )
    doc = json.loads(out.read_text())
    return {e["name"].removeprefix("test_gpu[").removesuffix("]"): e for e in doc["items"]}


def _statuses(items: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: e["outcome"] for name, e in items.items()}


ALL_GPU_ITEMS = ("count", "idle", "torch_devices", "driver", "matmul", "bf16", "nccl_all_reduce")


def test_the_gpu_contract_passes_on_two_emulated_gpus(
    emulated: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_EMU_GPUS", "2")
    items = _run(emulated, tmp_path)
    assert _statuses(items) == dict.fromkeys(ALL_GPU_ITEMS, "passed"), items
    assert items["nccl_all_reduce"]["message"] == "" or "sum 3.0" in json.dumps(items["nccl_all_reduce"])


def test_one_old_emulated_gpu_skips_bf16_and_the_all_reduce_with_their_reasons(
    emulated: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_EMU_GPUS", "1")
    monkeypatch.setenv("DEVBOX_EMU_CAPABILITY", "7.5")
    items = _run(emulated, tmp_path)
    assert _statuses(items) == dict(
        dict.fromkeys(ALL_GPU_ITEMS, "passed"), bf16="skipped", nccl_all_reduce="skipped"
    ), items
    assert "compute capability 7.5 < 8.0" in items["bf16"]["message"]
    assert "one GPU visible" in items["nccl_all_reduce"]["message"]


def test_a_busy_node_with_an_old_driver_and_a_wrong_all_reduce_fails_exactly_those(
    emulated: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_EMU_GPUS", "2")
    monkeypatch.setenv("DEVBOX_EMU_BUSY", "1")
    monkeypatch.setenv("DEVBOX_EMU_DRIVER_CUDA", "12020")
    monkeypatch.setenv("DEVBOX_EMU_NCCL_BROKEN", "1")
    items = _run(emulated, tmp_path)
    failed = {"idle", "driver", "nccl_all_reduce"}
    assert _statuses(items) == {n: "failed" if n in failed else "passed" for n in ALL_GPU_ITEMS}, items
    assert "pid 4242 python3 (81920 MiB)" in items["idle"]["message"]
    assert "supports CUDA 12.2; torch is built with CUDA 12.8" in items["driver"]["message"]
    assert "got [4.0, 4.0]" in items["nccl_all_reduce"]["message"]


def test_torch_seeing_fewer_gpus_than_nvidia_smi_fails_torch_devices(
    emulated: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_EMU_GPUS", "2")
    monkeypatch.setenv("DEVBOX_EMU_SMI_GPUS", "4")
    items = _run(emulated, tmp_path)
    assert _statuses(items) == {n: "failed" if n == "torch_devices" else "passed" for n in ALL_GPU_ITEMS}
    assert "torch sees 2, nvidia-smi lists 4" in items["torch_devices"]["message"]


def test_without_a_gpu_every_gpu_item_skips_with_its_reason(
    emulated: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEVBOX_EMU_GPUS", raising=False)
    items = _run(emulated, tmp_path)
    assert _statuses(items) == dict.fromkeys(ALL_GPU_ITEMS, "skipped"), items
    assert all("when: gpu is true, but the target has no GPU visible" in e["message"] for e in items.values())


def test_the_contract_asks_for_each_cuda_and_gpu_item_under_its_condition() -> None:
    model = exp.load(REPO / "expectations", "amd64", "ngc")
    assert {i.name: i.when for i in model.items("gpu")} == dict.fromkeys(ALL_GPU_ITEMS, When(gpu=True))
    assert {i.name for i in model.items("cuda")} == {"torch_cuda", "cudnn", "nccl", "libraries", "nvcc"}
    assert all(i.when.cuda for i in model.items("cuda"))
    request = probe.build_request(model)
    assert request["cuda"] == {"timeout": 600.0, "nvcc": True}
    assert request["gpu"] == {"timeout": 600.0, "nccl_timeout": 120.0}
    assert "torch_facts" in request["gatherers"]


def test_a_hung_all_reduce_fails_its_own_item_and_the_other_facts_still_come(
    emulated: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVBOX_EMU_GPUS", "2")
    monkeypatch.setenv("DEVBOX_EMU_NCCL_HANG", "1")
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        facts = torch_facts.gather({"gpu": {"timeout": 120, "nccl_timeout": 3}}, pool)
        gpu = dict(facts["gpu_facts"].result(), ran=True)
    assert time.monotonic() - started < 60  # the child left at once, not after the all-reduce
    assert gpu["nccl_all_reduce"] == {"ok": False, "error": "did not finish within 3 s (hung)", "hung": True}
    assert _gpu("nccl_all_reduce", gpu).status == "failed"
    for name in ("count", "idle", "torch_devices", "driver", "matmul", "bf16"):
        assert _gpu(name, gpu).status == "passed", name
