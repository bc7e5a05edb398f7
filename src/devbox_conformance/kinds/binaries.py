"""binaries: the command is on PATH and, when asked, its version satisfies a PEP 440 specifier."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class Binary(Item):
    name: str
    package: str | None = None
    version: SpecifierSet | None = None
    version_args: tuple[str, ...] = ("--version",)
    version_regex: str | None = None


# The first dotted number in a version banner ("ripgrep 13.0.0", "git version 2.39.5", "v0.24.0"), with
# the pre-release, post-release or dev suffix that follows it ("14.0.0rc1", "3.25.0-rc2", "1.2.0-beta.3"):
# dropping it would read a release candidate as its release, and `>=14.0` would pass on 14.0.0rc1. A suffix
# must end the word, and a one-letter one needs its number: "5.1.2amd64" is 5.1.2 and tmux's "3.3a" (a
# release after 3.3) is 3.3, not 3.3a0.
_DEFAULT_VERSION = re.compile(
    r"(?<![\w.])v?(\d+(?:\.\d+)+"
    r"(?:[-.]?(?:(?:rc|alpha|beta|preview|pre|dev|post)\.?\d*|[abc]\.?\d+)(?![A-Za-z0-9]))?)"
)


def extract_version(output: str, regex: str | None = None) -> str | None:
    """The version in a `--version` output: `extract_version("git version 2.39.5")` -> "2.39.5"."""
    match = re.search(regex, output, re.M) if regex else _DEFAULT_VERSION.search(output)
    if not match:
        return None
    return match.group(1) if match.groups() else match.group(0)


def evaluate(item: Binary, ctx: Context) -> Outcome:
    found = (ctx.facts.get("binaries") or {}).get(item.name) or {}
    expected = "on PATH" + (f", version {item.version}" if item.version else "")
    if not found.get("path"):
        return Outcome.failed(expected, "not on PATH", absent=True)
    if not item.version:
        return Outcome.passed(found["path"])
    output = found.get("version_output") or ""
    if found.get("error"):
        return Outcome.failed(expected, f"{found['path']}, version unknown: {found['error']}")
    code = found.get("version_exit_code")
    if code not in (None, 0):
        # A failed version command may still print a number (a usage line, the banner before a crash):
        # that is not a version the tool stands behind.
        args = " ".join(item.version_args)
        return Outcome.failed(
            expected,
            f"{found['path']}, `{item.name} {args}` failed with exit code {code}: {output.strip()[:200]!r}",
        )
    raw = extract_version(output, item.version_regex)
    if raw is None:
        args = " ".join(item.version_args)
        return Outcome.failed(
            expected, f"{found['path']}, no version in `{item.name} {args}` output: {output.strip()[:200]!r}"
        )
    try:
        version = Version(raw)
    except InvalidVersion:
        return Outcome.failed(expected, f"{found['path']}, version {raw!r} is not PEP 440")
    if not item.version.contains(version, prereleases=True):
        return Outcome.failed(expected, f"{found['path']}, version {version}")
    return Outcome.passed(f"{found['path']} {version}")


def request(items: Sequence[Binary]) -> dict[str, Any]:
    """which for each; the version command only where a version is checked."""
    return {
        "binaries": [
            {
                "name": b.name,
                "version_args": list(b.version_args) if b.version or b.version_regex else [],
                "timeout": 30,
            }
            for b in items
        ]
    }


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {"version": SpecifierSet(raw["version"])} if "version" in raw else {}


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Commands that must be on PATH, optionally with a version constraint."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {"description": "Command name looked up on PATH (e.g. rg).", "type": "string", "minLength": 1},
    "package": {
        "description": "Package that provides it (apt name), used to explain a failure from the "
        "build manifest.",
        "type": "string",
    },
    "version": {
        "description": "PEP 440 version specifier the version found must satisfy, e.g. '>=2.30'.",
        "type": "string",
        "minLength": 1,
    },
    "version_args": {
        "description": "Arguments that make the command print its version (default: --version).",
        "type": "array",
        "items": {"type": "string"},
    },
    "version_regex": {
        "description": "Regex whose first group is the version in that output (default: "
        "first dotted number).",
        "type": "string",
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    return [float(b.get("timeout", 30)) for b in request.get("binaries") or []]


KIND = Kind(
    section="binaries",
    report_order=10,
    key="name",
    argname="binary",
    test="test_binary",
    item=Binary,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="binaries",
    patterns={"version": "specifier", "version_regex": "regex"},
    convert=convert,
    probe_priority=2,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
