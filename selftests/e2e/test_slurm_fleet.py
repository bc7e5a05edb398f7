"""Slurm as the engine that runs the node profile on every node: a real slurmctld and four real slurmd
(Debian's Slurm 22.05 and munge), each slurmd in its own container so one node can carry a defect.

GPUs are emulated: each node's nvidia-smi is the self-tests' scripted one (real query field names), told
by a file of that node how many GPUs it has. What this proves is the health check as Slurm runs it (drain
with the reason, resume only what it drained), the fleet job as srun runs it, and the fleet report.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from devbox_e2e import DOCKER, devbox, standin_base
from slurm_cluster import SlurmCluster, build_image

pytestmark = pytest.mark.e2e

NODES = ["node1", "node2", "node3", "node4"]
TEAM = "extends: gpu-node\nnode:\n  - {name: count, count: 8}\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    standin_base("amd64")
    tag = build_image(f"devbox-selftest-slurm:{uuid.uuid4().hex[:8]}")
    slurm = SlurmCluster(tag, NODES, tmp_path_factory.mktemp("slurm"), TEAM)
    try:
        slurm.start()
        slurm.wait_for(
            "every node to register",
            lambda s: set(s) == set(NODES) and all("IDLE" in v[0] for v in s.values()),
        )
        yield slurm
    finally:
        slurm.stop()
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


def _fleet_job(cluster: SlurmCluster, count: int) -> subprocess.CompletedProcess[str]:
    for old in cluster.results.glob("*.json"):
        old.unlink()
    return cluster.on_ctl(
        "srun", f"-N{count}", "--ntasks-per-node=1", "-t", "5", "/usr/local/bin/devbox-fleet-step"
    )


def _report(cluster: SlurmCluster) -> tuple[int, dict]:
    out = cluster.workdir / "fleet.json"
    proc = devbox(
        "fleet-report",
        str(cluster.results),
        "--nodes",
        "node[1-4]",
        "--format",
        "json",
        "--output",
        str(out),
        check=False,
    )
    return proc.returncode, json.loads(out.read_text())


def test_health_check_drains_the_bad_node_fleet_report_names_it_and_repair_resumes_it(
    cluster: SlurmCluster,
) -> None:
    # An admin's drain is never undone by a green health check.
    cluster.on_ctl("scontrol", "update", "NodeName=node4", "State=DRAIN", "Reason=maintenance: PSU swap")
    cluster.emulation("node3").write_text("gpus=7\n")
    states = cluster.wait_for(
        "node3 to be drained by the health check", lambda s: cluster.drained(s, "node3")
    )
    reason = states["node3"][1]
    assert reason.startswith("devbox: node[count] 7 GPU(s)") and "expected exactly 8 GPU(s)" in reason, reason
    assert not cluster.drained(states, "node1") and not cluster.drained(states, "node2"), states

    # The fleet job runs on the nodes Slurm still schedules; the report is red for exactly the bad node
    # (it wrote nothing: missing counts as red) and for the node under maintenance.
    job = _fleet_job(cluster, 2)
    assert job.returncode == 0, job.stdout + job.stderr
    code, report = _report(cluster)
    assert code == 1 and report["red"] == ["node3", "node4"] and report["missing"] == ["node3", "node4"], (
        report
    )

    # Repaired: the next health check resumes node3; node4 stays drained with the admin's reason.
    cluster.emulation("node3").write_text("gpus=8\n")
    states = cluster.wait_for("node3 to be resumed", lambda s: not cluster.drained(s, "node3"))
    assert cluster.drained(states, "node4") and states["node4"][1].startswith("maintenance"), states
    cluster.on_ctl("scontrol", "update", "NodeName=node4", "State=RESUME")
    cluster.wait_for("node4 to be resumed", lambda s: not any(cluster.drained(s, n) for n in NODES))

    job = _fleet_job(cluster, 4)
    assert job.returncode == 0, job.stdout + job.stderr
    code, report = _report(cluster)
    assert code == 0 and report["red"] == [] and len(report["rows"]) == 4, report
    assert all(r["totals"]["passed"] >= 10 for r in report["rows"]), report
