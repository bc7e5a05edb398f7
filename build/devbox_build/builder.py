"""Run one image build, through buildx or BuildKit, with a log file, a step counter and the image id.

The image id is read from `--iidfile`, never parsed from the build's output.

Example:
    req = BuildRequest(context=Path("."), dockerfile=Path("Dockerfile"), tags=["gpu-devbox:local"],
                       platforms=["amd64"], build_args={"VCS_REF": "abc1234"})
    image_id = build(Docker.detect(), req, log_name="build-amd64")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devbox_build import buildargs, config, runner
from devbox_build.docker import DOCKER_ENV, Docker
from devbox_build.errors import DevboxError, UsageError
from devbox_build.progress import StepProgress, open_log


class BuildFailedError(DevboxError):
    """docker build exited non-zero; the message names the step and the log file."""


@dataclass(frozen=True)
class BuildRequest:
    """Everything one `docker build` / `docker buildx build` invocation needs."""

    # the build context directory
    context: Path
    # the Dockerfile (absolute, or relative to the context)
    dockerfile: Path
    # tags to apply (none for a cache-only multi-arch buildx build)
    tags: list[str]
    # target arches (amd64/arm64); several only with buildx
    platforms: list[str]
    # --build-arg values, in order
    build_args: dict[str, str] = field(default_factory=dict)
    # BuildKit secrets: id -> file on the host (mounted at /run/secrets/<id>, never in a layer)
    secrets: dict[str, Path] = field(default_factory=dict)
    # buildx builder name (ignored without buildx)
    builder: str = config.DEFAULT_BUILDER
    # buildx: --load the single-arch result into the engine's image store
    load: bool = True
    # buildx: --push the result to its registry instead of loading it
    push: bool = False
    # buildx: local cache directory for --cache-from/--cache-to (multi-arch builds)
    cache_dir: Path | None = None
    # echo every BuildKit line instead of the step counter
    verbose: bool = False


def dockerfile_path(context: Path, dockerfile: str | Path) -> Path:
    """Resolve DOCKERFILE against the context; a missing file is a one-line usage error."""
    if not context.is_dir():
        raise UsageError(f"build context {context} is not a directory (BUILD_CONTEXT / --context)")
    path = Path(dockerfile)
    path = path if path.is_absolute() else context / path
    if not path.is_file():
        if not (config.REPO_ROOT / "Dockerfile").is_file() and context == config.REPO_ROOT:
            # Installed from a wheel: the image's sources are not in site-packages.
            raise UsageError(
                "no gpu-devbox checkout to build from: this devbox is installed as a package; "
                "pass --context DIR (or BUILD_CONTEXT) pointing at a checkout"
            )
        raise UsageError(f"Dockerfile not found: {path} (DOCKERFILE / --dockerfile)")
    return path


def build_command(docker: Docker, req: BuildRequest, iidfile: Path) -> list[str]:
    """The argument list for one build (pure; unit-tested)."""
    if docker.buildx:
        cmd = docker.cmd("buildx", "build", "--builder", req.builder)
    else:
        if len(req.platforms) != 1:
            raise UsageError("building several platforms in one go needs buildx; build each arch separately")
        cmd = docker.cmd("build")
    cmd += [
        "--progress=plain",
        "--file",
        str(req.dockerfile),
        "--iidfile",
        str(iidfile),
        "--platform",
        ",".join(f"linux/{a}" for a in req.platforms),
    ]
    for sid, src in req.secrets.items():
        cmd += ["--secret", f"id={sid},src={src}"]
    cmd += buildargs.as_flags(req.build_args)
    for tag in req.tags:
        cmd += ["--tag", tag]
    if docker.buildx:
        if req.cache_dir is not None:
            if (req.cache_dir / "index.json").exists():
                cmd += ["--cache-from", f"type=local,src={req.cache_dir}"]
            cmd += ["--cache-to", f"type=local,dest={req.cache_dir},mode=max"]
        if req.push:
            cmd.append("--push")
        elif req.load and len(req.platforms) == 1:
            cmd.append("--load")
    cmd.append(str(req.context))
    return cmd


def build(docker: Docker, req: BuildRequest, *, log_name: str, echo: Callable[[str], None] = print) -> str:
    """Build, logging everything to logs/<log_name>-<time>.log; return the image id ('' for cache-only)."""
    for sid, src in req.secrets.items():
        if not src.is_file():
            raise UsageError(f"secret {sid!r}: file not found: {src}")
    log_path, log_file = open_log(config.log_dir(), log_name)
    progress = StepProgress(echo=echo, verbose=req.verbose)
    with tempfile.TemporaryDirectory(prefix="devbox-iid-") as tmp, log_file:
        iidfile = Path(tmp) / "iid"
        cmd = build_command(docker, req, iidfile)
        what = ", ".join(req.tags) or "(cache only)"
        echo(f"building {what} for {', '.join(req.platforms)}; log: {log_path}")
        result = runner.stream(cmd, on_line=progress.feed, log_file=log_file, env=DOCKER_ENV)
        if not result.ok:
            if not req.verbose:
                for line in progress.tail[-25:]:
                    echo(f"    | {line}")
            where = f" at {progress.last_step}" if progress.last_step else ""
            raise BuildFailedError(f"build failed{where} (exit {result.returncode}); full log: {log_path}")
        if progress.cached:
            echo(f"  ({progress.cached} of {len(progress.steps)} steps from the build cache)")
        return iidfile.read_text().strip() if iidfile.exists() else ""


@contextlib.contextmanager
def staged_wheelhouse(context: Path, source: Path | None) -> Iterator[list[Path]]:
    """Put SOURCE's wheels into <context>/wheelhouse/ for one build, then remove exactly those.

    Hard links when the file systems allow (instant, no extra disk), copies otherwise. Wheels already there
    are left alone, and removal runs on success, failure, Ctrl-C and SIGTERM (the CLI turns it into
    KeyboardInterrupt). The Dockerfile bind-mounts wheelhouse/, so the folder is created when missing.
    """
    target = context / "wheelhouse"
    created_dir = not target.exists()
    added: list[Path] = []
    try:
        if source is not None:
            if not source.is_dir():
                raise UsageError(f"wheelhouse {source} is not a directory (--wheelhouse)")
            target.mkdir(parents=True, exist_ok=True)
            for wheel in sorted(source.glob("*.whl")):
                dest = target / wheel.name
                if dest.exists():
                    continue
                added.append(dest)
                try:
                    os.link(wheel, dest)
                except OSError:
                    shutil.copy2(wheel, dest)
        elif created_dir:
            target.mkdir(parents=True)
        yield added
    finally:
        for path in added:
            path.unlink(missing_ok=True)
        if created_dir and target.is_dir() and not any(target.iterdir()):
            target.rmdir()
