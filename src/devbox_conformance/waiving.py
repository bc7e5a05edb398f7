"""The pytest side of waivers (waivers.py holds the file format, shared with the release gate).

A failing test's report is judged once, where it is made (in the xdist worker that ran it): a valid waiver
in scope turns it into an xfail (`pytest.xfail` semantics: counted "xfailed", never "passed") carrying the
waiver; an expired one leaves it failed and puts "waiver expired" in front of the failure. The controller
then lists every waiver applied, and the stale ones (matched no failing test), at the end of the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import waivers as wv
from devbox_conformance.waivers import id_spellings, locate

# The user property a judged report carries: the waiver's fields, its status and the failure it covered.
PROPERTY = "devbox:waiver"


@dataclass(frozen=True)
class Book:
    """The waivers of a run and the day they are judged on (fixed once, in the controller)."""

    waivers: tuple[wv.Waiver, ...]
    today: dt.date
    path: str | None
    strict: bool = False

    def to_input(self) -> dict[str, Any]:
        """For xdist's workerinput: the controller's reading; every worker judges by the same list and day."""
        return {
            "waivers": [w.to_json() for w in self.waivers],
            "today": self.today.isoformat(),
            "path": self.path,
            "strict": self.strict,
        }

    @classmethod
    def from_input(cls, data: Mapping[str, Any]) -> Book:
        return cls(
            waivers=tuple(wv.Waiver.from_json(w) for w in data["waivers"]),
            today=dt.date.fromisoformat(data["today"]),
            path=data.get("path"),
            strict=bool(data.get("strict")),
        )


def open_book(option: str | None, expectations_dir: str, invocation_dir: Path, strict: bool) -> Book:
    path = locate(option, expectations_dir, invocation_dir)
    found = wv.suite_waivers(wv.load(path)) if path is not None else ()
    return Book(waivers=found, today=wv.today(), path=str(path) if path else None, strict=strict)


def judge(
    item: pytest.Item, report: pytest.TestReport, book: Book, host: str, scope: wv.Scope, message: str
) -> None:
    """Apply the waiver that covers this failed call, if any (the report and the item are changed).

    Only a failure of the test's call is ever waived: a pass, a skip, an xfail and an error (setup or
    teardown) stay what they are.
    """
    if report.when != "call" or not report.failed or hasattr(report, "wasxfail"):
        return
    props = dict(item.user_properties)
    spec = getattr(item, "callspec", None)
    host_only = spec is not None and set(spec.params) == {"devbox_host_name"}
    names = id_spellings(item.name, props.get("devbox:key"), host_only)
    waiver = wv.choose(book.waivers, names, host, scope, book.today)
    if waiver is None:
        return
    record = {**waiver.to_json(), "applied_to": host, "failure": message}
    if waiver.expired(book.today):
        text = (
            f"waiver expired on {waiver.expires} ({waiver.source}: {waiver.justification}); "
            f"the failure: {message}"
        )
        record["status"] = "expired"
        report.longrepr = f"{text}\n\n{report.longreprtext}" if report.longreprtext != message else text
        added = [(PROPERTY, record), ("devbox:message", text)]
    else:
        record["status"] = "waived"
        report.outcome = "skipped"
        report.wasxfail = f"waived until {waiver.expires}: {waiver.justification} ({waiver.source})"
        added = [(PROPERTY, record)]
    # On the item too: later reports (teardown) carry its properties, and must not bring the old message back.
    item.user_properties.extend(added)
    report.user_properties = [*report.user_properties, *added]


def stale(
    book: Book, entries: Iterable[Mapping[str, Any]], scopes: Mapping[str, wv.Scope]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(stale, not applicable) waivers: in scope for a host of the run yet covering no failure there,
    and those no host of the run is in scope for (another arch, GPU or image), each with why."""
    entries = list(entries)
    used = {e["waiver"]["source"] for e in entries if e.get("waiver")}
    stale_out, elsewhere = [], []
    for waiver in book.waivers:
        if waiver.source in used:
            continue
        hosts = [h for h in scopes if waiver.host in (None, h)]
        if not any(waiver.in_scope(scopes[h]) for h in hosts):
            why = (
                f"no host {waiver.host} in this run"
                if not hosts
                else "out of scope on every host of this run"
            )
            elsewhere.append({**waiver.to_json(), "why": why})
            continue
        seen = [
            e
            for e in entries
            if (waiver.host in (None, e.get("host")))
            and waiver.id in id_spellings(e["name"], e.get("key"), e.get("key") is None and "[" in e["name"])
        ]
        if not seen:
            why = "no test of this run has this id"
        else:
            outcomes = sorted({e["outcome"] for e in seen})
            why = f"its test {'/'.join(outcomes)} (a waiver covers failures only)"
        if waiver.expired(book.today):
            why += f"; expired on {waiver.expires}"
        stale_out.append({**waiver.to_json(), "why": why})
    return stale_out, elsewhere


def summary_lines(
    entries: Iterable[Mapping[str, Any]],
    stale_found: list[dict[str, Any]],
    elsewhere: list[dict[str, Any]],
    multi: bool,
    strict: bool,
) -> list[str]:
    """Every waiver applied, expired, stale or out of scope: one line each (a waiver is never silent)."""
    lines = []
    for entry in sorted(entries, key=lambda e: e["nodeid"]):
        waiver = entry.get("waiver")
        if not waiver:
            continue
        on = f" on {entry['host']}" if multi and entry.get("host") else ""
        if waiver["status"] == "waived":
            lines.append(
                f"WAIVED {entry['name']}{on} until {waiver['expires']} ({waiver['source']}): "
                f"{waiver['justification']}"
            )
        else:
            lines.append(
                f"EXPIRED waiver {entry['name']}{on}: expired on {waiver['expires']} ({waiver['source']})"
            )
    for waiver in stale_found:
        lines.append(f"warning: stale waiver {waiver['id']} ({waiver['source']}): {waiver['why']}")
    for waiver in elsewhere:
        lines.append(f"waiver {waiver['id']} ({waiver['source']}) not applied: {waiver['why']}")
    if strict and stale_found:
        lines.append(f"FAILED: {len(stale_found)} stale waiver(s) and --strict-waivers")
    return lines
