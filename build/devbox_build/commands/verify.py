"""`devbox verify REF`: the pushed manifest list has exactly the expected platforms and each has the labels.

Exit 1 when a platform or label is missing, or a platform is there that was not asked for (a list that
kept an arch PLATFORMS dropped), so CI can gate on it. `release` verifies by digest itself (publish.py).

It also shows the release's attestation of the digest REF resolves to (attest.py): per platform, the
suite's counts, whether the suite was narrowed, the contract's hash. With --require-attestation, REF fails
when its digest (or, for a list, one of its images) has none, when the statement's subject is another
digest, or when its results are red or incomplete — so a platform team promotes only what was gated.

Example:
    ./devbox verify 127.0.0.1:5000/gpu-devbox:latest --require-label org.opencontainers.image.revision
    ./devbox verify 127.0.0.1:5000/gpu-devbox:2026.11.29 --require-attestation
"""

from __future__ import annotations

import argparse

from devbox_build import attest, config
from devbox_build.docker import Docker
from devbox_build.errors import DevboxError
from devbox_build.registry import HttpRegistry, split_image
from devbox_build.remote import RemoteImage, missing_labels


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check a pushed image's platforms and labels",
        description="Read REF from its registry; fail when an expected platform or label is missing.",
    )
    p.add_argument("ref", metavar="REF", help="image reference, e.g. 127.0.0.1:5000/gpu-devbox:latest")
    p.add_argument(
        "--platforms",
        default=config.env("PLATFORMS", config.DEFAULT_PLATFORMS),
        help="the platforms REF must have, no more and no fewer (env PLATFORMS; default %(default)s)",
    )
    p.add_argument(
        "--require-label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="label every platform must carry (non-empty, or equal to VALUE); repeatable",
    )
    p.add_argument(
        "--require-attestation",
        action="store_true",
        help="fail unless REF's digest (and each of its images) carries a green attestation of a release, "
        "whose subject is that digest",
    )
    p.set_defaults(func=run)


def split_ref(ref: str) -> tuple[str, str, str]:
    """'127.0.0.1:5000/team/x:1.0' -> ('127.0.0.1:5000', 'team/x', '1.0'); '@sha256:…' is kept as the
    reference; no tag means `latest` (pure)."""
    name, at, digest = ref.partition("@")
    if not at:
        slash = name.rfind("/")
        colon = name.rfind(":")
        name, digest = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")
    host, repo = split_image(name)
    return host, repo, digest


def attestation(ref: str, *, required: bool) -> list[str]:
    """Print REF's attestation summary; the problems that fail it when REQUIRED (none otherwise)."""
    host, repo, reference = split_ref(ref)
    try:
        digest, lines, problems = attest.check_reference(HttpRegistry(host), repo, reference)
    except DevboxError as err:
        if required:
            raise
        print(f"attestation: not read ({err})")
        return []
    for line in lines:
        print(line)
    if not lines:
        print(f"attestation: none for {digest}")
    elif not problems:
        print(f"attestation: green, subject {digest}")
    return problems if required else []


def check(remote: RemoteImage, platforms: list[str], labels: list[str]) -> list[str]:
    """Problems found (empty when REF is fine); pure, so unit tests feed it synthetic RemoteImages."""
    problems = [f"platform {p} missing" for p in platforms if p not in remote.platforms]
    if platforms:
        problems += [f"platform {p} listed but not asked for" for p in remote.platforms if p not in platforms]
    for plat in remote.platforms:
        if plat in platforms or not platforms:
            problems += [
                f"{plat}: label {m} missing" for m in missing_labels(remote.labels.get(plat, {}), labels)
            ]
    return problems


def verify(docker: Docker, ref: str, platforms: list[str], labels: list[str]) -> list[str]:
    remote = RemoteImage.read(docker, ref)
    kind = "manifest list" if remote.is_list else "single-arch image"
    print(f"{ref}: {kind} with {', '.join(remote.platforms)}")
    for plat in remote.platforms:
        print(f"  {plat}")
        for key, value in sorted(remote.labels.get(plat, {}).items()):
            print(f"    {key}={value}")
    return check(remote, platforms, labels)


def run(args: argparse.Namespace) -> int:
    platforms = [f"linux/{a}" for a in config.parse_platforms(args.platforms)]
    problems = verify(Docker.detect(), args.ref, platforms, args.require_label)
    problems += attestation(args.ref, required=args.require_attestation)
    for p in problems:
        print(f"FAIL {p}")
    print("verify: OK" if not problems else f"verify: {len(problems)} problem(s)")
    return 1 if problems else 0
