"""env: environment variables a process in the target sees."""

from __future__ import annotations

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.checks._match import describe, matches
from devbox_conformance.expectations import EnvVar


def evaluate(item: EnvVar, ctx: Context) -> Outcome:
    env = ctx.facts.get("env") or {}
    expected = describe(item.value, item.regex)
    if item.name not in env:
        return Outcome.failed(expected, "not set", absent=True)
    if not matches(env[item.name], item.value, item.regex):
        return Outcome.failed(expected, repr(env[item.name]))
    return Outcome.passed(env[item.name])
