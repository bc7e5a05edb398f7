"""env: environment variables a process in the target sees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.kinds._match import describe, matches
from devbox_conformance.kinds.base import Item, Kind


@dataclass(frozen=True, kw_only=True)
class EnvVar(Item):
    name: str
    value: str | None = None
    regex: str | None = None


def evaluate(item: EnvVar, ctx: Context) -> Outcome:
    env = ctx.facts.get("env") or {}
    expected = describe(item.value, item.regex)
    if item.name not in env:
        return Outcome.failed(expected, "not set", absent=True)
    if not matches(env[item.name], item.value, item.regex):
        return Outcome.failed(expected, repr(env[item.name]))
    return Outcome.passed(env[item.name])


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = 'Environment variables seen by a process in the target.'
SCHEMA_FIELDS: dict[str, Any] = (
    {'name': {'description': 'Variable name.', 'type': 'string', 'minLength': 1},
     'value': {'description': 'Exact value.', 'type': 'string'},
     'regex': {'description': 'Regex the whole value must match.', 'type': 'string'}}
)


# The gatherer reports the probe's whole environment: the request names nothing.
KIND = Kind(section="env", key="name", argname="env_var", test="test_env", item=EnvVar, evaluate=evaluate,
            gatherer="env", patterns={"regex": "regex"},
            description=SCHEMA_DESCRIPTION, schema_fields=SCHEMA_FIELDS)
