# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""The one pseudo-terminal runner: a command with a controlling tty (job control, prompts), stderr apart.

Why a pty: `bash -i` without a terminal warns "no job control in this shell" on stderr, and login scripts
that test `[ -t 0 ]` take another path; under a pty they run as in a user's terminal.

Everything in a target that starts a command under a pty comes through `run_under_pty`: the probe's shells
(stderr kept apart, so a warning is a fact of its own), the CPU benchmark's shell-start timing
(`time_under_pty`: fork to exit, stderr on the terminal as a user's shell has it) and the peer benchmark's
checker.
"""

import errno
import fcntl
import os
import select
import subprocess
import termios
import time


def run_under_pty(argv, env, cwd, timeout, stderr_apart=True, keep=None):
    """{exit_code (None when killed), timed_out, stdout (bytes, the pty's), stderr (bytes), error, seconds}.

    `env`/`cwd` None inherit this process's. `stderr_apart=False` puts stderr on the terminal too (as a
    shell in a user's terminal has it; `stderr` is then empty). `keep` caps what is kept of the terminal's
    output to its last `keep` bytes: a command that prints a lot is still read as fast as it writes (it
    never blocks on a full pty buffer), without the runner holding all of it. `seconds` is wall time from
    before the terminal is opened to the command's exit status collected (fork to exit).
    """
    started = time.perf_counter()
    master, slave = os.openpty()

    def make_controlling_tty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE if stderr_apart else slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=make_controlling_tty,
            close_fds=True,
        )
    except OSError as exc:
        os.close(master)
        os.close(slave)
        return {"error": str(exc)}
    os.close(slave)
    out, err, timed_out = _drain(proc, master, timeout, stderr_apart, keep)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    seconds = time.perf_counter() - started
    if stderr_apart:
        proc.stderr.close()
    os.close(master)
    return {
        "exit_code": None if timed_out else code,
        "timed_out": timed_out,
        "stdout": out,
        "stderr": err,
        "error": None,
        "seconds": seconds,
    }


def time_under_pty(argv, timeout, tail=500):
    """(seconds, exit status, last `tail` characters of output) of `argv` as a shell in a user's terminal.

    Fork to exit, the command the session leader of a new pty with stdin, stdout and stderr on it, this
    process's environment and directory. The output is drained continuously: a shell that prints a greeting
    would otherwise block on a full pty buffer and the figure would measure the buffer, not the shell.
    TimeoutError (the command killed) past `timeout` seconds; OSError when it cannot be started.
    """
    run = run_under_pty(argv, None, None, timeout, stderr_apart=False, keep=4096)
    if run.get("error"):
        raise OSError("cannot start %s: %s" % (argv[0], run["error"]))
    if run["timed_out"]:
        raise TimeoutError("%s did not exit within %s s" % (" ".join(argv), timeout))
    return run["seconds"], run["exit_code"], run["stdout"].decode("utf-8", "replace")[-tail:]


def _read_chunk(fd):
    """Up to 64 KiB from `fd`; b"" at its end (EIO is how a pty master says its command has exited)."""
    try:
        return os.read(fd, 65536)
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
        return b""


def _drain(proc, master, timeout, stderr_apart, keep):
    """(terminal output, stderr, timed out): read both as fast as they come until they end or time is up."""
    out = b""
    err = b""
    deadline = time.monotonic() + timeout
    streams = [master, proc.stderr.fileno()] if stderr_apart else [master]
    while streams:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            return out, err, True
        ready, _, _ = select.select(streams, [], [], min(left, 1.0))
        for fd in ready:
            chunk = _read_chunk(fd)
            if not chunk:
                streams.remove(fd)
            elif fd == master:
                out = out + chunk if keep is None else (out + chunk)[-keep:]
            else:
                err += chunk
        if not ready and proc.poll() is not None and master in streams:
            # the command is gone; a background child may still hold the pty open
            break
    return out, err, False
