"""The run as one process sees it: the stash keys its modules share and `Worker`, the per-process view of
the run's state (one target, one model and the `when:` facts per host).

Why apart: the fixtures, the report hooks, the lifecycle and the outputs all read these; keeping them in one
small module spares the others from importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from devbox_conformance import expectations as exp
from devbox_conformance import session as sess
from devbox_conformance import target as tgt
from devbox_conformance import waiving
from devbox_conformance.results import ResultsCollector

if TYPE_CHECKING:
    from devbox_conformance.lifecycle import Controller

STATE_KEY: pytest.StashKey[Controller | Worker | None] = pytest.StashKey()
WORKER_INPUT = "devbox_run_file"
# The run's waivers and the day they are judged on, read once by the controller and handed to workers.
WAIVERS_KEY = pytest.StashKey[waiving.Book]()
WAIVERS_INPUT = "devbox_waivers"
RESULTS_KEY = pytest.StashKey[ResultsCollector]()
# (exit status, one line) of a run stopped before its tests: what its results files must say.
START_ERROR_KEY = pytest.StashKey[tuple[int, str]]()

HOST_ARG = "devbox_host_name"
# The contract's per-host test (tests/test_hosts.py), generated only when a run has several hosts.
HOST_TEST = "test_host"
# The hosts whose test_host[NAME] this run collected: only their items may skip for the host's problem.
HOST_TESTED_KEY = pytest.StashKey[set]()


# pytest_runtest_logreport gets no config; the controller's config is kept here for it.
CONFIG: dict[str, pytest.Config] = {}


class Worker:
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


def host_problem(worker: Worker, name: str) -> str | None:
    """The one line a host failed to be prepared or probed with, if it did."""
    host = worker.state.host(name)
    return host.error or worker.state.probe_error(name)


def worker(config: pytest.Config) -> Worker:
    """This process's view of the run, or a skip of the calling test when the suite has no target."""
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        pytest.skip("no conformance target (pass --image, --container or --hosts SPEC)")
    return state
