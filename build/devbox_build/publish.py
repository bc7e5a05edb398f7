"""Publish checked images by digest: nothing public moves until the registry holds exactly what was tested.

Steps, in this order (a failure at any of them leaves every public tag where it was):
  1. read the public tags (TAG, TAG-<arch>, `latest` when asked); refuse before pushing anything when the
     guard says so (an existing release tag without --force; for `push`, a tag a release owns);
  2. per arch: push the local image id under a staging tag (TAG-<arch>.staging), read its manifest back and
     require its config to be that image id and its platform that arch;
  3. write a manifest list FRESH from those digests (no local list cache, no --amend) under TAG.staging;
  4. verify: read the list back; exactly the requested platforms, each exactly the pushed digest, each
     image's config the tested id and its labels as required;
  5. (a release) attach the attestations: an in-toto statement of each arch's results per image digest and
     one for the list's, under cosign's `sha256-<hex>.att` tags (attest.py);
  6. move the public tags, TAG last but for `latest`: PUT the same manifest bytes (rolled back on failure).
On failure one block says what was pushed (digests, staging tags), that the public tags are unchanged, and
how to resume (re-run: staging tags are overwritten) or clean up.

Example:
    pub = Publisher(DockerPusher(docker), HttpRegistry("127.0.0.1:5000"))
    pub.publish(Request("127.0.0.1:5000/gpu-devbox", "2026.11.29", {"amd64": "sha256:…"}, labels=[]))
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devbox_build import runner
from devbox_build.attest import att_tag, push_statement
from devbox_build.docker import DOCKER_ENV, Docker
from devbox_build.errors import DevboxError, RegistryError, UsageError
from devbox_build.progress import LayerProgress
from devbox_build.registry import (
    IMAGE_TYPES,
    LIST_TYPES,
    MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    Registry,
    split_image,
)
from devbox_build.remote import missing_labels

# The label a release stamps on what it checked (the suite's scope): it marks the tags a release owns.
RELEASE_LABEL = "io.github.gpu-devbox.release.suite"
STAGING = "staging"


class VerifyFailedError(DevboxError):
    """What the registry holds is not exactly what was tested (exit 1, like a red suite)."""


class Pusher(Protocol):
    """Puts one local image (by id) into the registry under a reference."""

    def push(self, image_id: str, ref: str) -> None: ...


@dataclass(frozen=True)
class DockerPusher:
    """`docker tag ID REF` + `docker push REF`; the staging tag is dropped locally afterwards."""

    docker: Docker
    echo: Callable[[str], None] = print

    def push(self, image_id: str, ref: str) -> None:
        self.docker.run("tag", image_id, ref)
        try:
            self.echo(f"pushing {ref} ({image_id[:19]})")
            progress = LayerProgress(echo=lambda line: self.echo(f"  {line}"))
            self.docker.run("push", ref, output="stream", on_line=progress.feed)
        finally:
            tags = self.docker.inspect_image(image_id).get("RepoTags") or []
            if len(tags) > 1:  # untag only: the image itself stays (its build tag keeps it)
                self.docker.run("rmi", "--no-prune", ref, check=False)


class Attester(Protocol):
    """The attestations of a publish: (subject digest, in-toto statement) for each image and the list."""

    def statements(
        self, image: str, pushed: Sequence[Pushed], listed: Manifest
    ) -> list[tuple[str, dict[str, Any]]]: ...


@dataclass(frozen=True)
class Request:
    """One publish: the images the suite checked, and where they go."""

    # registry/repository, e.g. 127.0.0.1:5000/gpu-devbox
    image: str
    # the public tag the manifest list gets
    tag: str
    # arch -> local image id (from --iidfile), in the list's order
    ids: dict[str, str]
    # labels every platform must carry (KEY non-empty, or KEY=VALUE)
    labels: list[str] = field(default_factory=list)
    # also point `latest` at the list (moved last)
    latest: bool = False
    # also move TAG-<arch> to each arch's image
    arch_tags: bool = True
    # "release": an existing TAG is refused; "push": a TAG or `latest` a release owns is refused
    guard: str = "release"
    # overrides the guard
    force: bool = False
    # the attestations attached before any public tag moves (a release's); None: none
    attester: Attester | None = None


@dataclass(frozen=True)
class Pushed:
    """One arch as the registry holds it after step 2."""

    arch: str
    image_id: str
    ref: str
    manifest: Manifest
    # the image config's platform: {"os": …, "architecture": …[, "variant": …]}
    platform: dict[str, str]


def stamp_labels(docker: Docker, image_id: str, ref: str, labels: dict[str, str]) -> str:
    """Add LABELS to IMAGE_ID's config (no layer) and tag the result REF; return its id (from --iidfile).

    The classic builder does this from the local image id without a registry lookup (BuildKit on 20.10
    would try to pull `FROM sha256:…`); a LABEL-only build runs nothing, so no emulation is needed.
    """
    with tempfile.TemporaryDirectory(prefix="devbox-stamp-") as tmp:
        ctx = Path(tmp)
        # One LABEL instruction: one image (a --label flag per key would leave an image per key behind).
        pairs = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in labels.items())
        (ctx / "Dockerfile").write_text(f"FROM {image_id}\nLABEL {pairs}\n")
        cmd = docker.cmd("build", "--quiet", "--iidfile", str(ctx / "iid"), "--tag", ref, str(ctx))
        runner.run(cmd, env={**DOCKER_ENV, "DOCKER_BUILDKIT": "0"})
        return (ctx / "iid").read_text().strip()


def staging_tag(tag: str, arch: str | None = None) -> str:
    return f"{tag}-{arch}.{STAGING}" if arch else f"{tag}.{STAGING}"


def public_tags(req: Request) -> list[str]:
    """The tags step 5 moves, in order: per-arch first, TAG, then `latest` (pure)."""
    tags = [f"{req.tag}-{a}" for a in req.ids] if req.arch_tags else []
    tags.append(req.tag)
    if req.latest and req.tag != "latest":
        tags.append("latest")
    return tags


def manifest_list(pushed: Sequence[Pushed]) -> Manifest:
    """A manifest list of exactly these images, in this order (pure): Docker's list type, or an OCI index
    when an image is OCI-typed."""
    media = OCI_INDEX if any(p.manifest.media_type == OCI_MANIFEST for p in pushed) else MANIFEST_LIST
    doc = {
        "schemaVersion": 2,
        "mediaType": media,
        "manifests": [
            {
                "mediaType": p.manifest.media_type,
                "size": len(p.manifest.body),
                "digest": p.manifest.digest,
                "platform": p.platform,
            }
            for p in pushed
        ],
    }
    return Manifest(json.dumps(doc, indent=3).encode() + b"\n", media)


def platform_name(plat: dict[str, Any]) -> str:
    return f"{plat.get('os', 'unknown')}/{plat.get('architecture', 'unknown')}"


def config_of(reg: Registry, repo: str, man: Manifest) -> tuple[str, dict[str, Any]]:
    """(config digest, config document) of one image manifest."""
    digest = str((man.doc.get("config") or {}).get("digest", ""))
    return digest, dict(json.loads(reg.get_blob(repo, digest)))


def is_tested(image_id: str, man: Manifest, config_digest: str) -> bool:
    """The registry's image is the local one: its config digest is the id (Docker's classic store), or its
    manifest digest is (the containerd store's ids)."""
    return image_id in (config_digest, man.digest)


def list_problems(
    reg: Registry, repo: str, ref: str, tested: dict[str, tuple[str, str]], labels: list[str]
) -> list[str]:
    """Everything wrong with REF as the registry serves it, against TESTED (platform -> (manifest digest,
    image id)): not a list, a platform missing, extra or twice, a digest other than the tested one, an image
    whose config is not the tested id or not that platform, a required label absent."""
    listed = reg.get_manifest(repo, ref)
    if listed is None:
        return [f"{ref}: not in the registry"]
    if not listed.is_list or listed.media_type not in LIST_TYPES:
        return [f"{ref}: a {listed.media_type or 'manifest'} where a manifest list was written"]
    problems: list[str] = []
    seen: list[str] = []
    for entry in listed.doc.get("manifests") or []:
        name = platform_name(entry.get("platform") or {})
        if name in seen:
            problems.append(f"platform {name} listed twice")
            continue
        seen.append(name)
        if name not in tested:
            problems.append(f"platform {name} listed but not asked for")
            continue
        digest, image_id = tested[name]
        if entry.get("digest") != digest:
            problems.append(f"{name}: lists {entry.get('digest')}, the tested image was pushed as {digest}")
            continue
        man = reg.get_manifest(repo, digest)
        if man is None or man.media_type not in IMAGE_TYPES:
            problems.append(f"{name}: {digest} is not an image manifest in the registry")
            continue
        config_digest, config = config_of(reg, repo, man)
        if not is_tested(image_id, man, config_digest):
            problems.append(f"{name}: {digest} holds image {config_digest}, not the tested {image_id}")
        if platform_name(config) != name:
            problems.append(f"{name}: {digest} is an image for {platform_name(config)}")
        have = (config.get("config") or {}).get("Labels") or {}
        problems += [f"{name}: label {m} missing" for m in missing_labels(have, labels)]
    problems += [f"platform {p} missing" for p in tested if p not in seen]
    return problems


@dataclass
class Ledger:
    """What a publish did so far: the failure report is written from it."""

    target: str
    step: str = "start"
    before: dict[str, Manifest | None] = field(default_factory=dict)
    pushed: list[Pushed] = field(default_factory=list)
    staged: str | None = None
    attested: list[tuple[str, str]] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)

    def report(self, image: str, error: BaseException, problems: Sequence[str] = ()) -> str:
        """The one block printed when a publish fails."""
        lines = [f"publish of {self.target} FAILED at step '{self.step}': {error}"]
        lines += [f"  problem: {p}" for p in problems]
        unchanged = [t for t in self.before if t not in self.stuck]
        state = ", ".join(
            f"{t} ({m.digest if m else 'absent'})" for t, m in self.before.items() if t in unchanged
        )
        if unchanged:
            lines.append(f"  public tags unchanged: {state}")
        for tag in self.stuck:
            lines.append(f"  public tag {tag} MOVED and could not be put back: fix it by hand")
        if not self.pushed and not self.staged:
            lines.append("  nothing was pushed")
        for p in self.pushed:
            lines.append(
                f"  pushed {p.ref} = {p.manifest.digest} ({platform_name(p.platform)}, {p.image_id})"
            )
        if self.staged:
            lines.append(f"  pushed {image}:{staging_tag(self.target.rsplit(':', 1)[1])} = {self.staged}")
        for subject, digest in self.attested:
            lines.append(f"  pushed {image}:{att_tag(subject)} = {digest} (attestation of {subject})")
        if self.pushed or self.staged:
            lines.append(
                "  resume: fix the cause and run the same command again (the staging tags are overwritten); "
                "clean up: leave them, or delete each digest above that no public tag uses "
                f"(`skopeo delete docker://{image}@DIGEST`, on a registry that allows deletes)"
            )
        return "\n".join(lines)


