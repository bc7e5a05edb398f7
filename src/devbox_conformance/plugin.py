"""pytest plugin of the conformance suite: pytest's face of the run, every hook one call into its module.

    pytest --image gpu-devbox:local -n auto --results-json results.json

The controller (the only process without xdist, or xdist's controller) resolves the target(s), starts ONE
container for --image and writes the run state to a temp file; xdist workers read it through
`workerinput`. THE probe of each host runs in a thread of the controller while pytest collects and xdist's
workers boot; no test runs before the facts are written. Every target is a testinfra host, and testinfra's
own `host` fixture is bound to the same targets, so a team's plain testinfra tests check the image under
test. The controller removes the container at session end, on error and on Ctrl-C (atexit and SIGTERM
fall-backs too); a run killed outright leaves a container that stops itself when its lease runs out.

Where each part lives: `options` (the option table and how a run reads it), `lifecycle` (target, probe
thread, container, lease, ssh masters, temp dir, signals), `outputs` (results JSON, HTML, atomic JUnit on
every exit path), `collection` (test ids and deselections), `fixtures` (registered below), `terminal` (the
header and the end-of-run summary) and `runview` (the stash keys and the per-process view they share).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import cli_args, collection, contract_reach, lifecycle, outputs, terminal, waiving
from devbox_conformance import waivers as wv
from devbox_conformance.collection import ARGNAMES as ARGNAMES
from devbox_conformance.options import CONTRACT_DIR as CONTRACT_DIR
from devbox_conformance.options import VALUE_OPTIONS, add_contract, add_options, run_options, suite_requested
from devbox_conformance.options import expectations_dir as expectations_dir
from devbox_conformance.runview import CONFIG, HOST_ARG, RESULTS_KEY, STATE_KEY, WAIVERS_KEY, host_problem

# The fixtures live in their own module; pytest registers it wherever this plugin is registered (-p, the
# pytest11 entry point, each xdist worker), so they resolve in any rootdir.
pytest_plugins = ["devbox_conformance.fixtures"]

MARKERS = (
    "performance: performance baseline measured inside the target (run serially; --perf or -m performance)",
    "xdist_group(name): keep these tests on one xdist worker",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


# Outermost wrapper: this runs before pytest's capture plugin redirects the process's output to its files.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Any:
    """A path given with a space to an option moved pytest's rootdir before this plugin was loaded: run the
    command again spelled with `=` (cli_args says why), or stop in one line where that cannot be done."""
    if not hasattr(early_config, "workerinput"):
        names = [*VALUE_OPTIONS, *cli_args.TESTINFRA_VALUE_OPTIONS]
        params = early_config.invocation_params
        problem = cli_args.respell(params.args, params.dir, names)
        if problem:
            raise pytest.UsageError(problem)
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE_KEY] = None
    CONFIG["config"] = config
    for line in MARKERS:  # the contract's markers, known in any rootdir (a team's pytest.ini lacks them)
        config.addinivalue_line("markers", line)
    if suite_requested(config, run_options(config)):
        add_contract(config)
        if not hasattr(config, "workerinput"):
            config.pluginmanager.register(outputs.AtomicJunit(config), "devbox-junit")
    if hasattr(config, "workerinput"):
        lifecycle.join_as_worker(config)
        return
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(lifecycle.XdistHandOff(), "devbox-xdist")


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # ahead of xdist's own CPU count
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a conformance run: no worker processes; an explicit `-n N` is honoured.

    Every fact comes from the one probe the controller runs, so a check is a comparison of a few
    microseconds; a worker would only add its own start-up (a second of CPU each) and compete with the
    probe for the CPUs. Other projects' runs keep xdist's own choice.
    """
    if suite_requested(config, run_options(config)):
        return 0
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not suite_requested(config, run_options(config)):
        return
    lifecycle.start(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Hold the tests back until the probe's facts are written (xdist: before any test is handed out)."""
    lifecycle.wait_probe(session)
    return (yield)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    return terminal.header_lines(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    terminal.summary(terminalreporter, config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    collection.parametrize(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    collection.modify_items(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    return contract_reach.ignore(collection_path, config)


@pytest.hookimpl(tryfirst=True, specname="pytest_collection_modifyitems")
def contract_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    contract_reach.require_collected(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Name the host of a per-host test before its fixtures run: a skip or an error in a session fixture
    (no GPU for the performance tests) is then counted for its own host, not the first one."""
    spec = getattr(item, "callspec", None)
    if spec is not None and HOST_ARG in spec.params:
        item.user_properties.append(("devbox:host", str(spec.params[HOST_ARG])))


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outermost: sees the report after pytest's own xfail handling
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed check that a waiver covers becomes xfailed ("waived until …"); past its date it stays
    failed, saying the waiver expired. Nothing else is touched (see waiving.judge)."""
    report = yield
    worker = item.config.stash.get(STATE_KEY, None)
    book = item.config.stash.get(WAIVERS_KEY, None)
    if worker is None or not book or not book.waivers or report.when != "call" or not report.failed:
        return report
    props = dict(item.user_properties)
    host = worker.state.host(props.get("devbox:host"))
    if host_problem(worker, host.name):
        return report  # an unreachable host is not the item's failure: no waiver hides it
    scope = wv.scope_of(host.arch, host.image_attrs, worker.state.facts(host.name))
    message = str(props.get("devbox:message") or report.longreprtext)
    waiving.judge(item, report, book, host.name, scope, message)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Feed the results collector (in the controller: xdist forwards every worker's reports here)."""
    config = CONFIG.get("config")
    collector = config.stash.get(RESULTS_KEY, None) if config is not None else None
    if collector is not None:
        collector.add(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if hasattr(session.config, "workerinput"):
        return
    outputs.finish(session, exitstatus)
    lifecycle.cleanup(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    lifecycle.cleanup(config)
    CONFIG.pop("config", None)
