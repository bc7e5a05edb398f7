"""A run's temp dir names its owner, and a later run removes the dirs of runs that were killed outright."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from devbox_conformance import engine as eng


def _run_dir(parent: Path, name: str, owner: str | None) -> Path:
    path = parent / f"{eng.RUN_DIR_PREFIX}{name}"
    path.mkdir()
    (path / "devbox-run-x.json").write_text("{}")
    if owner is not None:
        (path / eng.RUN_DIR_OWNER).write_text(owner + "\n")
    return path


def test_only_the_dirs_of_dead_runs_on_this_machine_are_removed(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    # A pid that is gone (or reused: then its start time differs from the recorded one).
    dead = _run_dir(tmp_path, "dead", f"{socket.gethostname()}:{finished.pid}:1")
    live = _run_dir(tmp_path, "live", eng.owner_label())
    other_machine = _run_dir(tmp_path, "other", f"another-host-{socket.gethostname()}:{finished.pid}:1")
    unmarked = _run_dir(tmp_path, "unmarked", None)
    assert eng.reap_dead_run_dirs(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other_machine.exists() and unmarked.exists()


def test_a_run_dir_names_this_process_as_its_owner() -> None:
    path = eng.make_run_dir()
    try:
        assert path.name.startswith(eng.RUN_DIR_PREFIX)
        assert (path / eng.RUN_DIR_OWNER).read_text().strip() == eng.owner_label()
        assert eng.owner_alive(eng.owner_label())
    finally:
        shutil.rmtree(path)
