"""The suite's fixtures: the host a test checks, its target, facts and expectations, and `check`, which
judges one item against its host's facts.

Registered by the plugin (its `pytest_plugins`), so they resolve wherever the plugin is loaded: `-p`, the
installed wheel's pytest11 entry point, and every xdist worker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from devbox_conformance import expectations as exp
from devbox_conformance import target as tgt
from devbox_conformance.kinds import verdict
from devbox_conformance.runview import HOST_TEST, HOST_TESTED_KEY, host_problem, worker


@pytest.fixture(scope="session")
def devbox_host_name(request: pytest.FixtureRequest) -> str:
    """Name of the host this test checks (parametrized per host when the run has several)."""
    param = getattr(request, "param", None)
    if param is not None:
        return str(param)
    return worker(request.config).state.first.name


@pytest.fixture
def host_reached(request: pytest.FixtureRequest, devbox_host_name: str) -> Callable[[], None]:
    """`host_reached()` fails the calling test with the one line the host could not be reached or probed
    with (a failure of the test, not an error of its set-up)."""
    view = worker(request.config)

    def run() -> None:
        __tracebackhide__ = True
        request.node.user_properties.append(("devbox:host", devbox_host_name))
        request.node.user_properties.append(("devbox:kind", "hosts"))
        request.node.user_properties.append(("devbox:key", devbox_host_name))
        problem = host_problem(view, devbox_host_name)
        if problem:
            message = f"{devbox_host_name}: {problem}"
            request.node.user_properties.append(("devbox:message", message))
            pytest.fail(message, pytrace=False)

    return run


@pytest.fixture(scope="session")
def devbox_target(pytestconfig: pytest.Config, devbox_host_name: str) -> tgt.Target:
    """The target of this test (image container, existing container, local or remote host)."""
    view = worker(pytestconfig)
    problem = host_problem(view, devbox_host_name)
    if problem:
        pytest.fail(f"{devbox_host_name}: {problem}", pytrace=False)
    return view.target(devbox_host_name)


@pytest.fixture(scope="session")
def facts(pytestconfig: pytest.Config, devbox_host_name: str) -> dict[str, Any]:
    """The probe's facts of this test's host (dict, as the probe printed them)."""
    return worker(pytestconfig).state.facts(devbox_host_name)


@pytest.fixture(scope="session")
def expectations(pytestconfig: pytest.Config, devbox_host_name: str) -> exp.Expectations:
    """The merged expectations model for this test's host."""
    return worker(pytestconfig).model(devbox_host_name)


@pytest.fixture(scope="session")
def devbox_gpus_required(pytestconfig: pytest.Config, devbox_host_name: str) -> str | None:
    """What asked for GPUs on this test's host ("--gpus all"), or None: a GPU test then fails, not skips,
    where no GPU is visible."""
    return worker(pytestconfig).state.host(devbox_host_name).gpus_required


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
    view = worker(request.config)

    def run(kind: str, item: exp.Item) -> None:
        __tracebackhide__ = True
        state = view.state
        host = state.host(devbox_host_name)
        request.node.user_properties.append(("devbox:host", host.name))
        request.node.user_properties.append(("devbox:kind", kind))
        request.node.user_properties.append(("devbox:key", item.key))
        problem = host_problem(view, host.name)
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
        ctx = verdict.Context(
            facts=state.facts(host.name),
            conditions=view.conditions(host.name),
            target_kind=host.kind,
            image_attrs=host.image_attrs,
        )
        outcome = verdict.verify(kind, item, ctx)
        skipped = outcome.status == "skipped"
        # Skips of many hosts name theirs: pytest's summary groups skips by reason.
        message = f"{host.name}: {outcome.message}" if skipped and state.multi else outcome.message
        request.node.user_properties.append(("devbox:message", message))
        if skipped:
            pytest.skip(message)
        if outcome.status == "failed":
            pytest.fail(outcome.message, pytrace=False)

    return run
