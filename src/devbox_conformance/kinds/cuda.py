"""cuda: facts of a CUDA image, GPU or not: torch's CUDA, cuDNN and NCCL versions, the CUDA libraries torch
loads resolving, and nvcc.

Why a kind of its own: an image whose torch silently became a CPU build still imports, and every other kind
passes on it. `torch_cuda` fails then (the image says it is a CUDA image: torch's own CUDA version, or the
CUDA_VERSION its base sets), and the items that only make sense on a CUDA torch skip with a pointer to it,
so one defect fails one item. torch is imported once, in a child interpreter (intarget/torch_facts.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

NAMES = ("torch_cuda", "cudnn", "nccl", "libraries", "nvcc")
# Seconds the child that imports torch may take (an import on a cold, emulated or loaded machine).
TIMEOUT_S = 600.0


@dataclass(frozen=True, kw_only=True)
class CudaItem(Item):
    name: str
    min_version: Version | None = None


def at_least(found: str | None, minimum: Version | None) -> bool:
    """`found` >= `minimum` (True without a minimum); an unparsable version is not at least anything."""
    if minimum is None:
        return True
    try:
        return Version(str(found)) >= minimum
    except InvalidVersion:
        return False


def _minimum(item: CudaItem) -> str:
    return f" >= {item.min_version}" if item.min_version else ""


def evaluate(item: CudaItem, ctx: Context) -> Outcome:
    facts = ctx.facts.get("cuda_facts")
    if not isinstance(facts, dict):
        return Outcome.failed("CUDA facts from the probe", "the probe gathered none (an older probe?)")
    if not facts.get("ran"):
        why = facts.get("why") or "not gathered"
        if item.name == "torch_cuda":
            return Outcome.failed(f"torch built with CUDA{_minimum(item)}", why)
        return Outcome.skipped(f"no CUDA torch to ask: {why}")
    broken = facts.get("import_error") or facts.get("error")
    if broken:
        return Outcome.failed(_expected(item), f"torch could not be asked: {broken}")
    if item.name == "nvcc":
        return _nvcc(item, ctx.facts.get("nvcc") or {})
    cuda = facts.get("cuda")
    if item.name == "torch_cuda":
        return _torch_cuda(item, facts, ctx.facts)
    if not cuda:
        return Outcome.skipped(f"torch {facts.get('torch')} has no CUDA (see test_cuda[torch_cuda])")
    if item.name in ("cudnn", "nccl"):
        return _library_version(item, facts)
    return _libraries(item, facts)


def _torch_cuda(item: CudaItem, facts: Mapping[str, Any], all_facts: Mapping[str, Any]) -> Outcome:
    cuda = facts.get("cuda")
    if not cuda:
        promised = (all_facts.get("env") or {}).get("CUDA_VERSION")
        return Outcome.failed(
            _expected(item),
            f"torch {facts.get('torch')} is a CPU build"
            + (f" in an image that names CUDA_VERSION={promised}" if promised else ""),
        )
    if not at_least(cuda, item.min_version):
        return Outcome.failed(_expected(item), f"torch {facts.get('torch')} built with CUDA {cuda}")
    return Outcome.passed(f"CUDA {cuda}")


def _library_version(item: CudaItem, facts: Mapping[str, Any]) -> Outcome:
    """cuDNN's or NCCL's version as torch reports it, against the item's minimum."""
    version = _dotted(facts.get(item.name))
    if not version:
        error = (facts.get("errors") or {}).get(item.name)
        return Outcome.failed(
            _expected(item), f"torch reports no {item.name} version" + (f": {error}" if error else "")
        )
    if not at_least(version.split(" ")[0], item.min_version):
        return Outcome.failed(_expected(item), f"{item.name} {version}")
    return Outcome.passed(f"{item.name} {version}")


