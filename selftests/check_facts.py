"""What a check sees when the probe gathered nothing for a kind: the empty shapes the probe reports.

Why one place: the checks' unit tests and the adversarial corpus each wrote this dict out; a kind whose
facts gain a section must be seen empty the same way by both.
"""

from __future__ import annotations

from typing import Any

EMPTY_FACTS: dict[str, Any] = {
    "binaries": {},
    "dists": {},
    "imports": {},
    "files": {},
    "env": {},
    "users": {},
    "groups": {},
    "shells": {},
    "manifest": None,
}
