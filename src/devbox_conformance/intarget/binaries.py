# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""binaries: which, and the version command where the contract checks a version (one pool job each)."""

import shutil
import subprocess

from .text import OUTPUT_CAP, text


def probe_binary(spec):
    name = spec["name"]
    path = shutil.which(name)
    out = {"path": path, "version_output": None, "version_exit_code": None, "error": None}
    if path is None or not spec.get("version_args"):
        return out
    try:
        proc = subprocess.run(
            [path] + list(spec["version_args"]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=spec.get("timeout", 30),
        )
        out["version_output"] = text(proc.stdout)[:OUTPUT_CAP]
        out["version_exit_code"] = proc.returncode
    except subprocess.TimeoutExpired:
        out["error"] = "version command timed out after %ss" % spec.get("timeout", 30)
    except OSError as exc:
        out["error"] = "cannot run: %s" % exc
    return out


def gather(request, pool):
    return {"binaries": {b["name"]: pool.submit(probe_binary, b) for b in request.get("binaries", [])}}
