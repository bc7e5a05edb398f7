"""The diff of two ImageFacts: per item added / removed / upgraded / downgraded / changed, and sizes.

Pure: facts in, `ImageDiff` out, so every view and the release gate are tested without an engine.

    >>> d = diff(old, new)
    >>> [(c.section, c.name, c.change) for c in d.changes]
    [('apt', 'media-types', 'removed'), ('python', 'transformers', 'downgraded')]

Versions are ordered by what made them: dpkg's rules for apt packages (`debversion`), PEP 440 for Python
distributions and binaries (`packaging`). Where a version cannot be ordered it is `changed`, never guessed.
Layers are matched by their instruction (build args dropped), in order, so a layer that grew is one row
with both sizes; layers that add no bytes (ENV, LABEL, …) are left to the config sections.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from devbox_build.imagediff import debversion
from devbox_build.imagediff.facts import ImageFacts, Layer

# Section -> its heading in the Markdown view; the order is the report order.
SECTIONS = {
    "apt": "apt packages",
    "python": "Python distributions",
    "binaries": "Binaries",
    "labels": "Labels",
    "env": "Environment",
    "config": "Image config",
}
CHANGES = ("added", "removed", "upgraded", "downgraded", "changed")


@dataclass(frozen=True)
class Change:
    """One item that differs between the two images."""

    # A key of SECTIONS.
    section: str
    name: str
    # One of CHANGES.
    change: str
    # The value in the old (A) and new (B) image; None where the item is absent.
    old: str | None
    new: str | None


@dataclass(frozen=True)
class LayerRow:
    """One layer of either image, matched by instruction; a side is None where that image lacks it."""

    instruction: str
    old: int | None
    new: int | None

    @property
    def delta(self) -> int:
        return (self.new or 0) - (self.old or 0)

    @property
    def change(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed" if self.old != self.new else "same"


@dataclass(frozen=True)
class ImageDiff:
    """What changed from `old` (A, e.g. the last release) to `new` (B)."""

    old: ImageFacts
    new: ImageFacts
    changes: tuple[Change, ...]
    # Every non-empty layer of either image, in build order.
    layers: tuple[LayerRow, ...]

    @property
    def size_delta(self) -> int:
        return self.new.size - self.old.size

    @property
    def changed_layers(self) -> tuple[LayerRow, ...]:
        return tuple(row for row in self.layers if row.change != "same")

    @property
    def differs(self) -> bool:
        """True when anything differs: an item, the total size or a layer (exit 1, like `diff`)."""
        return bool(self.changes or self.size_delta or self.changed_layers)

    def counts(self) -> dict[str, int]:
        """How many changes of each kind: {"added": 1, "removed": 0, …} in CHANGES order."""
        return {kind: sum(1 for c in self.changes if c.change == kind) for kind in CHANGES}


def _pep440(a: str, b: str) -> int | None:
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        return None
    return (va > vb) - (va < vb)


def _debian(a: str, b: str) -> int | None:
    try:
        return debversion.compare(a, b)
    except debversion.DebVersionError:
        return None


def _versions(
    section: str, old: dict[str, str], new: dict[str, str], order: Callable[[str, str], int | None]
) -> list[Change]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            out.append(Change(section, name, "added" if a is None else "removed", a, b))
            continue
        cmp = order(a, b) if a and b else None
        kind = "changed" if not cmp else ("upgraded" if cmp < 0 else "downgraded")
        out.append(Change(section, name, kind, a, b))
    return out


def _values(section: str, old: dict[str, str], new: dict[str, str]) -> list[Change]:
    """Labels, environment, config: a value is added, removed or changed (empty counts as absent)."""
    out = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name) or None, new.get(name) or None
        if section != "config":  # a label or variable set to "" is still set
            a, b = old.get(name), new.get(name)
        if a == b:
            continue
        kind = "added" if a is None else "removed" if b is None else "changed"
        out.append(Change(section, name, kind, a, b))
    return out


def match_layers(old: tuple[Layer, ...], new: tuple[Layer, ...]) -> tuple[LayerRow, ...]:
    """Non-empty layers of both images paired by instruction, in order (difflib's matching blocks).

    A layer whose instruction text changed is the old layer removed and a new one added: that is what
    happened to the build cache, and the rows say which line of the Dockerfile moved the size.
    """
    a = [layer for layer in old if layer.size]
    b = [layer for layer in new if layer.size]
    rows: list[LayerRow] = []
    matcher = difflib.SequenceMatcher(
        a=[x.instruction for x in a], b=[x.instruction for x in b], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [LayerRow(x.instruction, x.size, y.size) for x, y in zip(a[i1:i2], b[j1:j2], strict=True)]
            continue
        rows += [LayerRow(x.instruction, x.size, None) for x in a[i1:i2]]
        rows += [LayerRow(y.instruction, None, y.size) for y in b[j1:j2]]
    return tuple(rows)


def diff(old: ImageFacts, new: ImageFacts) -> ImageDiff:
    """Every difference from `old` to `new`, section by section (see module docstring)."""
    changes = [
        *_versions("apt", old.packages, new.packages, _debian),
        *_versions("python", old.dists, new.dists, _pep440),
        *_versions("binaries", old.binaries, new.binaries, _pep440),
        *_values("labels", old.labels, new.labels),
        *_values("env", old.env, new.env),
        *_values("config", old.config, new.config),
    ]
    return ImageDiff(old=old, new=new, changes=tuple(changes), layers=match_layers(old.layers, new.layers))