def _dotted(version: object) -> str | None:
    """A cuDNN or NCCL version as dotted text; a bare version code (8902, 21903) decoded as the library does.

    Why: compared as a version, the code 21903 (NCCL 2.19.3) is above 2.20 and 8902 (cuDNN 8.9.2) above 9.0,
    so a raw code from a probe or an older torch would pass any minimum.
    """
    if version is None or version == "":
        return None
    text = str(version).strip()
    if not text.isdigit():
        return text
    code = int(text)
    # Both libraries: major*1000 + minor*100 + patch in older releases (cuDNN 8, NCCL < 2.9), then
    # major*10000 + minor*100 + patch, so a five-digit code is the new form.
    major, rest = divmod(code, 10000 if code >= 10000 else 1000)
    return f"{major}.{rest // 100}.{rest % 100} (reported as {text})"


def _expected(item: CudaItem) -> str:
    return {
        "torch_cuda": f"torch built with CUDA{_minimum(item)}",
        "cudnn": f"torch reports cuDNN{_minimum(item)}",
        "nccl": f"torch reports NCCL{_minimum(item)}",
        "libraries": "every CUDA library torch links resolves",
        "nvcc": f"`nvcc --version` works{_minimum(item)}",
    }[item.name]


def _libraries(item: CudaItem, facts: Mapping[str, Any]) -> Outcome:
    unresolved = facts.get("unresolved") or {}
    how = facts.get("resolved_how") or ""
    if unresolved:
        shown = "; ".join(
            f"{lib}: {', '.join(missing)} not found" for lib, missing in sorted(unresolved.items())
        )
        return Outcome.failed(_expected(item), f"{shown} ({how})")
    if not how:
        # Nothing unresolved and no word on how it was judged: the check did not run, it did not pass.
        return Outcome.failed(_expected(item), "the probe did not say how the libraries were checked")
    if how.startswith(("ldd did not run", "cannot list")) or "no CUDA library" in how:
        return Outcome.failed(_expected(item), how)
    return Outcome.passed(f"{how}; {len(facts.get('loaded') or [])} CUDA libraries loaded by import torch")


def _nvcc(item: CudaItem, nvcc: Mapping[str, Any]) -> Outcome:
    if not nvcc.get("path"):
        return Outcome.failed(_expected(item), "nvcc not on PATH nor in /usr/local/cuda/bin", absent=True)
    if nvcc.get("error") or nvcc.get("exit_code") != 0:
        why = nvcc.get("error") or f"exit {nvcc.get('exit_code')}: {nvcc.get('tail')}"
        return Outcome.failed(_expected(item), f"{nvcc['path']} --version: {why}")
    if not at_least(nvcc.get("version"), item.min_version):
        return Outcome.failed(_expected(item), f"nvcc release {nvcc.get('version')}")
    return Outcome.passed(f"nvcc release {nvcc.get('version')}")


def request(items: Sequence[CudaItem]) -> dict[str, Any]:
    if not items:
        return {}
    return {"cuda": {"timeout": TIMEOUT_S, "nvcc": any(i.name == "nvcc" for i in items)}}


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"min_version": Version(str(raw["min_version"]))} if "min_version" in raw else {}


SCHEMA_DESCRIPTION = (
    "Facts of a CUDA image, asked of torch in a child interpreter: torch's CUDA, cuDNN "
    "and NCCL versions, the CUDA libraries torch links, nvcc. Usually under "
    "when: {cuda: true}."
)
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "torch_cuda: torch is a CUDA build (fails on a CPU build); cudnn / nccl: the "
        "version torch reports; libraries: every CUDA library torch links resolves "
        "(ldd); nvcc: `nvcc --version` runs.",
        "enum": list(NAMES),
    },
    "min_version": {
        "description": "Minimum version (CUDA release, cuDNN or NCCL version, nvcc release).",
        "type": "string",
        "minLength": 1,
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    asked = request.get("cuda")
    return [float(asked.get("timeout", 600))] if isinstance(asked, Mapping) else []


KIND = Kind(
    section="cuda",
    report_order=120,
    key="name",
    argname="cuda_check",
    test="test_cuda",
    item=CudaItem,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="torch_facts",
    patterns={"min_version": "version"},
    convert=convert,
    probe_priority=0,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
