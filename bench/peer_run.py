"""The peer benchmark's runs: what one timed run of a runner records, the clean-up of what the run made, one
tool process timed in its own process group, and what a JUnit report says.

Part of bench/compare_peers.py (run that); apart so each file reads as one job.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_LABEL = "io.github.gpu-devbox.bench"
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"


@dataclass
class RunResult:
    """One timed run of one runner."""

    runner: str
    checks: int
    wall_s: float
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    # Set when the wall time is an extrapolation from a sample (container-structure-test only).
    extrapolated_from: int | None = None
    sample_wall_s: float | None = None
    load_before: float = 0.0
    note: str = ""
    # Seconds spent per contract kind, summed over the tool's own per-test times (peers only).
    seconds_by_kind: dict[str, float] = field(default_factory=dict)
    # First few failures: check id -> message, so a reader can tell a real defect from a peer's quirk.
    failures: dict[str, str] = field(default_factory=dict)


class Cleanup:
    """Containers and temp dirs this run made; removed at the end, on an error and on Ctrl-C/SIGTERM."""

    def __init__(self, run_id: str, image_id: str) -> None:
        self.run_id = run_id
        self.image_id = image_id
        self.dirs: list[Path] = []
        # Tags this run added to the image (removing a tag never removes an image that has another one).
        self.tags: list[str] = []
        self.child: subprocess.Popen[bytes] | None = None
        # Containers of the image (by ID, as container-structure-test names it) that existed before CST ran.
        self.cst_since: float | None = None
        self.cst_before: set[str] = set()

    def tempdir(self, what: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"bench-{what}-{self.run_id}-"))
        self.dirs.append(path)
        return path

    def _ids(self, *filters: str) -> list[str]:
        args = [DOCKER, "ps", "-aq", "--no-trunc", *[a for f in filters for a in ("--filter", f)]]
        out = subprocess.run(args, capture_output=True, text=True)
        return out.stdout.split()

    def cst_containers(self) -> list[str]:
        """Containers container-structure-test started in this run: it labels nothing, so they are the
        containers of (a child of) the image that appeared after it started and name their image by ID."""
        if self.cst_since is None:
            return []
        found = []
        for cid in self._ids(f"ancestor={self.image_id}"):
            if cid in self.cst_before:
                continue
            # CST runs a transient image derived from ours, named by ID; other people's containers of the
            # image carry its tag.
            ref = subprocess.run(
                [DOCKER, "inspect", "--format", "{{.Config.Image}}", cid], capture_output=True, text=True
            ).stdout.strip()
            if ref.startswith("sha256:"):
                found.append(cid)
        return found

    def stop_child(self) -> None:
        """Forward Ctrl-C to the running tool (its own cleanup runs), then kill it if it lingers."""
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 60), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def run(self) -> None:
        self.stop_child()
        ours = self._ids(f"label={BENCH_LABEL}={self.run_id}") + self.cst_containers()
        if ours:
            subprocess.run([DOCKER, "rm", "-f", "-v", *ours], capture_output=True)
        if self.tags:
            subprocess.run([DOCKER, "rmi", "--no-prune", *self.tags], capture_output=True)
            self.tags.clear()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def timed(
    cmd: list[str], cwd: Path, cleanup: Cleanup, env: dict[str, str] | None = None, timeout: float = 3600
) -> tuple[float, int, str]:
    """(wall seconds, exit code, stdout) of one tool run in its own process group."""
    t0 = time.monotonic()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    cleanup.child = child
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cleanup.stop_child()
        out = child.communicate()[0] if child.stdout else b""
    wall = time.monotonic() - t0
    cleanup.child = None
    return wall, child.returncode, out.decode("utf-8", "replace")


def peer_pytest(module: str, *extra: str) -> list[str]:
    """pytest on a peer's test module, as a team would run it: the suite registers itself as a pytest plugin
    (pytest11) and must not load, nor xdist or hypothesis's plugin, nor a cache."""
    plugins = ("cacheprovider", "xdist", "hypothesispytest", "devbox_conformance.plugin")
    off = [a for p in plugins for a in ("-p", f"no:{p}")]
    return [sys.executable, "-m", "pytest", module, *off, "-q", "--no-header", *extra]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    # Debian's docker client first; then the interpreter's own bin (a venv's container-structure-test).
    env["PATH"] = f"/usr/bin:{Path(sys.executable).parent}:" + env.get("PATH", "")
    env["DEVBOX_DOCKER"] = DOCKER
    return env


def _junit_suite(path: Path) -> Any:
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    return root if root.tag == "testsuite" else root.find("testsuite")


def junit_details(path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """(seconds per kind, failed check id -> message) from testinfra's JUnit report."""
    suite = _junit_suite(path)
    by_kind: dict[str, float] = {}
    failures: dict[str, str] = {}
    for case in suite.iter("testcase") if suite is not None else ():
        check_id = case.get("name", "").removeprefix("test_check[").removesuffix("]")
        kind = check_id.split("[", 1)[0]
        by_kind[kind] = round(by_kind.get(kind, 0.0) + float(case.get("time") or 0), 3)
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None and len(failures) < 10:
            failures[check_id] = (bad.get("message") or "")[:300]
    return by_kind, failures


def junit_counts(path: Path) -> dict[str, int]:
    suite = _junit_suite(path)
    if suite is None:
        return {}
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0))
    errors = int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    counts = {
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "skipped": skipped,
        "error": errors,
    }
    return {k: v for k, v in counts.items() if v}
