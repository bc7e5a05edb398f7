# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""commands: each command the contract lists, one pool job each, under its own time limit.

A command runs in a session of its own (its process group), stdin from /dev/null; past its limit the whole
group is killed, so a hung command (or a child it left behind) never holds the probe, and the others run on.

Its stdout and stderr are read together, chunk by chunk, as they come: each keeps at most the item's
`max_output` bytes and counts the rest, which is read and dropped, so a command that prints gigabytes neither
blocks on a full pipe nor fills the probe's memory. The check knows each stream's total and fails a matcher
that did not see all of it.
"""

import os
import pwd
import selectors
import signal
import subprocess
import time

from .text import KEEP_DEFAULT, text_prefix

# Bytes asked of a pipe per read (a pipe holds 64 KiB unless resized).
CHUNK = 1 << 16
# A select() never waits longer than this, so an absurd time limit cannot overflow it.
MAX_WAIT_S = 60.0
# After the group is killed: how long a child outside it may hold the pipes before its output is given up.
GRACE_S = 5.0


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


class Capped:
    """One stream as it is read: its first `limit` bytes kept, every byte counted, the rest dropped."""

    def __init__(self, limit):
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def facts(self, name):
        """{name: kept text, name_bytes: total, name_kept: bytes kept}."""
        cut = self.total > len(self.kept)
        return {
            name: text_prefix(self.kept, cut),
            name + "_bytes": self.total,
            name + "_kept": len(self.kept),
        }


class Streams:
    """stdout and stderr of one process, drained together as they come, each into a Capped."""

    def __init__(self, proc, limit):
        self.streams = {"stdout": Capped(limit), "stderr": Capped(limit)}
        self.selector = selectors.DefaultSelector()
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            self.selector.register(pipe, selectors.EVENT_READ, name)

    def pump(self, deadline):
        """Read until both streams end (True) or the deadline passes (False)."""
        while self.selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in self.selector.select(min(left, MAX_WAIT_S)):
                chunk = os.read(key.fd, CHUNK)
                if chunk:
                    self.streams[key.data].add(chunk)
                else:
                    self.selector.unregister(key.fileobj)
                    key.fileobj.close()
        return True

    def close(self):
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            key.fileobj.close()
        self.selector.close()

    def report(self, out):
        """Each stream's kept text, total bytes and kept bytes into the command's facts."""
        for name, stream in self.streams.items():
            out.update(stream.facts(name))
        out["truncated"] = any(s.total > len(s.kept) for s in self.streams.values())


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def run_command(spec):
    """{exit_code, timed_out, stdout, stderr, <stream>_bytes, <stream>_kept, truncated, seconds, error,
    not_found, output_lost} of one command."""
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
    limit = int(spec.get("max_output") or KEEP_DEFAULT)
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
    streams = Streams(proc, limit)
    try:
        deadline = started + timeout
        finished = streams.pump(deadline)
        if finished:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                finished = False
        if not finished:
            out["timed_out"] = True
            _kill_group(proc)
            # What it printed before the limit (its children were in the group, killed too). A child that
            # left the group and holds the pipes open gets GRACE_S, then the rest of its output is given up.
            if not streams.pump(time.monotonic() + GRACE_S):
                out["output_lost"] = "a child outside the command's process group kept it open"
            proc.wait()
    finally:
        streams.close()
    out["seconds"] = round(time.monotonic() - started, 3)
    out["exit_code"] = None if out["timed_out"] else proc.returncode
    streams.report(out)
    return out


def gather(request, pool):
    return {"commands": {c["name"]: pool.submit(run_command, c) for c in request.get("commands", [])}}
