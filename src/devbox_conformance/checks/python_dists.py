"""The python_dists check lives with its kind (kinds/python_dists.py); the image diff imports it from here."""

from __future__ import annotations

from devbox_conformance.kinds.python_dists import *  # noqa: F403
from devbox_conformance.kinds.python_dists import (
    evaluate,  # noqa: F401
    normalize,  # noqa: F401
)
