"""`devbox snapshot IMG`: write an expectations overlay pinning what a known-good image has.

Binaries of the contract at `>=` their version, Python distributions at `>=` their version, every installed
dpkg package; its `extends:` names the contract it was taken against, so `pytest --image NEW
--expectations=DIR` checks the next image against both in one run (see imagediff.snapshot).

Example:
    ./devbox snapshot gpu-devbox:2026.11 --output snapshots/2026.11
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from devbox_build.commands.diff import add_image_options, progress
from devbox_build.imagediff import facts, snapshot


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "snapshot",
        help="write an expectations overlay pinning what a known-good image has",
        description="Probe IMG once and write an expectations directory that pins its binaries and "
        "Python distributions at >= their versions and its dpkg packages, for checking later images.",
    )
    p.add_argument("image", metavar="IMG", help="the known-good image, e.g. gpu-devbox:2026.11")
    p.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory to write (default: snapshots/<image>-<tag> under the current directory)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing snapshot in --output")
    add_image_options(p)
    p.set_defaults(func=run)


def default_dir(ref: str) -> Path:
    """`snapshots/gpu-devbox-2026.11` for gpu-devbox:2026.11 (registry and path flattened)."""
    name = ref.rsplit("/", 1)[-1].split("@", 1)[0]
    return Path("snapshots") / re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def run(args: argparse.Namespace) -> int:
    f = facts.gather(
        args.image,
        platform=args.platform,
        pull=args.pull,
        expectations_dir=args.expectations,
        progress=progress,
    )
    directory = args.output or default_dir(args.image)
    common = snapshot.write(directory, f, args.expectations, force=args.force)
    print(
        f"devbox snapshot: {f.ref} ({f.arch}): {len(f.binaries)} binaries, {len(f.dists)} Python "
        f"distributions, {len(f.packages)} dpkg packages pinned in {common}"
    )
    print(
        "check an image against it and the contract it extends, from any directory: "
        f"python3 -m pytest --image IMAGE --expectations={directory.resolve()}"
    )
    return 0
