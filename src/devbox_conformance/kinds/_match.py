"""Value matching shared by labels, env and image config: exact value or whole-string regex.

A presence check (neither value nor regex) is not met by an empty string: `CUDA_HOME=` or a label set to ""
is what a broken build leaves behind, and a check that only asked "is it there?" would pass it. An item that
wants the empty string says so with `value: ""` (or a regex the empty string matches).
"""

from __future__ import annotations

import re


def describe(value: object, regex: str | None) -> str:
    if value is not None:
        return f"= {value!r}"
    if regex is not None:
        return f"matches /{regex}/"
    return "present"


def matches(actual: str, value: object, regex: str | None) -> bool:
    if value is not None and actual != value:
        return False
    return regex is None or re.fullmatch(regex, actual, re.S) is not None


EMPTY = "set but empty"


def mismatch(actual: str, value: object, regex: str | None) -> str | None:
    """Why `actual` does not meet the item, as the `found:` text (None when it does)."""
    if value is None and regex is None:
        return EMPTY if actual == "" else None
    return None if matches(actual, value, regex) else repr(actual)
