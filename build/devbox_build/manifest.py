"""Publish per-arch images and join them into one multi-arch manifest list.

buildx: `docker buildx imagetools create`; without buildx: `docker manifest create/push` (experimental CLI
on 20.10, `--insecure` for loopback registries, which Docker reaches over HTTP).

Example:
    push_images(docker, ["reg:5000/gpu-devbox:1.0-amd64", "reg:5000/gpu-devbox:1.0-arm64"])
    publish_list(docker, "reg:5000/gpu-devbox:1.0", [...the same refs...])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from devbox_build.docker import Docker, is_insecure_registry, registry_of
from devbox_build.progress import LayerProgress


def login(docker: Docker, image: str, skip: bool) -> None:
    """`docker login <registry>` unless SKIP_LOGIN=1; without a terminal, rely on stored credentials."""
    if skip:
        return
    if not sys.stdin.isatty():
        print(
            "not a terminal: skipping `docker login`, using stored credentials (SKIP_LOGIN=1 silences this)"
        )
        return
    # On the terminal: docker asks for the user name and password there, and says itself what went wrong.
    docker.run(*login_args(image), output="terminal")


def login_args(image: str) -> list[str]:
    """`docker login` arguments for IMAGE's registry (none for Docker Hub, docker's default)."""
    registry = registry_of(image)
    return ["login"] if registry == "docker.io" else ["login", registry]


def push_image(docker: Docker, ref: str, echo: Callable[[str], None] = print) -> None:
    """`docker push REF`, its progress in the log as it happens: one line per layer state, indented."""
    echo(f"pushing {ref}")
    progress = LayerProgress(echo=lambda line: echo(f"  {line}"))
    docker.run("push", ref, output="stream", on_line=progress.feed)


def push_images(docker: Docker, refs: Sequence[str]) -> None:
    for ref in refs:
        push_image(docker, ref)


def list_commands(docker: Docker, target: str, refs: Sequence[str]) -> list[list[str]]:
    """The commands that create and push the manifest list (pure; unit-tested)."""
    if docker.buildx:
        return [docker.cmd("buildx", "imagetools", "create", "--tag", target, *refs)]
    insecure = ["--insecure"] if is_insecure_registry(target) else []
    return [
        docker.cmd("manifest", "create", *insecure, "--amend", target, *refs),
        docker.cmd("manifest", "push", *insecure, "--purge", target),
    ]


def publish_list(docker: Docker, target: str, refs: Sequence[str]) -> None:
    """Create TARGET as a manifest list of the already-pushed REFS and push it."""
    print(f"assembling manifest list {target} from {len(refs)} image(s)")
    for cmd in list_commands(docker, target, refs):
        docker.run(*cmd[1:])
