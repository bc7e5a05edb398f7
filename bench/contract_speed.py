"""The suite's speed on the full contract, this checkout against an earlier revision, on the same image.

    .venv/bin/python bench/contract_speed.py --image gpu-devbox:e2e-amd64 --before 184547e --runs 3

Each revision runs its own contract (tests/ and expectations/ of that revision) exactly as a user runs it,
`python -m pytest --image IMG -m "not performance"` from its checkout; the earlier one from a temporary
`git worktree` with its src/ first on PYTHONPATH (the editable install's finder comes after sys.path). Runs
alternate (before, after, before, ...) so a change in the machine's load hits both alike. Printed per
revision: median wall seconds, median probe seconds (the suite's "devbox: probe N s" line), the items run.
The worktree is removed at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Revision:
    label: str
    checkout: Path
    walls: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def run_once(rev: Revision, image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="devbox-bench-") as tmp:
        results = Path(tmp) / "results.json"
        env = {**os.environ, "PYTHONPATH": str(rev.checkout / "src")}
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--image",
                image,
                "-m",
                "not performance",
                "-p",
                "no:cacheprovider",
                f"--results-json={results}",
            ],
            cwd=rev.checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        wall = time.monotonic() - started
        doc = json.loads(results.read_text()) if results.exists() else {}
    probe = re.search(r"devbox: probe ([\d.]+) s", proc.stdout)
    if proc.returncode not in (0, 1) or probe is None:
        raise SystemExit(f"{rev.label}: the run failed (exit {proc.returncode}): {proc.stdout[-800:]}")
    rev.walls.append(wall)
    rev.probes.append(float(probe.group(1)))
    outcomes = [e["outcome"] for e in doc.get("items", [])]
    rev.counts = {o: outcomes.count(o) for o in sorted(set(outcomes))}
    print(f"  {rev.label:>6}: wall {wall:6.1f} s, probe {probe.group(1):>5} s, {rev.counts}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="gpu-devbox:e2e-amd64")
    parser.add_argument("--before", default="184547e", help="earlier revision (default: before the kinds)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="devbox-bench-before-") as tmp:
        worktree = Path(tmp) / "before"
        git = ["git", "-C", str(REPO), "worktree"]
        subprocess.run([*git, "add", "--detach", "-q", str(worktree), args.before], check=True)
        try:
            before, after = Revision(f"{args.before}", worktree), Revision("HEAD", REPO)
            print(f"image {args.image}; {args.runs} alternating runs; load {os.getloadavg()[0]:.1f}")
            for _ in range(args.runs):
                run_once(before, args.image)
                run_once(after, args.image)
        finally:
            subprocess.run([*git, "remove", "--force", str(worktree)], check=False)
    print("\n| revision | median wall (s) | median probe (s) | items |\n|---|---|---|---|")
    for rev in (before, after):
        print(
            f"| {rev.label} | {statistics.median(rev.walls):.1f} | {statistics.median(rev.probes):.1f} | "
            f"{sum(rev.counts.values())} ({', '.join(f'{k} {v}' for k, v in rev.counts.items())}) |"
        )
    ratio = statistics.median(after.walls) / statistics.median(before.walls)
    print(
        f"\nwall after / before = {ratio:.2f}x; probe after / before = "
        f"{statistics.median(after.probes) / statistics.median(before.probes):.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
