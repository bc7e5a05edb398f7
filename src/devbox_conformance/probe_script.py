# ruff: noqa: UP031 - runs on the target's own python3 (any >= 3.8); plain %-formatting keeps it simple
"""The probe: gathers every fact the expectations need in ONE run inside the target, prints JSON.

Standard library only, Python >= 3.8: it is shipped as source through `python3 -c` and reads its request
(JSON, built from the expectations by `probe.build_request`) from argv[1]. Nothing here decides pass or
fail; it only reports what it finds.

    python3 -c "$(cat probe_script.py)" '{"binaries": [{"name": "rg", "version_args": ["--version"]}]}'
"""

import concurrent.futures
import errno
import fcntl
import grp
import json
import os
import platform
import pty
import pwd
import re
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time

PROBE_VERSION = 1
CONTENT_CAP = 65536
OUTPUT_CAP = 4000
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_FIELDS = ("Package:", "Status:", "Version:", "Architecture:")
BEGIN = "__DEVBOX_PROBE_BEGIN__"
END = "__DEVBOX_PROBE_END__"


def _text(data):
    if data is None:
        return ""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return data


def probe_binary(spec):
    name = spec["name"]
    path = shutil.which(name)
    out = {"path": path, "version_output": None, "version_exit_code": None, "error": None}
    if path is None or not spec.get("version_args"):
        return out
    try:
        proc = subprocess.run([path] + list(spec["version_args"]), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=spec.get("timeout", 30))
        out["version_output"] = _text(proc.stdout)[:OUTPUT_CAP]
        out["version_exit_code"] = proc.returncode
    except subprocess.TimeoutExpired:
        out["error"] = "version command timed out after %ss" % spec.get("timeout", 30)
    except OSError as exc:
        out["error"] = "cannot run: %s" % exc
    return out


def probe_dists():
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        # Several copies of one distribution on sys.path: the first wins, as for imports.
        found.setdefault(key, dist.version)
    return found


# The child interpreter of the import checks: reads module names from stdin, one per line, imports each and
# streams a JSON line for each (a "start" line first, so the parent knows which module hung or crashed it).
IMPORT_CHILD = r"""
import importlib, json, sys, time, traceback
for line in sys.stdin:
    name = line.strip()
    if not name:
        continue
    print(json.dumps({"module": name, "event": "start"}), flush=True)
    t0 = time.perf_counter()
    try:
        importlib.import_module(name)
        res = {"module": name, "event": "done", "ok": True, "error": None}
    except BaseException as exc:
        msg = traceback.format_exception_only(type(exc), exc)[-1].strip()
        res = {"module": name, "event": "done", "ok": False, "error": msg[:1000]}
    res["seconds"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(res), flush=True)
"""


class ImportChild:
    """One child interpreter fed one module at a time, so the parent can time-limit each import."""

    def __init__(self):
        # stderr goes to a file, not a pipe: a chatty import (warnings) must never block on a full pipe
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-c", IMPORT_CHILD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.buf = b""

    def run(self, module, per_import_timeout):
        """(outcome, alive): the import's outcome and whether this child can take another module."""
        try:
            self.proc.stdin.write((module + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (OSError, ValueError):
            tail = self.stderr_tail()
            return self._died(module, self.close(kill=True), tail, started=False), False
        deadline = None
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                try:
                    event = json.loads(line.decode("utf-8", "replace"))
                except ValueError:
                    event = None
                if not isinstance(event, dict) or event.get("module") != module:
                    continue  # a module printed something on stdout while importing
                if event.get("event") == "start":
                    deadline = time.monotonic() + per_import_timeout
                elif event.get("event") == "done":
                    return {"ok": event["ok"], "error": event["error"], "seconds": event["seconds"]}, True
            wait = 3600.0 if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.proc.stdout], [], [], wait)
            if not ready:
                if deadline is not None and time.monotonic() >= deadline:
                    self.close(kill=True)
                    return {"ok": False, "error": "import took longer than %ss" % per_import_timeout,
                            "seconds": per_import_timeout}, False
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                tail = self.stderr_tail()  # before close(), which drops the file
                return self._died(module, self.close(kill=False), tail, started=deadline is not None), False
            self.buf += chunk

    def _died(self, module, code, tail, started):
        if not started:
            return {"ok": False, "seconds": None, "error": "import child failed to start: %s" % tail}
        return {"ok": False, "seconds": None,
                "error": "interpreter died while importing (exit code %s) %s" % (code, tail)}

    def stderr_tail(self):
        try:
            self.stderr.seek(0)
            lines = _text(self.stderr.read()).strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1][:500] if lines else ""

    def close(self, kill):
        """Stop the child (EOF on stdin ends it; kill when it hangs); returns its exit code."""
        if kill:
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc.stdout.close()
        self.stderr.close()
        return code


