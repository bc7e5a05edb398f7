"""node: what makes a GPU node healthy, beyond the image on it: driver, GPU count, persistence mode, ECC and
uncorrectable errors, retired pages and row remaps, Xid events, clock slowdowns, the PCIe link, NVLink, MIG
mode and the NVIDIA container toolkit.

    node:
      - {name: count, count: 8}
      - {name: driver, min_version: "550"}
      - {name: pcie, min_gen: 5, min_width: 16}

Why a kind of its own: these are facts of the machine, read from nvidia-smi's documented query fields
without any GPU compute, so the same items serve a Slurm health check (every few minutes, well under its
60 s limit) and a full node check. A node profile asks for GPUs: where nvidia-smi gives no answer, every
item is red, never skipped. The PCIe link's current generation is not judged (an idle GPU drops to Gen1 to
save power); its width and its maximum generation are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from devbox_conformance.kinds._node_judges import BY_GROUP, GROUP, OTHERS, expected
from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

NAMES = (
    "driver",
    "count",
    "persistence",
    "ecc",
    "retired_pages",
    "row_remap",
    "throttle",
    "pcie",
    "nvlink",
    "mig",
    "xid",
    "container_toolkit",
)
# Seconds one nvidia-smi call (or the kernel log read) may take; all run side by side.
TIMEOUT_S = 20.0


@dataclass(frozen=True, kw_only=True)
class NodeItem(Item):
    name: str
    # count: exactly this many GPUs (None: at least one).
    count: int | None = None
    # driver: the oldest acceptable driver version.
    min_version: Version | None = None
    # persistence, mig: the state every GPU must be in.
    enabled: bool | None = None
    # ecc: uncorrectable volatile errors tolerated per GPU.
    max_uncorrected: int = 0
    # pcie: floors on the link's maximum generation and current width.
    min_gen: int | None = None
    min_width: int | None = None
    # nvlink: links every GPU must have up (None: all that it lists).
    links: int | None = None
    # xid: codes that are not a node fault (application errors such as 13, 31, 43).
    ignore: tuple[int, ...] = ()


def asks_for_gpus(items: Sequence[Item]) -> str | None:
    """A contract with node items is a GPU node's: its gpu items then fail, not skip, without a GPU."""
    return f"the node profile ({items[0].source})" if items else None


def evaluate(item: NodeItem, ctx: Context) -> Outcome:
    facts = ctx.facts.get("node_facts")
    if not isinstance(facts, dict):
        return Outcome.failed(expected(item), "the probe gathered no node facts (an older probe?)")
    group = GROUP.get(item.name)
    if group is not None:
        answer = facts.get(group) or {}
        if answer.get("error") or "gpus" not in answer:
            return Outcome.failed(
                expected(item), answer.get("error") or f"nvidia-smi was not asked ({group})"
            )
        gpus = answer["gpus"]
        if not gpus and item.name != "count":
            return Outcome.failed(expected(item), "nvidia-smi lists no GPU")
        return BY_GROUP[item.name](item, gpus, facts)
    return OTHERS[item.name](item, facts)


def request(items: Sequence[NodeItem]) -> dict[str, Any]:
    if not items:
        return {}
    names = sorted(
        {i.name for i in items} | ({"count"} if any(i.name == "container_toolkit" for i in items) else set())
    )
    return {"node": {"items": names, "timeout": TIMEOUT_S}}


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "min_version" in raw:
        out["min_version"] = Version(str(raw["min_version"]))
    if "ignore" in raw:
        out["ignore"] = tuple(int(c) for c in raw["ignore"])
    return out


SCHEMA_DESCRIPTION = (
    "Facts of a GPU node (nvidia-smi's query fields, nvlink status, the kernel log, the container "
    "toolkit), no GPU compute: fit for a Slurm health check. Where nvidia-smi gives no answer every item "
    "fails."
)


def _whole(description: str, minimum: int) -> dict[str, Any]:
    return {"description": description, "type": "integer", "minimum": minimum}


SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "driver, count, persistence, ecc, retired_pages, row_remap, throttle (no hardware, "
        "thermal or power-brake slowdown), pcie (full width, the GPU's maximum generation), nvlink, mig, "
        "xid (no Xid event since boot), container_toolkit.",
        "enum": list(NAMES),
    },
    "count": _whole("count: exactly this many GPUs.", 1),
    "min_version": {
        "description": "driver: the oldest acceptable version.",
        "type": "string",
        "minLength": 1,
    },
    "enabled": {
        "description": "persistence (default true), mig (default false): the state required.",
        "type": "boolean",
    },
    "max_uncorrected": _whole("ecc: uncorrectable volatile errors tolerated per GPU (default 0).", 0),
    "min_gen": _whole("pcie: the lowest acceptable maximum link generation.", 1),
    "min_width": _whole("pcie: the narrowest acceptable link width.", 1),
    "links": _whole("nvlink: links every GPU must have up.", 1),
    "ignore": {
        "description": "xid: codes that are not a node fault (e.g. 13, 31, 43: application errors).",
        "type": "array",
        "items": {"type": "integer", "minimum": 0},
    },
}

KIND = Kind(
    section="node",
    report_order=150,
    key="name",
    argname="node_check",
    test="test_node",
    item=NodeItem,
    evaluate=evaluate,
    request=request,
    gatherer="node",
    patterns={"min_version": "version"},
    convert=convert,
    probe_priority=1,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
