"""Facts about the Docker client and engine, and small typed wrappers over `docker` commands.

Two build paths exist because Docker 20.10 clients often ship without buildx while 24+ always have it:
buildx when `docker buildx version` works, otherwise BuildKit through `DOCKER_BUILDKIT=1 docker build`.

Example:
    client = Docker.detect()
    client.image_id("gpu-devbox:local")
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from devbox_build import runner
from devbox_build.errors import NoSuchImageError, ToolMissingError

# Environment every docker call gets: BuildKit on, `docker manifest` enabled on 20.10 clients.
DOCKER_ENV = {"DOCKER_BUILDKIT": "1", "DOCKER_CLI_EXPERIMENTAL": "enabled"}


def _candidates() -> list[str]:
    """Clients to consider: DEVBOX_DOCKER first, then PATH's docker, then Debian's /usr/bin/docker."""
    found: list[str] = []
    for c in (os.environ.get("DEVBOX_DOCKER", ""), shutil.which("docker") or "", "/usr/bin/docker"):
        if c and Path(c).exists() and c not in found:
            found.append(c)
    return found


def _has_buildx(binary: str) -> bool:
    res = runner.probe([binary, "buildx", "version"])
    return res is not None and res.ok


@dataclass(frozen=True)
class Docker:
    """One docker client binary and whether it has buildx."""

    # path of the docker client binary
    binary: str
    # True when `docker buildx version` works with this client
    buildx: bool

    @classmethod
    def detect(cls) -> Docker:
        """Prefer a client with buildx; else one that can drive BuildKit itself (Debian's 20.10 client).

        A newer client without the buildx plugin refuses DOCKER_BUILDKIT=1 builds, so it is the last resort.
        """
        cands = _candidates()
        if not cands:
            raise ToolMissingError("no docker client found (install docker.io or Docker Engine)")
        forced = os.environ.get("DEVBOX_DOCKER", "")
        if forced and forced in cands:
            return cls(forced, _has_buildx(forced))
        for c in cands:
            if _has_buildx(c):
                return cls(c, True)
        debian = "/usr/bin/docker"
        return cls(debian if debian in cands else cands[0], False)

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = None,
        output: runner.Output = "capture",
        on_line: Callable[[str], None] | None = None,
    ) -> runner.Result:
        """`docker ARGS` through the one runner (see runner.run for output and on_line)."""
        return runner.run(
            self.cmd(*args), check=check, env=DOCKER_ENV, timeout=timeout, output=output, on_line=on_line
        )

    def ping(self) -> None:
        """Raise DaemonDownError (one line, exit 2) when the engine cannot be reached."""
        self.run("version", "--format", "{{.Server.Version}}", timeout=30)

    @cached_property
    def server_version(self) -> str:
        res = self.run("version", "--format", "{{.Server.Version}}", check=False, timeout=30)
        return res.stdout.strip() if res.ok else ""

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).ok

    def inspect_image(self, ref: str) -> dict[str, Any]:
        res = self.run("image", "inspect", ref)
        data = json.loads(res.stdout)
        if not data:
            raise NoSuchImageError(self.cmd("image", "inspect", ref), 1, "", "No such image")
        return data[0]

    def image_id(self, ref: str) -> str:
        return str(self.inspect_image(ref)["Id"])

    def base_digest(self, ref: str) -> str:
        """The base's registry digest when it came from a registry, else its local image id."""
        info = self.inspect_image(ref)
        return digest_from_inspect(ref, info.get("RepoDigests") or [], str(info["Id"]))


def digest_from_inspect(ref: str, repo_digests: list[str], image_id: str) -> str:
    """The RepoDigest of REF's own repository (an image pushed to several has one each), else the first,
    else the local image id (an image built here, never pulled or pushed)."""
    repo = split_ref(ref.split("@", 1)[0])[0]
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if name == repo or name.endswith(f"/{repo}") or repo.endswith(f"/{name}"):
            return digest
    return repo_digests[0].split("@", 1)[1] if repo_digests else image_id


def registry_of(ref: str) -> str:
    """The registry host of an image reference ('docker.io' when the first part is not a host)."""
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def is_insecure_registry(ref: str) -> bool:
    """True for loopback registries, which Docker and skopeo reach over plain HTTP."""
    host = registry_of(ref).rsplit(":", 1)[0] if ":" in registry_of(ref) else registry_of(ref)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_ref(ref: str) -> tuple[str, str]:
    """'host:5000/name:tag' -> ('host:5000/name', 'tag'); no tag -> 'latest'."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"
