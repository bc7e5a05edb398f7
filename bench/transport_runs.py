"""The transport benchmark's timed runs: one tool process measured (wall, CPU of its children and of the
ssh nodes' cgroups, the machine's busy time) and what its output says (probe lines, results, failures).

Part of bench/transport_bench.py (run that); apart so each file reads as one job.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
CORES = os.cpu_count() or 1
RUN_TIMEOUT_S = 1800
# "devbox: probe 1.2 s" (one host) or "devbox: ssh://node1: probe 1.2 s" (several).
PROBE_LINE = re.compile(r"^devbox: (?:(?P<host>\S+): )?probe (?P<s>\d+(?:\.\d+)?) s\s*$", re.M)


@dataclass
class Run:
    """One timed run of one runner."""

    runner: str
    repeat: int
    wall_s: float
    exit_code: int
    # Probe seconds per host, parsed from the suite's `devbox: ... probe N.N s` lines (suite runners only).
    probe_s: dict[str, float] = field(default_factory=dict)
    # user+sys of every process this run forked and reaped (pytest, ssh/docker clients, ...).
    cpu_children_s: float = 0.0
    # user+sys inside the ssh nodes' containers (sshd, the probe, testinfra's commands), from their cgroups.
    cpu_nodes_s: float = 0.0
    # Busy CPU of the whole machine (all processes, including other people's work) during the run.
    cpu_machine_s: float = 0.0
    load_before: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    # First few failed items: name -> message, so a reader can tell a contract slip from a transport's.
    failures: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def cpu_s(self) -> float:
        return self.cpu_children_s + self.cpu_nodes_s

    @property
    def probe_max_s(self) -> float | None:
        return max(self.probe_s.values()) if self.probe_s else None


class Child:
    """The one tool process running now, so Ctrl-C/SIGTERM can stop it (its own cleanup runs first)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 60), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                return
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue


def interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# --- CPU accounting -------------------------------------------------------------------------------------


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _cgroup_cpu(container_ids: list[str]) -> float:
    """CPU seconds used so far by these containers (cgroup v1 cpuacct or v2 cpu.stat; 0 where unreadable)."""
    total = 0.0
    for cid in container_ids:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat")
        try:
            if v1.exists():
                total += int(v1.read_text()) / 1e9
            elif v2.exists():
                stat = dict(line.split() for line in v2.read_text().splitlines())
                total += int(stat["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            continue  # a node that is gone adds nothing; the figure is a lower bound
    return total


# --- running things -------------------------------------------------------------------------------------


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # The checkout's package, not whatever editable install the interpreter has.
    paths = [str(REPO / "src"), str(REPO / "build")]
    env["PYTHONPATH"] = os.pathsep.join(
        paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    )
    env["PATH"] = "/usr/bin:" + env.get("PATH", "")
    env["DEVBOX_DOCKER"] = DOCKER
    return env | (extra or {})


def measure(
    runner: str,
    repeat: int,
    cmd: list[str],
    cwd: Path,
    child: Child,
    nodes: list[str],
    env: dict[str, str],
    timeout: float = RUN_TIMEOUT_S,
) -> tuple[Run, str]:
    """Run cmd once in its own process group; (its figures, its output)."""
    load = os.getloadavg()[0]
    cpu0, nodes0, busy0 = _children_cpu(), _cgroup_cpu(nodes), _machine_busy()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    child.proc = proc
    note = ""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.stop()
        out, _ = proc.communicate()
        note = f"killed after {timeout:.0f} s"
    wall = time.monotonic() - t0
    cpu1, nodes1, busy1 = _children_cpu(), _cgroup_cpu(nodes), _machine_busy()
    child.proc = None
    text = out.decode("utf-8", "replace")
    run = Run(
        runner,
        repeat,
        round(wall, 3),
        proc.returncode,
        cpu_children_s=round(cpu1 - cpu0, 3),
        cpu_nodes_s=round(nodes1 - nodes0, 3),
        cpu_machine_s=round(busy1 - busy0, 3),
        load_before=round(load, 2),
        note=note,
    )
    return run, text


def parse_probe_lines(output: str) -> dict[str, float]:
    """{host or "": seconds} from the suite's summary lines."""
    return {m.group("host") or "": float(m.group("s")) for m in PROBE_LINE.finditer(output)}


def from_results(path: Path) -> tuple[dict[str, int], dict[str, float], dict[str, str]]:
    """(totals, probe seconds per host, first failures) from the suite's --results-json file."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, {}, {}
    totals = {k: v for k, v in (doc.get("totals") or {}).items() if v}
    hosts = doc.get("hosts") or []
    probes = {
        h["name"] if len(hosts) > 1 else "": h["probe_seconds"]
        for h in hosts
        if h.get("probe_seconds") is not None
    }
    failures = {
        e["name"]: (e.get("message") or "").strip().replace("\n", " | ")[:200]
        for e in doc.get("items") or []
        if e.get("outcome") in ("failed", "error")
    }
    return totals, probes, dict(list(failures.items())[:10])


def failures_from_pytest(output: str) -> dict[str, str]:
    """`FAILED file::test[id] - message` lines of pytest's -rf summary."""
    found = re.findall(r"^FAILED \S+::(\S+)(?: - (.*))?$", output, re.M)
    return {name: (msg or "")[:200] for name, msg in found[:10]}


def counts_from_pytest(output: str) -> dict[str, int]:
    """pytest's last line: "40 passed, 2 skipped in 3.1s"."""
    found = re.findall(
        r"(\d+) (passed|failed|skipped|errors?)\b", output.strip().splitlines()[-1] if output.strip() else ""
    )
    return {("error" if word.startswith("error") else word): int(n) for n, word in found}


def last_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def timed_floor(cmd: list[str], n: int, env: dict[str, str]) -> dict[str, Any]:
    """Median wall seconds of `cmd` over n runs (each bounded): a physical floor a run cannot go below."""
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        times.append(time.monotonic() - t0)
        if proc.returncode != 0:
            return {"median_s": None, "error": proc.stderr.decode("utf-8", "replace")[-200:]}
    return {"median_s": round(statistics.median(times), 4), "n": n, "min_s": round(min(times), 4)}


def container_ids(names: list[str]) -> dict[str, str]:
    out = subprocess.run(
        [DOCKER, "inspect", "--format", "{{.Name}} {{.Id}}", *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    by_name = dict(line.lstrip("/").split() for line in out.splitlines() if line.strip())
    return by_name


def remove_labelled(label: str, run_id: str) -> None:
    """Remove every container that carries `label=run_id` (the fleet's, the suite's, a floor's)."""
    ours = subprocess.run(
        [DOCKER, "ps", "-aq", "--filter", f"label={label}={run_id}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    if ours:
        subprocess.run([DOCKER, "rm", "-f", "-v", *ours], capture_output=True, timeout=120)
