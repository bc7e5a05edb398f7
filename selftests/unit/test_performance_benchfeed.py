"""Figures measured in the target reach pytest-benchmark intact: json, save, compare, compare-fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devbox_conformance.performance.benchfeed import ReplayClock

TEST_FILE = """
from __future__ import annotations
import os
from devbox_conformance.performance.benchfeed import feed
from devbox_conformance.performance.report import Measurement

def test_figure(benchmark):
    scale = float(os.environ.get("FIGURE_SCALE", "1"))
    durations = tuple(d * scale for d in (0.010, 0.011, 0.012))
    m = Measurement(name="shell_bash", unit="s", value=durations[1], spread=0.1, samples=durations,
                    durations_s=durations, how="synthetic")
    feed(benchmark, m, extra_info={"arch": "amd64"})
"""


def test_replay_clock_spaces_readings_by_the_durations() -> None:
    clock = ReplayClock([1.0, 2.0])
    assert [clock() for _ in range(4)] == [0.0, 1.0, 0.0, 2.0]
    with pytest.raises(RuntimeError, match="past its 2 rounds"):
        clock(), clock()
    with pytest.raises(ValueError):
        ReplayClock([])


def _pytest(tmp_path: Path, *args: str, scale: str = "1") -> subprocess.CompletedProcess[str]:
    env = {"FIGURE_SCALE": scale, "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "test_fed.py",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "no:randomly",
            f"--benchmark-storage=file://{tmp_path / 'store'}",
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_in_target_durations_are_what_pytest_benchmark_stores_and_compares(tmp_path: Path) -> None:
    (tmp_path / "test_fed.py").write_text(TEST_FILE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = _pytest(tmp_path, "--benchmark-json=out.json", "--benchmark-save=first")
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    bench = data["benchmarks"][0]
    assert bench["stats"]["data"] == [0.010, 0.011, 0.012]
    assert bench["stats"]["rounds"] == 3 and bench["stats"]["median"] == 0.011
    assert bench["options"]["timer"] == "in_target_replay"
    assert bench["extra_info"]["metric"] == "shell_bash" and bench["extra_info"]["arch"] == "amd64"
    assert list((tmp_path / "store").rglob("0001_first.json"))

    same = _pytest(tmp_path, "--benchmark-compare", "--benchmark-compare-fail=mean:50%")
    assert same.returncode == 0, same.stdout + same.stderr

    slower = _pytest(tmp_path, "--benchmark-compare", "--benchmark-compare-fail=mean:50%", scale="2")
    assert slower.returncode != 0
    assert "Performance has regressed" in slower.stdout + slower.stderr


def test_disabled_benchmarks_still_use_the_fixture(tmp_path: Path) -> None:
    """--benchmark-disable must not leave the "fixture was not used" warning (an error here)."""
    (tmp_path / "test_fed.py").write_text(TEST_FILE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    out = _pytest(tmp_path, "--benchmark-disable")
    assert out.returncode == 0, out.stdout + out.stderr
