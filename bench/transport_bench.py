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
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO / "src"), str(BENCH), str(REPO / "selftests" / "e2e")]

import peer_checks as pc  # noqa: E402
from ssh_fleet import SshFleet, build_node_image  # noqa: E402

from devbox_conformance import arch as archs  # noqa: E402
from devbox_conformance import expectations as exp  # noqa: E402
from devbox_conformance import labels as lbl  # noqa: E402
from devbox_conformance import probe  # noqa: E402
from devbox_conformance import target as tgt  # noqa: E402

BENCH_LABEL = "io.github.gpu-devbox.bench"
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
DEFAULT_IMAGE = "devbox-suite-fixture:dev"
NODES = ("node1", "node2", "node3", "node4")
CORES = os.cpu_count() or 1
RUN_TIMEOUT_S = 1800
# "devbox: probe 1.2 s" (one host) or "devbox: ssh://node1: probe 1.2 s" (several).
PROBE_LINE = re.compile(r"^devbox: (?:(?P<host>\S+): )?probe (?P<s>\d+(?:\.\d+)?) s\s*$", re.M)
# The kinds the suite skips on a host without looking at it (image metadata): the naive peer leaves them out.
IMAGE_ONLY_KINDS = ("labels", "image_config")

# The default contract: what a node of the suite's fixture image (plus sshd) has, about fifty items of the
# kinds a team checks over ssh. No labels or image config (a host has none) and no env (an ssh session's
# environment is not the image's ENV), so the docker and the ssh run check exactly the same things.
FLEET_CONTRACT: dict[str, list[dict[str, Any]]] = {
    "binaries": [
        {"name": "bash", "version": ">=5.0"},
        {"name": "python3", "version": ">=3.9"},
        {"name": "devbox-fixture-tool", "version": ">=2.0"},
        {"name": "tar", "version": ">=1.30"},
        {"name": "grep", "version": ">=3.0"},
        {"name": "sh"},
        {"name": "ls"},
        {"name": "sed"},
        {"name": "gzip"},
        {"name": "find"},
        {"name": "ssh-keygen"},
        {"name": "sshd"},
        {"name": "dpkg"},
        {"name": "apt-get"},
        {"name": "less"},
    ],
    "packages": [
        {"name": n}
        for n in (
            "openssh-server",
            "less",
            "bash",
            "coreutils",
            "dpkg",
            "apt",
            "grep",
            "gzip",
            "tar",
            "sed",
            "findutils",
            "mawk",
            "ca-certificates",
            "login",
        )
    ],
    "python_dists": [
        {"name": "devbox-fixture-pkg", "min_version": "1.0"},
        {"name": "filelock", "min_version": "3.0"},
        {"name": "Jinja2", "min_version": "3.0", "import": "jinja2"},
        {"name": "MarkupSafe", "min_version": "2.0", "import": "markupsafe"},
        {"name": "mpmath", "min_version": "1.0"},
        {"name": "numpy", "min_version": "1.20"},
        {"name": "pip", "min_version": "20.0"},
    ],
    "files": [
        {"path": "/usr/local/bin/devbox-greeting", "type": "file", "mode": "0755"},
        {"path": "/etc/profile.d/00-devbox.sh", "type": "file", "content": "devbox-greeting"},
        {"path": "/etc/ssh/sshd_config", "type": "file", "owner": "root"},
        {"path": "/usr/sbin/sshd", "type": "file", "mode": "0755", "owner": "root"},
        {"path": "/etc/passwd", "type": "file", "mode": "0644", "owner": "root"},
        {"path": "/workspace", "type": "directory"},
    ],
    "users": [
        {"name": "root", "uid": 0, "home": "/root"},
        {"name": "nobody", "uid": 65534},
        {"name": "sshd"},
    ],
    "groups": [{"name": "root", "gid": 0}, {"name": "nogroup", "gid": 65534}],
}

NAIVE_MODULE = '''"""Generated by bench/transport_bench.py: one testinfra call (or a few) per item over ssh.

The checks are bench/testinfra_peer.py's `test_check`, reused as is; only the host differs.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
import testinfra_peer as peer


@pytest.fixture(scope="session")
def host() -> Any:
    return testinfra.get_host({spec!r}, ssh_config={ssh_config!r})


@pytest.fixture(scope="session")
def image_cfg() -> dict[str, Any]:
    return {{}}  # a host has no image config; the cases hold no labels or image_config items


test_check = peer.test_check
'''


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


def _interrupt(signum: int, frame: Any) -> None:
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


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
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


def _from_results(path: Path) -> tuple[dict[str, int], dict[str, float], dict[str, str]]:
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


def _failures_from_pytest(output: str) -> dict[str, str]:
    """`FAILED file::test[id] - message` lines of pytest's -rf summary."""
    found = re.findall(r"^FAILED \S+::(\S+)(?: - (.*))?$", output, re.M)
    return {name: (msg or "")[:200] for name, msg in found[:10]}


