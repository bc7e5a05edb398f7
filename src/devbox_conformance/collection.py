"""Which tests a conformance run has: one test id per item (and per host in a fleet), and the tests taken
out of it (performance without --perf, an empty kind, an unreachable host's items), engine waits last.

Why apart from the plugin: the ids and the deselections are the run's contract with every report that
compares runs; the hooks only call these.
"""

from __future__ import annotations

import pytest

from devbox_conformance import expectations as exp
from devbox_conformance.options import perf_requested
from devbox_conformance.runview import HOST_ARG, HOST_TEST, HOST_TESTED_KEY, STATE_KEY

# Test argument name -> item kind; a suite test asks for one of these and gets one test id per item.
ARGNAMES = {k.argname: k.section for k in exp.all_kinds()}


def parametrize(metafunc: pytest.Metafunc) -> None:
    """One test per item of the kind a test asks for; in a fleet, per host and item (host first)."""
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


def modify_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A kind without items (e.g. no `groups:` in the expectations) adds no test rather than a skip.

    The tests that wait on the engine (a container reaching `healthy`) go last, so the others run while
    the engine's first health checks do.
    """
    if config.stash.get(STATE_KEY, None) is None:
        return  # not our run: another project's `image_config` or `file` parameters are its own business
    if not perf_requested(config):
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
