"""The one place subprocesses are started: argument lists only, each command logged, failures typed.

Output is captured (the default: the caller parses it), streamed line by line as it comes (a push's
progress belongs in the CI log while it runs, not after), or left on the terminal (`docker login` must
show its prompt and read the password); the typed errors are the same in every mode.

Example:
    out = run(["docker", "image", "inspect", "gpu-devbox:local"]).stdout
    run(["docker", "push", ref], output="stream", on_line=print)
    run(["docker", "login", "ghcr.io"], output="terminal")
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from devbox_build.errors import ToolMissingError, classify

log = logging.getLogger("devbox")

# capture: output collected, shown to nobody; stream: stdout and stderr merged, each line handed to on_line
# as it comes and kept; terminal: stdin and stdout are the terminal's (prompts work), stderr is shown as it
# comes and kept for the error.
Output = Literal["capture", "stream", "terminal"]


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
    output: Output = "capture",
    on_line: Callable[[str], None] | None = None,
) -> Result:
    """Run a command to completion; raise a typed CommandError when check fails.

    `output` says where its output goes (see Output); `on_line` receives each line in "stream" mode
    (default: print) and each stderr line in "terminal" mode (default: to our stderr). `input_text` and
    `timeout` apply to "capture" only: a streamed command is one the user watches and can interrupt.
    """
    argv = [str(a) for a in cmd]
    if output != "capture":
        if input_text is not None or timeout is not None:
            raise ValueError(f"input_text and timeout need output='capture', not {output!r}")
        merge = output == "stream"
        result = _follow(
            argv,
            env=env,
            cwd=cwd,
            on_line=on_line or (print if merge else _to_stderr),
            log_file=None,
            merge_stderr=merge,
        )
    else:
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
        raise classify(argv, result.returncode, result.stdout, result.stderr)
    return result


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def probe(cmd: Sequence[str], timeout: float = 20, env: Mapping[str, str] | None = None) -> Result | None:
    """Run a diagnostic command that must never fail the caller: None when it cannot run at all."""
    if shutil.which(str(cmd[0])) is None and not Path(str(cmd[0])).exists():
        return None
    try:
        return run(cmd, check=False, timeout=timeout, env=env)
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

    Never raises on a non-zero exit: the caller judges (a build explains its failing step first). The whole
    output is kept in the Result's stdout for error reports; a build's output is a few MB at most.
    """
    return _follow(
        [str(a) for a in cmd], env=env, cwd=cwd, on_line=on_line, log_file=log_file, merge_stderr=True
    )


def _follow(
    argv: list[str],
    *,
    env: Mapping[str, str] | None,
    cwd: Path | None,
    on_line: Callable[[str], None],
    log_file: TextIO | None,
    merge_stderr: bool,
) -> Result:
    """Start ARGV and hand each line of its output to on_line while it runs.

    merge_stderr: stdout and stderr both read (merged, in order); else stdin and stdout stay the terminal's
    and only stderr is read, so a prompt on stdout is seen and answered.
    """
    log.debug("$ %s", shlex.join(argv))
    if log_file is not None:
        log_file.write(f"$ {shlex.join(argv)}\n")
        log_file.flush()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE if merge_stderr else None,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            errors="replace",
            env=_env(env),
            cwd=cwd,
            bufsize=1,
        )
    except FileNotFoundError as exc:
        raise _missing(argv) from exc
    with proc:
        pipe = proc.stdout if merge_stderr else proc.stderr
        assert pipe is not None
        try:
            for line in pipe:
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
    text = "".join(lines)
    return Result(argv, proc.returncode, text if merge_stderr else "", text)
