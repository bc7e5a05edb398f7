"""The run's lifecycle in the controller: the target prepared at session start, THE probe in a thread, the
container, its lease, the ssh masters and the temp dir removed on every way out (session end, error,
Ctrl-C, SIGTERM, atexit).

Why apart from the plugin: this is the part that owns resources; the hooks only say when it runs.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance import labels as lbl
from devbox_conformance import lease as leases
from devbox_conformance import localrun, options, outputs, reaper, runopts, sshmux, testinfra_ids, waiving
from devbox_conformance import session as sess
from devbox_conformance import target as tgt
from devbox_conformance.performance import conclude
from devbox_conformance.results import ResultsCollector
from devbox_conformance.runview import (
    RESULTS_KEY,
    START_ERROR_KEY,
    STATE_KEY,
    WAIVERS_INPUT,
    WAIVERS_KEY,
    WORKER_INPUT,
    Worker,
)


class Probe:
    """THE probe in a daemon thread, so it overlaps collection; `wait()` re-raises its one-line error."""

    def __init__(self, gather: Callable[[], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(gather,), name="devbox-probe", daemon=True)
        self._thread.start()

    def _run(self, gather: Callable[[], None]) -> None:
        try:
            gather()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by wait()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class Controller(Worker):
    """The process that owns the container and writes the results."""

    def __init__(self, state: sess.RunState, tmpdir: Path, probe: Probe | None) -> None:
        super().__init__(state)
        self.tmpdir = tmpdir
        self.run_file = state.save(tmpdir)
        self.probe = probe


class Lifecycle:
    """Container ownership of the controller, with every fall-back that removes it."""

    def __init__(self) -> None:
        self.container: str | None = None
        self.engine: eng.Engine | None = None
        self.lease: leases.Lease | None = None
        self.tmpdir: Path | None = None
        self._old_sigterm: Any = None

    def started(self, engine: eng.Engine, name: str) -> None:
        """Called just before the container is started, so that nothing can start it unowned."""
        self.container, self.engine = name, engine
        self.lease = leases.Lease(engine, name)
        atexit.register(self.cleanup)
        self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.cleanup()
        raise KeyboardInterrupt  # let pytest finish as on Ctrl-C

    def cleanup(self) -> None:
        if self.lease:
            self.lease.stop()
            self.lease = None
        if self.container and self.engine:
            name, self.container = self.container, None
            eng.remove_container(self.engine, name)
        if self.tmpdir:
            dirs = sshmux.ssh_socket_dirs(self.tmpdir)
            for socket in (s for d in dirs for s in d.glob("ssh-*")):  # this run's ssh masters (one per host)
                localrun.run_command(
                    ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", "devbox-host"], timeout=10
                )
            for directory in reversed(dirs):
                shutil.rmtree(directory, ignore_errors=True)
            self.tmpdir = None


LIFECYCLE_KEY = pytest.StashKey[Lifecycle]()


def start(config: pytest.Config) -> None:
    """Prepare the run's target(s) in the controller; a run stopped here has its results files say why."""
    # Until the run ends, its results files say it has not: a run killed outright leaves that, not the
    # previous run's green.
    outputs.write_stopped(config, None, "the run did not finish (still running, or killed)")
    try:
        prepare(config)
    except pytest.UsageError as exc:
        outputs.stopped(config, pytest.ExitCode.USAGE_ERROR, str(exc))
        raise
    except KeyboardInterrupt:
        outputs.stopped(
            config, pytest.ExitCode.INTERRUPTED, "interrupted while the target was being prepared"
        )
        raise
    except BaseException as exc:
        outputs.stopped(config, pytest.ExitCode.INTERNAL_ERROR, tgt.first_line(exc))
        raise


