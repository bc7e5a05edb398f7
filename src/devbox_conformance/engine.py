"""The container engine that holds the image under test: docker or podman, through their CLIs.

    >>> eng = choose("auto")
    >>> attrs = resolve_image(eng, "127.0.0.1:5000/gpu-devbox:2026.12", platform="linux/arm64",
    ...                       pull="missing", progress=print)
    >>> name = start_container(eng, "127.0.0.1:5000/gpu-devbox:2026.12", run_id, platform="linux/arm64")

Why the CLIs and not a client library: testinfra reaches containers through the same `docker`/`podman`
binaries, so what the run starts and what the checks talk to are one and the same. The docker SDK is still
used where the engine speaks a structured stream (pull progress) or state (health).

No container outlives its run, and no run removes what a live run still uses. Liveness is a lease, never a
process id: a pid says nothing across pid namespaces (CI jobs in containers sharing the host's engine,
`unshare --pid`), under `/proc` mounted with `hidepid`, or for an engine other machines share.

- Each container runs a watchdog as its command instead of `sleep infinity`: it exits — and `--rm` removes
  it — once its lease file is older than its lease (`DEVBOX_CONTAINER_LEASE_S`, 120 s); the run renews the
  lease every quarter of that while it lives (`Lease`). A lease the container cannot write (`--read-only`)
  is refused at start in one line, before the container could vanish for no stated reason.
- Before it starts its own, a run removes the labelled containers whose lease is stale: not renewed for
  half the lease, i.e. two renewals missed (`reap_dead_runs`). The age is read inside each container, so
  the engine's clock judges, whoever started it and from wherever. A run killed with SIGKILL therefore
  leaves its container for at most half a lease after the next run starts, and a lease in any case.
- A run's temp dir holds a heartbeat file the run touches as often as it renews a lease
  (`make_run_dir`); a later run removes the dirs whose heartbeat is stale by the same rule
  (`reap_dead_run_dirs`). Dirs without a heartbeat are never judged.
- `DEVBOX_RUN_GROUP`, when set (`.ci/run` sets it), is a label on every container a run starts, so a CI
  job's clean-up removes its own containers and no one else's.

The owner label (`host:pid:start:pidns=…`) stays on containers and in run dirs as information for a person
reading `docker ps`; nothing decides on it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.target import (
    CONTAINER_LABEL,
    RunResult,
    TargetError,
    image_arch,
    normalize_arch,
    run_command,
)

# Label with the owner of a container (`owner_label`; information only).
OWNER_LABEL = f"{CONTAINER_LABEL}.owner"
# Label with the container's lease in seconds: the reaper judges each container by its own lease.
LEASE_LABEL = f"{CONTAINER_LABEL}.lease-s"
# Label with the run group (DEVBOX_RUN_GROUP): what a CI job's clean-up filters on.
GROUP_LABEL = f"{CONTAINER_LABEL}.group"
GROUP_ENV = "DEVBOX_RUN_GROUP"
LEASE_PATH = "/tmp/.devbox-conformance-lease"
LEASE_ENV = "DEVBOX_CONTAINER_LEASE_S"
DEFAULT_LEASE_S = 120.0
# Below 4 s a renewal (an `exec`) cannot be trusted to come in time; above a day a leak is not bounded.
LEASE_RANGE_S = (4.0, 86400.0)
PULL_CHOICES = ("missing", "always", "never")

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


def run_labels(run_id: str, lease_s: float) -> list[str]:
    """`run` options that label a container as this run's: run id, lease, owner (information), group."""
    labels = [
        f"{CONTAINER_LABEL}={run_id}",
        f"{LEASE_LABEL}={int(lease_s)}",
        f"{OWNER_LABEL}={owner_label()}",
    ]
    group = os.environ.get(GROUP_ENV, "").strip()
    if group:
        labels.append(f"{GROUP_LABEL}={group}")
    return [arg for label in labels for arg in ("--label", label)]


