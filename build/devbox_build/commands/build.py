"""`devbox build`: the host's arch into the local image store, or several arches (per-arch tags, or a
buildx multi-arch build into the cache directory).

Example:
    ./devbox build --standin --set-only base-tools,shell
    ./devbox build --standin --platforms linux/amd64,linux/arm64   # gpu-devbox:local-amd64, …-arm64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from devbox_build import buildopts, config
from devbox_build.builder import build, staged_wheelhouse
from devbox_build.docker import Docker


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build the image (host arch by default)",
        description="Build the image. Without --platforms: the host's arch, tagged IMAGE:TAG. "
        "With --platforms: each arch as IMAGE:TAG-<arch> (buildx: a multi-arch "
        "build into CACHE_DIR/buildx-cache; use `push` to publish).",
    )
    buildopts.add_build_options(p)
    p.add_argument(
        "--platforms",
        default=None,
        help="comma-separated platforms, e.g. linux/amd64,linux/arm64 (env PLATFORMS is used by "
        "push/release; build defaults to the host arch)",
    )
    p.set_defaults(func=run)


def per_arch_tag(image: str, tag: str, arch: str) -> str:
    return f"{image}:{tag}-{arch}"


def build_images(args: argparse.Namespace, docker: Docker, arches: list[str]) -> dict[str, tuple[str, str]]:
    """Build each arch as IMAGE:TAG-<arch>; return arch -> (ref, image id). The id comes from --iidfile:
    it names the image built even if someone re-tags the ref meanwhile (release checks and pushes it)."""
    return _build_each(args, docker, arches, per_arch_tags=True)


def build_arches(
    args: argparse.Namespace, docker: Docker, arches: list[str], *, per_arch_tags: bool
) -> dict[str, str]:
    """Build each arch in turn; return arch -> image ref. Shared by build and push."""
    return {a: ref for a, (ref, _) in _build_each(args, docker, arches, per_arch_tags=per_arch_tags).items()}


def _build_each(
    args: argparse.Namespace, docker: Docker, arches: list[str], *, per_arch_tags: bool
) -> dict[str, tuple[str, str]]:
    built: dict[str, tuple[str, str]] = {}
    final = f"{args.image}:{args.tag}"
    with staged_wheelhouse(Path(args.context).resolve(), args.wheelhouse):
        for arch in arches:
            ref = per_arch_tag(args.image, args.tag, arch) if per_arch_tags else final
            started = time.monotonic()
            req = buildopts.request_for(args, docker, [arch], [ref], final)
            image_id = build(docker, req, log_name=f"build-{arch}")
            print(f"built {ref} ({image_id[:19]}) in {time.monotonic() - started:.0f} s")
            built[arch] = (ref, image_id)
    return built


def run(args: argparse.Namespace) -> int:
    buildopts.validate(args)
    explicit = args.platforms is not None
    arches = list(config.parse_platforms(args.platforms)) if explicit else [config.host_arch()]
    docker = Docker.detect()
    docker.ping()
    if docker.buildx and len(arches) > 1 and not args.standin:
        # One buildx build for every arch; the result stays in the cache (a multi-arch image can't be loaded).
        cache = config.cache_dir() / "buildx-cache"
        final = f"{args.image}:{args.tag}"
        with staged_wheelhouse(Path(args.context).resolve(), args.wheelhouse):
            req = buildopts.request_for(args, docker, arches, [final], final, cache_dir=cache)
            build(docker, req, log_name="build-multiarch")
        print(f"multi-arch build done; cached in {cache}. Publish with `./devbox push`.")
        return 0
    build_arches(args, docker, arches, per_arch_tags=explicit)
    return 0
