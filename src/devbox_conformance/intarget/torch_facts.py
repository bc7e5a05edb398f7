# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""cuda_facts and gpu_facts: torch's CUDA stack and the GPUs, gathered for the `cuda` and `gpu` items
(facts["gpu"] is the probe's own "is a GPU visible" for `when: gpu`).

One child interpreter imports torch for both (torch_checks.py, its source served by the probe's importer),
and only when an item asks and the target can answer: `cuda` when torch is a CUDA build or the image says
it is a CUDA image (CUDA_VERSION), `gpu` when a GPU is visible. nvidia-smi is asked about other processes
BEFORE the child starts, so the child's own CUDA context is never what the idle check sees. nvcc runs beside
the child on the pool.
"""

import concurrent.futures
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

from . import basics
from .smi import csv_rows, run_smi
from .text import text

CHILD_MODULE = "torch_checks"
DEFAULT_TIMEOUT_S = 600.0


def child_source():
    """torch_checks' source: from the probe's importer in a target, from its file where it is installed."""
    name = "%s.%s" % (__name__.rpartition(".")[0], CHILD_MODULE)
    spec = importlib.util.find_spec(name)
    get_source = getattr(spec.loader, "get_source", None)
    if get_source is not None:
        return get_source(name)
    with open(spec.origin, encoding="utf-8") as fh:  # a loader without get_source (pytest's rewriting hook)
        return fh.read()


def run_child(parts, timeout, nccl_timeout=None):
    """torch_checks' facts for `parts` ({"error": ...} when the child crashed, hung or printed no JSON)."""
    asked = {"parts": parts}
    if nccl_timeout is not None:
        asked["nccl_timeout"] = nccl_timeout
    try:
        proc = subprocess.run(
            [sys.executable, "-c", child_source(), json.dumps(asked)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": "torch did not answer within %d s" % timeout}
    except OSError as exc:
        return {"error": "cannot start %s: %s" % (sys.executable, exc)}
    lines = [ln for ln in text(proc.stdout).splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = [ln for ln in text(proc.stderr).strip().splitlines() if ln.strip()]
        return {
            "error": "the torch child exited %s: %s"
            % (proc.returncode, tail[-1][:300] if tail else "no output")
        }
    try:
        return json.loads(lines[-1])
    except ValueError:
        return {"error": "the torch child printed no JSON: %r" % lines[-1][:300]}


def run_nvcc():
    path = shutil.which("nvcc") or next((p for p in ("/usr/local/cuda/bin/nvcc",) if os.path.exists(p)), None)
    if path is None:
        return {"path": None}
    try:
        proc = subprocess.run(
            [path, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"path": path, "error": str(exc)}
    out = text(proc.stdout)
    found = re.search(r"release (\d+\.\d+)", out)
    return {
        "path": path,
        "exit_code": proc.returncode,
        "version": found.group(1) if found else None,
        "tail": out.strip().splitlines()[-1][:300] if out.strip() else "",
    }


def query_smi():
    """What nvidia-smi says: the GPUs, the driver and its CUDA, the processes holding GPU memory."""
    facts = {"gpus": [], "driver": None, "driver_cuda": None, "processes": [], "errors": {}}
    out, err = run_smi(["--query-gpu=index,name,driver_version,memory.used", "--format=csv,noheader,nounits"])
    if err:
        facts["errors"]["gpus"] = err
    else:
        for row in csv_rows(out):
            if len(row) >= 4:
                facts["gpus"].append({"index": row[0], "name": row[1], "memory_used_mib": row[3]})
                facts["driver"] = row[2]
    out, err = run_smi(["--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader,nounits"])
    if err:
        facts["errors"]["processes"] = err
    else:
        facts["processes"] = [
            {"pid": r[0], "name": r[1], "used_mib": r[2] if len(r) > 2 else ""}
            for r in csv_rows(out)
            if r and r[0]
        ]
    out, err = run_smi([])
    if out:
        found = re.search(r"CUDA Version:\s*(\d+\.\d+)", out)
        facts["driver_cuda"] = found.group(1) if found else None
    return facts


def _cuda_promised(torch_facts):
    return torch_facts.get("cuda") or os.environ.get("CUDA_VERSION") or None


def _cuda_and_gpu(parts, timeout, nccl_timeout):
    smi = query_smi() if "gpu" in parts else None
    child = run_child(parts, timeout, nccl_timeout) if parts else {}
    # A child that could not answer (no JSON, no torch) makes its error every part's.
    broken = {key: child[key] for key in ("error", "import_error") if child.get(key)}
    out = {part: dict(child.get(part) or {}, ran=True, **broken) for part in parts}
    if "gpu" in out:
        out["gpu"]["smi"] = smi
    return out


def gather(request, pool):
    cuda_asked, gpu_asked = request.get("cuda"), request.get("gpu")
    if not cuda_asked and not gpu_asked:
        return {}
    timeout = max(float(a.get("timeout", DEFAULT_TIMEOUT_S)) for a in (cuda_asked, gpu_asked) if a)
    torch = basics.torch_cuda()
    parts = []
    facts = {}
    if cuda_asked:
        if not torch.get("installed"):
            facts["cuda_facts"] = {"ran": False, "why": "torch is not installed"}
        elif not _cuda_promised(torch):
            facts["cuda_facts"] = {
                "ran": False,
                "why": "torch is a CPU build and the image names no CUDA_VERSION",
            }
        else:
            parts.append("cuda")
    if gpu_asked:
        gpu = basics.gpu_visible()
        if not gpu.get("visible"):
            facts["gpu_facts"] = {"ran": False, "why": gpu.get("how")}
        else:
            parts.append("gpu")
    if cuda_asked and cuda_asked.get("nvcc"):
        facts["nvcc"] = pool.submit(run_nvcc)
    if parts:
        nccl_timeout = (gpu_asked or {}).get("nccl_timeout")
        job = pool.submit(_cuda_and_gpu, parts, timeout, nccl_timeout)
        for part in parts:
            facts["%s_facts" % part] = _part_of(job, part)
    return facts


def _part_of(job, part):
    """A future of one part of the child's answer (no pool thread waits for it)."""
    future = concurrent.futures.Future()

    def done(finished):
        exc = finished.exception()
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(finished.result().get(part))

    job.add_done_callback(done)
    return future
