"""files: exists (or must not), type, permission bits, owner and group, symlink target, content (regex,
substrings that must or must not appear), SHA-256 of the whole file.

The probe reads the first `max_content` bytes (1 MiB unless the item says). A content check on a file that
holds more fails its item with that reason, unless what was read decides it soundly: a `contains` text that
is found there is in the whole file too; a regex or a `not_contains` over a part never passes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

# Bytes of content the probe reads and the checks judge, unless the item sets `max_content`.
DEFAULT_MAX_CONTENT = 1 << 20
MAX_MAX_CONTENT = 256 << 20


@dataclass(frozen=True, kw_only=True)
class File(Item):
    path: str
    type: str | None = None
    mode: str | None = None
    owner: str | None = None
    content: str | None = None
    # False: the path must not exist (nothing else is checked).
    exists: bool = True
    group: str | None = None
    # Lower-case hex SHA-256 of the whole file.
    sha256: str | None = None
    # What the symlink points to (readlink), exactly.
    target: str | None = None
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    # Bytes of content read and judged; a content check on a longer file fails (it would judge a part).
    max_content: int = DEFAULT_MAX_CONTENT

    @property
    def reads_content(self) -> bool:
        return self.content is not None or bool(self.contains) or bool(self.not_contains)


def evaluate(item: File, ctx: Context) -> Outcome:
    found = (ctx.facts.get("files") or {}).get(item.path)
    if not item.exists:
        if found is None:
            return Outcome.failed("absent", "not probed")
        if found.get("exists"):
            return Outcome.failed("absent", f"exists ({found.get('type')})")
        return Outcome.passed("absent")
    expected = _expected(item)
    if not found or not found.get("exists"):
        return Outcome.failed(expected, f"absent ({(found or {}).get('error', 'not probed')})", absent=True)
    # The first problem, in this order, is the one reported.
    for judge in (_entry_problem, _content_problem, _link_problem, _substring_problem, _checksum_problem):
        problem = judge(item, found)
        if problem:
            return Outcome.failed(expected, problem)
    return Outcome.passed()


def _expected(item: File) -> str:
    parts = ["exists"]
    if item.type:
        parts.append(f"type {item.type}")
    if item.mode:
        parts.append(f"mode {int(item.mode, 8):04o}")
    if item.owner:
        parts.append(f"owner {item.owner}")
    if item.content:
        parts.append(f"content matching /{item.content}/")
    if item.group:
        parts.append(f"group {item.group}")
    if item.target:
        parts.append(f"symlink to {item.target}")
    parts += [f"content containing {c!r}" for c in item.contains]
    parts += [f"content without {c!r}" for c in item.not_contains]
    if item.sha256:
        parts.append(f"sha256 {item.sha256}")
    return ", ".join(parts)


def _entry_problem(item: File, found: Mapping[str, Any]) -> str | None:
    """What the directory entry says: a dangling link, the type, mode, owner and group."""
    if found.get("dangling"):
        return f"dangling symlink to {found.get('link_target')}"
    actual_type = found.get("type") if item.type == "symlink" else found.get("target_type")
    if item.type and actual_type != item.type:
        return f"type {actual_type}"
    if item.mode and int(found.get("mode", "0"), 8) != int(item.mode, 8):
        return f"mode {found.get('mode')}"
    if item.owner and found.get("owner") != item.owner:
        return f"owner {found.get('owner')}"
    return None


def _content_problem(item: File, found: Mapping[str, Any]) -> str | None:
    if not item.content:
        return None
    content = found.get("content")
    if content is None:
        return f"content unreadable: {found.get('content_error', 'not a file')}"
    cut = cut_reason(found)
    if cut:
        return cut
    if not re.search(item.content, content, re.M):
        return f"content without a match (first 200 chars: {content[:200]!r})"
    return None


def _link_problem(item: File, found: Mapping[str, Any]) -> str | None:
    """The group, and the symlink's target (fields added after the first five)."""
    if item.group and found.get("group") != item.group:
        return f"group {found.get('group')}"
    if item.target is None:
        return None
    if "link_target" not in found:
        return f"not a symlink (type {found.get('type')})"
    if found["link_target"] != item.target:
        return f"symlink to {found['link_target']}"
    return None


