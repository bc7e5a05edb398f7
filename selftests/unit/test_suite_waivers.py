"""Waivers: a one-defect local run (pytester, no Docker) with a waiver that is valid, expired, stale, out of
scope or malformed; and the file format on its own.

The point of each test is the input that would be a false green: a waiver must never turn a pass into
anything, never hide a failure it does not cover, and never outlive its date.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
from pathlib import Path

import pytest
from plugin_runs import lay_out_suite, run_plugin

from devbox_conformance import waivers as wv

pytest_plugins = ["pytester"]

DEFECT = "test_binary[devbox-surely-absent-tool]"
EXPECTATIONS = {
    "exp/common.yaml": "binaries:\n  - name: sh\n  - name: devbox-surely-absent-tool\n",
    "exp/amd64.yaml": "",
    "exp/arm64.yaml": "",
}
TESTS = """
def test_binary(binary, check):
    check("binaries", binary)
"""
WAIVER = (
    "waivers:\n"
    f"  - id: {DEFECT}\n"
    "    justification: not packaged for this base yet (TICKET-1)\n"
    "    expires: 2027-01-31\n"
)
THIS_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
OTHER_ARCH = "arm64" if THIS_ARCH == "amd64" else "amd64"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    return lay_out_suite(pytester, EXPECTATIONS, TESTS)


def run(suite: pytest.Pytester, today: str, *args: str) -> tuple[pytest.RunResult, dict]:
    out = suite.path / "results.json"
    with pytest.MonkeyPatch.context() as env:  # the fixed clock, for the run's own process
        env.setenv(wv.TODAY_ENV, today)
        result = run_plugin(
            suite,
            "--no-contract",
            "--hosts",
            "local://",
            "--expectations=exp",
            f"--results-json={out}",
            *args,
        )
    doc = json.loads(out.read_text()) if out.is_file() else {}
    return result, doc


def items(doc: dict) -> dict[str, dict]:
    return {e["name"]: e for e in doc["items"]}


def test_without_a_waiver_the_defect_fails(suite: pytest.Pytester) -> None:
    result, doc = run(suite, "2026-06-01")
    assert result.ret == 1
    assert items(doc)[DEFECT]["outcome"] == "failed" and "waiver" not in items(doc)[DEFECT]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_valid_waiver_makes_the_failure_waived_visible_and_counted_apart(
    suite: pytest.Pytester, xdist: list[str]
) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER)
    result, doc = run(suite, "2027-01-31", *xdist)  # the expiry day itself is still covered
    assert result.ret == 0
    result.assert_outcomes(passed=1, xfailed=1)  # pytest counts it xfailed, never passed
    out = result.stdout.str()
    assert "devbox: 1 passed, 0 failed, 0 skipped, 0 error, 1 waived" in out
    assert (
        f"devbox: WAIVED {DEFECT} until 2027-01-31 (exp/waivers.yaml:2): not packaged for this base yet "
        "(TICKET-1)" in out
    )
    entry = items(doc)[DEFECT]
    assert entry["outcome"] == "waived"
    assert entry["waiver"]["justification"] == "not packaged for this base yet (TICKET-1)"
    assert entry["waiver"]["expires"] == "2027-01-31" and entry["waiver"]["status"] == "waived"
    assert "not on PATH" in entry["message"]  # the failure it covers is kept, not hidden
    assert doc["totals"] == {"passed": 1, "failed": 0, "skipped": 0, "error": 0, "waived": 1}
    assert doc["hosts"][0]["totals"]["waived"] == 1 and doc["stale_waivers"] == []


def test_a_waiver_is_listed_even_with_quiet(suite: pytest.Pytester) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER)
    result, _ = run(suite, "2026-06-01", "-q")
    assert f"devbox: WAIVED {DEFECT} until 2027-01-31" in result.stdout.str()


def test_after_its_date_the_waiver_is_a_failure_that_says_it_expired(suite: pytest.Pytester) -> None:
    """False green before: none (waivers are new); the input is the same run one day later."""
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER)
    result, doc = run(suite, "2027-02-01", "-n", "2")
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "waiver expired on 2027-01-31 (exp/waivers.yaml:2: not packaged for this base yet" in out
    assert "found:    not on PATH" in out  # and the original failure
    entry = items(doc)[DEFECT]
    assert entry["outcome"] == "failed" and entry["waiver"]["status"] == "expired"
    assert entry["message"].startswith("waiver expired on 2027-01-31") and "not on PATH" in entry["message"]
    assert doc["totals"]["waived"] == 0 and doc["totals"]["failed"] == 1
    assert f"devbox: EXPIRED waiver {DEFECT}: expired on 2027-01-31" in out


def test_a_waiver_never_turns_a_pass_into_anything_and_is_stale(suite: pytest.Pytester) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(
        WAIVER + "  - id: test_binary[sh]\n    justification: sh is flaky\n    expires: 2027-01-31\n"
        "  - id: test_binary[no-such-tool]\n    justification: typo in the id\n    expires: 2027-01-31\n"
    )
    result, doc = run(suite, "2026-06-01")
    assert result.ret == 0  # stale is a warning without --strict-waivers
    result.assert_outcomes(passed=1, xfailed=1)
    assert (
        items(doc)["test_binary[sh]"]["outcome"] == "passed" and "waiver" not in items(doc)["test_binary[sh]"]
    )
    out = result.stdout.str()
    assert (
        "devbox: warning: stale waiver test_binary[sh] (exp/waivers.yaml:5): its test passed "
        "(a waiver covers failures only)" in out
    )
    assert (
        "devbox: warning: stale waiver test_binary[no-such-tool] (exp/waivers.yaml:8): "
        "no test of this run has this id" in out
    )
    assert [(w["id"], w["source"]) for w in doc["stale_waivers"]] == [
        ("test_binary[sh]", "exp/waivers.yaml:5"),
        ("test_binary[no-such-tool]", "exp/waivers.yaml:8"),
    ]


def test_strict_waivers_makes_a_stale_waiver_fail_the_run(suite: pytest.Pytester) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(
        WAIVER + "  - id: test_nothing\n    justification: gone\n    expires: 2027-01-31\n"
    )
    result, doc = run(suite, "2026-06-01", "--strict-waivers")
    assert result.ret == 1 and doc["exit_status"] == 1
    assert "devbox: FAILED: 1 stale waiver(s) and --strict-waivers" in result.stdout.str()


def test_a_waiver_scoped_to_another_arch_does_not_apply(suite: pytest.Pytester) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER + f"    scope: {{arch: {OTHER_ARCH}}}\n")
    result, doc = run(suite, "2026-06-01")
    assert result.ret == 1
    assert items(doc)[DEFECT]["outcome"] == "failed" and "waiver" not in items(doc)[DEFECT]
    assert f"({DEFECT}" not in result.stdout.str()
    assert (
        f"devbox: waiver {DEFECT} (exp/waivers.yaml:2) not applied: out of scope on every host of this run"
        in result.stdout.str()
    )
    assert doc["stale_waivers"] == [] and doc["unapplied_waivers"][0]["scope"] == {"arch": [OTHER_ARCH]}


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        (f"{{arch: [{THIS_ARCH}]}}", True),
        ("{gpu: NVIDIA H200}", False),  # no GPU on this host: a GPU scope never holds
        ("{image: 'sha256:" + "0" * 64 + "'}", False),  # a local host has no image
    ],
)
def test_scopes_on_the_local_host(suite: pytest.Pytester, scope: str, applies: bool) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER + f"    scope: {scope}\n")
    result, doc = run(suite, "2026-06-01")
    assert result.ret == (0 if applies else 1)
    assert items(doc)[DEFECT]["outcome"] == ("waived" if applies else "failed")


def test_a_waiver_for_another_host_does_not_apply(suite: pytest.Pytester) -> None:
    (suite.path / "exp" / "waivers.yaml").write_text(WAIVER + "    host: ssh://node1\n")
    result, doc = run(suite, "2026-06-01")
    assert result.ret == 1 and items(doc)[DEFECT]["outcome"] == "failed"
    assert doc["unapplied_waivers"][0]["why"] == "no host ssh://node1 in this run"


def test_waivers_option_and_a_bad_file_is_one_line(suite: pytest.Pytester) -> None:
    bad = suite.path / "team-waivers.yaml"
    bad.write_text(f"waivers:\n  - id: {DEFECT}\n    expires: 2027-01-31\n")
    result, doc = run(suite, "2026-06-01", "--waivers", str(bad))
    assert result.ret == 4
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    # named as the user sees it from where pytest runs
    assert errors == ["ERROR: team-waivers.yaml:2: waivers[0]: 'justification' is required"], (
        result.stderr.lines
    )
    assert "Traceback" not in result.stderr.str() and doc["exit_status"] == 4


def test_the_waivers_option_applies_a_file_elsewhere(suite: pytest.Pytester) -> None:
    (suite.path / "team-waivers.yaml").write_text(WAIVER)
    result, doc = run(suite, "2026-06-01", "--waivers", "team-waivers.yaml")
    assert result.ret == 0 and items(doc)[DEFECT]["outcome"] == "waived"


def test_a_bad_clock_is_one_line(suite: pytest.Pytester) -> None:
    result, _ = run(suite, "31/01/2027")
    assert result.ret == 4
    assert "ERROR: DEVBOX_TODAY='31/01/2027': expected a date YYYY-MM-DD" in result.stderr.str()


# --- the file format alone -------------------------------------------------------------------------------


HEAD = "waivers:\n  - id: t\n"
GOOD = HEAD + "    justification: x\n    expires: 2027-01-01\n"
BAD_FILES = [
    (
        HEAD + "    justification: ''\n    expires: 2027-01-01\n",
        "3: waivers[0].justification: must not be empty",
    ),
    (
        HEAD + "    justification: '  '\n    expires: 2027-01-01\n",
        "3: waivers[0].justification: must say why",
    ),
    (HEAD + "    justification: x\n", "2: waivers[0]: 'expires' is required"),
    (HEAD + "    expires: 2027-01-01\n", "2: waivers[0]: 'justification' is required"),
    (
        HEAD + "    justification: x\n    expires: 2027-02-30\n",
        "4: waivers[0].expires: not a date: '2027-02-30'",
    ),
    (
        HEAD + "    justification: x\n    expires: next year\n",
        "4: waivers[0].expires: expected a date YYYY-MM-DD, got 'next year'",
    ),
    (
        GOOD + "    expiry: 2027-01-01\n",
        "5: waivers[0].expiry: unknown key 'expiry' (did you mean 'expires'?)",
    ),
    (GOOD + "    scope: {arch: amd46}\n", "5: waivers[0].scope.arch"),
    (GOOD + "    scope: {image: abc}\n", "5: waivers[0].scope.image"),
    (GOOD + "    scope: {}\n", "5: waivers[0].scope"),
    (HEAD + "    id: u\n", "3: duplicate key 'id'"),
    ("waivers: [\n", "malformed YAML"),
    ("- id: t\n", "1: (top level): expected a mapping"),
    (
        GOOD + "  - id: t\n    justification: y\n    expires: 2028-01-01\n",
        "5: waivers[1]: duplicate waiver t (first at",
    ),
    (
        GOOD.replace("id: t", "id: apt[libfoo]") + "    scope: {arch: amd64}\n",
        "2: waivers[0]: apt[libfoo]: a release-gate waiver takes no host or scope",
    ),
]


@pytest.mark.parametrize(("text", "line"), BAD_FILES)
def test_a_bad_waivers_file_is_one_line_naming_file_and_line(tmp_path: Path, text: str, line: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    with pytest.raises(wv.WaiverError) as info:
        wv.load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    assert line in message, message


def test_the_schema_file_is_the_schema_the_loader_uses() -> None:
    assert json.loads(wv.SCHEMA_PATH.read_text()) == wv.schema()


def test_choose_prefers_a_valid_waiver_and_an_expired_one_never_waives() -> None:
    def w(expires: str, **kw: object) -> wv.Waiver:
        return wv.Waiver(
            id="t[x]", justification="j", expires=dt.date.fromisoformat(expires), source="f:1", **kw
        )

    here = wv.Scope(arch="amd64")
    old, new = w("2026-01-01"), w("2027-01-01", arch=("amd64",))
    assert wv.choose([old, new], ["t[x]"], "h", here, dt.date(2026, 6, 1)) is new
    assert wv.choose([old, new], ["t[x]"], "h", here, dt.date(2027, 1, 2)).expired(dt.date(2027, 1, 2))
    assert wv.choose([new], ["t[x]"], "h", wv.Scope(arch="arm64"), dt.date(2026, 6, 1)) is None
    assert wv.choose([w("2027-01-01", host="h2")], ["t[x]"], "h", here, dt.date(2026, 6, 1)) is None
    gate = wv.Waiver(id="apt[t]", justification="j", expires=dt.date(2027, 1, 1), source="f:1")
    assert wv.choose([gate], ["apt[t]"], "h", here, dt.date(2026, 6, 1)) is None


def test_scope_facts_come_from_gpu_node_and_image_facts() -> None:
    digest = "sha256:" + "a" * 64
    facts = {
        "gpu_facts": {"smi": {"gpus": [{"index": "0", "name": "NVIDIA H200"}]}},
        "node_facts": {"base": {"gpus": [{"index": "1", "name": "NVIDIA H100 80GB HBM3"}]}},
    }
    scope = wv.scope_of("amd64", {"Id": "sha256:" + "b" * 64, "RepoDigests": [f"reg/x@{digest}"]}, facts)
    assert scope.gpus == ("NVIDIA H200", "NVIDIA H100 80GB HBM3")
    assert digest in scope.images and "sha256:" + "b" * 64 in scope.images
    assert wv.scope_of(None, None, {"gpu_facts": {"smi": None}}) == wv.Scope()


def test_id_spellings_of_a_multi_host_test() -> None:
    assert wv.id_spellings("test_binary[ssh://n1-nvtop]", "nvtop", False) == (
        "test_binary[ssh://n1-nvtop]",
        "test_binary[nvtop]",
    )
    assert wv.id_spellings("test_x[ssh://n1]", None, True) == ("test_x[ssh://n1]", "test_x")


def test_today_reads_the_clock_override() -> None:
    assert wv.today({wv.TODAY_ENV: "2027-02-01"}) == dt.date(2027, 2, 1)
    assert wv.today({}) == dt.date.today()
    with pytest.raises(wv.WaiverError, match="expected a date"):
        wv.today({wv.TODAY_ENV: "2027-2-1"})
