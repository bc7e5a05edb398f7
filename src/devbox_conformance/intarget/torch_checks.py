# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""What torch itself says about CUDA and the GPUs, run in a CHILD interpreter that imports torch.

The probe never imports torch (seconds of CPU, and a CUDA context that would hold GPU memory for the whole
probe); the `cuda` and `gpu` gatherers start this module as its own `python3 -c` with the parts they want
and read one JSON line back. Every function takes `torch` as an argument, so the self-tests can hand them a
stand-in for CUDA on a machine without a GPU. Nothing here decides pass or fail: values and errors only.

Numerics: the matrices hold small integers, so every product and sum is exact in float32, in TF32 (which
NGC images switch on for cuBLAS) and, for the bf16 operands and sums below 256, in bfloat16; the GPU result
must then EQUAL the CPU one, and any difference is a wrong answer, not rounding.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import threading
import traceback

# Names of the libraries that make up CUDA torch's runtime (what /proc/self/maps and ldd are filtered by).
CUDA_LIB = re.compile(
    r"lib(cuda|cudart|cublas|cublasLt|cudnn[a-z_]*|nccl|nvrtc|nvJitLink|cufft|curand|"
    r"cusparse|cusparseLt|cusolver|nvToolsExt|cupti|c10_cuda|torch_cuda[a-z_]*)\.so"
)
MATMUL_N = 64
BF16_K = 16
# Seconds the NCCL all-reduce may take (communicator set-up included) before it is called hung: the other
# facts are still reported, and the child exits without waiting for it.
NCCL_TIMEOUT_S = 120.0


def _error(exc):
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]


