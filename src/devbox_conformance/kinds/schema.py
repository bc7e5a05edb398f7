"""The expectations' JSON Schema, derived from the kind declarations; `schema.json` is written from it.

    >>> build()["properties"]["binaries"]["items"]["else"]
    {'$ref': '#/$defs/binaries'}

Why derived: the schema listed every kind and its fields a second time, and drifted. Each kind module declares
its section's description and its own fields (SCHEMA_FIELDS); the fields every item takes, the group form
(`{when: {...}, items: [...]}`) and the top level are here. The loader validates against `build()`; the
file beside it (for editors: `# yaml-language-server: $schema=./schema.json`) is written by
`python -m devbox_conformance.kinds.schema`, and a unit test fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devbox_conformance.kinds import all_kinds
from devbox_conformance.kinds.base import Kind

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.json"

TOP: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/gpu-devbox/expectations.schema.json",
    "title": "gpu-devbox expectations",
    "description": "The contract a gpu-devbox image must meet. Files: common.yaml, <arch>.yaml overlays, "
    "bases/<kind>.yaml. Items merge by kind and key (`name`, or `path` for files): a later "
    "file replaces the fields it gives, `remove: true` drops the item. Inside a kind's "
    "list, `{when: {...}, items: [...]}` is a group: its items inherit the group's `when`.",
    "type": "object",
    "additionalProperties": False,
}

# The package sets (one list file each under packages/apt and packages/pip; a unit test keeps them equal).
# Why an enum: a typo in `when: {sets: [...]}` would make the item never apply on any build, silently.
KNOWN_SETS: tuple[str, ...] = (
    "base-tools",
    "dev-tools",
    "gpu-tools",
    "fun-tools",
    "shell",
    "python-core",
    "python-extras",
)

REMOVE: dict[str, Any] = {
    "description": "Keys to drop from EVERY kind an earlier file (the extended contract, or an earlier "
    "overlay) defines them in: `remove: [nvtop]` drops binaries[nvtop] and packages[nvtop] "
    "alike. A key no earlier item has is an error.",
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "minLength": 1},
}

EXTENDS: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "description": "Contract this one builds on: 'gpu-devbox' (the one shipped with the suite) or a "
    "directory path relative to this file. Only in common.yaml (an arch or base overlay "
    "that gives it is an error); its files are merged first, then this directory's.",
}

WHEN: dict[str, Any] = {
    "description": "Check this item only when every condition holds for the TARGET (never the machine "
    "running pytest); otherwise the test is skipped naming the unmet fact. In a group, an "
    "item's own `when` keys are added to the group's, and a key both give takes the item's "
    "value.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "arch": {
            "description": "Target architectures this item applies to.",
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["amd64", "arm64"]},
        },
        "cuda": {
            "description": "true: only when the target's torch is built with CUDA (read "
            "from torch/version.py); false: only without.",
            "type": "boolean",
        },
        "gpu": {
            "description": "true: only when a GPU is visible in the target (/dev/nvidia0 "
            "or nvidia-smi -L); false: only without.",
            "type": "boolean",
        },
        "sets": {
            "description": "Package sets that must be included in the build (from the "
            "build manifest). Unknown when the target has no manifest: "
            "then the item is checked.",
            "type": "array",
            "minItems": 1,
            "items": {"enum": list(KNOWN_SETS)},
        },
        "base": {
            "description": "Base kinds this item applies to.",
            "type": "array",
            "minItems": 1,
            "items": {"enum": ["ngc", "standin", "other"]},
        },
    },
}

# Fields every item takes, after the kind's own.
COMMON_FIELDS: dict[str, Any] = {
    "optional": {
        "description": "true: when the item is absent the test is skipped with `reason` (never passed).",
        "type": "boolean",
    },
    "reason": {
        "description": "Why the item may be absent (shown in the skip message).",
        "type": "string",
        "minLength": 1,
    },
    "when": {"$ref": "#/$defs/when"},
    "remove": {
        "description": "In an overlay: drop the item with this key that an earlier file defined.",
        "type": "boolean",
    },
    "note": {"description": "Free text for humans; ignored by the checks.", "type": "string"},
}
GROUP_TEXT = (
    "A group: its `items` share one `when:` (each item may add or override keys of it). Groups do not nest."
)


def group_form(kind: Kind) -> dict[str, Any]:
    """The section: a list whose entries are items, or groups of items sharing one `when:`."""
    ref = {"$ref": f"#/$defs/{kind.section}"}
    return {
        "description": kind.description,
        "type": "array",
        "items": {
            "description": "An item, or a group of items sharing one `when:` ({when: {...}, items: [...]}).",
            "if": {"type": "object", "required": ["items"]},
            "then": {
                "description": GROUP_TEXT,
                "type": "object",
                "additionalProperties": False,
                "required": ["when", "items"],
                "properties": {
                    "when": {"$ref": "#/$defs/when"},
                    "items": {
                        "description": f"Items of {kind.section}, each as it would be outside the group.",
                        "type": "array",
                        "minItems": 1,
                        "items": ref,
                    },
                    "note": COMMON_FIELDS["note"],
                },
            },
            "else": ref,
        },
    }


# Bounds on numeric fields, by field name, for every kind: a limit the probe must honour is finite and sane
# (a timeout of 1e20 s was an OverflowError in the target that took every item of the host down; 0 or a
# negative one never runs the item). The loader refuses NaN and infinities before the schema runs.
MAX_SECONDS = 86_400
LIMITS: dict[str, dict[str, Any]] = {
    "timeout": {"exclusiveMinimum": 0, "maximum": MAX_SECONDS},
    "import_timeout": {"exclusiveMinimum": 0, "maximum": MAX_SECONDS},
    "max_entries": {"minimum": 1, "maximum": 100_000_000},
}
# Any other integer field (uid, gid, exit_code, count) fits in 32 bits.
INTEGER_RANGE: dict[str, Any] = {"minimum": -(2**31), "maximum": 2**32 - 1}


def bounded(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The field's schema with LIMITS (or INTEGER_RANGE) added where the kind gave no bound of its own."""
    types = spec.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "number" not in types and "integer" not in types:
        return dict(spec)
    limits = LIMITS.get(name) or (INTEGER_RANGE if "integer" in types else {"maximum": MAX_SECONDS})
    out = dict(spec)
    has_low = "minimum" in spec or "exclusiveMinimum" in spec
    has_high = "maximum" in spec or "exclusiveMaximum" in spec
    for key, value in limits.items():
        if (key.endswith("inimum") and not has_low) or (key.endswith("aximum") and not has_high):
            out[key] = value
    return out


def definition(kind: Kind) -> dict[str, Any]:
    """One item of the kind: its own fields (numbers bounded), then the common ones; no other key."""
    own = {name: bounded(name, spec) for name, spec in kind.schema_fields.items()}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [kind.key, *kind.schema_required],
        "properties": {**own, **COMMON_FIELDS},
    }


def build() -> dict[str, Any]:
    """The whole schema, kinds in report order."""
    kinds = all_kinds()
    return {
        **TOP,
        "properties": {"extends": EXTENDS, "remove": REMOVE, **{k.section: group_form(k) for k in kinds}},
        "$defs": {"when": WHEN, **{k.section: definition(k) for k in kinds}},
    }


def render() -> str:
    """schema.json's text: two-space indent, UTF-8 as is, one newline at the end."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write schema.json (`--check`: exit 1 when it is stale instead)."""
    if "--check" in argv:
        stale = SCHEMA_FILE.read_text(encoding="utf-8") != render()
        if stale:
            print(f"{SCHEMA_FILE} is stale: run python -m devbox_conformance.kinds.schema")
        return 1 if stale else 0
    SCHEMA_FILE.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
