"""--results-json: one JSON document per run, written by the controller from every test report.

    {"arch": "amd64", "image": {"ref": "gpu-devbox:local", "id": "sha256:…", "digests": []},
     "target_kind": "image", "base_kind": "standin", "exit_status": 0,
     "counts": {"binaries": {"passed": 40, "failed": 0, "skipped": 3}},
     "hosts": [{"name": "docker://devbox-conformance-…", "kind": "image", "arch": "amd64", "error": None,
                "totals": {"passed": 300, "failed": 0, "skipped": 30, "error": 0}}],
     "items": [{"nodeid": "tests/test_binaries.py::test_binary[rg]", "host": "docker://…", "kind": "binaries",
                "key": "rg", "outcome": "passed", "message": "", "records": {}}]}

The top-level arch/image/target fields describe the first host (the only one of an --image run); "hosts"
has one entry per host and every item names its host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.session import RunState


class ResultsCollector:
    """Merges the setup/call/teardown reports of each test into one outcome per test id."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.entries: dict[str, dict[str, Any]] = {}

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
        for name, value in report.user_properties:
            if name == "devbox:host":
                entry["host"] = value
            elif name == "devbox:kind":
                entry["kind"] = value
            elif name == "devbox:key":
                entry["key"] = value
            elif name == "devbox:message":
                entry["message"] = value
            elif isinstance(name, str) and name.startswith("devbox:record:"):
                entry["records"][name.removeprefix("devbox:record:")] = value
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            if not entry["message"]:
                entry["message"] = report.longreprtext[-2000:]
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
                entry["message"] = str(report.longrepr[2]).removeprefix("Skipped: ")

    def _host_totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for entry in self.entries.values():
            name = entry["host"] or self.state.first.name
            bucket = totals.setdefault(name, {"passed": 0, "failed": 0, "skipped": 0, "error": 0})
            bucket[entry["outcome"]] += 1
        return totals

    def failing_hosts(self) -> list[str]:
        """One line per host with a failed item or an error: its name, counts and why when unreachable."""
        totals = self._host_totals()
        lines = []
        for host in self.state.hosts:
            counts = totals.get(host.name, {})
            bad = counts.get("failed", 0) + counts.get("error", 0)
            problem = host.error or self.state.probe_error(host.name)
            if bad or problem:
                lines.append(f"{host.name}: {bad} failed" + (f" ({problem})" if problem else ""))
        return lines

    def document(self, exit_status: int) -> dict[str, Any]:
        s = self.state
        first = s.first
        attrs = first.image_attrs or {}
        counts: dict[str, dict[str, int]] = {}
        for entry in self.entries.values():
            kind = entry["kind"] or "other"
            bucket = counts.setdefault(kind, {"passed": 0, "failed": 0, "skipped": 0, "error": 0})
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
                    "totals": totals.get(h.name, {"passed": 0, "failed": 0, "skipped": 0, "error": 0}),
                }
                for h in s.hosts
            ],
            "exit_status": exit_status,
            "counts": counts,
            "totals": {
                k: sum(b[k] for b in counts.values()) for k in ("passed", "failed", "skipped", "error")
            },
            "items": sorted(self.entries.values(), key=lambda e: e["nodeid"]),
        }

    def write(self, path: Path, exit_status: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(exit_status), indent=2, default=str) + "\n")
