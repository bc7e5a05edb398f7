"""The binaries check lives with its kind (kinds/binaries.py); the image diff imports it from here."""

from __future__ import annotations

from devbox_conformance.kinds.binaries import *  # noqa: F403
from devbox_conformance.kinds.binaries import (
    evaluate,  # noqa: F401
    extract_version,  # noqa: F401
)
