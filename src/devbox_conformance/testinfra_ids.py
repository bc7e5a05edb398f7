"""Stable test ids for the tests that use testinfra's `host` fixture.

testinfra names its `host` parameter after the backend's host name. For an `--image` run that is the
container this run started, whose name carries the run id (`docker://devbox-conformance-3f2a…`): every run
would give a team's own tests new ids, and JUnit history and flaky-test tracking would see new tests each
time. The run's host record already has a stable name (the image reference); testinfra is told to use it.

testinfra builds its hosts through a process-wide cache keyed by the spec and its connection options, so
the hosts created here with the same arguments are the ones its own `pytest_generate_tests` hands out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import testinfra


def pin(option: Any, names: Mapping[str, str]) -> None:
    """Give each testinfra host whose id is a key of `names` (a target's spec) the matching stable name.

    `option` is pytest's `config.option` after the run bound `--hosts` to its targets: the arguments must be
    the ones testinfra's plugin passes, or its cache would make other hosts with the random ids again.
    """
    if option.hosts:
        rename(hosts_of(option), names)


def hosts_of(option: Any) -> list[Any]:
    """testinfra's hosts for `option` exactly as its own plugin asks for them (the same cache entry)."""
    return testinfra.get_hosts(
        option.hosts.split(","),
        connection=option.connection,
        ssh_config=option.ssh_config,
        ssh_identity_file=option.ssh_identity_file,
        sudo=option.sudo,
        sudo_user=option.sudo_user,
        ansible_inventory=option.ansible_inventory,
        force_ansible=option.force_ansible,
    )


def rename(hosts: Iterable[Any], names: Mapping[str, str]) -> None:
    for host in hosts:
        backend = host.backend
        stable = names.get(backend.get_pytest_id())
        if stable is not None:
            backend.get_pytest_id = lambda stable=stable: stable
