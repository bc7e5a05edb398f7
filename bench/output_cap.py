#!/usr/bin/env python3
"""Output-cap benchmark: the probe's `commands` runner on a command that prints a lot, next to the floor.

    PYTHONPATH=src python3 bench/output_cap.py [--bytes 400000000] [--max-output 1048576] [--repeat 3]
                                               [--with-buffered] [--json out.json]

Why: the probe once buffered a command's whole output (`communicate()`) and judged its first 64 KiB, so a
command printing 400 MB took ~800 MB of the probe's memory. It now drains both streams as they come, keeps
`max_output` bytes of each and counts the rest. This script shows, in one run and on one machine, what that
costs against the least any reader can do:

  probe     run_command() of the in-target gatherer on `head -c BYTES /dev/zero`, then json.dumps of its
            facts (what the probe prints), in a fresh python process. Peak RSS is that process's own
            (VmHWM), the command's child not counted.
  floor     `sh -c 'head -c BYTES /dev/zero > /dev/null'`: no reader at all. Peak RSS is the largest of
            the shell's and its child's (RUSAGE_CHILDREN of a fresh measuring process); Linux counts in it
            the measuring interpreter's pages the child had between fork and exec (~10 MB).
  idle      a fresh python that imports the gatherer and runs nothing: the interpreter's own share of the
            probe row's peak.
  buffered  (--with-buffered) the old way, Popen.communicate() keeping everything, for comparison.

Each row is measured in its own process, one after the other, `--repeat` times; the table shows medians.
Nothing here needs Docker or a network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Each runs in a fresh interpreter and prints {"wall_s", "peak_kib", ...} as JSON on its last line. A row's
# own peak is VmHWM, which starts afresh at exec (ru_maxrss would keep the parent's pages from the fork).
HWM = """
def hwm():
    with open("/proc/self/status") as fh:
        return [int(line.split()[1]) for line in fh if line.startswith("VmHWM:")][0]
"""
PROBE = """
import json, sys, time
from devbox_conformance.intarget.commands import run_command
n, keep = int(sys.argv[1]), int(sys.argv[2])
started = time.monotonic()
found = run_command({"argv": ["head", "-c", str(n), "/dev/zero"], "timeout": 600, "max_output": keep})
printed = len(json.dumps(found))
wall = time.monotonic() - started
assert found["stdout_bytes"] == n and not found["timed_out"], found["stdout_bytes"]
print(json.dumps({"wall_s": wall, "peak_kib": hwm(), "kept": found["stdout_kept"], "facts_bytes": printed}))
"""
FLOOR = """
import json, resource, subprocess, sys, time
n = int(sys.argv[1])
started = time.monotonic()
subprocess.run(["sh", "-c", "head -c %d /dev/zero > /dev/null" % n], check=True)
wall = time.monotonic() - started
print(json.dumps({"wall_s": wall, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""
IDLE = """
import json, time
started = time.monotonic()
from devbox_conformance.intarget.commands import run_command
print(json.dumps({"wall_s": time.monotonic() - started, "peak_kib": hwm()}))
"""
BUFFERED = """
import json, subprocess, sys, time
n = int(sys.argv[1])
started = time.monotonic()
proc = subprocess.Popen(["head", "-c", str(n), "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = proc.communicate(timeout=600)
kept = out[:65536].decode("utf-8", "replace")
wall = time.monotonic() - started
print(json.dumps({"wall_s": wall, "peak_kib": hwm(), "kept": len(kept)}))
"""


def measure(source: str, args: list[str]) -> dict[str, float]:
    """One row's figures, from a fresh interpreter with this checkout's sources first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", HWM + source, *args], capture_output=True, text=True, env=env, timeout=900
    )
    if done.returncode != 0:
        raise SystemExit(f"output_cap: a measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=400_000_000, help="bytes the command prints")
    parser.add_argument("--max-output", type=int, default=1 << 20, help="the item's max_output")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--with-buffered", action="store_true", help="also the old communicate() way")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    args = parser.parse_args(argv)
    rows = {
        "probe": (PROBE, [str(args.bytes), str(args.max_output)]),
        "floor": (FLOOR, [str(args.bytes)]),
        "idle": (IDLE, []),
    }
    if args.with_buffered:
        rows["buffered"] = (BUFFERED, [str(args.bytes)])
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in rows}
    for _ in range(args.repeat):  # interleaved, so a slow moment of the machine hits every row alike
        for name, (source, extra) in rows.items():
            runs[name].append(measure(source, extra))
    print(f"command prints {args.bytes:,} bytes; max_output {args.max_output:,}; median of {args.repeat}")
    print(f"{'row':<10} {'wall s':>8} {'peak RSS MB':>12}  note")
    floor_wall = statistics.median(r["wall_s"] for r in runs["floor"])
    for name, got in runs.items():
        wall = statistics.median(r["wall_s"] for r in got)
        peak = statistics.median(r["peak_kib"] for r in got) / 1024
        note = {"floor": "no reader", "idle": "the interpreter alone"}.get(
            name, f"{wall / floor_wall:.1f}x floor"
        )
        if "facts_bytes" in got[0]:
            note += f", kept {got[0]['kept']:,} B, facts JSON {got[0]['facts_bytes']:,} B"
        print(f"{name:<10} {wall:>8.2f} {peak:>12.1f}  {note}")
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, "runs": runs}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
