"""`devbox release`: build each arch, run the conformance suite on each, and publish only if all are green.

Order: build all (each image id from --iidfile; the suite's scope stamped on it as labels) → suite per arch
(its results must name that id) → (every arch green) publish by digest (publish.py): push each id under a
staging tag, write the manifest list from the pushed digests, read it back and verify exactly those digests
for exactly the requested platforms with their labels, attach each arch's results as an in-toto
attestation (attest.py) to each image digest and to the list's, and only then move TAG (and `latest` with
--latest).
A red arch pushes nothing; a failed publish leaves the public tags where they were and says what was pushed.
An existing TAG is refused unless --force. The verify requires, on every platform, the OCI labels
(org.opencontainers.image.*) the Dockerfile's final stage sets, with `version` equal to the TAG, the suite
scope label, plus any --require-label. --dry-run builds and checks as usual, then prints what it would
push and pushes nothing.

Example:
    SKIP_LOGIN=1 ./devbox release --standin --registry 127.0.0.1:5000 --tag 2026.11.29 --suite-args="-n 2"
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from devbox_build import buildopts, config, dockerfile, registry_push, runner
from devbox_build.attest import ReleaseAttester, record_results
from devbox_build.builder import dockerfile_path
from devbox_build.commands.build import build_images
from devbox_build.commands.diff import DEFAULT_EXPECTATIONS
from devbox_build.commands.push import add_push_options, apply_registry, publish_plan
from devbox_build.docker import Docker
from devbox_build.errors import UsageError
from devbox_build.imagediff.gate import Allowance, load_allow, release_gate
from devbox_build.publish import RELEASE_LABEL, DockerPusher, Publisher, Request, stamp_labels
from devbox_build.registry import HttpRegistry, split_image

# The suite as a user runs it, from the repository root; {placeholders} are filled per arch. The checks and
# the performance baselines are two invocations: pytest-benchmark switches itself off under xdist, and
# figures measured beside other load are noise (README, "Performance baselines").
DEFAULT_SUITE_CMD = (
    "{python} -m pytest --image {image} --platform {platform} -p no:cacheprovider --results-json {results}"
    " -m 'not performance'"
)
PERF_SUITE_CMD = (
    "{python} -m pytest --image {image} --platform {platform} -p no:cacheprovider --results-json {results}"
    " -m performance -n 0 --benchmark-disable"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "release",
        help="build, run the conformance suite per arch, push only if all pass",
        description="Build every platform, run the conformance suite against each, and push "
        "+ assemble + verify the manifest list only when every arch passed.",
    )
    buildopts.add_build_options(p, default_tag=config.DEFAULT_PUSH_TAG)
    add_push_options(p)
    p.add_argument(
        "--suite-args",
        default="",
        metavar="ARGS",
        help='extra arguments for the suite\'s pytest, one string (e.g. "-n 2"); anything that narrows the '
        "suite (-k, -m, --expectations, a path) is recorded on the images and in the results",
    )
    p.add_argument(
        "--require-label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="label the final verify requires on every platform (repeatable)",
    )
    p.add_argument(
        "--no-oci-labels",
        action="store_true",
        help="verify only the --require-label labels, not the OCI labels the Dockerfile sets",
    )
    p.add_argument(
        "--no-perf",
        action="store_true",
        help="skip the performance baselines (they run serially, on the arches this host runs natively; "
        "an emulated arch's figures are not judged, so it is never measured)",
    )
    p.add_argument(
        "--against",
        default=None,
        metavar="REF",
        help="the previous release (pulled per arch if needed): once the contract is green, fail when an apt "
        "package or Python distribution it had is gone or lower in version, unless --allow names it; the "
        "diff is written as against-<arch>.md beside the results",
    )
    p.add_argument(
        "--allow",
        type=Path,
        default=None,
        metavar="FILE",
        help="allow-list for --against (YAML): `allow: [{python: NAME, reason: WHY}, {apt: NAME, …}]`",
    )
    p.add_argument(
        "--expectations",
        type=Path,
        default=None,
        metavar="DIR",
        help="a team's contract: passed to each arch's suite as --expectations=DIR and used by --against "
        "for the binaries' version arguments (default: the suite's own)",
    )
    p.add_argument(
        "--waivers",
        type=Path,
        default=None,
        metavar="FILE",
        help="waivers passed to each arch's suite and read by the --against gate (default: waivers.yaml "
        "beside --expectations when present)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace TAG when it already exists in the registry (refused otherwise)",
    )
    p.add_argument(
        "--latest",
        action="store_true",
        help="also point `latest` at this release, after it is verified (needed for --tag latest too)",
    )
    # Test hook, hidden from --help: replace the suite command (a template with {python} {image} {platform}
    # {arch} {results}); the harness self-tests use it to make one arch red without a real suite run.
    p.add_argument("--suite-cmd", default=DEFAULT_SUITE_CMD, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def serial_args(extra: str) -> str:
    """--suite-args without xdist's worker count: the performance run must stay serial (pure)."""
    out: list[str] = []
    tokens = iter(shlex.split(extra))
    for tok in tokens:
        if tok in ("-n", "--numprocesses"):
            next(tokens, None)
        elif not (tok.startswith("--numprocesses=") or (tok.startswith("-n") and not tok.startswith("--"))):
            out.append(tok)
    return shlex.join(out)


