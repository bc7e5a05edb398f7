"""`devbox build-native`: build arm64 on arm64 hardware (about 5-10x faster than QEMU emulation).

Example (on a Graviton/Grace/Apple-silicon host):
    ./devbox build-native --push
"""

from __future__ import annotations

import argparse

from devbox_build import buildopts, config, registry_push
from devbox_build.commands.build import build_arches
from devbox_build.docker import Docker
from devbox_build.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-native",
        help="build arm64 on native arm64 hardware",
        description="Build the arm64 image natively. Refuses elsewhere: use `build --platforms "
        "linux/arm64` (QEMU) or add an arm64 node to a buildx builder.",
    )
    buildopts.add_build_options(p, default_tag="arm64-native")
    p.add_argument("--push", action="store_true", help="push IMAGE:TAG after building")
    p.set_defaults(func=run)


def refusal(arch: str, builder: str) -> str:
    return (
        f"build-native needs arm64 hardware, this host is {arch}: build under QEMU with "
        f"`./devbox build --platforms linux/arm64`, or add a native node to the buildx builder with "
        f"`docker buildx create --append --name {builder} ssh://user@arm64-host`"
    )


def run(args: argparse.Namespace) -> int:
    arch = config.host_arch()
    if arch != "arm64":
        raise UsageError(refusal(arch, args.builder))
    buildopts.validate(args)
    docker = Docker.detect()
    docker.ping()
    refs = build_arches(args, docker, ["arm64"], per_arch_tags=False)
    if args.push:
        registry_push.push_image(docker, refs["arm64"])
        print(f"pushed {refs['arm64']}")
    return 0
