"""`release --against REF`: nothing a team relies on may go missing or backwards unnoticed.

The contract only holds minimums, so transformers going from 4.57 to 4.46 (still above its `>=`) passes
it. This gate compares the new image with the last release: an apt package or Python distribution that
disappeared, went down in version, or changed to a version that cannot be ordered against the old one (not
a version of its kind; a PEP 440 local label alone, `+ecf3` -> `+df5b`) fails the release, unless the
allow-list names it with a reason. The reason is the point: a downgrade someone chose is written down
beside the release, one nobody chose stops it. A Debian binNMU (`1.4g-1+b1` -> `1.4g-1`) is a rebuild of
the same source and passes.

What the gate cannot judge refuses it, and no allow-list entry accepts that: a side whose dpkg database or
Python distributions could not be read (never taken as "nothing installed"), or two images of different
architectures. apt entries name a foreign architecture's package as `name:arch` (`apt: libgomp1:i386`).

Allow-list: a waivers file (see docs/SUITE.md, "Waivers"), the same format and file a team's suite run reads;
the gate takes the entries whose id is `apt[NAME]` or `python[NAME]`, and an expired one allows nothing:

    waivers:
      - id: python[transformers]
        justification: 4.57 breaks our eval harness; back to 4.46 until it is fixed upstream
        expires: 2027-01-31

The older form is still read (a deprecation line says so):

    # Regressions this release accepts against the last one.
    allow:
      - python: transformers
        reason: 4.57 breaks our eval harness; back to 4.46 until it is fixed upstream
      - apt: media-types
        reason: nothing in the image reads /etc/mime.types

    >>> allowed = load_allow(Path("allow.yaml"))
    >>> verdict = judge(diff(last, new), allowed)
    >>> verdict.ok, [c.name for c in verdict.blocking]
    (False, ['torch'])
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox_build.errors import UsageError
from devbox_build.imagediff import facts, render
from devbox_build.imagediff.compare import Change, ImageDiff, diff

# Sections the gate guards, as the allow-list names them.
GUARDED = ("apt", "python")
REGRESSIONS = ("removed", "downgraded")


def is_regression(change: Change) -> bool:
    """Gone, down, or changed beyond ordering: nobody can say the last one is not a downgrade."""
    return change.section in GUARDED and (change.change in REGRESSIONS or change.unordered)


@dataclass(frozen=True)
class Allowance:
    """One allow-list entry: a package or distribution allowed to go missing or down, and why."""

    section: str
    name: str
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The gate's answer for one image."""

    # Regressions nobody allowed: each fails the release.
    blocking: tuple[Change, ...]
    # Regressions the allow-list names, with the entry that allows them.
    allowed: tuple[tuple[Change, Allowance], ...]
    # Entries that matched nothing (stale; reported, never fatal).
    unused: tuple[Allowance, ...]
    # What the gate could not judge (an unreadable side, an arch mismatch): each refuses the release.
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.blocking and not self.errors


