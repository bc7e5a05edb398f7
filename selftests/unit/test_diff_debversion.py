"""Debian version ordering (imagediff.debversion) agrees with dpkg's rules: epoch, upstream, revision, `~`."""

from __future__ import annotations

import pytest
from devbox_build.imagediff.debversion import DebVersionError, compare, split

# (lower, higher): each pair as dpkg --compare-versions orders it.
ORDERED = [
    ("1.0", "1.1"),
    ("1.0", "1.0.1"),
    ("1.9", "1.10"),  # numbers compare as numbers
    ("1.0~rc1", "1.0"),  # ~ sorts before the end of the string
    ("1.0~~", "1.0~"),
    ("1.0~rc1", "1.0~rc2"),
    ("1.0", "1.0a"),  # letters after the end of the string
    ("1.0a", "1.0+"),  # non-letters after letters
    ("1.0", "1.0+b1"),  # a binNMU is newer
    ("2.36-9+deb12u3", "2.36-9+deb12u14"),
    ("3.0.15-1~deb12u1", "3.0.15-1"),  # a backport/security ~ build sorts before the release
    ("3.2.2-2~bpo12+1", "3.2.2-2"),
    ("9.9", "1:0.1"),  # the epoch wins
    ("1:2.39.5-0+deb12u1", "1:2.39.5-0+deb12u2"),
    ("1.0-1", "1.0-2"),
    ("1.0", "1.0-0.1"),  # no revision sorts first
    ("0.9-10", "1.0-1"),
    ("1.01", "1.2"),  # leading zeros do not count: 1 < 2
]


@pytest.mark.parametrize(("lower", "higher"), ORDERED)
def test_ordered_pairs(lower: str, higher: str) -> None:
    assert compare(lower, higher) == -1
    assert compare(higher, lower) == 1


@pytest.mark.parametrize(("a", "b"), [("1.0", "1.0"), ("0:1.0", "1.0"), ("1.01", "1.1"), ("1.0-1", "1.0-1")])
def test_equal(a: str, b: str) -> None:
    assert compare(a, b) == 0


def test_split_takes_the_last_hyphen_as_the_revision() -> None:
    assert split("1:2.3-rc-4") == (1, "2.3-rc", "4")
    assert split("2.3") == (0, "2.3", "")


@pytest.mark.parametrize("bad", ["x:1.0", "-1", "1:"])
def test_malformed_versions_raise(bad: str) -> None:
    with pytest.raises(DebVersionError):
        compare(bad, "1.0")
