"""gpu: facts of a running target with GPUs: nvidia-smi and torch agree on the GPUs, a small matmul (and
bf16 where the GPU has it) gives the exact CPU answer on every GPU, NCCL all-reduces across them, the driver
is new enough for torch's CUDA, and no other process holds GPU memory at start.

Why: an image can carry a perfect CUDA stack and still be useless on a node: a driver older than torch's
CUDA, a GPU that computes wrong, NCCL that hangs, a GPU another job holds. These are asked of the node the
team runs on (`--gpus`, `--hosts`). Where no GPU is visible they skip with their reason, unless GPUs were
asked for (`--gpus all`, a GPU-node profile, or the item's own pinned `count`): asked for and absent is red.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

NAMES = ("count", "torch_devices", "matmul", "bf16", "nccl_all_reduce", "driver", "idle")
# Seconds the child that imports torch and computes on every GPU may take; of those, the NCCL all-reduce
# (communicator set-up included) at most NCCL_TIMEOUT_S, so a hung NCCL fails its own item only.
TIMEOUT_S = 600.0
NCCL_TIMEOUT_S = 120.0
_EXPECTED = {
    "count": "nvidia-smi lists {count}",
    "torch_devices": "torch.cuda.is_available() and device_count() == the GPUs nvidia-smi lists",
    "matmul": "a float32 matmul on every GPU equals the CPU's result",
    "bf16": "a bfloat16 matmul equals the CPU's result on every GPU of compute capability >= 8.0",
    "nccl_all_reduce": "an NCCL all-reduce (sum) across all GPUs gives n(n+1)/2 on each",
    "driver": "the driver's CUDA >= torch's CUDA{compat}",
    "idle": "no process holds GPU memory before the checks start",
}


@dataclass(frozen=True, kw_only=True)
class GpuItem(Item):
    name: str
    # count: exactly this many GPUs (default: at least one).
    count: int | None = None
    # driver: a driver of the same CUDA major release is enough (CUDA's minor version compatibility).
    minor_compat: bool = False


def _expected(item: GpuItem) -> str:
    count = f"exactly {item.count} GPU(s)" if item.count is not None else "at least one GPU"
    compat = " (same major release is enough)" if item.minor_compat else ""
    return _EXPECTED[item.name].format(count=count, compat=compat)


def _gpu_name(device: Mapping[str, Any]) -> str:
    return f"GPU {device.get('index')} ({device.get('name', '?')})"


def gpus_asked(item: Item, conditions: Mapping[str, Any]) -> str | None:
    """What asked for GPUs on this target, in words, or None when nothing did.

    The run or a node profile says so in `conditions["gpus_required"]` ("--gpus all"); a gpu item that pins
    `count: N` (N > 0) asks for them itself.
    """
    asked = conditions.get("gpus_required")
    if asked:
        return str(asked)
    count = item.count if isinstance(item, GpuItem) else None
    if isinstance(count, int) and count > 0:
        return f"count: {count}" + (f" at {item.source}" if item.source else "")
    return None


def absent_message(asked: str, why: object) -> str:
    """The one failure text of GPUs asked for and not there (items and performance tests alike)."""
    return f"GPUs were asked for ({asked}) and none is visible: {why}"


def evaluate(item: GpuItem, ctx: Context) -> Outcome:
    facts = ctx.facts.get("gpu_facts")
    if not isinstance(facts, dict):
        return Outcome.failed(_expected(item), "the probe gathered no GPU facts (an older probe?)")
    if not facts.get("ran"):
        asked = gpus_asked(item, ctx.conditions)
        if asked:
            return Outcome("failed", absent_message(asked, facts.get("why")))
        return Outcome.skipped(f"no GPU visible: {facts.get('why')}")
    smi = facts.get("smi") or {}
    if item.name in ("count", "idle"):
        return _count(item, smi) if item.name == "count" else _idle(item, smi)
    broken = facts.get("import_error") or facts.get("error")
    if broken:
        return Outcome.failed(_expected(item), f"torch could not be asked: {broken}")
    if item.name == "torch_devices":
        return _torch_devices(item, facts, smi)
    if item.name == "driver":
        return _driver(item, facts, smi)
    if not facts.get("available"):
        return Outcome.failed(_expected(item), "torch.cuda.is_available() is False" + _first_error(facts))
    if item.name == "nccl_all_reduce":
        return _nccl(item, facts.get("nccl_all_reduce") or {})
    return _per_device(item, facts.get("devices") or [])


def _first_error(facts: Mapping[str, Any]) -> str:
    errors = facts.get("errors") or {}
    return f": {next(iter(errors.values()))}" if errors else ""


def _count(item: GpuItem, smi: Mapping[str, Any]) -> Outcome:
    error = (smi.get("errors") or {}).get("gpus")
    gpus = smi.get("gpus") or []
    if error:
        return Outcome.failed(_expected(item), error)
    names = ", ".join(g.get("name", "?") for g in gpus)
    if (item.count is not None and len(gpus) != item.count) or not gpus:
        return Outcome.failed(_expected(item), f"{len(gpus)} GPU(s)" + (f": {names}" if names else ""))
    return Outcome.passed(f"{len(gpus)} GPU(s): {names}")


def _idle(item: GpuItem, smi: Mapping[str, Any]) -> Outcome:
    error = (smi.get("errors") or {}).get("processes")
    if error:
        return Outcome.failed(_expected(item), error)
    procs = smi.get("processes") or []
    if procs:
        shown = ", ".join(f"pid {p.get('pid')} {p.get('name')} ({p.get('used_mib')} MiB)" for p in procs[:5])
        more = f" and {len(procs) - 5} more" if len(procs) > 5 else ""
        return Outcome.failed(_expected(item), shown + more)
    return Outcome.passed("no compute process on any GPU")


def _torch_devices(item: GpuItem, facts: Mapping[str, Any], smi: Mapping[str, Any]) -> Outcome:
    listed = len(smi.get("gpus") or [])
    if not facts.get("available"):
        return Outcome.failed(
            _expected(item),
            f"torch.cuda.is_available() is False ({listed} GPU(s) listed)" + _first_error(facts),
        )
    if facts.get("count") != listed:
        return Outcome.failed(_expected(item), f"torch sees {facts.get('count')}, nvidia-smi lists {listed}")
    return Outcome.passed(f"{listed} GPU(s)")


def _driver(item: GpuItem, facts: Mapping[str, Any], smi: Mapping[str, Any]) -> Outcome:
    torch_cuda = facts.get("cuda")
    driver_cuda = facts.get("driver_cuda") or smi.get("driver_cuda")
    if not torch_cuda:
        return Outcome.skipped("torch is a CPU build: no CUDA to compare the driver with")
    if not driver_cuda:
        return Outcome.failed(_expected(item), "neither torch nor nvidia-smi reports the driver's CUDA")
    try:
        have, need = Version(driver_cuda), Version(torch_cuda)
    except InvalidVersion:
        return Outcome.failed(_expected(item), f"driver CUDA {driver_cuda!r}, torch CUDA {torch_cuda!r}")
    ok = have.major >= need.major if item.minor_compat else have.release[:2] >= need.release[:2]
    found = (
        f"driver {smi.get('driver') or '?'} supports CUDA {driver_cuda}; "
        f"torch is built with CUDA {torch_cuda}"
    )
    return Outcome.passed(found) if ok else Outcome.failed(_expected(item), found)


def _nccl(item: GpuItem, result: Mapping[str, Any]) -> Outcome:
    if result.get("skipped"):
        return Outcome.skipped(result["skipped"])
    if result.get("error"):
        return Outcome.failed(_expected(item), result["error"])
    if not result.get("ok"):
        return Outcome.failed(
            _expected(item),
            f"{result.get('gpus')} GPUs, expected {result.get('expected')} on each, got {result.get('got')}",
        )
    return Outcome.passed(f"{result.get('gpus')} GPUs, sum {result.get('expected')} on each")


def _per_device(item: GpuItem, devices: Sequence[Mapping[str, Any]]) -> Outcome:
    if not devices:
        return Outcome.failed(_expected(item), "torch lists no device")
    wrong, ran, skipped = [], 0, []
    for device in devices:
        if device.get("error"):
            wrong.append(f"{_gpu_name(device)}: {device['error']}")
            continue
        result = device.get(item.name) or {}
        if result.get("skipped"):
            skipped.append(f"{_gpu_name(device)}: {result['skipped']}")
            continue
        ran += 1
        if result.get("error"):
            wrong.append(f"{_gpu_name(device)}: {result['error']}")
        elif not result.get("ok"):
            wrong.append(f"{_gpu_name(device)}: max |GPU - CPU| = {result.get('max_abs_diff')}")
    if wrong:
        return Outcome.failed(_expected(item), "; ".join(wrong))
    if not ran:
        return Outcome.skipped("; ".join(skipped))
    return Outcome.passed(f"exact on {ran} GPU(s)" + (f"; skipped {'; '.join(skipped)}" if skipped else ""))


def request(items: Sequence[GpuItem]) -> dict[str, Any]:
    return {"gpu": {"timeout": TIMEOUT_S, "nccl_timeout": NCCL_TIMEOUT_S}} if items else {}


SCHEMA_DESCRIPTION = (
    "Facts of a running target's GPUs (nvidia-smi, and torch in a child interpreter). "
    "Usually under when: {gpu: true}; where no GPU is visible they skip with their reason, and fail when "
    "GPUs were asked for (--gpus all, or a pinned count)."
)
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "count: nvidia-smi lists the GPUs; torch_devices: torch sees as many; matmul: "
        "exact on every GPU; bf16: exact on every GPU of capability >= 8.0; "
        "nccl_all_reduce: across all GPUs (skips on one); driver: new enough for "
        "torch's CUDA; idle: no process holds GPU memory at start.",
        "enum": list(NAMES),
    },
    "count": {
        "description": "count: exactly this many GPUs (default: at least one); a pinned count > 0 asks "
        "for GPUs, so the item fails (never skips) where none is visible.",
        "type": "integer",
        "minimum": 0,
    },
    "minor_compat": {
        "description": "driver: a driver of the same CUDA major release as torch's is enough.",
        "type": "boolean",
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    asked = request.get("gpu")
    if not isinstance(asked, Mapping):
        return []
    return [float(asked.get("timeout", 600)) + float(asked.get("nccl_timeout") or 0)]


KIND = Kind(
    section="gpu",
    report_order=130,
    key="name",
    argname="gpu_check",
    test="test_gpu",
    item=GpuItem,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="torch_facts",
    probe_priority=0,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