# Arguments that change how the suite runs, not what it judges; anything else in --suite-args narrows (or
# changes) the contract, and the release says so in its labels and its record.
_NEUTRAL_FLAGS = ("-q", "-v", "-vv", "-vvv", "-x", "--exitfirst", "-rA", "-ra", "--color=no", "--color=yes")


def suite_scope(extra: str, *, perf: bool, hook: bool) -> dict[str, str]:
    """The labels that record what gated this release (pure): `full` only for the whole default suite."""
    tokens = iter(shlex.split(extra))
    narrowing: list[str] = []
    for tok in tokens:
        if tok in ("-n", "--numprocesses", "-p"):
            value = next(tokens, "")
            if tok == "-p" and value != "no:cacheprovider":
                narrowing += [tok, value]
        elif tok.startswith(("--numprocesses=", "-pno:cacheprovider")) or tok in _NEUTRAL_FLAGS:
            continue
        elif tok.startswith("-n") and not tok.startswith("--") and tok[2:].isalnum():
            continue
        else:
            narrowing.append(tok)
    scope = "replaced (--suite-cmd)" if hook else ("narrowed" if narrowing else "full")
    return {
        RELEASE_LABEL: scope,
        f"{RELEASE_LABEL}-args": extra.strip(),
        f"{RELEASE_LABEL}-narrowing": shlex.join(narrowing),
        f"{RELEASE_LABEL}-performance": "measured" if perf else "skipped",
    }


