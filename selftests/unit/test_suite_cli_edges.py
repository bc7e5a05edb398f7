"""The run's edges: both spellings of every option from any directory, no target, --perf under xdist, the
figure lines, and the help that names every option spelling and environment variable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devbox_conformance import cli_args
from devbox_conformance.performance import conclude

pytest_plugins = ["pytester"]

SRC = Path(__file__).resolve().parents[2] / "src" / "devbox_conformance"

# Records where pytest put the rootdir and what it would collect, whatever the run does after.
PROBE = """
import json, pathlib

def pytest_configure(config):
    seen = {"rootdir": str(config.rootpath), "inifile": str(config.inipath), "args": list(config.args)}
    (pathlib.Path(__file__).parent / "seen.json").write_text(json.dumps(seen))
"""


def test_rewrite_joins_only_the_named_options_and_stops_at_double_dash() -> None:
    args = ["--expectations", "../x", "-q", "--hosts", "a", "--", "--expectations", "y"]
    assert cli_args.rewrite(args, {"--expectations", "--hosts"}) == [
        "--expectations=../x",
        "-q",
        "--hosts=a",
        "--",
        "--expectations",
        "y",
    ]


def test_only_existing_paths_count_as_misread(tmp_path: Path) -> None:
    (tmp_path / "there").mkdir()
    names = {"--expectations", "--image"}
    assert cli_args.misread(["--expectations", "there", "--image", "nope:1"], names, tmp_path) == [
        "--expectations there"
    ]


@pytest.mark.parametrize(
    "option",
    ["--ssh-config", "--ansible-inventory", "--results-json", "--expectations", "--html", "--waivers"],
)
def test_a_spaced_path_outside_the_tree_keeps_the_rootdir(pytester: pytest.Pytester, option: str) -> None:
    outside = pytester.path.parent / f"outside-{option.strip('-')}"
    outside.mkdir(exist_ok=True)
    target = outside / "thing"
    target.write_text("")
    project = pytester.path
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = checks\n")
    (project / "checks").mkdir()
    (project / "checks" / "test_a.py").write_text("def test_a():\n    pass\n")
    pytester.makepyfile(probe_root=PROBE)
    seen = {}
    for spelling in ([option, str(target)], [f"{option}={target}"]):
        pytester.runpytest_subprocess("-p", "probe_root", "--collect-only", "-q", *spelling)
        seen[spelling[0]] = json.loads((project / "seen.json").read_text())
        (project / "seen.json").unlink()
    spaced, joined = seen[option], seen[f"{option}={target}"]
    assert joined["rootdir"] == str(project) and joined["inifile"] == str(project / "pytest.ini")
    assert spaced == joined


def test_a_spaced_output_path_that_does_not_exist_yet_is_respelled(pytester: pytest.Pytester) -> None:
    """The run creates `--results-json out/r.json` itself; xdist's workers parse the same arguments after it
    exists, so a spelling that depended on the path not existing yet moved their rootdir (a worker crash)."""
    out = pytester.path.parent / "outside-later" / "r.json"
    pytester.makepyfile(
        probe_args="""
import json, pathlib

def pytest_configure(config):
    args = list(config.invocation_params.args)
    (pathlib.Path(__file__).parent / "args.json").write_text(json.dumps(args))
"""
    )
    pytester.runpytest_subprocess("-p", "probe_args", "--collect-only", "-q", "--results-json", str(out))
    args = json.loads((pytester.path / "args.json").read_text())
    assert f"--results-json={out}" in args and "--results-json" not in args, args


def test_pytest_main_with_a_spaced_path_is_one_line(pytester: pytest.Pytester) -> None:
    """In-process (not this process's command line) the run cannot be respelled: one line, exit 4."""
    outside = pytester.mkdir("team")
    result = pytester.runpytest_inprocess("--expectations", str(outside))
    assert result.ret == 4
    assert f"write --expectations={outside}" in result.stderr.str()


def test_a_suite_option_without_a_target_is_one_line_exit_4_and_a_results_file(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess("--perf", "--results-json", "r.json")
    assert result.ret == 4
    assert [line for line in result.stderr.lines if line.strip()] == [
        line for line in result.stderr.lines if line.startswith("ERROR: no target")
    ]
    document = json.loads((pytester.path / "r.json").read_text())
    assert document["exit_status"] == 4 and document["error"].startswith("no target")


def test_another_projects_run_without_suite_options_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    assert pytester.runpytest_subprocess("-q").ret == 0


def test_perf_under_xdist_is_refused_not_skipped(pytester: pytest.Pytester) -> None:
    """Before: every performance test skipped under -n 2 and the run exited 0 (a green measuring nothing)."""
    result = pytester.runpytest_subprocess(
        "--perf", "-n", "2", "--hosts", "local://", "--results-json=r.json"
    )
    assert result.ret == 4
    assert "--perf with -n N: performance tests run serially" in result.stderr.str()
    assert json.loads((pytester.path / "r.json").read_text())["exit_status"] == 4


def test_figure_lines_say_figure_limit_and_ratio() -> None:
    passed = {
        "metric": "matmul_bf16",
        "unit": "TFLOPS",
        "value": 781.2,
        "lower_limit": 750.0,
        "outcome": "pass",
    }
    assert conclude.figure_line(passed) == "matmul_bf16 781 TFLOPS >= 750 (104 %)"
    slow = {"metric": "login_shell", "unit": "s", "value": 2.0, "upper_limit": 1.5, "outcome": "fail"}
    assert conclude.figure_line(slow) == "login_shell 2 s <= 1.5 (133 %) FAIL"
    free = {"metric": "h2d", "unit": "GB/s", "value": 12.5, "outcome": "unjudged"}
    assert conclude.figure_line(free) == "h2d 12.5 GB/s (no limit: unjudged)"
    entries = [{"host": "n1", "records": {"performance": passed}}, {"host": "n1", "records": {}}]
    assert conclude.figure_lines(entries, named=True) == ["n1: matmul_bf16 781 TFLOPS >= 750 (104 %)"]


def test_every_option_has_the_prefix_and_every_env_var_is_in_the_help(pytester: pytest.Pytester) -> None:
    out = pytester.runpytest_subprocess("--help").stdout.str()
    for name in ("image", "expectations", "results-json", "perf", "waivers", "hosts"):
        assert f"--devbox-{name}" in out
    read = set()
    for path in SRC.rglob("*.py"):
        read |= set(re.findall(r"[\"'](DEVBOX_[A-Z0-9_]+)[\"']", path.read_text()))
    assert read >= {"DEVBOX_CONTAINER_LEASE_S", "DEVBOX_RUN_GROUP", "DEVBOX_TODAY"}
    flat = " ".join(out.split())
    missing = sorted(name for name in read if name not in flat)
    assert not missing, f"environment variables read by the suite but not in --help: {missing}"
    assert "local://" in flat and "ansible://GROUP" in flat
