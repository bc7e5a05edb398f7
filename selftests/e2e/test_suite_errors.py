# ruff: noqa: E501 - tables of exact expected messages read better unwrapped
"""Bad input through the real command line: ONE line, exit != 0, no traceback; and Ctrl-C cleans up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from devbox_e2e import slow_contract
from suite_runs import start_suite, suite_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BASE = "gpu-devbox-base:bookworm-amd64"
LABEL = "io.github.gpu-devbox.conformance"


def docker() -> str:
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    __tracebackhide__ = True
    text = proc.stdout + proc.stderr
    assert proc.returncode not in (0, 1), text  # 1 would be "tests failed"
    assert "Traceback" not in text and "INTERNALERROR" not in text, text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return lines[0]


def containers_with_label(ancestor: str | None = None) -> list[str]:
    """Containers the suite labelled (of one image, when given: other sessions may be running the suite)."""
    flt = ["--filter", f"label={LABEL}"] + (["--filter", f"ancestor={ancestor}"] if ancestor else [])
    out = subprocess.run([docker(), "ps", "-aq", *flt], capture_output=True, text=True).stdout
    return out.split()


@pytest.fixture
def expectations_dir(tmp_path: Path):
    def make(common: str, overlays: dict[str, str] | None = None) -> Path:
        (tmp_path / "common.yaml").write_text(common)
        for name, text in (overlays if overlays is not None else {"amd64.yaml": ""}).items():
            (tmp_path / name).write_text(text)
        return tmp_path

    return make


@pytest.mark.parametrize(
    "common, expected",
    [
        (
            "binaries:\n  - name: rg\n    versoin: '>=1'\n",
            "common.yaml:3: binaries[0].versoin: unknown key 'versoin' (did you mean 'version'?)",
        ),
        ("binaries:\n  - name: rg\n   x: 1\n", "common.yaml:3: malformed YAML:"),
        (
            "binaries:\n  - name: 7\n",
            "common.yaml:2: binaries[0].name: wrong type: expected string, got integer (7)",
        ),
        (
            "binaries:\n  - name: rg\n    version: '=>13'\n",
            "common.yaml:3: binaries[0].version: invalid version spec",
        ),
        ("# nothing\n", "common.yaml:1: (top level): empty expectations"),
    ],
)
def test_bad_expectations(expectations_dir, common: str, expected: str) -> None:
    d = expectations_dir(common)
    # `--expectations=DIR` as one token: pytest picks its rootdir from path-like arguments before plugins load
    line = one_error_line(suite_cli("--image", BASE, f"--expectations={d}"))
    assert line.startswith("ERROR: ") and expected in line, line


def test_image_arch_without_overlay(expectations_dir) -> None:
    d = expectations_dir("env:\n  - name: A\n", {"arm64.yaml": ""})
    line = one_error_line(suite_cli("--image", BASE, f"--expectations={d}"))
    assert line == f"ERROR: {d}/amd64.yaml: no overlay for arch 'amd64' (overlays: arm64)"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--arch", "sparc"], "ERROR: --arch sparc: unknown arch (expected one of amd64, arm64)"),
        (
            ["--image", "x", "--container", "y"],
            "ERROR: --image and --container both given: pick exactly one target",
        ),
        (
            [],
            "ERROR: no target: pass --image IMAGE, --container NAME or --hosts SPEC[,SPEC…] (local://, ssh://node, "
            "ansible://group …)",
        ),
        (
            ["--image", "devbox-no-such-image:nope", "--pull", "never"],
            "ERROR: image 'devbox-no-such-image:nope' not found in the local docker engine (--pull never)",
        ),
        (["--hosts", "nosuch://box"], "ERROR: --hosts nosuch://box: Unknown connection type 'nosuch'"),
    ],
)
def test_bad_options(args: list[str], expected: str) -> None:
    extra = ["--image", BASE] if args[:1] == ["--arch"] else []
    assert one_error_line(suite_cli("tests", *extra, *args)) == expected


def test_unreachable_single_host() -> None:
    # A name that cannot resolve (.invalid is reserved): with one host, its one line stops the run.
    line = one_error_line(suite_cli("tests", "--hosts", "ssh://devbox-no-such-host.invalid"))
    assert line.startswith("ERROR: cannot reach ssh://devbox-no-such-host.invalid: ssh: Could not resolve"), (
        line
    )


def test_daemon_down() -> None:
    line = one_error_line(suite_cli("--image", BASE, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}))
    assert line.startswith("ERROR: cannot reach the Docker engine (") and "is dockerd running" in line


def test_target_without_python(derive_image) -> None:
    image = derive_image("no-python", ["RUN rm -f /usr/bin/python3 /usr/bin/python3.11"])
    line = one_error_line(suite_cli("--image", image))
    assert line.startswith("ERROR: no python3 in devbox-conformance-") and "the probe needs python3" in line
    assert not containers_with_label(image)


@pytest.fixture
def slow_expectations(tmp_path: Path) -> Path:
    """The fixture's contract plus one binary whose version run takes 30 s: the probe is still under way
    when the signal arrives, however fast the rest of the run has become."""
    return slow_contract(tmp_path / "expectations", 30)


def start_and_await_container(
    image: str, expectations: Path, *extra: str
) -> tuple[subprocess.Popen[str], set[str]]:
    """The suite on `image` in a child process, and the containers it started (waits until there is one)."""
    before = set(containers_with_label(image))
    # A shell that starts this run in the background without job control leaves SIGINT ignored, and a child
    # would inherit that: give the suite the disposition a terminal user's pytest has.
    proc = start_suite(
        "--image",
        image,
        f"--expectations={expectations}",
        *extra,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    started: set[str] = set()
    while time.monotonic() < deadline and not started and proc.poll() is None:
        started = set(containers_with_label(image)) - before
        time.sleep(0.2)
    return proc, started


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_ctrl_c_removes_the_container(
    suite_fixture_image: str, slow_expectations: Path, xdist: list[str]
) -> None:
    proc, started = start_and_await_container(suite_fixture_image, slow_expectations, *xdist)
    assert started, "the suite never started its container"
    time.sleep(2)  # mid-run: the probe is under way (the slow version run), tests wait for it
    assert proc.poll() is None, "the run ended before the signal"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    assert not set(containers_with_label(suite_fixture_image)) & started, out


def test_sigterm_removes_the_container(suite_fixture_image: str, slow_expectations: Path) -> None:
    proc, started = start_and_await_container(suite_fixture_image, slow_expectations)
    assert started
    proc.terminate()
    out, _ = proc.communicate(timeout=120)
    assert not set(containers_with_label(suite_fixture_image)) & started, out


# ---------------------------------------------------------------------------------------------------
# Results files never lie: a green run's files are replaced by those of a later run stopped at start-up.


@pytest.mark.parametrize(
    "failing, expected",
    [
        (
            ["--image", "devbox-no-such-image:nope", "--pull", "never"],
            "image 'devbox-no-such-image:nope' not found in the local docker engine (--pull never)",
        ),
        (["--hosts", "ssh://nobody@127.0.0.1:1"], "cannot reach ssh://nobody@127.0.0.1:1: "),
    ],
    ids=["missing-image", "unreachable-host"],
)
def test_a_start_up_failure_replaces_a_green_results_file(
    expectations_dir, tmp_path: Path, failing: list[str], expected: str
) -> None:
    d = expectations_dir("binaries:\n  - name: sh\n")
    out = tmp_path / "out"
    files = [f"--results-json={out / 'r.json'}", f"--junitxml={out / 'junit.xml'}"]
    green = suite_cli("tests", "--hosts", "local://", f"--expectations={d}", *files)
    assert green.returncode == 0, green.stdout + green.stderr
    assert json.loads((out / "r.json").read_text())["totals"]["passed"] == 1
    line = one_error_line(suite_cli("tests", *failing, f"--expectations={d}", *files))
    assert line.startswith("ERROR: ") and expected in line, line
    doc = json.loads((out / "r.json").read_text())
    assert doc["exit_status"] == 4 and doc["error"] == line.removeprefix("ERROR: "), doc
    assert doc["items"] == [] and doc["totals"] == {
        "passed": 0,
        "failed": 0,
        "skipped": 0,
        "error": 0,
        "waived": 0,
    }
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("errors"), suite.get("tests")) == ("1", "1")
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "r.json"]  # no temp file left beside


# ---------------------------------------------------------------------------------------------------
# Asked for but absent is red: a pinned GPU count, or --gpus all, on a target without GPUs fails; nothing
# asked, the GPU items skip. The emulated GPUs (selftests/fixtures/emulated_gpu) prove the pass side.

GPU_CONTRACT = "gpu:\n  - name: count\n    count: 8\n  - name: matmul\n    when: {gpu: true}\n"
EMULATION = REPO / "selftests" / "fixtures" / "emulated_gpu"


def gpu_run(d: Path, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> dict[str, dict]:
    out = tmp_path / "gpu.json"
    proc = suite_cli(
        "tests",
        "--hosts",
        "local://",
        "--base-kind=standin",
        f"--expectations={d}",
        f"--results-json={out}",
        *extra,
        env=env,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    return {e["key"]: e for e in doc["items"] if e["kind"] == "gpu"}


def test_gpus_asked_for_and_absent_fail_and_nothing_asked_skips(expectations_dir, tmp_path: Path) -> None:
    if shutil.which("nvidia-smi") or Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU; the case is about a target without one")
    d = expectations_dir(GPU_CONTRACT)
    plain = gpu_run(d, tmp_path)
    assert {k: e["outcome"] for k, e in plain.items()} == {"count": "failed", "matmul": "skipped"}, plain
    assert "GPUs were asked for (count: 8 at " in plain["count"]["message"]
    assert "and none is visible: " in plain["count"]["message"]
    assert plain["matmul"]["message"] == "when: gpu is true, but the target has no GPU visible"
    asked = gpu_run(d, tmp_path, "--gpus", "all")
    assert {k: e["outcome"] for k, e in asked.items()} == {"count": "failed", "matmul": "failed"}, asked
    for entry in asked.values():
        assert "GPUs were asked for (--gpus all) and none is visible: " in entry["message"], entry


def test_gpus_all_passes_where_the_gpus_are(expectations_dir, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    d = expectations_dir(GPU_CONTRACT)
    path = os.pathsep.join([str(EMULATION / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {"PATH": path, "PYTHONPATH": str(EMULATION), "DEVBOX_EMU_GPUS": "8"}
    items = gpu_run(d, tmp_path, "--gpus", "all", env=env)
    assert {k: e["outcome"] for k, e in items.items()} == {"count": "passed", "matmul": "passed"}, items
