"""`devbox check IMAGE [pytest args]`: the README's first example as a harness command.

No Docker: `--collect-only` of an image that is not there lists the contract without starting anything, and
pytest's own usage error proves the exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from devbox_build import config
from devbox_build.commands import check

LAUNCHER = config.REPO_ROOT / "devbox"


def test_command_is_the_readme_first_example() -> None:
    argv = check.command("img:1", [], python="py", plugin_registered=True)
    assert argv == ["py", "-m", "pytest", "--image", "img:1", "-n", "auto"]


def test_extra_args_pass_through_in_order() -> None:
    extra = ["--expectations", "team/", "--results-json=r.json", "-k", "binary", "team_tests/"]
    argv = check.command("img", extra, python="py", plugin_registered=True)
    assert argv[argv.index("auto") + 1 :] == extra


@pytest.mark.parametrize(
    "extra",
    [["-n", "2"], ["-n2"], ["--numprocesses=4"], ["-p", "no:xdist"], ["--perf"], ["-m", "performance"]],
)
def test_no_workers_added_when_chosen_or_for_performance(extra: list[str]) -> None:
    """Performance tests skip under xdist: `-n auto` beside `--perf` would measure nothing."""
    argv = check.command("img", extra, python="py", plugin_registered=True)
    assert "auto" not in argv and argv[-len(extra) :] == extra


def test_plugin_named_when_not_installed() -> None:
    argv = check.command("img", ["-q"], python="py", plugin_registered=False)
    assert argv[-3:] == ["-p", check.PLUGIN, "-q"]


def test_environment_puts_this_checkouts_suite_first() -> None:
    env = check.environment({"PYTHONPATH": "/elsewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(config.REPO_ROOT / "src"), "/elsewhere"]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # What ./devbox sets: the harness and this checkout's suite, whose tables the harness reads.
    env["PYTHONPATH"] = os.pathsep.join([str(config.REPO_ROOT / "build"), str(config.REPO_ROOT / "src")])
    return subprocess.run(
        [sys.executable, "-m", "devbox_build", "check", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_from_an_empty_directory_collects_the_shipped_contract(tmp_path: Path) -> None:
    res = _run(tmp_path, "devbox-check-absent:1", "--collect-only", "-q", "-k", "test_binary")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [ln for ln in res.stdout.splitlines() if "::" in ln]
    assert lines and all("test_binary[" in ln for ln in lines)
    assert any(ln.startswith("test_binaries.py::test_binary[git]") for ln in lines)


def test_check_exits_with_pytests_status(tmp_path: Path) -> None:
    res = _run(tmp_path, "img", "--no-such-pytest-option")
    assert res.returncode == 4, res.stdout + res.stderr  # pytest's usage error, passed through
    assert "--no-such-pytest-option" in res.stderr


def test_image_must_come_first(tmp_path: Path) -> None:
    res = _run(tmp_path, "--", "-k")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "devbox check: error: IMAGE must come first, got '-k' (devbox check IMAGE [PYTEST_ARGS])"
    ]
