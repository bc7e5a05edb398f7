"""The peer benchmark's container-structure-test runner: a generated config, its report read back per check,
and (with a sample) the full run's time extrapolated, said so.

Part of bench/compare_peers.py (run that); apart so each file reads as one job.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import peer_checks as pc
import yaml
from peer_run import DOCKER, Cleanup, RunResult, bench_env, timed


def run_cst(image: str, checks: list[pc.Check], sample: int | None, cleanup: Cleanup) -> RunResult:
    """container-structure-test on a generated config; with `sample`, K checks timed and extrapolated."""
    chosen = pc.select(checks, sample) if sample and sample < len(checks) else list(checks)
    cfg, covers = pc.cst_config(chosen)
    work = cleanup.tempdir("cst")
    if image.startswith("sha256:"):
        # CST's file and metadata tests cannot find an image by ID: give it a tag of its own for this run.
        tag = f"bench-cst-{cleanup.run_id}:pinned"
        subprocess.run([DOCKER, "tag", image, tag], check=True, capture_output=True)
        cleanup.tags.append(tag)
        image = tag
    (work / "cst.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, width=1 << 16))
    report = work / "report.json"
    cmd = [
        "container-structure-test",
        "test",
        "--image",
        image,
        "--config",
        str(work / "cst.yaml"),
        "--output",
        "json",
        "--test-report",
        str(report),
        "--no-color",
    ]
    cleanup.cst_before = set(cleanup._ids(f"ancestor={cleanup.image_id}"))
    cleanup.cst_since = time.time()
    load = os.getloadavg()[0]
    try:
        wall, code, out = timed(cmd, work, cleanup, bench_env())
    finally:
        leftovers = cleanup.cst_containers()
        if leftovers:
            subprocess.run([DOCKER, "rm", "-f", "-v", *leftovers], capture_output=True)
        cleanup.cst_since = None
    doc = _cst_report(report, out)
    passed, failed, skipped_like, per_kind, failures = _tally(doc, covers)
    counts = {k: v for k, v in {"passed": passed, "failed": failed}.items() if v}
    note = f"{len(doc.get('Results') or [])} CST tests"
    if skipped_like:
        note += f"; {skipped_like} passes are absent optional items (SKIP)"
    by_kind = {k: round(sum(v), 3) for k, v in per_kind.items()}
    if len(chosen) == len(checks):
        return RunResult(
            "cst",
            len(checks),
            wall,
            code,
            counts,
            load_before=load,
            note=note,
            seconds_by_kind=by_kind,
            failures=failures,
        )
    estimate = _extrapolate(wall, per_kind, checks)
    return RunResult(
        "cst",
        len(checks),
        estimate,
        code,
        counts,
        extrapolated_from=len(chosen),
        sample_wall_s=wall,
        load_before=load,
        seconds_by_kind=by_kind,
        failures=failures,
        note=note + f"; EXTRAPOLATED from {len(chosen)} of {len(checks)} checks ({wall:.1f} s measured)",
    )


def _tally(
    doc: dict[str, Any], covers: dict[str, list[str]]
) -> tuple[int, int, int, dict[str, list[float]], dict[str, str]]:
    """(passed, failed, passes that were SKIPs, seconds per kind, first failures) of CST's report, counted
    in checks (one CST test may cover several: the metadataTest)."""
    passed = failed = skipped_like = 0
    per_kind: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    for res in doc.get("Results") or []:
        ids = covers.get(cst_key(res.get("Name", ""), covers), [])
        n = max(len(ids), 1)
        if res.get("Pass"):
            passed += n
            skipped_like += "SKIP:" in str(res.get("Stdout") or "")
        else:
            failed += n
            if len(failures) < 10:
                failures[",".join(ids) or res.get("Name", "?")] = "; ".join(
                    [*map(str, res.get("Errors") or []), str(res.get("Stdout") or "")]
                )[:300]
        kind = ids[0].split("[", 1)[0] if len(ids) == 1 else "metadata"
        per_kind.setdefault(kind, []).append(float(res.get("Duration") or 0) / 1e9)
    return passed, failed, skipped_like, per_kind, failures


def _extrapolate(wall: float, per_kind: dict[str, list[float]], checks: list[pc.Check]) -> float:
    """The full run's seconds from a sample's: fixed overhead (wall minus the tests' own durations) plus
    each kind's mean test time x the full config's tests of that kind (labels, env, CMD, WORKDIR share the
    one metadataTest); a kind the sample missed has too few tests to matter (select() spreads evenly)."""
    overhead = max(wall - sum(sum(v) for v in per_kind.values()), 0.0)
    full_by_kind: dict[str, int] = {}
    for ids in pc.cst_config(list(checks))[1].values():
        kind = ids[0].split("[", 1)[0] if len(ids) == 1 else "metadata"
        full_by_kind[kind] = full_by_kind.get(kind, 0) + 1
    estimate = overhead
    for kind, count in full_by_kind.items():
        durations = per_kind.get(kind)
        if durations:
            estimate += statistics.fmean(durations) * count
    return estimate


def cst_key(name: str, covers: dict[str, list[str]]) -> str:
    for key in covers:
        section, _, test = key.partition(":")
        if name.endswith(": " + test) or name == test or (section == "metadataTest" and "Metadata" in name):
            return key
    return ""


def _cst_report(report: Path, stdout: str) -> dict[str, Any]:
    for text in ([report.read_text()] if report.exists() else []) + stdout.splitlines()[::-1]:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "Results" in doc:
            return doc
    return {}
