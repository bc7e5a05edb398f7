"""A run's temp dir and containers live as long as their lease is renewed, and no longer; no pid decides.

The false green this guards against: a reaper that took an owner whose pid it cannot see as dead removed
the temp dir and container of a live run in another pid namespace (or under /proc's hidepid).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from devbox_conformance import engine as eng
from devbox_conformance import labels as lbl
from devbox_conformance import lease as leases
from devbox_conformance import reaper
from devbox_conformance.localrun import RunResult


def _run_dir(
    parent: Path, name: str, owner: str | None, beat_age_s: float | None, lease: str = "120"
) -> Path:
    path = parent / f"{reaper.RUN_DIR_PREFIX}{name}"
    path.mkdir()
    (path / "devbox-run-x.json").write_text("{}")
    if owner is not None:
        (path / reaper.RUN_DIR_OWNER).write_text(owner + "\n")
    if beat_age_s is not None:
        beat = path / reaper.RUN_DIR_HEARTBEAT
        beat.write_text(lease + "\n")
        then = time.time() - beat_age_s
        os.utime(beat, (then, then))
    return path


def _gone_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_only_dirs_with_a_stale_heartbeat_are_removed(tmp_path: Path) -> None:
    host = socket.gethostname()
    # Heartbeat of a 120 s lease: stale after two missed renewals (60 s).
    stale = _run_dir(tmp_path, "stale", f"{host}:{os.getpid()}:1", beat_age_s=61)
    fresh = _run_dir(tmp_path, "fresh", lbl.owner_label(), beat_age_s=5)
    unmarked = _run_dir(tmp_path, "unmarked", None, beat_age_s=None)
    # An older suite's dir: an owner file, no heartbeat: never judged.
    no_beat = _run_dir(tmp_path, "nobeat", f"{host}:{_gone_pid()}:1", beat_age_s=None)
    assert reaper.reap_dead_run_dirs(tmp_path) == [stale]
    assert not stale.exists() and fresh.exists() and unmarked.exists() and no_beat.exists()


def test_a_dir_whose_owner_pid_is_not_visible_but_whose_heartbeat_is_fresh_is_kept(tmp_path: Path) -> None:
    # The run in another pid namespace (or behind hidepid): its pid is not in this /proc, or names a
    # different process here. Before the fix this dir was removed under the live run (INTERNALERROR).
    host = socket.gethostname()
    invisible = _run_dir(tmp_path, "pidns", f"{host}:{_gone_pid()}:1", beat_age_s=1)
    reused = _run_dir(tmp_path, "reused", f"{host}:1:999999999", beat_age_s=1)
    assert reaper.reap_dead_run_dirs(tmp_path) == []
    assert invisible.exists() and reused.exists()


def test_each_dir_is_judged_by_its_own_lease(tmp_path: Path) -> None:
    # A dir of a run with a 600 s lease is alive at 200 s; one with a 8 s lease is dead at 5 s.
    long_lease = _run_dir(tmp_path, "long", None, beat_age_s=200, lease="600")
    short_lease = _run_dir(tmp_path, "short", None, beat_age_s=5, lease="8")
    assert reaper.reap_dead_run_dirs(tmp_path) == [short_lease]
    assert long_lease.exists()


def test_a_run_dir_has_a_heartbeat_that_is_renewed_and_stops_with_the_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(leases.LEASE_ENV, "4")  # renewed every second
    # A temp dir of its own: this test makes its heartbeat stale on purpose, and a suite run in another
    # xdist worker would rightly reap it from the shared /tmp.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = reaper.make_run_dir()
    try:
        beat = path / reaper.RUN_DIR_HEARTBEAT
        assert path.name.startswith(reaper.RUN_DIR_PREFIX)
        assert (path / reaper.RUN_DIR_OWNER).read_text().strip() == lbl.owner_label()
        assert beat.read_text().strip() == "4"
        old = time.time() - 100
        os.utime(beat, (old, old))
        assert reaper.run_dir_stale(path)
        deadline = time.monotonic() + 10
        while reaper.run_dir_stale(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not reaper.run_dir_stale(path), "the heartbeat was not renewed"
    finally:
        shutil.rmtree(path)
    time.sleep(1.5)
    assert not path.exists(), "the heartbeat re-created a dir the run removed"


@pytest.mark.parametrize(
    ("value", "expected"), [("", 120.0), ("6", 6.0), (" 90.5 ", 90.5), ("86400", 86400.0)]
)
def test_the_lease_setting_is_read_when_needed(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: float
) -> None:
    monkeypatch.setenv(leases.LEASE_ENV, value)
    assert leases.lease_seconds() == expected


@pytest.mark.parametrize("value", ["2m", "nan", "inf", "-5", "0", "3", "1e9", "120s"])
def test_a_bad_lease_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(leases.LEASE_ENV, value)
    with pytest.raises(leases.LeaseSettingError) as info:
        leases.lease_seconds()
    assert str(info.value) == (
        f"DEVBOX_CONTAINER_LEASE_S={value!r}: "
        "takes a plain number of seconds from 4 to 86400 (e.g. 120; no unit)"
    )
    # pytest prints a UsageError as one `ERROR:` line, wherever the run first needs the lease.
    assert isinstance(info.value, pytest.UsageError)
    with pytest.raises(leases.LeaseSettingError):
        reaper.make_run_dir()


def test_a_bad_lease_setting_does_not_break_import(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "import devbox_conformance.engine, devbox_conformance.plugin"],
        env={**os.environ, leases.LEASE_ENV: "2m"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


class _FakeEngine:
    """Answers `ps`, `exec` (lease age) and `inspect` as an engine would, and records `rm`."""

    def __init__(self, rows: list[str], ages: dict[str, str | None], created: dict[str, str]) -> None:
        self.rows, self.ages, self.created = rows, ages, created
        self.removed: list[str] = []

    def __call__(self, argv: list[str], timeout: float = 0, **_: object) -> RunResult:
        verb = argv[1]
        if verb == "ps":
            return RunResult(0, "\n".join(self.rows) + "\n", "")
        if verb == "exec":
            age = self.ages.get(argv[2])
            return RunResult(1, "", "Error: container is paused") if age is None else RunResult(0, age, "")
        if verb == "container" and argv[2] == "inspect":
            return RunResult(0, f'[{{"Created": "{self.created[argv[3]]}"}}]', "")
        if verb == "rm":
            self.removed.append(argv[-1])
            return RunResult(0, "", "")
        raise AssertionError(argv)


def _stamp(age_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(time.time() - age_s))


def test_only_containers_with_a_stale_lease_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeEngine(
        rows=[
            "fresh\trunning\t120",  # a live run, wherever its pid lives
            "stale\trunning\t120",
            "long-lease\trunning\t600",  # 200 s old lease of a 600 s lease: alive
            "old-suite\trunning\t",  # no lease label: judged by the default lease
            "paused\trunning\t120",  # its lease cannot be read: left alone
            "starting\trunning\t120",  # no lease file yet, created 3 s ago: left alone
            "never-renewed\trunning\t120",  # no lease file, created 10 min ago
            "exited-old\texited\t120",
            "created-now\tcreated\t120",
        ],
        ages={
            "fresh": "20",
            "stale": "61",
            "long-lease": "200",
            "old-suite": "70",
            "paused": None,
            "starting": "none",
            "never-renewed": "none",
        },
        created={
            "starting": _stamp(3),
            "never-renewed": _stamp(600),
            "exited-old": _stamp(600),
            "created-now": _stamp(1),
        },
    )
    for module in (eng, leases, reaper):  # each calls the local runner it imported
        monkeypatch.setattr(module, "run_command", fake)
    engine = eng.Engine("docker", "docker")
    dead = reaper.reap_dead_runs(engine)
    assert sorted(dead) == ["exited-old", "never-renewed", "old-suite", "stale"]
    assert sorted(fake.removed) == sorted(dead)


def test_a_container_that_cannot_hold_its_lease_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[list[str]] = []

    def fake(argv: list[str], timeout: float = 0, **_: object) -> RunResult:
        calls.append(argv)
        if argv[1] == "exec":
            return RunResult(
                1, "", "touch: cannot touch '/tmp/.devbox-conformance-lease': Read-only file system\n"
            )
        return RunResult(0, "cid\n", "")

    for module in (eng, leases, reaper):  # each calls the local runner it imported
        monkeypatch.setattr(module, "run_command", fake)
    monkeypatch.delenv(leases.LEASE_ENV, raising=False)
    with pytest.raises(eng.TargetError) as info:
        eng.start_container(
            eng.Engine("docker", "docker", ("--read-only",)), "img:1", "r1", platform=None, gpu_args=[]
        )
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "container of img:1: cannot write its lease file /tmp/.devbox-conformance-lease "
        "(touch: cannot touch '/tmp/.devbox-conformance-lease': Read-only file system)"
    )
    assert "--read-only" in message and "--tmpfs=/tmp" in message
    assert calls[-1][:3] == ["docker", "rm", "-f"], "the refused container is removed"


def test_containers_carry_lease_and_group_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lbl.GROUP_ENV, "ci-42")
    args = lbl.run_labels("r1", 90)
    labels = [args[i + 1] for i in range(0, len(args), 2)]
    assert labels[:2] == [f"{lbl.CONTAINER_LABEL}=r1", f"{lbl.LEASE_LABEL}=90"]
    assert f"{lbl.GROUP_LABEL}=ci-42" in labels
    monkeypatch.delenv(lbl.GROUP_ENV)
    assert not any(label.startswith(lbl.GROUP_LABEL) for label in lbl.run_labels("r1", 90)[1::2])
