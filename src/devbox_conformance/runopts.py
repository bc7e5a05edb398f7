"""The suite's options as the run resolves them, and the one-line problem a wrong one makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devbox_conformance import engine as eng
from devbox_conformance import target as tgt


class UsageProblem(Exception):
    """Wrong or conflicting options, unusable target or expectations: one line for the user."""


@dataclass(frozen=True)
class Options:
    """The suite's command-line options (see plugin.pytest_addoption) and testinfra's connection ones."""

    image: str | None
    container: str | None
    hosts: str | None
    platform: str | None
    expectations_dir: str
    arch: str | None
    base_kind: str | None
    # "auto" (GPUs when the engine has the NVIDIA runtime and the host sees a GPU), "all" or "none".
    gpus: str = "auto"
    # missing | always | never: when --image is pulled.
    pull: str = "missing"
    # docker | podman | auto: the engine that runs --image and holds --container.
    engine: str = "auto"
    # Extra `run` options for the engine (e.g. `--runtime runc` for podman).
    engine_args: tuple[str, ...] = ()
    # testinfra's options (ssh_config, ssh_identity_file, sudo, sudo_user, ansible_inventory, force_ansible,
    # connection): every host the suite makes gets them, as testinfra's own `host` fixture does.
    connection: dict[str, Any] = field(default_factory=dict)


def split_hosts(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def engine_for(opts: Options) -> eng.Engine:
    """The engine the options name; UsageProblem (one line) when there is none."""
    try:
        return eng.choose(opts.engine, opts.engine_args)
    except tgt.TargetError as exc:
        raise UsageProblem(str(exc)) from None
