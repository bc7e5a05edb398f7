"""The suite through testinfra's backends, on real parts: an SSH fleet, an Ansible inventory, podman, a pull
from a loopback registry per platform, a team's own testinfra tests, and runs killed outright.

Every host is reached on 127.0.0.1 only (published ports); the fleet's key is made for the test and
removed with it. Images derive from the suite's fixture image, so each run takes seconds.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from devbox_e2e import DOCKER, REPO, LocalRegistry, docker_build, slow_contract, standin_base
from ssh_fleet import SshFleet, build_node_image
from suite_runs import run_suite, start_suite

from devbox_conformance import engine as eng
from devbox_conformance import lease as leases
from devbox_conformance import reaper
from devbox_conformance.reaper import RUN_DIR_PREFIX

pytestmark = pytest.mark.e2e

LABEL = "io.github.gpu-devbox.conformance"
FIXTURE_EXPECTATIONS = REPO / "selftests" / "fixtures" / "suite" / "expectations"
# What a fleet node must have: the fixture's tools plus the packages the node image adds.
FLEET_CONTRACT = {
    "binaries": [
        {"name": "bash"},
        {"name": "python3", "version": ">=3.9"},
        {"name": "devbox-fixture-tool", "version": ">=2.0"},
    ],
    "packages": [{"name": "openssh-server"}, {"name": "less"}],
    "files": [{"path": "/usr/local/bin/devbox-greeting", "type": "file", "mode": "0755"}],
    "users": [{"name": "root", "uid": 0}],
}
TEAM_TEST = """
def test_workspace_is_seeded(host):
    assert host.file("/workspace/.keep").exists


def test_fixture_tool_answers(host):
    assert host.backend.get_connection_type() in ("docker", "podman")
    assert host.run("devbox-fixture-tool --version").rc == 0
"""


def suite(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> tuple[int, str, dict]:
    """The suite as a user runs it from the checkout; returns (exit code, output, results JSON)."""
    run = run_suite(*args, env=env, timeout=timeout)
    return run.returncode, run.output, run.results


def closed_port() -> int:
    """A loopback port nothing listens on (taken, then released): connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failed(doc: dict) -> set[str]:
    return {e["name"] for e in doc.get("items", []) if e["outcome"] in ("failed", "error")}


def containers(label_value: str | None = None) -> list[str]:
    flt = f"label={LABEL}" + (f"={label_value}" if label_value else "")
    out = subprocess.run(
        [DOCKER, "ps", "-a", "--filter", flt, "--format", "{{.Names}}"], capture_output=True, text=True
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def node_images(suite_fixture_image: str) -> Iterator[tuple[str, str]]:
    """(good, broken) node images: the fixture image plus sshd; the broken one lacks the package `less`."""
    good = build_node_image(suite_fixture_image, f"devbox-node:e2e-{suite_fixture_image.rsplit('-', 1)[-1]}")
    broken = build_node_image(good, good + "-no-less", ("RUN dpkg --purge less",))
    yield good, broken
    subprocess.run([DOCKER, "rmi", "-f", broken, good], capture_output=True)


@pytest.fixture(scope="module")
def fleet(node_images: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshFleet]:
    good, broken = node_images
    workdir = tmp_path_factory.mktemp("fleet")
    with SshFleet({"node1": good, "node2": broken, "node3": good}, workdir) as nodes:
        yield nodes
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet_contract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fleet-contract")
    (directory / "common.yaml").write_text(yaml.safe_dump(FLEET_CONTRACT, sort_keys=False))
    (directory / "amd64.yaml").write_text("")
    return directory


def on_fleet(hosts: str, option: str, contract: Path) -> tuple[int, str, dict]:
    """The suite's own tests on the fleet's `hosts` against `contract`; `option` says how the hosts are
    reached (an --ssh-config or an --ansible-inventory)."""
    return suite("--hosts", hosts, option, f"--expectations={contract}", "tests")


def test_ssh_fleet_fails_only_the_broken_host(fleet: SshFleet, fleet_contract: Path) -> None:
    rc, out, doc = on_fleet(
        "ssh://node1,ssh://node2,ssh://node3", f"--ssh-config={fleet.ssh_config}", fleet_contract
    )
    assert rc == 1, out
    assert failed(doc) == {"test_package[ssh://node2-less]"}, out
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert set(hosts) == {"ssh://node1", "ssh://node2", "ssh://node3"}
    assert hosts["ssh://node2"]["totals"]["failed"] == 1 and hosts["ssh://node1"]["totals"]["failed"] == 0
    assert all(h["totals"]["passed"] >= 6 for h in hosts.values()), doc["hosts"]
    item = next(e for e in doc["items"] if e["name"] == "test_package[ssh://node2-less]")
    assert item["host"] == "ssh://node2"
    # The end-of-run table: host, passed, failed, skipped, error, waived, first problem.
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.startswith("ssh://node")}
    assert rows["ssh://node2"][1] == "1", out
    assert rows["ssh://node2"][5].startswith("test_package[ssh://node2-less]"), out
    assert rows["ssh://node1"][1] == "0" and len(rows["ssh://node1"]) == 5, out