class Publisher:
    """Runs the steps against a registry; the docker side is a Pusher, so tests can drive it."""

    def __init__(self, pusher: Pusher, registry: Registry, *, echo: Callable[[str], None] = print) -> None:
        self.pusher = pusher
        self.registry = registry
        self.echo = echo

    def publish(self, req: Request) -> Manifest:
        """Publish REQ; return the list as published. Raises after printing the report on any failure."""
        _, repo = split_image(req.image)
        ledger = Ledger(f"{req.image}:{req.tag}")
        try:
            return self._steps(req, repo, ledger)
        except VerifyFailedError as exc:
            print(ledger.report(req.image, exc, exc.args[1] if len(exc.args) > 1 else ()), file=sys.stderr)
            raise VerifyFailedError(exc.args[0]) from None
        except DevboxError as exc:
            self._roll_back(repo, ledger)
            print(ledger.report(req.image, exc), file=sys.stderr)
            raise

    def _steps(self, req: Request, repo: str, ledger: Ledger) -> Manifest:
        reg = self.registry
        ledger.step = "read the public tags"
        ledger.before = {t: reg.get_manifest(repo, t) for t in public_tags(req)}
        self._guard(req, repo, ledger.before)
        for arch, image_id in req.ids.items():
            ledger.step = f"push linux/{arch}"
            ledger.pushed.append(self._push_arch(req, repo, arch, image_id))
        ledger.step = "write the manifest list"
        listed = manifest_list(ledger.pushed)
        reg.put_manifest(repo, staging_tag(req.tag), listed)
        ledger.staged = listed.digest
        self.echo(f"manifest list {req.image}:{staging_tag(req.tag)} = {listed.digest}")
        ledger.step = "verify"
        tested = {platform_name(p.platform): (p.manifest.digest, p.image_id) for p in ledger.pushed}
        problems = list_problems(reg, repo, staging_tag(req.tag), tested, req.labels)
        if problems:
            raise VerifyFailedError(f"verify found {len(problems)} problem(s); no public tag moved", problems)
        self.echo(f"verified: {', '.join(f'{p} = {d}' for p, (d, _) in tested.items())}")
        if req.attester is not None:
            ledger.step = "attach the attestations"
            for subject, stmt in req.attester.statements(req.image, ledger.pushed, listed):
                man = push_statement(reg, repo, subject, stmt)
                ledger.attested.append((subject, man.digest))
                self.echo(f"attested {req.image}:{att_tag(subject)} = {man.digest}")
        ledger.step = "move the public tags"
        by_tag = {f"{req.tag}-{p.arch}": p.manifest for p in ledger.pushed}
        for tag in public_tags(req):
            reg.put_manifest(repo, tag, by_tag.get(tag, listed))
            ledger.moved.append(tag)
            self.echo(f"moved {req.image}:{tag} -> {by_tag.get(tag, listed).digest}")
        return listed

    def _guard(self, req: Request, repo: str, before: dict[str, Manifest | None]) -> None:
        if req.force:
            return
        if req.guard == "release" and before.get(req.tag) is not None:
            raise UsageError(
                f"{req.image}:{req.tag} exists ({before[req.tag].digest}): a release tag is not replaced "  # type: ignore[union-attr]
                "unless --force says so"
            )
        if req.guard == "push":
            for tag in (req.tag, "latest"):
                man = before.get(tag)
                if man is not None and self._release_owned(repo, man):
                    raise UsageError(
                        f"{req.image}:{tag} is a verified release (label {RELEASE_LABEL}): `push` does not "
                        "move it; use `release`, or --force"
                    )

    def _release_owned(self, repo: str, man: Manifest) -> bool:
        """True when any image behind MAN carries the label a release stamps."""
        images = [man] if not man.is_list else []
        for entry in man.doc.get("manifests") or [] if man.is_list else []:
            child = self.registry.get_manifest(repo, str(entry.get("digest")))
            if child is not None and child.media_type in IMAGE_TYPES:
                images.append(child)
        for image in images:
            labels = ((config_of(self.registry, repo, image)[1].get("config") or {}).get("Labels")) or {}
            if RELEASE_LABEL in labels:
                return True
        return False

    def _push_arch(self, req: Request, repo: str, arch: str, image_id: str) -> Pushed:
        tag = staging_tag(req.tag, arch)
        ref = f"{req.image}:{tag}"
        self.pusher.push(image_id, ref)
        man = self.registry.get_manifest(repo, tag)
        if man is None or man.media_type not in IMAGE_TYPES:
            raise RegistryError(f"{ref} was pushed but the registry has no image manifest under it")
        config_digest, config = config_of(self.registry, repo, man)
        if not is_tested(image_id, man, config_digest):
            raise VerifyFailedError(f"{ref} holds image {config_digest}, not the tested {image_id}")
        if platform_name(config) != f"linux/{arch}":
            raise VerifyFailedError(f"{ref}: the linux/{arch} image is an image for {platform_name(config)}")
        plat = {"architecture": str(config["architecture"]), "os": str(config["os"])}
        if config.get("variant"):
            plat["variant"] = str(config["variant"])
        self.echo(f"pushed {ref} = {man.digest}")
        return Pushed(arch, image_id, ref, man, plat)

    def _roll_back(self, repo: str, ledger: Ledger) -> None:
        """Put every public tag already moved back where it was; one that did not exist cannot be removed
        without deleting the image under it, so it is reported."""
        for tag in reversed(ledger.moved):
            old = ledger.before.get(tag)
            try:
                if old is None:
                    raise RegistryError("it did not exist before")
                self.registry.put_manifest(repo, tag, old)
                ledger.restored.append(tag)
            except DevboxError:
                ledger.stuck.append(tag)