def _counts_from_pytest(output: str) -> dict[str, int]:
    """pytest's last line: "40 passed, 2 skipped in 3.1s"."""
    found = re.findall(
        r"(\d+) (passed|failed|skipped|errors?)\b", output.strip().splitlines()[-1] if output.strip() else ""
    )
    return {("error" if word.startswith("error") else word): int(n) for n, word in found}


def _last_line(output: str) -> str:
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def _timed_floor(cmd: list[str], n: int, env: dict[str, str]) -> dict[str, Any]:
    """Median wall seconds of `cmd` over n runs (each bounded): a physical floor a run cannot go below."""
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=120)
        times.append(time.monotonic() - t0)
        if proc.returncode != 0:
            return {"median_s": None, "error": proc.stderr.decode("utf-8", "replace")[-200:]}
    return {"median_s": round(statistics.median(times), 4), "n": n, "min_s": round(min(times), 4)}


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
            run, out = measure(name, repeat, suite_cmd(setup, results, *target), REPO, child, nodes, _env())
            totals, probes, run.failures = _from_results(results)
            run.probe_s = parse_probe_lines(out)
            if not run.probe_s and probes:
                run.probe_s = {k: round(v, 1) for k, v in probes.items()}
                run.note = (run.note + " probe from --results-json (no probe line)").strip()
            run.counts = totals or _counts_from_pytest(out)
            if run.exit_code != 0 and not run.failures:
                run.note = _last_line(out)
            return run

        return one

    def naive(repeat: int, child: Child) -> Run:
        # The suite registers itself as a pytest plugin (pytest11); the naive run must not load it.
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "test_naive_ssh.py",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:devbox_conformance.plugin",
            "-q",
            "--no-header",
            "-rf",
            "--rootdir",
            str(setup.naive_dir),
            "-c",
            "/dev/null",
        ]
        env = _env({"BENCH_IMAGE": setup.node_image, "BENCH_RUN": setup.run_id, "BENCH_LABEL": BENCH_LABEL})
        run, out = measure("testinfra-ssh-1", repeat, cmd, setup.naive_dir, child, node1, env)
        run.counts = _counts_from_pytest(out)
        run.failures = _failures_from_pytest(out)
        if run.exit_code != 0 and not run.failures:
            run.note = _last_line(out)
        return run

    hosts4 = ",".join(f"ssh://{n}" for n in NODES)
    return {
        "docker-1": suite("docker-1", ["--image", setup.node_image], []),
        "ssh-1": suite("ssh-1", ["--hosts", "ssh://node1", ssh_cfg], node1),
        "ssh-4": suite("ssh-4", ["--hosts", hosts4, ssh_cfg], all_nodes),
        "testinfra-ssh-1": naive,
    }


