"""One module per subcommand; each has `register(subparsers)` and `run(args) -> exit status`.

Example:
    from devbox_build.commands import build
    build.register(subparsers)
"""

from __future__ import annotations

# Order = order in `devbox --help`.
NAMES = (
    "check",
    "setup_builder",
    "base",
    "build",
    "build_native",
    "push",
    "run",
    "verify",
    "info",
    "prune",
    "release",
    "diff",
    "snapshot",
    "fleet_report",
    "report",
)
