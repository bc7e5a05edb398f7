"""The registry of item kinds: one module per kind declares its model, probe request, gatherer and check.

    >>> [k.section for k in all_kinds()][:3]
    ['binaries', 'packages', 'python_dists']
    >>> get("files").argname
    'file'

The loader (`expectations.KINDS`, the model's fields), the checks (`checks.REGISTRY`), the plugin's
parameters (`plugin.ARGNAMES`) and the probe's request and in-target gatherers are all derived from these
declarations, and so is the JSON Schema (kinds/schema.py). Adding a kind is: a module here (model, schema
fields, request, check) and its name in MODULES below, its gatherer in `devbox_conformance/intarget/`, its
test function and its tests.
"""

from __future__ import annotations

import importlib

from devbox_conformance.kinds.base import Item, Kind, When

__all__ = ["Item", "Kind", "When", "MODULES", "all_kinds", "get"]

# Kind modules in report order (the order of the results JSON's counts and of the model's fields).
MODULES = (
    "binaries",
    "packages",
    "python_dists",
    "labels",
    "env",
    "files",
    "users",
    "groups",
    "shells",
    "image_config",
    "commands",
    "cuda",
    "gpu",
    "security",
    "node",
)

_LOADED: dict[str, Kind] = {}


def all_kinds() -> tuple[Kind, ...]:
    """Every declared kind, in report order (their modules are imported on first use)."""
    if not _LOADED:
        for name in MODULES:
            kind: Kind = importlib.import_module(f"devbox_conformance.kinds.{name}").KIND
            _LOADED[kind.section] = kind
    return tuple(_LOADED.values())


def get(section: str) -> Kind:
    """The kind declared for a YAML section (KeyError for an unknown one)."""
    all_kinds()
    return _LOADED[section]
