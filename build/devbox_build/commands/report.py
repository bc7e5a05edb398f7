"""`devbox report RESULTS.json`: one self-contained HTML page of a suite run, from its results file.

The same page `pytest --html PATH` writes (module devbox_conformance.report_html renders both): the
per-host table, every failure with its file:line, expected and found, waivers with their justification and
expiry, skips with their reasons and performance figures against their floors. Exit 0: the run shown was
green; 1: it was red or did not finish (the page is written either way); 2: the file is not a results
document.

Example:
    ./devbox report results.json --output report.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devbox_build.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="one self-contained HTML page of a suite run from its --results-json file",
        description="Render a suite run's results file (pytest --results-json) as one HTML page with no "
        "script and nothing fetched: hosts, failures with file:line, expected and found, waivers, skips "
        "and performance bars. Exit 0 when the run was green, 1 when it was red or did not finish.",
    )
    p.add_argument("results", type=Path, metavar="RESULTS.json", help="a results file of the suite")
    p.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the page here (default: RESULTS.json's name with .html)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from devbox_conformance import report_html  # noqa: PLC0415 - the suite's dependencies on demand

    try:
        document = report_html.load(args.results)
    except report_html.ReportError as exc:
        raise UsageError(str(exc)) from None
    output = args.output or args.results.with_suffix(".html")
    if output.resolve() == args.results.resolve():
        raise UsageError(f"--output {output}: that is the results file itself")
    report_html.write(output, document)
    state, line = report_html.headline(document)
    print(f"{output}: {state}: {line}", file=sys.stderr)
    return 0 if state == "green" else 1
