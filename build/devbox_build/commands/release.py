"""`devbox release`: build each arch, run the conformance suite on each, and publish only if all are green.

Order: build all → suite per arch → (every arch green) push per-arch images → manifest list → verify.
A red arch pushes nothing at all. The suite is a subprocess; its exit code is the verdict. The verify
requires, on every platform, the OCI labels (org.opencontainers.image.*) the Dockerfile's final stage sets,
with `version` equal to the TAG, plus any --require-label. --dry-run builds and checks as usual, then
prints what it would push and pushes nothing.

Example:
    SKIP_LOGIN=1 ./devbox release --standin --registry 127.0.0.1:5000 --tag 2026.11.29 --suite-args="-n 2"
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from devbox_build import buildopts, config, dockerfile, manifest, runner
from devbox_build.builder import dockerfile_path
from devbox_build.commands.build import build_arches
from devbox_build.commands.diff import DEFAULT_EXPECTATIONS
from devbox_build.commands.push import add_push_options, apply_registry, publish, publish_plan
from devbox_build.commands.verify import verify
from devbox_build.docker import Docker
from devbox_build.errors import UsageError
from devbox_build.imagediff.gate import Allowance, load_allow, release_gate

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
        help='extra arguments for the suite\'s pytest, one string (e.g. "-n 2 -k binary")',
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


def suite_command(template: str, extra: str, *, image: str, arch: str, results: Path) -> list[str]:
    """The suite's argument list for one arch (pure; unit-tested)."""
    fields = {
        "python": sys.executable,
        "image": image,
        "platform": f"linux/{arch}",
        "arch": arch,
        "results": str(results),
    }
    return [tok.format(**fields) for tok in shlex.split(template)] + shlex.split(extra)


def required_labels(args: argparse.Namespace, dockerfile_text: str) -> list[str]:
    """Labels the final verify requires: the OCI ones the Dockerfile promises, then --require-label (pure).

    Each promised key must be present and non-empty; `version` must equal the version built (the TAG). A
    Dockerfile that sets fewer labels (a team's own) is held to what it sets.
    """
    keys = [] if args.no_oci_labels else dockerfile.label_keys(dockerfile_text)
    version_key = f"{dockerfile.OCI_PREFIX}version"
    out = [f"{k}={buildopts.image_version(args)}" if k == version_key else k for k in keys]
    return out + [label for label in args.require_label if label not in out]


def against_allowances(args: argparse.Namespace) -> tuple[Allowance, ...]:
    """The --allow list, read before anything is built: a bad file costs seconds, not a build."""
    if args.allow and not args.against:
        raise UsageError("--allow applies to --against REF: name the previous release to compare with")
    return load_allow(args.allow) if args.allow else ()


def run(args: argparse.Namespace) -> int:
    apply_registry(args)
    arches = list(config.parse_platforms(args.platforms))
    buildopts.validate(args)
    allowed = against_allowances(args)
    dockerfile_text = dockerfile_path(Path(args.context).resolve(), args.dockerfile).read_text(
        encoding="utf-8", errors="replace"
    )
    labels = required_labels(args, dockerfile_text)
    docker = Docker.detect()
    docker.ping()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    results_dir = config.results_dir() / f"release-{stamp}"
    results_dir.mkdir(parents=True, exist_ok=True)

    print(f"== release {args.image}:{args.tag} for {', '.join(arches)}: build")
    refs = build_arches(args, docker, arches, per_arch_tags=True)

    # The test hook replaces the whole verdict, performance included.
    perf = not args.no_perf and args.suite_cmd == DEFAULT_SUITE_CMD
    verdicts: dict[str, int] = {}
    for arch, ref in refs.items():
        phases = [("conformance", args.suite_cmd, results_dir / f"{arch}.json")]
        if perf and arch == config.host_arch():
            phases.append(("performance", PERF_SUITE_CMD, results_dir / f"{arch}-performance.json"))
        for phase, template, results in phases:
            extra = args.suite_args if phase == "conformance" else serial_args(args.suite_args)
            cmd = suite_command(template, extra, image=ref, arch=arch, results=results)
            print(f"== {phase} {arch}: {shlex.join(cmd)}")
            started = time.monotonic()
            res = runner.stream(cmd, on_line=print, cwd=config.REPO_ROOT, env={"DOCKER_BUILDKIT": "1"})
            state = "green" if res.ok else f"RED (exit {res.returncode})"
            print(f"== {phase} {arch}: {state} in {time.monotonic() - started:.0f} s; results: {results}")
            if not res.ok:
                verdicts[arch] = res.returncode
                break
        else:
            verdicts[arch] = 0

    red = [a for a, rc in verdicts.items() if rc != 0]
    if red:
        print(f"release: {', '.join(red)} failed the conformance suite; nothing was pushed")
        return 1
    if args.against and not release_gate(refs, args.against, allowed, results_dir, DEFAULT_EXPECTATIONS):
        print(
            f"release: a package or distribution of {args.against} is gone or went down in version; "
            f"nothing was pushed (name it in --allow with a reason to accept it)"
        )
        return 1

    if args.dry_run:
        print("== every arch is green; dry run: nothing is logged in to or pushed. A release would:")
        plan = publish_plan(docker, args.image, args.tag, arches, how="built", login=not args.skip_login)
        for line in plan:
            print(f"  {line}")
        print(
            f"  verify {args.image}:{args.tag} has {', '.join(f'linux/{a}' for a in arches)}, each with "
            f"labels: {', '.join(labels) or 'none required'}"
        )
        print(f"release (dry run): {args.image}:{args.tag} built and checked; nothing was pushed")
        return 0
    print("== every arch is green: push")
    manifest.login(docker, args.image, args.skip_login)
    target = publish(docker, args.image, args.tag, refs)
    print(f"== verify {target}")
    problems = verify(docker, target, [f"linux/{a}" for a in arches], labels)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"release: pushed, but verify found {len(problems)} problem(s)")
        return 1
    print(f"release: {target} published and verified")
    return 0
