"""`devbox push`: per-arch images + one multi-arch manifest list (upstream's push_multiarch.sh).

With buildx: one `buildx build --platform … --push`. Without: each arch built as IMAGE:TAG-<arch>, pushed,
then joined with `docker manifest`. SKIP_LOGIN=1 skips `docker login`. --dry-run prints that plan (image
refs per arch, the manifest list and its commands) and builds, logs in to and pushes nothing.

Example:
    SKIP_LOGIN=1 IMAGE=127.0.0.1:5000/gpu-devbox ./devbox push --standin --tag 2026.11.29
    ./devbox push --registry 127.0.0.1:5000 --tag 2026.11.29 --dry-run
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from devbox_build import buildopts, config, manifest
from devbox_build.builder import build, staged_wheelhouse
from devbox_build.commands.build import build_arches, per_arch_tag
from devbox_build.docker import Docker
from devbox_build.errors import ToolMissingError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="build and push every arch and a multi-arch manifest list",
        description="Build (unless --no-build) and push IMAGE:TAG-<arch> for each platform, "
        "then the manifest list IMAGE:TAG.",
    )
    buildopts.add_build_options(p, default_tag=config.DEFAULT_PUSH_TAG)
    add_push_options(p)
    p.add_argument(
        "--no-build",
        action="store_true",
        help="push the existing local IMAGE:TAG-<arch> images instead of building",
    )
    p.set_defaults(func=run)


def add_push_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--platforms",
        default=config.env("PLATFORMS", config.DEFAULT_PLATFORMS),
        help="comma-separated platforms (env PLATFORMS; default %(default)s)",
    )
    p.add_argument(
        "--registry",
        default=None,
        help="registry host[:port]; IMAGE's last path part is pushed there (e.g. 127.0.0.1:5000)",
    )
    p.add_argument(
        "--skip-login",
        action="store_true",
        default=config.truthy(os.environ.get("SKIP_LOGIN", "")),
        help="don't run `docker login` (env SKIP_LOGIN=1)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be pushed (image per arch, manifest list) and push nothing",
    )


def apply_registry(args: argparse.Namespace) -> None:
    if args.registry:
        args.image = f"{args.registry.rstrip('/')}/{args.image.rsplit('/', 1)[-1]}"


def publish_plan(
    docker: Docker,
    image: str,
    tag: str,
    arches: list[str],
    *,
    how: str,
    login: bool,
) -> list[str]:
    """What a push would do, one line each (pure; unit-tested).

    how: "build" (build each arch, then push), "local" (push the existing local images), "built" (release:
    push what it built and checked) or "buildx" (one buildx build that pushes every arch and the list).
    """
    target = f"{image}:{tag}"
    login_line = f"docker {shlex.join(manifest.login_args(image))}" if login else "skipped (SKIP_LOGIN)"
    lines = [f"login: {login_line}"]
    platforms = [f"linux/{a}" for a in arches]
    if how == "buildx":
        lines.append(
            f"build and push {target} for {', '.join(platforms)} in one buildx build "
            f"(buildx pushes the manifest list itself)"
        )
        return lines
    refs = [per_arch_tag(image, tag, a) for a in arches]
    verb = {"build": "build, then push", "local": "push the local image", "built": "push"}[how]
    lines += [f"{plat}: {verb} {ref}" for plat, ref in zip(platforms, refs, strict=True)]
    lines.append(f"manifest list {target} <- {', '.join(refs)}")
    lines += [f"  $ {shlex.join(cmd)}" for cmd in manifest.list_commands(docker, target, refs)]
    return lines


def planning_client() -> Docker:
    """The docker client a real run would use; a dry run also works on a machine without one."""
    try:
        return Docker.detect()
    except ToolMissingError:
        return Docker("docker", False)


def publish(docker: Docker, image: str, tag: str, refs: dict[str, str]) -> str:
    """Push each per-arch ref and join them under IMAGE:TAG; return that reference."""
    target = f"{image}:{tag}"
    manifest.push_images(docker, list(refs.values()))
    manifest.publish_list(docker, target, list(refs.values()))
    print(f"pushed {target} ({', '.join(refs)})")
    return target


def run(args: argparse.Namespace) -> int:
    apply_registry(args)
    arches = list(config.parse_platforms(args.platforms))
    if not args.no_build:
        buildopts.validate(args)
    if args.dry_run:
        docker = planning_client()
        how = "local" if args.no_build else ("buildx" if docker.buildx and not args.standin else "build")
        print("push (dry run): nothing is built, logged in to or pushed")
        if not args.no_build:
            print(f"  label org.opencontainers.image.version={buildopts.image_version(args)}")
        for line in publish_plan(docker, args.image, args.tag, arches, how=how, login=not args.skip_login):
            print(f"  {line}")
        return 0
    docker = Docker.detect()
    docker.ping()
    manifest.login(docker, args.image, args.skip_login)
    if args.no_build:
        refs = {a: per_arch_tag(args.image, args.tag, a) for a in arches}
        for ref in refs.values():
            if not docker.image_exists(ref):
                raise UsageError(
                    f"no local image {ref}: build it with `./devbox build --platforms ...` first"
                )
    elif docker.buildx and not args.standin:
        final = f"{args.image}:{args.tag}"
        with staged_wheelhouse(Path(args.context).resolve(), args.wheelhouse):
            req = buildopts.request_for(
                args, docker, arches, [final], final, push=True, cache_dir=config.cache_dir() / "buildx-cache"
            )
            build(docker, req, log_name="push-multiarch")
        print(f"pushed {final} ({', '.join(arches)}); check it with `./devbox verify {final}`")
        return 0
    else:
        refs = build_arches(args, docker, arches, per_arch_tags=True)
    target = publish(docker, args.image, args.tag, refs)
    print(f"check it with `./devbox verify {target}`")
    return 0
