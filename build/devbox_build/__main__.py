"""`python3 -m devbox_build` runs the CLI, which is how the repo-root `./devbox` launcher starts it."""

from __future__ import annotations

from devbox_build.cli import main

raise SystemExit(main())