def import_workers(request):
    """Children that import side by side: one per CPU the target lets us use, at most `import_workers`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(int(request.get("import_workers", 4)), cpus))


def probe_imports(modules, per_import_timeout, workers=1):
    """Import `modules` in fresh child interpreters side by side, each module with its own time limit.

    Every child imports the first module (the heavy shared dependency, torch, when present) up front, then
    takes the next module from a shared list whenever it is free: a slow import (lightning: seconds) runs
    beside the many quick ones instead of ahead of them. A module that hangs past its limit or kills its
    interpreter is marked and its child replaced; when that module is the shared first one, later children
    no longer import it up front, so each module's own outcome is still what gets reported.
    """
    modules = list(dict.fromkeys(modules))
    if not modules:
        return {}
    head = modules[0]
    todo = list(reversed(modules[1:]))
    results = {}
    lock = threading.Lock()
    head_kills = []

    def take():
        with lock:
            return todo.pop() if todo else None

    def new_child():
        while True:
            child = ImportChild()
            if head_kills:
                return child
            outcome, alive = child.run(head, per_import_timeout)
            with lock:
                results.setdefault(head, outcome)
                if not alive:
                    head_kills.append(outcome)
            if alive:
                return child

    def work():
        child = new_child()
        while True:
            module = take()
            if module is None:
                break
            if child is None:
                child = new_child()
            outcome, alive = child.run(module, per_import_timeout)
            results[module] = outcome
            if not alive:
                child = None
        if child is not None:
            child.close(kill=False)

    threads = [threading.Thread(target=work) for _ in range(max(1, min(workers, len(modules))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def probe_file(spec):
    path = spec["path"]
    out = {"exists": False}
    try:
        st = os.lstat(path)
    except OSError as exc:
        out["error"] = os.strerror(exc.errno) if exc.errno else str(exc)
        return out
    out["exists"] = True
    if stat.S_ISLNK(st.st_mode):
        out["link_target"] = os.readlink(path)
        try:
            st = os.stat(path)
            out["type"] = "symlink"
        except OSError:
            out["type"] = "symlink"
            out["dangling"] = True
            return out
    kind = ("directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode)
            else "other")
    out.setdefault("type", kind)
    out["target_type"] = kind
    out["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
    out["size"] = st.st_size
    try:
        out["owner"] = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        out["owner"] = str(st.st_uid)
    try:
        out["group"] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        out["group"] = str(st.st_gid)
    if spec.get("content") and kind == "file":
        try:
            with open(path, "rb") as fh:
                data = fh.read(CONTENT_CAP + 1)
            out["content"] = _text(data[:CONTENT_CAP])
            out["content_truncated"] = len(data) > CONTENT_CAP
        except OSError as exc:
            out["content_error"] = str(exc)
    return out


def probe_user(name):
    try:
        u = pwd.getpwnam(name)
    except KeyError:
        return None
    return {"uid": u.pw_uid, "gid": u.pw_gid, "home": u.pw_dir, "shell": u.pw_shell}


def probe_group(name):
    try:
        g = grp.getgrnam(name)
    except KeyError:
        return None
    return {"gid": g.gr_gid, "members": list(g.gr_mem)}


def _dpkg_stanzas(text):
    """(Package, Architecture, Status, Version) of each stanza of a dpkg status file, in file order."""
    out = []
    fields = {}
    for line in text.splitlines():
        if not line:
            if "Package" in fields:
                out.append((fields["Package"], fields.get("Architecture", ""), fields.get("Status", ""),
                            fields.get("Version", "")))
            fields = {}
        elif line.startswith(DPKG_FIELDS):  # continuation lines start with a blank: never a match
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    if "Package" in fields:
        out.append((fields["Package"], fields.get("Architecture", ""), fields.get("Status", ""),
                    fields.get("Version", "")))
    return out


def probe_packages(names, status_path=DPKG_STATUS):
    """dpkg's record of each requested package: ({name: [{architecture, status, version}]}, error).

    One read of the status file, no dpkg-query per package: that keeps a few hundred package items as cheap
    as one (and it works where dpkg-query is missing). A package has one stanza per installed architecture;
    `name:arch` asks for one of them. dpkg's journal (updates/ beside the status file: stanzas not yet merged
    by an interrupted run) is applied on top, as dpkg-query does. Without a status file the error says why,
    so every package item fails with it.
    """
    records, error = _dpkg_records(status_path)
    if error:
        return {}, error
    found = {}
    for name in names:
        package, _, arch = name.partition(":")
        found[name] = [{"architecture": a, "status": st, "version": v}
                       for a, (st, v) in sorted(records.get(package, {}).items()) if not arch or a == arch]
    return found, None


def _dpkg_records(status_path):
    """({package: {architecture: (status, version)}}, error): the status file plus dpkg's journal."""
    try:
        with open(status_path, "rb") as fh:
            text = _text(fh.read())
    except FileNotFoundError:
        return {}, "no dpkg database at %s: not a Debian-based target" % status_path
    except OSError as exc:
        return {}, "cannot read %s: %s" % (status_path, exc.strerror or exc)
    records = {}  # package -> {architecture: (status, version)}
    for package, arch, status, version in _dpkg_stanzas(text):
        records.setdefault(package, {})[arch] = (status, version)
    updates = os.path.join(os.path.dirname(status_path), "updates")
    try:
        journal = sorted(n for n in os.listdir(updates) if n.isdigit())
    except OSError:
        journal = []
    for entry in journal:
        try:
            with open(os.path.join(updates, entry), "rb") as fh:
                for package, arch, status, version in _dpkg_stanzas(_text(fh.read())):
                    records.setdefault(package, {})[arch] = (status, version)
        except OSError:
            continue
    return records, None


