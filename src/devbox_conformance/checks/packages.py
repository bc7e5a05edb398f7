"""The packages check lives with its kind (kinds/packages.py); the image diff imports it from here."""

from __future__ import annotations

from devbox_conformance.kinds.packages import *  # noqa: F403
from devbox_conformance.kinds.packages import (
    evaluate,  # noqa: F401
    is_installed,  # noqa: F401
)
