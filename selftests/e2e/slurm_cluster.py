"""A real Slurm cluster for the end-to-end tests: slurmctld and one slurmd per node, each in its own
container so that each node can hold something different (its emulated GPUs come from a file of its own).

All containers share ONE network namespace, the controller's, and every daemon talks on that namespace's
127.0.0.1 (one `Port=` per slurmd). The controller sits on an `--internal` network the test makes (no route
out): Slurm resolves its listening address with AI_ADDRCONFIG, which finds nothing in a namespace that has
only a loopback (`--network none`); nothing ever addresses that network's interface.
Debian's Slurm 22.05 and munge, started by hand (no systemd), stopped by removing the containers.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from devbox_e2e import DOCKER, REPO, docker_build

FIXTURES = REPO / "selftests" / "fixtures"
LABEL = "io.github.gpu-devbox.selftest-slurm"
CTL_PORT = 6817
FIRST_NODE_PORT = 6821

SLURM_CONF = """\
ClusterName=devbox
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctl_port}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
HealthCheckProgram=/usr/local/bin/devbox-health
HealthCheckInterval={interval}
HealthCheckNodeState=ANY
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def build_image(tag: str) -> str:
    """The node image (selftests/fixtures/slurm/Dockerfile) on the amd64 stand-in base."""
    return docker_build(tag, FIXTURES, "-f", str(FIXTURES / "slurm" / "Dockerfile"), timeout=1200)


class SlurmCluster:
    """slurmctld + len(nodes) slurmd; `emulation(node)` is the file that node's nvidia-smi reads."""

    def __init__(
        self, image: str, nodes: list[str], workdir: Path, team_yaml: str, interval_s: int = 5
    ) -> None:
        self.image = image
        self.nodes = nodes
        self.workdir = workdir
        self.run = uuid.uuid4().hex[:8]
        self.ctl = f"devbox-slurm-ctl-{self.run}"
        self.results = workdir / "results"
        self.team_yaml = team_yaml
        self.interval_s = interval_s
        self.started: list[str] = []
        self.network = f"devbox-slurm-{self.run}"

    def container(self, node: str) -> str:
        return f"devbox-slurm-{node}-{self.run}"

    def emulation(self, node: str) -> Path:
        return self.workdir / f"emu-{node}"

    def _write_config(self) -> Path:
        cluster = self.workdir / "cluster"
        (cluster / "team").mkdir(parents=True)
        (cluster / "munge.key").write_bytes(secrets.token_bytes(1024))
        lines = [
            f"NodeName={n} NodeAddr=127.0.0.1 Port={FIRST_NODE_PORT + i} CPUs=1 State=UNKNOWN"
            for i, n in enumerate(self.nodes)
        ]
        conf = SLURM_CONF.format(ctl_port=CTL_PORT, interval=self.interval_s, nodes="\n".join(lines))
        (cluster / "slurm.conf").write_text(conf)
        (cluster / "team" / "common.yaml").write_text(self.team_yaml)
        self.results.mkdir()
        self.results.chmod(0o777)
        for node in self.nodes:
            self.emulation(node).write_text("gpus=8\n")
        return cluster

    def _docker_run(self, name: str, network: str, mounts: list[str], *cmd: str) -> None:
        argv = [
            DOCKER,
            "run",
            "-d",
            "--rm",
            "--name",
            name,
            "--label",
            f"{LABEL}={self.run}",
            "--network",
            network,
        ]
        for mount in mounts:
            argv += ["-v", mount]
        proc = subprocess.run([*argv, self.image, *cmd], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"cannot start {name}: {proc.stderr.strip()[-500:]}")
        self.started.append(name)

    def start(self) -> None:
        cluster = self._write_config()
        common = [
            f"{cluster}:/cluster:ro",
            f"{cluster / 'slurm.conf'}:/etc/slurm/slurm.conf:ro",
            f"{REPO / 'src'}:/opt/devbox-src:ro",
            f"{REPO / 'expectations'}:/opt/expectations:ro",
            f"{self.results}:/results",
        ]
        made = subprocess.run(
            [DOCKER, "network", "create", "--internal", "--label", f"{LABEL}={self.run}", self.network],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if made.returncode != 0:
            raise RuntimeError(f"cannot create network {self.network}: {made.stderr.strip()}")
        self._docker_run(self.ctl, self.network, common, "/usr/local/bin/start-node.sh", "ctl")
        for node in self.nodes:
            mounts = [*common, f"{self.emulation(node)}:/etc/devbox-emu-smi:ro"]
            self._docker_run(
                self.container(node),
                f"container:{self.ctl}",
                mounts,
                "/usr/local/bin/start-node.sh",
                "node",
                node,
            )

    def stop(self) -> None:
        """Nodes first (they live in the controller's namespace), then the controller."""
        for name in reversed(self.started):
            subprocess.run([DOCKER, "rm", "-f", "-v", name], capture_output=True, timeout=120)
        self.started.clear()
        subprocess.run([DOCKER, "network", "rm", self.network], capture_output=True, timeout=60)

    def on_ctl(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, "exec", self.ctl, *cmd], capture_output=True, text=True, timeout=timeout
        )

    def states(self) -> dict[str, tuple[set[str], str]]:
        """node -> ({IDLE, DRAIN, …}, reason) as slurmctld reports them now."""
        out = self.on_ctl("scontrol", "show", "node", "-o").stdout
        found: dict[str, tuple[set[str], str]] = {}
        for line in out.splitlines():
            name = re.search(r"NodeName=(\S+)", line)
            state = re.search(r"\bState=(\S+)", line)
            if name and state:
                reason = line.split(" Reason=", 1)[1].strip() if " Reason=" in line else ""
                reason = re.sub(r"\s*\[[^\]]*@[^\]]*\]\s*$", "", reason)
                found[name.group(1)] = (set(state.group(1).split("+")), reason)
        return found

    def wait_for(
        self, what: str, ready: Callable[[dict[str, tuple[set[str], str]]], bool], timeout: float = 90
    ) -> dict:
        """Poll the node states until `ready` holds (bounded); fail with the last states and the logs."""
        deadline = time.monotonic() + timeout
        states: dict[str, tuple[set[str], str]] = {}
        while time.monotonic() < deadline:
            states = self.states()
            if states and ready(states):
                return states
            time.sleep(1)
        log = self.on_ctl("sh", "-c", "tail -n 20 /var/log/slurm/slurmctld.log").stdout
        raise AssertionError(f"timed out waiting for {what}; states: {states}\nslurmctld log:\n{log}")

    def drained(self, states: dict[str, tuple[set[str], str]], node: str) -> bool:
        return bool(states.get(node, (set(), ""))[0] & {"DRAIN", "DRAINED", "DRAINING"})
