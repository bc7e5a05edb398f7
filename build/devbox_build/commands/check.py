"""`devbox check IMAGE [pytest args]`: run the conformance suite on IMAGE, as the README's first example does.

Why a harness command: the suite is a pytest plugin, and a new user looking at `devbox --help` found no way
to check an image. This runs `python -m pytest --image IMAGE -n auto [pytest args]` with the harness's own
interpreter (the checkout's `.venv`, or the one the project is installed in) in the current directory, so
relative paths in the extra arguments (`--expectations team/`, `--results-json r.json`, `team_tests/`)
mean what they mean to the user. The process is replaced by pytest (exec): its exit status is pytest's,
and Ctrl-C or SIGTERM reach pytest itself, which removes its container.

Example:
    ./devbox check sytelus/gpu-devbox:latest --results-json results.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence

from devbox_build import config
from devbox_build.errors import UsageError

PLUGIN = "devbox_conformance.plugin"
# Arguments after which `-n auto` is not added: the user chose the workers, or asked for the performance
# baselines (they run serially: pytest-benchmark turns itself off under xdist).
_WORKER_OPTIONS = ("-n", "--numprocesses", "--dist", "--perf")


def _workers_chosen(extra: Sequence[str]) -> bool:
    for tok in extra:
        name = tok.split("=", 1)[0]
        if name in _WORKER_OPTIONS or (tok.startswith("-n") and not tok.startswith("--")):
            return True
        if "no:xdist" in tok or "performance" in tok:
            return True
    return False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="run the conformance suite on an image (python -m pytest --image IMAGE -n auto)",
        description="Check IMAGE against the contract: python -m pytest --image IMAGE -n auto [PYTEST_ARGS], "
        "run in the current directory with the harness's interpreter; exits with pytest's status "
        "(0 green, 1 failures, 4 a one-line error). Arguments after IMAGE go to pytest unchanged.",
    )
    p.add_argument(
        "image", metavar="IMAGE", help="image to check (local, or pulled as the suite's --pull says)"
    )
    p.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        metavar="PYTEST_ARGS",
        help="passed to pytest, e.g. --expectations=team/ --results-json r.json -k binary",
    )
    p.set_defaults(func=run)


def command(image: str, extra: Sequence[str], *, python: str, plugin_registered: bool) -> list[str]:
    """The pytest argument list (pure; unit-tested)."""
    argv = [python, "-m", "pytest", "--image", image]
    if not _workers_chosen(extra):
        argv += ["-n", "auto"]
    if not plugin_registered:
        argv += ["-p", PLUGIN]
    return argv + list(extra)


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """BASE with this checkout's `src/` first on PYTHONPATH: `./devbox check` runs this checkout's suite."""
    env = dict(base)
    src = config.REPO_ROOT / "src"
    if (src / "devbox_conformance" / "plugin.py").is_file():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), base.get("PYTHONPATH", "")) if p)
    return env


def plugin_registered() -> bool:
    """True when pytest will load the suite by itself (the project is installed: its pytest11 entry point)."""
    return any(ep.value == PLUGIN for ep in importlib.metadata.entry_points(group="pytest11"))


def run(args: argparse.Namespace) -> int:
    if args.image.startswith("-"):
        raise UsageError(f"IMAGE must come first, got {args.image!r} (devbox check IMAGE [PYTEST_ARGS])")
    for module in ("pytest", "testinfra"):
        if importlib.util.find_spec(module) is None:
            raise UsageError(
                f"{module} is not installed for {sys.executable}: run tools/host-setup.sh in the checkout, "
                f"or pip install the project"
            )
    argv = command(args.image, args.pytest_args, python=sys.executable, plugin_registered=plugin_registered())
    sys.stdout.flush()
    os.execve(sys.executable, argv, environment(os.environ))
    return 0  # not reached
