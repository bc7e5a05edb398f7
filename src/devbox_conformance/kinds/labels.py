"""labels: image labels, exact value or regex (image and container targets only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds._match import describe, mismatch
from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class Label(Item):
    name: str
    value: str | None = None
    regex: str | None = None


def evaluate(item: Label, ctx: Context) -> Outcome:
    if ctx.image_attrs is None:
        return Outcome.skipped(f"labels are image config; the {ctx.target_kind} target has no image")
    labels = (ctx.image_attrs.get("Config") or {}).get("Labels") or {}
    expected = describe(item.value, item.regex)
    if item.name not in labels:
        return Outcome.failed(expected, "label not set", absent=True)
    actual = labels[item.name]
    wrong = mismatch(actual, item.value, item.regex)
    if wrong is not None:
        return Outcome.failed(expected, wrong)
    return Outcome.passed(actual)


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Image labels (image target only)."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {"description": "Label key.", "type": "string", "minLength": 1},
    "value": {"description": "Exact value.", "type": "string"},
    "regex": {"description": "Regex the whole value must match.", "type": "string"},
}


# No gatherer: labels come from the engine's inspect of the image, not from the probe.
KIND = Kind(
    section="labels",
    report_order=40,
    key="name",
    argname="label",
    test="test_label",
    item=Label,
    evaluate=evaluate,
    patterns={"regex": "regex"},
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
