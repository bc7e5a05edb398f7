"""Waivers: a known failure accepted for a while, in writing, and visible in every report.

    # waivers.yaml, beside the team's expectations (or --waivers FILE)
    waivers:
      - id: test_binary[nvtop]              # the test id as pytest shows it
        justification: nvtop 3.1 crashes on our driver; back when the fix ships (TICKET-123)
        expires: 2027-01-31                 # the last day it applies
        scope: {arch: amd64}                # optional: arch, gpu (model name), image (sha256: digest)
      - id: python[transformers]            # the release gate's ids: apt[NAME], python[NAME]
        justification: 4.57 breaks our eval harness
        expires: 2026-12-31

    >>> book = load(Path("waivers.yaml"))
    >>> book[0].id, book[0].expires
    ('test_binary[nvtop]', datetime.date(2027, 1, 31))

A waiver only ever turns a FAILURE of its item into "waived" (never a pass, skip or error into anything); an
expired one leaves the failure a failure and says so; one that matched no failing item is stale. The same
file serves the suite (test ids) and the release gate (`apt[...]`, `python[...]`), so a team keeps one list.
Why a date is required: a waiver without an end is an allow-list nobody reads again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from devbox_conformance import expectations as exp
from devbox_conformance import yamlfile

FILE_NAME = "waivers.yaml"
SCHEMA_PATH = Path(__file__).with_name("waivers.schema.json")
# Overrides today's date (ISO, YYYY-MM-DD): for tests, and to reproduce a past run's verdicts.
TODAY_ENV = "DEVBOX_TODAY"
# Ids of the release gate (`apt[libfoo]`, `python[transformers]`): not test ids, never stale in a suite run.
GATE_SECTIONS = ("apt", "python")
_GATE_ID = re.compile(r"^(apt|python)\[(.+)\]$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SCOPES = ("arch", "gpu", "image")


class WaiverError(exp.ExpectationsError):
    """A bad waivers file or clock; str() is one line: `file:line: key: what is wrong`."""


def _one_or_many(item: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1}]}


def schema() -> dict[str, Any]:
    """The JSON Schema of a waivers file; waivers.schema.json is the same text, written for editors."""
    text = {"type": "string", "minLength": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gpu-devbox waivers",
        "description": "Failures accepted for a while: each with a justification and an expiry date.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "waivers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "justification", "expires"],
                    "properties": {
                        "id": {
                            **text,
                            "description": "test id as pytest shows it (test_binary[nvtop]); for the release "
                            "gate apt[NAME] or python[NAME]",
                        },
                        "host": {**text, "description": "only this host of a multi-host run (ssh://node1)"},
                        "justification": {**text, "description": "why this failure is accepted (required)"},
                        "expires": {
                            "type": "string",
                            "pattern": _DATE.pattern,
                            "description": "last day the waiver applies, YYYY-MM-DD; after it the failure "
                            "fails again, saying the waiver expired",
                        },
                        "scope": {
                            "type": "object",
                            "additionalProperties": False,
                            "minProperties": 1,
                            "description": "where the waiver applies; outside it the failure stays",
                            "properties": {
                                "arch": _one_or_many({"enum": list(exp.KNOWN_ARCHS)}),
                                "gpu": _one_or_many(
                                    {**text, "description": "GPU model, as nvidia-smi names it"}
                                ),
                                "image": _one_or_many({"type": "string", "pattern": _DIGEST.pattern}),
                            },
                        },
                    },
                },
            }
        },
    }


@dataclass(frozen=True)
class Scope:
    """What a host offers a waiver's scope: its arch, GPU model names and image digests (unknown: empty)."""

    arch: str | None = None
    gpus: tuple[str, ...] = ()
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class Waiver:
    """One entry of a waivers file."""

    id: str
    justification: str
    expires: dt.date
    # `file:line` of the entry, shown wherever the waiver is.
    source: str
    host: str | None = None
    arch: tuple[str, ...] = ()
    gpu: tuple[str, ...] = ()
    image: tuple[str, ...] = ()

    def expired(self, today: dt.date) -> bool:
        """True after its `expires` day (the day itself is still covered)."""
        return today > self.expires

    def in_scope(self, scope: Scope) -> bool:
        """Every scope key given must hold; a fact the host cannot tell (no GPU, no image) never holds."""
        if self.arch and scope.arch not in self.arch:
            return False
        if self.gpu and not set(self.gpu) & set(scope.gpus):
            return False
        return not (self.image and not set(self.image) & set(scope.images))

    def gate_key(self) -> tuple[str, str] | None:
        """(section, name) for a release-gate id (`apt[libfoo]`), else None."""
        match = _GATE_ID.match(self.id)
        return (match.group(1), match.group(2).strip()) if match else None

    def scope_json(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in _SCOPES if getattr(self, k)}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "justification": self.justification,
            "expires": self.expires.isoformat(),
            "scope": self.scope_json(),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Waiver:
        scope = data.get("scope") or {}
        return cls(
            id=data["id"],
            justification=data["justification"],
            expires=dt.date.fromisoformat(data["expires"]),
            source=data["source"],
            host=data.get("host"),
            **{k: tuple(scope.get(k) or ()) for k in _SCOPES},
        )

    def describe(self) -> str:
        """`test_binary[nvtop] on ssh://n1 (arch amd64)`: what the waiver covers, in one phrase."""
        where = f" on {self.host}" if self.host else ""
        scope = ", ".join(f"{k} {'|'.join(v)}" for k, v in self.scope_json().items())
        return f"{self.id}{where}" + (f" ({scope})" if scope else "")


