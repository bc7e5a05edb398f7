"""--results-json: one JSON document per run, written by the controller from every test report.

    {"arch": "amd64", "image": {"ref": "gpu-devbox:local", "id": "sha256:…", "digests": []},
     "target_kind": "image", "base_kind": "standin", "exit_status": 0,
     "counts": {"binaries": {"passed": 40, "failed": 0, "skipped": 3, "error": 0, "waived": 1}},
     "hosts": [{"name": "docker://sytelus/gpu-devbox:latest", "kind": "image", "arch": "amd64", "error": None,
                "totals": {"passed": 300, "failed": 0, "skipped": 30, "error": 0, "waived": 1}}],
     "items": [{"nodeid": "tests/test_binaries.py::test_binary[rg]", "host": "docker://…", "kind": "binaries",
                "key": "rg", "outcome": "passed", "message": "", "records": {}}],
     "stale_waivers": []}

An item a waiver covered has outcome "waived" and a "waiver" object (id, justification, expires, scope,
source, the failure it covered); one whose waiver expired is "failed" with the waiver's status "expired".

The top-level arch/image/target fields describe the first host (the only one of an --image run); "hosts"
has one entry per host and every item names its host.

A run that stops before its tests (unreachable host, no engine, bad expectations, Ctrl-C while preparing)
writes the same document with its exit status, its one-line "error", no host and no item, so the file of an
earlier green run never survives a later failed one. Every write goes to a temp file beside the target and is
renamed over it: a reader sees the old document or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.session import RunState


class ResultsCollector:
    """Merges the setup/call/teardown reports of each test into one outcome per test id."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.entries: dict[str, dict[str, Any]] = {}
        # Set at the end of the run (plugin): waivers that covered no failure, and those out of scope.
        self.stale_waivers: list[dict[str, Any]] = []
        self.unapplied_waivers: list[dict[str, Any]] = []

    def add(self, report: pytest.TestReport) -> None:
        entry = self.entries.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "name": report.nodeid.split("::")[-1],
                "host": None,
                "kind": None,
                "key": None,
                "outcome": "passed",
                "message": "",
                "records": {},
                "duration_s": 0.0,
            },
        )
        entry["duration_s"] = round(entry["duration_s"] + float(report.duration or 0.0), 4)
        _take_properties(entry, report.user_properties)
        _take_outcome(entry, report)

    def _host_totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for entry in self.entries.values():
            name = entry["host"] or self.state.first.name
            bucket = totals.setdefault(name, dict.fromkeys(OUTCOMES, 0))
            bucket[entry["outcome"]] += 1
        return totals

    def host_lines(self, named: bool = True) -> list[str]:
        """One line per host: its counts, skips included (a skip is not a pass; the summary says how many)."""
        totals = self._host_totals()
        lines = []
        for host in self.state.hosts:
            counts = totals.get(host.name, {})
            text = ", ".join(f"{counts.get(k, 0)} {k}" for k in OUTCOMES)
            lines.append(f"{host.name}: {text}" if named else text)
        return lines

    def host_table(self) -> list[str]:
        """A table of every host: its counts and the first reason it is red (unreachable, or its first
        failed item). Its size follows the number of hosts, never the number of items."""
        totals = self._host_totals()
        first: dict[str, str] = {}
        for entry in sorted(self.entries.values(), key=lambda e: e["nodeid"]):
            host = entry["host"] or self.state.first.name
            if entry["outcome"] in ("failed", "error") and host not in first:
                lines = [ln for ln in (entry["message"] or "").splitlines() if ln.strip()]
                found = next((ln for ln in lines if ln.startswith("found:")), lines[0] if lines else "")
                first[host] = f"{entry['name']}: {found.removeprefix('found:').strip()}"[:160]
        rows = [["host", *OUTCOMES, "first problem"]]
        for host in self.state.hosts:
            counts = totals.get(host.name, {})
            problem = host.error or self.state.probe_error(host.name)
            reason = f"unreachable: {problem}" if problem else first.get(host.name, "")
            rows.append([host.name, *(str(counts.get(k, 0)) for k in OUTCOMES), reason[:160]])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        return [
            "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip() for r in rows
        ]

    def document(self, exit_status: int, error: str | None = None) -> dict[str, Any]:
        s = self.state
        first = s.first
        attrs = first.image_attrs or {}
        counts: dict[str, dict[str, int]] = {}
        for entry in self.entries.values():
            kind = entry["kind"] or "other"
            bucket = counts.setdefault(kind, dict.fromkeys(OUTCOMES, 0))
            bucket[entry["outcome"]] += 1
        totals = self._host_totals()
        return {
            "schema_version": 2,
            "arch": first.arch,
            "base_kind": first.base_kind,
            "target_kind": first.kind,
            "image": {
                "ref": first.image_ref,
                "id": attrs.get("Id"),
                "digests": attrs.get("RepoDigests") or [],
            }
            if first.image_ref
            else None,
            "container": first.container,
            "expectations_dir": s.expectations_dir,
            "probe_seconds": s.probe_seconds(first.name),
            "hosts": [
                {
                    "name": h.name,
                    "spec": h.spec,
                    "kind": h.kind,
                    "arch": h.arch,
                    "base_kind": h.base_kind,
                    "image_ref": h.image_ref,
                    "container": h.container,
                    "error": h.error or s.probe_error(h.name),
                    "probe_seconds": s.probe_seconds(h.name),
                    "totals": totals.get(h.name, dict.fromkeys(OUTCOMES, 0)),
                }
                for h in s.hosts
            ],
            "exit_status": exit_status,
            "error": error,
            "counts": counts,
            "totals": {k: sum(b[k] for b in counts.values()) for k in OUTCOMES},
            "stale_waivers": self.stale_waivers,
            "unapplied_waivers": self.unapplied_waivers,
            "items": sorted(self.entries.values(), key=lambda e: e["nodeid"]),
        }

    def write(self, path: Path, exit_status: int, error: str | None = None) -> None:
        write_atomically(path, json.dumps(self.document(exit_status, error), indent=2, default=str) + "\n")