def test_ansible_inventory_gives_the_same_result(fleet: SshFleet, fleet_contract: Path) -> None:
    if not shutil.which("ansible-inventory"):
        pytest.fail("needs ansible-inventory (tools/host-setup.sh installs Debian's ansible-core)")
    rc, out, doc = on_fleet("ansible://nodes", f"--ansible-inventory={fleet.inventory}", fleet_contract)
    assert rc == 1, out
    assert failed(doc) == {"test_package[ansible://node2-less]"}, out
    assert {h["name"] for h in doc["hosts"]} == {"ansible://node1", "ansible://node2", "ansible://node3"}


def test_paramiko_reaches_a_node(fleet: SshFleet, fleet_contract: Path) -> None:
    rc, out, doc = on_fleet("paramiko://node1", f"--ssh-config={fleet.ssh_config}", fleet_contract)
    assert rc == 0, out
    assert doc["target_kind"] == "host" and doc["hosts"][0]["name"] == "paramiko://node1"


def test_an_unreachable_host_fails_its_own_items_only(
    fleet: SshFleet, fleet_contract: Path, tmp_path: Path
) -> None:
    config = tmp_path / "ssh_config"
    # A node whose sshd is gone: its port on loopback refuses the connection at once.
    down = f"\nHost down\n  HostName 127.0.0.1\n  Port {closed_port()}\n"
    down += "  User root\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
    config.write_text(fleet.ssh_config.read_text() + down)
    rc, out, doc = on_fleet("ssh://node1,ssh://down", f"--ssh-config={config}", fleet_contract)
    assert rc == 1, out
    down = {e["name"] for e in doc["items"] if e["host"] == "ssh://down"}
    # One failed id for the host, not one per item.
    assert down == {"test_host[ssh://down]"} == failed(doc), out
    message = next(e["message"] for e in doc["items"] if e["host"] == "ssh://down")
    assert message.startswith("ssh://down: cannot reach ssh://down") and "\n" not in message, message
    assert all(e["outcome"] == "passed" for e in doc["items"] if e["host"] == "ssh://node1")


def test_team_testinfra_tests_check_the_image_under_test(
    suite_fixture_image: str, derive_image, tmp_path: Path
) -> None:
    team = tmp_path / "team_tests"
    team.mkdir()
    (team / "test_team.py").write_text(TEAM_TEST)
    rc, out, doc = suite(
        "--image", suite_fixture_image, f"--expectations={FIXTURE_EXPECTATIONS}", "tests", str(team)
    )
    assert rc == 0, out
    names = {e["name"] for e in doc["items"] if e["outcome"] == "passed"}
    # The id names the image, never this run's container: the same test has the same id in every run.
    assert f"test_workspace_is_seeded[docker://{suite_fixture_image}]" in names, names
    assert doc["hosts"][0]["name"] == f"docker://{suite_fixture_image}", doc["hosts"]
    # A defect only the team's own test knows about: the YAML contract passes, the team's test fails.
    broken = derive_image("no-workspace-seed", ["RUN rm -f /workspace/.keep"])
    rc, out, doc = suite("--image", broken, f"--expectations={FIXTURE_EXPECTATIONS}", "tests", str(team))
    assert rc == 1, out
    assert {n.split("[")[0] for n in failed(doc)} == {"test_workspace_is_seeded"}, out


def test_podman_checks_the_same_image(suite_fixture_image: str) -> None:
    if not shutil.which("podman"):
        pytest.fail("needs podman (tools/host-setup.sh installs Debian's podman)")
    loaded = subprocess.run(
        f"{DOCKER} save {suite_fixture_image} | podman load -q", shell=True, capture_output=True, text=True
    )
    assert loaded.returncode == 0, loaded.stderr
    try:
        # This VM refuses podman's default rlimits and crun: the run options come from the command line.
        rc, out, doc = suite(
            "--image",
            suite_fixture_image,
            "--engine",
            "podman",
            "--engine-arg=--runtime=runc",
            "--engine-arg=--ulimit=nofile=1024:1024",
            "--engine-arg=--ulimit=nproc=1024:1024",
            f"--expectations={FIXTURE_EXPECTATIONS}",
            "tests",
        )
        assert rc == 0, out
        assert doc["hosts"][0]["spec"].startswith("podman://devbox-conformance-")
        passed = {e["name"] for e in doc["items"] if e["outcome"] == "passed"}
        assert "test_image_config[healthcheck]" in passed, out
        left = subprocess.run(
            ["podman", "ps", "-aq", "--filter", f"label={LABEL}"], capture_output=True, text=True
        ).stdout.split()
        assert not left, left
    finally:
        subprocess.run(["podman", "rmi", "-f", f"localhost/{suite_fixture_image}"], capture_output=True)