def _substring_problem(item: File, found: Mapping[str, Any]) -> str | None:
    if not (item.contains or item.not_contains):
        return None
    content = found.get("content")
    if content is None:
        return f"content unreadable: {found.get('content_error', 'not a file')}"
    missing = [c for c in item.contains if c not in content]
    present = [c for c in item.not_contains if c in content]
    problems = [f"lacks {c!r}" for c in missing] + [f"holds {c!r}" for c in present]
    cut = cut_reason(found)
    # Over a part, a text found is found in the whole; a text not found may lie past what was read.
    if cut and (missing or item.not_contains):
        problems = [f"holds {c!r}" for c in present] + [cut]
    return "; ".join(problems) or None


def _checksum_problem(item: File, found: Mapping[str, Any]) -> str | None:
    if not item.sha256:
        return None
    actual = found.get("sha256")
    if actual is None:
        return f"no checksum: {found.get('sha256_error', 'not a file')}"
    return f"sha256 {actual}" if actual != item.sha256 else None


def cut_reason(found: Mapping[str, Any]) -> str | None:
    """Why the content the probe read is not the whole file, or None when it is."""
    if not found.get("content_truncated"):
        return None
    read = found.get("content_read")
    if not isinstance(read, int):
        return "the content was cut by the probe; only its start was read (raise max_content)"
    size = found.get("size")
    whole = f"is {size} bytes" if isinstance(size, int) and size > read else f"holds more than {read} bytes"
    return f"the file {whole}; only the first {read} were judged (raise max_content)"


def request(items: Sequence[File]) -> dict[str, Any]:
    """One stat per path; the content (as much as the largest `max_content` of its items asks) and the
    checksum only where a check needs them."""
    files: dict[str, dict[str, Any]] = {}
    for f in items:
        spec = files.setdefault(f.path, {"path": f.path, "content": False})
        spec["content"] = spec["content"] or f.reads_content
        if f.reads_content:
            spec["max_content"] = max(spec.get("max_content", 0), f.max_content)
        if f.sha256:
            spec["sha256"] = True
    return {"files": list(files.values())}


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    """`contains` / `not_contains` take one string or a list; a checksum compares in lower case."""
    out: dict[str, Any] = {}
    for name in ("contains", "not_contains"):
        if name in raw:
            value = raw[name]
            out[name] = (value,) if isinstance(value, str) else tuple(value)
    if "sha256" in raw:
        out["sha256"] = raw["sha256"].lower()
    return out


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Files and directories."
SCHEMA_FIELDS: dict[str, Any] = {
    "path": {"description": "Absolute path.", "type": "string", "minLength": 1},
    "type": {
        "description": "Expected type (a symlink counts as the type it points to unless 'symlink' is asked).",
        "enum": ["file", "directory", "symlink"],
    },
    "mode": {
        "description": "Permission bits in octal, e.g. '0755'.",
        "type": "string",
        "pattern": "^0?[0-7]{3,4}$",
    },
    "owner": {"description": "Owning user name.", "type": "string"},
    "content": {
        "description": "Regex searched in the content (a file longer than max_content fails).",
        "type": "string",
    },
    "exists": {
        "description": "false: the path must not exist (lstat fails); nothing else is checked.",
        "type": "boolean",
    },
    "group": {"description": "Group name of the file.", "type": "string", "minLength": 1},
    "sha256": {
        "description": "SHA-256 of the whole file (hex).",
        "type": "string",
        "pattern": "^[0-9a-fA-F]{64}$",
    },
    "target": {
        "description": "What the symlink points to (its readlink text), exactly.",
        "type": "string",
        "minLength": 1,
    },
    "contains": {
        "description": "Text (or list of texts) the file must hold (found within max_content).",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        ],
    },
    "not_contains": {
        "description": "Text (or list of texts) the file must not hold (a file longer than max_content "
        "fails).",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        ],
    },
    "max_content": {
        "description": "Bytes of the file read and judged by content, contains and not_contains (default "
        "1048576: 1 MiB). A longer file fails them, except a `contains` text found in what was read.",
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_MAX_CONTENT,
    },
}


KIND = Kind(
    section="files",
    report_order=60,
    key="path",
    argname="file",
    test="test_file",
    item=File,
    evaluate=evaluate,
    request=request,
    gatherer="files",
    patterns={"content": "regex"},
    convert=convert,
    attr="files_",
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