class _Loader(yamlfile.UniqueKeys, yaml.SafeLoader):
    """Safe loader whose dates stay text: `expires: 2027-02-30` is then our one line, not PyYAML's crash."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


def load(path: Path | str) -> tuple[Waiver, ...]:
    """Read and validate a waivers file; every problem is one WaiverError line naming file and line."""
    path = Path(path)
    shown = yamlfile.display(path)
    data, node = yamlfile.read(path, WaiverError, fast=_Loader, pure=_Loader)
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise WaiverError(f"{shown}:1: (top level): expected a mapping with `waivers:`, a list of entries")
    yamlfile.schema_check(shown, schema(), data, node, WaiverError, _reword)
    out: list[Waiver] = []
    seen: dict[tuple[Any, ...], str] = {}
    for index, raw in enumerate(data.get("waivers") or []):
        waiver = _entry(shown, node, ["waivers", index], raw)
        key = (waiver.id, waiver.host, waiver.arch, waiver.gpu, waiver.image)
        if key in seen:
            raise WaiverError(
                f"{waiver.source}: waivers[{index}]: duplicate waiver {waiver.describe()} "
                f"(first at {seen[key]})"
            )
        seen[key] = waiver.source
        out.append(waiver)
    return tuple(out)


def _reword(err: jsonschema.ValidationError, parts: list[Any], msg: str) -> str:
    if err.validator == "pattern" and parts[-1:] == ["expires"]:
        return f"expected a date YYYY-MM-DD, got {err.instance!r}"
    return "must not be empty" if err.validator == "minLength" else msg


def _entry(shown: str, node: yaml.Node | None, at: list[Any], raw: dict[str, Any]) -> Waiver:
    """One schema-valid entry as a Waiver; what the schema cannot say (a blank reason, a date that is not
    one, a gate waiver with a scope) is one line here."""
    line = yamlfile.line_of(node, at)
    where = f"{shown}:{{}}: {yamlfile.dotted(at)}"
    if not raw["justification"].strip():
        bad = yamlfile.line_of(node, [*at, "justification"])
        raise WaiverError(f"{where.format(bad)}.justification: must say why (it is blank)")
    try:
        expires = dt.date.fromisoformat(raw["expires"])
    except ValueError:
        bad = yamlfile.line_of(node, [*at, "expires"])
        raise WaiverError(f"{where.format(bad)}.expires: not a date: {raw['expires']!r}") from None
    scope = raw.get("scope") or {}
    waiver = Waiver(
        id=raw["id"].strip(),
        justification=" ".join(raw["justification"].split()),
        expires=expires,
        source=f"{shown}:{line}",
        host=raw.get("host"),
        **{k: _strings(scope[k]) for k in _SCOPES if k in scope},
    )
    if waiver.gate_key() and (waiver.host or waiver.scope_json()):
        raise WaiverError(
            f"{where.format(line)}: {waiver.id}: a release-gate waiver takes no host or scope "
            "(the gate compares every arch with one list)"
        )
    return waiver


def today(environ: Mapping[str, str] | None = None) -> dt.date:
    """Today, or DEVBOX_TODAY (YYYY-MM-DD) when set: a test's fixed clock, or a past run reproduced."""
    value = (os.environ if environ is None else environ).get(TODAY_ENV, "").strip()
    if not value:
        return dt.date.today()
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise WaiverError(f"{TODAY_ENV}={value!r}: expected a date YYYY-MM-DD") from None