def bind_testinfra_host(config: pytest.Config, state: sess.RunState) -> None:
    """Point testinfra's --hosts at this run's targets: its `host` then checks them, not this machine."""
    if options.USER_HOSTS_KEY not in config.stash:
        config.stash[options.USER_HOSTS_KEY] = config.getoption("hosts", default=None)
    if state.first.kind in ("image", "container"):
        config.option.hosts = state.testinfra_hosts()
        testinfra_ids.pin(config.option, {h.spec: h.name for h in state.hosts})


def prepare(config: pytest.Config) -> None:
    """Waivers, target(s), testinfra's hosts and the probe's thread; everything made is undone on error."""
    if options.perf_requested(config) and getattr(config.option, "dist", "no") != "no":
        # Under xdist every performance test would skip and the run pass: a green that measured nothing.
        raise pytest.UsageError(
            "--perf with -n N: performance tests run serially, never beside other tests: "
            f"{conclude.SERIAL_HINT}"
        )
    opts = options.run_options(config)
    life = Lifecycle()
    config.stash[LIFECYCLE_KEY] = life
    # A run killed outright (SIGKILL, a CI time-out) cleans nothing up: its temp dir goes with the next run.
    reaper.reap_dead_run_dirs()
    life.tmpdir = reaper.make_run_dir()
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def progress(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    try:
        # A bad waivers file (or DEVBOX_TODAY) is one line before anything is pulled or started.
        config.stash[WAIVERS_KEY] = waiving.open_book(
            config.getoption("devbox_waivers"),
            opts.expectations_dir,
            config.invocation_params.dir,
            bool(config.getoption("devbox_strict_waivers")),
        )
        # --collect-only lists the tests: nothing is pulled, started or contacted, and no probe runs.
        listing = bool(config.option.collectonly)
        state, gather = sess.prepare(opts, lbl.new_run_id(), life.tmpdir, life, progress, listing=listing)
        bind_testinfra_host(config, state)
        probe = None if listing else Probe(gather)
        config.stash[STATE_KEY] = Controller(state, life.tmpdir, probe)
    except runopts.UsageProblem as exc:
        life.cleanup()
        raise pytest.UsageError(str(exc)) from None
    except exp.ExpectationsError as exc:
        life.cleanup()
        raise pytest.UsageError(str(exc)) from None
    except BaseException:
        life.cleanup()
        raise
    config.stash[RESULTS_KEY] = ResultsCollector(state)


def wait_probe(session: pytest.Session) -> None:
    """Hold the tests back until the probe's facts are written (xdist: before any test is handed out)."""
    state = session.config.stash.get(STATE_KEY, None)
    if isinstance(state, Controller) and state.probe is not None:
        try:
            state.probe.wait()
        except runopts.UsageProblem as exc:
            session.config.stash[START_ERROR_KEY] = (int(pytest.ExitCode.USAGE_ERROR), str(exc))
            raise pytest.UsageError(str(exc)) from None


def cleanup(config: pytest.Config) -> None:
    """Undo what the run made (idempotent: called at session finish and again at unconfigure)."""
    life = config.stash.get(LIFECYCLE_KEY, None)
    if life is not None:
        life.cleanup()


def join_as_worker(config: pytest.Config) -> None:
    """An xdist worker reads the controller's run state and waivers (handed over by XdistHandOff)."""
    run_file = config.workerinput.get(WORKER_INPUT)
    if run_file:
        state = sess.RunState.load(run_file)
        config.stash[STATE_KEY] = Worker(state)
        config.stash[WAIVERS_KEY] = waiving.Book.from_input(config.workerinput[WAIVERS_INPUT])
        bind_testinfra_host(config, state)


class XdistHandOff:
    """Registered in the controller when xdist is there: each worker gets the run file and the waivers."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        state = node.config.stash.get(STATE_KEY, None)
        if isinstance(state, Controller):
            node.workerinput[WORKER_INPUT] = str(state.run_file)
            node.workerinput[WAIVERS_INPUT] = node.config.stash[WAIVERS_KEY].to_input()
