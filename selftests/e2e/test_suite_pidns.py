"""Runs that share one engine, one hostname and one /tmp leave each other alone, whatever pid namespace
each lives in; a container that cannot hold its lease, or a lease setting that is not a number, is one line.

Before leases decided, the second run took the first one's owner (a pid it could not see from its own
namespace) as dead and removed its container and temp dir: the first run died with an INTERNALERROR.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, slow_contract
from suite_runs import start_suite, suite_cli

from devbox_conformance.labels import GROUP_LABEL
from devbox_conformance.lease import LEASE_PATH
from devbox_conformance.reaper import RUN_DIR_PREFIX

pytestmark = pytest.mark.e2e

FIXTURE_EXPECTATIONS = REPO / "selftests" / "fixtures" / "suite" / "expectations"
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


@pytest.fixture
def slow_expectations(tmp_path: Path) -> Path:
    """The fixture's contract plus a 20 s version run: each run's probe lasts long enough to overlap."""
    return slow_contract(tmp_path / "slow", 20)


def _group_containers(group: str) -> list[str]:
    out = subprocess.run(
        [DOCKER, "ps", "-a", "--filter", f"label={GROUP_LABEL}={group}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def _run_dir_of(container: str) -> Path:
    """The temp dir of the run that owns `container` (its run file names the run id); other people's runs
    on this machine make dirs of their own."""
    run_id = container.removeprefix("devbox-conformance-")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*/devbox-run-{run_id}.json"))
        if found:
            return found[0].parent
        time.sleep(0.2)
    raise AssertionError(f"no run dir holds the run file of {container}")


def _start(prefix: list[str], image: str, expectations: Path, results: Path, group: str) -> subprocess.Popen:
    return start_suite(
        f"--results-json={results}",
        "--image",
        image,
        f"--expectations={expectations}",
        "tests",
        prefix=prefix,
        env={"DEVBOX_RUN_GROUP": group},
    )


def _wait_for_container(proc: subprocess.Popen, group: str) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        names = _group_containers(group)
        if names:
            return names[0]
        time.sleep(0.2)
    out = proc.communicate(timeout=60)[0] if proc.poll() is not None else ""
    raise AssertionError(f"run {group} never started its container\n{out[-3000:]}")


def _finish(proc: subprocess.Popen, results: Path) -> tuple[int, str, dict]:
    out, _ = proc.communicate(timeout=600)
    doc = json.loads(results.read_text()) if results.exists() else {}
    return proc.returncode, out, doc


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=60)


def test_two_runs_in_separate_pid_namespaces_both_pass(
    suite_fixture_image: str, slow_expectations: Path, tmp_path: Path
) -> None:
    if subprocess.run([*UNSHARE, "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare --pid needs root or user namespaces on this machine")
    tag = f"pidns-{os.getpid()}"
    first_group, second_group = f"{tag}-host", f"{tag}-ns"
    first = _start([], suite_fixture_image, slow_expectations, tmp_path / "first.json", first_group)
    second = None
    try:
        first_container = _wait_for_container(first, first_group)
        first_dir = _run_dir_of(first_container)
        time.sleep(3)
        # The second run lives in its own pid namespace: the first run's pid is not in its /proc.
        second = _start(
            UNSHARE, suite_fixture_image, slow_expectations, tmp_path / "second.json", second_group
        )
        second_container = _wait_for_container(second, second_group)
        # The second run has reaped before it started its container: the first run's are still there.
        assert first.poll() is None, "the first run ended before the second one started"
        assert _group_containers(first_group) == [first_container]
        assert first_dir.exists(), "the second run removed the first run's temp dir"
        second_dir = _run_dir_of(second_container)
        first_rc, first_out, first_doc = _finish(first, tmp_path / "first.json")
        second_rc, second_out, second_doc = _finish(second, tmp_path / "second.json")
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
    for which, rc, out, doc in (
        ("first (host namespace)", first_rc, first_out, first_doc),
        ("second (own pid namespace)", second_rc, second_out, second_doc),
    ):
        assert rc == 0, f"{which} run: {out[-4000:]}"
        outcomes = {e["outcome"] for e in doc.get("items", [])}
        assert outcomes <= {"passed", "skipped"} and "passed" in outcomes, f"{which} run: {out[-4000:]}"
        assert "INTERNALERROR" not in out, f"{which} run: {out[-4000:]}"
    # Each run removed its own container and dir at its end.
    assert not _group_containers(first_group) and not _group_containers(second_group)
    assert second_container != first_container
    assert first_dir != second_dir and not first_dir.exists() and not second_dir.exists()


def test_a_container_that_cannot_write_its_lease_is_one_line(
    suite_fixture_image: str, tmp_path: Path
) -> None:
    group = f"readonly-{os.getpid()}"
    proc = suite_cli(
        "--image",
        suite_fixture_image,
        "--engine-arg=--read-only",
        f"--expectations={FIXTURE_EXPECTATIONS}",
        "tests",
        env={"DEVBOX_RUN_GROUP": group},
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("ERROR:")]
    assert proc.returncode == 4 and len(errors) == 1, out
    assert f"cannot write its lease file {LEASE_PATH}" in errors[0], errors
    assert "Read-only file system" in errors[0] and "--tmpfs=/tmp" in errors[0], errors
    assert "Traceback" not in out, out
    assert not _group_containers(group), "the refused container was left behind"


def test_a_lease_setting_with_a_unit_is_one_line() -> None:
    proc = suite_cli(
        "--image", "devbox-no-such:image", "tests", env={"DEVBOX_CONTAINER_LEASE_S": "2m"}, timeout=300
    )
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("ERROR:")]
    assert proc.returncode == 4, out
    assert errors == [
        "ERROR: DEVBOX_CONTAINER_LEASE_S='2m': takes a plain number of seconds from 4 to 86400 "
        "(e.g. 120; no unit)"
    ], out
    assert "Traceback" not in out, out
