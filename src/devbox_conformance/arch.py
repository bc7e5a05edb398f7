"""Architecture names: one table for the suite and the harness (`devbox_build.config` reads it too).

Docker names architectures `amd64`/`arm64`; `uname -m` says `x86_64`/`aarch64`. Kept in one place so the
two sides cannot disagree on what a machine is. Standard library only: the harness imports it at start.

    >>> normalize_arch("aarch64")
    'arm64'
"""

from __future__ import annotations

import platform
from typing import Any

# The architectures the image is built for and a contract has overlays for (`<arch>.yaml`).
SUPPORTED = ("amd64", "arm64")
# uname -m spellings (and Docker's own) -> Docker's arch names.
MACHINE_TO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def normalize_arch(machine: str) -> str:
    """Docker's name for `machine`; an unknown name is returned lower-cased, unchanged otherwise."""
    return MACHINE_TO_ARCH.get(machine.lower(), machine.lower())


def local_arch() -> str:
    """This machine's architecture in Docker's spelling."""
    return normalize_arch(platform.machine())


def image_arch(attrs: dict[str, Any]) -> str:
    """The architecture an image's inspect document names ("unknown" when it names none)."""
    return normalize_arch(str(attrs.get("Architecture") or "unknown"))
