"""Commands on THIS machine (engine CLIs, nvidia-smi): argv in, RunResult out, never a raise.

A target's commands return the same RunResult (target.py), so callers read one shape whichever side ran.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class RunResult:
    """What one command returned."""

    # Exit status of the command (124 when it ran past its timeout, 127 when it could not be started).
    exit_code: int
    # Decoded stdout and stderr (UTF-8, undecodable bytes replaced).
    stdout: str
    stderr: str


def run_command(argv: list[str], timeout: float, stdin: str | None = None) -> RunResult:
    """Run argv here with a time limit; a timeout is exit 124 and a missing binary exit 127."""
    try:
        proc = subprocess.run(
            argv,
            input=stdin.encode() if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        return RunResult(
            124,
            decode(exc.stdout),
            decode(exc.stderr) + f"\ntimed out after {timeout:g} s: {shlex.join(argv)}",
        )
    except OSError as exc:
        return RunResult(127, "", f"cannot run {shlex.join(argv)}: {exc}")
    return RunResult(proc.returncode, decode(proc.stdout), decode(proc.stderr))


def decode(data: bytes | str | None) -> str:
    """Bytes as UTF-8 text, undecodable bytes replaced (None is empty)."""
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def last_line(text: str) -> str:
    """The last non-empty line of a command's output, for one-line messages."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "no output"
