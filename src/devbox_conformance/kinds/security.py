"""security: named checks over trees of the target — no world-writable entry, no setuid/setgid file outside an
allow-list, no private key or credentials file baked in.

    security:
      - name: no-world-writable
        check: world_writable       # world-writable entries (directories with the sticky bit aside)
        paths: [/etc, /usr/local/bin, /root]
      - name: setuid-allow-list
        check: setuid               # setuid or setgid regular files outside `allow`
        paths: [/usr/bin, /usr/sbin, /usr/lib]
        allow: [/usr/bin/sudo, "/usr/lib/*-linux-gnu/utempter/utempter"]

Why a kind: the other kinds check what an image has; these check what it must not have, which no list of
paths can name in advance, so each item walks its trees in the one probe (intarget/security.py, a pool job
that overlaps the long gatherers). A walk never follows a symlink nor leaves the file system of its
starting path, and stops at `max_entries`: a walk that stopped fails its item rather than pass on what it
did not see, and so does an entry it could not read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

CHECKS = ("world_writable", "setuid", "secrets")
# The in-target walk's default cap (intarget/security.py DEFAULT_MAX_ENTRIES): a big base's /usr/local and
# /usr/lib hold a few hundred thousand entries.
DEFAULT_MAX_ENTRIES = 1_000_000
# Paths shown in a failure (the gatherer keeps up to 50; the count is exact).
SHOWN = 10
# What each check forbids, for the message's "expected:" and "found:" lines.
WHAT = {
    "world_writable": ("no world-writable entry (directories with the sticky bit aside)", "world-writable"),
    "setuid": ("no setuid or setgid file", "setuid/setgid"),
    "secrets": ("no private key or credentials file", "secret"),
}


@dataclass(frozen=True, kw_only=True)
class SecurityCheck(Item):
    name: str
    # world_writable, setuid or secrets.
    check: str
    # Absolute paths walked (each on its own file system); one that does not exist holds nothing wrong.
    paths: tuple[str, ...]
    # Exceptions: exact paths or fnmatch globs (`*` also matches `/`).
    allow: tuple[str, ...] = ()
    # Directories not walked (fnmatch globs on the path): trees that cannot hold what the check looks for.
    prune: tuple[str, ...] = ()
    # Entries one walk visits at most; past it the item fails as truncated.
    max_entries: int = DEFAULT_MAX_ENTRIES


def _expected(item: SecurityCheck) -> str:
    allow = f", except {len(item.allow)} allowed" if item.allow else ""
    allow += f", not under {', '.join(item.prune)}" if item.prune else ""
    return (
        f"{WHAT[item.check][0]} under {', '.join(item.paths)}{allow} "
        f"(symlinks not followed, one file system each, at most {item.max_entries} entries)"
    )


def _listing(found: Mapping[str, Any]) -> str:
    """The first SHOWN findings, one per line under the `found:` line, and how many more there are."""
    entries = list(found.get("found") or [])[:SHOWN]
    count = int(found.get("found_count") or len(entries))
    lines = [f"\n          {e.get('path')} ({e.get('what')})" for e in entries]
    if count > len(entries):
        lines.append(f"\n          ... and {count - len(entries)} more")
    return "".join(lines)


def evaluate(item: SecurityCheck, ctx: Context) -> Outcome:
    found = (ctx.facts.get("security") or {}).get(item.name)
    expected = _expected(item)
    if not isinstance(found, dict):
        return Outcome.failed(expected, "not probed (the probe was not asked for it, or is older)")
    if found.get("error"):
        return Outcome.failed(expected, f"the walk did not run: {found['error']}")
    problems: list[str] = []
    # Counts are at least what the lists hold: a count the gatherer failed to keep must not hide a finding.
    count = max(int(found.get("found_count") or 0), len(found.get("found") or []))
    if count:
        noun = WHAT[item.check][1]
        problems.append(
            f"{count} {noun} {'entry' if count == 1 else 'entries'}"
            + (" outside the allow-list" if item.allow else "")
            + ":"
            + _listing(found)
        )
    if found.get("truncated"):
        problems.append(
            f"the walk was truncated ({found['truncated']}, {found.get('visited')} entries "
            "visited): the rest was not checked; raise max_entries or narrow paths"
        )
    error_count = max(int(found.get("error_count") or 0), len(found.get("errors") or []))
    if error_count:
        errors = "; ".join(found.get("errors") or [])
        problems.append(f"{error_count} entries could not be read (is the probe root?): {errors}")
    missing = set(found.get("missing") or [])
    walked = [p for p in item.paths if p not in missing]
    if walked and not found.get("visited"):
        # A walk counts its starting paths, so an existing path and nothing visited is a walk that did not
        # happen (or was not reported): nothing under it was checked.
        problems.append(f"the walk visited no entry under {', '.join(walked)}: nothing was checked")
    if problems:
        return Outcome.failed(expected, "\n          ".join(problems))
    note = f"{found.get('visited')} entries in {found.get('seconds')} s ({found.get('method')})"
    if found.get("allowed_count"):
        note += f", {found['allowed_count']} allowed"
    if found.get("missing"):
        note += f", absent: {', '.join(found['missing'])}"
    return Outcome.passed(note)


def request(items: Sequence[SecurityCheck]) -> dict[str, Any]:
    return {
        "security": [
            {
                "name": s.name,
                "check": s.check,
                "paths": list(s.paths),
                "allow": list(s.allow),
                "prune": list(s.prune),
                "max_entries": s.max_entries,
            }
            for s in items
        ]
    }


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = (
    "Security checks, each a bounded walk of paths in the target (symlinks not followed, one file system "
    "per path): world-writable entries, setuid/setgid files outside an allow-list, private keys and "
    "credentials files."
)
_ABSOLUTE = {"type": "string", "pattern": "^/"}
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "Test id of the check (test_security[<name>]).",
        "type": "string",
        "minLength": 1,
    },
    "check": {
        "description": "world_writable: no world-writable entry (a directory with the sticky bit "
        "aside); setuid: no setuid or setgid regular file; secrets: no ssh private "
        "key (.ssh/id_* but *.pub), ssh host key (ssh_host_*_key), credentials file "
        "(.netrc, .git-credentials, .pypirc, .aws/credentials, .config/gh/hosts.yml, "
        'Hugging Face tokens, a Docker config.json with "auths" credentials, ...) and '
        "no small file that starts with a PEM private key (files with a source, "
        "document or archive extension are not read).",
        "enum": list(CHECKS),
    },
    "paths": {
        "description": "Absolute paths walked; each stays on its own file system. A path that does "
        "not exist holds nothing wrong.",
        "type": "array",
        "minItems": 1,
        "items": _ABSOLUTE,
    },
    "allow": {
        "description": "Exceptions: exact paths or fnmatch globs (`*` also matches `/`). Say why "
        "in a comment.",
        "type": "array",
        "items": {"type": "string", "minLength": 1},
    },
    "prune": {
        "description": "Directories not walked (each is still judged itself): fnmatch globs on the "
        "path (`*/dist-packages`; `*`, `?`, `[...]`, `[!...]`; no backslash nor `[:class:]`, which find "
        "and the fallback walk read differently). For trees that cannot hold what the check looks for; "
        "say why in a comment.",
        "type": "array",
        "items": {"type": "string", "minLength": 1, "pattern": "^(?!.*\\[:)[^\\\\]*$"},
    },
    "max_entries": {
        "description": f"Entries one walk visits at most (default {DEFAULT_MAX_ENTRIES}); a "
        "walk stopped there fails its item as truncated.",
        "type": "integer",
        "minimum": 1,
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    """Each walk stops at the in-target walk's own limit."""
    from devbox_conformance.intarget.security import TIMEOUT_S as WALK_S  # noqa: PLC0415

    return [WALK_S for _ in request.get("security") or []]


KIND = Kind(
    section="security",
    report_order=140,
    key="name",
    argname="security_check",
    test="test_security",
    item=SecurityCheck,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="security",
    probe_priority=1,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
    schema_required=("check", "paths"),
)
