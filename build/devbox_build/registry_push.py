"""Log in to a registry and push per-arch images with their progress in the log.

The manifest list is not made here: publish.py writes it from the pushed digests through the registry's
API (`docker manifest create --amend` reused a stale local list after a failed push).

Example:
    push_image(docker, "reg:5000/gpu-devbox:1.0-arm64")
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from devbox_build.docker import Docker, registry_of
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