@pytest.fixture(scope="module")
def fixture_arm64(suite_fixture_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The fixture image built for arm64 (under QEMU: a COPY and a chmod, seconds)."""
    standin_base("arm64")
    ctx = tmp_path_factory.mktemp("fixture-arm64")
    shutil.copytree(REPO / "selftests" / "fixtures" / "suite" / "image", ctx, dirs_exist_ok=True)
    dockerfile = ctx / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("bookworm-amd64", "bookworm-arm64"))
    tag = suite_fixture_image + "-arm64"
    yield docker_build(tag, ctx, "--platform", "linux/arm64")
    subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


def _push_multiarch(registry: LocalRegistry, amd64: str, arm64: str) -> str:
    ref = f"{registry.address}/devbox-fixture:pull"
    for arch, local in (("amd64", amd64), ("arm64", arm64)):
        subprocess.run([DOCKER, "tag", local, f"{ref}-{arch}"], check=True)
        push = subprocess.run([DOCKER, "push", f"{ref}-{arch}"], capture_output=True, text=True)
        assert push.returncode == 0, push.stderr
    create = subprocess.run(
        [DOCKER, "manifest", "create", "--insecure", ref, f"{ref}-amd64", f"{ref}-arm64"],
        capture_output=True,
        text=True,
    )
    assert create.returncode == 0, create.stderr
    pushed = subprocess.run(
        [DOCKER, "manifest", "push", "--insecure", "--purge", ref], capture_output=True, text=True
    )
    assert pushed.returncode == 0, pushed.stderr
    subprocess.run([DOCKER, "rmi", f"{ref}-amd64", f"{ref}-arm64"], capture_output=True)
    return ref


def _arch_of(ref: str) -> str:
    return subprocess.run(
        [DOCKER, "image", "inspect", "-f", "{{.Architecture}}", ref], capture_output=True, text=True
    ).stdout.strip()


def test_pull_checks_each_platform_against_its_overlay(
    registry: LocalRegistry, suite_fixture_image: str, fixture_arm64: str, tmp_path: Path
) -> None:
    ref = _push_multiarch(registry, suite_fixture_image, fixture_arm64)
    expectations = tmp_path / "expectations"
    shutil.copytree(FIXTURE_EXPECTATIONS, expectations)
    (expectations / "arm64.yaml").write_text('env:\n  - name: DEVBOX_CONTAINER\n    value: "1"\n')
    try:
        assert not _arch_of(ref), "the multi-arch tag must not be local before the run"
        rc, out, doc = suite(
            "--image", ref, "--platform", "linux/arm64", f"--expectations={expectations}", "tests"
        )
        assert rc == 0, out
        assert doc["arch"] == "arm64" and _arch_of(ref) == "arm64", out
        assert any(f.endswith("arm64.yaml") for f in _header_files(out)), out
        progress = [line for line in out.splitlines() if line.startswith("devbox: pull")]
        assert 2 <= len(progress) <= 20, progress
        # A local copy of another arch than --platform asks for is never checked silently.
        rc, out, _ = suite(
            "--image",
            ref,
            "--platform",
            "linux/amd64",
            "--pull",
            "never",
            f"--expectations={expectations}",
            "tests",
        )
        assert rc == 4 and "is arm64, but --platform asks for linux/amd64" in out, out
        subprocess.run([DOCKER, "rmi", ref], capture_output=True)
        rc, out, doc = suite("--image", ref, f"--expectations={expectations}", "tests")
        assert rc == 0 and doc["arch"] == "amd64" and _arch_of(ref) == "amd64", out
        rc, out, _ = suite("--image", f"{registry.address}/devbox-fixture:no-such-tag", "tests")
        errors = [line for line in out.splitlines() if line.startswith("ERROR:")]
        assert rc == 4 and len(errors) == 1 and "cannot pull" in errors[0], out
    finally:
        subprocess.run([DOCKER, "rmi", "-f", ref], capture_output=True)


def _header_files(out: str) -> list[str]:
    for line in out.splitlines():
        if line.startswith("devbox: image") and " items from " in line:
            return line.split(" items from ", 1)[1].split(", ")
    return []


@pytest.fixture
def slow_expectations(tmp_path: Path) -> Path:
    """The fixture's contract plus a 30 s version run: the probe is under way when the run is killed."""
    return slow_contract(tmp_path / "slow", 30)


def _start_and_kill(image: str, expectations: Path, env: dict[str, str]) -> tuple[str, int]:
    """Start the suite, wait for its container, SIGKILL the run mid-probe; returns the container's name
    and the run's pid."""
    before = set(containers())
    proc = start_suite(
        "--image",
        image,
        f"--expectations={expectations}",
        "tests",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        started: set[str] = set()
        while time.monotonic() < deadline and not started and proc.poll() is None:
            started = set(containers()) - before
            time.sleep(0.2)
        assert len(started) == 1, "the suite never started its container"
        time.sleep(2)
        assert proc.poll() is None, "the run ended before it was killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return started.pop(), proc.pid


def test_a_killed_run_leaves_no_container_past_its_lease(
    suite_fixture_image: str, slow_expectations: Path
) -> None:
    name, _ = _start_and_kill(suite_fixture_image, slow_expectations, {"DEVBOX_CONTAINER_LEASE_S": "6"})
    deadline = time.monotonic() + 60
    while name in containers() and time.monotonic() < deadline:
        time.sleep(1)
    assert name not in containers(), f"{name} outlived its lease"


def _run_dir_of(pid: int) -> Path:
    """The temp dir of the run with this pid (its owner file names it; other runs here make their own)."""
    found = [
        owner.parent
        for owner in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*/{reaper.RUN_DIR_OWNER}")
        if owner.read_text().split(":")[:2] == [socket.gethostname(), str(pid)]
    ]
    assert len(found) == 1, f"no single run dir names pid {pid} as its owner: {found}"
    return found[0]


def test_the_next_run_reaps_a_killed_runs_container_and_temp_dir(
    suite_fixture_image: str, slow_expectations: Path
) -> None:
    # A 60 s lease: renewed every 15 s, stale for a reaper after 30 s, while the container's own watchdog
    # waits the whole 60 s. Between the two only the next run's reaper can remove it.
    lease_s = 60.0
    name, pid = _start_and_kill(
        suite_fixture_image, slow_expectations, {"DEVBOX_CONTAINER_LEASE_S": f"{lease_s:g}"}
    )
    engine = eng.choose("docker")
    left = _run_dir_of(pid)
    deadline = time.monotonic() + 2 * lease_s
    age = leases.lease_age(engine, name)
    while (age is None or age <= leases.stale_after(lease_s) or not reaper.run_dir_stale(left)) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
        age = leases.lease_age(engine, name)
    assert age is not None and age > leases.stale_after(lease_s), f"lease of {name}: {age}"
    assert name in containers(), "the killed run's container went before its lease ran out"
    assert left.exists() and reaper.run_dir_stale(left)
    t0 = time.monotonic()
    gone_at: list[float] = []
    with tempfile.TemporaryDirectory(prefix="devbox-transport-") as tmp:
        proc = start_suite(
            f"--results-json={tmp}/r.json",
            "--image",
            suite_fixture_image,
            f"--expectations={FIXTURE_EXPECTATIONS}",
            "tests",
        )
        while proc.poll() is None and not gone_at:
            if name not in containers():
                gone_at.append(time.monotonic())
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert name not in containers(), out
    assert gone_at, "the next run ended with the killed run's container still there"
    # Its watchdog could only have stopped it once the lease was `lease_s` old: it was younger when it went.
    assert age + (gone_at[0] - t0) < lease_s, "gone too late to tell the reaper from the watchdog"
    assert not left.exists(), "the next run removes the killed run's temp dir"


def test_performance_is_measured_per_host(fleet: SshFleet, fleet_contract: Path) -> None:
    # One cheap metric on two nodes: each host gets its own measurement, judged against its own baseline.
    rc, out, doc = suite(
        "--hosts",
        "ssh://node1,ssh://node3",
        f"--ssh-config={fleet.ssh_config}",
        f"--expectations={fleet_contract}",
        "-m",
        "performance",
        "-p",
        "no:xdist",
        "-k",
        "gemm_numpy",
        "--benchmark-disable",
        "tests",
    )
    assert rc == 0, out
    measured = {e["name"]: e for e in doc["items"] if e["outcome"] == "passed"}
    assert set(measured) == {f"test_cpu_figure[ssh://{node}-gemm_numpy]" for node in ("node1", "node3")}, out
    assert all(e["records"].get("performance") for e in measured.values()), measured
