"""The peer benchmark's report: medians per runner and ratios to the suite, the table, the JSON document.

Part of bench/compare_peers.py (run that); apart so each file reads as one job.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from peer_run import RunResult

REPO = Path(__file__).resolve().parent.parent
RUNNERS = ("suite", "suite-serial", "testinfra", "cst")


def summarize(results: list[RunResult]) -> list[dict[str, Any]]:
    """One row per runner: median wall time over repeats, ratio to the suite's (-n auto) median."""
    rows: list[dict[str, Any]] = []
    by_runner: dict[str, list[RunResult]] = {}
    for r in results:
        by_runner.setdefault(r.runner, []).append(r)
    base = statistics.median(r.wall_s for r in by_runner["suite"]) if "suite" in by_runner else None
    for runner in RUNNERS:
        runs = by_runner.get(runner)
        if not runs:
            continue
        wall = statistics.median(r.wall_s for r in runs)
        last = runs[-1]
        rows.append(
            {
                "runner": runner,
                "checks": last.checks,
                "wall_s": round(wall, 2),
                "walls_s": [round(r.wall_s, 2) for r in runs],
                "checks_per_s": round(last.checks / wall, 2) if wall else None,
                "ratio_vs_suite": round(wall / base, 2) if base else None,
                "counts": last.counts,
                "extrapolated_from": last.extrapolated_from,
                "note": last.note,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'runner':<14}{'checks':>7}{'wall s':>10}{'checks/s':>10}{'x suite':>9}  pass/fail/skip   note"
    print(head)
    print("-" * len(head))
    for row in rows:
        c = row["counts"]
        pfs = f"{c.get('passed', 0)}/{c.get('failed', 0) + c.get('error', 0)}/{c.get('skipped', 0)}"
        wall = f"{row['wall_s']:.1f}" + ("*" if row["extrapolated_from"] else "")
        ratio = f"{row['ratio_vs_suite']:.1f}x" if row["ratio_vs_suite"] else "-"
        print(
            f"{row['runner']:<14}{row['checks']:>7}{wall:>10}{row['checks_per_s'] or 0:>10.2f}{ratio:>9}  "
            f"{pfs:<16} {row['note']}"
        )
    if any(r["extrapolated_from"] for r in rows):
        print(
            "* extrapolated from a sample (see note): per-kind mean test time x full count + fixed overhead"
        )


def write_json(
    args: Any,
    argv: list[str] | None,
    attrs: dict[str, Any],
    model: Any,
    checks: list[Any],
    derivation: Any,
    kinds: list[str],
    rows: list[dict[str, Any]],
    results: list[RunResult],
) -> None:
    """Every figure of the run, with what it was run on (image, commit, host, tool versions)."""
    doc = {
        "schema_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "image": {
            "ref": args.image,
            "id": attrs["Id"],
            "arch": model.arch,
            "base_kind": model.base_kind,
            "size_bytes": attrs.get("Size"),
        },
        "repo": _version(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "cst": _version(["container-structure-test", "version"]),
        },
        "checks": {
            "used": len(checks),
            "applicable": len(derivation.checks),
            "requested": args.checks,
            "kinds": kinds or "all",
            "by_kind": derivation.by_kind(),
            "not_applicable": [list(x) for x in derivation.not_applicable],
        },
        "summary": rows,
        "runs": [asdict(r) for r in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
