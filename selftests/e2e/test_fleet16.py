"""A fleet of 16 `docker://` hosts in one run: the report and the end-of-run table are right at that size,
and an unreachable host prints the same few lines whether the contract has 8 items or 24.

The hosts are containers of the stand-in base (python3 for the probe, nothing else of this project), each
ending by itself after at most 10 minutes and removed by the test, also when it fails. One host is removed
before the run (unreachable); another has lost `tar` (one red item).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, standin_base

pytestmark = pytest.mark.e2e

HOSTS = 16
DOWN, BROKEN = 3, 7
PRESENT = ("sh", "ls", "cat", "tar", "gzip", "grep", "sed", "python3")
# A label of this test's own: the suite's reaper judges its own containers by their lease, never these.
LABEL = "io.github.gpu-devbox.selftest=fleet16"


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[str]]:
    base = standin_base("amd64")
    run = uuid.uuid4().hex[:8]
    names = [f"devbox-fleet16-{run}-{i:02d}" for i in range(HOSTS)]
    try:
        for name in names:
            started = subprocess.run(
                [DOCKER, "run", "-d", "--rm", "--name", name, "--label", LABEL, "--entrypoint", "",
                 base, "sleep", "600"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert started.returncode == 0, started.stderr
        broken = subprocess.run(
            [DOCKER, "exec", names[BROKEN], "rm", "-f", "/usr/bin/tar"], capture_output=True
        )
        assert broken.returncode == 0, broken.stderr
        subprocess.run([DOCKER, "rm", "-f", names[DOWN]], capture_output=True, timeout=60)
        yield names
    finally:
        subprocess.run([DOCKER, "rm", "-f", *names], capture_output=True, timeout=120)


def _contract(directory: Path, fillers: int) -> Path:
    """The present tools, plus `fillers` optional absent ones (each a skip): more items, the same verdicts."""
    directory.mkdir()
    body = "binaries:\n" + "".join(f"  - name: {tool}\n" for tool in PRESENT)
    body += "".join(
        f"  - name: devbox-fleet16-absent-{i}\n    optional: true\n    reason: filler\n"
        for i in range(fillers)
    )
    (directory / "common.yaml").write_text(body)
    return directory


def _run(names: list[str], contract: Path, results: Path) -> tuple[int, str, dict]:
    hosts = ",".join(f"docker://{n}" for n in names)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-contract",
         f"--expectations={contract}", f"--hosts={hosts}", f"--results-json={results}",
         str(REPO / "tests" / "test_binaries.py"), str(REPO / "tests" / "test_hosts.py")],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr, json.loads(results.read_text())


def _table(out: str) -> list[list[str]]:
    """The end-of-run host table's rows (after its `devbox: hosts` rule), header first."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "devbox: hosts" in line and line.startswith("-"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith(("=", "-", "devbox:", "FAILED", "ERROR")):
            break
        rows.append(line.split())
    return rows


def test_sixteen_hosts_one_row_each_and_an_unreachable_host_stays_small(
    fleet: list[str], tmp_path: Path
) -> None:
    seen = {}
    for fillers in (0, 2 * len(PRESENT)):  # 8 items, then 24
        rc, out, doc = _run(
            fleet, _contract(tmp_path / f"c{fillers}", fillers), tmp_path / f"r{fillers}.json"
        )
        assert rc == 1, out[-4000:]
        assert [h["name"] for h in doc["hosts"]] == [f"docker://{n}" for n in fleet]
        failed = sorted(e["name"] for e in doc["items"] if e["outcome"] in ("failed", "error"))
        assert failed == sorted(
            [f"test_host[docker://{fleet[DOWN]}]", f"test_binary[docker://{fleet[BROKEN]}-tar]"]
        ), failed
        rows = _table(out)
        assert rows[0][:6] == ["host", "passed", "failed", "skipped", "error", "waived"], rows[:2]
        by_host = {r[0]: r for r in rows[1:]}
        assert len(by_host) == HOSTS, rows
        items = len(PRESENT) + fillers
        for i, name in enumerate(fleet):
            passed, failed_n, skipped = (int(x) for x in by_host[f"docker://{name}"][1:4])
            if i == DOWN:
                assert (passed, failed_n) == (0, 1) and "unreachable" in " ".join(by_host[f"docker://{name}"])
            elif i == BROKEN:
                assert (passed, failed_n, skipped) == (len(PRESENT), 1, fillers), by_host[f"docker://{name}"]
            else:  # its items and its test_host
                assert (passed, failed_n, skipped) == (len(PRESENT) + 1, 0, fillers), by_host[
                    f"docker://{name}"
                ]
        assert sum(int(r[1]) + int(r[2]) + int(r[3]) for r in rows[1:]) == len(doc["items"])
        seen[items] = [line for line in out.splitlines() if fleet[DOWN] in line]
    small, large = seen.values()
    assert len(small) == len(large) <= 6, (small, large)
