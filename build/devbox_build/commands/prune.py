"""`devbox prune`: reclaim disk from unused Docker data (upstream dockerprune.sh); asks first.

Removes stopped containers, unused networks, every image without a container, the build cache and
(unless --keep-volumes) unused volumes. Stand-in bases are images too: rebuild them with `devbox base`.

Example:
    ./devbox prune --yes --keep-volumes
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
        description="docker system prune --all [--volumes], showing disk usage before/after.",
    )
    p.add_argument("--yes", "-y", action="store_true", help="don't ask")
    p.add_argument("--keep-volumes", action="store_true", help="keep unused volumes")
    p.set_defaults(func=run)


def prune_command(docker: Docker, keep_volumes: bool) -> list[str]:
    cmd = docker.cmd("system", "prune", "--all", "--force")
    return cmd if keep_volumes else [*cmd, "--volumes"]


def run(args: argparse.Namespace) -> int:
    docker = Docker.detect()
    docker.ping()
    print(docker.run("system", "df").stdout)
    what = "stopped containers, unused networks, all unused images, the build cache"
    what += "" if args.keep_volumes else " and ALL UNUSED VOLUMES (their data is lost)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("prune needs confirmation: run it in a terminal or pass --yes")
        answer = input(f"This removes {what}. Continue? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("nothing removed")
            return 0
    print(docker.run(*prune_command(docker, args.keep_volumes)[1:]).stdout)
    print(docker.run("system", "df").stdout)
    return 0
