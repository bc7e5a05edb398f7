"""The one place subprocesses are started: argument lists only, each command logged, failures typed.

Example:
    out = run(["docker", "image", "inspect", "gpu-devbox:local"]).stdout
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from devbox_build.errors import ToolMissingError, classify

log = logging.getLogger("devbox")


@dataclass(frozen=True)
class Result:
    """What a finished command returned."""

    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _env(extra: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if not extra else {**os.environ, **extra}


def _missing(cmd: Sequence[str]) -> ToolMissingError:
    return ToolMissingError(f"`{cmd[0]}` is not installed or not on PATH (needed for `{shlex.join(cmd)}`)")


def run(
    cmd: Sequence[str],
    *,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    input_text: str | None = None,
    timeout: float | None = None,
) -> Result:
    """Run a command to completion, capturing its output; raise a typed CommandError when check fails."""
    argv = [str(a) for a in cmd]
    log.debug("$ %s", shlex.join(argv))
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=_env(env),
            cwd=cwd,
            input=input_text,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise _missing(argv) from exc
    result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise classify(argv, proc.returncode, proc.stdout, proc.stderr)
    return result


def probe(cmd: Sequence[str], timeout: float = 20) -> Result | None:
    """Run a diagnostic command that must never fail the caller: None when it cannot run at all."""
    if shutil.which(str(cmd[0])) is None and not Path(str(cmd[0])).exists():
        return None
    try:
        return run(cmd, check=False, timeout=timeout)
    except (subprocess.TimeoutExpired, ToolMissingError, OSError):
        return None


def stream(
    cmd: Sequence[str],
    *,
    on_line: Callable[[str], None],
    log_file: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run a long command, handing each output line (stdout and stderr merged) to on_line as it comes.

    The whole output is kept in the Result's stdout for error reports; a build's output is a few MB at most.
    """
    argv = [str(a) for a in cmd]
    log.debug("$ %s", shlex.join(argv))
    if log_file is not None:
        log_file.write(f"$ {shlex.join(argv)}\n")
        log_file.flush()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=_env(env),
            cwd=cwd,
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise _missing(argv) from exc
    with proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                if log_file is not None:
                    log_file.write(line)
                on_line(line.rstrip("\n"))
            proc.wait()
        except BaseException:
            # Ctrl-C or SIGTERM: the child normally got SIGINT from the terminal too; make sure it is gone.
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        finally:
            if log_file is not None:
                log_file.flush()
    output = "".join(lines)
    return Result(argv, proc.returncode, output, output)
