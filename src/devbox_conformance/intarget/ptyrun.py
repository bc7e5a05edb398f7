"""The one pseudo-terminal runner: a command with a controlling tty (job control, prompts), stderr apart.

Why a pty: `bash -i` without a terminal warns "no job control in this shell" on stderr, and login scripts
that test `[ -t 0 ]` take another path; under a pty they run as in a user's terminal.
"""

import errno
import fcntl
import os
import select
import subprocess
import termios
import time


def run_under_pty(argv, env, cwd, timeout):
    """{exit_code (None when killed), timed_out, stdout (bytes, from the pty), stderr (bytes), error}."""
    master, slave = os.openpty()

    def make_controlling_tty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env, cwd=cwd,
                                start_new_session=True, preexec_fn=make_controlling_tty, close_fds=True)
    except OSError as exc:
        os.close(master)
        os.close(slave)
        return {"error": str(exc)}
    os.close(slave)
    out = b""
    err = b""
    deadline = time.monotonic() + timeout
    streams = [master, proc.stderr.fileno()]
    timed_out = False
    while streams:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            proc.kill()
            break
        ready, _, _ = select.select(streams, [], [], min(left, 1.0))
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError as exc:  # EIO on the pty master once the command has exited
                if exc.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                streams.remove(fd)
            elif fd == master:
                out += chunk
            else:
                err += chunk
        if not ready and proc.poll() is not None and master in streams:
            # the command is gone; a background child may still hold the pty open
            break
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    proc.stderr.close()
    os.close(master)
    return {"exit_code": None if timed_out else code, "timed_out": timed_out, "stdout": out, "stderr": err,
            "error": None}