def version_of_cudnn(number):
    """cuDNN's integer version as text: 90100 -> 9.1.0 (cuDNN >= 9), 8902 -> 8.9.2 (cuDNN 8)."""
    if number is None:
        return None
    number = int(number)
    if number >= 90000:
        return "%d.%d.%d" % (number // 10000, number % 10000 // 100, number % 100)
    return "%d.%d.%d" % (number // 1000, number % 1000 // 100, number % 100)


def loaded_libraries(maps="/proc/self/maps"):
    """Paths of the CUDA libraries mapped into this process."""
    found = []
    try:
        with open(maps, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                path = line.split(None, 5)[5].strip() if len(line.split(None, 5)) == 6 else ""
                if path.startswith("/") and CUDA_LIB.search(os.path.basename(path)) and path not in found:
                    found.append(path)
    except OSError:
        pass
    return found


def unresolved_libraries(torch):
    """{library of torch's: [what the dynamic loader cannot find for it]} from ldd, and how it was judged."""
    libdir = os.path.join(os.path.dirname(torch.__file__), "lib")
    try:
        names = sorted(n for n in os.listdir(libdir) if re.match(r"lib(torch_cuda|c10_cuda)\w*\.so", n))
    except OSError as exc:
        return {}, "cannot list %s: %s" % (libdir, exc)
    missing = {}
    for name in names:
        try:
            proc = subprocess.run(
                ["ldd", os.path.join(libdir, name)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return missing, "ldd did not run: %s" % exc
        lost = [
            ln.split("=>")[0].strip()
            for ln in proc.stdout.decode("utf-8", "replace").splitlines()
            if "not found" in ln
        ]
        if lost:
            missing[name] = lost
    return missing, "ldd on %s" % (", ".join(names) or "no CUDA library of torch's")


def cuda_facts(torch):
    """torch's CUDA, cuDNN and NCCL versions and whether the CUDA libraries it loads resolve."""
    out = {
        "torch": torch.__version__,
        "cuda": getattr(torch.version, "cuda", None),
        "cudnn": None,
        "nccl": None,
        "errors": {},
    }
    try:
        out["cudnn"] = version_of_cudnn(torch.backends.cudnn.version())
    except Exception as exc:  # noqa: BLE001 - a missing or broken cuDNN is a fact to report
        out["errors"]["cudnn"] = _error(exc)
    try:
        nccl = torch.cuda.nccl.version()
        out["nccl"] = ".".join(str(p) for p in nccl) if isinstance(nccl, tuple) else str(nccl)
    except Exception as exc:  # noqa: BLE001
        out["errors"]["nccl"] = _error(exc)
    out["unresolved"], out["resolved_how"] = unresolved_libraries(torch)
    out["loaded"] = loaded_libraries()
    return out


def _exact_operands(torch, n, k, low=-3, high=4):
    gen = torch.Generator().manual_seed(20261201)
    a = torch.randint(low, high, (n, k), generator=gen).to(torch.float32)
    b = torch.randint(low, high, (k, n), generator=gen).to(torch.float32)
    return a, b


def _compare(torch, got, want):
    diff = (got.float().cpu() - want).abs().max().item()
    return {"ok": diff == 0, "max_abs_diff": diff}


def matmul_on(torch, index):
    """float32 matmul on GPU `index` against the CPU's answer for the same exact operands."""
    a, b = _exact_operands(torch, MATMUL_N, MATMUL_N)
    dev = torch.device("cuda", index)
    got = a.to(dev) @ b.to(dev)
    torch.cuda.synchronize(index)
    return _compare(torch, got, a @ b)


def bf16_on(torch, index):
    """bfloat16 matmul on GPU `index` (sums stay below 256, so bf16 holds them exactly)."""
    a, b = _exact_operands(torch, MATMUL_N, BF16_K)
    dev = torch.device("cuda", index)
    got = a.to(dev, torch.bfloat16) @ b.to(dev, torch.bfloat16)
    torch.cuda.synchronize(index)
    return _compare(torch, got, a @ b)


def nccl_all_reduce(torch, count):
    """NCCL all-reduce (sum) of one tensor per GPU holding i + 1: every GPU must end with n(n+1)/2."""
    if count < 2:
        return {"skipped": "one GPU visible: an all-reduce needs two or more"}
    tensors = [torch.full((1024,), float(i + 1), device=torch.device("cuda", i)) for i in range(count)]
    torch.cuda.nccl.all_reduce(tensors)
    want = count * (count + 1) / 2.0
    got = []
    for i, t in enumerate(tensors):
        torch.cuda.synchronize(i)
        values = t.cpu()
        got.append(values[0].item() if bool((values == values[0]).all()) else None)
    return {"gpus": count, "expected": want, "got": got, "ok": all(g == want for g in got)}


def bounded(fn, timeout):
    """fn() in a daemon thread: its result, or {"ok": False, "error": ...} when it raised or did not finish
    within `timeout` s (the thread is left behind; main() then exits without waiting for it)."""
    box = {}

    def run():
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - the error is the fact
            box["result"] = {"ok": False, "error": _error(exc)}

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return {"ok": False, "error": "did not finish within %d s (hung)" % timeout, "hung": True}
    return box["result"]


def gpu_facts(torch, nccl_timeout=NCCL_TIMEOUT_S):
    """torch's view of the GPUs and a small computation on each: the facts of the `gpu` items."""
    out = {
        "cuda": getattr(torch.version, "cuda", None),
        "available": False,
        "count": 0,
        "devices": [],
        "driver_cuda": None,
        "errors": {},
    }
    try:
        out["driver_cuda"] = _driver_cuda(torch._C._cuda_getDriverVersion())
    except Exception as exc:  # noqa: BLE001 - older torch or no driver: nvidia-smi's answer is used instead
        out["errors"]["driver_cuda"] = _error(exc)
    try:
        out["available"] = bool(torch.cuda.is_available())
        out["count"] = int(torch.cuda.device_count())
    except Exception as exc:  # noqa: BLE001
        out["errors"]["available"] = _error(exc)
        return out
    if not out["available"]:
        return out
    for index in range(out["count"]):
        device = {"index": index}
        try:
            device["name"] = torch.cuda.get_device_name(index)
            major, minor = torch.cuda.get_device_capability(index)
            device["capability"] = "%d.%d" % (major, minor)
        except Exception as exc:  # noqa: BLE001
            device["error"] = _error(exc)
            out["devices"].append(device)
            continue
        for key, fn in (("matmul", matmul_on), ("bf16", bf16_on)):
            if key == "bf16" and major < 8:
                device[key] = {"skipped": "compute capability %d.%d < 8.0" % (major, minor)}
                continue
            try:
                device[key] = fn(torch, index)
            except Exception as exc:  # noqa: BLE001
                device[key] = {"ok": False, "error": _error(exc)}
        out["devices"].append(device)
    out["nccl_all_reduce"] = bounded(lambda: nccl_all_reduce(torch, out["count"]), nccl_timeout)
    return out


def _driver_cuda(number):
    """The CUDA driver API version as text: 12080 -> 12.8."""
    return "%d.%d" % (number // 1000, number % 1000 // 10) if number else None


def main(argv):
    """argv[1]: JSON, the parts to gather (["cuda", "gpu"]) or {"parts": [...], "nccl_timeout": s}."""
    asked = json.loads(argv[1]) if len(argv) > 1 else ["cuda"]
    if isinstance(asked, dict):
        parts, nccl_timeout = asked.get("parts") or [], float(asked.get("nccl_timeout", NCCL_TIMEOUT_S))
    else:
        parts, nccl_timeout = asked, NCCL_TIMEOUT_S
    out = {}
    try:
        # The one module of the package that imports a third-party one, in its own child interpreter.
        torch = importlib.import_module("torch")
    except Exception as exc:  # noqa: BLE001 - a torch that does not import is the fact
        out["import_error"] = _error(exc)
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    if "cuda" in parts:
        out["cuda"] = cuda_facts(torch)
    if "gpu" in parts:
        out["gpu"] = gpu_facts(torch, nccl_timeout)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    if (out.get("gpu") or {}).get("nccl_all_reduce", {}).get("hung"):
        # A hung NCCL call would also hang the interpreter's exit (CUDA's teardown): leave at once.
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
