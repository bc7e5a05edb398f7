"""python_dists: installed (importlib.metadata), at least the minimum version, and importable."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome


@dataclass(frozen=True, kw_only=True)
class PythonDist(Item):
    name: str
    min_version: Version | None = None
    # Any PEP 440 specifier ("~=2.5", ">=1.0,<2", "!=1.3.0"), checked beside min_version.
    version: SpecifierSet | None = None
    # Module to import, or None for "do not import".
    import_name: str | None = None
    import_timeout: float = 120.0


def normalize(name: str) -> str:
    """PEP 503 name: `normalize("Lightning_Utilities")` -> "lightning-utilities"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def evaluate(item: PythonDist, ctx: Context) -> Outcome:
    dists = ctx.facts.get("dists") or {}
    key = normalize(item.name)
    expected = "installed" + (f", version >= {item.min_version}" if item.min_version else "")
    if item.version is not None:
        expected += f", version {item.version}"
    if item.import_name:
        expected += f", `import {item.import_name}` works"
    if key not in dists:
        return Outcome.failed(expected, "not installed", absent=True)
    version = dists[key]
    if not version:
        # Metadata without a Version: the distribution is there but broken (an interrupted install, a
        # hand-made .dist-info), so even an optional item fails.
        return Outcome.failed(expected, "installed with no version in its metadata")
    problem = _version_problem(item, version) or _import_problem(item, version, ctx.facts)
    return Outcome.failed(expected, problem) if problem else Outcome.passed(version)


def _version_problem(item: PythonDist, version: str) -> str | None:
    try:
        parsed = Version(version)
    except InvalidVersion:
        parsed = None
    if item.min_version is None and item.version is None:
        return None
    if parsed is None:
        return f"version {version!r} is not PEP 440"
    below = item.min_version is not None and parsed < item.min_version
    outside = item.version is not None and not item.version.contains(parsed, prereleases=True)
    return f"version {version}" if below or outside else None


def _import_problem(item: PythonDist, version: str, facts: Mapping[str, Any]) -> str | None:
    if not item.import_name:
        return None
    result = (facts.get("imports") or {}).get(item.import_name)
    if result is None:
        return f"version {version}; import {item.import_name} was not probed"
    if not result.get("ok"):
        return f"version {version}; import {item.import_name} failed: {result.get('error')}"
    return None


def request(items: Sequence[PythonDist]) -> dict[str, Any]:
    """The imports to check, torch first: every later import that needs it finds it loaded in its child."""
    imports = [d.import_name for d in items if d.import_name]
    order: dict[str, int] = {}
    for i, d in enumerate(items):
        if d.import_name:
            order.setdefault(d.import_name, i)
    imports.sort(key=lambda m: (m != "torch", order[m]))
    return {
        "imports": list(dict.fromkeys(imports)),
        "import_timeout": max([d.import_timeout for d in items] or [120.0]),
        # Children importing side by side: at most this many, never more than the target's CPUs.
        "import_workers": 4,
    }


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "min_version" in raw:
        out["min_version"] = Version(raw["min_version"])
    if "version" in raw:
        out["version"] = SpecifierSet(raw["version"])
    value = raw.get("import", True)
    out["import_name"] = (
        None if value is False else (raw["name"].replace("-", "_").lower() if value is True else value)
    )
    return out


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Python distributions that must be installed (importlib.metadata) and importable."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "Distribution name as on PyPI (e.g. transformers).",
        "type": "string",
        "minLength": 1,
    },
    "min_version": {
        "description": "Minimum version (the installed one must be >= this).",
        "type": "string",
        "minLength": 1,
    },
    "version": {
        "description": "PEP 440 version specifier the installed version must satisfy (e.g. "
        "'~=2.5', '>=1.0,<2', '!=1.3.0'), beside min_version.",
        "type": "string",
        "minLength": 1,
    },
    "import": {
        "description": "Module to import (default: the name with - replaced by _); false: do not import.",
        "type": ["string", "boolean"],
    },
    "import_timeout": {
        "description": "Seconds the import may take in a fresh interpreter (default 120).",
        "type": "number",
        "exclusiveMinimum": 0,
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    """The imports, as the workers share them: rounds of `import_workers`, each at most `import_timeout`."""
    imports = request.get("imports") or []
    if not imports:
        return []
    workers = max(1, int(request.get("import_workers", 4)))
    return [math.ceil(len(imports) / workers) * float(request.get("import_timeout", 120))]


KIND = Kind(
    section="python_dists",
    report_order=30,
    key="name",
    argname="python_dist",
    test="test_python_dist",
    item=PythonDist,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="python_dists",
    patterns={"version": "specifier", "min_version": "version"},
    convert=convert,
    probe_priority=0,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
