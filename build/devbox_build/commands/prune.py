"""`devbox prune`: reclaim disk from unused Docker data (upstream dockerprune.sh); asks first.

Removes stopped containers, unused networks, every image without a container and the build cache. Volumes
are kept unless --volumes is given, as `docker system prune` does: a volume holds data (datasets,
checkpoints, a database) that no rebuild brings back. Stand-in bases are images too: rebuild them with
`devbox base`.

Example:
    ./devbox prune --yes              # volumes kept
    ./devbox prune --yes --volumes    # unused volumes too
"""

from __future__ import annotations

import argparse
import sys

from devbox_build.docker import Docker
from devbox_build.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune",
        help="remove unused Docker data (asks first)",
        description="docker system prune --all [--volumes], showing disk usage before/after. "
        "Volumes are kept unless --volumes is given.",
    )
    p.add_argument("--yes", "-y", action="store_true", help="don't ask")
    p.add_argument("--volumes", action="store_true", help="also remove unused volumes (their data is lost)")
    # Kept so scripts written when volumes were removed by default still run; keeping them is the default now.
    p.add_argument("--keep-volumes", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def prune_command(docker: Docker, volumes: bool) -> list[str]:
    """The prune command line (pure; unit-tested): --volumes only when asked for."""
    cmd = docker.cmd("system", "prune", "--all", "--force")
    return [*cmd, "--volumes"] if volumes else cmd


def run(args: argparse.Namespace) -> int:
    if args.volumes and args.keep_volumes:
        raise UsageError("--volumes and --keep-volumes contradict each other (volumes are kept by default)")
    docker = Docker.detect()
    docker.ping()
    print(docker.run("system", "df").stdout)
    what = "stopped containers, unused networks, all unused images, the build cache"
    what += " and ALL UNUSED VOLUMES (their data is lost)" if args.volumes else " (volumes are kept)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("prune needs confirmation: run it in a terminal or pass --yes")
        answer = input(f"This removes {what}. Continue? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing removed")
            return 0
    print(docker.run(*prune_command(docker, args.volumes)[1:]).stdout)
    print(docker.run("system", "df").stdout)
    return 0
