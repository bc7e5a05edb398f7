"""The node kind's twelve judges, one per item name: each reads its own nvidia-smi (or kernel log, toolkit)
answer from the node facts and says what is wrong, GPU by GPU.

Why apart from kinds/node.py: that module declares the kind (item, schema, request, dispatch); these are the
rules, which grow with every GPU generation's quirks. The registry skips `_` modules: this is not a kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from devbox_conformance.kinds.verdict import Outcome

if TYPE_CHECKING:
    from devbox_conformance.kinds.node import NodeItem

_NOT_APPLICABLE = ("[n/a]", "n/a", "[not supported]", "not supported", "")
GROUP = {
    "driver": "base",
    "count": "base",
    "persistence": "persistence",
    "ecc": "ecc",
    "retired_pages": "retired_pages",
    "throttle": "throttle",
    "pcie": "pcie",
    "mig": "mig",
}
_EXPECTED = {
    "driver": "an NVIDIA driver{min}, the same on every GPU",
    "count": "{count}",
    "persistence": "persistence mode {state} on every GPU",
    "ecc": "ECC enabled and at most {max_uncorrected} uncorrectable volatile error(s) on every GPU",
    "retired_pages": "no page retirement pending on any GPU",
    "row_remap": "no row remap pending or failed on any GPU",
    "throttle": "no hardware, thermal or power-brake clock slowdown active on any GPU",
    "pcie": "every GPU's PCIe link at its full width and the GPU's maximum generation{pins}",
    "nvlink": "every NVLink of every GPU up{links}",
    "mig": "MIG mode {state} on every GPU, no change pending",
    "xid": "no Xid event in the kernel log since boot{ignored}",
    "container_toolkit": "the NVIDIA container toolkit lists every GPU (`nvidia-container-cli info`)",
}


def _na(value: Any) -> bool:
    return str(value).strip().lower() in _NOT_APPLICABLE


def expected(item: NodeItem) -> str:
    count = f"exactly {item.count} GPU(s)" if item.count is not None else "at least one GPU"
    pins = "".join(
        p
        for p in (
            f", Gen{item.min_gen} or better" if item.min_gen else "",
            f", x{item.min_width} or wider" if item.min_width else "",
        )
    )
    return _EXPECTED[item.name].format(
        min=f" >= {item.min_version}" if item.min_version else "",
        count=count,
        state="enabled" if _wants_enabled(item) else "disabled",
        max_uncorrected=item.max_uncorrected,
        pins=pins,
        links=f" ({item.links} per GPU)" if item.links else "",
        ignored=f" (ignoring {', '.join(map(str, item.ignore))})" if item.ignore else "",
    )


def _wants_enabled(item: NodeItem) -> bool:
    if item.enabled is not None:
        return item.enabled
    return item.name != "mig"


def _gpu(row: Mapping[str, Any]) -> str:
    return f"GPU {row.get('index', '?')}"


def _bad(item: NodeItem, problems: list[str], good: str) -> Outcome:
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        return Outcome.failed(expected(item), shown)
    return Outcome.passed(good)


def _driver(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    versions = sorted({str(g.get("driver_version")) for g in gpus})
    if len(versions) != 1:
        return Outcome.failed(expected(item), f"different drivers: {', '.join(versions)}")
    found = versions[0]
    if item.min_version is not None:
        try:
            ok = Version(found) >= item.min_version
        except InvalidVersion:
            return Outcome.failed(expected(item), f"driver {found!r} is not a version")
        if not ok:
            return Outcome.failed(expected(item), f"driver {found}")
    return Outcome.passed(f"driver {found} on {len(gpus)} GPU(s)")


def _count(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    names = ", ".join(sorted({str(g.get("name")) for g in gpus}))
    found = f"{len(gpus)} GPU(s)" + (f": {names}" if names else "")
    if not gpus or (item.count is not None and len(gpus) != item.count):
        return Outcome.failed(expected(item), found)
    return Outcome.passed(found)


def _state(item: NodeItem, gpus: list[dict[str, Any]], field: str) -> list[str]:
    want = "enabled" if _wants_enabled(item) else "disabled"
    problems = []
    for g in gpus:
        value = str(g.get(field, "")).strip()
        have = "disabled" if item.name == "mig" and _na(value) else value.lower()
        if have != want:
            problems.append(f"{_gpu(g)}: {field} is {value or 'empty'}")
    return problems


def _persistence(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    return _bad(item, _state(item, gpus, "persistence_mode"), f"{len(gpus)} GPU(s)")


def _ecc(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    problems = []
    for g in gpus:
        mode = str(g.get("ecc.mode.current", "")).strip()
        if mode.lower() != "enabled":
            problems.append(f"{_gpu(g)}: ECC mode {mode or 'empty'}")
            continue
        errors = str(g.get("ecc.errors.uncorrected.volatile.total", "")).strip()
        try:
            count = int(errors)
        except ValueError:
            problems.append(f"{_gpu(g)}: uncorrectable volatile errors not reported ({errors!r})")
            continue
        if count > item.max_uncorrected:
            problems.append(f"{_gpu(g)}: {count} uncorrectable volatile ECC error(s)")
    return _bad(item, problems, f"ECC on, no uncorrectable errors, {len(gpus)} GPU(s)")


def _retired(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    values = {_gpu(g): str(g.get("retired_pages.pending", "")).strip() for g in gpus}
    if all(_na(v) for v in values.values()):
        return Outcome.skipped(
            "page retirement does not apply to these GPUs (they remap rows: see row_remap)"
        )
    problems = [
        f"{gpu}: retirement pending" for gpu, v in values.items() if v.lower() in ("yes", "1", "true")
    ]
    return _bad(item, problems, f"nothing pending on {len(gpus)} GPU(s)")


def _throttle(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    problems = []
    for g in gpus:
        active = [
            k.rpartition(".")[2] for k, v in g.items() if k != "index" and str(v).strip().lower() == "active"
        ]
        if active:
            problems.append(f"{_gpu(g)}: {', '.join(active)} active")
    return _bad(item, problems, f"no slowdown active on {len(gpus)} GPU(s)")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _pcie(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    gpumax = {
        str(g.get("index")): _int(g.get("pcie.link.gen.gpumax"))
        for g in (facts.get("pcie_gpumax") or {}).get("gpus") or []
    }
    problems, shown = [], set()
    for g in gpus:
        gen_max, width_max = _int(g.get("pcie.link.gen.max")), _int(g.get("pcie.link.width.max"))
        width = _int(g.get("pcie.link.width.current"))
        if gen_max is None or width_max is None or width is None:
            problems.append(f"{_gpu(g)}: link not reported ({g})")
            continue
        shown.add(f"Gen{gen_max} x{width}")
        if width < width_max:
            problems.append(f"{_gpu(g)}: x{width} of x{width_max}")
        if item.min_width and width < item.min_width:
            problems.append(f"{_gpu(g)}: x{width}, below x{item.min_width}")
        capable = gpumax.get(str(g.get("index")))
        if capable is not None and gen_max < capable:
            problems.append(f"{_gpu(g)}: the slot allows Gen{gen_max}, the GPU Gen{capable}")
        if item.min_gen and gen_max < item.min_gen:
            problems.append(f"{_gpu(g)}: Gen{gen_max} at most, below Gen{item.min_gen}")
    return _bad(item, problems, f"{', '.join(sorted(shown))} on {len(gpus)} GPU(s)")


def _mig(item: NodeItem, gpus: list[dict[str, Any]], facts: Mapping[str, Any]) -> Outcome:
    problems = _state(item, gpus, "mig.mode.current")
    for g in gpus:
        current, pending = (
            str(g.get("mig.mode.current", "")).strip(),
            str(g.get("mig.mode.pending", "")).strip(),
        )
        if not (_na(current) and _na(pending)) and current.lower() != pending.lower():
            problems.append(f"{_gpu(g)}: MIG change pending ({current} -> {pending}; reset the GPU)")
    return _bad(
        item, problems, f"MIG {'enabled' if _wants_enabled(item) else 'disabled'} on {len(gpus)} GPU(s)"
    )


def _row_remap(item: NodeItem, facts: Mapping[str, Any]) -> Outcome:
    answer = facts.get("remap") or {}
    if answer.get("error") or "gpus" not in answer:
        return Outcome.failed(
            expected(item), answer.get("error") or "nvidia-smi was not asked (remapped rows)"
        )
    rows = answer["gpus"]
    if not rows or all(_na(r.get("remapped_rows.pending")) for r in rows):
        return Outcome.skipped("row remapping does not apply to these GPUs (see retired_pages)")
    problems = []
    for r in rows:
        for key in ("remapped_rows.pending", "remapped_rows.failure"):
            if str(r.get(key, "")).strip().lower() in ("yes", "1", "true"):
                problems.append(f"GPU {r.get('gpu_bus_id')}: {key.rpartition('.')[2]}")
    return _bad(item, problems, f"no remap pending or failed on {len(rows)} GPU(s)")


def _nvlink(item: NodeItem, facts: Mapping[str, Any]) -> Outcome:
    answer = facts.get("nvlink") or {}
    if answer.get("error") or "gpus" not in answer:
        return Outcome.failed(expected(item), answer.get("error") or "nvidia-smi was not asked (nvlink)")
    gpus: dict[str, list[str]] = answer["gpus"]
    if not any(gpus.values()):
        if item.links:
            return Outcome.failed(expected(item), "no GPU lists an NVLink")
        return Outcome.skipped("no NVLink on these GPUs")
    problems = []
    for index, links in sorted(gpus.items()):
        down = [str(i) for i, state in enumerate(links) if state != "up"]
        if down:
            problems.append(f"GPU {index}: link(s) {', '.join(down)} inactive")
        if item.links and len(links) - len(down) < item.links:
            problems.append(f"GPU {index}: {len(links) - len(down)} of {item.links} links up")
    return _bad(item, problems, f"{sum(len(v) for v in gpus.values())} links up on {len(gpus)} GPU(s)")


def _xid(item: NodeItem, facts: Mapping[str, Any]) -> Outcome:
    answer = facts.get("xid") or {}
    if not answer.get("readable"):
        return Outcome.skipped(f"the kernel log is not readable here: {answer.get('why') or 'not asked'}")
    events = {int(k): v for k, v in (answer.get("events") or {}).items() if int(k) not in item.ignore}
    if events:
        shown = ", ".join(f"Xid {k} x{v}" for k, v in sorted(events.items()))
        first = next((ln for ln in answer.get("lines") or [] if any(f": {k}," in ln for k in events)), "")
        return Outcome.failed(expected(item), shown + (f"; first: {first}" if first else ""))
    return Outcome.passed(f"none in `{answer.get('how')}`")


def _toolkit(item: NodeItem, facts: Mapping[str, Any]) -> Outcome:
    answer = facts.get("toolkit") or {}
    if not answer.get("ok"):
        return Outcome.failed(expected(item), answer.get("why") or "not asked")
    listed = len(((facts.get("base") or {}).get("gpus")) or [])
    if listed and answer.get("devices") != listed:
        return Outcome.failed(expected(item), f"it lists {answer.get('devices')} GPU(s), nvidia-smi {listed}")
    return Outcome.passed(f"{answer.get('devices')} GPU(s) from {answer.get('path')}")


BY_GROUP = {
    "driver": _driver,
    "count": _count,
    "persistence": _persistence,
    "ecc": _ecc,
    "retired_pages": _retired,
    "throttle": _throttle,
    "pcie": _pcie,
    "mig": _mig,
}
OTHERS = {"row_remap": _row_remap, "nvlink": _nvlink, "xid": _xid, "container_toolkit": _toolkit}
