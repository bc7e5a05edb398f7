"""binaries: the command is on PATH and, when asked, its version satisfies a PEP 440 specifier."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.expectations import Binary

# The first dotted number in a version banner ("ripgrep 13.0.0", "git version 2.39.5", "v0.24.0").
_DEFAULT_VERSION = re.compile(r"(?<![\w.])v?(\d+(?:\.\d+)+)")


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
    raw = extract_version(output, item.version_regex)
    if raw is None:
        args = " ".join(item.version_args)
        return Outcome.failed(expected, f"{found['path']}, no version in `{item.name} {args}` output: "
                              f"{output.strip()[:200]!r}")
    try:
        version = Version(raw)
    except InvalidVersion:
        return Outcome.failed(expected, f"{found['path']}, version {raw!r} is not PEP 440")
    if not item.version.contains(version, prereleases=True):
        return Outcome.failed(expected, f"{found['path']}, version {version}")
    return Outcome.passed(f"{found['path']} {version}")