def probe_all_packages(status_path=DPKG_STATUS):
    """Every package dpkg records as installed: ({name: version}, error), for `devbox diff` and snapshots.

    Installed means want `install` or `hold` with `ok installed`, as the packages check reads it. A package
    installed for several architectures (multi-arch) is keyed `name:arch`, one entry per architecture.
    """
    records, error = _dpkg_records(status_path)
    if error:
        return {}, error
    found = {}
    for package, arches in records.items():
        installed = {}
        for arch, (status, version) in arches.items():
            words = status.split()
            if len(words) == 3 and words[0] in ("install", "hold") and words[1:] == ["ok", "installed"]:
                installed[arch] = version
        for arch, version in installed.items():
            found[package if len(installed) == 1 else "%s:%s" % (package, arch)] = version
    return found, None


def _shell_script(aliases):
    lines = ["printf '\\n%s\\n' " + BEGIN, 'printf "PATH=%s\\n" "$PATH"', 'printf "HOME=%s\\n" "$HOME"']
    for name in aliases:
        lines.append("if alias %s >/dev/null 2>&1; then echo 'ALIAS %s 1'; else echo 'ALIAS %s 0'; fi"
                     % (name, name, name))
    lines.append("printf '%s\\n' " + END)
    return "; ".join(lines)


def probe_shell(spec):
    """Run one shell under a pty; once more when it exited 0 but its output arrived incomplete.

    Under QEMU the pty's last output was seen lost once while the shell itself succeeded; a real defect (a
    profile script that exits early or fails) gives the same incomplete run twice, so the check still fails.
    """
    result = _run_shell(spec)
    if result.get("exit_code") == 0 and not result.get("completed") and not result.get("timed_out"):
        result = _run_shell(spec)
        result["attempts"] = 2
    return result


