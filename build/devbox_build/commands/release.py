"""`devbox release`: build each arch, run the conformance suite on each, and publish only if all are green.

Order: build all → suite per arch → (every arch green) push per-arch images → manifest list → verify.
A red arch pushes nothing at all. The suite is a subprocess; its exit code is the verdict.

Example:
    SKIP_LOGIN=1 ./devbox release --standin --registry 127.0.0.1:5000 --tag 2026.11.29 --suite-args="-n 2"
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from devbox_build import buildopts, config, manifest, runner
from devbox_build.commands.build import build_arches
from devbox_build.commands.push import add_push_options, apply_registry, publish
from devbox_build.commands.verify import verify
from devbox_build.docker import Docker

# The suite as a user runs it, from the repository root; {placeholders} are filled per arch.
DEFAULT_SUITE_CMD = (
    "{python} -m pytest --image {image} --platform {platform} -p no:cacheprovider --results-json {results}"
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
    # Test hook, hidden from --help: replace the suite command (a template with {python} {image} {platform}
    # {arch} {results}); the harness self-tests use it to make one arch red without a real suite run.
    p.add_argument("--suite-cmd", default=DEFAULT_SUITE_CMD, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    apply_registry(args)
    arches = list(config.parse_platforms(args.platforms))
    buildopts.validate(args)
    docker = Docker.detect()
    docker.ping()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results_dir = config.results_dir() / f"release-{stamp}"
    results_dir.mkdir(parents=True, exist_ok=True)

    print(f"== release {args.image}:{args.tag} for {', '.join(arches)}: build")
    refs = build_arches(args, docker, arches, per_arch_tags=True)

    verdicts: dict[str, int] = {}
    for arch, ref in refs.items():
        results = results_dir / f"{arch}.json"
        cmd = suite_command(args.suite_cmd, args.suite_args, image=ref, arch=arch, results=results)
        print(f"== conformance {arch}: {shlex.join(cmd)}")
        started = time.monotonic()
        res = runner.stream(cmd, on_line=print, cwd=config.REPO_ROOT, env={"DOCKER_BUILDKIT": "1"})
        verdicts[arch] = res.returncode
        state = "green" if res.ok else f"RED (exit {res.returncode})"
        print(f"== conformance {arch}: {state} in {time.monotonic() - started:.0f} s; results: {results}")

    red = [a for a, rc in verdicts.items() if rc != 0]
    if red:
        print(f"release: {', '.join(red)} failed the conformance suite; nothing was pushed")
        return 1

    print("== every arch is green: push")
    manifest.login(docker, args.image, args.skip_login)
    target = publish(docker, args.image, args.tag, refs)
    print(f"== verify {target}")
    problems = verify(docker, target, [f"linux/{a}" for a in arches], args.require_label)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"release: pushed, but verify found {len(problems)} problem(s)")
        return 1
    print(f"release: {target} published and verified")
    return 0
