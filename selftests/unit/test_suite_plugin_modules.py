"""The plugin is pytest's face only: its fixtures live in their own module and must still resolve however the
plugin is loaded (the installed wheel's pytest11 entry point, `-p`, each xdist worker). No Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "devbox_conformance"

EXPECTATIONS = {"exp/common": "binaries:\n  - name: sh\n", "exp/amd64": "", "exp/arm64": ""}

# Every fixture the plugin provides, each asserting what it holds: a fixture that resolved to nothing (a skip
# for "no conformance target") or to another plugin's fixture of the same name fails here.
TESTS = """
def test_every_fixture(devbox_host_name, devbox_target, facts, expectations, devbox_gpus_required,
                       results_record, check, host_reached, binary, request):
    assert devbox_target.kind == "local" and devbox_host_name == devbox_target.name
    assert "sh" in facts["binaries"]
    assert [b.name for b in expectations.binaries] == ["sh"] == [binary.name]
    assert devbox_gpus_required is None
    host_reached()
    check("binaries", binary)
    results_record("worker", getattr(request.config, "workerinput", {}).get("workerid", "controller"))
"""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict]:
    pytester.makefile(".yaml", **EXPECTATIONS)
    pytester.makepyfile(test_fixtures=TESTS)
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "--no-contract", "--hosts", "local://", "--expectations=exp", f"--results-json={out}", *args
    )
    return result, json.loads(out.read_text())


@pytest.mark.parametrize(
    "load, workers",
    [([], []), ([], ["-n", "2"]), (["-p", "devbox_conformance.plugin"], ["-n", "2"])],
    ids=["entry-point", "entry-point-xdist", "dash-p-xdist"],
)
def test_fixtures_resolve_however_the_plugin_is_loaded(
    pytester: pytest.Pytester, load: list[str], workers: list[str]
) -> None:
    result, doc = _run(pytester, *load, *workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    (entry,) = doc["items"]
    expected = "controller" if not workers else entry["records"]["worker"]
    assert entry["outcome"] == "passed" and entry["records"]["worker"] == expected
    if workers:
        assert expected.startswith("gw"), "the test ran in the controller, not in an xdist worker"


def test_without_the_plugin_the_fixtures_are_not_there(pytester: pytest.Pytester) -> None:
    """The test above can fail: with the entry point blocked, no fixture of the suite exists."""
    pytester.makepyfile(test_fixtures=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:devbox_conformance.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'devbox_host_name' not found*"])


def test_the_fixtures_are_listed_from_their_module(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert result.ret == 0, text
    assert "fixtures defined from devbox_conformance.fixtures" in text
    for name in ("devbox_host_name", "devbox_target", "facts", "expectations", "check", "host_reached"):
        assert f"\n{name}" in text, name


def test_the_plugin_stays_thin() -> None:
    """pytest's face under 250 lines; each module of the run's lifecycle under 400."""
    assert len((PACKAGE / "plugin.py").read_text().splitlines()) < 250
    parts = ("options", "lifecycle", "outputs", "collection", "fixtures", "terminal", "runview")
    sizes = {name: len((PACKAGE / f"{name}.py").read_text().splitlines()) for name in parts}
    assert max(sizes.values()) < 400, sizes
