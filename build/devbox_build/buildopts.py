"""Options shared by every command that builds (build, build-native, push, release) and their resolution.

Example:
    add_build_options(parser)             # --image, --tag, --context, --build-arg, --set-only, …
    req = request_for(args, docker, "arm64", tag="gpu-devbox:local-arm64")
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

from devbox_build import buildargs, config, dockerfile, remote
from devbox_build.builder import BuildRequest, dockerfile_path
from devbox_build.docker import Docker
from devbox_build.errors import UsageError


def add_image_options(p: argparse.ArgumentParser, default_tag: str) -> None:
    p.add_argument(
        "--image",
        default=config.env("IMAGE", config.DEFAULT_IMAGE),
        help="image name, may include a registry (env IMAGE; default %(default)s)",
    )
    p.add_argument("--tag", default=config.env("TAG", default_tag), help="tag (env TAG; default %(default)s)")


def add_build_options(p: argparse.ArgumentParser, default_tag: str = config.DEFAULT_BUILD_TAG) -> None:
    add_image_options(p, default_tag)
    p.add_argument(
        "--context",
        type=Path,
        default=Path(config.env("BUILD_CONTEXT", str(config.REPO_ROOT))),
        help="build context (env BUILD_CONTEXT; default: the repository root)",
    )
    p.add_argument(
        "--dockerfile",
        default=config.env("DOCKERFILE", config.DEFAULT_DOCKERFILE),
        help="Dockerfile, relative to the context (env DOCKERFILE; default %(default)s)",
    )
    p.add_argument(
        "--builder",
        default=config.env("BUILDER", config.DEFAULT_BUILDER),
        help="buildx builder, when buildx exists (env BUILDER; default %(default)s)",
    )
    p.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="K=V",
        help="extra build argument; overrides everything else (repeatable)",
    )
    p.add_argument(
        "--set-only",
        action="append",
        default=[],
        metavar="SET[,SET]",
        help="include only these package sets (INSTALL_<SET>=true, all others false)",
    )
    p.add_argument(
        "--without-set",
        action="append",
        default=[],
        metavar="SET[,SET]",
        help="leave these package sets out (INSTALL_<SET>=false)",
    )
    p.add_argument(
        "--standin",
        action="store_true",
        help="build on the Debian stand-in base gpu-devbox-base:bookworm-<arch> (`devbox base`)",
    )
    p.add_argument(
        "--base-image", default=None, help="another BASE_IMAGE (default: the Dockerfile's NGC base)"
    )
    ca_default = config.DEFAULT_CA_BUNDLE if config.DEFAULT_CA_BUNDLE.is_file() else None
    p.add_argument(
        "--ca-bundle",
        type=Path,
        default=ca_default,
        help="CA bundle passed as BuildKit secret id 'ca' for HTTPS inside the build, never in a "
        "layer (default: %(default)s)",
    )
    p.add_argument("--no-ca", action="store_true", help="pass no CA bundle")
    p.add_argument(
        "--wheelhouse",
        type=Path,
        default=None,
        help="folder of wheels staged into <context>/wheelhouse/ for this build only",
    )
    p.add_argument("--verbose", action="store_true", help="echo every BuildKit line, not just the steps")


def build_date() -> str:
    return config.env("BUILD_DATE", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))


def ca_secret(args: argparse.Namespace) -> dict[str, Path]:
    if args.no_ca or args.ca_bundle is None:
        return {}
    ca = Path(args.ca_bundle)
    if not ca.is_file():
        raise UsageError(f"CA bundle not found: {ca} (--ca-bundle, or --no-ca)")
    return {"ca": ca.resolve()}


def base_args(args: argparse.Namespace, docker: Docker, arch: str) -> dict[str, str]:
    """BASE_IMAGE/BASE_KIND/BASE_DIGEST for this arch; the stand-in base must already exist locally.

    BASE_DIGEST is resolved for whichever base the build uses (the stand-in, --base-image, a
    `--build-arg BASE_IMAGE=`, or the Dockerfile's own default), so the `base.digest` label is never left
    empty by the harness; a base it cannot reach is left to the build, which then fails on it anyway.
    """
    if args.standin:
        base = config.STANDIN_BASE.format(suite="bookworm", arch=arch)
        if not docker.image_exists(base):
            raise UsageError(f"stand-in base {base} not found: run `./devbox base --arch {arch}` first")
        return {"BASE_IMAGE": base, "BASE_KIND": "standin", "BASE_DIGEST": docker.base_digest(base)}
    out = {"BASE_IMAGE": args.base_image} if args.base_image else {}
    overrides = buildargs.parse_kv(args.build_arg)
    if "BASE_DIGEST" in overrides:
        return out
    base = overrides.get("BASE_IMAGE") or args.base_image or dockerfile_base(args)
    if base:
        digest = remote.base_digest(docker, base, arch)
        if digest:
            out["BASE_DIGEST"] = digest
        else:
            print(
                f"warning: no digest found for the base {base} (not in the local engine, registry not "
                f"reached): the label org.opencontainers.image.base.digest stays empty"
            )
    return out


def dockerfile_base(args: argparse.Namespace) -> str | None:
    """The Dockerfile's own `ARG BASE_IMAGE=` default, used when nothing overrides it."""
    path = dockerfile_path(Path(args.context).resolve(), args.dockerfile)
    return dockerfile.arg_default(path.read_text(encoding="utf-8", errors="replace"), "BASE_IMAGE")


def image_version(args: argparse.Namespace) -> str:
    """IMAGE_VERSION, i.e. the `org.opencontainers.image.version` label: the TAG, unless --build-arg says."""
    return buildargs.parse_kv(args.build_arg).get("IMAGE_VERSION", args.tag)


def resolve_args(args: argparse.Namespace, docker: Docker, arch: str, image_ref: str) -> dict[str, str]:
    """All build args for one arch, lowest precedence first (see buildargs.assemble)."""
    context = Path(args.context).resolve()
    identity = {
        "VCS_REF": config.vcs_ref(context),
        "BUILD_DATE": build_date(),
        "IMAGE_REF": image_ref,
        # the release tag being built (IMAGE:TAG's TAG, also for per-arch IMAGE:TAG-<arch> builds)
        "IMAGE_VERSION": args.tag,
    }
    only = buildargs.split_names(args.set_only)
    without = buildargs.split_names(args.without_set)
    switches = (
        buildargs.set_switches(buildargs.discover_sets(context), only, without) if only or without else {}
    )
    return buildargs.assemble(
        identity,
        base_args(args, docker, arch),
        buildargs.env_install_args(os.environ),
        switches,
        buildargs.parse_kv(args.build_arg),
    )


def request_for(
    args: argparse.Namespace,
    docker: Docker,
    arches: list[str],
    tags: list[str],
    image_ref: str,
    *,
    push: bool = False,
    cache_dir: Path | None = None,
) -> BuildRequest:
    context = Path(args.context).resolve()
    return BuildRequest(
        context=context,
        dockerfile=dockerfile_path(context, args.dockerfile),
        tags=tags,
        platforms=arches,
        build_args=resolve_args(args, docker, arches[0], image_ref),
        secrets=ca_secret(args),
        builder=args.builder,
        push=push,
        cache_dir=cache_dir,
        verbose=args.verbose,
    )


def validate(args: argparse.Namespace) -> None:
    """Fail fast, before any docker call, on mistakes that need no engine to spot."""
    config.check_image(args.image)
    config.check_tag(args.tag)
    context = Path(args.context).resolve()
    dockerfile_path(context, args.dockerfile)
    ca_secret(args)
    buildargs.check_switches(buildargs.env_install_args(os.environ), "environment")
    buildargs.check_switches(buildargs.parse_kv(args.build_arg), "--build-arg")
    only = buildargs.split_names(args.set_only)
    without = buildargs.split_names(args.without_set)
    if only or without:
        buildargs.set_switches(buildargs.discover_sets(context), only, without)
    if args.wheelhouse is not None and not Path(args.wheelhouse).is_dir():
        raise UsageError(f"wheelhouse {args.wheelhouse} is not a directory (--wheelhouse)")
