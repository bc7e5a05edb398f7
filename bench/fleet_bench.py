"""Fleet figures, side by side in one run: what the controller pays per host, what Slurm adds, and how long
the health check takes on a node.

    python3 bench/fleet_bench.py [--hosts 1,4,16] [--items 40] [--skip-slurm]

1. `pytest --hosts docker://c1,…,docker://cN` against N containers of the stand-in base (one probe per host,
   a contract of --items binaries): wall and the controller's own CPU (pytest and its children), per host.
2. A real Slurm cluster of 4 nodes (selftests/e2e/slurm_cluster.py: slurmctld and one slurmd per container,
   emulated GPUs): the fleet job (`srun -N1` and `srun -N4` of devbox-node-check) beside its floor, the
   slowest node's own run of the same step (`docker exec`, no Slurm).
3. The health check as slurmd runs it (`devbox-health`: the node items and `scontrol`), wall on one node.

Needs the Docker engine and `gpu-devbox-base:bookworm-amd64` (`./devbox base`). Everything it starts it
removes, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "selftests" / "e2e"))
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
BASE = "gpu-devbox-base:bookworm-amd64"
# Debian's docker client first: testinfra's docker backend runs `docker exec` through it.
ENV = {**os.environ, "PATH": f"/usr/bin{os.pathsep}{os.environ.get('PATH', '')}"}
TOOLS = ("sh", "ls", "cat", "tar", "gzip", "grep", "sed", "awk", "find", "xargs", "python3", "perl", "bash")


def contract(directory: Path, items: int) -> Path:
    names = [TOOLS[i % len(TOOLS)] if i < len(TOOLS) else f"devbox-bench-absent-{i}" for i in range(items)]
    body = "binaries:\n" + "".join(
        f"  - name: {n}\n" + ("    optional: true\n    reason: bench filler\n" if "absent" in n else "")
        for n in names
    )
    (directory / "common.yaml").write_text(body)
    (directory / "amd64.yaml").write_text("")
    (directory / "arm64.yaml").write_text("")
    return directory


def controller_cost(counts: list[int], items: int) -> list[tuple[int, float, float]]:
    run = uuid.uuid4().hex[:8]
    names = [f"devbox-bench-{run}-{i}" for i in range(max(counts))]
    rows = []
    with tempfile.TemporaryDirectory(prefix="devbox-fleet-bench-") as tmp:
        exp = contract(Path(tmp), items)
        try:
            for name in names:
                subprocess.run(
                    [DOCKER, "run", "-d", "--rm", "--name", name, "--label", "io.github.gpu-devbox.bench=1",
                     BASE, "sleep", "900"],
                    check=True, capture_output=True,
                )  # fmt: skip
            for n in counts:
                hosts = ",".join(f"docker://{name}" for name in names[:n])
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-contract",
                     f"--expectations={exp}", "--hosts", hosts, str(REPO / "tests" / "test_binaries.py")],
                    capture_output=True, text=True, cwd=REPO, env=ENV,
                )  # fmt: skip
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                if proc.returncode not in (0, 1):
                    print(proc.stdout[-2000:], proc.stderr[-2000:])
                rows.append((n, wall, cpu))
        finally:
            subprocess.run([DOCKER, "rm", "-f", *names], capture_output=True)
    return rows


def slurm_figures() -> dict[str, float]:
    from slurm_cluster import SlurmCluster, build_image  # noqa: PLC0415 - the self-tests' cluster

    tag = build_image(f"devbox-bench-slurm:{uuid.uuid4().hex[:8]}")
    nodes = ["node1", "node2", "node3", "node4"]
    team = "extends: gpu-node\nnode:\n  - {name: count, count: 8}\n"
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="devbox-fleet-bench-slurm-") as tmp:
        cluster = SlurmCluster(tag, nodes, Path(tmp), team, interval_s=3600)
        try:
            cluster.start()
            cluster.wait_for(
                "every node", lambda s: set(s) == set(nodes) and all("IDLE" in v[0] for v in s.values())
            )
            own = []
            for node in nodes:
                start = time.perf_counter()
                subprocess.run(
                    [DOCKER, "exec", "-e", f"SLURMD_NODENAME={node}", cluster.container(node),
                     "/usr/local/bin/devbox-fleet-step"],
                    check=True, capture_output=True,
                )  # fmt: skip
                own.append(time.perf_counter() - start)
            figures["slowest node's own run (floor)"] = max(own)
            for n in (1, 4):
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    job = cluster.on_ctl(
                        "srun", f"-N{n}", "--ntasks-per-node=1", "/usr/local/bin/devbox-fleet-step"
                    )
                    times.append(time.perf_counter() - start)
                    if job.returncode != 0:
                        raise RuntimeError(job.stdout + job.stderr)
                figures[f"srun -N{n} fleet job (median of 3)"] = statistics.median(times)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                subprocess.run(
                    [DOCKER, "exec", cluster.container("node1"), "/usr/local/bin/devbox-health"],
                    capture_output=True,
                )
                times.append(time.perf_counter() - start)
            figures["health check on one node (median of 5)"] = statistics.median(times)
        finally:
            cluster.stop()
            subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", default="1,4,16")
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--skip-slurm", action="store_true")
    args = ap.parse_args()
    counts = [int(c) for c in args.hosts.split(",")]
    print(f"controller cost, --hosts docker://… with {args.items} items each:")
    print(f"  {'hosts':>5}  {'wall s':>7}  {'cpu s':>6}  {'wall/host':>9}  {'cpu/host':>8}")
    for n, wall, cpu in controller_cost(counts, args.items):
        print(f"  {n:>5}  {wall:7.2f}  {cpu:6.2f}  {wall / n:9.2f}  {cpu / n:8.2f}")
    if not args.skip_slurm:
        print("Slurm, 4 nodes (emulated GPUs):")
        for what, seconds in slurm_figures().items():
            print(f"  {what:<42} {seconds:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
