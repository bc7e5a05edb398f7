"""The registry HTTP API (distribution v2), the few calls a release needs: read and write manifests by tag or
digest, read a blob.

Why not `docker manifest`: its local list cache (~/.docker/manifests) and `--amend` let a re-run publish an
earlier run's images; a list written from the digests just pushed and read back from the registry cannot.
Stdlib only (urllib), so it works offline with Debian's docker 20.10 CLI and a loopback registry. Loopback
registries are spoken to over plain HTTP (as Docker does); others over HTTPS, anonymously or with the
`auth` entry `docker login` stored in ~/.docker/config.json (credential helpers are not consulted).

Example:
    reg = HttpRegistry("127.0.0.1:5000")
    man = reg.get_manifest("gpu-devbox", "2026.11.29")   # None when the tag does not exist
    reg.put_manifest("gpu-devbox", "2026.11.29", man)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devbox_build.docker import is_insecure_registry
from devbox_build.errors import RegistryAuthError, RegistryError

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LIST_TYPES = (MANIFEST_LIST, OCI_INDEX)
IMAGE_TYPES = (MANIFEST_V2, OCI_MANIFEST)
_ACCEPT = ", ".join((*LIST_TYPES, *IMAGE_TYPES))


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry stores it: its digest is the sha256 of these bytes."""

    # the raw bytes (re-PUT unchanged to move a tag to the same digest)
    body: bytes
    # its media type (the Content-Type to PUT it with)
    media_type: str

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.body).hexdigest()

    @property
    def doc(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_TYPES


class Registry(Protocol):
    """What publishing needs from a registry; HttpRegistry is the real one."""

    def get_manifest(self, repo: str, ref: str) -> Manifest | None: ...

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str: ...

    def get_blob(self, repo: str, digest: str) -> bytes: ...

    def put_blob(self, repo: str, body: bytes) -> str: ...


def split_image(image: str) -> tuple[str, str]:
    """'127.0.0.1:5000/team/gpu-devbox' -> ('127.0.0.1:5000', 'team/gpu-devbox'); Docker Hub gets library/."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "registry-1.docker.io", image if sep else f"library/{image}"


def _stored_auth(host: str) -> str | None:
    """The base64 user:password `docker login` stored for HOST, if any (no credential helpers)."""
    cfg = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        auths = json.loads(cfg.read_text()).get("auths") or {}
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", "https://index.docker.io/v1/" if "docker.io" in host else host):
        entry = auths.get(key) or {}
        if entry.get("auth"):
            return str(entry["auth"])
    return None


class HttpRegistry:
    """One registry host over its HTTP API. Every failure is a RegistryError (exit 3) naming the call."""

    def __init__(self, host: str, *, timeout: float = 60) -> None:
        self.host = host
        self.scheme = "http" if is_insecure_registry(f"{host}/x") else "https"
        self.timeout = timeout
        self._auth_header: str | None = None

    # ---- the three calls ----

    def get_manifest(self, repo: str, ref: str) -> Manifest | None:
        status, headers, body = self._call("GET", f"/v2/{repo}/manifests/{ref}", accept=_ACCEPT, ok404=True)
        if status == 404:
            return None
        media = (headers.get("Content-Type") or "").split(";")[0].strip()
        man = Manifest(body, media or str(json.loads(body).get("mediaType", "")))
        said = headers.get("Docker-Content-Digest") or man.digest
        if said != man.digest or (ref.startswith("sha256:") and man.digest != ref):
            raise RegistryError(f"registry {self.host} answered {repo}:{ref} with other bytes ({man.digest})")
        return man

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        _, headers, _ = self._call(
            "PUT", f"/v2/{repo}/manifests/{tag}", body=manifest.body, content_type=manifest.media_type
        )
        said = headers.get("Docker-Content-Digest")
        if said and said != manifest.digest:
            raise RegistryError(f"registry {self.host} stored {repo}:{tag} as {said}, not {manifest.digest}")
        return manifest.digest

    def get_blob(self, repo: str, digest: str) -> bytes:
        _, _, body = self._call("GET", f"/v2/{repo}/blobs/{digest}")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise RegistryError(f"registry {self.host}: blob {digest} of {repo} does not match its digest")
        return body

    def put_blob(self, repo: str, body: bytes) -> str:
        """Upload BODY as one blob (monolithic: POST for an upload URL, then PUT with the digest)."""
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        _, headers, _ = self._call("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
        location = headers.get("Location") or ""
        parts = urllib.parse.urlsplit(location)
        query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode({"digest": digest})
        self._call("PUT", f"{parts.path}?{query}", body=body, content_type="application/octet-stream")
        return digest

    # ---- transport ----

    def _call(
        self,
        method: str,
        path: str,
        *,
        accept: str | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        ok404: bool = False,
    ) -> tuple[int, Any, bytes]:
        for attempt in (1, 2):
            req = urllib.request.Request(f"{self.scheme}://{self.host}{path}", data=body, method=method)
            if accept:
                req.add_header("Accept", accept)
            if content_type:
                req.add_header("Content-Type", content_type)
            if self._auth_header:
                req.add_header("Authorization", self._auth_header)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as err:
                if err.code == 404 and ok404:
                    return 404, err.headers, b""
                if err.code == 401 and attempt == 1 and self._authenticate(err.headers, path):
                    continue
                detail = err.read().decode("utf-8", "replace").strip().replace("\n", " ")[:300]
                kind = RegistryAuthError if err.code in (401, 403) else RegistryError
                raise kind(f"registry {self.host}: {method} {path}: HTTP {err.code} {detail}") from None
            except (urllib.error.URLError, OSError) as err:
                why = getattr(err, "reason", err)
                raise RegistryError(f"registry {self.host} not reachable: {method} {path}: {why}") from None
        raise RegistryAuthError(f"registry {self.host}: {method} {path}: still unauthorized after login")

    def _authenticate(self, headers: Any, path: str) -> bool:
        """Answer a 401 challenge: Basic with the stored login, or a Bearer token from the realm it names."""
        challenge = headers.get("WWW-Authenticate") or ""
        stored = _stored_auth(self.host)
        if challenge.lower().startswith("basic"):
            self._auth_header = f"Basic {stored}" if stored else None
            return stored is not None
        if not challenge.lower().startswith("bearer"):
            return False
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            return False
        repo = re.match(r"/v2/(.+?)/(?:manifests|blobs)/", path)
        if repo:
            params.setdefault("scope", f"repository:{repo.group(1)}:pull,push")
        req = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(params)}")
        if stored:
            req.add_header("Authorization", f"Basic {stored}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RegistryError(f"registry {self.host}: token service {realm} failed: {err}") from None
        token = answer.get("token") or answer.get("access_token")
        self._auth_header = f"Bearer {token}" if token else None
        return bool(token)
