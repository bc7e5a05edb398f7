"""The three views of an ImageDiff: a terminal table, Markdown for release notes, JSON for tools.

Pure and deterministic (no terminal width, no clock), so each format has a golden file
(selftests/fixtures/diff/) and a change to a view is a reviewed change to its golden.

    >>> print(text(d))
    A  gpu-devbox:2026.11  5e86678ebf01  2026-11-01T07:00:00Z  8.08 GB
    …
"""

from __future__ import annotations

import json
from typing import Any

from devbox_build.imagediff.compare import SECTIONS, Change, ImageDiff
from devbox_build.imagediff.facts import ImageFacts

JSON_SCHEMA_VERSION = 1
# Longest value or instruction a table cell shows; JSON always has the whole text.
VALUE_WIDTH = 60
INSTRUCTION_WIDTH = 72
ABSENT = "-"
_NAME_HEAD = {
    "apt": "package",
    "python": "distribution",
    "binaries": "binary",
    "labels": "label",
    "env": "variable",
    "config": "setting",
}


def human_size(size: int, signed: bool = False) -> str:
    """Bytes in decimal units as the engine prints them: `human_size(1234567)` -> "1.23 MB"."""
    sign = ("+" if size > 0 else "-" if size < 0 else "") if signed else ("-" if size < 0 else "")
    value = float(abs(size))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            text = f"{value:.0f}" if unit == "B" else f"{value:.3g}" if value < 100 else f"{value:.0f}"
            return f"{sign}{text} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _date(created: str) -> str:
    """The engine's creation time to the second: 2026-12-01T11:45:45.578708398Z -> 2026-12-01T11:45:45Z."""
    if not created:
        return ABSENT
    head, dot, _rest = created.partition(".")
    return head + "Z" if dot and created.endswith("Z") else created


def _short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12] or ABSENT


def _cut(value: str | None, width: int) -> str:
    if value is None:
        return ABSENT
    if value == "":
        return '""'
    value = " ".join(value.split()) if "\n" in value else value
    return value if len(value) <= width else value[: width - 1] + "…"


def _summary(d: ImageDiff) -> str:
    if not d.differs:
        return "no differences"
    counts = ", ".join(f"{n} {kind}" for kind, n in d.counts().items() if n)
    items = f"{len(d.changes)} change{'s' if len(d.changes) != 1 else ''}"
    items += f" ({counts})" if counts else ""
    layers = len(d.changed_layers)
    arch = f"architecture {d.old.arch} -> {d.new.arch}; " if d.arch_mismatch else ""
    return f"{arch}{items}; {layers} layer{'s' if layers != 1 else ''} differ{'s' if layers == 1 else ''}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _header_rows(d: ImageDiff) -> list[list[str]]:
    def row(side: str, f: ImageFacts) -> list[str]:
        return [
            side,
            f.ref,
            _short_id(f.image_id),
            f.digest or "(no digest)",
            _date(f.created),
            human_size(f.size),
        ]

    return [row("A", d.old), row("B", d.new)]


def warnings(d: ImageDiff) -> list[str]:
    """What makes this diff incomplete or not like-for-like, one line each; shown first in every view."""
    lines = [f"ERROR: {error}" for error in d.errors]
    if d.arch_mismatch:
        lines.append(f"ARCHITECTURE MISMATCH: {d.arch_mismatch}")
    return lines


def text(d: ImageDiff) -> str:
    """The terminal view: both images, one row per change, the size and the layers that moved."""
    lines = _table(_header_rows(d))
    if warnings(d):
        lines += ["", *warnings(d)]
    if d.changes:
        # The NOTE column (why a version is `changed` or `rebuilt`) only when some change has one.
        notes = any(c.reason for c in d.changes)
        rows = [["SECTION", "NAME", "CHANGE", "A", "B", *(["NOTE"] if notes else [])]]
        rows += [
            [
                c.section,
                c.name,
                c.change,
                _cut(c.old, VALUE_WIDTH),
                _cut(c.new, VALUE_WIDTH),
                *([c.reason] if notes else []),
            ]
            for c in d.changes
        ]
        lines += ["", *_table(rows)]
    lines += [
        "",
        f"size  {human_size(d.old.size)} -> {human_size(d.new.size)} "
        f"({human_size(d.size_delta, signed=True)})",
    ]
    if d.changed_layers:
        rows = [["LAYER", "A", "B", "DELTA"]]
        rows += [
            [
                _cut(r.instruction, INSTRUCTION_WIDTH),
                ABSENT if r.old is None else human_size(r.old),
                ABSENT if r.new is None else human_size(r.new),
                human_size(r.delta, signed=True),
            ]
            for r in d.changed_layers
        ]
        lines += _table(rows)
    lines += ["", _summary(d)]
    return "\n".join(lines) + "\n"


