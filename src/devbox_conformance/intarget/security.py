# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""security: bounded walks of the named paths for world-writable entries, setuid/setgid files and secrets.

Each item is one pool job, so its walk overlaps the long gatherers. Every walk stays on the file system of
its starting path (-xdev), never follows a symlink, and stops at the item's cap (max_entries) or after
TIMEOUT_S, saying it was truncated: a walk that did not see everything must not pass.

world_writable and setuid test the mode of every entry, so GNU find walks them (C speed: 80,000 entries
in about 0.3 s); it prints one NUL per entry visited, a record before the NUL for a candidate, and the NULs
count the entries, so the probe stops find at the cap. Without GNU find (busybox, a minimal image) os.scandir
does the same walk. secrets tests names first, which os.scandir answers from the directory itself without a
stat, so it always walks in Python: find with the same name tests measured three to six times slower.
The allow-list is applied here, so the facts hold what is wrong (the first SHOWN, and an exact count).
"""

import fnmatch
import grp
import os
import pwd
import re
import stat
import subprocess
import tempfile
import threading
import time

from .credentials import named_secret, secret_reason, sniffed

# Entries shown per item (violations and allowed hits); the counts are exact.
SHOWN = 50
DEFAULT_MAX_ENTRIES = 1000000
# A walk that takes longer is stopped and reported truncated (a hung mount, a huge tree).
TIMEOUT_S = 120.0
# find's tests per check: the candidates (judge() decides on them, with the same rules as the fallback).
FIND_TESTS = {
    "world_writable": ["-perm", "-0002", "!", "-type", "l", "!", "(", "-type", "d", "-perm", "-1000", ")"],
    "setuid": ["-type", "f", "(", "-perm", "-4000", "-o", "-perm", "-2000", ")"],
}
CHECKS = ("world_writable", "setuid", "secrets")
TYPE_NAMES = {
    "f": "file",
    "d": "directory",
    "l": "symlink",
    "p": "fifo",
    "s": "socket",
    "c": "char device",
    "b": "block device",
}


def _type_char(mode):
    for test, char in (
        (stat.S_ISREG, "f"),
        (stat.S_ISDIR, "d"),
        (stat.S_ISLNK, "l"),
        (stat.S_ISFIFO, "p"),
        (stat.S_ISSOCK, "s"),
        (stat.S_ISCHR, "c"),
        (stat.S_ISBLK, "b"),
    ):
        if test(mode):
            return char
    return "?"


def judge(check, path, type_char, mode, size, owner, group):
    """Why the entry violates `check`, or None: the same rules for find's candidates and the fallback's."""
    if check == "world_writable":
        if type_char == "l" or not mode & 0o002 or (type_char == "d" and mode & 0o1000):
            return None
        what = "world-writable %s" % TYPE_NAMES.get(type_char, "entry")
        return what + (" without the sticky bit" if type_char == "d" else "") + " (%04o)" % mode
    if check == "setuid":
        if type_char != "f" or not mode & 0o6000:
            return None
        bits = " and ".join(b for b, m in (("setuid", 0o4000), ("setgid", 0o2000)) if mode & m)
        return "%s %s:%s %04o" % (bits, owner, group, mode)
    if check == "secrets":
        if type_char != "f" or size <= 0:
            return None
        return secret_reason(path, size)
    raise ValueError("unknown security check %r" % check)


def _negation(pattern):
    """`pattern` with each bracket negation written `[!`, which find and fnmatch.fnmatchcase read alike."""
    return re.sub(r"\[\^", "[!", pattern)


class _Result:
    """What one item's walk found, the allow-list applied as entries arrive."""

    def __init__(self, spec):
        self.check = spec["check"]
        self.allow = list(spec.get("allow") or [])
        # `[^...]` means `[!...]` to find (glibc's fnmatch) but a literal ^ to Python's: one meaning here.
        self.prune = [_negation(p) for p in spec.get("prune") or []]
        self.used = set()
        self.cap = int(spec.get("max_entries") or DEFAULT_MAX_ENTRIES)
        self.out = {
            "check": self.check,
            "visited": 0,
            "truncated": None,
            "found": [],
            "found_count": 0,
            "allowed": [],
            "allowed_count": 0,
            "missing": [],
            "errors": [],
            "error_count": 0,
        }

    def _allowed(self, path):
        for pattern in self.allow:
            if path == pattern or fnmatch.fnmatchcase(path, pattern):
                self.used.add(pattern)
                return True
        return False

    def candidate(self, path, type_char, mode, size, owner, group):
        what = judge(self.check, path, type_char, mode, size, owner, group)
        if what is None:
            return
        if self._allowed(path):
            self.out["allowed_count"] += 1
            if len(self.out["allowed"]) < SHOWN:
                self.out["allowed"].append(path)
            return
        self.out["found_count"] += 1
        if len(self.out["found"]) < SHOWN:
            self.out["found"].append({"path": path, "what": what})

    def pruned(self, path):
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in self.prune)

    def error(self, line):
        self.out["error_count"] += 1
        if len(self.out["errors"]) < 5:
            self.out["errors"].append(line[:300])

    def finish(self, method, started):
        self.out["method"] = method
        self.out["unused_allow"] = [p for p in self.allow if p not in self.used]
        self.out["seconds"] = round(time.monotonic() - started, 3)
        return self.out


