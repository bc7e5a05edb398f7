"""pytest plugin of the conformance suite: options, target lifecycle, fixtures, parametrization, results.

    pytest --image gpu-devbox:local -n auto --results-json results.json

The controller (the only process without xdist, or xdist's controller) resolves the target(s), starts ONE
container for --image and writes the run state to a temp file; xdist workers read it through
`workerinput`. THE probe of each host runs in a thread of the controller while pytest collects and xdist's
workers boot; no test runs before the facts are written. Every target is a testinfra host, and testinfra's
own `host` fixture is bound to the same targets, so a team's plain testinfra tests check the image under
test. The controller removes the container at session end, on error and on Ctrl-C (atexit and SIGTERM
fall-backs too); a run killed outright leaves a container that stops itself when its lease runs out.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import checks, cli_args, localrun, reaper, results, sshmux, waiving
from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance import labels as lbl
from devbox_conformance import lease as leases
from devbox_conformance import session as sess
from devbox_conformance import target as tgt
from devbox_conformance import waivers as wv
from devbox_conformance.performance import conclude
from devbox_conformance.results import ResultsCollector

# Test argument name -> item kind; a suite test asks for one of these and gets one test id per item.
ARGNAMES = {k.argname: k.section for k in exp.all_kinds()}

try:  # pytest's JUnit writer, to make its write atomic (see _AtomicJunit); absent: pytest's own write
    from _pytest.junitxml import xml_key as _XML_KEY
except ImportError:  # pragma: no cover - a pytest without it
    _XML_KEY = None

STATE_KEY = pytest.StashKey["_Controller | _Worker | None"]()
WORKER_INPUT = "devbox_run_file"
# The run's waivers and the day they are judged on, read once by the controller and handed to workers.
WAIVERS_KEY = pytest.StashKey[waiving.Book]()
WAIVERS_INPUT = "devbox_waivers"


GROUP_TITLE = "gpu-devbox conformance suite (every option also answers to --devbox-NAME)"
# The suite's options that take a value, by every spelling (see cli_args: they must never move the rootdir).
VALUE_OPTIONS: list[str] = []
SUITE_OPTIONS: list[str] = []


def _adder(group: Any) -> Callable[..., None]:
    """`add("image", ...)` registers --image and --devbox-image: old names stay, the prefix groups them."""

    def add(name: str, **kwargs: Any) -> None:
        names = cli_args.spellings(name)
        group.addoption(*names, **kwargs)
        SUITE_OPTIONS.extend(names)
        if kwargs.get("action") not in ("store_true", "store_false"):
            VALUE_OPTIONS.extend(n for n in names if n not in VALUE_OPTIONS)

    return add


HOSTS_HELP = (
    "targets to check, comma-separated testinfra host specs (this is testinfra's --hosts): local:// (this "
    "machine), ssh://[USER@]HOST[:PORT] (with --ssh-config, --ssh-identity-file), paramiko://HOST, "
    "docker://NAME, podman://NAME, kubectl://POD, ansible://GROUP (with --ansible-inventory). Several hosts "
    "are probed in parallel and every item is checked per host. devbox-node-check (the node checks without "
    "pytest) runs its probe with the interpreter named by DEVBOX_NODE_CHECK_PYTHON"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("devbox", GROUP_TITLE)
    add = _adder(group)
    add(
        "image",
        dest="devbox_image",
        metavar="IMAGE",
        help="image to check (pulled per --pull; one container is started for the run). The container "
        f"stops itself when the run is gone for {leases.LEASE_ENV} seconds "
        f"(default {leases.DEFAULT_LEASE_S:.0f}); {lbl.GROUP_ENV}=NAME labels it with a group of runs",
    )
    add(
        "container",
        dest="devbox_container",
        metavar="NAME",
        help="running container to check (never removed)",
    )
    add(
        "platform",
        dest="devbox_platform",
        metavar="OS/ARCH",
        help="platform for --image, e.g. linux/arm64: that variant of a multi-arch tag is "
        "pulled and checked against its arch's overlay (runs emulated under QEMU)",
    )
    add(
        "pull",
        dest="devbox_pull",
        choices=eng.PULL_CHOICES,
        default="missing",
        help="when to pull --image: missing (also when the local copy is another arch than "
        "--platform), always, or never (default: %(default)s)",
    )
    add(
        "engine",
        dest="devbox_engine",
        choices=("auto", "docker", "podman"),
        default="auto",
        help="container engine for --image and --container: auto (docker when its client is "
        "there, else podman), docker or podman (default: %(default)s); DEVBOX_DOCKER names the docker client",
    )
    add(
        "engine-arg",
        dest="devbox_engine_args",
        metavar="ARG",
        action="append",
        default=[],
        help="extra option for the engine's `run` of --image, repeatable (e.g. "
        "--engine-arg=--runtime=runc for podman where its defaults are refused)",
    )
    add(
        "expectations",
        dest="devbox_expectations",
        metavar="DIR",
        default=None,
        help="expectations directory, relative to the rootdir (default: expectations/ there, "
        "else the contract shipped with the suite); it may `extends: gpu-devbox`",
    )
    add(
        "no-contract",
        dest="devbox_no_contract",
        action="store_true",
        help="do not add the shipped contract's tests to the run (only the paths given)",
    )
    add(
        "arch",
        dest="devbox_arch",
        metavar="ARCH",
        help="override the target's architecture (picks <ARCH>.yaml)",
    )
    add(
        "base-kind",
        dest="devbox_base_kind",
        choices=lbl.BASE_KINDS,
        help="override the base kind (default: build manifest / image labels)",
    )
    add(
        "gpus",
        dest="devbox_gpus",
        choices=("auto", "all", "none"),
        default="auto",
        help="GPUs for the container started from --image: auto (when the engine has the NVIDIA "
        "runtime and the host sees a GPU), all, or none (default: %(default)s). `all` also means GPUs are "
        "REQUIRED, on every target (--hosts and local:// too): GPU items and GPU performance tests then "
        "fail, not skip, where no GPU is visible",
    )
    add(
        "perf",
        dest="devbox_perf",
        action="store_true",
        help="also run the performance baselines (serially: refused with -n N; same as selecting them "
        "with -m performance). Without it they are not collected. Each figure is printed against its "
        "limit; DEVBOX_PERF_DEVICE picks the GPU index of the in-target benchmark (default 0)",
    )
    add(
        "results-json",
        dest="devbox_results_json",
        metavar="PATH",
        help="write a JSON summary of the run (per kind counts, per item outcome)",
    )
    add(
        "html",
        dest="devbox_html",
        metavar="PATH",
        help="write one self-contained HTML page of the run (per-host table, failures with file:line, "
        "waivers, skips, performance bars), rendered from the results document",
    )
    add(
        "waivers",
        dest="devbox_waivers",
        metavar="FILE",
        help="waivers file: failures accepted until a date, each with its justification (default: "
        f"{wv.FILE_NAME} beside the expectations when there is one). The date is today, or "
        f"{wv.TODAY_ENV}=YYYY-MM-DD",
    )
    add(
        "strict-waivers",
        dest="devbox_strict_waivers",
        action="store_true",
        help="a stale waiver (one that covered no failure of the run) fails the run",
    )
    # testinfra owns --hosts; the prefixed spelling is the same option (same dest), with the suite's help.
    group.addoption(f"{cli_args.PREFIX}hosts", dest="hosts", metavar="SPEC[,SPEC…]", help=HOSTS_HELP)
    VALUE_OPTIONS.append(f"{cli_args.PREFIX}hosts")


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


# testinfra's connection options, passed to every host the suite makes, as testinfra passes them to its own.
_CONNECTION_OPTIONS = (
    "connection",
    "ssh_config",
    "ssh_extra_args",
    "ssh_identity_file",
    "sudo",
    "sudo_user",
    "ansible_inventory",
    "force_ansible",
)
# --hosts as the user gave it (the controller rewrites testinfra's option to bind `host` to the targets).
USER_HOSTS_KEY = pytest.StashKey["str | None"]()


def _options(config: pytest.Config) -> sess.Options:
    if USER_HOSTS_KEY in config.stash:
        hosts = config.stash[USER_HOSTS_KEY]
    else:
        hosts = config.getoption("hosts", default=None)  # testinfra's option: any testinfra host spec
    if isinstance(hosts, list):
        hosts = ",".join(hosts) or None
    connection = {name: config.getoption(name, default=None) for name in _CONNECTION_OPTIONS}
    return sess.Options(
        image=config.getoption("devbox_image"),
        container=config.getoption("devbox_container"),
        hosts=hosts,
        platform=config.getoption("devbox_platform"),
        expectations_dir=expectations_dir(config),
        arch=config.getoption("devbox_arch"),
        base_kind=config.getoption("devbox_base_kind"),
        gpus=config.getoption("devbox_gpus"),
        pull=config.getoption("devbox_pull"),
        engine=config.getoption("devbox_engine"),
        engine_args=tuple(config.getoption("devbox_engine_args") or ()),
        connection={k: v for k, v in connection.items() if v not in (None, False, "")},
    )


def expectations_dir(config: pytest.Config) -> str:
    """--expectations, relative to the rootdir (not the working directory) when relative; without the
    option, the rootdir's expectations/ (a checkout, or a team's repository), else the shipped contract."""
    chosen = config.getoption("devbox_expectations", default=None)
    if chosen is None:
        local = config.rootpath / "expectations"
        return str(local if (local / "common.yaml").is_file() else exp.SHIPPED_DIR)
    value = Path(chosen)
    local = value if value.is_absolute() else config.rootpath / value
    # A shipped profile by name (`--expectations=gpu-node`) unless a directory of that name is there.
    named = None if local.exists() else exp.shipped(chosen)
    return str(named or local)


# The contract's test functions, shipped in the package (the checkout's tests/ directory).
CONTRACT_DIR = Path(__file__).resolve().parent / "contract"


def _add_contract(config: pytest.Config) -> None:
    """Collect the shipped contract too, unless the paths given already hold it (a checkout's tests/).

    Why: installed from a wheel into a team's repository, `pytest --image IMG` must run the whole
    contract — and the team's own tests beside it — without copying test files.
    """
    if config.getoption("devbox_no_contract") or not CONTRACT_DIR.is_dir():
        return
    contract = CONTRACT_DIR.resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = (path if path.is_absolute() else config.invocation_params.dir / path).resolve()
        if path == contract or contract in path.parents:
            return
    config.args.append(str(contract))


def _suite_requested(config: pytest.Config, opts: sess.Options) -> bool:
    """True when a target is given or the suite's own tests/ are collected (in a gpu-devbox checkout)."""
    if opts.image or opts.container or opts.hosts:
        return True
    if _suite_option_given(config):
        return True  # `--perf --results-json r.json` without a target: the suite's "no target", not exit 5
    if not (config.rootpath / "expectations" / "common.yaml").is_file():
        return False  # another project's tests/, with this plugin installed through its entry point
    suite_dir = (config.rootpath / "tests").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == suite_dir or suite_dir in path.parents:
            return True
    return False


def _suite_option_given(config: pytest.Config) -> bool:
    """True when the command line names one of the suite's own options (any spelling); --no-contract alone
    asks for nothing of the suite (another project's run may pass it)."""
    names = set(SUITE_OPTIONS) - set(cli_args.spellings("no-contract"))
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    return any(arg.split("=", 1)[0] in names for arg in args if arg.startswith("--"))


class _Worker:
    """Per-process view of the run: the state, one target and merged expectations per host."""

    def __init__(self, state: sess.RunState) -> None:
        self.state = state
        self._targets: dict[str, tgt.Target] = {}
        self._conditions: dict[str, dict[str, Any]] = {}
        for host in state.hosts:
            state.model(host.name)  # load (and validate) every host's contract up front

    def target(self, name: str | None) -> tgt.Target:
        host = self.state.host(name)
        if host.name not in self._targets:
            self._targets[host.name] = self.state.target(host.name)
        return self._targets[host.name]

    def model(self, name: str | None = None) -> exp.Expectations:
        return self.state.model(name)

    def conditions(self, name: str | None) -> dict[str, Any]:
        """Facts `when:` may name; read on first use, which is after the probe (see pytest_runtestloop)."""
        host = self.state.host(name)
        if host.name not in self._conditions:
            from devbox_conformance.kinds import node  # noqa: PLC0415
            from devbox_conformance.probe import conditions  # noqa: PLC0415

            found = conditions(self.state.facts(host.name), host.arch, host.base_kind)
            asked = host.gpus_required or node.asks_for_gpus(self.model(host.name).items("node"))
            self._conditions[host.name] = {**found, "gpus_required": asked}
        return self._conditions[host.name]


class _Probe:
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


class _Controller(_Worker):
    """The process that owns the container and writes the results."""

    def __init__(self, state: sess.RunState, tmpdir: Path, probe: _Probe | None) -> None:
        super().__init__(state)
        self.tmpdir = tmpdir
        self.run_file = state.save(tmpdir)
        self.probe = probe


class _Lifecycle:
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


LIFECYCLE_KEY = pytest.StashKey[_Lifecycle]()
RESULTS_KEY = pytest.StashKey[ResultsCollector]()


# pytest_runtest_logreport gets no config; the controller's config is kept here for it.
_CONFIG: dict[str, pytest.Config] = {}


MARKERS = (
    "performance: performance baseline measured inside the target (run serially; --perf or -m performance)",
    "xdist_group(name): keep these tests on one xdist worker",
)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[STATE_KEY] = None
    _CONFIG["config"] = config
    for line in MARKERS:  # the contract's markers, known in any rootdir (a team's pytest.ini lacks them)
        config.addinivalue_line("markers", line)
    if _suite_requested(config, _options(config)):
        _add_contract(config)
        if not hasattr(config, "workerinput"):
            config.pluginmanager.register(_AtomicJunit(config), "devbox-junit")
    if hasattr(config, "workerinput"):
        run_file = config.workerinput.get(WORKER_INPUT)
        if run_file:
            state = sess.RunState.load(run_file)
            config.stash[STATE_KEY] = _Worker(state)
            config.stash[WAIVERS_KEY] = waiving.Book.from_input(config.workerinput[WAIVERS_INPUT])
            _bind_testinfra_host(config, state)
        return
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "devbox-xdist")


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # ahead of xdist's own CPU count
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a conformance run: no worker processes; an explicit `-n N` is honoured.

    Every fact comes from the one probe the controller runs, so a check is a comparison of a few
    microseconds; a worker would only add its own start-up (a second of CPU each) and compete with the
    probe for the CPUs. Other projects' runs keep xdist's own choice.
    """
    if _suite_requested(config, _options(config)):
        return 0
    return None


class _XdistHooks:
    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        state = node.config.stash.get(STATE_KEY, None)
        if isinstance(state, _Controller):
            node.workerinput[WORKER_INPUT] = str(state.run_file)
            node.workerinput[WAIVERS_INPUT] = node.config.stash[WAIVERS_KEY].to_input()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not _suite_requested(config, _options(config)):
        return
    # Until the run ends, its results files say it has not: a run killed outright leaves that, not the
    # previous run's green.
    _write_stopped(config, None, "the run did not finish (still running, or killed)")
    try:
        _prepare(config)
    except pytest.UsageError as exc:
        _stopped(config, pytest.ExitCode.USAGE_ERROR, str(exc))
        raise
    except KeyboardInterrupt:
        _stopped(config, pytest.ExitCode.INTERRUPTED, "interrupted while the target was being prepared")
        raise
    except BaseException as exc:
        _stopped(config, pytest.ExitCode.INTERNAL_ERROR, tgt.first_line(exc))
        raise


# (exit status, one line) of a run stopped before its tests: what its results files must say.
START_ERROR_KEY = pytest.StashKey[tuple[int, str]]()


def _stopped(config: pytest.Config, status: int, line: str) -> None:
    """A run that stops before its tests: remember why (sessionfinish, if pytest gets there, writes it) and
    write the results files now (pytest calls no sessionfinish when sessionstart raised)."""
    config.stash[START_ERROR_KEY] = (int(status), line)
    _write_stopped(config, int(status), line)


def _write_stopped(config: pytest.Config, status: int | None, line: str) -> None:
    path = config.getoption("devbox_results_json", default=None)
    if path:
        results.write_failure(_results_path(config, path), status, line, expectations_dir(config))
    _write_html(config, results.failure_document(status, line, expectations_dir(config)))
    junit = _junit_path(config)
    if junit is not None:
        suite = str(config.getini("junit_suite_name") or "pytest")
        shown = "not finished" if status is None else status
        results.write_atomically(junit, results.junit_error(suite, shown, line))


def _results_path(config: pytest.Config, path: str) -> Path:
    value = Path(path)
    return value if value.is_absolute() else config.invocation_params.dir / value


def _junit_path(config: pytest.Config) -> Path | None:
    """--junitxml's file as pytest writes it (absolute, user and variables expanded), or None."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if not xmlpath or hasattr(config, "workerinput"):
        return None
    return Path(os.path.normpath(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath)))))


