"""env: environment variables a process in the target sees."""

from __future__ import annotations

from dataclasses import dataclass

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


# The gatherer reports the probe's whole environment: the request names nothing.
KIND = Kind(section="env", key="name", argname="env_var", test="test_env", item=EnvVar, evaluate=evaluate,
            gatherer="env", patterns={"regex": "regex"})
