"""Entry point: parse the command line, run one subcommand, and turn known errors into one line.

A user's mistake (bad platform, missing Dockerfile, daemon down, missing CA file) prints one line and exits
2; a failed build or check exits 1; Ctrl-C and SIGTERM exit 130/143 after cleanup has run.

Example:
    ./devbox build --standin
    ./devbox --version                   # devbox 0.1.0
    python3 -m devbox_build info
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from devbox_build.commands import NAMES
from devbox_build.errors import DevboxError
from devbox_build.version import version


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every `finally` (staged wheels, registries) still runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devbox",
        description="Build, check and publish the gpu-devbox image (amd64 and arm64).",
        epilog="Environment: IMAGE, TAG, PLATFORMS, BUILDER, BUILD_CONTEXT, DOCKERFILE, VCS_REF, CACHE_DIR, "
        "SKIP_LOGIN, INSTALL_*; flags override them. See build/README.md.",
    )
    parser.add_argument("--debug", action="store_true", help="log every command run and show tracebacks")
    parser.add_argument(
        "--version", action="version", version=f"devbox {version()}", help="print `devbox <version>` and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in NAMES:
        importlib.import_module(f"devbox_build.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    # Progress must reach a pipe or CI log as it happens, not when the buffer fills.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="[devbox] %(message)s",
        stream=sys.stderr,
    )
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args))
    except DevboxError as exc:
        if args.debug:
            raise
        print(f"devbox {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print(f"devbox {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"devbox {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
