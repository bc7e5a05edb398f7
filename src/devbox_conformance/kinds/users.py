"""users: exist in the target's passwd database, with the given uid, home and login shell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.kinds.base import Item, Kind


@dataclass(frozen=True, kw_only=True)
class User(Item):
    name: str
    uid: int | None = None
    home: str | None = None
    shell: str | None = None


def evaluate(item: User, ctx: Context) -> Outcome:
    found = (ctx.facts.get("users") or {}).get(item.name)
    wanted = {"uid": item.uid, "home": item.home, "shell": item.shell}
    expected = "user exists" + "".join(f", {k} {v}" for k, v in wanted.items() if v is not None)
    if found is None:
        return Outcome.failed(expected, "no such user", absent=True)
    wrong = [f"{k} {found[k]}" for k, v in wanted.items() if v is not None and found.get(k) != v]
    if wrong:
        return Outcome.failed(expected, ", ".join(wrong))
    return Outcome.passed()


def request(items: Sequence[User]) -> dict[str, Any]:
    return {"users": [u.name for u in items]}


KIND = Kind(section="users", key="name", argname="user", test="test_user", item=User, evaluate=evaluate,
            request=request, gatherer="accounts")