def watchdog_command(lease_s: float) -> list[str]:
    """The container's command: exits once the lease file is older than `lease_s`."""
    # The watchdog wakes rarely: under QEMU every `sleep`/`date`/`stat` it starts is an emulated process,
    # CPU the image's own health check and the probe need more.
    every = max(1, min(15, int(lease_s) // 4))
    return ["sh", "-c", _WATCHDOG.format(path=LEASE_PATH, lease=int(lease_s), every=every)]


@dataclass(frozen=True)
class Engine:
    """One container engine CLI."""

    # "docker" or "podman" (also the testinfra scheme of its containers).
    name: str
    # The binary to run.
    cli: str
    # Extra `run` options (e.g. podman's `--runtime runc` where its defaults are refused).
    run_args: tuple[str, ...] = ()


def choose(requested: str, run_args: tuple[str, ...] = ()) -> Engine:
    """docker or podman; `auto` takes docker when its CLI exists, else podman (one-line error if neither)."""
    if requested in ("docker", "auto"):
        cli = os.environ.get("DEVBOX_DOCKER") or shutil.which("docker")
        if cli:
            return Engine("docker", cli, run_args)
        if requested == "docker":
            raise TargetError("--engine docker: no `docker` client on PATH")
    cli = shutil.which("podman")
    if cli:
        return Engine("podman", cli, run_args)
    raise TargetError("no container engine: neither `docker` nor `podman` is on PATH")


def _inspect(engine: Engine, what: str, ref: str) -> dict[str, Any] | None:
    """`<cli> <what> inspect REF` as a dict; None when there is no such object; TargetError otherwise."""
    result = run_command([engine.cli, what, "inspect", ref], timeout=120)
    if result.exit_code == 0:
        data = json.loads(result.stdout or "[]")
        return data[0] if data else None
    err = result.stderr.strip()
    if "no such" in err.lower() or "not known" in err.lower() or "not found" in err.lower():
        return None
    if engine.name == "docker" and ("cannot connect" in err.lower() or "daemon" in err.lower()):
        raise TargetError(
            f"cannot reach the Docker engine ({_last_line(err)}); is dockerd running and is "
            f"its socket readable (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')})?"
        )
    raise TargetError(f"cannot inspect {what} {ref!r} with {engine.name}: {_last_line(err)}")


def image_attrs(engine: Engine, ref: str) -> dict[str, Any] | None:
    """The image's inspect document (docker's shape; podman's health config moved where docker keeps it)."""
    attrs = _inspect(engine, "image", ref)
    if attrs is not None and engine.name == "podman":
        config = attrs.setdefault("Config", {}) or {}
        health = attrs.get("Healthcheck") or attrs.get("HealthCheck")
        if "Healthcheck" not in config and health:
            config["Healthcheck"] = health
    return attrs


def container_attrs(engine: Engine, name: str) -> dict[str, Any]:
    attrs = _inspect(engine, "container", name)
    if attrs is None:
        raise TargetError(f"container {name!r} not found in {engine.name}")
    return attrs


def platform_arch(platform: str | None) -> str | None:
    """linux/arm64 -> arm64 (a variant such as /v8 is ignored)."""
    if not platform:
        return None
    parts = platform.split("/")
    return normalize_arch(parts[1] if len(parts) > 1 else parts[0])


def resolve_image(
    engine: Engine, ref: str, *, platform: str | None, pull: str, progress: Callable[[str], None]
) -> dict[str, Any]:
    """The inspect attrs of `ref` for `platform`, pulled per the --pull policy; TargetError in one line.

    A local image of another architecture than --platform asks for is never checked silently: with
    `missing` the platform's variant is pulled, with `never` it is an error.
    """
    want = platform_arch(platform)
    attrs = image_attrs(engine, ref)
    local_arch = image_arch(attrs) if attrs else None
    if pull == "always" or (pull == "missing" and (attrs is None or (want and local_arch != want))):
        why = (
            "--pull always"
            if pull == "always"
            else "not in the local engine"
            if attrs is None
            else f"the local copy is {local_arch}, --platform asks for {want}"
        )
        try:
            pull_image(engine, ref, platform, progress, why)
        except TargetError as exc:
            if attrs is not None and want and local_arch != want:
                raise TargetError(
                    f"image {ref!r} is {local_arch} here and --platform asks for {platform}; "
                    f"pulling that variant failed: {exc}"
                ) from None
            raise
        attrs = image_attrs(engine, ref)
    if attrs is None:
        raise TargetError(f"image {ref!r} not found in the local {engine.name} engine (--pull never)")
    if want and image_arch(attrs) != want:
        raise TargetError(
            f"image {ref!r} is {image_arch(attrs)}, but --platform asks for {platform} "
            f"(pull the {want} variant, or drop --platform)"
        )
    return attrs


def pull_image(
    engine: Engine, ref: str, platform: str | None, progress: Callable[[str], None], why: str
) -> None:
    """Pull `ref` (one platform's variant when given), reporting progress in a few lines."""
    what = f"{ref}" + (f" ({platform})" if platform else "")
    progress(f"devbox: pulling {what}: {why}")
    t0 = time.monotonic()
    if engine.name == "docker":
        _docker_pull(ref, platform, progress, what)
    else:
        result = run_command(
            [engine.cli, "pull", "-q", *(["--platform", platform] if platform else []), ref], timeout=3600
        )
        if result.exit_code != 0:
            raise TargetError(f"cannot pull {what}: {_last_line(result.stderr)}")
    progress(f"devbox: pulled {what} in {time.monotonic() - t0:.1f} s")


def _docker_pull(ref: str, platform: str | None, progress: Callable[[str], None], what: str) -> None:
    """Through the engine's JSON stream, so progress is a line every few seconds, not one per chunk."""
    import docker  # noqa: PLC0415 - only a pull needs the SDK

    try:
        client = docker.from_env(timeout=3600)
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot reach the Docker engine ({_last_line(str(exc))})") from None
    layers: dict[str, tuple[int, int]] = {}
    done: set[str] = set()
    last = time.monotonic()
    try:
        for event in client.api.pull(ref, platform=platform, stream=True, decode=True):
            if "error" in event:
                raise TargetError(f"cannot pull {what}: {_last_line(str(event['error']))}")
            layer, status = event.get("id"), str(event.get("status", ""))
            detail = event.get("progressDetail") or {}
            if layer and detail.get("total"):
                layers[layer] = (int(detail.get("current") or 0), int(detail["total"]))
            if layer and status in ("Pull complete", "Already exists", "Download complete"):
                done.add(layer)
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                got = sum(c for c, _ in layers.values()) / 1e6
                total = sum(t for _, t in layers.values()) / 1e6
                progress(f"devbox: pulling {what}: {got:.0f}/{total:.0f} MB, {len(done)} layers done")
    except docker.errors.APIError as exc:
        raise TargetError(f"cannot pull {what}: {_last_line(str(exc.explanation or exc))}") from None
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot pull {what}: {_last_line(str(exc))}") from None
    finally:
        client.close()


def owner_label() -> str:
    """This process as an owner label value, for a person reading `docker ps` or a run dir.

    "<hostname>:<pid>:<start time>:pidns=<pid namespace>": the namespace says whose pid it is. Information
    only: a pid is not visible from another pid namespace (or under `hidepid`), so liveness is never
    decided on it (see the leases above). The fourth field also keeps an older suite's reaper, which
    judged `host:pid:start` by the pid, away from this run's containers and dirs.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}:pidns={_pid_namespace()}"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]") or "?"
    except OSError:
        return "?"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


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
        return _inspect(engine, "container", name)
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


def start_container(
    engine: Engine, ref: str, run_id: str, *, platform: str | None, gpu_args: list[str]
) -> str:
    """Start ONE container of `ref` for the run, labelled with the run id and its lease; returns its name.

    Its command is the lease watchdog (the image's CMD is checked from its config, not run); the image's
    own health command is kept and run every half second, so its outcome is seen quickly. The lease is
    written once before this returns: a container that cannot hold one is refused here, in one line.
    """
    lease_s = lease_seconds()
    name = f"devbox-conformance-{run_id}"
    health = ["--health-interval", "500ms"] if engine.name == "docker" else []
    cmd = [
        engine.cli,
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        *run_labels(run_id, lease_s),
        *health,
        "--entrypoint",
        "",
        *gpu_args,
        *engine.run_args,
        *(["--platform", platform] if platform else []),
        ref,
        *watchdog_command(lease_s),
    ]
    result = run_command(cmd, timeout=300)
    if result.exit_code != 0:
        remove_container(engine, name)
        raise TargetError(
            f"cannot start a container of {ref} with {engine.name}: {_last_line(result.stderr)}"
        )
    problem = write_lease(engine, name)
    if problem:
        remove_container(engine, name)
        raise TargetError(f"container of {ref}: {problem}")
    return name


def write_lease(engine: Engine, name: str) -> str | None:
    """Renew the lease once; None when done, else one line that says why it cannot be (and what to do)."""
    result = run_command([engine.cli, "exec", name, "touch", LEASE_PATH], timeout=60)
    if result.exit_code == 0:
        return None
    why = _last_line(result.stderr + result.stdout)
    if "not running" in why.lower():
        return f"it stopped right after it started ({why})"
    return (
        f"cannot write its lease file {LEASE_PATH} ({why}); the run renews that file to keep the "
        "container alive, so it needs a writable /tmp: drop --read-only from the engine arguments, "
        "or add --engine-arg=--tmpfs=/tmp"
    )


def remove_container(engine: Engine, name: str) -> None:
    """Remove a container the suite started (idempotent, quiet when it is already gone)."""
    run_command([engine.cli, "rm", "-f", "-v", name], timeout=120)


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


def container_state(engine: Engine, name: str) -> dict[str, Any]:
    return (_inspect(engine, "container", name) or {}).get("State") or {}


def wait_healthy(engine: Engine, name: str, *, budget_s: float, poll_s: float = 0.1) -> tuple[bool, str]:
    """Wait until the container is `healthy`; fail at once when it exits or turns `unhealthy`.

    podman runs health checks from systemd timers, absent in most CI containers; there the check is run
    on demand (`podman healthcheck run`) until it passes or the budget is spent.
    """
    deadline = time.monotonic() + budget_s
    last = "no health state"
    while True:
        if engine.name == "podman":
            run: RunResult = run_command([engine.cli, "healthcheck", "run", name], timeout=max(5.0, budget_s))
            if run.exit_code == 0:
                return True, "healthy"
            last = f"podman healthcheck run exit {run.exit_code}: {_last_line(run.stdout + run.stderr)}"
            if time.monotonic() >= deadline:
                return False, f"not healthy after {budget_s:.0f} s ({last})"
            time.sleep(max(poll_s, 1.0))
            continue
        state = container_state(engine, name)
        health = state.get("Health") or {}
        status = health.get("Status")
        if not state.get("Running"):
            return False, f"container stopped ({state.get('Status')}, exit code {state.get('ExitCode')})"
        if status == "healthy":
            return True, "healthy"
        log = health.get("Log") or []
        if log:
            entry = log[-1]
            output = str(entry.get("Output", "")).strip()[:300]
            last = f"{status}; last probe exit {entry.get('ExitCode')}: {output}"
        else:
            last = str(status)
        if status == "unhealthy":
            return False, last
        if time.monotonic() >= deadline:
            return False, f"not healthy after {budget_s:.0f} s ({last})"
        time.sleep(poll_s)


def gpu_run_args(engine: Engine, mode: str) -> list[str]:
    """`run` arguments that hand the host's GPUs to the container, per the --gpus mode.

    "auto" asks for GPUs only when both halves are there (the engine knows the NVIDIA runtime and the host
    driver answers), so a CPU-only CI machine never fails on `--gpus`. With GPUs the container also gets the
    host IPC namespace and unlimited locked memory, as `devbox run` does: NCCL and pinned copies need them.
    """
    if mode == "none":
        return []
    if mode == "auto":
        driver = run_command(["nvidia-smi", "-L"], timeout=30)
        if driver.exit_code != 0:
            return []
        if engine.name == "docker":
            runtimes = run_command([engine.cli, "info", "--format", "{{json .Runtimes}}"], timeout=30)
            if "nvidia" not in runtimes.stdout:
                return []
    if engine.name == "podman":  # CDI names the devices for podman
        return ["--device", "nvidia.com/gpu=all", "--ipc=host"]
    return ["--gpus", "all", "--ipc=host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864"]


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"
