"""Explanations from the build manifest (/etc/devbox/build-manifest.json): never used to decide an outcome.

>>> explain({"sets": {"gpu-tools": {"included": True, "skipped": [{"name": "nvtop", "reason": "no
... candidate for arm64"}]}}}, "binaries", item)
'build manifest: nvtop skipped at build (gpu-tools): no candidate for arm64'
"""

from __future__ import annotations

import re
from typing import Any

from devbox_conformance.expectations import Item, Package


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(item: Item) -> list[str]:
    names = [getattr(item, "package", None), getattr(item, "name", None)]
    if isinstance(item, Package):
        names = [item.name.partition(":")[0]]  # libc6:amd64 -> libc6, as the set lists name it
    return [_norm(n) for n in names if n]


def explain(manifest: Any, kind: str, item: Item) -> str | None:
    """Why the build left this item out, in one line, or None when the manifest says nothing about it."""
    if not isinstance(manifest, dict) or kind not in ("binaries", "packages", "python_dists"):
        return None
    wanted = _names(item)
    for feature, state in (manifest.get("features") or {}).items():
        if _norm(feature) in wanted and isinstance(state, dict) and state.get("state") != "installed":
            why = state.get("reason", "no reason given")
            return f"build manifest: feature {feature} {state.get('state')}: {why}"
    for set_name, entry in (manifest.get("sets") or {}).items():
        if isinstance(entry, dict):
            why = _set_left_out(set_name, entry, wanted) or (
                _apt_was_installed(set_name, entry, wanted) if kind == "packages" else None
            )
            if why:
                return why
    return None


def _set_left_out(set_name: str, entry: dict[str, Any], wanted: list[str]) -> str | None:
    """The set was not included, or skipped this item at build."""
    requested = [_norm(re.split(r"[<>=!~\[; ]", str(r), maxsplit=1)[0]) for r in entry.get("requested") or []]
    if not entry.get("included") and any(n in requested for n in wanted):
        return f"build manifest: set {set_name} not included ({entry.get('reason', 'no reason given')})"
    for skipped in entry.get("skipped") or []:
        name = skipped.get("name") if isinstance(skipped, dict) else skipped
        if name and _norm(str(name)) in wanted:
            reason = skipped.get("reason", "no reason given") if isinstance(skipped, dict) else "skipped"
            return f"build manifest: {name} skipped at build ({set_name}): {reason}"
    return None


def _apt_was_installed(set_name: str, entry: dict[str, Any], wanted: list[str]) -> str | None:
    """dpkg's record is the package itself: one the set had installed is not what it was at build."""
    if entry.get("kind") != "apt":
        return None
    for field, how in (("installed", "installed"), ("preinstalled", "in the base")):
        done = entry.get(field) if isinstance(entry.get(field), list) else []
        name = next((n for n in done if _norm(str(n)) in wanted), None)
        if name:
            return (
                f"build manifest: {name} {how} at build ({set_name}), so a later layer or this "
                f"container removed or broke it"
            )
    return None
