"""The HTML report (devbox_conformance.report_html): golden page, escaping, verdicts that never go green by
default, one-line refusals, `devbox report` and the suite's `--html` (through pytester, no Docker).

The page in a real browser (headless Chromium) is proved in selftests/e2e/test_report_browser.py.
Regenerate the golden page after an intended change with DEVBOX_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from devbox_build import cli

from devbox_conformance import report_html

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
DOCUMENT = FIXTURES / "two_hosts.json"
GOLDEN = FIXTURES / "two_hosts.html"


def two_hosts() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def item(outcome: str, host: str = "local://", key: str = "sh", **extra: Any) -> dict[str, Any]:
    return {
        "nodeid": f"t.py::test_binary[{key}]",
        "name": f"test_binary[{key}]",
        "host": host,
        "kind": "binaries",
        "key": key,
        "outcome": outcome,
        "message": "",
        "records": {},
        **extra,
    }


def document(items: list[dict[str, Any]], exit_status: int | None = 0, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 2,
        "image": None,
        "hosts": [{"name": "local://", "kind": "local", "arch": "amd64", "error": None}],
        "exit_status": exit_status,
        "error": None,
        "totals": {},
        "items": items,
        **extra,
    }


def banner(page: str) -> str:
    m = re.search(r'<div class="banner (\w+)" id="verdict">(.*?)</div>', page)
    assert m, "no verdict banner in the page"
    return f"{m[1]}: {m[2]}"


# ---- the page of a fixed document ----


def test_golden_page() -> None:
    page = report_html.render(two_hosts())
    if os.environ.get("DEVBOX_UPDATE_GOLDEN"):
        GOLDEN.write_text(page, encoding="utf-8")
    assert page == GOLDEN.read_text(encoding="utf-8"), (
        "the page changed: review it, then DEVBOX_UPDATE_GOLDEN=1"
    )


def test_same_document_same_bytes_and_no_clock() -> None:
    doc = two_hosts()
    first = report_html.render(doc)
    shuffled = copy.deepcopy(doc)
    shuffled["items"].reverse()
    assert report_html.render(shuffled) == first
    assert not re.search(r"20\d\d-\d\d-\d\dT", first), "a timestamp the document does not hold"


def test_the_page_holds_everything_it_promises() -> None:
    page = report_html.render(two_hosts())
    assert banner(page) == "red: FAILED &mdash; exit status 1: 3 failed or in error"
    for text in (
        "ssh://node1",
        "ssh://node2",
        "expectations/common.yaml:12",  # the failure's file:line
        "expectations/arm64.yaml:7",
        "rg &gt;= 14.0 on PATH",  # expected
        "rg 13.0.0 at /usr/bin/rg",  # found
        "arm64 ripgrep build lands in sprint 14 (TICKET-88)",  # the waiver's justification
        "2026-12-31",  # its expiry
        "arch=arm64",  # its scope
        "optional, absent: only in GPU builds",  # a skip's reason
        "152.5 GFLOPS",
        "127 % of floor",
        "51 % of floor",
    ):
        assert text in page, text
    hosts = re.search(r'<h2 id="hosts">.*?</table>', page, re.S)
    assert hosts
    rows = re.findall(r"<tr class=\"(\w+)\"><td class=\"mono\">([^<]*)</td>.*?</tr>", hosts[0], re.S)
    assert rows == [("red", "ssh://node1"), ("red", "ssh://node2")]
    node2 = re.search(r"ssh://node2</td>.*?</tr>", hosts[0], re.S)
    assert node2
    counts = re.findall(r'<td class="n [a-z]+">(\d+)</td>', node2[0])
    assert counts == ["1", "2", "0", "0", "1"]  # passed failed error skipped waived


def test_everything_is_escaped_and_nothing_is_fetched() -> None:
    doc = two_hosts()
    evil = '<img src="http://example.invalid/x.png" onerror="alert(1)">'
    doc["hosts"][0]["name"] = evil
    doc["items"][0]["host"] = evil
    doc["items"][0]["message"] += "\n" + evil
    doc["items"][2]["message"] = "</td></tr></table><script>alert(2)</script>"
    doc["image"]["ref"] = "</title><script>alert(3)</script>"
    page = report_html.render(doc)
    assert "<img" not in page and "<script" not in page.lower()
    assert "&lt;img src=&#34;http://example.invalid/x.png&#34;" in page
    template = (Path(report_html.__file__).parent / report_html.TEMPLATE).read_text()
    for fetch in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert fetch not in template, fetch
    assert "default-src 'none'" in page


# ---- never green by default: each input would be a false green on a page that trusted less ----


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (document([item("passed")]), "green: PASSED &mdash; exit status 0: 1 checked"),
        (document([item("passed")], exit_status=1), "red: FAILED &mdash; exit status 1"),
        (
            document([item("passed")], exit_status=None),
            "unfinished: NOT FINISHED &mdash; the run did not finish",
        ),
        (document([]), "red: FAILED &mdash; exit status 0, but the run checked nothing"),
        (
            document([item("passed")], hosts=[{"name": "local://", "error": "probe died"}]),
            "red: FAILED &mdash; exit status 0: a host could not be checked",
        ),
        (
            document([item("passed")], totals={"passed": 1, "failed": 2}),
            "red: FAILED &mdash; exit status 0: 2 failed or in error",
        ),
        (
            document([item("passed"), item("xpassed-strangely", key="x")]),
            "red: FAILED &mdash; exit status 0: 1 failed or in error",
        ),
        (
            document([item("passed")], error="cannot reach ssh://node1"),
            "red: FAILED &mdash; exit status 0: cannot reach ssh://node1",
        ),
        (
            document([item("passed"), item("error", key="x")]),
            "red: FAILED &mdash; exit status 0: 1 failed or in error",
        ),
        (
            document([item("passed"), item("waived", key="x")]),
            "green: PASSED &mdash; exit status 0: 2 checked, 1 waived",
        ),
    ],
    ids=[
        "green",
        "exit-status",
        "not-finished",
        "checked-nothing",
        "host-error",
        "totals-say-failed",
        "unknown-outcome",
        "run-error",
        "error-item",
        "waived-shows",
    ],
)
def test_verdict(doc: dict[str, Any], expected: str) -> None:
    assert banner(report_html.render(doc)) == expected


def test_an_item_of_an_unlisted_host_gets_its_own_row() -> None:
    page = report_html.render(document([item("passed"), item("failed", host="ssh://ghost", key="x")]))
    assert '<tr class="red"><td class="mono">ssh://ghost</td>' in page


def test_unknown_outcome_is_listed_with_the_failures_and_counted_apart() -> None:
    page = report_html.render(document([item("xpassed-strangely", key="weird")]))
    assert "<th>other</th>" in page
    assert "Failures (1)" in page and "test_binary[weird]</span> &mdash; xpassed-strangely" in page


def test_a_figure_outside_its_own_limits_is_a_failure_whatever_its_record_says() -> None:
    perf = {"metric": "gemm", "unit": "GFLOPS", "value": 50.0, "lower_limit": 100.0, "outcome": "pass"}
    page = report_html.render(document([item("passed", records={"performance": perf})]))
    assert '<span class="tag fail">fail</span>' in page and "50 % of floor" in page
    above = {"metric": "lat", "unit": "ms", "value": 9.0, "upper_limit": 5.0, "outcome": "pass"}
    page = report_html.render(document([item("passed", records={"performance": above})]))
    assert '<span class="tag fail">fail</span>' in page
    missing = {"metric": "gemm", "unit": "GFLOPS", "value": None, "lower_limit": 100.0, "outcome": "pass"}
    page = report_html.render(document([item("passed", records={"performance": missing})]))
    assert '<span class="tag unjudged">unjudged</span>' in page and "no figure" in page


def test_bars_of_one_metric_share_a_scale() -> None:
    page = report_html.render(two_hosts())
    floors = re.findall(r'class="floor" style="left: ([\d.]+)%"', page)
    assert len(floors) == 2 and floors[0] == floors[1]
    fills = [float(w) for w in re.findall(r'class="fill \w+" style="width: ([\d.]+)%"', page)]
    assert fills[0] == pytest.approx(fills[1] * 152.5 / 61.0, rel=0.01)


def test_a_waiver_kept_as_a_record_and_a_list_of_waivers_are_shown() -> None:
    waiver = {"justification": "vendor fix pending", "expires": "2027-01-31"}
    doc = document(
        [item("waived", records={"waiver": waiver})],
        waivers=[
            {"id": "t.py::test_gone", "justification": "old", "expires": "2027-01-01", "status": "stale"}
        ],
    )
    page = report_html.render(doc)
    assert "vendor fix pending" in page and "2027-01-31" in page
    assert "t.py::test_gone" in page and "stale" in page


# ---- refusals: one line naming the file ----


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "{path}: No such file or directory"),
        (
            "{",
            "{path}: not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        ("[]", "{path}: not a results document (a JSON object with schema_version, hosts and items)"),
        ('{"schema_version": 1}', "{path}: schema_version 1 is not one this report reads (2)"),
        (
            '{"schema_version": 2, "hosts": [], "items": {}}',
            "{path}: 'items' is not a list of objects",
        ),
        (
            '{"schema_version": 2, "hosts": [], "items": [{"nodeid": "x"}]}',
            "{path}: items[0] has no nodeid or outcome",
        ),
    ],
    ids=["missing", "not-json", "not-object", "old-schema", "items-not-list", "item-without-outcome"],
)
def test_load_refuses_in_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(report_html.ReportError) as err:
        report_html.load(path)
    assert str(err.value) == expected.format(path=path)


# ---- devbox report ----


def test_devbox_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.json"
    results.write_text(DOCUMENT.read_text())
    assert cli.main(["report", str(results)]) == 1  # a red run
    assert (tmp_path / "results.html").read_text() == GOLDEN.read_text()
    assert "results.html: red: exit status 1: 3 failed or in error" in capsys.readouterr().err
    results.write_text(json.dumps(document([item("passed")])))
    out = tmp_path / "page.html"
    assert cli.main(["report", str(results), "--output", str(out)]) == 0
    assert "PASSED" in out.read_text()
    assert cli.main(["report", str(results), "-o", str(results)]) == 2
    assert "that is the results file itself" in capsys.readouterr().err
    assert json.loads(results.read_text())["exit_status"] == 0  # the results file is left alone
    assert cli.main(["report", str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"devbox report: error: {tmp_path / 'absent.json'}: No such file or directory"


# ---- the suite's --html ----

EXPECTATIONS = {
    "exp/common.yaml": "binaries:\n  - name: sh\n  - name: devbox-surely-absent-tool\n"
    "  - name: devbox-optional-tool\n    optional: true\n    reason: only in some builds\n",
    "exp/amd64.yaml": "",
    "exp/arm64.yaml": "",
}
TESTS = "def test_binary(binary, check):\n    check('binaries', binary)\n"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", **{k.removesuffix(".yaml"): v for k, v in EXPECTATIONS.items()})
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def run_suite(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_subprocess(
        "-p", "devbox_conformance.plugin", "--no-contract", "-p", "no:cacheprovider", *args
    )


def test_html_of_a_real_failing_run_is_the_page_of_its_results(suite: pytest.Pytester) -> None:
    html, results = suite.path / "out" / "report.html", suite.path / "r.json"
    run = run_suite(suite, "--hosts", "local://", "--expectations=exp", f"--results-json={results}", "--html")
    assert run.ret == pytest.ExitCode.USAGE_ERROR  # --html needs its PATH
    run = run_suite(
        suite, "--hosts", "local://", "--expectations=exp", f"--results-json={results}", "--html", str(html)
    )
    run.assert_outcomes(passed=1, failed=1, skipped=1)
    page = html.read_text()
    assert page == report_html.render(report_html.load(results))
    assert banner(page) == "red: FAILED &mdash; exit status 1: 1 failed or in error"
    assert re.search(r"<code>exp/common\.yaml:\d+</code>", page), "the failure's file:line"
    assert "binaries[devbox-surely-absent-tool]" in page
    assert "optional, absent: only in some builds" in page


def test_html_without_results_json(suite: pytest.Pytester) -> None:
    run = run_suite(suite, "--hosts", "local://", "--expectations=exp", "--html=page.html", "-k", "sh")
    run.assert_outcomes(passed=1, deselected=2)
    assert banner((suite.path / "page.html").read_text()) == "green: PASSED &mdash; exit status 0: 1 checked"


def test_a_run_stopped_at_start_up_replaces_an_earlier_green_page(suite: pytest.Pytester) -> None:
    page = suite.path / "page.html"
    run_suite(suite, "--hosts", "local://", "--expectations=exp", "--html=page.html", "-k", "sh")
    assert banner(page.read_text()).startswith("green")
    run = run_suite(suite, "--hosts", "local://", "--expectations=nowhere", "--html=page.html")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    shown = banner(page.read_text())
    assert shown.startswith("red: FAILED &mdash; exit status 4: --expectations "), shown
    assert "No host: the run stopped before it reached one." in page.read_text()


def test_an_unwritable_html_path_is_one_line(suite: pytest.Pytester) -> None:
    (suite.path / "plain-file").write_text("")
    target = suite.path / "plain-file" / "page.html"
    run = run_suite(suite, "--hosts", "local://", "--expectations=exp", f"--html={target}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    err = run.stderr.str()
    assert (
        f"ERROR: --html {target}: cannot write it: " in err and "INTERNALERROR" not in err + run.stdout.str()
    )
