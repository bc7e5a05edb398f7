# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""python_dists: every installed distribution's version (importlib.metadata) and the import checks.

Imports run in fresh child interpreters side by side, each module with its own time limit: a hung or
crashing import is marked and its child replaced, the others go on.
"""

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time

from .text import text as _text


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
        self.proc = subprocess.Popen(
            [sys.executable, "-c", IMPORT_CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
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
            for event in self._events(module):
                if event.get("event") == "start":
                    deadline = time.monotonic() + per_import_timeout
                elif event.get("event") == "done":
                    return {"ok": event["ok"], "error": event["error"], "seconds": event["seconds"]}, True
            wait = 3600.0 if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.proc.stdout], [], [], wait)
            if not ready:
                if deadline is not None and time.monotonic() >= deadline:
                    self.close(kill=True)
                    return {
                        "ok": False,
                        "error": "import took longer than %ss" % per_import_timeout,
                        "seconds": per_import_timeout,
                    }, False
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                tail = self.stderr_tail()  # before close(), which drops the file
                return self._died(module, self.close(kill=False), tail, started=deadline is not None), False
            self.buf += chunk

    def _events(self, module):
        """The child's complete JSON lines about `module` so far; anything else on its stdout (a module that
        prints while it is imported) is passed over."""
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                event = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("module") == module:
                yield event

    def _died(self, module, code, tail, started):
        if not started:
            return {"ok": False, "seconds": None, "error": "import child failed to start: %s" % tail}
        return {
            "ok": False,
            "seconds": None,
            "error": "interpreter died while importing (exit code %s) %s" % (code, tail),
        }

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


# Complexity: the worker threads' three closures share one lock, one list and one result table; apart they
# would pass those around and read worse.
def probe_imports(modules, per_import_timeout, workers=1):  # noqa: C901
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


def gather(request, pool):
    # Submitted first (the caller runs this gatherer first): the imports take seconds, the rest fills in.
    imports = pool.submit(
        probe_imports,
        request.get("imports", []),
        float(request.get("import_timeout", 120)),
        import_workers(request),
    )
    # The metadata scan (a second or more on a big image) runs on the pool too, so the shells and binaries
    # gatherers, next in the request, start at once instead of after it.
    return {"dists": pool.submit(probe_dists), "imports": imports}
