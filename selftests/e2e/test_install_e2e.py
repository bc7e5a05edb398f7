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
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, standin_base
from readme_blocks import bash_lines, section, yaml_block

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


# The README's quick start, as printed. Read from README.md itself: an edit of the README is what is run.
QUICK_IMAGE = "sytelus/gpu-devbox:latest"  # the README's image, replaced by the loopback registry's copy
QUICK_SECTIONS = (
    "### 1. Check an image from a registry",
    "### 3. Add and remove your team's items",
    "### 5. Read the results",
)


def quick_start_lines(readme: str) -> list[str]:
    """The README's quick-start command lines that can run here, in the README's order.

    Left out, each for its reason: a line naming another registry or platform (no arm64 variant and no
    registry.example here; the same code path as the line before it, collected by test_docs_commands), and
    the node and fleet lines of section 2 (no GPU node or ssh fleet inside this container; collected by
    test_docs_commands, run by the ssh and Slurm e2e tests).
    """
    lines = []
    for heading in QUICK_SECTIONS:
        for line in bash_lines(section(readme, heading)):
            if QUICK_IMAGE in line:
                lines.append(line)
    return lines


def passed(output: str) -> int:
    """The count of passed tests in pytest's last line."""
    found = re.search(r"(\d+) passed", output.strip().splitlines()[-1])
    return int(found.group(1)) if found else 0


def test_the_quick_start_lines_are_found_and_name_the_image() -> None:
    """The extraction is not silently empty: a README without these sections would pass by running nothing."""
    lines = quick_start_lines((REPO / "README.md").read_text())
    assert len(lines) >= 5, lines
    assert any(line.startswith("devbox check ") for line in lines), lines
    assert any("--expectations=team" in line for line in lines), lines
    assert quick_start_lines("# nothing here\n") == []


def test_readme_quick_start_runs_as_printed_from_an_empty_directory(
    wheelhouse: Path, registry, suite_fixture_image: str, tmp_path: Path
) -> None:
    """Each quick-start line runs with the installed wheel, in an empty directory, against an image that is
    only in the loopback registry (pulled by the run). The image is the suite's small fixture image, not the
    devbox: the shipped contract's verdicts on it are red by design; what is checked is that every line runs
    the suite to its end (exit 0 or 1, never a usage error), and that the team file the README prints drops
    and adds what it says."""
    readme = (REPO / "README.md").read_text()
    remote = f"{registry.address}/gpu-devbox-quickstart:latest"
    for argv in (["tag", suite_fixture_image, remote], ["push", "-q", remote], ["rmi", remote]):
        done = subprocess.run([DOCKER, *argv], capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    lines = [line.replace(QUICK_IMAGE, remote) for line in quick_start_lines(readme)]
    team_yaml = yaml_block(section(readme, QUICK_SECTIONS[1]))
    assert team_yaml.startswith("# team/common.yaml\n"), team_yaml[:200]
    work = tmp_path / "work"
    work.mkdir()
    (work / "team_common.yaml").write_text(team_yaml)
    (work / "test_team.py").write_text('def test_team_root(host):\n    assert host.file("/").is_directory\n')
    # The README's `team_tests/`: a team's own testinfra tests, which it presumes the team has; made just
    # before the first line that names it (pytest given no path collects the whole directory).
    team_tests = "mkdir -p team_tests && cp /work/test_team.py team_tests/\n"
    steps = "\n".join(
        (team_tests if "team_tests/" in line else "")
        + f'({line}) > /work/out{i}.txt 2>&1; echo "{i}=$?" >> /work/rc.txt'
        for i, line in enumerate(lines)
    )
    install = next(
        line for line in bash_lines(section(readme, "## What a team does with it")) if "venv" in line
    )
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install gpu_devbox-*.whl"), install
    script = f"""
        mkdir -p /empty/team && cd /empty && cp /work/team_common.yaml team/common.yaml
        cp /wheels/gpu_devbox-*.whl .
        # The README's install line as printed: a .venv in the directory the suite then runs from (pytest
        # skips such a directory: the contract inside it must still run). pip finds the dependencies in
        # the wheelhouse made for this test (no index), then the venv is on PATH as after `activate`.
        export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_QUIET=1
        {install}
        rm gpu_devbox-*.whl
        unset PIP_NO_INDEX PIP_FIND_LINKS PIP_QUIET
        export PATH=/empty/.venv/bin:$PATH
        set +e
        {steps}
        cp -r /empty/out /work/results 2>/dev/null
        true
    """
    try:
        proc = _in_debian(wheelhouse, work, script)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        rcs = dict(line.split("=") for line in (work / "rc.txt").read_text().split())
        outs = [(work / f"out{i}.txt").read_text() for i in range(len(lines))]
        for i, line in enumerate(lines):
            # 0: green, 1: red verdicts; 2-5 would be an interrupted run, a usage error or nothing collected.
            assert rcs[str(i)] in ("0", "1"), f"{line}\n exit {rcs[str(i)]}\n{outs[i][-3000:]}"
            summary = outs[i].strip().splitlines()[-1]
            assert " passed" in summary and " failed" in summary, f"{line}\n{summary}"
        team = next(i for i, line in enumerate(lines) if "--expectations=team" in line)
        assert "test_binary[our-cli]" in outs[team] and "nvtop]" not in outs[team], outs[team][-3000:]
        with_tests = next(i for i, line in enumerate(lines) if "team_tests/" in line)
        # The team's own test ran beside the contract: one more pass than the same line without it.
        assert passed(outs[with_tests]) == passed(outs[team]) + 1, (
            outs[team][-600:],
            outs[with_tests][-600:],
        )
        document = json.loads((work / "results" / "results.json").read_text())
        assert document["hosts"][0]["name"] == f"docker://{remote}", document["hosts"]
        assert (work / "results" / "junit.xml").stat().st_size > 0
    finally:
        subprocess.run([DOCKER, "rmi", "-f", remote], capture_output=True)
