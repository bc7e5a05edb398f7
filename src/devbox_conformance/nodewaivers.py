"""Waivers for `devbox-node-check`: the suite's waivers file, judged the way the suite judges it.

Why a node needs them: a known defect (one GPU's NVLink awaiting a part, an Xid the vendor explained) would
otherwise drain the node at every health check, and the only way out would be to edit the profile and lose
the check everywhere. A valid waiver in scope (arch, GPU model) keeps the node in service and is reported as
waived, never as passed; an expired one leaves the failure red and says so; one that covers no failure here
is listed as stale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox_conformance import waivers as wv


@dataclass(frozen=True)
class Book:
    waivers: tuple[wv.Waiver, ...]
    today: dt.date
    path: str | None


def open_book(option: str | None, expectations_dir: Path) -> Book:
    """--waivers FILE, else waivers.yaml beside the expectations; a bad file is a WaiverError (one line)."""
    path = wv.locate(option, str(expectations_dir), Path.cwd())
    found = wv.suite_waivers(wv.load(path)) if path is not None else ()
    return Book(found, wv.today(), str(path) if path else None)


def apply(
    verdicts: Sequence[Any], book: Book, node: str, scope: wv.Scope
) -> tuple[list[Any], list[dict[str, Any]]]:
    """(verdicts with waived failures marked "waived" and expired ones explained, stale waivers)."""
    out, used = [], set()
    for verdict in verdicts:
        if verdict.status != "failed":
            out.append(verdict)
            continue
        names = wv.id_spellings(verdict.test, verdict.key, host_only=False)
        waiver = wv.choose(book.waivers, names, node, scope, book.today)
        if waiver is None:
            out.append(verdict)
            continue
        used.add(waiver.source)
        if waiver.expired(book.today):
            text = (
                f"waiver expired on {waiver.expires} ({waiver.source}: {waiver.justification}); "
                f"{verdict.message}"
            )
            out.append(dataclasses.replace(verdict, message=text))
        else:
            text = (
                f"waived until {waiver.expires}: {waiver.justification} ({waiver.source}); "
                f"the failure: {verdict.message}"
            )
            out.append(dataclasses.replace(verdict, status="waived", message=text))
    stale = [
        {**w.to_json(), "why": "covers no failure of this node"}
        for w in book.waivers
        if w.source not in used and (w.host in (None, node)) and w.in_scope(scope)
    ]
    return out, stale
