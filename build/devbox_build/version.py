"""The harness's version: the installed `gpu-devbox` distribution's, else the checkout's pyproject.toml.

Why both: `pip install .` records the version in the distribution metadata, while `./devbox` runs straight
from a checkout where nothing is installed; either way `devbox --version` names the version in use.

Example:
    version()          # "0.1.0"
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from devbox_build import config

DISTRIBUTION = "gpu-devbox"
# `version = "0.1.0"` inside the [project] table (no tomllib before Python 3.11).
_PROJECT_TABLE = re.compile(r"^\[project\]\s*$(?P<body>.*?)(?=^\[|\Z)", re.M | re.S)
_VERSION = re.compile(r"""^version\s*=\s*["'](?P<version>[^"']+)["']""", re.M)


def checkout_version(pyproject: Path) -> str | None:
    """`version` of the [project] table in PYPROJECT, or None when the file or the key is missing."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    table = _PROJECT_TABLE.search(text)
    found = _VERSION.search(table.group("body")) if table else None
    return found.group("version") if found else None


def version(pyproject: Path | None = None) -> str:
    """The installed distribution's version, else the checkout's, else 'unknown'."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    return checkout_version(pyproject or config.REPO_ROOT / "pyproject.toml") or "unknown"
