"""--results-json: one JSON document per run, written by the controller from every test report.

    {"arch": "amd64", "image": {"ref": "gpu-devbox:local", "id": "sha256:…", "digests": []},
     "target_kind": "image", "base_kind": "standin", "exit_status": 0,
     "counts": {"binaries": {"passed": 40, "failed": 0, "skipped": 3}},
     "items": [{"nodeid": "tests/test_binaries.py::test_binary[rg]", "kind": "binaries", "key": "rg",
                "outcome": "passed", "message": "", "records": {}}]}
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
        entry = self.entries.setdefault(report.nodeid, {
            "nodeid": report.nodeid, "name": report.nodeid.split("::")[-1], "kind": None, "key": None,
            "outcome": "passed", "message": "", "records": {}, "duration_s": 0.0})
        entry["duration_s"] = round(entry["duration_s"] + float(report.duration or 0.0), 4)
        for name, value in report.user_properties:
            if name == "devbox:kind":
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

    def document(self, exit_status: int) -> dict[str, Any]:
        s = self.state
        attrs = s.image_attrs or {}
        counts: dict[str, dict[str, int]] = {}
        for entry in self.entries.values():
            kind = entry["kind"] or "other"
            bucket = counts.setdefault(kind, {"passed": 0, "failed": 0, "skipped": 0, "error": 0})
            bucket[entry["outcome"]] += 1
        return {
            "schema_version": 1,
            "arch": s.arch,
            "base_kind": s.base_kind,
            "target_kind": s.target_kind,
            "image": {"ref": s.image_ref, "id": attrs.get("Id"), "digests": attrs.get("RepoDigests") or []}
            if s.image_ref else None,
            "container": s.container,
            "expectations_dir": s.expectations_dir,
            "probe_seconds": s.probe_seconds,
            "exit_status": exit_status,
            "counts": counts,
            "totals": {k: sum(b[k] for b in counts.values())
                       for k in ("passed", "failed", "skipped", "error")},
            "items": sorted(self.entries.values(), key=lambda e: e["nodeid"]),
        }

    def write(self, path: Path, exit_status: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.document(exit_status), indent=2, default=str) + "\n")
