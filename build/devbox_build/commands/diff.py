"""`devbox diff A B`: what changed from image A (e.g. the last release) to image B, like `diff` exits.

apt packages, Python distributions and the contract's binaries (added, removed, upgraded, downgraded),
labels, environment, entrypoint/cmd, healthcheck, user and workdir, the total size and the size per layer
by the instruction that made it. Both images are probed at once, one container each, with the suite's own
probe (imagediff.facts); nothing is extracted. Exit 0: no differences; 1: differences; 2: a usage error,
a section of either image that could not be read (the diff is printed, the error says what is missing), or
images of two architectures (refused unless --allow-arch-mismatch: then the diff says so at the top).

Example:
    ./devbox diff gpu-devbox:2026.11 gpu-devbox:2026.12 --format md > release-notes.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devbox_build import config
from devbox_build.errors import UsageError
from devbox_build.imagediff import compare, facts, render

DEFAULT_EXPECTATIONS = config.REPO_ROOT / "expectations"


def add_image_options(p: argparse.ArgumentParser) -> None:
    """Options shared by diff and snapshot: which variant, when to pull, which contract names binaries."""
    p.add_argument(
        "--platform",
        default=None,
        metavar="P",
        help="the platform's variant of a multi-arch image, e.g. linux/arm64 (pulled if needed)",
    )
    p.add_argument(
        "--pull",
        choices=("missing", "always", "never"),
        default="missing",
        help="when to pull from the registry (default: %(default)s)",
    )
    p.add_argument(
        "--expectations",
        type=Path,
        default=DEFAULT_EXPECTATIONS,
        metavar="DIR",
        help="contract whose binaries are versioned (default: the repository's expectations/)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two images (packages, dists, binaries, config, size per layer)",
        description="Compare image A with image B: apt packages, Python distributions and binaries "
        "(added/removed/upgraded/downgraded), labels, env, entrypoint/cmd, healthcheck, user, workdir, "
        "total size and size per layer. Exit 0 when nothing differs, 1 when something does.",
    )
    p.add_argument("old", metavar="A", help="the image to compare from (e.g. the last release)")
    p.add_argument("new", metavar="B", help="the image to compare to")
    p.add_argument(
        "--format",
        choices=tuple(render.FORMATS),
        default="table",
        help="table (terminal), md (release notes) or json (default: %(default)s)",
    )
    p.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the diff to FILE instead of stdout",
    )
    p.add_argument(
        "--allow-arch-mismatch",
        action="store_true",
        help="compare images of different architectures anyway (refused by default: versions differ per "
        "arch; the diff then says so at the top)",
    )
    add_image_options(p)
    p.set_defaults(func=run)


def progress(line: str) -> None:
    """Pull and probe progress on stderr: stdout holds only the diff, so it can be piped or redirected."""
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    old, new = facts.gather_pair(
        args.old,
        args.new,
        platform=args.platform,
        pull=args.pull,
        expectations_dir=args.expectations,
        progress=progress,
    )
    d = compare.diff(old, new)
    if d.arch_mismatch and not args.allow_arch_mismatch:
        raise UsageError(f"devbox diff: architecture mismatch: {d.arch_mismatch}; or --allow-arch-mismatch")
    out = render.FORMATS[args.format](d)
    if args.output:
        args.output.write_text(out, encoding="utf-8")
        progress(f"devbox diff: {render.text(d).rstrip().splitlines()[-1]}; written to {args.output}")
    else:
        sys.stdout.write(out)
    for error in d.errors:
        progress(f"devbox diff: ERROR {error}")
    return 2 if d.errors else 1 if d.differs else 0
