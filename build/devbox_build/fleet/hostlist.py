"""Slurm hostlist expressions (`gpu[01-04,07],login1`) expanded without Slurm, the way `scontrol show
hostnames` does, so a report can name the nodes that wrote nothing.

    >>> expand("gpu[01-03],cpu7")
    ['gpu01', 'gpu02', 'gpu03', 'cpu7']
"""

from __future__ import annotations

import re

# Ranges larger than this are refused: a typo (`node[1-9999999]`) must not build millions of names.
MAX_NODES = 100_000
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class HostlistError(ValueError):
    """An expression Slurm would refuse too; the message names the bad part."""


def _split_top(expr: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        if ch == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"nested '[' in {expr!r}")
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"unbalanced ']' in {expr!r}")
        elif ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"unbalanced '[' in {expr!r}")
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip()]


def _expand_ranges(body: str, whole: str) -> list[str]:
    out: list[str] = []
    for piece in body.split(","):
        match = _RANGE.match(piece.strip())
        if not match:
            raise HostlistError(f"bad range {piece!r} in {whole!r}")
        low, high = match.group(1), match.group(2) or match.group(1)
        if int(high) < int(low):
            raise HostlistError(f"range {piece!r} runs backwards in {whole!r}")
        if int(high) - int(low) + 1 + len(out) > MAX_NODES:
            raise HostlistError(f"{whole!r} names more than {MAX_NODES} nodes")
        width = len(low) if low.startswith("0") and len(low) > 1 else 0
        out.extend(str(n).zfill(width) for n in range(int(low), int(high) + 1))
    return out


def _expand_one(part: str) -> list[str]:
    names = [""]
    rest = part
    while rest:
        open_at = rest.find("[")
        if open_at < 0:
            names = [n + rest for n in names]
            break
        close_at = rest.find("]", open_at)
        prefix, body, rest = rest[:open_at], rest[open_at + 1 : close_at], rest[close_at + 1 :]
        values = _expand_ranges(body, part)
        if len(names) * len(values) > MAX_NODES:
            raise HostlistError(f"{part!r} names more than {MAX_NODES} nodes")
        names = [n + prefix + v for n in names for v in values]
    return names


def expand(expr: str) -> list[str]:
    """Every node name of `expr`, in order, each once."""
    seen: dict[str, None] = {}
    for part in _split_top(expr.strip()):
        for name in _expand_one(part):
            seen.setdefault(name, None)
    return list(seen)
