"""Helpers for end-to-end tests: run the conformance suite as a user would and read what it reported.

The suite is run in a subprocess (`python3 -m pytest --image …`) so the tests see exactly what a user's
terminal and CI see: exit code, one-line errors, JUnit XML. Outcomes are read from the JUnit XML that
pytest itself writes, so these tests do not depend on the suite's own JSON format.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def docker_cli() -> str:
    """The docker client that can drive BuildKit here: Debian's, when the newer one on PATH lacks buildx."""
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")


def image_exists(ref: str) -> bool:
    return subprocess.run([docker_cli(), "image", "inspect", ref], capture_output=True).returncode == 0


@dataclass(frozen=True)
class SuiteRun:
    """What one run of the suite reported."""

    returncode: int
    # Test names as pytest prints them inside a module, e.g. "test_binary[rg]".
    passed: frozenset[str]
    failed: frozenset[str]
    # name -> skip message
    skipped: dict[str, str] = field(default_factory=dict)
    output: str = ""
    results: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"rc={self.returncode} passed={len(self.passed)} failed={sorted(self.failed)} "
                f"skipped={len(self.skipped)}\n{self.output[-5000:]}")


def _read_junit(path: Path) -> tuple[set[str], set[str], dict[str, str]]:
    passed: set[str] = set()
    failed: set[str] = set()
    skipped: dict[str, str] = {}
    if not path.exists():
        return passed, failed, skipped
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(name)
        elif (skip := case.find("skipped")) is not None:
            skipped[name] = skip.get("message", "")
        else:
            passed.add(name)
    return passed, failed, skipped


def run_suite(target_args: list[str], *extra: str, timeout: float = 1800) -> SuiteRun:
    """Run `pytest <target_args> <extra>` from the repository root and collect its outcome."""
    with tempfile.TemporaryDirectory(prefix="devbox-suite-") as tmp:
        junit = Path(tmp) / "junit.xml"
        results = Path(tmp) / "results.json"
        cmd = ["python3", "-m", "pytest", *target_args, "-p", "no:cacheprovider",
               f"--junitxml={junit}", f"--results-json={results}", *extra]
        env = {**os.environ, "PATH": f"{Path(docker_cli()).parent}:{os.environ.get('PATH', '')}"}
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
        passed, failed, skipped = _read_junit(junit)
        data = json.loads(results.read_text()) if results.exists() else {}
    return SuiteRun(proc.returncode, frozenset(passed), frozenset(failed), skipped,
                    proc.stdout + proc.stderr, data)
