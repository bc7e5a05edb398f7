"""Debian version ordering, as dpkg defines it: `[epoch:]upstream[-revision]`, with `~` before everything.

Why our own: a diff of two images must say whether `libssl3` went from `3.0.15-1~deb12u1` to
`3.0.11-1~deb12u2` up or down, and neither Python's `packaging` (PEP 440) nor a string comparison orders
Debian versions; dpkg itself is not on the machine that compares (and may not be in the image).

    >>> compare("1:2.38.1-5+deb12u3", "2.39-1") > 0     # the epoch wins
    True
    >>> compare("1.0~rc1-1", "1.0-1") < 0               # ~ sorts before the release
    True
"""

from __future__ import annotations


class DebVersionError(ValueError):
    """Not a Debian version string."""


def split(version: str) -> tuple[int, str, str]:
    """(epoch, upstream, revision): `split("1:2.3-4")` -> (1, "2.3", "4"); a missing revision is ""."""
    text = version.strip()
    epoch = 0
    if ":" in text:
        head, rest = text.split(":", 1)
        if not head.isdigit():
            raise DebVersionError(f"bad epoch in Debian version {version!r}")
        epoch, text = int(head), rest
    upstream, sep, revision = text.rpartition("-")
    if not sep:
        upstream, revision = text, ""
    if not upstream:
        raise DebVersionError(f"empty upstream version in {version!r}")
    return epoch, upstream, revision


def _order(char: str) -> int:
    """dpkg's weight of one non-digit character: ~ < end of string < letters < everything else."""
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate runs of non-digits (by _order) and digits (numerically)."""
    i = j = 0
    while i < len(a) or j < len(b):
        order, i, j = _compare_letters(a, b, i, j)
        if order:
            return order
        order, i, j = _compare_digits(a, b, i, j)
        if order:
            return order
    return 0


def _compare_letters(a: str, b: str, i: int, j: int) -> tuple[int, int, int]:
    """The runs of non-digits from a[i] and b[j], by _order (a shorter run sorts as if padded with 0)."""
    while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
        ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
        bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
        if ac != bc:
            return (-1 if ac < bc else 1), i, j
        i += 1
        j += 1
    return 0, i, j


def _compare_digits(a: str, b: str, i: int, j: int) -> tuple[int, int, int]:
    """The runs of digits from a[i] and b[j], numerically: leading zeros skipped, the longer run larger."""
    while i < len(a) and a[i] == "0":
        i += 1
    while j < len(b) and b[j] == "0":
        j += 1
    first_diff = 0
    while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
        if not first_diff:
            first_diff = (a[i] > b[j]) - (a[i] < b[j])
        i += 1
        j += 1
    if i < len(a) and a[i].isdigit():
        return 1, i, j
    if j < len(b) and b[j].isdigit():
        return -1, i, j
    return first_diff, i, j


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Debian version `a` sorts before, equal to or after `b` (DebVersionError if malformed)."""
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _compare_part(ua, ub) or _compare_part(ra, rb)
