"""The run's files: the results JSON, the HTML page and an atomic --junitxml, written on every way out — a
finished run, a run stopped before its tests (one line why) and, until it ends, "did not finish".

Why apart from the plugin: what a file says on each exit path is the promise a CI job reads; it is kept in
one place so that no path writes one file and forgets another.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import results, waiving
from devbox_conformance import waivers as wv
from devbox_conformance.options import expectations_dir
from devbox_conformance.runview import RESULTS_KEY, START_ERROR_KEY, WAIVERS_KEY

try:  # pytest's JUnit writer, to make its write atomic (see AtomicJunit); absent: pytest's own write
    from _pytest.junitxml import xml_key as _XML_KEY
except ImportError:  # pragma: no cover - a pytest without it
    _XML_KEY = None


def stopped(config: pytest.Config, status: int, line: str) -> None:
    """A run that stops before its tests: remember why (sessionfinish, if pytest gets there, writes it) and
    write the results files now (pytest calls no sessionfinish when sessionstart raised)."""
    config.stash[START_ERROR_KEY] = (int(status), line)
    write_stopped(config, int(status), line)


def write_stopped(config: pytest.Config, status: int | None, line: str) -> None:
    """Every file the run was asked for says `line` (status None: the run has not ended yet)."""
    path = config.getoption("devbox_results_json", default=None)
    if path:
        results.write_failure(results_path(config, path), status, line, expectations_dir(config))
    write_html(config, results.failure_document(status, line, expectations_dir(config)))
    junit = junit_path(config)
    if junit is not None:
        suite = str(config.getini("junit_suite_name") or "pytest")
        shown = "not finished" if status is None else status
        results.write_atomically(junit, results.junit_error(suite, shown, line))


def results_path(config: pytest.Config, path: str) -> Path:
    value = Path(path)
    return value if value.is_absolute() else config.invocation_params.dir / value


def junit_path(config: pytest.Config) -> Path | None:
    """--junitxml's file as pytest writes it (absolute, user and variables expanded), or None."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if not xmlpath or hasattr(config, "workerinput"):
        return None
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath)))))


class AtomicJunit:
    """pytest writes --junitxml in place: its LogXML writes to a temp file beside it, renamed over it after.

    A run stopped after its session started (a probe that failed) gets the one-case error document instead
    of pytest's empty, error-free one.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    # Innermost wrapper: the terminal reporter's, around it, prints the file's real name after the rename.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Any:
        xml = self.config.stash.get(_XML_KEY, None) if _XML_KEY is not None else None
        final = getattr(xml, "logfile", None)
        if not final:
            return (yield)
        directory = Path(final).parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f".{Path(final).name}.", suffix=".partial", dir=directory)
        os.close(fd)
        xml.logfile = partial
        try:
            return (yield)
        finally:
            xml.logfile = final
            stopped = self.config.stash.get(START_ERROR_KEY, None)
            if stopped is not None:
                Path(partial).unlink(missing_ok=True)
                suite = str(self.config.getini("junit_suite_name") or "pytest")
                results.write_atomically(Path(final), results.junit_error(suite, *stopped))
            elif Path(partial).stat().st_size:
                os.chmod(partial, 0o644)
                os.replace(partial, final)
            else:
                Path(partial).unlink(missing_ok=True)


def finish(session: pytest.Session, exitstatus: int) -> None:
    """At session end in the controller: judge stale waivers (--strict-waivers may fail the run), then write
    the results JSON and the HTML page of the run as it ended."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    collector = config.stash.get(RESULTS_KEY, None)
    path = config.getoption("devbox_results_json")
    halted = config.stash.get(START_ERROR_KEY, None)
    book = config.stash.get(WAIVERS_KEY, None)
    if collector is not None and book is not None and not config.option.collectonly and not halted:
        run = collector.state
        scopes = {h.name: wv.scope_of(h.arch, h.image_attrs, run.facts(h.name)) for h in run.hosts}
        collector.stale_waivers, collector.unapplied_waivers = waiving.stale(
            book, collector.entries.values(), scopes
        )
        if book.strict and collector.stale_waivers and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
    if collector is not None and path:
        error = halted[1] if halted else None
        collector.write(results_path(config, path), int(exitstatus), error)
    if collector is not None:
        write_html(config, collector.document(int(exitstatus), halted[1] if halted else None))


def write_html(config: pytest.Config, document: dict[str, Any]) -> None:
    """--html: the page of the same document --results-json holds (module report_html renders it)."""
    html = config.getoption("devbox_html", default=None)
    if html and not hasattr(config, "workerinput"):
        from devbox_conformance import report_html  # noqa: PLC0415 - jinja2 only for runs that ask

        try:
            report_html.write(results_path(config, html), document)
        except OSError as exc:
            raise pytest.UsageError(f"--html {html}: cannot write it: {exc.strerror or exc}") from None
