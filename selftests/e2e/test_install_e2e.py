"""Installed from the wheel, on a stock Debian with its own python3, in an empty directory.

The container is the Debian bookworm stand-in base (debootstrap's root file system plus python3-venv), with
Debian's EXTERNALLY-MANAGED marker put back where the python3.11 package ships it, so `pip install`
outside a virtual environment is refused as on a fresh Debian 12. The suite reaches the host's engine
through its socket and Debian's docker client, both mounted read-only for the run; the real image is
checked from an empty directory with the contract that came in the wheel, then a team's overlay that
`extends:` it catches a defect only it names.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, standin_base

pytestmark = pytest.mark.e2e

# As Debian's python3.11 package ships it (the wording of the first line is Debian's own).
EXTERNALLY_MANAGED = (
    "[externally-managed]\nError=To install Python packages system-wide, try apt install\n"
    " python3-xyz, where xyz is the package you are trying to\n install.\n"
)
TEAM_COMMON = "extends: gpu-devbox\nfiles:\n  - path: /usr/share/doc/bash/copyright\n    type: file\n"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The project's wheel and every dependency's, made here: the container installs with --no-index."""
    out = tmp_path_factory.mktemp("wheelhouse")
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for leftover in ("lib", "bdist.linux-x86_64", "bdist.linux-aarch64"):
            shutil.rmtree(REPO / "build" / leftover, ignore_errors=True)
    wheel = next(out.glob("gpu_devbox-*.whl"))
    deps = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(out), str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert deps.returncode == 0, deps.stderr[-3000:]
    yield out
    shutil.rmtree(out, ignore_errors=True)


def _in_debian(wheelhouse: Path, work: Path, script: str) -> subprocess.CompletedProcess[str]:
    base = standin_base("amd64")
    return subprocess.run(
        [
            DOCKER,
            "run",
            "--rm",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            f"{DOCKER}:/usr/bin/docker:ro",
            "-v",
            f"{wheelhouse}:/wheels:ro",
            "-v",
            f"{work}:/work",
            "--entrypoint",
            "",
            base,
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_wheel_on_stock_debian_runs_the_shipped_contract(
    wheelhouse: Path, devbox_amd64: str, derive_image, tmp_path: Path
) -> None:
    defect = derive_image("team-defect", ["RUN rm -f /usr/share/doc/bash/copyright"], base=devbox_amd64)
    work = tmp_path / "work"
    (work / "team").mkdir(parents=True)
    (work / "team" / "common.yaml").write_text(TEAM_COMMON)
    script = f"""
        py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        printf '%s' {json.dumps(EXTERNALLY_MANAGED)} > /usr/lib/python$py/EXTERNALLY-MANAGED
        if python3 -m pip install --no-index --find-links /wheels gpu-devbox >/work/system-pip.txt 2>&1; then
            echo 'system pip was not refused'; exit 3
        fi
        # The Python part of the set-up: a venv of the distribution's python3, the wheel into it.
        python3 -m venv /opt/devbox
        /opt/devbox/bin/pip install -q --no-index --find-links /wheels gpu-devbox
        mkdir /empty && cd /empty
        set +e
        /opt/devbox/bin/python -m pytest -p no:cacheprovider --image {devbox_amd64} \\
            --results-json /work/full.json -q > /work/full.txt 2>&1
        echo "full=$?" >> /work/rc.txt
        /opt/devbox/bin/python -m pytest -p no:cacheprovider --image {defect} --expectations /work/team \\
            --results-json /work/team.json -q > /work/team.txt 2>&1
        echo "team=$?" >> /work/rc.txt
        ls -A /empty > /work/left.txt
    """
    proc = _in_debian(wheelhouse, work, script)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "externally-managed-environment" in (work / "system-pip.txt").read_text()
    rcs = dict(line.split("=") for line in (work / "rc.txt").read_text().split())
    full = json.loads((work / "full.json").read_text())
    assert rcs["full"] == "0", (work / "full.txt").read_text()[-4000:]
    assert full["totals"]["passed"] >= 250 and full["totals"]["failed"] == 0, full["totals"]
    assert full["expectations_dir"].endswith("devbox_conformance/default_expectations")
    team = json.loads((work / "team.json").read_text())
    failed = {e["name"] for e in team["items"] if e["outcome"] in ("failed", "error")}
    assert rcs["team"] == "1" and failed == {"test_file[/usr/share/doc/bash/copyright]"}, (
        work / "team.txt"
    ).read_text()[-4000:]
    assert team["totals"]["passed"] >= 250
    # pytest-benchmark makes its storage folder (.benchmarks) in the rootdir; nothing else may be left.
    left = set((work / "left.txt").read_text().split()) - {".benchmarks"}
    assert not left, f"the run left {sorted(left)} in the empty directory"
