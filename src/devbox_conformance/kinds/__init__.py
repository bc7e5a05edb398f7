"""The registry of item kinds: one module per kind declares its model, probe request, gatherer and check.

    >>> [k.section for k in all_kinds()][:3]
    ['binaries', 'packages', 'python_dists']
    >>> get("files").argname
    'file'

The loader (`expectations.KINDS`, the model's fields), the checks (`verdict.verify` calls the kind's
`evaluate`), the plugin's parameters (`collection.ARGNAMES`), the probe's request and in-target gatherers
and the JSON Schema (kinds/schema.py) are all derived from these declarations. Adding a kind is: a module
here (model, schema fields, request, check; found by `kind_modules()`), its gatherer in
`devbox_conformance/intarget/`, its test function and its tests (docs/ARCHITECTURE.md, "Adding a kind").
"""

from __future__ import annotations

import importlib
import pkgutil

from devbox_conformance.kinds.base import Item, Kind, When

__all__ = ["Item", "Kind", "When", "all_kinds", "get", "kind_modules"]

# The package's modules that are not kinds (besides `_private` helpers): the declarations' vocabulary, the
# checks' vocabulary (Context, Outcome, verify) and the schema built from the declarations.
SHARED_MODULES = frozenset({"base", "schema", "verdict"})

_LOADED: dict[str, Kind] = {}


def kind_modules() -> tuple[str, ...]:
    """The modules of this package that declare a kind: every module but the shared ones (no list to keep)."""
    return tuple(
        m.name
        for m in pkgutil.iter_modules(__path__)
        if not m.ispkg and m.name not in SHARED_MODULES and not m.name.startswith("_")
    )


def all_kinds() -> tuple[Kind, ...]:
    """Every declared kind, in report order (their modules are imported on first use)."""
    if not _LOADED:
        found = []
        for name in kind_modules():
            module = importlib.import_module(f"{__name__}.{name}")
            kind = getattr(module, "KIND", None)
            if not isinstance(kind, Kind):
                raise TypeError(f"{module.__name__}: a kind module must declare KIND = Kind(...)")
            found.append(kind)
        for kind in sorted(found, key=lambda k: (k.report_order, k.section)):
            _LOADED[kind.section] = kind
    return tuple(_LOADED.values())


def get(section: str) -> Kind:
    """The kind declared for a YAML section (KeyError for an unknown one)."""
    all_kinds()
    return _LOADED[section]