# "waived": a failure a valid waiver covers (pytest counts it xfailed); never counted as passed.
OUTCOMES = ("passed", "failed", "skipped", "error", "waived")


def failure_document(
    exit_status: int | None, error: str, expectations_dir: str | None = None
) -> dict[str, Any]:
    """The document of a run that stopped before any test ran: its status and its one line, nothing passed.

    `exit_status` None: the run has not finished (written at its start, replaced at its end).
    """
    return {
        "schema_version": 2,
        "arch": None,
        "base_kind": None,
        "target_kind": None,
        "image": None,
        "container": None,
        "expectations_dir": expectations_dir,
        "probe_seconds": None,
        "hosts": [],
        "exit_status": exit_status,
        "error": error,
        "counts": {},
        "totals": dict.fromkeys(OUTCOMES, 0),
        "stale_waivers": [],
        "unapplied_waivers": [],
        "items": [],
    }


def write_failure(
    path: Path, exit_status: int | None, error: str, expectations_dir: str | None = None
) -> None:
    document = failure_document(exit_status, error, expectations_dir)
    write_atomically(path, json.dumps(document, indent=2) + "\n")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temp file in `path`'s directory, flush it to disk, and rename it over `path`.

    Why: CI reads this file; a run killed mid-write must leave the previous document whole, not a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def junit_error(suite_name: str, exit_status: int | str, error: str) -> str:
    """A JUnit document of a run that stopped before its tests: one test case, in error, with the line.

    Why: pytest writes --junitxml only when its session got as far as running tests; a run stopped at
    start-up would leave an earlier run's green file in place.
    """
    from xml.etree import ElementTree as ET  # noqa: PLC0415 - only on this path

    suites = ET.Element("testsuites", name="pytest tests")
    suite = ET.SubElement(
        suites, "testsuite", name=suite_name, errors="1", failures="0", skipped="0", tests="1", time="0"
    )
    case = ET.SubElement(suite, "testcase", classname="devbox", name="start-up", time="0")
    failure = ET.SubElement(case, "error", message=error)
    failure.text = f"the run stopped before its tests, exit status {exit_status}: {error}"
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(suites, encoding="unicode") + "\n"


# user_property name -> the entry field it sets (records are the `devbox:record:` ones).
_PROPERTY_FIELDS = {
    "devbox:host": "host",
    "devbox:kind": "kind",
    "devbox:key": "key",
    "devbox:message": "message",
    "devbox:waiver": "waiver",
}


def _take_properties(entry: dict[str, Any], properties: list[tuple[str, Any]]) -> None:
    for name, value in properties:
        if name in _PROPERTY_FIELDS:
            entry[_PROPERTY_FIELDS[name]] = value
        elif isinstance(name, str) and name.startswith("devbox:record:"):
            entry["records"][name.removeprefix("devbox:record:")] = value


def _take_outcome(entry: dict[str, Any], report: pytest.TestReport) -> None:
    """Fold one phase's report into the entry: a failure in any phase wins; a skip only over a pass."""
    waived = getattr(report, "wasxfail", None) is not None and (entry.get("waiver") or {}).get("status")
    if report.when == "call" and report.skipped and waived == "waived":
        # A failure a valid waiver covers: counted apart, its failure kept as the message.
        entry["outcome"] = "waived"
        entry["message"] = entry["waiver"].get("failure") or entry["message"]
    elif report.failed:
        entry["outcome"] = "failed" if report.when == "call" else "error"
        if not entry["message"]:
            entry["message"] = report.longreprtext[-2000:]
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            entry["message"] = str(report.longrepr[2]).removeprefix("Skipped: ")
