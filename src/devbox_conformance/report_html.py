"""One self-contained HTML page from a --results-json document: `pytest --html` and `devbox report` share it.

Why a page: a results JSON is for CI, a terminal summary scrolls away; a team reading a red run wants the
hosts side by side, each failure with its file:line, expected and found, the waivers that hid a failure
(never hidden themselves), the skips with their reasons and the performance figures against their floors.

The page is rendered with Jinja2, autoescape on (messages come from targets and expectations files: they are
text, never markup), with inline CSS, no script and nothing fetched (a Content-Security-Policy says so to the
browser). The same document always gives the same bytes: nothing in the page comes from the clock.

Never green by default: the banner is green only for a finished run (exit status 0, no error) that checked
something and whose items, hosts and totals show no failure; everything else is red or "not finished".

Example:
    from devbox_conformance import report_html
    report_html.write(Path("report.html"), report_html.load(Path("results.json")))
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from devbox_conformance.results import write_atomically

SCHEMA_VERSIONS = (2,)
# Columns of the per-host table, in order; an outcome the page does not know is counted under "other".
OUTCOMES = ("passed", "failed", "error", "skipped", "waived")
BAD = ("failed", "error")
TEMPLATE = "report.html.j2"
# First line of a check's failure: `binaries[rg] (expectations/common.yaml:12)`.
_HEADER = re.compile(r"^(?P<kind>[\w.-]+)\[(?P<key>.*)\] \((?P<source>[^()]*:\d+)\)$")
# `expected: …`, `found:    …`, `why:      …` lines of a failure (kinds/verdict.py: Outcome.failed, verify).
_FIELD = re.compile(r"^(expected|found|why):\s?(.*)$")


class ReportError(ValueError):
    """The input is not a results document: one line naming the file and what is wrong."""


@dataclass
class HostRow:
    name: str
    kind: str = ""
    arch: str = ""
    error: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys((*OUTCOMES, "other"), 0))

    @property
    def red(self) -> bool:
        return bool(self.error) or any(self.counts[k] for k in (*BAD, "other"))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Failure:
    item: dict[str, Any]
    source: str
    title: str
    expected: str
    found: str
    why: str
    rest: str


@dataclass
class Figure:
    item: dict[str, Any]
    metric: str
    unit: str
    value: float | None
    lower: float | None
    upper: float | None
    outcome: str
    bar_pct: float
    lower_pct: float | None
    upper_pct: float | None
    ratio: str


def load(path: Path) -> dict[str, Any]:
    """Read and check a results document; a file that is not one is a ReportError naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text, not a results document") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON ({exc})") from None
    problem = check(document)
    if problem:
        raise ReportError(f"{path}: {problem}")
    return document


