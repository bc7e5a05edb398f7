#!/usr/bin/env python3
"""Transport benchmark: the suite over ssh vs docker exec, one ssh node vs four, the suite vs naive testinfra.

    PYTHONPATH=src:build python3 bench/transport_bench.py [--image devbox-suite-fixture:dev]
        [--expectations DIR] [--repeat 3] [--json out.json] [--keep]

Why: since every target is reached through a testinfra backend, the suite's claim "one probe, many checks"
has to hold on every transport, not only on `docker exec`. This script measures, in one run and on one
image, the three figures that claim rests on:

  1. ssh vs docker   the same contract on the same image, once with `--image NODE_IMAGE` (docker exec
                     into a container the suite starts) and once with `--hosts ssh://node1` (a node of the
                     same image, already running). Compared: the probe time the suite prints
                     (`devbox: probe N.N s`); the wall times are shown too, but the docker run's includes
                     starting the container and waiting for it to be healthy, the ssh run's does not.
  2. 4 nodes vs 1    `--hosts ssh://node1,...,ssh://node4` (probes in parallel) vs `--hosts ssh://node1`:
                     wall and probe times, and the CPU the run used (children's user+sys from
                     getrusage(RUSAGE_CHILDREN), plus the nodes' own CPU from their cgroups) divided by
                     wall time and cores: how much of the 4-node run is bound by this machine's CPUs.
  3. suite vs naive  the same items checked by a generated pytest module that makes its own testinfra
                     call(s) per item over `testinfra.get_host("ssh://node1", ssh_config=...)`
                     (bench/testinfra_peer.py's `test_check`, reused as is), vs the suite's ssh run.

The node image is `--image` plus sshd (selftests/e2e/ssh_fleet.py's `build_node_image`), tagged for this
run and removed at the end unless `--keep`; the same node image is what `--image` runs in (1), so both
transports see the same files. On a large image (the real devbox) that build takes minutes (apt-get in a
layer on top of many GB). The four nodes run for the whole benchmark; runs are interleaved per repeat and
the table shows medians. Everything listens on 127.0.0.1 only; every container this script causes carries
`io.github.gpu-devbox.bench=<run id>` (a LABEL of the node image, so the suite's own containers carry it
too) and is removed at the end, also on an error and on Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "src"), str(BENCH), str(REPO / "selftests" / "e2e")]

import peer_checks as pc  # noqa: E402
from peer_run import peer_pytest  # noqa: E402
from ssh_fleet import SshFleet, build_node_image  # noqa: E402
from transport_peer import FLEET_CONTRACT, derive_naive_checks, write_fleet_contract, write_naive_module  # noqa: E402
from transport_report import comparisons, fmt, render, summarize  # noqa: E402
from transport_runs import (  # noqa: E402
    CORES,
    DOCKER,
    Child,
    Run,
    bench_env,
    container_ids,
    counts_from_pytest,
    failures_from_pytest,
    from_results,
    interrupt,
    last_line,
    measure,
    parse_probe_lines,
    remove_labelled,
    timed_floor,
)

BENCH_LABEL = "io.github.gpu-devbox.bench"
DEFAULT_IMAGE = "devbox-suite-fixture:dev"
NODES = ("node1", "node2", "node3", "node4")

# --- the benchmark --------------------------------------------------------------------------------------


@dataclass
class Setup:
    """What every runner shares: the node image, the contract, the fleet's ssh config, the naive module."""

    run_id: str
    image: str
    node_image: str
    expectations: Path
    ssh_config: Path
    node_containers: dict[str, str]
    naive_dir: Path
    checks: list[pc.Check]
    contract_items: int


def suite_cmd(setup: Setup, results: Path, *target: str) -> list[str]:
    # No -q: at verbosity < 0 the suite leaves out its summary lines, `devbox: probe N.N s` among them.
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        f"--expectations={setup.expectations}",
        *target,
        f"--results-json={results}",
        "tests",
    ]


