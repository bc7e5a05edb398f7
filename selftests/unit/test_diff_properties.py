"""Property-based checks of the diff's two version orders against the tools that define them.

- Debian: `debversion.compare` agrees with `dpkg --compare-versions` on generated valid versions (epoch,
  upstream with digits, letters and `.+~-`, revision), and `compare.debian` says `rebuilt` exactly where
  only a binNMU suffix differs, dpkg's order everywhere else.
- PEP 440: `compare.pep440` agrees with `packaging.version`, except that a pair whose public versions are
  equal and whose local labels differ is `changed` and unordered (never up or down by label order).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from devbox_build.imagediff import compare, debversion
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import Version

DPKG = shutil.which("dpkg")
BINNMU = re.compile(r"\+b[0-9]+$")

# ---- Debian ----

_UP_CHARS = "0123456789" + "azAZ" + ".+~" * 3  # the separators often: that is where orders differ
_REV_CHARS = _UP_CHARS


@st.composite
def _deb_parts(draw: st.DrawFn) -> tuple[str, str, str]:
    epoch = draw(st.one_of(st.just(""), st.integers(0, 3).map(lambda n: f"{n}:")))
    revision = draw(st.one_of(st.just(""), st.text(_REV_CHARS, min_size=1, max_size=6)))
    chars = _UP_CHARS + ("-" if revision else "")  # a hyphen in upstream only where a revision follows
    upstream = draw(st.integers(0, 99).map(str)) + draw(st.text(chars, max_size=8))
    suffix = draw(st.sampled_from(["", "", "", "+b1", "+b2", "+b10"]))  # binNMUs end the whole version
    if revision:
        return epoch, upstream, revision + suffix
    return epoch, upstream + suffix, ""


def _join(epoch: str, upstream: str, revision: str) -> str:
    return f"{epoch}{upstream}-{revision}" if revision else f"{epoch}{upstream}"


@st.composite
def _edited(draw: st.DrawFn, part: str, chars: str, keep_first: bool) -> str:
    """`part` after up to three single-character edits (insert, delete, replace) past its first character.

    Near pairs are where an order goes wrong (`1.0~` against `1.0`, `1.0a` against `1.0+`); two parts
    drawn independently nearly always differ in their first number and never reach those rules.
    """
    text = list(part)
    for _ in range(draw(st.integers(0, 3))):
        low = 1 if keep_first else 0
        where = draw(st.integers(low, len(text)))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(chars))
        if how == "insert" or where >= len(text):
            text.insert(where, char)
        elif how == "delete" and len(text) > 1:
            del text[where]
        else:
            text[where] = char
    return "".join(text)


@st.composite
def deb_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two valid Debian versions, b a near edit of a part by part (sometimes a fresh one, or a binNMU)."""
    a = draw(_deb_parts())
    if draw(st.integers(0, 9)) == 0:
        b = draw(_deb_parts())
    else:
        epoch = a[0] if draw(st.integers(0, 4)) else draw(st.sampled_from(["", "0:", "1:"]))
        revision = draw(_edited(a[2], _REV_CHARS.replace("-", ""), keep_first=False)) if a[2] else ""
        upstream = draw(_edited(a[1], _UP_CHARS + ("-" if revision else ""), keep_first=True))
        b = (epoch, upstream, revision)
    va, vb = _join(*a), _join(*b)
    if draw(st.integers(0, 5)) == 0:  # a binNMU of the same source
        vb = BINNMU.sub("", va) + draw(st.sampled_from(["", "+b1", "+b3"]))
    return va, vb


def _dpkg_order(a: str, b: str) -> int:
    def holds(op: str) -> bool:
        proc = subprocess.run([DPKG, "--compare-versions", a, op, b], capture_output=True, text=True)
        assert proc.returncode in (0, 1) and not proc.stderr, (a, b, proc.stderr)
        return proc.returncode == 0

    return -1 if holds("lt") else 0 if holds("eq") else 1


@pytest.mark.skipif(DPKG is None, reason="dpkg is not installed on this machine")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deb_pairs())
def test_debian_order_agrees_with_dpkg(pair: tuple[str, str]) -> None:
    a, b = pair
    expected = _dpkg_order(a, b)
    assert debversion.compare(a, b) == expected, (a, b)
    assert debversion.compare(b, a) == -expected, (b, a)
    how = compare.debian(a, b)
    same_source = debversion.compare(BINNMU.sub("", a), BINNMU.sub("", b)) == 0
    if (BINNMU.search(a) or BINNMU.search(b)) and same_source:
        assert how.kind == "rebuilt" and not how.unordered, (a, b, how)
    else:
        assert how.kind == {-1: "upgraded", 0: "changed", 1: "downgraded"}[expected], (a, b, how)
        assert not how.unordered


# ---- PEP 440 ----


@st.composite
def _pep440_public(draw: st.DrawFn) -> str:
    epoch = draw(st.one_of(st.just(""), st.integers(1, 2).map(lambda n: f"{n}!")))
    release = ".".join(str(n) for n in draw(st.lists(st.integers(0, 12), min_size=1, max_size=4)))
    pre = draw(st.one_of(st.just(""), st.tuples(st.sampled_from(["a", "b", "rc"]), st.integers(0, 3))))
    post = draw(st.one_of(st.just(""), st.integers(0, 3).map(lambda n: f".post{n}")))
    dev = draw(st.one_of(st.just(""), st.integers(0, 3).map(lambda n: f".dev{n}")))
    return f"{epoch}{release}{''.join(map(str, pre))}{post}{dev}"


_LOCAL = st.one_of(
    st.just(""),
    st.lists(
        st.one_of(st.text("0123456789abcdef", min_size=1, max_size=10), st.sampled_from(["cpu", "cu128"])),
        min_size=1,
        max_size=3,
    ).map(lambda parts: "+" + ".".join(parts)),
)


@st.composite
def pep440_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two PEP 440 versions; half the time the same public version, so local-label-only pairs occur."""
    a = draw(_pep440_public())
    b = a if draw(st.booleans()) else draw(_pep440_public())
    return a + draw(_LOCAL), b + draw(_LOCAL)


@settings(max_examples=300, deadline=None)
@given(pep440_pairs())
def test_pep440_order_agrees_with_packaging_except_local_labels(pair: tuple[str, str]) -> None:
    a, b = pair
    va, vb = Version(a), Version(b)
    how = compare.pep440(a, b)
    if Version(va.public) == Version(vb.public) and va.local != vb.local:
        assert (how.kind, how.unordered) == ("changed", True), (a, b, how)
        assert "only the local label differs" in how.reason
    else:
        expected = (va > vb) - (va < vb)
        assert how.kind == {-1: "upgraded", 0: "changed", 1: "downgraded"}[expected], (a, b, how)
        assert not how.unordered
    back = compare.pep440(b, a)
    flipped = {"upgraded": "downgraded", "downgraded": "upgraded", "changed": "changed"}
    assert (back.kind, back.unordered) == (flipped[how.kind], how.unordered)
