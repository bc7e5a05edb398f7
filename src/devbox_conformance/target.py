"""Where the checks run: an image (one container started for the run), an existing container, or this host.

Every target offers the same small interface (`Target`), so checks and performance tests never care which
one they got:

    >>> target = LocalTarget()
    >>> target.run(["uname", "-m"], timeout=10).stdout.strip()
    'x86_64'

All docker access goes through the docker CLI (`docker exec`, `docker run`) for commands, and through the
docker SDK for inspection (image config, labels, health state).
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# Label every container the suite starts carries; its value is the run id.
CONTAINER_LABEL = "io.github.gpu-devbox.conformance"
BASE_KIND_LABEL = "io.github.gpu-devbox.base-kind"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_KINDS = ("ngc", "standin", "other")

_MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class TargetError(Exception):
    """A target cannot be reached or prepared; the message is one line meant for the user."""


@dataclass(frozen=True)
class RunResult:
    """What one command run inside a target returned."""

    # Exit status of the command (124 when it ran past its timeout, 127 when it could not be started).
    exit_code: int
    # Decoded stdout and stderr (UTF-8, undecodable bytes replaced).
    stdout: str
    stderr: str


@runtime_checkable
class Target(Protocol):
    """One place the checks run in; see module docstring."""

    # "image", "container" or "local".
    kind: str
    # Architecture of the target as docker names it: "amd64" or "arm64".
    arch: str
    # Image the target was made from (None for the local host).
    image_ref: str | None
    # docker SDK `images.get(ref).attrs` of that image (None for the local host).
    image_attrs: dict[str, Any] | None
    # Container the commands run in (None for the local host).
    container: str | None

    def run(self, argv: list[str], timeout: float, stdin: str | None = None) -> RunResult: ...

    def run_python(self, source: str, args: list[str] | tuple[str, ...] = (),
                   timeout: float = 600) -> RunResult: ...


def docker_cli() -> str:
    """The docker client to shell out to (Debian's /usr/bin/docker first: it drives BuildKit here)."""
    return os.environ.get("DEVBOX_DOCKER", "docker")


def run_command(argv: list[str], timeout: float, stdin: str | None = None) -> RunResult:
    """The one subprocess runner of the suite: argument list in, RunResult out, never raises on exit code."""
    try:
        proc = subprocess.run(argv, input=stdin.encode() if stdin is not None else None,
                              stdin=None if stdin is not None else subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return RunResult(124, _decode(exc.stdout), _decode(exc.stderr) + f"\ntimed out after {timeout:g} s: "
                         f"{shlex.join(argv)}")
    except OSError as exc:
        return RunResult(127, "", f"cannot run {shlex.join(argv)}: {exc}")
    return RunResult(proc.returncode, _decode(proc.stdout), _decode(proc.stderr))


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def normalize_arch(machine: str) -> str:
    return _MACHINE_TO_ARCH.get(machine.lower(), machine.lower())


class _PythonMixin:
    def run(self, argv: list[str], timeout: float, stdin: str | None = None) -> RunResult:
        raise NotImplementedError

    def run_python(self, source: str, args: list[str] | tuple[str, ...] = (),
                   timeout: float = 600) -> RunResult:
        """Run Python source with the target's `python3` (shipped through `-c`, nothing copied in)."""
        return self.run(["python3", "-c", source, *args], timeout=timeout)


class LocalTarget(_PythonMixin):
    """This machine (testinfra's `--hosts local://`): inside a devbox, or a GPU node."""

    kind = "local"
    image_ref = None
    image_attrs = None
    container = None

    def __init__(self, arch: str | None = None) -> None:
        self.arch = arch or normalize_arch(platform.machine())

    def run(self, argv: list[str], timeout: float, stdin: str | None = None) -> RunResult:
        return run_command(argv, timeout, stdin)


class ContainerTarget(_PythonMixin):
    """A running container, reached with `docker exec`; never removed by the suite unless it started it."""

    def __init__(self, container: str, *, kind: str = "container", arch: str, image_ref: str | None,
                 image_attrs: dict[str, Any] | None) -> None:
        self.kind = kind
        self.container = container
        self.arch = arch
        self.image_ref = image_ref
        self.image_attrs = image_attrs

    def run(self, argv: list[str], timeout: float, stdin: str | None = None) -> RunResult:
        cmd = [docker_cli(), "exec", *(["-i"] if stdin is not None else []), self.container, *argv]
        return run_command(cmd, timeout, stdin)

    def state(self) -> dict[str, Any]:
        """`State` of the container from the docker SDK (Status, Running, Health…)."""
        client = docker_client()
        try:
            return client.containers.get(self.container).attrs.get("State", {})
        finally:
            client.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "container": self.container, "arch": self.arch,
                "image_ref": self.image_ref, "image_attrs": self.image_attrs}


def docker_client() -> Any:
    """A docker SDK client, or TargetError with one line saying why the engine cannot be reached."""
    import docker  # noqa: PLC0415 - imported lazily: the local target needs no docker at all

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' and OS errors alike
        raise TargetError(f"cannot reach the Docker engine ({_first_line(exc)}); is dockerd running and "
                          f"is its socket readable (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')})?"
                          ) from None
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def image_attrs(ref: str) -> dict[str, Any]:
    """`images.get(ref).attrs`; TargetError when the image is not in the local engine (nothing is pulled)."""
    import docker  # noqa: PLC0415

    client = docker_client()
    try:
        return client.images.get(ref).attrs
    except docker.errors.ImageNotFound:
        raise TargetError(f"image {ref!r} not found in the local engine (the suite never pulls; build or "
                          f"`docker load` it first)") from None
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot inspect image {ref!r}: {_first_line(exc)}") from None
    finally:
        client.close()


def container_attrs(name: str) -> dict[str, Any]:
    import docker  # noqa: PLC0415

    client = docker_client()
    try:
        return client.containers.get(name).attrs
    except docker.errors.NotFound:
        raise TargetError(f"container {name!r} not found") from None
    except docker.errors.DockerException as exc:
        raise TargetError(f"cannot inspect container {name!r}: {_first_line(exc)}") from None
    finally:
        client.close()


def image_arch(attrs: dict[str, Any]) -> str:
    return normalize_arch(str(attrs.get("Architecture") or "unknown"))


def image_labels(attrs: dict[str, Any] | None) -> dict[str, str]:
    if not attrs:
        return {}
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def base_kind_from_labels(labels: dict[str, str]) -> str | None:
    """ngc/standin/other from the image's labels, None when they say nothing."""
    kind = labels.get(BASE_KIND_LABEL)
    if kind in BASE_KINDS:
        return kind
    name = labels.get(BASE_NAME_LABEL, "")
    if name.startswith("nvcr.io/nvidia/pytorch"):
        return "ngc"
    if name.startswith("gpu-devbox-base:"):
        return "standin"
    return "other" if name else None


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def gpu_run_args(mode: str) -> list[str]:
    """`docker run` arguments that hand the host's GPUs to the container, per the --gpus mode.

    "auto" asks for GPUs only when both halves are there (the engine knows the NVIDIA runtime and the host
    driver answers), so a CPU-only CI machine never fails on `--gpus`. With GPUs the container also gets the
    host IPC namespace and unlimited locked memory, as `devbox run` does: NCCL and pinned copies need them.
    """
    if mode == "none":
        return []
    if mode == "auto":
        runtimes = run_command([docker_cli(), "info", "--format", "{{json .Runtimes}}"], timeout=30)
        driver = run_command(["nvidia-smi", "-L"], timeout=30)
        if "nvidia" not in runtimes.stdout or driver.exit_code != 0:
            return []
    return ["--gpus", "all", "--ipc=host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864"]


def start_container(ref: str, run_id: str, platform_: str | None, attrs: dict[str, Any],
                    gpus: str = "auto") -> ContainerTarget:
    """Start ONE container of `ref` for the whole run, labelled with the run id.

    Its command is `sleep infinity` (the image's CMD is checked from its config, not run); the image's own
    health command is kept and run every half second (the engine waits one interval before the first
    run), so its outcome is seen quickly.
    """
    name = f"devbox-conformance-{run_id}"
    cmd = [docker_cli(), "run", "-d", "--name", name, "--label", f"{CONTAINER_LABEL}={run_id}",
           "--health-interval", "500ms", "--entrypoint", "", *gpu_run_args(gpus),
           *(["--platform", platform_] if platform_ else []), ref, "sleep", "infinity"]
    result = run_command(cmd, timeout=300)
    if result.exit_code != 0:
        remove_container(name)
        raise TargetError(f"cannot start a container of {ref}: {_last_line(result.stderr)}")
    return ContainerTarget(name, kind="image", arch=image_arch(attrs), image_ref=ref, image_attrs=attrs)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"


def remove_container(name: str) -> None:
    """Remove a container the suite started (idempotent, quiet when it is already gone)."""
    run_command([docker_cli(), "rm", "-f", "-v", name], timeout=120)


def wait_healthy(target: ContainerTarget, *, budget_s: float, poll_s: float = 0.1) -> tuple[bool, str]:
    """Wait until the container is `healthy`; fail at once when it exits or turns `unhealthy`.

    Returns (healthy, what was seen). The budget comes from the image's own HEALTHCHECK timing.
    """
    deadline = time.monotonic() + budget_s
    last = "no health state"
    while True:
        state = target.state()
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
