"""Value matching shared by labels, env and image config: exact value or whole-string regex."""

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
