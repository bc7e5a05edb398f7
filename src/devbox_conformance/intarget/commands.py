# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""commands: each command the contract lists, one pool job each, under its own time limit.

A command runs in a session of its own (its process group), stdin from /dev/null; past its limit the whole
group is killed, so a hung command (or a child it left behind) never holds the probe, and the others run on.
"""

import os
import pwd
import signal
import subprocess
import time

from .text import CONTENT_CAP, text


def _as_user(name):
    """(preexec function, environment additions) to run as `name`; ValueError when that cannot be done."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ValueError("no such user %r" % name) from None
    extra = {"HOME": entry.pw_dir, "USER": name, "LOGNAME": name}
    if entry.pw_uid == os.geteuid():
        return None, extra
    if os.geteuid() != 0:
        raise ValueError(
            "cannot switch to user %r: the probe runs as uid %d, not root" % (name, os.geteuid())
        )

    def switch():
        os.initgroups(name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return switch, extra


def run_command(spec):
    """{exit_code, timed_out, stdout, stderr, truncated, seconds, error, not_found} of one command."""
    out = {
        "exit_code": None,
        "timed_out": False,
        "stdout": "",
        "stderr": "",
        "truncated": False,
        "seconds": None,
        "error": None,
    }
    env = dict(os.environ)
    preexec = None
    try:
        if spec.get("user"):
            preexec, extra = _as_user(spec["user"])
            env.update(extra)
    except ValueError as exc:
        out["error"] = str(exc)
        return out
    env.update(spec.get("env") or {})
    timeout = float(spec.get("timeout", 30))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            spec["argv"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=spec.get("cwd") or None,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except OSError as exc:
        out["error"] = "cannot run %s: %s" % (spec["argv"][0] if spec["argv"] else "''", exc.strerror or exc)
        out["not_found"] = isinstance(exc, FileNotFoundError) and not spec.get("cwd")
        return out
    except subprocess.SubprocessError as exc:  # the preexec function failed (setuid refused)
        out["error"] = "cannot start as %s: %s" % (spec.get("user"), exc)
        return out
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out["timed_out"] = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        # What it printed before the limit (its children were in the group, killed too). A child that left
        # the group and holds the pipes open gets 5 s, then its output is dropped.
        try:
            stdout, stderr = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            stdout, stderr = b"", b"(output lost: a child outside the command's process group kept it open)"
            proc.wait()
    out["seconds"] = round(time.monotonic() - started, 3)
    out["exit_code"] = None if out["timed_out"] else proc.returncode
    out["truncated"] = len(stdout) > CONTENT_CAP or len(stderr) > CONTENT_CAP
    out["stdout"] = text(stdout[:CONTENT_CAP])
    out["stderr"] = text(stderr[:CONTENT_CAP])
    return out


def gather(request, pool):
    return {"commands": {c["name"]: pool.submit(run_command, c) for c in request.get("commands", [])}}
