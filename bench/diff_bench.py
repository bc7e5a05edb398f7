#!/usr/bin/env python3
"""`devbox diff A B` against one suite probe of one image: the diff must take at most 1.5x the probe.

    PYTHONPATH=src:build python3 bench/diff_bench.py gpu-devbox:e2e-amd64 VARIANT [--repeat 3]
        [--expectations expectations] [--json out.json]

Why this yardstick: a diff probes two images where the suite probes one, so "no slower than the suite"
would be too loose and "as fast as one probe" too strict; 1.5x is the budget the design gives it. Measured,
in the same run and on the same machine, alternately per repeat (medians shown):

  suite probe   what the suite does for one image before its checks, through its public interface
                (`devbox_conformance.api.probe_image`): start the container, its health check included, ONE
                probe with the request the contract builds (`api.probe_request`), remove the container. Two
                figures: the probe alone (what the suite prints as `devbox: probe N.N s`) and with the
                container's start and removal. The ratio uses the probe alone: the stricter of the two.
  devbox diff   `./devbox diff A B --format json` as a user runs it, wall time of the whole command
                (both containers, both probes side by side, both histories, the diff and its rendering).

Every container carries the suite's label and is removed at the end, also on an error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "src"), str(REPO / "build")]

from devbox_conformance import api  # noqa: E402

BUDGET = 1.5


def suite_probe(ref: str, expectations: Path) -> tuple[float, float]:
    """(probe seconds, seconds with container start and removal) of one suite-style probe of `ref`."""
    started = time.monotonic()
    image = api.resolve_image(ref, pull="never")
    request = api.probe_request(api.load_contract(expectations, image.arch, image.base_kind))
    probed = api.probe_image(image, request)
    return probed.probe_s, time.monotonic() - started


def devbox_diff(old: str, new: str, expectations: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(REPO / "devbox"),
            "diff",
            old,
            new,
            "--format",
            "json",
            "--pull",
            "never",
            "--expectations",
            str(expectations),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"devbox diff failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="image A (its suite probe is the yardstick)")
    parser.add_argument("new", help="image B")
    parser.add_argument("--expectations", type=Path, default=REPO / "expectations")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = parser.parse_args(argv)

    runs: list[dict[str, Any]] = []
    for index in range(args.repeat):
        probe_s, probe_wall = suite_probe(args.old, args.expectations)
        diff_s = devbox_diff(args.old, args.new, args.expectations)
        runs.append(
            {
                "suite_probe_s": round(probe_s, 2),
                "suite_probe_wall_s": round(probe_wall, 2),
                "diff_wall_s": round(diff_s, 2),
            }
        )
        print(
            f"run {index + 1}: suite probe {probe_s:.2f} s ({probe_wall:.2f} s with the container), "
            f"devbox diff {diff_s:.2f} s",
            flush=True,
        )
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    ratio = med["diff_wall_s"] / med["suite_probe_s"]
    verdict = "within" if ratio <= BUDGET else "OVER"
    print(f"\nimages: A={args.old} B={args.new}; {args.repeat} run(s), medians")
    print(f"  suite probe of A          {med['suite_probe_s']:7.2f} s")
    print(f"  ... with container start  {med['suite_probe_wall_s']:7.2f} s")
    print(f"  devbox diff A B (wall)    {med['diff_wall_s']:7.2f} s")
    print(f"  ratio diff / suite probe  {ratio:7.2f}x  ({verdict} the {BUDGET}x budget)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "old": args.old,
                    "new": args.new,
                    "runs": runs,
                    "median": med,
                    "ratio": round(ratio, 3),
                    "budget": BUDGET,
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if ratio <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
