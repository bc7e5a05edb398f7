"""The probe's in-target code, importable here: the package devbox_conformance/intarget (one gatherer per
kind, one pty runner, one text helper) is what runs in a target (see `probe.PROBE_SOURCE`).

This module keeps the names the suite's and the image diff's tests use, and runs the probe in this
interpreter when started as a file: `python3 probe_script.py '{"all_packages": true}'`.
"""

from __future__ import annotations

import sys

from devbox_conformance.intarget.basics import gpu_visible, read_manifest, torch_cuda  # noqa: F401
from devbox_conformance.intarget.main import PROBE_VERSION, main  # noqa: F401
from devbox_conformance.intarget.packages import probe_all_packages, probe_packages  # noqa: F401
from devbox_conformance.intarget.python_dists import (  # noqa: F401
    IMPORT_CHILD,
    ImportChild,
    import_workers,
    probe_dists,
    probe_imports,
)
from devbox_conformance.intarget.shells import probe_shell  # noqa: F401

if __name__ == "__main__":
    sys.exit(main(sys.argv))
