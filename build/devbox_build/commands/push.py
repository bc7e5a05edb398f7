"""`devbox push`: per-arch images + one multi-arch manifest list (upstream's push_multiarch.sh).

Nothing here is checked by the suite, so `push` moves only the tag it is given: `latest` is refused unless
--allow-latest, and a tag a release owns (its images carry the release's suite label) unless --force.
With buildx and no --standin: one `buildx build --platform … --push`. Otherwise each arch is built as
IMAGE:TAG-<arch> and published by digest like a release (publish.py: staging tags, a manifest list written
from the pushed digests, read back and checked, then TAG-<arch> and TAG moved). SKIP_LOGIN=1 skips `docker
login`. --dry-run prints that plan (image refs per arch, the manifest list) and builds, logs in to and
pushes nothing.

Example:
    SKIP_LOGIN=1 IMAGE=127.0.0.1:5000/gpu-devbox ./devbox push --standin --tag 2026.11.29
    ./devbox push --registry 127.0.0.1:5000 --tag 2026.11.29 --dry-run
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from devbox_build import buildopts, config, registry_push
from devbox_build.builder import build, staged_wheelhouse
from devbox_build.commands.build import build_images, per_arch_tag
from devbox_build.docker import Docker
from devbox_build.errors import ToolMissingError, UsageError
from devbox_build.publish import DockerPusher, Publisher, Request, staging_tag
from devbox_build.registry import HttpRegistry, split_image


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
    p.add_argument(
        "--allow-latest",
        action="store_true",
        help="allow TAG=latest (refused by default: `push` runs no suite, and `latest` is what users pull)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="move TAG even when a verified release owns it (refused otherwise)",
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
    latest: bool = False,
) -> list[str]:
    """What a push would do, one line each (pure; unit-tested).

    how: "build" (build each arch, then push), "local" (push the existing local images), "built" (release:
    push what it built and checked) or "buildx" (one buildx build that pushes every arch and the list).
    """
    target = f"{image}:{tag}"
    login_line = f"docker {shlex.join(registry_push.login_args(image))}" if login else "skipped (SKIP_LOGIN)"
    lines = [f"login: {login_line}"]
    platforms = [f"linux/{a}" for a in arches]
    if how == "buildx":
        lines.append(
            f"build and push {target} for {', '.join(platforms)} in one buildx build "
            f"(buildx pushes the manifest list itself)"
        )
        return lines
    refs = [f"{image}:{staging_tag(tag, a)}" for a in arches]
    verb = {"build": "build, then push", "local": "push the local image", "built": "push"}[how]
    lines += [f"{plat}: {verb} {ref}" for plat, ref in zip(platforms, refs, strict=True)]
    lines.append(f"manifest list {image}:{staging_tag(tag)} <- the digests pushed for {', '.join(refs)}")
    lines.append("read it back: exactly these platforms, each exactly the digest pushed")
    moved = [per_arch_tag(image, tag, a) for a in arches] + [target] + ([f"{image}:latest"] if latest else [])
    lines.append(f"then move: {', '.join(dict.fromkeys(moved))}")
    return lines


def planning_client() -> Docker:
    """The docker client a real run would use; a dry run also works on a machine without one."""
    try:
        return Docker.detect()
    except ToolMissingError:
        return Docker("docker", False)


def publish(docker: Docker, image: str, tag: str, ids: dict[str, str], *, force: bool) -> str:
    """Publish the local images IDS (arch -> image id) by digest under IMAGE:TAG; return that reference."""
    request = Request(image, tag, ids, latest=False, guard="push", force=force)
    listed = Publisher(DockerPusher(docker), HttpRegistry(split_image(image)[0])).publish(request)
    print(f"pushed {image}:{tag} = {listed.digest} ({', '.join(ids)})")
    return f"{image}:{tag}"


def run(args: argparse.Namespace) -> int:
    apply_registry(args)
    arches = list(config.parse_platforms(args.platforms))
    if not args.no_build:
        buildopts.validate(args)
    if args.tag == "latest" and not args.allow_latest:
        raise UsageError(
            "TAG is `latest`, which users pull: `push` runs no suite, so it does not move it unless "
            "--allow-latest says so (a verified release moves it with `release --latest`)"
        )
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
    registry_push.login(docker, args.image, args.skip_login)
    if args.no_build:
        ids: dict[str, str] = {}
        for arch in arches:
            ref = per_arch_tag(args.image, args.tag, arch)
            if not docker.image_exists(ref):
                raise UsageError(
                    f"no local image {ref}: build it with `./devbox build --platforms ...` first"
                )
            ids[arch] = docker.image_id(ref)
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
        ids = {arch: image_id for arch, (_, image_id) in build_images(args, docker, arches).items()}
    target = publish(docker, args.image, args.tag, ids, force=args.force)
    print(f"check it with `./devbox verify {target}`")
    return 0
