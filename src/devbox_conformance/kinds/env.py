"""env: environment variables a process in the target sees, or (in_config: true) the image config's Env.

Why both: the probe's process inherits what `docker exec` or ssh gives it; the config's Env is what the
image itself promises every process (an entrypoint, a CMD, a job runner that does not start a login), so a
variable set only by a profile script passes the first and fails the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds._match import describe, mismatch
from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class EnvVar(Item):
    name: str
    value: str | None = None
    regex: str | None = None
    # False: the probe's environment; True: the image config's Env (image targets only).
    in_config: bool = False


def config_env(image_attrs: dict[str, Any]) -> dict[str, str]:
    """The image config's Env ("K=V" entries) as a mapping."""
    entries = (image_attrs.get("Config") or {}).get("Env") or []
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in entries)


def evaluate(item: EnvVar, ctx: Context) -> Outcome:
    if item.in_config:
        if ctx.image_attrs is None:
            return Outcome.skipped(f"env from the image config; the {ctx.target_kind} target has no image")
        env = config_env(ctx.image_attrs)
    else:
        env = ctx.facts.get("env") or {}
    expected = describe(item.value, item.regex)
    if item.in_config:
        expected += " in the image config's Env"
    if item.name not in env:
        return Outcome.failed(expected, "not set", absent=True)
    wrong = mismatch(env[item.name], item.value, item.regex)
    if wrong is not None:
        return Outcome.failed(expected, wrong)
    return Outcome.passed(env[item.name])


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Environment variables seen by a process in the target."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {"description": "Variable name.", "type": "string", "minLength": 1},
    "value": {"description": "Exact value.", "type": "string"},
    "regex": {"description": "Regex the whole value must match.", "type": "string"},
    "in_config": {
        "description": "true: check the image config's Env, what the image gives every process "
        "(image targets only); false (default): the environment a process started "
        "in the target sees.",
        "type": "boolean",
    },
}


# The gatherer reports the probe's whole environment: the request names nothing.
KIND = Kind(
    section="env",
    report_order=50,
    key="name",
    argname="env_var",
    test="test_env",
    item=EnvVar,
    evaluate=evaluate,
    gatherer="env",
    patterns={"regex": "regex"},
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