def team_files(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    """(--expectations, --waivers) as absolute paths; the waivers default to `waivers.yaml` beside the
    expectations when that file exists. The suite runs from the checkout: a relative path must not move."""
    expectations = args.expectations.resolve() if args.expectations else None
    if expectations is not None and not (expectations / "common.yaml").is_file():
        raise UsageError(f"--expectations {args.expectations}: no common.yaml there")
    waivers = args.waivers.resolve() if args.waivers else None
    if waivers is None and expectations is not None and (expectations / "waivers.yaml").is_file():
        waivers = expectations / "waivers.yaml"
    if waivers is not None and not waivers.is_file():
        raise UsageError(f"--waivers {args.waivers}: no such file")
    return expectations, waivers


def team_args(expectations: Path | None, waivers: Path | None) -> list[str]:
    """The suite options that name the team's contract and waivers (pure)."""
    out = [f"--expectations={expectations}"] if expectations else []
    return out + ([f"--waivers={waivers}"] if waivers else [])


def team_labels(expectations: Path | None, waivers: Path | None) -> dict[str, str]:
    """Labels (and results facts) naming the team's contract and waivers that gated the release (pure)."""
    out = {}
    if expectations:
        out[f"{RELEASE_LABEL}-expectations"] = str(expectations)
    if waivers:
        out[f"{RELEASE_LABEL}-waivers"] = str(waivers)
    return out


def suite_command(
    template: str, extra: str, *, image: str, arch: str, results: Path, team: list[str] | None = None
) -> list[str]:
    """The suite's argument list for one arch (pure; unit-tested)."""
    fields = {
        "python": sys.executable,
        "image": image,
        "platform": f"linux/{arch}",
        "arch": arch,
        "results": str(results),
    }
    return [tok.format(**fields) for tok in shlex.split(template)] + list(team or []) + shlex.split(extra)


def required_labels(args: argparse.Namespace, dockerfile_text: str) -> list[str]:
    """Labels the final verify requires: the OCI ones the Dockerfile promises, then --require-label (pure).

    Each promised key must be present and non-empty; `version` must equal the version built (the TAG). A
    Dockerfile that sets fewer labels (a team's own) is held to what it sets.
    """
    keys = [] if args.no_oci_labels else dockerfile.label_keys(dockerfile_text)
    version_key = f"{dockerfile.OCI_PREFIX}version"
    out = [f"{k}={buildopts.image_version(args)}" if k == version_key else k for k in keys]
    return out + [label for label in args.require_label if label not in out]


def allow_source(args: argparse.Namespace, waivers: Path | None) -> Path | None:
    """What the --against gate reads: --allow, else the team's waivers (one mechanism for both)."""
    if args.allow and not args.against:
        raise UsageError("--allow applies to --against REF: name the previous release to compare with")
    if not args.against:
        return None
    return args.allow or waivers


def against_allowances(args: argparse.Namespace, waivers: Path | None = None) -> tuple[Allowance, ...]:
    """The --allow list (or the waivers), read before anything is built: a bad file costs seconds."""
    source = allow_source(args, waivers)
    return load_allow(source) if source else ()


def _refuse_early(args: argparse.Namespace) -> None:
    """Mistakes found before hours of building: `latest` not asked for, a release tag that exists."""
    if args.tag == "latest" and not args.latest:
        raise UsageError(
            "TAG is `latest`: name the release (--tag 2026.11.29), and add --latest to also move `latest` "
            "to it once it is verified"
        )
    if args.dry_run or args.force:
        return
    host, repo = split_image(args.image)
    existing = HttpRegistry(host).get_manifest(repo, args.tag)
    if existing is not None:
        raise UsageError(
            f"{args.image}:{args.tag} exists ({existing.digest}): a release tag is not replaced unless "
            "--force says so; nothing was built"
        )


def checked_id(results: Path, image_id: str) -> str | None:
    """A problem when the suite's results name another image than the one built (None when they agree, or
    when the suite wrote no results: the test hook)."""
    if not results.is_file():
        return None
    try:
        seen = (json.loads(results.read_text()).get("image") or {}).get("id")
    except ValueError:
        return f"{results} is not JSON"
    if seen != image_id:
        return f"the suite checked image {seen}, not the one built ({image_id})"
    return None


def _suite_verdict(
    args: argparse.Namespace,
    arch: str,
    ref: str,
    image_id: str,
    results_dir: Path,
    team: list[str],
    perf: bool,
) -> int:
    """Run the suite's phases on one arch's image (conformance, then performance on this machine's arch);
    the first red phase's exit status, or 0. A phase whose results name another image id is red too."""
    phases = [("conformance", args.suite_cmd, results_dir / f"{arch}.json")]
    if perf:
        phases.append(("performance", PERF_SUITE_CMD, results_dir / f"{arch}-performance.json"))
    for phase, template, results in phases:
        extra = args.suite_args if phase == "conformance" else serial_args(args.suite_args)
        cmd = suite_command(template, extra, image=ref, arch=arch, results=results, team=team)
        print(f"== {phase} {arch}: {shlex.join(cmd)}")
        started = time.monotonic()
        res = runner.stream(cmd, on_line=print, cwd=config.REPO_ROOT, env={"DOCKER_BUILDKIT": "1"})
        mismatch = checked_id(results, image_id) if res.ok else None
        state = "green" if res.ok and not mismatch else f"RED (exit {res.returncode})"
        print(f"== {phase} {arch}: {state} in {time.monotonic() - started:.0f} s; results: {results}")
        if mismatch:
            print(f"== {phase} {arch}: {mismatch}")
        if not res.ok or mismatch:
            return res.returncode or 1
    return 0


def _print_dry_run(args: argparse.Namespace, docker: Docker, arches: list[str], labels: list[str]) -> None:
    print("== every arch is green; dry run: nothing is logged in to or pushed. A release would:")
    plan = publish_plan(
        docker, args.image, args.tag, arches, how="built", login=not args.skip_login, latest=args.latest
    )
    for line in plan:
        print(f"  {line}")
    print(
        f"  verify {args.image}:{args.tag} has exactly {', '.join(f'linux/{a}' for a in arches)}, "
        f"each the digest of the image checked, with labels: {', '.join(labels)}"
    )
    print(
        "  attach each arch's results as an in-toto attestation (sha256-<hex>.att) to its image digest "
        "and all of them to the list's, before any public tag moves"
    )
    print(f"release (dry run): {args.image}:{args.tag} built and checked; nothing was pushed")


def run(args: argparse.Namespace) -> int:
    apply_registry(args)
    arches = list(config.parse_platforms(args.platforms))
    buildopts.validate(args)
    expectations, waivers = team_files(args)
    team = team_args(expectations, waivers)
    allowed = against_allowances(args, waivers)
    dockerfile_text = dockerfile_path(Path(args.context).resolve(), args.dockerfile).read_text(
        encoding="utf-8", errors="replace"
    )
    labels = required_labels(args, dockerfile_text)
    _refuse_early(args)
    docker = Docker.detect()
    docker.ping()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    results_dir = config.results_dir() / f"release-{stamp}"
    results_dir.mkdir(parents=True, exist_ok=True)

    print(f"== release {args.image}:{args.tag} for {', '.join(arches)}: build")
    built = build_images(args, docker, arches)

    # The test hook replaces the whole verdict, performance included.
    hook = args.suite_cmd != DEFAULT_SUITE_CMD
    perf = not args.no_perf and not hook
    # What gates this release is written on the images themselves (labels, no layer), before the suite
    # checks them: the ids the suite checks are the ids pushed.
    ids: dict[str, str] = {}
    scopes: dict[str, dict[str, str]] = {}
    for arch, (ref, image_id) in built.items():
        scopes[arch] = suite_scope(args.suite_args, perf=perf and arch == config.host_arch(), hook=hook)
        scopes[arch].update(team_labels(expectations, waivers))
        ids[arch] = stamp_labels(docker, image_id, ref, scopes[arch])
        print(f"== {arch}: {ref} = {ids[arch]}; suite {scopes[arch][RELEASE_LABEL]}")
    verdicts = {
        arch: _suite_verdict(
            args, arch, ref, ids[arch], results_dir, team, perf and arch == config.host_arch()
        )
        for arch, (ref, _) in built.items()
    }

    for arch in built:
        record_results(results_dir, arch, {"tag": args.tag, "image_id": ids[arch], "suite": scopes[arch]})
    red = [a for a, rc in verdicts.items() if rc != 0]
    if red:
        print(f"release: {', '.join(red)} failed the conformance suite; nothing was pushed")
        return 1
    refs = {arch: ref for arch, (ref, _) in built.items()}
    if args.against and not release_gate(
        refs, args.against, allowed, results_dir, expectations or DEFAULT_EXPECTATIONS
    ):
        print(
            f"release: a package or distribution of {args.against} is gone or went down in version; "
            f"nothing was pushed (name it in --allow with a reason to accept it)"
        )
        return 1

    labels = [*labels, f"{RELEASE_LABEL}={scopes[arches[0]][RELEASE_LABEL]}"]
    if args.dry_run:
        _print_dry_run(args, docker, arches, labels)
        return 0
    print("== every arch is green: publish by digest")
    registry_push.login(docker, args.image, args.skip_login)
    host, _ = split_image(args.image)
    # each arch's results (its digests recorded first) are attached as attestations before any tag moves
    attester = ReleaseAttester(results_dir, scopes)
    request = Request(
        args.image, args.tag, ids, labels=labels, latest=args.latest, force=args.force, attester=attester
    )
    published = Publisher(DockerPusher(docker), HttpRegistry(host)).publish(request)
    also = " and latest" if args.latest and args.tag != "latest" else ""
    print(f"release: {args.image}:{args.tag}{also} published and verified ({published.digest})")
    return 0