def load_allow(path: Path) -> tuple[Allowance, ...]:
    """Read an allow-list; a bad one is one UsageError line naming the file and the entry."""
    import yaml  # noqa: PLC0415 - only a release with --allow reads YAML

    if _WAIVERS_FILE.search(_text_or_empty(path)):  # the waivers format: its own loader, its own lines
        return allowances_from_waivers(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--allow {path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UsageError(f"--allow {path}:{mark.line + 1 if mark else 1}: malformed YAML") from None
    if data is None:
        return ()
    warn(
        f"--allow {path}: the `allow:` list is deprecated; write it as waivers "
        "(`id: python[NAME]`, `justification`, `expires`; docs/SUITE.md, Waivers)"
    )
    if not isinstance(data, dict) or set(data) != {"allow"} or not isinstance(data["allow"], list):
        raise UsageError(f"--allow {path}: expected one key, `allow:`, holding a list of entries")
    return tuple(_allowance(f"--allow {path}: entry {i}", e) for i, e in enumerate(data["allow"], start=1))


def _allowance(where: str, entry: Any) -> Allowance:
    """One entry of the deprecated `allow:` list: exactly one of apt/python, and a reason."""
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a mapping such as {{python: NAME, reason: WHY}}")
    kinds = [k for k in GUARDED if k in entry]
    extra = sorted(set(entry) - {*GUARDED, "reason"})
    if len(kinds) != 1 or extra:
        raise UsageError(
            f"{where}: give exactly one of `apt:` or `python:` and a `reason:`"
            + (f" (unknown keys: {', '.join(extra)})" if extra else "")
        )
    reason = str(entry.get("reason") or "").strip()
    if not reason:
        raise UsageError(f"{where}: `reason:` is required: say why this regression is accepted")
    name = str(entry[kinds[0]]).strip()
    if kinds[0] == "python":
        from devbox_conformance.api import normalize_dist as normalize  # noqa: PLC0415

        name = normalize(name)
    return Allowance(kinds[0], name, reason)


# A waivers file names `waivers:` at its top level (an allow-list, `allow:`).
_WAIVERS_FILE = re.compile(r"^waivers\s*:", re.MULTILINE)


def _text_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # the read below says why, in its own words


def warn(line: str) -> None:
    print(line, file=sys.stderr)


def allowances_from_waivers(path: Path, warn: Callable[[str], None] = warn) -> tuple[Allowance, ...]:
    """The release gate's allow-list from a waivers file: its `apt[NAME]` / `python[NAME]` entries that have
    not expired (today, or DEVBOX_TODAY). An expired one allows nothing and says so; test ids are the
    suite's and are left to it."""
    from devbox_conformance import api  # noqa: PLC0415 - only a release with --allow reads waivers

    normalize = api.normalize_dist
    try:
        entries, today = api.load_waivers(path), api.waiver_today()
    except api.WaiverError as exc:
        raise UsageError(str(exc)) from None
    out = []
    for waiver in entries:
        key = waiver.gate_key()
        if key is None:
            continue
        if waiver.expired(today):
            warn(
                f"{waiver.source}: waiver {waiver.id} expired on {waiver.expires}: "
                "it no longer allows a regression"
            )
            continue
        name = normalize(key[1]) if key[0] == "python" else key[1]
        out.append(
            Allowance(key[0], name, f"{waiver.justification} (until {waiver.expires}, {waiver.source})")
        )
    return tuple(out)


def judge(d: ImageDiff, allowed: tuple[Allowance, ...]) -> Verdict:
    """Split the diff's regressions into blocking and allowed ones (pure)."""
    by_key = {(a.section, a.name): a for a in allowed}
    blocking, ok, used = [], [], set()
    for change in d.changes:
        if not is_regression(change):
            continue
        allowance = by_key.get((change.section, change.name))
        if allowance is None:
            blocking.append(change)
        else:
            ok.append((change, allowance))
            used.add((change.section, change.name))
    unused = tuple(a for a in allowed if (a.section, a.name) not in used)
    errors = [*d.errors, *([f"architecture mismatch: {d.arch_mismatch}"] if d.arch_mismatch else [])]
    return Verdict(blocking=tuple(blocking), allowed=tuple(ok), unused=unused, errors=tuple(errors))


def describe(change: Change) -> str:
    """`python transformers 4.57.1 -> 4.46.0 (downgraded)`; a reason follows the kind when there is one."""
    kind = f"{change.change}: {change.reason}" if change.reason else change.change
    return f"{change.section} {change.name} {change.old or '-'} -> {change.new or '-'} ({kind})"


def release_gate(
    refs: dict[str, str],
    against: str,
    allowed: tuple[Allowance, ...],
    results_dir: Path,
    expectations_dir: Path,
    progress: Callable[[str], None] = print,
) -> bool:
    """Compare each arch's new image with AGAINST's same platform; write the diff beside the results.

    Returns True when no arch has a blocking regression. `against-<arch>.md` (the release notes) and
    `against-<arch>.json` are written for every arch, green or not.
    """
    ok = True
    for arch, ref in refs.items():
        progress(f"== against {arch}: {against} (linux/{arch}) -> {ref}")
        old, new = facts.gather_pair(
            against,
            ref,
            platform=f"linux/{arch}",
            pull="missing",
            expectations_dir=expectations_dir,
            progress=progress,
        )
        d = diff(old, new)
        notes = results_dir / f"against-{arch}.md"
        notes.write_text(render.markdown(d), encoding="utf-8")
        (results_dir / f"against-{arch}.json").write_text(render.as_json(d), encoding="utf-8")
        verdict = judge(d, allowed)
        for change, allowance in verdict.allowed:
            progress(f"   allowed {describe(change)}: {allowance.reason}")
        for change in verdict.blocking:
            progress(f"   REGRESSION {describe(change)}")
        for allowance in verdict.unused:
            progress(f"   note: allow-list entry {allowance.section}: {allowance.name} matched nothing")
        for error in verdict.errors:
            progress(f"   REFUSED {error}")
        state = "green"
        if verdict.errors:
            state = f"RED ({len(verdict.errors)} thing(s) could not be compared; no allow-list accepts that)"
        elif not verdict.ok:
            state = f"RED ({len(verdict.blocking)} regression(s) not in the allow-list)"
        progress(f"== against {arch}: {state}; {render.text(d).rstrip().splitlines()[-1]}; diff: {notes}")
        ok = ok and verdict.ok
    return ok
