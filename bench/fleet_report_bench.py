"""`devbox fleet-report` over N synthetic node results files, beside the floor, in one run.

    python3 bench/fleet_report_bench.py [--nodes 1000] [--items 60] [--figures 12] [--repeat 3]

Each file has the shape the suite writes (schema 2): `--items` contract items (some with a failure message)
and `--figures` performance records. Printed side by side (best of --repeat, seconds):

- floor: a fresh interpreter that reads and json-parses every file and does nothing else;
- fleet-report: `python3 -m devbox_build fleet-report DIR --nodes 'node[0001-N]'` end to end (table to
  /dev/null), the figure the goal "under 2 s for 1,000 nodes" is about;
- in-process: read + summarize + render alone, without the interpreter's start and imports.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from devbox_conformance.performance.gpu_bench import FIGURE_METRICS  # noqa: E402

# The figures every GPU node reports (flash-attn's and SDPA's are optional on a node).
METRICS = tuple(m for m in FIGURE_METRICS if not m.startswith("attention_"))


def node_doc(rng: random.Random, items: int, figures: int) -> dict:
    entries = []
    for i in range(items):
        failed = rng.random() < 0.01
        entries.append(
            {
                "nodeid": f"tests/test_node.py::test_item[{i}]",
                "name": f"test_item[{i}]",
                "host": "local://",
                "kind": "gpu",
                "key": str(i),
                "outcome": "failed" if failed else "passed",
                "message": "expected: something\nfound:    something else" if failed else "",
                "records": {},
                "duration_s": 0.01,
            }
        )
    for i in range(figures):
        metric = METRICS[i % len(METRICS)]
        entries.append(
            {
                "name": f"test_gpu_figure[{metric}-{i}]",
                "outcome": "passed",
                "message": "",
                "records": {
                    "performance": {
                        "metric": f"{metric}-{i}",
                        "unit": "TFLOPS",
                        "value": 780 * rng.uniform(0.9, 1.02),
                        "lower_limit": 700.0,
                        "upper_limit": None,
                        "outcome": "pass",
                        "gpu": "NVIDIA H200",
                        "samples": [780.0] * 10,
                    }
                },
            }
        )
    return {
        "schema_version": 2,
        "exit_status": 0,
        "hosts": [{"name": "local://", "error": None}],
        "items": entries,
    }


FLOOR = (
    "import json,pathlib,sys\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.json')): json.loads(p.read_bytes())"
)


def best(cmd: list[str], repeat: int, env: dict[str, str]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--items", type=int, default=60)
    ap.add_argument("--figures", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'build'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    sys.path.insert(0, str(REPO / "build"))
    from devbox_build.fleet import collect, render, summary  # noqa: PLC0415 - after the path is set

    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="devbox-fleet-bench-") as tmp:
        directory = Path(tmp)
        # Node 0 writes nothing: the report must name it as missing.
        for n in range(2, args.nodes + 1):
            (directory / f"node{n:04d}.json").write_text(json.dumps(node_doc(rng, args.items, args.figures)))
        size = sum(p.stat().st_size for p in directory.glob("*.json"))
        floor = best([sys.executable, "-c", FLOOR, str(directory)], args.repeat, env)
        nodes = f"node[0001-{args.nodes:04d}]"
        cli = best(
            [sys.executable, "-m", "devbox_build", "fleet-report", str(directory), "--nodes", nodes],
            args.repeat,
            env,
        )
        start = time.perf_counter()
        report = summary.summarize(
            collect.read_dir(directory), expected=[f"node{n:04d}" for n in range(1, args.nodes + 1)]
        )
        render.text(report)
        inproc = time.perf_counter() - start
    print(
        f"{args.nodes} nodes, {args.items} items + {args.figures} figures each, {size / 1e6:.1f} MB of JSON"
    )
    print(f"{'floor (start + parse every file)':<40}{floor:8.3f} s")
    print(f"{'devbox fleet-report (end to end)':<40}{cli:8.3f} s   {cli / floor:5.2f}x the floor")
    print(f"{'in-process read + summarize + render':<40}{inproc:8.3f} s")
    print(f"red nodes: {len(report.red)} (missing: {len(report.missing)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
