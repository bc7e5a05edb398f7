"""The container engine that holds the image under test: docker or podman, through their CLIs.

    >>> eng = choose("auto")
    >>> attrs = resolve_image(eng, "127.0.0.1:5000/gpu-devbox:2026.12", platform="linux/arm64",
    ...                       pull="missing", progress=print)
    >>> name = start_container(eng, "127.0.0.1:5000/gpu-devbox:2026.12", run_id, platform="linux/arm64")

Why the CLIs and not a client library: testinfra reaches containers through the same `docker`/`podman`
binaries, so what the run starts and what the checks talk to are one and the same. The docker SDK is still
used where the engine speaks a structured stream (pull progress) or state (health).

No container outlives its run: each one runs the lease watchdog and is renewed while the run lives
(lease.py); before it starts its own, a run removes what dead runs left (reaper.py).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devbox_conformance.arch import image_arch, normalize_arch
from devbox_conformance.labels import run_labels
from devbox_conformance.lease import lease_seconds, watchdog_command, write_lease
from devbox_conformance.localrun import RunResult, last_line, run_command
from devbox_conformance.target import TargetError

PULL_CHOICES = ("missing", "always", "never")


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


def inspect_object(engine: Engine, what: str, ref: str) -> dict[str, Any] | None:
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
            f"cannot reach the Docker engine ({last_line(err)}); is dockerd running and is "
            f"its socket readable (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')})?"
        )
    raise TargetError(f"cannot inspect {what} {ref!r} with {engine.name}: {last_line(err)}")


def image_attrs(engine: Engine, ref: str) -> dict[str, Any] | None:
    """The image's inspect document (docker's shape; podman's health config moved where docker keeps it)."""
    attrs = inspect_object(engine, "image", ref)
    if attrs is not None and engine.name == "podman":
        config = attrs.setdefault("Config", {}) or {}
        health = attrs.get("Healthcheck") or attrs.get("HealthCheck")
        if "Healthcheck" not in config and health:
            config["Healthcheck"] = health
    return attrs


def container_attrs(engine: Engine, name: str) -> dict[str, Any]:
    attrs = inspect_object(engine, "container", name)
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
            raise TargetError(f"cannot pull {what}: {last_line(result.stderr)}")
    progress(f"devbox: pulled {what} in {time.monotonic() - t0:.1f} s")


def _docker_pull(ref: str, platform: str | None, progress: Callable[[str], None], what: str) -> None:
    """Through the engine's JSON stream, so progress is a line every few seconds, not one per chunk."""
    import docker  # noqa: PLC0415 - only a pull needs the SDK

    try:
        client = docker.from_env(timeout=3600)
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot reach the Docker engine ({last_line(str(exc))})") from None
    layers: dict[str, tuple[int, int]] = {}
    done: set[str] = set()
    last = time.monotonic()
    try:
        for event in client.api.pull(ref, platform=platform, stream=True, decode=True):
            if "error" in event:
                raise TargetError(f"cannot pull {what}: {last_line(str(event['error']))}")
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
        raise TargetError(f"cannot pull {what}: {last_line(str(exc.explanation or exc))}") from None
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot pull {what}: {last_line(str(exc))}") from None
    finally:
        client.close()


def run_argv(
    engine: Engine,
    ref: str,
    name: str,
    run_id: str,
    lease_s: float,
    *,
    platform: str | None,
    extra: list[str],
) -> list[str]:
    """`<engine> run -d --rm` of a container the suite owns: named and labelled for its run and lease,
    the engine's own run arguments, and the lease watchdog as its command (the reaper's contract)."""
    return [
        engine.cli,
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        *run_labels(run_id, lease_s),
        *extra,
        *engine.run_args,
        *(["--platform", platform] if platform else []),
        ref,
        *watchdog_command(lease_s),
    ]


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
    extra = [*health, "--entrypoint", "", *gpu_args]
    cmd = run_argv(engine, ref, name, run_id, lease_s, platform=platform, extra=extra)
    result = run_command(cmd, timeout=300)
    if result.exit_code != 0:
        remove_container(engine, name)
        raise TargetError(f"cannot start a container of {ref} with {engine.name}: {last_line(result.stderr)}")
    problem = write_lease(engine, name)
    if problem:
        remove_container(engine, name)
        raise TargetError(f"container of {ref}: {problem}")
    return name


def remove_container(engine: Engine, name: str) -> None:
    """Remove a container the suite started (idempotent, quiet when it is already gone)."""
    run_command([engine.cli, "rm", "-f", "-v", name], timeout=120)


def container_state(engine: Engine, name: str) -> dict[str, Any]:
    return (inspect_object(engine, "container", name) or {}).get("State") or {}


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
            last = f"podman healthcheck run exit {run.exit_code}: {last_line(run.stdout + run.stderr)}"
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