def _run_shell(spec):
    """Run one shell (bash/zsh, login and/or interactive) under a pseudo-terminal; stderr kept apart."""
    shell = shutil.which(spec["shell"])
    if shell is None:
        return {"available": False}
    argv = [shell]
    if spec.get("login"):
        argv.append("-l")
    if spec.get("interactive"):
        argv.append("-i")
    argv += ["-c", _shell_script(spec.get("aliases", []))]
    env = dict(os.environ)
    env.setdefault("TERM", "xterm")
    master, slave = pty.openpty()

    def make_controlling_tty():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    timeout = spec.get("timeout", 60)
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE, env=env,
                                cwd=env.get("HOME", "/"), start_new_session=True,
                                preexec_fn=make_controlling_tty, close_fds=True)
    except OSError as exc:
        os.close(master)
        os.close(slave)
        return {"available": True, "error": str(exc)}
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
            except OSError as exc:  # EIO on the pty master once the shell has exited
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
            # the shell is gone; a background child may still hold the pty open
            break
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    proc.stderr.close()
    os.close(master)
    stdout = _text(out).replace("\r\n", "\n").replace("\r", "\n")
    before, sep, after = stdout.partition("\n" + BEGIN + "\n")
    result = {"available": True, "exit_code": None if timed_out else code, "timed_out": timed_out,
              "stdout": before[:OUTPUT_CAP], "stderr": _text(err)[:OUTPUT_CAP], "path": None,
              "home": None, "aliases": {}, "completed": bool(sep) and END in after}
    for line in after.splitlines():
        if line.startswith("PATH="):
            result["path"] = line[5:]
        elif line.startswith("HOME="):
            result["home"] = line[5:]
        elif line.startswith("ALIAS "):
            parts = line.split()
            if len(parts) == 3:
                result["aliases"][parts[1]] = parts[2] == "1"
    return result


def torch_cuda():
    """torch's version and CUDA version read from torch/version.py, WITHOUT importing torch."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return {"installed": False, "version": None, "cuda": None}
    for location in spec.submodule_search_locations:
        path = os.path.join(location, "version.py")
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            continue
        version = re.search(r"^__version__\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
        cuda = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", text, re.M)
        return {"installed": True, "version": version.group(1) if version else None,
                "cuda": cuda.group(1) if cuda else None}
    return {"installed": True, "version": None, "cuda": None}


def gpu_visible():
    if os.path.exists("/dev/nvidia0"):
        return {"visible": True, "how": "/dev/nvidia0"}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            proc = subprocess.run([smi, "-L"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30)
            if proc.returncode == 0 and "GPU" in _text(proc.stdout):
                return {"visible": True, "how": "nvidia-smi -L"}
        except (OSError, subprocess.TimeoutExpired):
            pass
    return {"visible": False, "how": "no /dev/nvidia0 and no GPU from nvidia-smi -L"}


def read_manifest(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh), None
    except FileNotFoundError:
        return None, "absent"
    except (OSError, ValueError) as exc:
        return None, "unreadable: %s" % exc


def main(argv):
    started = time.monotonic()
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    facts = {"probe_version": PROBE_VERSION, "arch_machine": platform.machine(),
             "python": platform.python_version(), "euid": os.geteuid()}
    try:
        facts["user"] = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        facts["user"] = str(os.geteuid())
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(request.get("threads", 8))) as pool:
        # Longest first: the imports (seconds: torch and friends) start at once, the many short binary and
        # shell runs fill the other threads, so the probe takes about as long as the imports alone.
        imports = pool.submit(probe_imports, request.get("imports", []),
                              float(request.get("import_timeout", 120)), import_workers(request))
        shells = {s["name"]: pool.submit(probe_shell, s) for s in request.get("shells", [])}
        bins = {b["name"]: pool.submit(probe_binary, b) for b in request.get("binaries", [])}
        facts["dists"] = probe_dists()
        facts["files"] = {f["path"]: probe_file(f) for f in request.get("files", [])}
        facts["env"] = dict(os.environ)
        facts["users"] = {name: probe_user(name) for name in request.get("users", [])}
        facts["groups"] = {name: probe_group(name) for name in request.get("groups", [])}
        if request.get("packages"):
            facts["packages"], facts["packages_error"] = probe_packages(
                request["packages"], request.get("dpkg_status", DPKG_STATUS))
        if request.get("all_packages"):
            facts["all_packages"], facts["all_packages_error"] = probe_all_packages(
                request.get("dpkg_status", DPKG_STATUS))
        facts["torch"] = torch_cuda()
        facts["gpu"] = gpu_visible()
        manifest, why = read_manifest(request.get("manifest", "/etc/devbox/build-manifest.json"))
        facts["manifest"] = manifest
        facts["manifest_status"] = why or "present"
        facts["binaries"] = {name: fut.result() for name, fut in bins.items()}
        facts["shells"] = {name: fut.result() for name, fut in shells.items()}
        facts["imports"] = imports.result()
    facts["probe_seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.write(json.dumps(facts))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
