"""Container start-to-ready time, measured from the host (the one figure no target can take itself).

``docker run -d`` with the image's own entrypoint (its start-up work is what a user waits for) and
the suite's lease watchdog as the command (where ``sleep infinity`` would do, it also ends the
container by itself), then ``docker exec <c> true`` until it succeeds; the clock runs from just before
``docker run`` to the first successful exec. Each container is protected as the suite's own container
is: it carries the suite's labels and its lease, the run renews that lease while it measures, the
container exits (and ``--rm`` removes it) once its lease runs out, a later run's reaper removes it once
its lease is stale, and it is removed in ``finally`` on every exit path of the measurement.
Example::

    m = measure_start_to_ready("gpu-devbox:local", arch="amd64", runs=3)
    m.value   # median seconds
"""

from __future__ import annotations

import time

from devbox_conformance.engine import Engine, choose, remove_container, run_argv
from devbox_conformance.intarget.stats import summarize
from devbox_conformance.labels import new_run_id
from devbox_conformance.lease import Lease, lease_seconds, renew_every
from devbox_conformance.localrun import run_command

from .report import Measurement

POLL_S = 0.05


class ContainerStartError(RuntimeError):
    """The container did not start or never accepted an exec; the message carries docker's words."""


def _one_start(engine: Engine, image_ref: str, arch: str, run_id: str, index: int, timeout: float) -> float:
    name = f"devbox-perf-start-{run_id}-{index}"
    lease_s = lease_seconds()
    # Renewal starts before the container does: a killed measurement leaves a container with a stale
    # lease (or none), never one that lives on.
    lease = Lease(engine, name, renew_every(lease_s))
    started = time.perf_counter()
    try:
        argv = run_argv(engine, image_ref, name, run_id, lease_s, platform=f"linux/{arch}", extra=[])
        result = run_command(argv, timeout=timeout)
        if result.exit_code != 0:
            raise ContainerStartError(
                f"docker run {image_ref} exited {result.exit_code}: {result.stderr.strip()[-300:]}"
            )
        deadline = started + timeout
        last = ""
        while time.perf_counter() < deadline:
            probe = run_command([engine.cli, "exec", name, "true"], timeout=timeout)
            if probe.exit_code == 0:
                return time.perf_counter() - started
            last = probe.stderr.strip()[-200:]
            time.sleep(POLL_S)
        raise ContainerStartError(f"{image_ref}: no successful exec within {timeout:g} s ({last})")
    finally:
        lease.stop()
        remove_container(engine, name)


def measure_start_to_ready(
    image_ref: str, *, arch: str, runs: int = 3, timeout: float = 120.0, engine: Engine | None = None
) -> Measurement:
    """Median of ``runs`` start-to-ready times (one untimed start first: layer mounts, page cache)."""
    engine = engine or choose("auto")
    run_id = new_run_id()
    _one_start(engine, image_ref, arch, run_id, 0, timeout)
    samples = [_one_start(engine, image_ref, arch, run_id, i, timeout) for i in range(1, runs + 1)]
    # Single starts: each is its own group, so this is the plain median and relative IQR (the summary the
    # in-target scripts report, so the figures read alike).
    center, spread, _ = summarize([[s] for s in samples])
    return Measurement(
        name="container_ready",
        unit="s",
        value=center,
        spread=spread,
        samples=tuple(samples),
        durations_s=tuple(samples),
        how=f"host clock: `docker run -d {image_ref} <lease watchdog>` (image entrypoint kept) to the first "
        f"successful `docker exec true`; 1 warmup + median of {runs}",
    )