def suite_waivers(waivers: Iterable[Waiver]) -> tuple[Waiver, ...]:
    """The waivers of test ids (the release gate's `apt[…]`/`python[…]` ids left to the gate)."""
    return tuple(w for w in waivers if w.gate_key() is None)


def choose(
    waivers: Iterable[Waiver], names: Iterable[str], host: str | None, scope: Scope, on: dt.date
) -> Waiver | None:
    """The waiver that covers a failure of the test `names` (its id spellings) on `host`, or None.

    Of several in scope, a valid one wins over an expired one, the latest end first: an expired waiver is
    chosen only when nothing valid covers the failure, and then the failure stays red, saying so.
    """
    wanted = set(names)
    found = [
        w
        for w in waivers
        if w.id in wanted
        and (w.host is None or w.host == host)
        and w.gate_key() is None
        and w.in_scope(scope)
    ]
    if not found:
        return None
    return max(found, key=lambda w: (not w.expired(on), w.expires))


def scope_of(arch: str | None, image_attrs: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> Scope:
    """A host's scope facts: arch, GPU models nvidia-smi named (GPU or node facts), image id and digests."""
    gpus: list[str] = []
    for holder in ((facts.get("gpu_facts") or {}).get("smi"), (facts.get("node_facts") or {}).get("base")):
        rows = holder.get("gpus") if isinstance(holder, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("name"):
                gpus.append(str(row["name"]).strip())
    images: list[str] = []
    attrs = image_attrs or {}
    for value in [attrs.get("Id"), *(attrs.get("RepoDigests") or [])]:
        if isinstance(value, str) and "sha256:" in value:
            images.append(value[value.index("sha256:") :])
    return Scope(arch=arch, gpus=tuple(gpus), images=tuple(images))


def locate(option: str | None, expectations_dir: str, invocation_dir: Path) -> Path | None:
    """--waivers FILE (relative to where pytest was started; must exist), else waivers.yaml beside the
    expectations when there is one."""
    if option:
        path = Path(option)
        path = path if path.is_absolute() else invocation_dir / path
        if not path.is_file():
            raise WaiverError(f"--waivers {option}: no such file")
        return path
    beside = Path(expectations_dir) / FILE_NAME
    return beside if beside.is_file() else None


def id_spellings(name: str, key: str | None, host_only: bool) -> tuple[str, ...]:
    """The ids a waiver may give for a test: as pytest shows it, and without the host of a multi-host run
    (`test_binary[nvtop]` for `test_binary[ssh://n1-nvtop]`; `test_x` for `test_x[ssh://n1]`)."""
    func = name.split("[", 1)[0]
    names = [name]
    if key is not None:
        names.append(f"{func}[{key}]")
    if host_only:
        names.append(func)
    return tuple(dict.fromkeys(names))


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(json.dumps(schema(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python -m devbox_conformance.waivers: rewrite waivers.schema.json
    write_schema()
