"""`devbox run`: start a container of the image with GPUs when the host can give them (upstream run.sh).

GPU: `--gpus all` when `nvidia-smi` lists a GPU and the engine can hand it over (an nvidia runtime in
`docker info`, or the NVIDIA Container Toolkit installed); `--no-gpu` forces CPU. Always `--ipc=host` and
the memlock/stack ulimits PyTorch's DataLoader and NCCL want.

Example:
    ./devbox run -v "$PWD:/workspace" -c "python -c 'import torch; print(torch.__version__)'"
    ./devbox run --dry-run
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys

from devbox_build import buildopts, config, runner
from devbox_build.docker import Docker
from devbox_build.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a container of the image (GPU auto-detected)",
        description="docker run --rm with GPUs when available, --ipc=host and ulimits.",
    )
    buildopts.add_image_options(p, config.DEFAULT_BUILD_TAG)
    gpu = p.add_mutually_exclusive_group()
    gpu.add_argument("--no-gpu", action="store_true", help="CPU only, even when a GPU is present")
    gpu.add_argument("--gpu", action="store_true", help="pass --gpus all without detecting")
    p.add_argument("-c", "--command", default=None, help="run this in a login bash instead of a shell")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount, as docker run -v")
    p.add_argument("-p", "--publish", action="append", default=[], help="port, as docker run -p")
    p.add_argument("-e", "--env", action="append", default=[], help="environment variable, as docker run -e")
    p.add_argument("--name", default=None, help="container name")
    p.add_argument("--dry-run", action="store_true", help="print the docker command instead of running it")
    p.add_argument(
        "docker_args",
        nargs=argparse.REMAINDER,
        help="after `--`: extra docker run arguments (also env RUN_EXTRA_ARGS)",
    )
    p.set_defaults(func=run)


def detect_gpu(docker: Docker) -> tuple[bool, str]:
    """(use GPUs?, why) — a GPU on the host is useless to containers without the NVIDIA toolkit."""
    smi = runner.probe(["nvidia-smi", "-L"])
    if smi is None or not smi.ok or "GPU" not in smi.stdout:
        return False, "no NVIDIA GPU detected (nvidia-smi)"
    info = runner.probe([docker.binary, "info", "--format", "{{json .Runtimes}}"])
    has_runtime = info is not None and info.ok and "nvidia" in info.stdout
    has_toolkit = any(
        shutil.which(t) for t in ("nvidia-container-cli", "nvidia-ctk", "nvidia-container-runtime")
    )
    if not (has_runtime or has_toolkit):
        return False, "GPU found but the NVIDIA Container Toolkit is missing; install it for GPU containers"
    return True, f"{len(smi.stdout.strip().splitlines())} GPU(s)"


def docker_run_command(docker: Docker, args: argparse.Namespace, use_gpu: bool, tty: bool) -> list[str]:
    """The full `docker run` argument list (pure; unit-tested)."""
    cmd = docker.cmd("run", "--rm")
    if tty:
        cmd.append("-it")
    elif args.command is None:
        cmd.append("-i")
    if use_gpu:
        cmd += ["--gpus", "all"]
    cmd += ["--ipc=host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864"]
    if args.name:
        cmd += ["--name", args.name]
    for flag, values in (("-v", args.volume), ("-p", args.publish), ("-e", args.env)):
        for value in values:
            cmd += [flag, value]
    cmd += shlex.split(os.environ.get("RUN_EXTRA_ARGS", ""))
    cmd += [a for a in args.docker_args if a != "--"]
    cmd.append(f"{args.image}:{args.tag}")
    if args.command is not None:
        cmd += ["bash", "-lc", args.command]
    return cmd


def run(args: argparse.Namespace) -> int:
    docker = Docker.detect()
    if args.no_gpu:
        use_gpu, why = False, "--no-gpu"
    elif args.gpu:
        use_gpu, why = True, "--gpu"
    else:
        use_gpu, why = detect_gpu(docker)
    cmd = docker_run_command(docker, args, use_gpu, tty=sys.stdin.isatty() and sys.stdout.isatty())
    if args.dry_run:
        print(shlex.join(cmd))
        return 0
    print(f">> {args.image}:{args.tag} {'with GPUs' if use_gpu else 'CPU only'} ({why})", file=sys.stderr)
    docker.ping()
    if not docker.image_exists(f"{args.image}:{args.tag}"):
        raise UsageError(f"no local image {args.image}:{args.tag}: build it with `./devbox build` first")
    os.execv(cmd[0], cmd)
    return 0  # not reached
