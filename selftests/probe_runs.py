"""The probe script run here, in a fresh interpreter with a JSON request, as a target runs it.

Why one helper: the probe, isolation and command tests each spelled out the same subprocess call; the
probe's own command line (`python -c SOURCE REQUEST`) is what they share with the targets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from devbox_conformance import probe


def probe_process(request: dict[str, Any], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The finished probe process (its exit code and output as they came), for tests of how it fails."""
    return subprocess.run(
        [sys.executable, "-c", probe.PROBE_SOURCE, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_probe(request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """The facts the probe printed; a probe that exits non-zero raises CalledProcessError."""
    proc = probe_process(request, timeout)
    proc.check_returncode()
    return json.loads(proc.stdout)
