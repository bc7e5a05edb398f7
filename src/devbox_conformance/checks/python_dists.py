"""python_dists: installed (importlib.metadata), at least the minimum version, and importable."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

from devbox_conformance.checks import Context, Outcome
from devbox_conformance.expectations import PythonDist


def normalize(name: str) -> str:
    """PEP 503 name: `normalize("Lightning_Utilities")` -> "lightning-utilities"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def evaluate(item: PythonDist, ctx: Context) -> Outcome:
    version = (ctx.facts.get("dists") or {}).get(normalize(item.name))
    expected = "installed" + (f", version >= {item.min_version}" if item.min_version else "")
    if item.import_name:
        expected += f", `import {item.import_name}` works"
    if version is None:
        return Outcome.failed(expected, "not installed", absent=True)
    if item.min_version is not None:
        try:
            below = Version(version) < item.min_version
        except InvalidVersion:
            return Outcome.failed(expected, f"version {version!r} is not PEP 440")
        if below:
            return Outcome.failed(expected, f"version {version}")
    if item.import_name:
        result = (ctx.facts.get("imports") or {}).get(item.import_name)
        if result is None:
            return Outcome.failed(expected, f"version {version}; import {item.import_name} was not probed")
        if not result.get("ok"):
            return Outcome.failed(expected, f"version {version}; import {item.import_name} failed: "
                                  f"{result.get('error')}")
    return Outcome.passed(version)
