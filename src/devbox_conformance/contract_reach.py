"""The shipped contract is collected wherever the suite is installed, including a `.venv` in the directory
pytest runs from.

Why: the README installs the suite with `python3 -m venv .venv && .venv/bin/pip install …`. pytest then
walks the run's directory, meets `.venv` (a virtual environment, and a name `norecursedirs` hides) and
ignores it, and with it the contract the suite added as a path inside it: `pytest --image IMG` beside a
team's tests ran the team's tests only and passed, 0 of the contract's items run. Here the directories on
the way to the contract are not ignored, everything else inside the ignored ones still is, and a run that
asked for the contract and collected none of it stops.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

import pytest

from devbox_conformance.options import CONTRACT_DIR


def _contract(config: pytest.Config) -> Path | None:
    """The contract's directory when this run collects it (the suite added it to pytest's arguments)."""
    contract = CONTRACT_DIR.resolve()
    return contract if str(contract) in config.args else None


def _hidden_by_default(directory: Path, config: pytest.Config) -> bool:
    """What pytest itself would skip: a virtual environment's root, or a name `norecursedirs` matches."""
    if (directory / "pyvenv.cfg").is_file() or (directory / "conda-meta" / "history").is_file():
        return True
    return any(fnmatch.fnmatch(directory.name, pattern) for pattern in config.getini("norecursedirs"))


def ignore(collection_path: Path, config: pytest.Config) -> bool | None:
    """pytest_ignore_collect: False on the way to the contract, True off that way inside a directory pytest
    would have skipped, None (pytest decides) for everything else."""
    contract = _contract(config)
    if contract is None:
        return None
    # As walked, links not followed: `.venv/lib64` links to `lib`, and resolved it would look like the way
    # to the contract and collect it a second time.
    path = Path(os.path.abspath(collection_path))
    if path == contract or contract in path.parents:
        return None
    if path in contract.parents:
        return False
    for ancestor in contract.parents:
        if ancestor in path.parents and _hidden_by_default(ancestor, config):
            return True  # a sibling of the contract's way inside .venv: still out of the run
    return None


def require_collected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before any deselection: a run that asked for the contract and collected none of it is not a run of
    the contract, whatever else passes."""
    contract = _contract(config)
    if contract is None:
        return
    if not any(
        contract == Path(item.path).resolve().parent or contract in Path(item.path).parents for item in items
    ):
        raise pytest.UsageError(
            f"the contract at {contract} was not collected (pytest skipped the directory that holds it); "
            "run with --no-contract to run only your own tests"
        )
