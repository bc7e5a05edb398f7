"""files: exists, type, permission bits, owner, content regex."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.kinds.base import Item, Kind


@dataclass(frozen=True, kw_only=True)
class File(Item):
    path: str
    type: str | None = None
    mode: str | None = None
    owner: str | None = None
    content: str | None = None


def evaluate(item: File, ctx: Context) -> Outcome:
    found = (ctx.facts.get("files") or {}).get(item.path)
    parts = ["exists"]
    if item.type:
        parts.append(f"type {item.type}")
    if item.mode:
        parts.append(f"mode {int(item.mode, 8):04o}")
    if item.owner:
        parts.append(f"owner {item.owner}")
    if item.content:
        parts.append(f"content matching /{item.content}/")
    expected = ", ".join(parts)
    if not found or not found.get("exists"):
        return Outcome.failed(expected, f"absent ({(found or {}).get('error', 'not probed')})", absent=True)
    if found.get("dangling"):
        return Outcome.failed(expected, f"dangling symlink to {found.get('link_target')}")
    actual_type = found.get("type") if item.type == "symlink" else found.get("target_type")
    if item.type and actual_type != item.type:
        return Outcome.failed(expected, f"type {actual_type}")
    if item.mode and int(found.get("mode", "0"), 8) != int(item.mode, 8):
        return Outcome.failed(expected, f"mode {found.get('mode')}")
    if item.owner and found.get("owner") != item.owner:
        return Outcome.failed(expected, f"owner {found.get('owner')}")
    if item.content:
        content = found.get("content")
        if content is None:
            return Outcome.failed(expected, f"content unreadable: {found.get('content_error', 'not a file')}")
        if not re.search(item.content, content, re.M):
            return Outcome.failed(expected, f"content without a match (first 200 chars: {content[:200]!r})")
    return Outcome.passed()


def request(items: Sequence[File]) -> dict[str, Any]:
    """One stat per path; the content only where a content check needs it."""
    files: dict[str, bool] = {}
    for f in items:
        files[f.path] = files.get(f.path, False) or f.content is not None
    return {"files": [{"path": p, "content": c} for p, c in files.items()]}


KIND = Kind(section="files", key="path", argname="file", test="test_file", item=File, evaluate=evaluate,
            request=request, gatherer="files", patterns={"content": "regex"}, attr="files_")