def _md(value: str | None, width: int = VALUE_WIDTH) -> str:
    """A table cell: code span, pipes escaped; an absent value is a dash."""
    if value is None:
        return "—"
    if value == "":
        return '`""`'
    return "`" + _cut(value, width).replace("`", "'").replace("|", "\\|") + "`"


def markdown(d: ImageDiff) -> str:
    """Release notes: a header table, one table per section that changed, the size and its layers."""
    out = [
        f"## What changed: `{d.old.ref}` → `{d.new.ref}`",
        "",
        "| | image | id | digest | created | size |",
        "|---|---|---|---|---|---|",
    ]
    for side, f in (("A", d.old), ("B", d.new)):
        out.append(
            f"| {side} | {_md(f.ref)} | {_md(_short_id(f.image_id))} | "
            f"{_md(f.digest) if f.digest else '—'} | {_date(f.created)} | {human_size(f.size)} |"
        )
    out += [f"\n**{line}**" for line in warnings(d)]
    out += ["", f"**{_summary(d)}**"]
    for section, title in SECTIONS.items():
        changes = [c for c in d.changes if c.section == section]
        if not changes:
            continue
        out += ["", f"### {title}", "", f"| {_NAME_HEAD[section]} | change | A | B |", "|---|---|---|---|"]
        for c in changes:
            kind = f"{c.change}: {c.reason}" if c.reason else c.change
            out.append(f"| {_md(c.name)} | {kind} | {_md(c.old)} | {_md(c.new)} |")
    out += [
        "",
        "### Size",
        "",
        f"Total: {human_size(d.old.size)} → {human_size(d.new.size)} ({human_size(d.size_delta, True)}).",
    ]
    if d.changed_layers:
        out += ["", "| layer (instruction) | A | B | change |", "|---|---|---|---|"]
        for r in d.changed_layers:
            old = "—" if r.old is None else human_size(r.old)
            new = "—" if r.new is None else human_size(r.new)
            out.append(
                f"| {_md(r.instruction, INSTRUCTION_WIDTH)} | {old} | {new} | "
                f"{human_size(r.delta, signed=True)} |"
            )
    return "\n".join(out) + "\n"


def document(d: ImageDiff) -> dict[str, Any]:
    """The JSON view as a dict (schema_version 1); every layer of either image is listed, with its change.

    Optional keys, present only when they say something: a change's `reason` (why `changed`/`rebuilt`)
    and `unordered` (true: the versions could not be ordered), the document's `errors` (sections not
    compared) and `arch_mismatch`.
    """

    def change(c: Change) -> dict[str, Any]:
        out: dict[str, Any] = {"section": c.section, "name": c.name, "change": c.change, "old": c.old}
        out["new"] = c.new
        if c.reason:
            out["reason"] = c.reason
        if c.unordered:
            out["unordered"] = True
        return out

    def image(f: ImageFacts) -> dict[str, Any]:
        return {
            "ref": f.ref,
            "image_id": f.image_id,
            "digest": f.digest,
            "created": f.created,
            "arch": f.arch,
            "size": f.size,
        }

    doc: dict[str, Any] = {
        "schema_version": JSON_SCHEMA_VERSION,
        "old": image(d.old),
        "new": image(d.new),
    }
    if d.errors:
        doc["errors"] = list(d.errors)
    if d.arch_mismatch:
        doc["arch_mismatch"] = d.arch_mismatch
    return doc | {
        "differs": d.differs,
        "counts": d.counts(),
        "changes": [change(c) for c in d.changes],
        "size": {"old": d.old.size, "new": d.new.size, "delta": d.size_delta},
        "layers": [
            {"instruction": r.instruction, "old": r.old, "new": r.new, "delta": r.delta, "change": r.change}
            for r in d.layers
        ],
    }


def as_json(d: ImageDiff) -> str:
    return json.dumps(document(d), indent=2, sort_keys=False) + "\n"


FORMATS = {"table": text, "md": markdown, "json": as_json}
