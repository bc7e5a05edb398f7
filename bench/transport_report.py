"""The transport benchmark's report: medians per runner, the three claims as ratios, the printed table.

Part of bench/transport_bench.py (run that); apart so each file reads as one job.
"""

from __future__ import annotations

import statistics
from typing import Any

from transport_runs import CORES, Run


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summarize(runs: list[Run]) -> dict[str, dict[str, Any]]:
    """Per runner: medians of wall, probe (max over hosts), CPU; the counts and notes of its runs."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r.runner for r in runs):
        mine = [r for r in runs if r.runner == name]
        wall = _median([r.wall_s for r in mine])
        cpu = _median([r.cpu_s for r in mine])
        out[name] = {
            "runs": len(mine),
            "wall_s": wall,
            "probe_s": _median([p for r in mine if (p := r.probe_max_s) is not None]),
            "probe_hosts": len(mine[0].probe_s),
            "cpu_children_s": _median([r.cpu_children_s for r in mine]),
            "cpu_nodes_s": _median([r.cpu_nodes_s for r in mine]),
            "cpu_s": cpu,
            "cpu_machine_s": _median([r.cpu_machine_s for r in mine]),
            # Share of the machine's cores this run's own processes kept busy for its whole wall time.
            "cpu_per_wall_per_core": round(cpu / wall / CORES, 3) if cpu is not None and wall else None,
            "machine_busy_per_core": (
                round(_median([r.cpu_machine_s for r in mine]) / wall / CORES, 3) if wall else None
            ),
            "load_before": [r.load_before for r in mine],
            "exit_codes": sorted({r.exit_code for r in mine}),
            "counts": mine[-1].counts,
            "notes": sorted({r.note for r in mine if r.note}),
            "failures": mine[-1].failures,
        }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _cpu_floor(wall_1: float | None, cpu_1: float | None, cpu_4: float | None) -> float | None:
    if wall_1 is None or cpu_1 is None or cpu_4 is None or not wall_1:
        return None
    return round((wall_1 + max(cpu_4 - cpu_1, 0.0) / CORES) / wall_1, 2)


def comparisons(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The three claims, each as measured / target."""
    s = summary

    def get(runner: str, key: str) -> float | None:
        return s.get(runner, {}).get(key)

    rows = [
        {
            "what": "1. ssh/docker, probe (compared)",
            "ratio": _ratio(get("ssh-1", "probe_s"), get("docker-1", "probe_s")),
            "target": "<= 1.2x",
            "max": 1.2,
        },
        {
            "what": "1. ssh/docker, wall (docker's includes start + healthy)",
            "ratio": _ratio(get("ssh-1", "wall_s"), get("docker-1", "wall_s")),
            "target": "info",
        },
        {
            "what": "2. 4 nodes/1 node, wall (compared)",
            "ratio": _ratio(get("ssh-4", "wall_s"), get("ssh-1", "wall_s")),
            "target": "<= 1.5x",
            "max": 1.5,
        },
        {
            "what": "2. 4 nodes/1 node, probe (slowest host)",
            "ratio": _ratio(get("ssh-4", "probe_s"), get("ssh-1", "probe_s")),
            "target": "info",
        },
        {
            "what": "2. 4 nodes/1 node, CPU s (children + nodes)",
            "ratio": _ratio(get("ssh-4", "cpu_s"), get("ssh-1", "cpu_s")),
            "target": "info",
        },
        # An estimate, not a bound: 4 nodes if the 3 extra probes' CPU were the only extra cost, spread over
        # every core with nothing else running, and none of it could hide in the 1-node run's idle time.
        {
            "what": "2. estimate: (1-node wall + extra CPU s/cores)/1-node wall",
            "ratio": _cpu_floor(get("ssh-1", "wall_s"), get("ssh-1", "cpu_s"), get("ssh-4", "cpu_s")),
            "target": "info",
        },
        {
            "what": "3. naive testinfra/suite over ssh, wall",
            "ratio": _ratio(get("testinfra-ssh-1", "wall_s"), get("ssh-1", "wall_s")),
            "target": ">= 5x",
            "min": 5.0,
        },
    ]
    for row in rows:
        r = row["ratio"]
        if r is None or row["target"] == "info":
            row["verdict"] = "-" if r is None or row["target"] == "info" else "?"
        elif "max" in row:
            row["verdict"] = f"{'met' if r <= row['max'] else 'MISSED'} ({r / row['max']:.2f} of the limit)"
        else:
            row["verdict"] = f"{'met' if r >= row['min'] else 'MISSED'} ({r / row['min']:.2f} of the target)"
    return rows


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(
    meta: dict[str, Any],
    summary: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    floor: dict[str, dict[str, Any]],
) -> str:
    lines = [
        f"transport benchmark {meta['date']}  run {meta['run_id']}",
        f"image {meta['image']} -> node image {meta['node_image']}; contract {meta['expectations']} "
        f"({meta['contract_items']} items)",
        f"naive peer checks {meta['naive_checks']} items: {meta['naive_by_kind']}",
        f"{meta['cores']} cores, {meta['python']}; medians of {meta['repeat']} runs; load average at start "
        f"{meta['load_start']}, at end {meta['load_end']} (the machine is shared: another CI run competes)",
        "",
        f"{'runner':<17}{'hosts':>5}{'wall s':>8}{'probe s':>9}{'CPU s':>7}{'(kids+nodes)':>14}"
        f"{'CPU/wall/core':>14}{'machine busy/core':>18}  {'result':<24}load before",
    ]
    hosts = {"docker-1": 1, "ssh-1": 1, "ssh-4": 4, "testinfra-ssh-1": 1}
    for name, s in summary.items():
        counts = "/".join(f"{v} {k}" for k, v in s["counts"].items()) or f"exit {s['exit_codes']}"
        kids_nodes = f"{fmt(s['cpu_children_s'], 1)}+{fmt(s['cpu_nodes_s'], 1)}"
        lines.append(
            f"{name:<17}{hosts.get(name, 1):>5}{fmt(s['wall_s']):>8}{fmt(s['probe_s']):>9}"
            f"{fmt(s['cpu_s'], 1):>7}{kids_nodes:>14}{fmt(s['cpu_per_wall_per_core']):>14}"
            f"{fmt(s['machine_busy_per_core']):>18}  {counts:<24}"
            f"{' '.join(f'{x:.1f}' for x in s['load_before'])}"
        )
        for note in s["notes"]:
            lines.append(f"{'':<17}note: {note}")
        for item, message in s["failures"].items():
            lines.append(f"{'':<17}failed: {item}: {message}")
    lines += ["", f"{'comparison':<58}{'ratio':>7}  {'target':<9}verdict"]
    for row in rows:
        lines.append(f"{row['what']:<58}{fmt(row['ratio']):>7}  {row['target']:<9}{row['verdict']}")
    four = summary.get("ssh-4")
    if four and four["cpu_per_wall_per_core"] is not None:
        share = four["cpu_per_wall_per_core"]
        lines += [
            "",
            f"ssh-4 CPU-bound? its own processes kept {share:.2f} of the {CORES} cores busy "
            f"over its wall time ({fmt(four['cpu_s'], 1)} CPU s / {fmt(four['wall_s'])} s / "
            f"{CORES});",
            f"the whole machine was busy {fmt(four['machine_busy_per_core'])} of its cores meanwhile "
            "(the rest: other work on the machine).",
        ]
    lines += ["", "floors (median wall s of bounded runs)"]
    for name, f in floor.items():
        shown = fmt(f.get("median_s"), 3) if f.get("median_s") is not None else f"error: {f.get('error')}"
        lines.append(f"  {name:<50}{shown:>8}")
    lines += [
        "",
        "probe s: the suite's `devbox: [host: ]probe N.N s` line (slowest host for ssh-4); docker-1's wall",
        "includes starting the container and waiting until it is healthy, ssh's node is already running.",
        "CPU s: user+sys of this run's processes (getrusage children) + the ssh nodes' cgroups (docker-1's",
        "container is not counted: it is gone before it can be read). CPU/wall/core near 1.0 = CPU-bound.",
        "machine busy/core: every process on the machine during the run, other people's work included.",
    ]
    return "\n".join(lines) + "\n"
