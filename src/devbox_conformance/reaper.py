"""Reaping what killed runs left behind: their containers and their temp dirs, judged by lease alone.

- Before it starts its own, a run removes the labelled containers whose lease is stale: not renewed for
  half the lease, i.e. two renewals missed (`reap_dead_runs`). A run killed with SIGKILL therefore leaves
  its container for at most half a lease after the next run starts, and a lease in any case.
- A run's temp dir holds a heartbeat file the run touches as often as it renews a lease (`make_run_dir`);
  a later run removes the dirs whose heartbeat is stale by the same rule (`reap_dead_run_dirs`). Dirs
  without a heartbeat are never judged.

The owner label and file (labels.owner_label) are information for a person; nothing here decides on them.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from devbox_conformance.engine import Engine, inspect_object, remove_container
from devbox_conformance.labels import CONTAINER_LABEL, LEASE_LABEL, owner_label
from devbox_conformance.lease import (
    DEFAULT_LEASE_S,
    LEASE_RANGE_S,
    lease_age,
    lease_seconds,
    renew_every,
    stale_after,
)
from devbox_conformance.localrun import run_command
from devbox_conformance.target import TargetError

# A run's temp dir (facts, run file, ssh sockets), the file in it naming its owner (information) and the
# heartbeat file the run touches while it lives (its content: the lease in seconds it is judged by).
RUN_DIR_PREFIX = "devbox-conformance-"
RUN_DIR_OWNER = "owner"
RUN_DIR_HEARTBEAT = "heartbeat"


class _Heartbeat:
    """Touches a run dir's heartbeat file from a daemon thread until the dir is gone (the run removed it)."""

    def __init__(self, path: Path, every_s: float) -> None:
        self.path = path
        self.every_s = every_s
        self._stop = threading.Event()
        threading.Thread(target=self._beat, name="devbox-run-dir-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                os.utime(self.path)  # never re-creates a file (or dir) the run's clean-up removed
            except FileNotFoundError:
                return
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()


def make_run_dir() -> Path:
    """The run's temp dir, with a heartbeat this process renews: a later run removes it only once stale.

    LeaseSettingError (one line) for a bad DEVBOX_CONTAINER_LEASE_S, before anything is made.
    """
    lease_s = lease_seconds()
    path = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    (path / RUN_DIR_OWNER).write_text(owner_label() + "\n", encoding="utf-8")
    (path / RUN_DIR_HEARTBEAT).write_text(f"{lease_s:g}\n", encoding="utf-8")
    _Heartbeat(path / RUN_DIR_HEARTBEAT, renew_every(lease_s))
    return path


def run_dir_stale(path: Path, now: float | None = None) -> bool:
    """True when the run dir's heartbeat is older than its stale limit; False when fresh or not readable.

    A dir without a heartbeat (being made, or left by an older suite) is never judged stale.
    """
    heartbeat = path / RUN_DIR_HEARTBEAT
    try:
        age = (time.time() if now is None else now) - heartbeat.stat().st_mtime
        text = heartbeat.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    try:
        lease_s = float(text)
    except ValueError:
        lease_s = math.nan
    if not (LEASE_RANGE_S[0] <= lease_s <= LEASE_RANGE_S[1]):
        lease_s = DEFAULT_LEASE_S
    return age > stale_after(lease_s)


def reap_dead_run_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the temp dirs of earlier runs whose heartbeat is stale (killed: no clean-up ran).

    Liveness is the heartbeat's age alone: a run in another pid namespace, or hidden by `hidepid`, keeps
    its dir as long as it renews it.
    """
    removed = []
    for path in sorted(Path(parent or tempfile.gettempdir()).glob(RUN_DIR_PREFIX + "*")):
        if path.is_dir() and run_dir_stale(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@dataclass(frozen=True)
class _Listed:
    """A labelled container as `ps` lists it."""

    name: str
    running: bool
    lease_s: float


def _labelled_containers(engine: Engine) -> list[_Listed]:
    listing = run_command(
        [
            engine.cli,
            "ps",
            "-a",
            "--filter",
            f"label={CONTAINER_LABEL}",
            "--format",
            '{{.Names}}\t{{.State}}\t{{.Label "' + LEASE_LABEL + '"}}',
        ],
        timeout=60,
    )
    if listing.exit_code != 0:
        return []
    found = []
    for line in listing.stdout.splitlines():
        name, state, lease = ([*line.split("\t"), "", ""])[:3]
        try:
            lease_s = float(lease)
        except ValueError:
            lease_s = DEFAULT_LEASE_S  # a container of an older suite: the default it ran with
        if name.strip():
            found.append(_Listed(name.strip(), state.strip().lower() == "running", lease_s))
    return found


def _created_age(engine: Engine, name: str) -> float | None:
    """Seconds since the container was created (engine's timestamp, this machine's clock); None if unknown."""
    created = str((_inspect_quiet(engine, name) or {}).get("Created") or "")
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", created)
    if not match:
        return None
    zone = match.group(2) or "Z"
    stamp = datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone))
    return time.time() - stamp.timestamp()


def _inspect_quiet(engine: Engine, name: str) -> dict[str, Any] | None:
    try:
        return inspect_object(engine, "container", name)
    except TargetError:
        return None


def container_dead(engine: Engine, found: _Listed) -> bool:
    """A container is dead when its lease is stale; nothing else (a pid, a hostname) decides.

    Running: the lease's age is read inside it. No lease to read (not running, or no lease file yet):
    dead only once it is older than the stale limit, since a live run's renewal creates the file as soon
    as the container accepts an `exec`. Whatever cannot be read is left alone.
    """
    limit = stale_after(found.lease_s)
    age = lease_age(engine, found.name) if found.running else math.inf
    if age is None:
        return False
    if age == math.inf:
        created = _created_age(engine, found.name)
        return created is not None and created > limit
    return age > limit


def reap_dead_runs(engine: Engine) -> list[str]:
    """Remove the labelled containers whose lease is stale (their run is dead); returns their names.

    Every labelled container on the engine is judged, whoever started it and from wherever: a live run
    keeps its lease fresh. The leases are read side by side (one `exec` each).
    """
    listed = _labelled_containers(engine)
    if not listed:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(listed))) as pool:
        verdicts = list(pool.map(lambda found: container_dead(engine, found), listed))
    dead = [found.name for found, is_dead in zip(listed, verdicts, strict=True) if is_dead]
    for name in dead:
        remove_container(engine, name)
    return dead
