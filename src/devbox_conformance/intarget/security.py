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
import json
import os
import pwd
import re
import stat
import subprocess
import tempfile
import threading
import time

# Entries shown per item (violations and allowed hits); the counts are exact.
SHOWN = 50
DEFAULT_MAX_ENTRIES = 1000000
# A walk that takes longer is stopped and reported truncated (a hung mount, a huge tree).
TIMEOUT_S = 120.0
# Files at most this large are sniffed for a PEM private key (a 4096-bit RSA key is about 3.3 KB); only the
# first SNIFF_BYTES are read.
SNIFF_MAX = 16384
SNIFF_BYTES = 128
# Not sniffed: source, document, data and archive files by their extension. A private key saved as .py or
# .html is not how keys leak, and skipping them keeps a source tree (a base's /opt) from costing seconds of
# opens; .pem, .key and files without an extension are read.
NOT_SNIFFED = frozenset(
    "7z a bz2 c cc cfg cmake cpp css csv cu cuh cxx decTest diff f90 gif gz h hh hpp htm html hxx ico in ini "
    "jar java jpeg jpg js json map md mjs mo npy npz o patch pl png po pom pt py pyc pyi pyo pyx rb rs rst "
    "sh so svg tar tcl toml ts tsv txt typed wav whl xml xz yaml yml zip zst".split()
)
PEM_PRIVATE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# Files that hold credentials by their very name (path suffixes, as under a home directory).
TOKEN_FILES = (
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".huggingface/token",
    ".cache/huggingface/token",
    ".cache/huggingface/stored_tokens",
    ".aws/credentials",
    ".config/gh/hosts.yml",
    ".config/gcloud/application_default_credentials.json",
    ".config/gcloud/credentials.db",
    ".kube/config",
    ".azure/accessTokens.json",
    ".azure/msal_token_cache.json",
)
# File name -> the TOKEN_FILES suffixes with that name: one dict lookup per file, not a test per suffix.
TOKEN_BY_NAME = {}
for _token in TOKEN_FILES:
    TOKEN_BY_NAME.setdefault(_token.rpartition("/")[2], []).append(_token)
# Docker's config.json: read whole up to this size; an "auths" entry holding one of these keys is a secret.
JSON_MAX = 1 << 20
DOCKER_KEYS = ("auth", "identitytoken", "password", "registrytoken")

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


def _docker_credentials(path):
    """The registries a Docker config.json holds credentials for ("auths" entries with a secret)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(JSON_MAX)
    except OSError:
        return []
    try:
        auths = json.loads(raw.decode("utf-8", "replace")).get("auths")
    except (ValueError, AttributeError):
        return ["(unparsable config.json)"] if b'"auths"' in raw and b'"auth"' in raw else []
    if not isinstance(auths, dict):
        return []
    return sorted(
        reg
        for reg, entry in auths.items()
        if isinstance(entry, dict) and any(entry.get(k) for k in DOCKER_KEYS)
    )


def _sniff(path):
    """The PEM header of the private key the file starts with (after white space), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    if head.startswith(b"PuTTY-User-Key-File-"):
        return "PuTTY-User-Key-File"
    hit = PEM_PRIVATE.match(head)
    return hit.group(0).decode("ascii") if hit else None


def _named_secret(name):
    """True when a file of this name may be a secret by its name alone (the walk stats only those and the
    small files sniffed)."""
    return (
        name.startswith("id_")
        or name.startswith("ssh_host_")
        or name in TOKEN_BY_NAME
        or name == "config.json"
    )


def _sniffed(name):
    return name.rpartition(".")[2] not in NOT_SNIFFED


def _secret(path, size):
    """Why the regular file at `path` (of `size` bytes) is a secret, or None."""
    parent, _, name = path.rpartition("/")
    if parent.endswith("/.ssh") and name.startswith("id_") and not name.endswith(".pub"):
        return "ssh private key"
    if name.startswith("ssh_host_") and name.endswith("_key"):
        return "ssh host key"
    for token in TOKEN_BY_NAME.get(name, ()):
        if path.endswith("/" + token):
            return "credentials file (%s)" % token
    if name == "config.json" and path.endswith("/.docker/config.json"):
        registries = _docker_credentials(path)
        if registries:
            return "docker credentials for %s" % ", ".join(registries[:3])
    if size <= SNIFF_MAX and _sniffed(name):
        header = _sniff(path)
        if header:
            return "private key (%s)" % header
    return None


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
        return _secret(path, size)
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
        pending = b""
        try:
            while True:
                chunk = proc.stdout.read(65536)
                if not chunk:
                    break
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
                    break
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
    secrets = result.check == "secrets"
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
                    result.out["visited"] += 1
                    try:
                        if secrets and not entry.is_dir(follow_symlinks=False):
                            name = entry.name
                            if not entry.is_file(follow_symlinks=False) or not (
                                _named_secret(name) or _sniffed(name)
                            ):
                                continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        result.error("%s: %s" % (entry.path, exc.strerror or exc))
                        continue
                    if (
                        _judge_stat(result, entry.path, st) == "d"
                        and st.st_dev == dev
                        and not result.pruned(entry.path)
                    ):
                        stack.append((entry.path, dev))
        except OSError as exc:
            result.error("%s: %s" % (directory, exc.strerror or exc))


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