def find_argv(paths, check, prune):
    """find's command line for one walk: each entry is judged once (a record, or a bare NUL), a pruned
    directory too (a start path among them), and what is below a pruned directory is not visited.

    The same rule as the fallback walk's, so a verdict does not depend on whether the target has GNU find.
    """
    judge = ["("] + FIND_TESTS[check] + ["-printf", "R%y %m %s %u %g %p\\0", "-o", "-printf", "\\0", ")"]
    if not prune:
        return ["find"] + list(paths) + ["-xdev"] + judge
    pruned = []
    for pattern in prune:
        pruned += (["-o"] if pruned else []) + ["-path", pattern]
    return (
        ["find"]
        + list(paths)
        + ["-xdev", "(", "-type", "d", "("]
        + pruned
        + [")", "-prune", ")"]
        + judge
        + ["-o"]
        + judge
    )


def _find_walk(paths, result):
    """Walk with GNU find; False when there is none (nothing was recorded then: the fallback walks)."""
    argv = find_argv(paths, result.check, result.prune)
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=dict(os.environ, LC_ALL="C"),
            )
        except OSError:
            return False
        timer = threading.Timer(TIMEOUT_S, proc.kill)
        timer.start()
        try:
            _read_find(proc, result)
        finally:
            timer.cancel()
            proc.stdout.close()
            code = proc.wait()
        if code < 0 and not result.out["truncated"]:
            result.out["truncated"] = "stopped after %.0f s" % TIMEOUT_S
        if result.out["visited"] == 0 and code != 0:
            return False  # not GNU find (busybox has no -printf)
        errors.seek(0)
        for line in errors.read().decode("utf-8", "replace").splitlines():
            if line.strip():
                result.error(line.strip())
    return True


def _read_find(proc, result):
    """Count find's NULs (one per entry), record its candidates, and stop find at the cap."""
    pending = b""
    while True:
        chunk = proc.stdout.read(65536)
        if not chunk:
            return
        result.out["visited"] += chunk.count(b"\0")
        parts = (pending + chunk).split(b"\0")
        pending = parts.pop()
        for part in parts:
            if part:
                _find_record(part, result)
        if result.out["visited"] > result.cap:
            result.out["visited"] = result.cap
            result.out["truncated"] = "stopped after max_entries (%d) entries" % result.cap
            proc.kill()
            return


def _find_record(part, result):
    fields = part[1:].decode("utf-8", "surrogateescape").split(" ", 5)
    if len(fields) == 6:
        type_char, mode, size, owner, group, path = fields
        result.candidate(path, type_char, int(mode, 8), int(size), owner, group)


def _names(st):
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return owner, group


def _judge_stat(result, path, st):
    type_char = _type_char(st.st_mode)
    mode = stat.S_IMODE(st.st_mode)
    if result.check == "setuid" and not (type_char == "f" and mode & 0o6000):
        return type_char
    if result.check == "world_writable" and not mode & 0o002:
        return type_char
    owner, group = _names(st) if result.check == "setuid" else ("", "")
    result.candidate(path, type_char, mode, st.st_size, owner, group)
    return type_char


def _python_walk(paths, result):
    """The walk with os.scandir: lstat only, no descent into another file system, the same cap.

    For secrets only directories (for their device) and files a name test keeps are stat'ed.
    """
    deadline = time.monotonic() + TIMEOUT_S
    stack = []
    for top in paths:
        try:
            st = os.lstat(top)
        except OSError as exc:
            result.error("%s: %s" % (top, exc.strerror or exc))
            continue
        result.out["visited"] += 1
        if _judge_stat(result, top, st) == "d" and not result.pruned(top):
            stack.append((top, st.st_dev))
    while stack:
        if result.out["visited"] >= result.cap:
            result.out["truncated"] = "stopped after max_entries (%d) entries" % result.cap
            return
        if time.monotonic() > deadline:
            result.out["truncated"] = "stopped after %.0f s" % TIMEOUT_S
            return
        directory, dev = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    _visit(entry, dev, result, stack)
        except OSError as exc:
            result.error("%s: %s" % (directory, exc.strerror or exc))


def _visit(entry, dev, result, stack):
    """Judge one directory entry; a directory on the same file system, not pruned, goes on the stack."""
    result.out["visited"] += 1
    try:
        if result.check == "secrets" and not _may_be_secret(entry):
            return
        st = entry.stat(follow_symlinks=False)
    except OSError as exc:
        result.error("%s: %s" % (entry.path, exc.strerror or exc))
        return
    if _judge_stat(result, entry.path, st) == "d" and st.st_dev == dev and not result.pruned(entry.path):
        stack.append((entry.path, dev))


def _may_be_secret(entry):
    """Whether the secrets walk must stat the entry: a directory (its device), or a file a name test keeps."""
    if entry.is_dir(follow_symlinks=False):
        return True
    return entry.is_file(follow_symlinks=False) and (named_secret(entry.name) or sniffed(entry.name))


def scan(spec, use_find=True):
    """One item's walk: {check, method, visited, truncated, found, found_count, allowed, missing, errors}."""
    started = time.monotonic()
    result = _Result(spec)
    if result.check not in CHECKS:
        result.out["error"] = "unknown check %r" % result.check
        return result.finish("none", started)
    paths = []
    for path in spec.get("paths") or []:
        if "\0" in path:
            # os.path.lexists says False for it: the walk would pass, calling the path absent.
            result.out["error"] = "path %r holds a NUL byte" % path
            return result.finish("none", started)
        if os.path.lexists(path):
            paths.append(path)
        else:
            result.out["missing"].append(path)
    if not paths:
        return result.finish("none", started)
    if use_find and result.check in FIND_TESTS and _find_walk(paths, result):
        return result.finish("find", started)
    _python_walk(paths, result)
    return result.finish("python", started)


def gather(request, pool):
    return {"security": {s["name"]: pool.submit(scan, s) for s in request.get("security", [])}}
