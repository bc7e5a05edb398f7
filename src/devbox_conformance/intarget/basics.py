# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""Facts of the target every run needs, whatever the contract lists: torch's CUDA (for `when: cuda`), GPU
visibility (`when: gpu`) and the build manifest (`when: sets`, and the "why" of a failure)."""

import json
import os
import re
import shutil
import subprocess

from .text import text as _text


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
        return {
            "installed": True,
            "version": version.group(1) if version else None,
            "cuda": cuda.group(1) if cuda else None,
        }
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