class _AtomicJunit:
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


def _bind_testinfra_host(config: pytest.Config, state: sess.RunState) -> None:
    """Point testinfra's --hosts at this run's targets: its `host` then checks them, not this machine."""
    if USER_HOSTS_KEY not in config.stash:
        config.stash[USER_HOSTS_KEY] = config.getoption("hosts", default=None)
    if state.first.kind in ("image", "container"):
        config.option.hosts = state.testinfra_hosts()


def _prepare(config: pytest.Config) -> None:
    if _perf_requested(config) and getattr(config.option, "dist", "no") != "no":
        # Under xdist every performance test would skip and the run pass: a green that measured nothing.
        raise pytest.UsageError(
            "--perf with -n N: performance tests run serially, never beside other tests: "
            f"{conclude.SERIAL_HINT}"
        )
    opts = _options(config)
    life = _Lifecycle()
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
        _bind_testinfra_host(config, state)
        probe = None if listing else _Probe(gather)
        config.stash[STATE_KEY] = _Controller(state, life.tmpdir, probe)
    except sess.UsageProblem as exc:
        life.cleanup()
        raise pytest.UsageError(str(exc)) from None
    except exp.ExpectationsError as exc:
        life.cleanup()
        raise pytest.UsageError(str(exc)) from None
    except BaseException:
        life.cleanup()
        raise
    config.stash[RESULTS_KEY] = ResultsCollector(state)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Any:
    """Hold the tests back until the probe's facts are written (xdist: before any test is handed out)."""
    state = session.config.stash.get(STATE_KEY, None)
    if isinstance(state, _Controller) and state.probe is not None:
        try:
            state.probe.wait()
        except sess.UsageProblem as exc:
            session.config.stash[START_ERROR_KEY] = (int(pytest.ExitCode.USAGE_ERROR), str(exc))
            raise pytest.UsageError(str(exc)) from None
    return (yield)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE_KEY, None)
    if not isinstance(state, _Controller):
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


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if not isinstance(state, _Controller):
        return
    run = state.state
    quiet = config.get_verbosity() < 0
    if not quiet:
        for host in run.hosts:
            seconds = run.probe_seconds(host.name)
            if seconds is not None:
                prefix = f"{host.name}: " if run.multi else ""
                terminalreporter.write_line(f"devbox: {prefix}probe {seconds:.1f} s")
    collector = config.stash.get(RESULTS_KEY, None)
    if collector is None:
        return
    if run.multi:
        # The last table, also under -q: one row per host, whatever the size of the fleet.
        terminalreporter.write_sep("-", "devbox: hosts")
        for line in collector.host_table():
            terminalreporter.write_line(line)
    elif not quiet:
        for line in collector.host_lines(named=False):
            terminalreporter.write_line(f"devbox: {line}")
    for line in conclude.figure_lines(collector.entries.values(), run.multi):
        terminalreporter.write_line(f"devbox: {line}")
    # Listed at every verbosity: a waived failure is never silent.
    strict = bool(config.getoption("devbox_strict_waivers"))
    stale, unapplied = collector.stale_waivers, collector.unapplied_waivers
    for line in waiving.summary_lines(collector.entries.values(), stale, unapplied, run.multi, strict):
        terminalreporter.write_line(f"devbox: {line}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is None:
        return  # the suite is not running (another project's tests, this plugin installed): touch nothing
    run = state.state
    for argname, kind in ARGNAMES.items():
        if argname not in metafunc.fixturenames:
            continue
        if not run.multi:
            items = state.model().items(kind)
            metafunc.parametrize(argname, items, ids=[i.key for i in items])
            return
        # Many hosts: one test per host and item, the host first in the id as testinfra's ids have it.
        pairs = [(h.name, item) for h in run.hosts for item in state.model(h.name).items(kind)]
        metafunc.parametrize(
            [HOST_ARG, argname], pairs, ids=[f"{h}-{i.key}" for h, i in pairs], indirect=[HOST_ARG]
        )
        return
    if run.multi and HOST_ARG in metafunc.fixturenames:
        names = [h.name for h in run.hosts]
        metafunc.parametrize(HOST_ARG, names, ids=names, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A kind without items (e.g. no `groups:` in the expectations) adds no test rather than a skip.

    The tests that wait on the engine (a container reaching `healthy`) go last, so the others run while
    the engine's first health checks do.
    """
    if config.stash.get(STATE_KEY, None) is None:
        return  # not our run: another project's `image_config` or `file` parameters are its own business
    if not _perf_requested(config):
        perf = [item for item in items if item.get_closest_marker("performance") is not None]
        if perf:
            config.hook.pytest_deselected(items=perf)
            items[:] = [item for item in items if item not in perf]
    run = config.stash[STATE_KEY].state
    if not run.multi:
        # test_host says which host of many was unreachable; a run of one host stops with that one line.
        items[:] = [item for item in items if getattr(item, "originalname", "") != HOST_TEST]
    else:
        _one_test_per_unreachable_host(config, items, {h.name for h in run.hosts if h.error})
    empty = [item for item in items if _is_empty_kind(item)]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]
    items.sort(key=_waits_on_engine)  # stable: everything else keeps its order


def _host_of(item: pytest.Item) -> str | None:
    spec = getattr(item, "callspec", None)
    return str(spec.params[HOST_ARG]) if spec is not None and HOST_ARG in spec.params else None


def _one_test_per_unreachable_host(config: pytest.Config, items: list[pytest.Item], down: set[str]) -> None:
    """An unreachable host's items go when its test_host[NAME] is collected to fail for it once; without it
    (a run of the team's own tests only) every item of that host still fails: never a green by omission."""
    with_test = {_host_of(i) for i in items if getattr(i, "originalname", "") == HOST_TEST}
    config.stash[HOST_TESTED_KEY] = with_test
    covered = with_test & down
    gone = [i for i in items if _host_of(i) in covered and getattr(i, "originalname", "") != HOST_TEST]
    if gone:
        config.hook.pytest_deselected(items=gone)
        items[:] = [i for i in items if i not in gone]


def _perf_requested(config: pytest.Config) -> bool:
    """Performance baselines load the target for minutes: only with --perf or a -m that names them."""
    return bool(config.getoption("devbox_perf")) or "performance" in (config.getoption("markexpr") or "")


def _waits_on_engine(item: pytest.Item) -> bool:
    spec = getattr(item, "callspec", None)
    value = spec.params.get("image_config") if spec is not None else None
    return isinstance(value, exp.ImageConfig) and bool(value.healthy)


def _is_empty_kind(item: pytest.Item) -> bool:
    fixturenames = getattr(item, "fixturenames", ())
    if not any(name in ARGNAMES for name in fixturenames):
        return False
    return any(
        str(m.kwargs.get("reason", "")).startswith("got empty parameter set")
        for m in item.iter_markers("skip")
    )


def _worker(config: pytest.Config) -> _Worker:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        pytest.skip("no conformance target (pass --image, --container or --hosts SPEC)")
    return state


HOST_ARG = "devbox_host_name"
# The contract's per-host test (tests/test_hosts.py), generated only when a run has several hosts.
HOST_TEST = "test_host"
# The hosts whose test_host[NAME] this run collected: only their items may skip for the host's problem.
HOST_TESTED_KEY = pytest.StashKey[set]()


@pytest.fixture(scope="session")
def devbox_host_name(request: pytest.FixtureRequest) -> str:
    """Name of the host this test checks (parametrized per host when the run has several)."""
    param = getattr(request, "param", None)
    if param is not None:
        return str(param)
    return _worker(request.config).state.first.name


def _host_problem(worker: _Worker, name: str) -> str | None:
    """The one line a host failed to be prepared or probed with, if it did."""
    host = worker.state.host(name)
    return host.error or worker.state.probe_error(name)


@pytest.fixture
def host_reached(request: pytest.FixtureRequest, devbox_host_name: str) -> Callable[[], None]:
    """`host_reached()` fails the calling test with the one line the host could not be reached or probed
    with (a failure of the test, not an error of its set-up)."""
    worker = _worker(request.config)

    def run() -> None:
        __tracebackhide__ = True
        request.node.user_properties.append(("devbox:host", devbox_host_name))
        request.node.user_properties.append(("devbox:kind", "hosts"))
        request.node.user_properties.append(("devbox:key", devbox_host_name))
        problem = _host_problem(worker, devbox_host_name)
        if problem:
            message = f"{devbox_host_name}: {problem}"
            request.node.user_properties.append(("devbox:message", message))
            pytest.fail(message, pytrace=False)

    return run


@pytest.fixture(scope="session")
def devbox_target(pytestconfig: pytest.Config, devbox_host_name: str) -> tgt.Target:
    """The target of this test (image container, existing container, local or remote host)."""
    worker = _worker(pytestconfig)
    problem = _host_problem(worker, devbox_host_name)
    if problem:
        pytest.fail(f"{devbox_host_name}: {problem}", pytrace=False)
    return worker.target(devbox_host_name)


@pytest.fixture(scope="session")
def facts(pytestconfig: pytest.Config, devbox_host_name: str) -> dict[str, Any]:
    """The probe's facts of this test's host (dict, as the probe printed them)."""
    return _worker(pytestconfig).state.facts(devbox_host_name)


@pytest.fixture(scope="session")
def expectations(pytestconfig: pytest.Config, devbox_host_name: str) -> exp.Expectations:
    """The merged expectations model for this test's host."""
    return _worker(pytestconfig).model(devbox_host_name)


@pytest.fixture(scope="session")
def devbox_gpus_required(pytestconfig: pytest.Config, devbox_host_name: str) -> str | None:
    """What asked for GPUs on this test's host ("--gpus all"), or None: a GPU test then fails, not skips,
    where no GPU is visible."""
    return _worker(pytestconfig).state.host(devbox_host_name).gpus_required


@pytest.fixture
def results_record(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """`results_record(key, value)`: attach JSON-serialisable data to this test's entry in --results-json."""

    def record(key: str, value: object) -> None:
        json.dumps(value)  # fail here, not in the controller, when the value cannot be serialised
        request.node.user_properties.append((f"devbox:record:{key}", value))

    return record


@pytest.fixture
def check(request: pytest.FixtureRequest, devbox_host_name: str) -> Callable[[str, exp.Item], None]:
    """`check(kind, item)`: verify one item against its host's facts; fails or skips with its message."""
    worker = _worker(request.config)

    def run(kind: str, item: exp.Item) -> None:
        __tracebackhide__ = True
        state = worker.state
        host = state.host(devbox_host_name)
        request.node.user_properties.append(("devbox:host", host.name))
        request.node.user_properties.append(("devbox:kind", kind))
        request.node.user_properties.append(("devbox:key", item.key))
        problem = _host_problem(worker, host.name)
        if problem:
            message = f"{host.name}: {problem}"
            if host.name in request.config.stash.get(HOST_TESTED_KEY, set()):
                # The host's own test (test_host[NAME]) is red for it, once: its items say why they were
                # not judged instead of repeating one failure hundreds of times.
                message = f"{host.name}: not judged: {problem} (see {HOST_TEST}[{host.name}])"
                request.node.user_properties.append(("devbox:message", message))
                pytest.skip(message)
            request.node.user_properties.append(("devbox:message", message))
            pytest.fail(message, pytrace=False)
        wait = None
        if host.container and host.engine:
            engine_name, container = host.engine, host.container

            def wait(budget: float) -> tuple[bool, str]:
                # The engine's CLI is looked up here, for the one item that waits, not for every check.
                return eng.wait_healthy(eng.choose(engine_name), container, budget_s=budget)

        ctx = checks.Context(
            facts=state.facts(host.name),
            conditions=worker.conditions(host.name),
            target_kind=host.kind,
            image_attrs=host.image_attrs,
            wait_healthy=wait,
        )
        outcome = checks.verify(kind, item, ctx)
        skipped = outcome.status == "skipped"
        # Skips of many hosts name theirs: pytest's summary groups skips by reason.
        message = f"{host.name}: {outcome.message}" if skipped and state.multi else outcome.message
        request.node.user_properties.append(("devbox:message", message))
        if skipped:
            pytest.skip(message)
        if outcome.status == "failed":
            pytest.fail(outcome.message, pytrace=False)

    return run


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
    if _host_problem(worker, host.name):
        return report  # an unreachable host is not the item's failure: no waiver hides it
    scope = wv.scope_of(host.arch, host.image_attrs, worker.state.facts(host.name))
    message = str(props.get("devbox:message") or report.longreprtext)
    waiving.judge(item, report, book, host.name, scope, message)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Feed the results collector (in the controller: xdist forwards every worker's reports here)."""
    config = _CONFIG.get("config")
    collector = config.stash.get(RESULTS_KEY, None) if config is not None else None
    if collector is not None:
        collector.add(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    collector = config.stash.get(RESULTS_KEY, None)
    path = config.getoption("devbox_results_json")
    stopped = config.stash.get(START_ERROR_KEY, None)
    book = config.stash.get(WAIVERS_KEY, None)
    if collector is not None and book is not None and not config.option.collectonly and not stopped:
        run = collector.state
        scopes = {h.name: wv.scope_of(h.arch, h.image_attrs, run.facts(h.name)) for h in run.hosts}
        collector.stale_waivers, collector.unapplied_waivers = waiving.stale(
            book, collector.entries.values(), scopes
        )
        if book.strict and collector.stale_waivers and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = exitstatus = pytest.ExitCode.TESTS_FAILED
    if collector is not None and path:
        error = stopped[1] if stopped else None
        collector.write(_results_path(config, path), int(exitstatus), error)
    if collector is not None:
        _write_html(config, collector.document(int(exitstatus), stopped[1] if stopped else None))
    _cleanup(config)


def _write_html(config: pytest.Config, document: dict[str, Any]) -> None:
    """--html: the page of the same document --results-json holds (module report_html renders it)."""
    html = config.getoption("devbox_html", default=None)
    if html and not hasattr(config, "workerinput"):
        from devbox_conformance import report_html  # noqa: PLC0415 - jinja2 only for runs that ask

        try:
            report_html.write(_results_path(config, html), document)
        except OSError as exc:
            raise pytest.UsageError(f"--html {html}: cannot write it: {exc.strerror or exc}") from None


def pytest_unconfigure(config: pytest.Config) -> None:
    _cleanup(config)
    _CONFIG.pop("config", None)


def _cleanup(config: pytest.Config) -> None:
    life = config.stash.get(LIFECYCLE_KEY, None)
    if life is not None:
        life.cleanup()
