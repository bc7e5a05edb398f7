"""`devbox setup-builder`: prepare cross-arch builds (upstream setup-builder.sh), never crashing.

With buildx: a docker-container builder named BUILDER (host network), bootstrapped. Without buildx
(Docker 20.10 Debian clients): explain the BuildKit-per-arch mode the other commands use, and check that
QEMU's binfmt handler for the other arch is registered.

Example:
    ./devbox setup-builder
"""

from __future__ import annotations

import argparse

from devbox_build import config, hostinfo, runner
from devbox_build.docker import Docker


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "setup-builder",
        help="create the buildx builder, or explain BuildKit mode; check QEMU",
        description="Set up cross-arch builds; reports problems instead of failing.",
    )
    p.add_argument(
        "--builder",
        default=config.env("BUILDER", config.DEFAULT_BUILDER),
        help="buildx builder name (env BUILDER; default %(default)s)",
    )
    p.set_defaults(func=run)


def builder_exists(ls_output: str, name: str) -> bool:
    """Whether `docker buildx ls` lists NAME (the default builder carries a '*' after its name)."""
    return any(line.split()[0].rstrip("*") == name for line in ls_output.splitlines() if line.strip())


def run(args: argparse.Namespace) -> int:
    docker = Docker.detect()
    arch = config.host_arch()
    ok, why = hostinfo.binfmt_status(arch)
    print(f"QEMU: {why}")
    if not docker.buildx:
        print(
            f"buildx: not available for {docker.binary}. devbox builds each arch with BuildKit "
            "(DOCKER_BUILDKIT=1 docker build --platform linux/<arch>) and joins them with `docker manifest`;"
            " no builder is needed. Install the buildx plugin (Docker 24+ has it) for one-pass multi-arch "
            "builds and a local build cache."
        )
        return 0
    print(runner.probe(docker.cmd("buildx", "version")).stdout.strip())  # type: ignore[union-attr]
    if not ok and arch == "amd64":
        res = runner.probe(
            docker.cmd("run", "--privileged", "--rm", "tonistiigi/binfmt", "--install", "all"), timeout=300
        )
        print(
            "binfmt: installed with tonistiigi/binfmt"
            if res is not None and res.ok
            else "binfmt: could not install handlers; arm64 builds will fail until QEMU is set up"
        )
    ls = runner.probe(docker.cmd("buildx", "ls"))
    if ls is not None and builder_exists(ls.stdout, args.builder):
        print(f"builder {args.builder!r} exists")
    else:
        res = runner.probe(
            docker.cmd(
                "buildx",
                "create",
                "--name",
                args.builder,
                "--driver",
                "docker-container",
                "--driver-opt",
                "network=host",
                "--use",
            ),
            timeout=120,
        )
        if res is None or not res.ok:
            why = res.stderr.strip() if res else "buildx failed"
            print(f"could not create builder {args.builder!r}: {why}")
            return 1
        print(f"created builder {args.builder!r}")
    boot = runner.probe(
        docker.cmd("buildx", "inspect", "--builder", args.builder, "--bootstrap"), timeout=300
    )
    print(
        boot.stdout.strip() if boot is not None and boot.ok else "bootstrap failed (see `docker buildx ls`)"
    )
    return 0
