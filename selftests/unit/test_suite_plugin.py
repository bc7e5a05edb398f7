"""The plugin through pytester, on the local target (no Docker): fixtures, results JSON, xdist hand-off."""

from __future__ import annotations

import json

import pytest
from plugin_runs import lay_out_suite, run_plugin

pytest_plugins = ["pytester"]

EXPECTATIONS = {
    "exp/common.yaml": "binaries:\n  - name: sh\n  - name: devbox-surely-absent-tool\n    optional: true\n"
    "    reason: only in some builds\nenv:\n  - name: PATH\n    regex: '.*/bin.*'\n",
    "exp/amd64.yaml": "",
    "exp/arm64.yaml": "",
}

TESTS = """
def test_binary(binary, check):
    check("binaries", binary)


def test_env(env_var, check):
    check("env", env_var)


def test_interface(devbox_target, facts, expectations, results_record):
    result = devbox_target.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\\n", "err\\n")
    assert devbox_target.spec == "local://" and devbox_target.has_timeout
    assert devbox_target.run_python("import sys; print(sys.argv[1])", ["x"], timeout=10).stdout == "x\\n"
    assert devbox_target.kind == "local" and devbox_target.image_attrs is None
    assert devbox_target.arch in ("amd64", "arm64")
    assert "sh" in facts["binaries"]
    assert [b.name for b in expectations.binaries] == ["sh", "devbox-surely-absent-tool"]
    results_record("answer", {"value": 42})
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return lay_out_suite(pytester, EXPECTATIONS, TESTS)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_local_run_with_results_json(suite: pytest.Pytester, xdist: list[str]) -> None:
    out = suite.path / "results.json"
    result = run_plugin(
        suite, "--no-contract", "--hosts", "local://", "--expectations=exp", f"--results-json={out}", *xdist
    )
    result.assert_outcomes(passed=3, skipped=1)
    doc = json.loads(out.read_text())
    assert doc["target_kind"] == "local" and doc["image"] is None
    assert doc["counts"]["binaries"] == {"passed": 1, "failed": 0, "skipped": 1, "error": 0, "waived": 0}
    items = {e["name"]: e for e in doc["items"]}
    assert items["test_interface"]["records"] == {"answer": {"value": 42}}
    absent = items["test_binary[devbox-surely-absent-tool]"]
    assert absent["message"] == "optional, absent: only in some builds"


def test_other_projects_tests_are_left_alone(pytester: pytest.Pytester) -> None:
    """Installed as an entry point, the plugin must not parametrize or deselect another project's tests
    whose arguments happen to share a kind's name."""
    pytester.makepyfile(
        test_other="""
import pytest

@pytest.mark.parametrize("image_config", ["a", "b"])
def test_theirs(image_config):
    assert image_config in ("a", "b")
"""
    )
    result = pytester.runpytest("-p", "devbox_conformance.plugin")
    result.assert_outcomes(passed=2)


def test_n_auto_runs_a_conformance_run_in_process_and_leaves_other_runs_to_xdist(
    suite: pytest.Pytester,
) -> None:
    """Every fact comes from the controller's one probe, so `-n auto` starts no workers for the suite;
    an explicit `-n 2` still does, and another project's `-n auto` still gets xdist's CPU count."""
    common = ("--no-contract", "--expectations=exp")
    auto = run_plugin(suite, *common, "--hosts", "local://", "-n", "auto")
    auto.assert_outcomes(passed=3, skipped=1)
    assert "created: " not in auto.stdout.str()
    two = run_plugin(suite, *common, "--hosts", "local://", "-n", "2")
    two.assert_outcomes(passed=3, skipped=1)
    assert "created: 2/2 workers" in two.stdout.str()
    other = run_plugin(suite, "--no-contract", "-n", "auto", "-k", "nothing_matches")
    assert "created: " in other.stdout.str()
