"""Read a pushed image from its registry: the platforms of its manifest list and each platform's labels.

buildx's `imagetools inspect` when present, else skopeo (`--tls-verify=false` for loopback registries).

Example:
    remote = RemoteImage.read(Docker.detect(), "127.0.0.1:5000/gpu-devbox:1.0")
    remote.platforms          # ("linux/amd64", "linux/arm64")
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devbox_build import runner
from devbox_build.docker import DOCKER_ENV, Docker, is_insecure_registry
from devbox_build.errors import ToolMissingError

# Manifest entries buildx adds for provenance/SBOM; they are not runnable platforms.
_ATTESTATION = "unknown/unknown"


def platforms_of(index: Mapping[str, Any]) -> tuple[str, ...]:
    """'os/arch' of each image in a manifest list / OCI index; () for a single-image manifest."""
    out: list[str] = []
    for entry in index.get("manifests", []) or []:
        plat = entry.get("platform") or {}
        name = f"{plat.get('os', 'unknown')}/{plat.get('architecture', 'unknown')}"
        if name != _ATTESTATION and name not in out:
            out.append(name)
    return tuple(out)


def missing_labels(labels: Mapping[str, str], required: list[str]) -> list[str]:
    """Each KEY or KEY=VALUE in REQUIRED that LABELS lacks (a KEY alone must be present and non-empty)."""
    missing: list[str] = []
    for item in required:
        key, sep, value = item.partition("=")
        have = labels.get(key)
        if have is None or (sep and have != value) or (not sep and have == ""):
            missing.append(f"{item} (found {have!r})" if have is not None else item)
    return missing


@dataclass(frozen=True)
class RemoteImage:
    """What a registry says about one reference."""

    # the reference read
    ref: str
    # "os/arch" per image in the manifest list (a single-arch image: just its own)
    platforms: tuple[str, ...]
    # "os/arch" -> that image's config labels
    labels: dict[str, dict[str, str]]
    # True when REF is a manifest list / index
    is_list: bool

    @classmethod
    def read(cls, docker: Docker, ref: str) -> RemoteImage:
        return _read_buildx(docker, ref) if docker.buildx else _read_skopeo(ref)


def _read_buildx(docker: Docker, ref: str) -> RemoteImage:
    raw = json.loads(docker.run("buildx", "imagetools", "inspect", "--raw", ref).stdout)
    images = json.loads(
        docker.run("buildx", "imagetools", "inspect", "--format", "{{json .Image}}", ref).stdout
    )
    plats = platforms_of(raw)
    if plats:
        labels = {p: ((images.get(p) or {}).get("config") or {}).get("Labels") or {} for p in plats}
        return RemoteImage(ref, plats, labels, True)
    plat = f"{images.get('os', 'linux')}/{images.get('architecture', 'unknown')}"
    return RemoteImage(ref, (plat,), {plat: (images.get("config") or {}).get("Labels") or {}}, False)


def _skopeo(ref: str, *args: str, arch: str | None = None) -> dict[str, Any]:
    if shutil.which("skopeo") is None:
        raise ToolMissingError("verify needs `docker buildx` or `skopeo` (apt-get install skopeo)")
    cmd = ["skopeo"]
    if arch:
        cmd += ["--override-os", "linux", "--override-arch", arch]
    cmd += ["inspect", *args]
    if is_insecure_registry(ref):
        cmd.append("--tls-verify=false")
    cmd.append(f"docker://{ref}")
    return dict(json.loads(runner.run(cmd).stdout))


def _read_skopeo(ref: str) -> RemoteImage:
    raw = _skopeo(ref, "--raw")
    plats = platforms_of(raw)
    if plats:
        labels = {p: _skopeo(ref, arch=p.split("/", 1)[1]).get("Labels") or {} for p in plats}
        return RemoteImage(ref, plats, labels, True)
    info = _skopeo(ref)
    plat = f"{info.get('Os', 'linux')}/{info.get('Architecture', 'unknown')}"
    return RemoteImage(ref, (plat,), {plat: info.get("Labels") or {}}, False)


def base_digest(docker: Docker, ref: str, arch: str) -> str | None:
    """REF's digest for the `base.digest` label: the local engine's (RepoDigests, else the image id), else
    the registry's; None when neither answers.

    For a multi-arch base this is the manifest list's digest, the one `FROM name@digest` pins and the local
    engine records as RepoDigest after a pull by tag. Registry lookups, first that answers: buildx
    `imagetools inspect`, skopeo (whose `.Digest` is the top-level one; ARCH picks the image it inspects),
    `docker manifest inspect --verbose` (a list: the ARCH image's own digest).
    """
    if docker.image_exists(ref):
        return docker.base_digest(ref)
    insecure = is_insecure_registry(ref)
    if docker.buildx:
        inspect = docker.cmd("buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest}}")
        res = runner.probe(inspect, timeout=60)
        digest = _json_field(res.stdout if res and res.ok else "", "digest")
        if digest:
            return digest
    if shutil.which("skopeo"):
        cmd = ["skopeo", "--override-os", "linux", "--override-arch", arch, "inspect"]
        cmd += ["--format", "{{.Digest}}", *(["--tls-verify=false"] if insecure else [])]
        res = runner.probe([*cmd, f"docker://{ref}"], timeout=60)
        if res and res.ok and res.stdout.strip().startswith("sha256:"):
            return res.stdout.strip()
    flags = ["--verbose", *(["--insecure"] if insecure else [])]
    res = runner.probe(docker.cmd("manifest", "inspect", *flags, ref), timeout=60, env=DOCKER_ENV)
    return _manifest_inspect_digest(res.stdout if res and res.ok else "", arch)


def _json_field(text: str, key: str) -> str | None:
    try:
        value = json.loads(text).get(key) if text.strip() else None
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def _manifest_inspect_digest(text: str, arch: str) -> str | None:
    """`docker manifest inspect --verbose` output -> a digest: a single image's own, or in a list ARCH's."""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    entries = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    for entry in entries:
        desc = entry.get("Descriptor") or {}
        plat = desc.get("platform") or {}
        if len(entries) == 1 or plat.get("architecture") == arch:
            return str(desc["digest"]) if desc.get("digest") else None
    return None
