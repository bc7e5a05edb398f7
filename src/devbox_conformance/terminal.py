"""What the run prints around pytest's own report: the header line per host and the end-of-run summary
(probe times, the host table of a fleet or the one host's lines, performance figures, waivers).

Why apart from the plugin: it only reads the controller's state and the results collector; keeping it here
keeps the hooks one line each.
"""

from __future__ import annotations

from typing import Any

import pytest

from devbox_conformance import waiving
from devbox_conformance.lifecycle import Controller
from devbox_conformance.performance import conclude
from devbox_conformance.results import ResultsCollector
from devbox_conformance.runview import RESULTS_KEY, STATE_KEY


def header_lines(config: pytest.Config) -> list[str] | None:
    """One line per host: what it is, its arch and base, and where its items come from."""
    state = config.stash.get(STATE_KEY, None)
    if not isinstance(state, Controller):
        return None
    lines = []
    for s in state.state.hosts:
        what = s.image_ref or ("local host" if s.kind == "local" else s.name)
        where = f", container {s.container}" if s.container else ""
        model = state.model(s.name)
        lines.append(
            f"devbox: {s.kind} {what} ({s.arch}, base {s.base_kind}){where}; "
            f"{model.count()} items from {', '.join(model.files)}"
        )
    return lines


def summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The end-of-run summary of a conformance run (nothing for another project's run)."""
    state = config.stash.get(STATE_KEY, None)
    if not isinstance(state, Controller):
        return
    run = state.state
    quiet = config.get_verbosity() < 0
    if not quiet:
        _probe_times(terminalreporter, state)
    collector = config.stash.get(RESULTS_KEY, None)
    if collector is None:
        return
    _hosts(terminalreporter, collector, run.multi, quiet)
    for line in conclude.figure_lines(collector.entries.values(), run.multi):
        terminalreporter.write_line(f"devbox: {line}")
    # Listed at every verbosity: a waived failure is never silent.
    strict = bool(config.getoption("devbox_strict_waivers"))
    stale, unapplied = collector.stale_waivers, collector.unapplied_waivers
    for line in waiving.summary_lines(collector.entries.values(), stale, unapplied, run.multi, strict):
        terminalreporter.write_line(f"devbox: {line}")


def _probe_times(terminalreporter: Any, state: Controller) -> None:
    run = state.state
    for host in run.hosts:
        seconds = run.probe_seconds(host.name)
        if seconds is not None:
            prefix = f"{host.name}: " if run.multi else ""
            terminalreporter.write_line(f"devbox: {prefix}probe {seconds:.1f} s")


def _hosts(terminalreporter: Any, collector: ResultsCollector, multi: bool, quiet: bool) -> None:
    if multi:
        # The last table, also under -q: one row per host, whatever the size of the fleet.
        terminalreporter.write_sep("-", "devbox: hosts")
        for line in collector.host_table():
            terminalreporter.write_line(line)
    elif not quiet:
        for line in collector.host_lines(named=False):
            terminalreporter.write_line(f"devbox: {line}")
