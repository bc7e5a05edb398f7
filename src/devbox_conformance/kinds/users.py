"""users: exist in the target's passwd database, with the given uid, home and login shell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class User(Item):
    name: str
    uid: int | None = None
    home: str | None = None
    shell: str | None = None


def evaluate(item: User, ctx: Context) -> Outcome:
    users = ctx.facts.get("users") or {}
    wanted = {"uid": item.uid, "home": item.home, "shell": item.shell}
    expected = "user exists" + "".join(f", {k} {v}" for k, v in wanted.items() if v is not None)
    if item.name not in users:
        # The probe answers every user it is asked about (None: no such user); no answer is not "absent",
        # or an optional user would skip on a probe that never looked.
        return Outcome.failed(expected, "not probed (the probe gave no answer for this user)")
    found = users[item.name]
    if found is None:
        return Outcome.failed(expected, "no such user", absent=True)
    wrong = [f"{k} {found.get(k)}" for k, v in wanted.items() if v is not None and found.get(k) != v]
    if wrong:
        return Outcome.failed(expected, ", ".join(wrong))
    return Outcome.passed()


def request(items: Sequence[User]) -> dict[str, Any]:
    return {"users": [u.name for u in items]}


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Users that must exist (pwd)."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {"description": "User name.", "type": "string", "minLength": 1},
    "uid": {"description": "Numeric user id.", "type": "integer"},
    "home": {"description": "Home directory.", "type": "string"},
    "shell": {"description": "Login shell.", "type": "string"},
}


KIND = Kind(
    section="users",
    report_order=70,
    key="name",
    argname="user",
    test="test_user",
    item=User,
    evaluate=evaluate,
    request=request,
    gatherer="accounts",
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
