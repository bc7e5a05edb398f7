"""The conformance suite run from this checkout as a user runs it (`python -m pytest …` in a subprocess),
for the self-tests that judge a whole run: its exit code, its output and its --results-json document.

Why one helper: the command line, the working directory and the reading of the results file were written
out again in conftest.py and in several end-to-end modules (runs in the foreground, runs started in the
background to be interrupted); a change to how the suite is started had to be made in each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ConformanceRun:
    """What one run of the suite (in a subprocess, as a user runs it) reported."""

    returncode: int
    output: str
    # --results-json document ({} when none was written)
    results: dict[str, Any]

    def names(self, outcome: str) -> set[str]:
        return {e["name"] for e in self.results.get("items", []) if e["outcome"] == outcome}

    @property
    def failed(self) -> set[str]:
        return self.names("failed") | self.names("error")

    @property
    def skipped(self) -> dict[str, str]:
        return {e["name"]: e["message"] for e in self.results.get("items", []) if e["outcome"] == "skipped"}

    def describe(self) -> str:
        return f"rc={self.returncode} failed={sorted(self.failed)}\n{self.output[-4000:]}"


def suite_argv(*args: str) -> list[str]:
    """`python -m pytest -p no:cacheprovider ARGS` with this interpreter (the one the suite is installed in);
    no cache plugin, so a run leaves nothing behind in the checkout."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def suite_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The suite with ARGS from the repository root, run to its end; `env` is added to this environment."""
    return subprocess.run(
        suite_argv(*args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_suite(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> ConformanceRun:
    """suite_cli with --results-json to a temporary file, read back ({} when the run wrote none)."""
    with tempfile.TemporaryDirectory(prefix="devbox-suite-run-") as tmp:
        results = Path(tmp) / "results.json"
        proc = suite_cli(f"--results-json={results}", *args, env=env, timeout=timeout)
        data = json.loads(results.read_text()) if results.exists() else {}
    return ConformanceRun(proc.returncode, proc.stdout + proc.stderr, data)


def start_suite(
    *args: str, prefix: Sequence[str] = (), env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """The suite with ARGS started in the background from the repository root, for a test that interrupts
    or overlaps runs. `prefix` goes before the interpreter (e.g. `unshare …`); output is one text pipe
    (stdout with stderr) unless `popen` says otherwise; `env` is added to this environment."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, **popen}
    return subprocess.Popen(
        [*prefix, *suite_argv(*args)], cwd=REPO, env={**os.environ, **(env or {})}, **options
    )
