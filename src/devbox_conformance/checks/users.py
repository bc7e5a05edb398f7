"""users and groups: exist in the target's passwd/group database, with the given ids, home and shell."""

from __future__ import annotations

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.expectations import Group, User


def evaluate(item: User | Group, ctx: Context) -> Outcome:
    if isinstance(item, Group):
        found = (ctx.facts.get("groups") or {}).get(item.name)
        expected = "group exists" + (f", gid {item.gid}" if item.gid is not None else "")
        if found is None:
            return Outcome.failed(expected, "no such group", absent=True)
        if item.gid is not None and found["gid"] != item.gid:
            return Outcome.failed(expected, f"gid {found['gid']}")
        return Outcome.passed()
    found = (ctx.facts.get("users") or {}).get(item.name)
    wanted = {"uid": item.uid, "home": item.home, "shell": item.shell}
    expected = "user exists" + "".join(f", {k} {v}" for k, v in wanted.items() if v is not None)
    if found is None:
        return Outcome.failed(expected, "no such user", absent=True)
    wrong = [f"{k} {found[k]}" for k, v in wanted.items() if v is not None and found.get(k) != v]
    if wrong:
        return Outcome.failed(expected, ", ".join(wrong))
    return Outcome.passed()
