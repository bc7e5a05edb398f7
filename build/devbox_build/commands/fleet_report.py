"""`devbox fleet-report DIR`: one table of every node of a fleet from the per-node results files.

Each node writes `DIR/<node>.json` (`pytest --hosts local:// --results-json DIR/$(hostname -s).json`, e.g.
as a Slurm job step on every node: docs/FLEET.md). Nodes named by `--nodes` (a Slurm hostlist; default
`$SLURM_JOB_NODELIST` inside a job) that wrote nothing are red. Exit 0: every node green; 1: any node red
or missing; 2: a usage error.

Example:
    ./devbox fleet-report /shared/devbox/$SLURM_JOB_ID --nodes 'gpu[001-064]' --format md > fleet.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devbox_build.errors import UsageError
from devbox_build.fleet import collect, hostlist, render, summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fleet-report",
        help="one table of every node from a directory of per-node results files (red, missing, slow)",
        description="Bring the per-node results files of a fleet run together: every node's counts and first "
        "problem, nodes that wrote nothing (from --nodes), and each performance figure against its floor "
        "and the fleet's median on the same GPU model. Exit 0 when every node is green, 1 when any is red.",
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="directory holding <node>.json files")
    p.add_argument(
        "--nodes",
        default=None,
        metavar="HOSTLIST",
        help="the nodes that should have written a file, as a Slurm hostlist (gpu[001-064]); "
        "default: $SLURM_JOB_NODELIST when set, else only the files present",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=summary.DEFAULT_TOLERANCE,
        metavar="F",
        help="a figure more than this fraction behind the fleet median of its GPU model is red "
        "(default: %(default)s)",
    )
    p.add_argument("--format", choices=render.FORMATS, default="table", help="output (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None, metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.directory.is_dir():
        raise UsageError(f"{args.directory}: no such directory")
    spec = args.nodes if args.nodes is not None else os.environ.get("SLURM_JOB_NODELIST", "")
    try:
        expected = hostlist.expand(spec) if spec else []
    except hostlist.HostlistError as exc:
        raise UsageError(f"--nodes: {exc}") from None
    if not 0 <= args.tolerance < 1:
        raise UsageError(f"--tolerance must be in [0, 1), not {args.tolerance}")
    nodes = collect.read_dir(args.directory)
    if not nodes and not expected:
        raise UsageError(f"{args.directory}: no <node>.json results files and no --nodes to expect")
    report = summary.summarize(nodes, expected=expected, tolerance=args.tolerance)
    out = render.RENDERERS[args.format](report)
    if args.output:
        tmp = args.output.with_name(f".{args.output.name}.tmp")
        tmp.write_text(out, encoding="utf-8")
        tmp.replace(args.output)
        print(render.headline(report), file=sys.stderr)
    else:
        sys.stdout.write(out)
    return 1 if report.red else 0
