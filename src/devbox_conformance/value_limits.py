"""Values no contract field may hold, found before the schema looks at the file.

Why before the schema: jsonschema's walk is recursive and its messages print whole values, so a file that
nests too deep, refers to itself through an alias or expands to a billion values must be refused first, in
one line, by a walk that visits each object once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from devbox_conformance.yamlfile import MAX_DEPTH, shown_value

# Values one file may expand to once aliases are expanded (the shipped contract has about 1,100), and the
# magnitude of an integer (a larger one cannot become a float).
MAX_VALUES = 200_000
MAX_INT = 2**63 - 1


def _scalar_problem(value: Any) -> str | None:
    """What no field may hold: a NUL byte (no path, argv or name can carry one), a number that is not
    finite (`.nan`, `.inf`: a NaN passes every `maximum`) or an integer too large for a float."""
    if isinstance(value, str) and "\0" in value:
        return f"NUL byte in {shown_value(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number ({value})"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return f"number too large ({len(str(abs(value)))} digits)"
    return None


def _children(value: Any) -> Iterator[tuple[Any, Any, bool]]:
    """(key or index, child, whether the key itself is to be judged) of a container."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v, True
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield i, v, False


# Complexity: one loop over an explicit stack (no recursion, for any depth) with its cases side by side.
def bad_value(data: Any) -> tuple[list[Any], str, bool] | None:  # noqa: C901
    """(path, problem, point at the key) of the first value no schema field may hold, else None.

    One walk, without recursion, that visits each object once however often aliases repeat it: NUL bytes
    in keys and strings, numbers that are not finite or too large, nesting deeper than MAX_DEPTH, a value
    that contains itself (`&a [*a]`) and more than MAX_VALUES values once aliases are expanded (a "billion
    laughs" document is a few lines and a billion values; the schema's messages print the values whole).
    """
    sizes: dict[int, int] = {}
    active = {id(data)}
    # Frames: [container, its path, its children, its expanded size so far].
    frames: list[list[Any]] = [[data, [], _children(data), 1]]
    while frames:
        frame = frames[-1]
        step = next(frame[2], None)
        if step is None:
            frames.pop()
            active.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[3]
            if frames:
                frames[-1][3] += frame[3]
            continue
        key, child, judge_key = step
        path = [*frame[1], key]
        problem = _scalar_problem(key) if judge_key else None
        if problem:
            return path, f"key: {problem}", True
        if isinstance(child, (dict, list, tuple, set, frozenset)):
            if id(child) in active:
                return path, "an alias refers to a value that holds it (a recursive value)", False
            if id(child) not in sizes:
                if len(path) > MAX_DEPTH:
                    return path, f"nested more than {MAX_DEPTH} levels deep", False
                active.add(id(child))
                frames.append([child, path, _children(child), 1])
                continue
            frame[3] += sizes[id(child)]
        else:
            frame[3] += 1
            problem = _scalar_problem(child)
            if problem:
                return path, problem, False
        if frame[3] > MAX_VALUES:
            return (
                path,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias repeated "
                "inside aliases?); write the values out",
                False,
            )
    return None