def check(document: Any) -> str | None:
    """Why DOCUMENT cannot be shown (None when it can): the page must show all of it or refuse."""
    if not isinstance(document, dict):
        return "not a results document (a JSON object with schema_version, hosts and items)"
    version = document.get("schema_version")
    if version not in SCHEMA_VERSIONS:
        known = ", ".join(map(str, SCHEMA_VERSIONS))
        return f"schema_version {version!r} is not one this report reads ({known})"
    for key in ("hosts", "items"):
        value = document.get(key)
        if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
            return f"'{key}' is not a list of objects"
    for n, item in enumerate(document["items"]):
        if not isinstance(item.get("nodeid"), str) or not isinstance(item.get("outcome"), str):
            return f"items[{n}] has no nodeid or outcome"
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _records(item: dict[str, Any]) -> dict[str, Any]:
    records = item.get("records")
    return records if isinstance(records, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _hosts(document: dict[str, Any]) -> list[HostRow]:
    """One row per host: those the document lists, then any only its items name; counts from the items."""
    rows: dict[str, HostRow] = {}
    for h in document["hosts"]:
        name = _text(h.get("name"))
        rows[name] = HostRow(name, _text(h.get("kind")), _text(h.get("arch")), _text(h.get("error")))
    first = next(iter(rows), "")
    for item in document["items"]:
        name = _text(item.get("host")) or first
        row = rows.setdefault(name, HostRow(name))
        outcome = item["outcome"]
        row.counts[outcome if outcome in OUTCOMES else "other"] += 1
    return list(rows.values())


def _failure(item: dict[str, Any]) -> Failure:
    lines = _text(item.get("message")).splitlines()
    title, source = "", ""
    m = _HEADER.match(lines[0]) if lines else None
    if m:
        title, source = f"{m['kind']}[{m['key']}]", m["source"]
        lines = lines[1:]
    fields: dict[str, str] = {}
    rest: list[str] = []
    for line in lines:
        f = _FIELD.match(line)
        if f and f[1] not in fields:
            fields[f[1]] = f[2].strip()
        else:
            rest.append(line)
    return Failure(
        item=item,
        source=source,
        title=title or item.get("name") or item["nodeid"],
        expected=fields.get("expected", ""),
        found=fields.get("found", ""),
        why=fields.get("why", ""),
        rest="\n".join(rest).strip("\n"),
    )


def _limits(perf: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    return _number(perf.get("value")), _number(perf.get("lower_limit")), _number(perf.get("upper_limit"))


def _scales(perfs: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """One bar scale per (metric, unit): a metric's bars on every host are drawn to the same scale."""
    scales: dict[tuple[str, str], float] = {}
    for perf in perfs:
        key = (_text(perf.get("metric")), _text(perf.get("unit")))
        top = max([abs(v) for v in _limits(perf) if v is not None] or [0.0])
        scales[key] = max(scales.get(key, 0.0), top * 1.15)
    return scales


def _figure(item: dict[str, Any], perf: dict[str, Any], scale: float) -> Figure:
    """A performance figure and its bar: the value against SCALE, with its floor (and ceiling) marked."""
    value, lower, upper = _limits(perf)
    outcome = _text(perf.get("outcome")) or "unjudged"
    # A figure the record calls a pass while it lies outside its own limits is shown as a failure.
    if value is not None and ((lower is not None and value < lower) or (upper is not None and value > upper)):
        outcome = "fail"
    if value is None:
        outcome = outcome if outcome != "pass" else "unjudged"

    def pct(v: float | None) -> float | None:
        return None if v is None or scale <= 0 else round(max(v, 0.0) / scale * 100, 1)

    ratio = ""
    if value is not None and lower:
        ratio = f"{value / lower * 100:.0f} % of floor"
    elif value is not None and upper:
        ratio = f"{value / upper * 100:.0f} % of ceiling"
    return Figure(
        item=item,
        metric=_text(perf.get("metric")) or item.get("name") or item["nodeid"],
        unit=_text(perf.get("unit")),
        value=value,
        lower=lower,
        upper=upper,
        outcome=outcome,
        bar_pct=pct(value) or 0.0,
        lower_pct=pct(lower),
        upper_pct=pct(upper),
        ratio=ratio,
    )


def _waiver(item: dict[str, Any]) -> dict[str, str]:
    """The waiver of a waived item, wherever the document keeps it (its own key or a record)."""
    raw = item.get("waiver") or _records(item).get("waiver") or {}
    if not isinstance(raw, dict):
        return {"justification": _text(raw), "expires": "", "scope": ""}
    scope = raw.get("scope")
    if isinstance(scope, dict):
        scope = ", ".join(f"{k}={v}" for k, v in sorted(scope.items()))
    return {
        "justification": _text(raw.get("justification") or raw.get("reason")),
        "expires": _text(raw.get("expires")),
        "scope": _text(scope),
    }


def verdict(document: dict[str, Any], hosts: list[HostRow]) -> tuple[str, str]:
    """("green" | "red" | "unfinished", one line): green only when nothing claims or hides a problem."""
    status = document.get("exit_status")
    error = _text(document.get("error"))
    totals = document.get("totals") if isinstance(document.get("totals"), dict) else {}
    bad_totals = sum(n for k, n in totals.items() if k in BAD and isinstance(n, int))
    bad_items = sum(h.counts[k] for h in hosts for k in BAD)
    other = sum(h.counts["other"] for h in hosts)
    waived = sum(h.counts["waived"] for h in hosts)
    checked = sum(h.total for h in hosts)
    if status is None:
        return "unfinished", "the run did not finish" + (f": {error}" if error else "")
    if error:
        return "red", f"exit status {status}: {error}"
    if bad_items or bad_totals or other:
        n = max(bad_items, bad_totals) + other
        return "red", f"exit status {status}: {n} failed or in error"
    if any(h.error for h in hosts):
        return "red", f"exit status {status}: a host could not be checked"
    if status != 0:
        return "red", f"exit status {status}"
    if not checked:
        return "red", "exit status 0, but the run checked nothing"
    return "green", f"exit status 0: {checked} checked" + (f", {waived} waived" if waived else "")


def headline(document: dict[str, Any]) -> tuple[str, str]:
    """The page's banner: (state, one line), for a caller that prints it."""
    return verdict(document, _hosts(document))


def view(document: dict[str, Any]) -> dict[str, Any]:
    """What the template shows, in a fixed order (items by host, then node id)."""
    problem = check(document)
    if problem:
        raise ReportError(problem)
    hosts = _hosts(document)
    first = hosts[0].name if hosts else ""
    items = sorted(
        document["items"], key=lambda i: (_text(i.get("host")) or first, i["nodeid"], _text(i.get("name")))
    )
    measured = [(i, p) for i in items if isinstance(p := _records(i).get("performance"), dict)]
    scales = _scales([p for _, p in measured])
    figures = [_figure(i, p, scales[(_text(p.get("metric")), _text(p.get("unit")))]) for i, p in measured]
    image = document.get("image") if isinstance(document.get("image"), dict) else {}
    state, line = verdict(document, hosts)
    waivers = document.get("waivers")
    return {
        "doc": document,
        "title": _text(image.get("ref")) or first or "no target",
        "image": image,
        "state": state,
        "line": line,
        "hosts": hosts,
        "outcomes": OUTCOMES,
        "show_other": any(h.counts["other"] for h in hosts),
        "failures": [_failure(i) for i in items if i["outcome"] not in ("passed", "skipped", "waived")],
        "waived": [(i, _failure(i), _waiver(i)) for i in items if i["outcome"] == "waived"],
        "skipped": [i for i in items if i["outcome"] == "skipped"],
        "figures": figures,
        "waiver_list": [w for w in waivers if isinstance(w, dict)] if isinstance(waivers, list) else [],
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(document: dict[str, Any]) -> str:
    """The page of DOCUMENT (a ReportError when it is not a results document)."""
    return _environment().get_template(TEMPLATE).render(**view(document))


def write(path: Path, document: dict[str, Any]) -> None:
    """Render and write atomically: a reader never sees half a page, nor an earlier run's page after this."""
    write_atomically(Path(path), render(document))


def write_from_json(html: Path, results_json: Path) -> None:
    """`--html`: the page of the results file the run has just written."""
    write(html, load(results_json))
