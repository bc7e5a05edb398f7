"""groups: exist in the target's group database, with the given gid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class Group(Item):
    name: str
    gid: int | None = None


def evaluate(item: Group, ctx: Context) -> Outcome:
    groups = ctx.facts.get("groups") or {}
    expected = "group exists" + (f", gid {item.gid}" if item.gid is not None else "")
    if item.name not in groups:
        # No answer is not "absent" (None is): an optional group must not skip on a probe that never looked.
        return Outcome.failed(expected, "not probed (the probe gave no answer for this group)")
    found = groups[item.name]
    if found is None:
        return Outcome.failed(expected, "no such group", absent=True)
    if item.gid is not None and found.get("gid") != item.gid:
        return Outcome.failed(expected, f"gid {found.get('gid')}")
    return Outcome.passed()


def request(items: Sequence[Group]) -> dict[str, Any]:
    return {"groups": [g.name for g in items]}


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Groups that must exist (grp)."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {"description": "Group name.", "type": "string", "minLength": 1},
    "gid": {"description": "Numeric group id.", "type": "integer"},
}


# One in-target gatherer reads both account databases (users and groups).
KIND = Kind(
    section="groups",
    report_order=80,
    key="name",
    argname="group",
    test="test_group",
    item=Group,
    evaluate=evaluate,
    request=request,
    gatherer="accounts",
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
