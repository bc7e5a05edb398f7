"""image_config: CMD, ENTRYPOINT, WORKDIR, USER, exposed ports and volumes from the engine's image config;
HEALTHCHECK present and the run's container reaching `healthy` within the image's own timing."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds._match import describe, matches
from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class ImageConfig(Item):
    name: str
    value: str | tuple[str, ...] | None = None
    regex: str | None = None
    healthy: bool = False


_FIELDS = {"cmd": "Cmd", "entrypoint": "Entrypoint", "workdir": "WorkingDir", "user": "User"}
# Sets in the config (keys of a mapping): the item lists them all, `[]` for none - an EXPOSE or VOLUME a
# later layer or base added is a change of what the image offers, so the comparison is exact.
_SETS = {"exposed_ports": "ExposedPorts", "volumes": "Volumes"}
_NS = 1e9
# The host's fact the run gathers after the probe (devbox_conformance.health): {"healthy": bool, "seen": str}.
HEALTH_FACT = "container_health"


def health_budget(health: dict[str, Any]) -> float:
    """Seconds the engine may need to call a container healthy: start period + retries x (interval + timeout).

    Docker's defaults apply to fields left at 0 (interval 30 s, timeout 30 s, retries 3, start period 0).
    """
    interval = (health.get("Interval") or 30 * _NS) / _NS
    timeout = (health.get("Timeout") or 30 * _NS) / _NS
    retries = health.get("Retries") or 3
    start = (health.get("StartPeriod") or 0) / _NS
    return start + retries * (interval + timeout)


def evaluate(item: ImageConfig, ctx: Context) -> Outcome:
    if ctx.image_attrs is None:
        return Outcome.skipped(f"image config; the {ctx.target_kind} target has no image")
    config = ctx.image_attrs.get("Config") or {}
    if item.name == "healthcheck":
        return _healthcheck(item, config, ctx)
    if item.name in _SETS:
        return _set_field(item, config)
    actual = config.get(_FIELDS[item.name])
    value = list(item.value) if isinstance(item.value, tuple) else item.value
    expected = describe(value, item.regex)
    if actual in (None, "", []):
        return Outcome.failed(expected, f"{item.name.upper()} not set", absent=True)
    shown = " ".join(actual) if isinstance(actual, list) else str(actual)
    if value is not None and actual != value and not (isinstance(value, str) and same_argv(value, actual)):
        return Outcome.failed(expected, repr(actual))
    if not matches(shown, None, item.regex):
        return Outcome.failed(expected, repr(actual))
    return Outcome.passed(shown)


def same_argv(value: str, actual: object) -> bool:
    """A string value read as shell words names the exec-form list `actual`.

    Why not the list joined with spaces: ["bash", "-lc", "sleep", "infinity"] and ["bash", "-lc", "sleep
    infinity"] join to the same text and run different programs; `bash -lc 'sleep infinity'` names only the
    second. A value that is not valid shell words names nothing.
    """
    if not isinstance(actual, list):
        return False
    try:
        return shlex.split(value) == actual
    except ValueError:
        return False


def _health_command_matches(test: list[str], value: str | tuple[str, ...] | None) -> bool:
    """The HEALTHCHECK's command is the item's value, in the form the engine runs it.

    CMD-SHELL ["CMD-SHELL", "x || exit 1"] runs its one string with /bin/sh -c: a string value is that string.
    CMD ["CMD", "x", "y"] runs its argv with no shell: a string value must split (as shell words) into that
    argv, a list value must be it. Joining the argv with spaces would let `["CMD", "x || exit 1"]` (a program
    named "x || exit 1", never healthy) pass for the value `x || exit 1`.
    """
    if value is None:
        return True
    if test[0] == "CMD-SHELL":
        return isinstance(value, str) and test[1:] == [value]
    argv = test[1:] if test[0] == "CMD" else test
    return list(value) == argv if isinstance(value, tuple) else same_argv(value, argv)


def _set_field(item: ImageConfig, config: dict[str, Any]) -> Outcome:
    actual = sorted((config.get(_SETS[item.name]) or {}).keys())
    wanted = [item.value] if isinstance(item.value, str) else sorted(item.value or ())
    if item.value is not None and actual != wanted:
        return Outcome.failed(f"{item.name}: {wanted or 'none'}", f"{actual or 'none'}")
    shown = " ".join(actual) or "none"
    if not matches(shown, None, item.regex):
        return Outcome.failed(describe(None, item.regex), repr(shown))
    return Outcome.passed(shown)


def _healthcheck(item: ImageConfig, config: dict[str, Any], ctx: Context) -> Outcome:
    health = config.get("Healthcheck") or {}
    test = health.get("Test") or []
    expected = "HEALTHCHECK set" + (", container reaches healthy" if item.healthy else "")
    if not test or test[0] == "NONE":
        return Outcome.failed(expected, "no HEALTHCHECK in the image config", absent=True)
    shown = " ".join(test[1:]) if test[0] in ("CMD", "CMD-SHELL") else " ".join(test)
    if not _health_command_matches(test, item.value) or not matches(shown, None, item.regex):
        value = list(item.value) if isinstance(item.value, tuple) else item.value
        return Outcome.failed(describe(value, item.regex), repr(test))
    if not item.healthy:
        return Outcome.passed(shown)
    # Gathered after the probe where the run has a container (devbox_conformance.health).
    state = ctx.facts.get(HEALTH_FACT)
    if not isinstance(state, dict):
        return Outcome.skipped(f"healthy: needs a container; the {ctx.target_kind} target has none")
    if state.get("healthy") is not True:  # only the engine's own yes passes; anything else is a no
        budget = health_budget(health)
        return Outcome.failed(expected + f" within {budget:.0f} s", f"{shown!r}: {state.get('seen')}")
    return Outcome.passed(shown)


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Image configuration from the engine (image target only)."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "cmd, workdir, entrypoint, user, exposed_ports, volumes or healthcheck.",
        "type": "string",
        "minLength": 1,
        "enum": ["cmd", "workdir", "entrypoint", "user", "exposed_ports", "volumes", "healthcheck"],
    },
    "value": {
        "description": "Exact value: a string, or a list for cmd/entrypoint; for exposed_ports "
        "(e.g. 22/tcp) and volumes every one the image has, [] for none.",
        "type": ["string", "array"],
        "items": {"type": "string"},
    },
    "regex": {"description": "Regex the value (list joined with spaces) must match.", "type": "string"},
    "healthy": {
        "description": "healthcheck only: the container started for the run must reach `healthy` "
        "within the image's own HEALTHCHECK timing.",
        "type": "boolean",
    },
}


# No gatherer: the image config comes from the engine's inspect; only `healthy` waits on the container.
KIND = Kind(
    section="image_config",
    report_order=100,
    key="name",
    argname="image_config",
    test="test_image_config",
    item=ImageConfig,
    evaluate=evaluate,
    patterns={"regex": "regex"},
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
