"""The suite's command line before pytest has read it: one spelling per option, whatever the user typed.

Why: pytest decides its rootdir (and so its ini file, `testpaths`, `addopts` and `pythonpath`) from the
arguments it cannot attribute to an option, and it does so BEFORE plugins loaded through entry points add
their options. `pytest --expectations ../team-contract` therefore took `../team-contract` for a test path:
the rootdir became the common parent, the checkout's pytest.ini was not read and that whole directory was
collected. `--expectations=../team-contract` was read correctly. No plugin hook runs before that decision,
so the suite undoes it at the first hook that does run: when a spaced value of one of these options names
an existing path (only existing paths move the rootdir), the same command is run again with `--opt=value`
(the process replaces itself, so the run is exactly the `=` run). Where the command line is not this
process's own (pytest.main() from Python), the run stops with one line naming the `=` spelling instead.

    rewrite(["--expectations", "../x", "-q"], {"--expectations"})  ->  ["--expectations=../x", "-q"]
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# testinfra's options that take a value (the suite passes them on to every host it makes).
TESTINFRA_VALUE_OPTIONS = (
    "--hosts",
    "--connection",
    "--ssh-config",
    "--ssh-extra-args",
    "--ssh-identity-file",
    "--sudo-user",
    "--ansible-inventory",
    "--nagios",
)
PREFIX = "--devbox-"


def spellings(name: str) -> tuple[str, ...]:
    """`--image` -> ("--image", "--devbox-image"): every suite option also answers to the one prefix."""
    return (f"--{name}", f"{PREFIX}{name}")


def rewrite(args: Sequence[str], value_options: Iterable[str]) -> list[str]:
    """`--opt value` -> `--opt=value` for the options given; everything else untouched, `--` ends it."""
    names = set(value_options)
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg in names and i + 1 < len(args):
            out.append(f"{arg}={args[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _exists(value: str, cwd: Path) -> bool:
    if value.startswith("-"):
        return False  # pytest takes it for an option, never for a path
    path = Path(value.split("::")[0]).expanduser()
    try:
        return (path if path.is_absolute() else cwd / path).exists()
    except OSError:
        return False


def misread(
    args: Sequence[str], value_options: Iterable[str], cwd: Path, *, existing_only: bool = True
) -> list[str]:
    """The `--opt value` pairs (as `--opt value` strings) whose value pytest counted as a path; with
    `existing_only=False`, every spaced pair (the value may become a path later in the run)."""
    names = set(value_options)
    found = []
    for i, arg in enumerate(args[:-1]):
        if arg == "--":
            break
        if arg in names and (not existing_only or _exists(args[i + 1], cwd)):
            found.append(f"{arg} {args[i + 1]}")
    return found


def own_command_line(invocation_args: Sequence[str]) -> list[str] | None:
    """This process's full command line when pytest's arguments are its own (the CLI), else None."""
    orig = list(getattr(sys, "orig_argv", []) or [])
    given = list(invocation_args)
    if not orig or list(sys.argv[1:]) != given:
        return None
    if given and orig[-len(given) :] != given:
        return None
    return orig[: len(orig) - len(given)]


def respell(invocation_args: Sequence[str], cwd: Path, value_options: Iterable[str]) -> str | None:
    """Run the command again with `--opt=value` when a spaced value moved the rootdir; return the one line
    to stop with where that cannot be done (pytest.main() from Python), None when nothing was misread."""
    names = tuple(value_options)
    env_args = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    head = own_command_line(invocation_args)
    # Where the command can be run again, every spaced pair is respelled, not only the paths that exist now:
    # `--results-json out/r.json` exists once the run has begun, and xdist's workers parse the same
    # arguments again then (their rootdir would move while the controller's did not).
    existing_only = head is None
    bad = misread(list(invocation_args), names, cwd, existing_only=existing_only) + misread(
        env_args, names, cwd, existing_only=existing_only
    )
    if not bad:
        return None
    if head is None:
        spelled = ", ".join(f"{b.split(' ', 1)[0]}={b.split(' ', 1)[1]}" for b in bad)
        return (
            f"{', '.join(bad)}: pytest reads a path given with a space as a test path before the suite's "
            f"options exist (it moves the rootdir); write {spelled}"
        )
    env = dict(os.environ)
    if env_args:
        env["PYTEST_ADDOPTS"] = shlex.join(rewrite(env_args, names))
    argv = head + rewrite(list(invocation_args), names)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(sys.executable, argv, env)
    return None  # pragma: no cover - execve does not return
