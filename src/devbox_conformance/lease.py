"""Container leases: how a live run keeps its containers, and how a dead run's are known to be dead.

Liveness is a lease, never a process id: a pid says nothing across pid namespaces (CI jobs in containers
sharing the host's engine, `unshare --pid`), under `/proc` mounted with `hidepid`, or for an engine other
machines share.

- Each container runs a watchdog as its command instead of `sleep infinity`: it exits — and `--rm` removes
  it — once its lease file is older than its lease (`DEVBOX_CONTAINER_LEASE_S`, 120 s); the run renews the
  lease every quarter of that while it lives (`Lease`). A lease the container cannot write (`--read-only`)
  is refused at start in one line (`write_lease`), before the container could vanish for no stated reason.
- A lease not renewed for half its length (two renewals missed) is stale (`stale_after`); its age is read
  inside the container (`lease_age`), so the engine's clock judges, whoever started it and from wherever.
  reaper.py removes what is stale.
"""

from __future__ import annotations

import math
import os
import threading
from typing import TYPE_CHECKING

import pytest

from devbox_conformance.localrun import last_line, run_command
from devbox_conformance.target import TargetError

if TYPE_CHECKING:
    from devbox_conformance.engine import Engine

LEASE_PATH = "/tmp/.devbox-conformance-lease"
LEASE_ENV = "DEVBOX_CONTAINER_LEASE_S"
DEFAULT_LEASE_S = 120.0
# Below 4 s a renewal (an `exec`) cannot be trusted to come in time; above a day a leak is not bounded.
LEASE_RANGE_S = (4.0, 86400.0)

_WATCHDOG = (
    "trap 'exit 0' TERM INT; touch {path}; "
    "while sleep {every}; do "
    "age=$(( $(date +%s) - $(stat -c %Y {path} 2>/dev/null || echo 0) )); "
    '[ "$age" -lt {lease} ] || exit 0; done'
)
# Prints the lease's age in seconds by the container's own clock, or "none" when it has no lease file.
_LEASE_AGE = "m=$(stat -c %Y {path} 2>/dev/null) || {{ echo none; exit 0; }}; echo $(( $(date +%s) - m ))"


class LeaseSettingError(TargetError, pytest.UsageError):
    """DEVBOX_CONTAINER_LEASE_S is not a usable number of seconds.

    A UsageError too, so that pytest prints its one line wherever a run first needs the lease, even
    before the plugin's own error handling is in place.
    """


def lease_seconds() -> float:
    """The container lease from DEVBOX_CONTAINER_LEASE_S, read when a run needs it (never at import).

    A bad value is refused in one line naming the variable and what it takes: at import time it used to
    break every pytest run in that environment, suite or not.
    """
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE_S
    low, high = LEASE_RANGE_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # also refuses nan and inf
        raise LeaseSettingError(
            f"{LEASE_ENV}={raw!r}: takes a plain number of seconds from {low:g} to {high:g} "
            f"(e.g. {DEFAULT_LEASE_S:g}; no unit)"
        )
    return value


def renew_every(lease_s: float) -> float:
    """How often a run renews a lease of `lease_s`: every quarter of it."""
    return max(1.0, lease_s / 4)


def stale_after(lease_s: float) -> float:
    """A lease not renewed for this long belongs to a dead run: two renewals missed (half the lease).

    The watchdog in the container waits the whole lease; the reaper may act sooner because a renewal
    that fails is retried within a second or two (`Lease`), so two missed renewals mean no renewer.
    """
    return 2 * renew_every(lease_s)


def watchdog_command(lease_s: float) -> list[str]:
    """The container's command: exits once the lease file is older than `lease_s`."""
    # The watchdog wakes rarely: under QEMU every `sleep`/`date`/`stat` it starts is an emulated process,
    # CPU the image's own health check and the probe need more.
    every = max(1, min(15, int(lease_s) // 4))
    return ["sh", "-c", _WATCHDOG.format(path=LEASE_PATH, lease=int(lease_s), every=every)]


def lease_age(engine: Engine, name: str) -> float | None:
    """The age of a running container's lease by its own clock; inf when it has none; None when unknown."""
    result = run_command(
        [engine.cli, "exec", name, "sh", "-c", _LEASE_AGE.format(path=LEASE_PATH)], timeout=30
    )
    answer = result.stdout.strip()
    if result.exit_code != 0:
        return None
    if answer == "none":
        return math.inf
    try:
        return float(answer)
    except ValueError:
        return None


def write_lease(engine: Engine, name: str) -> str | None:
    """Renew the lease once; None when done, else one line that says why it cannot be (and what to do)."""
    result = run_command([engine.cli, "exec", name, "touch", LEASE_PATH], timeout=60)
    if result.exit_code == 0:
        return None
    why = last_line(result.stderr + result.stdout)
    if "not running" in why.lower():
        return f"it stopped right after it started ({why})"
    return (
        f"cannot write its lease file {LEASE_PATH} ({why}); the run renews that file to keep the "
        "container alive, so it needs a writable /tmp: drop --read-only from the engine arguments, "
        "or add --engine-arg=--tmpfs=/tmp"
    )


class Lease:
    """Renews a container's lease from a daemon thread while the run lives; stop() ends renewal.

    A renewal that fails (a slow engine, a busy machine) is retried a second later rather than a whole
    interval later, so a live run's lease never looks stale to another run's reaper.
    """

    def __init__(self, engine: Engine, container: str, every_s: float | None = None) -> None:
        self.engine = engine
        self.container = container
        self.every_s = every_s if every_s is not None else renew_every(lease_seconds())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="devbox-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        wait = self.every_s
        while not self._stop.wait(wait):
            result = run_command(
                [self.engine.cli, "exec", self.container, "touch", LEASE_PATH],
                timeout=max(5.0, self.every_s / 2),
            )
            wait = self.every_s if result.exit_code == 0 else min(1.0, self.every_s)

    def stop(self) -> None:
        self._stop.set()
