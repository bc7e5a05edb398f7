"""`devbox info`: what this machine offers for building and running the image (upstream docker_info.sh).

Every probe is fail-soft: a missing tool or a stopped daemon is reported, never a crash; exit is always 0.

Example:
    ./devbox info
"""

from __future__ import annotations

import argparse
import shutil

from devbox_build import config, hostinfo, runner
from devbox_build.docker import Docker
from devbox_build.errors import DevboxError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show Docker, buildx, QEMU, NVIDIA toolkit and disk facts",
        description="Diagnostics; each probe fails soft, exit status is always 0.",
    )
    p.set_defaults(func=run)


def _section(title: str) -> None:
    print(f"\n== {title}")


def _show(cmd: list[str], fallback: str) -> None:
    """Print a probe's output, or FALLBACK and the last line of its error."""
    res = runner.probe(cmd, timeout=30)
    if res is not None and res.ok and res.stdout.strip():
        print(res.stdout.strip())
        return
    why = (res.stderr.strip() or res.stdout.strip()).splitlines() if res is not None else []
    print(f"{fallback}: {why[-1]}" if why else fallback)


def run(args: argparse.Namespace) -> int:
    try:
        docker: Docker | None = Docker.detect()
    except DevboxError as exc:
        docker = None
        print(f"docker: {exc}")
    try:
        arch = config.host_arch()
    except DevboxError as exc:
        arch = ""
        print(f"host: {exc}")
    print(f"host arch: {arch or 'unsupported'}")
    if docker is not None:
        d = docker.binary
        _section("Docker client / server")
        print(f"client binary: {d}")
        _show(
            [
                d,
                "version",
                "--format",
                "client {{.Client.Version}} (API {{.Client.APIVersion}}), "
                "server {{.Server.Version}} (API {{.Server.APIVersion}})",
            ],
            "server not reachable",
        )
        _show(
            [
                d,
                "info",
                "--format",
                "root dir {{.DockerRootDir}}, storage {{.Driver}}, runtimes "
                "{{range $k, $v := .Runtimes}}{{$k}} {{end}}",
            ],
            "docker info failed",
        )
        _section("Build path")
        if docker.buildx:
            _show([d, "buildx", "version"], "buildx version unknown")
            _show([d, "buildx", "ls"], "no builders")
        else:
            print(
                "buildx: not available -> BuildKit per-arch builds (DOCKER_BUILDKIT=1 docker build) "
                "+ `docker manifest` lists"
            )
        _section("Disk usage")
        _show([d, "system", "df"], "docker system df failed")
    if arch:
        _section("QEMU / binfmt")
        print(hostinfo.binfmt_status(arch)[1])
    _section("NVIDIA")
    if shutil.which("nvidia-smi"):
        _show(["nvidia-smi", "-L"], "nvidia-smi present but failed")
    else:
        print("nvidia-smi: not found (no NVIDIA driver on this host)")
    if shutil.which("nvidia-container-cli"):
        _show(["nvidia-container-cli", "info"], "NVIDIA Container Toolkit installed but not functional")
    elif shutil.which("nvidia-ctk"):
        _show(["nvidia-ctk", "--version"], "nvidia-ctk present but failed")
    else:
        print("NVIDIA Container Toolkit: not detected (needed for --gpus)")
    _section("Cache and logs")
    for label, path in (("CACHE_DIR", config.cache_dir()), ("logs", config.log_dir())):
        usage = shutil.disk_usage(path if path.exists() else path.anchor)
        print(f"{label}: {path} (disk free {usage.free / 2**30:.1f} GiB)")
    return 0
