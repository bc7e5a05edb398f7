"""The diff of two ImageFacts: per item added / removed / upgraded / downgraded / changed, and sizes.

Pure: facts in, `ImageDiff` out, so every view and the release gate are tested without an engine.

    >>> d = diff(old, new)
    >>> [(c.section, c.name, c.change) for c in d.changes]
    [('apt', 'media-types', 'removed'), ('python', 'transformers', 'downgraded')]

Versions are ordered by what made them: dpkg's rules for apt packages (`debversion`), PEP 440 for Python
distributions and binaries (`packaging`). Nothing is guessed:

- a pair that cannot be ordered (not a version of that kind, or two PEP 440 versions that differ only in
  their local label, `2.6.0a0+ecf3` -> `2.6.0a0+df5b`: two builds, whose labels say nothing of which is
  newer) is `changed` with `unordered` set and a reason; the release gate blocks it unless allowed;
- a Debian version that differs only in its binNMU suffix (`1.4g-1+b1` -> `1.4g-1`: the same source
  rebuilt for one architecture) is `rebuilt`, never up or down;
- two spellings of one version (`1.0` and `1.0.0`) are `changed`, ordered and harmless.

apt packages are keyed by name and architecture (see facts.package_keys): `libgomp1` is the image's own
architecture's (or `all`), `libgomp1:i386` a foreign one, so adding i386 adds a row and removes none.
Either side's section that could not be read is not compared: it is an error of the diff (`errors`),
never an empty side.
Layers are matched by their instruction (build args dropped), in order, so a layer that grew is one row
with both sizes; layers that add no bytes (ENV, LABEL, …) are left to the config sections.
"""

from __future__ import annotations

import difflib
import re
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
CHANGES = ("added", "removed", "upgraded", "downgraded", "rebuilt", "changed")
# Debian's binNMU suffix: a rebuild of the same source for one architecture (`1.4g-1+b1`, native `2.0+b3`).
_BINNMU = re.compile(r"\+b[0-9]+$")


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
    # Why a version change is `changed` or `rebuilt` rather than up or down ("" otherwise).
    reason: str = ""
    # True when the two versions could not be put in order: nobody can say it is not a downgrade.
    unordered: bool = False


@dataclass(frozen=True)
class Order:
    """How two versions of one item relate: `kind` is upgraded, downgraded, rebuilt or changed."""

    kind: str
    reason: str = ""
    unordered: bool = False


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
    # What could not be compared, one line each (a side's section unreadable): the diff is incomplete.
    errors: tuple[str, ...] = ()

    @property
    def arch_mismatch(self) -> str:
        """One line when A and B are images of different architectures ("" when they are not)."""
        if self.old.arch == self.new.arch:
            return ""
        return (
            f"A is {self.old.arch or 'of no recorded architecture'} and B is "
            f"{self.new.arch or 'of no recorded architecture'}: versions differ by architecture, so this "
            f"is not a release-to-release diff (compare one platform: --platform linux/ARCH)"
        )

    @property
    def size_delta(self) -> int:
        return self.new.size - self.old.size

    @property
    def changed_layers(self) -> tuple[LayerRow, ...]:
        return tuple(row for row in self.layers if row.change != "same")

    @property
    def differs(self) -> bool:
        """True when anything differs: the arch, an item, the total size or a layer (exit 1, like `diff`)."""
        return bool(self.arch_mismatch or self.changes or self.size_delta or self.changed_layers)

    def counts(self) -> dict[str, int]:
        """How many changes of each kind: {"added": 1, "removed": 0, …} in CHANGES order."""
        return {kind: sum(1 for c in self.changes if c.change == kind) for kind in CHANGES}


def _ordered(cmp: int) -> Order:
    if cmp == 0:
        return Order("changed", "the same version, written differently")
    return Order("upgraded" if cmp < 0 else "downgraded")


def pep440(a: str, b: str) -> Order:
    """How PEP 440 version `b` relates to `a`; a difference only in the local label is never ordered.

    PEP 440 orders local labels segment by segment, but a label is a build's name (a git hash, `cpu`,
    `cu121`), not a version: `+df5b` after `+ecf3` says nothing about which build is newer.
    """
    try:
        va, vb = Version(a), Version(b)
    except InvalidVersion:
        bad = [repr(v) for v in (a, b) if not _is_pep440(v)]
        what = "is not a PEP 440 version" if len(bad) == 1 else "are not PEP 440 versions"
        return Order("changed", f"cannot be ordered: {' and '.join(bad)} {what}", True)
    pa, pb = Version(va.public), Version(vb.public)
    if pa == pb and va.local != vb.local:
        shown = " -> ".join(f"+{v.local}" if v.local else "no local label" for v in (va, vb))
        return Order("changed", f"cannot be ordered: only the local label differs ({shown})", True)
    return _ordered((pa > pb) - (pa < pb))


def _is_pep440(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def debian(a: str, b: str) -> Order:
    """How Debian version `b` relates to `a` in dpkg's order; a change only in `+bN` is a rebuild."""
    try:
        cmp = debversion.compare(a, b)
    except debversion.DebVersionError as exc:
        return Order("changed", f"cannot be ordered: {exc}", True)
    base_a, base_b = _BINNMU.sub("", a), _BINNMU.sub("", b)
    if (base_a, base_b) != (a, b):
        try:
            same_source = debversion.compare(base_a, base_b) == 0
        except debversion.DebVersionError:
            same_source = False
        if same_source:
            return Order("rebuilt", "the same source version, rebuilt (only the binNMU +bN suffix differs)")
    return _ordered(cmp)


def _versions(
    section: str, old: dict[str, str], new: dict[str, str], order: Callable[[str, str], Order]
) -> list[Change]:
    out = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            out.append(Change(section, name, "added" if a is None else "removed", a, b))
            continue
        if a and b:
            how = order(a, b)
        else:
            how = Order(
                "changed", "cannot be ordered: " + ("A" if not a else "B") + " shows no version", True
            )
        out.append(Change(section, name, how.kind, a, b, how.reason, how.unordered))
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


def _unreadable(old: ImageFacts, new: ImageFacts) -> tuple[set[str], list[str]]:
    """Sections either side could not read, and one line for each side and section."""
    skip: set[str] = set()
    errors = []
    for side, f in (("A", old), ("B", new)):
        for section, why in sorted(f.unreadable.items()):
            skip.add(section)
            errors.append(
                f"{side} {f.ref}: {SECTIONS.get(section, section)} could not be read ({why}); "
                f"that section is not compared"
            )
    return skip, errors


def diff(old: ImageFacts, new: ImageFacts) -> ImageDiff:
    """Every difference from `old` to `new`, section by section (see module docstring)."""
    skip, errors = _unreadable(old, new)
    versioned = (
        ("apt", old.packages, new.packages, debian),
        ("python", old.dists, new.dists, pep440),
        ("binaries", old.binaries, new.binaries, pep440),
    )
    changes: list[Change] = []
    for section, a, b, how in versioned:
        if section not in skip:  # an unreadable side is an error above, never an empty side
            changes += _versions(section, a, b, how)
    changes += [
        *_values("labels", old.labels, new.labels),
        *_values("env", old.env, new.env),
        *_values("config", old.config, new.config),
    ]
    return ImageDiff(
        old=old,
        new=new,
        changes=tuple(changes),
        layers=match_layers(old.layers, new.layers),
        errors=tuple(errors),
    )