def runners(setup: Setup, tmp: Path) -> dict[str, Callable[[int, Child], Run]]:
    """runner name -> a function making one timed run of it."""
    node1 = [setup.node_containers["node1"]]
    all_nodes = list(setup.node_containers.values())
    ssh_cfg = f"--ssh-config={setup.ssh_config}"

    def suite(name: str, target: list[str], nodes: list[str]) -> Callable[[int, Child], Run]:
        def one(repeat: int, child: Child) -> Run:
            results = tmp / f"{name}-{repeat}.json"
            run, out = measure(
                name, repeat, suite_cmd(setup, results, *target), REPO, child, nodes, bench_env()
            )
            totals, probes, run.failures = from_results(results)
            run.probe_s = parse_probe_lines(out)
            if not run.probe_s and probes:
                run.probe_s = {k: round(v, 1) for k, v in probes.items()}
                run.note = (run.note + " probe from --results-json (no probe line)").strip()
            run.counts = totals or counts_from_pytest(out)
            if run.exit_code != 0 and not run.failures:
                run.note = last_line(out)
            return run

        return one

    def naive(repeat: int, child: Child) -> Run:
        cmd = peer_pytest("test_naive_ssh.py", "-rf", "--rootdir", str(setup.naive_dir), "-c", "/dev/null")
        env = bench_env(
            {"BENCH_IMAGE": setup.node_image, "BENCH_RUN": setup.run_id, "BENCH_LABEL": BENCH_LABEL}
        )
        run, out = measure("testinfra-ssh-1", repeat, cmd, setup.naive_dir, child, node1, env)
        run.counts = counts_from_pytest(out)
        run.failures = failures_from_pytest(out)
        if run.exit_code != 0 and not run.failures:
            run.note = last_line(out)
        return run

    hosts4 = ",".join(f"ssh://{n}" for n in NODES)
    return {
        "docker-1": suite("docker-1", ["--image", setup.node_image], []),
        "ssh-1": suite("ssh-1", ["--hosts", "ssh://node1", ssh_cfg], node1),
        "ssh-4": suite("ssh-4", ["--hosts", hosts4, ssh_cfg], all_nodes),
        "testinfra-ssh-1": naive,
    }


def floors(setup: Setup, n: int) -> dict[str, dict[str, Any]]:
    """Costs no run can go below on this machine, each the median of n bounded runs."""
    env = bench_env()
    ssh = ["ssh", "-F", str(setup.ssh_config), "node1"]
    node1 = setup.node_containers["node1"]
    return {
        "ssh node1 true": timed_floor([*ssh, "true"], n, env),
        "docker exec node1 true": timed_floor([DOCKER, "exec", node1, "true"], n, env),
        "python3 -c pass (here)": timed_floor([sys.executable, "-c", "pass"], n, env),
        "ssh node1 python3 -c pass": timed_floor([*ssh, "python3 -c pass"], n, env),
        "python3 -c 'import pytest, testinfra' (here)": timed_floor(
            [sys.executable, "-c", "import pytest, testinfra"], n, env
        ),
        "docker run --rm NODE_IMAGE true": timed_floor(
            [
                DOCKER,
                "run",
                "--rm",
                "--label",
                f"{BENCH_LABEL}={setup.run_id}",
                "--entrypoint",
                "",
                setup.node_image,
                "true",
            ],
            n,
            env,
        ),
    }


# --- report ---------------------------------------------------------------------------------------------


# --- main -----------------------------------------------------------------------------------------------


@contextmanager
def _fleet(node_image: str, workdir: Path) -> Iterator[SshFleet]:
    with SshFleet({n: node_image for n in NODES}, workdir) as fleet:
        yield fleet


def _timed_runs(
    table: dict[str, Callable[[int, Child], Run]], chosen: list[str], repeat: int, child: Child, run_id: str
) -> list[Run]:
    """Every chosen runner once per repeat, interleaved, so a change in the machine's load hits them all."""
    runs: list[Run] = []
    for index in range(1, repeat + 1):
        for name in chosen:
            run = table[name](index, child)
            print(
                f"[{run_id}] {index}/{repeat} {name:<16} wall {run.wall_s:6.2f} s  probe "
                f"{fmt(run.probe_max_s)} s  cpu {run.cpu_s:5.1f} s  exit {run.exit_code}  "
                f"load {run.load_before:.1f}",
                flush=True,
            )
            runs.append(run)
    return runs