def derive_naive_checks(expectations: Path, ssh_config: Path) -> tuple[list[pc.Check], int]:
    """The items the suite checks on ssh://node1 (`when:` applied with the suite's own probe), image-only
    kinds left out; and the contract's size. One untimed probe: it also warms node1's page cache."""
    uname = subprocess.run(
        ["ssh", "-F", str(ssh_config), "node1", "uname -m"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    arch = archs.normalize_arch(uname)
    target = tgt.Target(
        "ssh://node1", "ssh://node1", "host", arch, connection={"ssh_config": str(ssh_config)}
    )
    request = {
        "binaries": [],
        "imports": [],
        "files": [],
        "users": [],
        "groups": [],
        "shells": [],
        "manifest": probe.MANIFEST_PATH,
    }
    facts = probe.collect_facts(target, request, timeout=900)
    manifest = facts.get("manifest") if isinstance(facts.get("manifest"), dict) else {}
    base_kind = (manifest.get("base") or {}).get("kind") or "other"
    if base_kind not in lbl.BASE_KINDS:
        base_kind = "other"
    model = exp.load(expectations, arch, base_kind)
    derived = pc.derive_checks(model, probe.conditions(facts, arch, base_kind))
    checks = [c for c in derived.checks if c.kind not in IMAGE_ONLY_KINDS]
    return checks, model.count()


def write_naive_module(directory: Path, checks: list[pc.Check], ssh_config: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(BENCH / "testinfra_peer.py", directory / "testinfra_peer.py")
    (directory / "incontainer_check.py").write_text(pc.CHECKER_SOURCE, encoding="utf-8")  # packed, as shipped
    (directory / "cases.json").write_text(json.dumps(pc.testinfra_cases(checks)))
    (directory / "test_naive_ssh.py").write_text(
        NAIVE_MODULE.format(spec="ssh://node1", ssh_config=str(ssh_config))
    )


def write_fleet_contract(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "common.yaml").write_text(yaml.safe_dump(FLEET_CONTRACT, sort_keys=False))
    for arch in ("amd64", "arm64"):
        (directory / f"{arch}.yaml").write_text("")
    return directory


def floors(setup: Setup, n: int) -> dict[str, dict[str, Any]]:
    """Costs no run can go below on this machine, each the median of n bounded runs."""
    env = _env()
    ssh = ["ssh", "-F", str(setup.ssh_config), "node1"]
    node1 = setup.node_containers["node1"]
    return {
        "ssh node1 true": _timed_floor([*ssh, "true"], n, env),
        "docker exec node1 true": _timed_floor([DOCKER, "exec", node1, "true"], n, env),
        "python3 -c pass (here)": _timed_floor([sys.executable, "-c", "pass"], n, env),
        "ssh node1 python3 -c pass": _timed_floor([*ssh, "python3 -c pass"], n, env),
        "python3 -c 'import pytest, testinfra' (here)": _timed_floor(
            [sys.executable, "-c", "import pytest, testinfra"], n, env
        ),
        "docker run --rm NODE_IMAGE true": _timed_floor(
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


def _fmt(value: float | None, digits: int = 2) -> str:
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
        kids_nodes = f"{_fmt(s['cpu_children_s'], 1)}+{_fmt(s['cpu_nodes_s'], 1)}"
        lines.append(
            f"{name:<17}{hosts.get(name, 1):>5}{_fmt(s['wall_s']):>8}{_fmt(s['probe_s']):>9}"
            f"{_fmt(s['cpu_s'], 1):>7}{kids_nodes:>14}{_fmt(s['cpu_per_wall_per_core']):>14}"
            f"{_fmt(s['machine_busy_per_core']):>18}  {counts:<24}"
            f"{' '.join(f'{x:.1f}' for x in s['load_before'])}"
        )
        for note in s["notes"]:
            lines.append(f"{'':<17}note: {note}")
        for item, message in s["failures"].items():
            lines.append(f"{'':<17}failed: {item}: {message}")
    lines += ["", f"{'comparison':<58}{'ratio':>7}  {'target':<9}verdict"]
    for row in rows:
        lines.append(f"{row['what']:<58}{_fmt(row['ratio']):>7}  {row['target']:<9}{row['verdict']}")
    four = summary.get("ssh-4")
    if four and four["cpu_per_wall_per_core"] is not None:
        share = four["cpu_per_wall_per_core"]
        lines += [
            "",
            f"ssh-4 CPU-bound? its own processes kept {share:.2f} of the {CORES} cores busy "
            f"over its wall time ({_fmt(four['cpu_s'], 1)} CPU s / {_fmt(four['wall_s'])} s / "
            f"{CORES});",
            f"the whole machine was busy {_fmt(four['machine_busy_per_core'])} of its cores meanwhile "
            "(the rest: other work on the machine).",
        ]
    lines += ["", "floors (median wall s of bounded runs)"]
    for name, f in floor.items():
        shown = _fmt(f.get("median_s"), 3) if f.get("median_s") is not None else f"error: {f.get('error')}"
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


# --- main -----------------------------------------------------------------------------------------------


@contextmanager
def _fleet(node_image: str, workdir: Path) -> Iterator[SshFleet]:
    with SshFleet({n: node_image for n in NODES}, workdir) as fleet:
        yield fleet


def _container_ids(names: list[str]) -> dict[str, str]:
    out = subprocess.run(
        [DOCKER, "inspect", "--format", "{{.Name}} {{.Id}}", *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    by_name = dict(line.lstrip("/").split() for line in out.splitlines() if line.strip())
    return by_name


def _remove_ours(run_id: str) -> None:
    ours = subprocess.run(
        [DOCKER, "ps", "-aq", "--filter", f"label={BENCH_LABEL}={run_id}"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    if ours:
        subprocess.run([DOCKER, "rm", "-f", "-v", *ours], capture_output=True, timeout=120)


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
    signal.signal(signal.SIGTERM, _interrupt)
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
            ids = _container_ids(fleet.containers)
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
            runs: list[Run] = []
            for repeat in range(1, args.repeat + 1):
                for name in chosen:
                    run = table[name](repeat, child)
                    print(
                        f"[{run_id}] {repeat}/{args.repeat} {name:<16} wall {run.wall_s:6.2f} s  probe "
                        f"{_fmt(run.probe_max_s)} s  cpu {run.cpu_s:5.1f} s  exit {run.exit_code}  "
                        f"load {run.load_before:.1f}",
                        flush=True,
                    )
                    runs.append(run)
            floor = floors(setup, args.floor_runs)
        summary = summarize(runs)
        rows = comparisons(summary)
        by_kind: dict[str, int] = {}
        for c in checks:
            by_kind[c.kind] = by_kind.get(c.kind, 0) + 1
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "run_id": run_id,
            "image": args.image,
            "node_image": node_image,
            "node_image_build_s": build_s,
            "expectations": str(args.expectations) if args.expectations else "built-in fleet contract",
            "contract_items": contract_items,
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
                "ssh-4": suite_cmd(
                    setup,
                    Path("R.json"),
                    "--hosts",
                    ",".join(f"ssh://{n}" for n in NODES),
                    "--ssh-config=CFG",
                ),
                "testinfra-ssh-1": "pytest test_naive_ssh.py (bench/testinfra_peer.py test_check, ssh://node1)",
            },
        }
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
        _remove_ours(run_id)
        if built and not args.keep:
            subprocess.run([DOCKER, "rmi", node_image], capture_output=True, timeout=300)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