def _meta(
    args: argparse.Namespace,
    run_id: str,
    node_image: str,
    build_s: float,
    setup: Setup,
    checks: list[pc.Check],
    load_start: list[float],
) -> dict[str, Any]:
    """What the run was: image, contract, machine, load, and the commands each runner ran."""
    by_kind: dict[str, int] = {}
    for c in checks:
        by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
    hosts4 = ",".join(f"ssh://{n}" for n in NODES)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "run_id": run_id,
        "image": args.image,
        "node_image": node_image,
        "node_image_build_s": build_s,
        "expectations": str(args.expectations) if args.expectations else "built-in fleet contract",
        "contract_items": setup.contract_items,
        "naive_checks": len(checks),
        "naive_by_kind": by_kind,
        "cores": CORES,
        "python": platform.python_version(),
        "repeat": args.repeat,
        "load_start": load_start,
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "commands": {
            "docker-1": suite_cmd(setup, Path("R.json"), "--image", node_image),
            "ssh-1": suite_cmd(setup, Path("R.json"), "--hosts", "ssh://node1", "--ssh-config=CFG"),
            "ssh-4": suite_cmd(setup, Path("R.json"), "--hosts", hosts4, "--ssh-config=CFG"),
            "testinfra-ssh-1": "pytest test_naive_ssh.py (bench/testinfra_peer.py test_check, ssh://node1)",
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--image", default=DEFAULT_IMAGE, help="image the nodes are made from (default: %(default)s)"
    )
    ap.add_argument(
        "--expectations",
        type=Path,
        help="contract directory (default: a small fleet contract for the fixture image)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per runner; the table shows medians")
    ap.add_argument("--floor-runs", type=int, default=5, help="runs per floor measurement")
    ap.add_argument(
        "--only",
        default="docker-1,ssh-1,ssh-4,testinfra-ssh-1",
        help="comma-separated runners (default: all)",
    )
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    ap.add_argument("--out", type=Path, help="also write the printed table here")
    ap.add_argument(
        "--keep", action="store_true", help="keep the node image (its build is slow on big images)"
    )
    args = ap.parse_args(argv)
    if not 1 <= args.repeat <= 50:
        ap.error("--repeat must be 1..50")

    run_id = uuid.uuid4().hex[:8]
    node_image = f"devbox-bench-node:{run_id}"
    child = Child()
    signal.signal(signal.SIGTERM, interrupt)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-transport-{run_id}-"))
    built = False
    load_start = [round(x, 2) for x in os.getloadavg()]
    try:
        print(f"[{run_id}] building node image {node_image} from {args.image} ...", flush=True)
        t0 = time.monotonic()
        # The label makes every container of the node image (the fleet's, the suite's) carry this run's id.
        build_node_image(args.image, node_image, (f"LABEL {BENCH_LABEL}={run_id}",))
        built = True
        build_s = round(time.monotonic() - t0, 1)
        expectations = (
            args.expectations.resolve() if args.expectations else write_fleet_contract(tmp / "fleet-contract")
        )
        fleet_dir = tmp / "fleet"
        fleet_dir.mkdir()
        print(f"[{run_id}] node image built in {build_s} s; starting {len(NODES)} ssh nodes ...", flush=True)
        with _fleet(node_image, fleet_dir) as fleet:
            ids = container_ids(fleet.containers)
            containers = {n: ids[c] for n, c in zip(NODES, fleet.containers, strict=True)}
            checks, contract_items = derive_naive_checks(expectations, fleet.ssh_config)
            naive_dir = tmp / "naive"
            write_naive_module(naive_dir, checks, fleet.ssh_config)
            setup = Setup(
                run_id,
                args.image,
                node_image,
                expectations,
                fleet.ssh_config,
                containers,
                naive_dir,
                checks,
                contract_items,
            )
            table = runners(setup, tmp)
            chosen = [r for r in args.only.split(",") if r]
            unknown = set(chosen) - set(table)
            if unknown:
                ap.error(f"unknown runner(s): {', '.join(sorted(unknown))}")
            # Untimed warm-up: every node's probe once (page cache, sshd's first fork), docker's first start.
            print(f"[{run_id}] warm-up (untimed) ...", flush=True)
            warm = [table[name](0, child) for name in ("ssh-4", "docker-1")]
            for run in warm:
                print(
                    f"[{run_id}] warm-up {run.runner}: exit {run.exit_code} {run.counts} {run.note}",
                    flush=True,
                )
            runs = _timed_runs(table, chosen, args.repeat, child, run_id)
            floor = floors(setup, args.floor_runs)
        summary = summarize(runs)
        rows = comparisons(summary)
        meta = _meta(args, run_id, node_image, build_s, setup, checks, load_start)
        text = render(meta, summary, rows, floor)
        print()
        print(text, end="")
        if args.out:
            args.out.write_text(text)
        if args.json:
            doc = {
                "meta": meta,
                "summary": summary,
                "comparisons": rows,
                "floors": floor,
                "warm_up": [asdict(r) for r in warm],
                "runs": [asdict(r) for r in runs],
                "contract": FLEET_CONTRACT if not args.expectations else None,
            }
            args.json.write_text(json.dumps(doc, indent=2) + "\n")
        return 0
    except KeyboardInterrupt:
        print(f"[{run_id}] interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        child.stop()
        remove_labelled(BENCH_LABEL, run_id)
        if built and not args.keep:
            subprocess.run([DOCKER, "rmi", node_image], capture_output=True, timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
