"""CPU-side figures measured inside the target, printed as one JSON document.

Shipped through ``devbox_target.run_python`` in one exec together with the in-target modules it
imports (``measure.script_source``: nothing is copied into the target); standard library, plus numpy and
torch when the target has them. Runnable on its own from a checkout::

    PYTHONPATH=src python3 -m devbox_conformance.performance.cpu_bench --json --metrics shell_bash

Why these figures: a float32 GEMM far below what an optimised BLAS gives means the image fell back
to a reference BLAS; import and login-shell times are what every user pays on every start, and a
slow profile.d snippet shows up nowhere else.

* GEMM: ``perf_counter`` around each product, warmup first, ``repeats`` groups of ``iterations``,
  median of group medians (``intarget.stats.summarize``, the GPU script's summary too).
* Import time: a fresh interpreter per run (``python -c 'import X'``, timed inside), one untimed
  warmup run to fill the page cache, then the median of ``runs``.
* Shell startup: ``<shell> -l -i -c true`` under a pseudo-terminal (``intarget.ptyrun.time_under_pty``,
  the probe's pty runner: the shell is really interactive and owns a controlling terminal, its output
  drained as it comes), fork to exit, median of ``runs``. The bare
  shell (``--norc``/``-f``) is measured too so a report can say how much the profile costs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from devbox_conformance.intarget import benchout
from devbox_conformance.intarget.ptyrun import time_under_pty
from devbox_conformance.intarget.stats import summarize

SCHEMA_VERSION = 1

ALL_METRICS = (
    "gemm_numpy",
    "gemm_torch",
    "import_torch",
    "import_transformers",
    "shell_bash",
    "shell_zsh",
)


def _time_groups(fn: Callable[[], object], warmup: int, iterations: int, repeats: int) -> list[list[float]]:
    for _ in range(warmup):
        fn()
    groups = []
    for _ in range(repeats):
        group = []
        for _ in range(iterations):
            start = time.perf_counter()
            fn()
            group.append(time.perf_counter() - start)
        groups.append(group)
    return groups


def _gemm_result(fn: Callable[[], object], n: int, how: str, quick: bool, **extra: Any) -> dict[str, Any]:
    warmup, iterations, repeats = (1, 3, 3) if quick else (3, 10, 5)
    seconds, spread, medians = summarize(_time_groups(fn, warmup, iterations, repeats))
    work = 2.0 * n * n * n
    return {
        "unit": "GFLOPS",
        "value": work / seconds / 1e9,
        "spread": spread,
        "samples": [work / s / 1e9 for s in medians],
        "durations_s": medians,
        "work": work,
        "how": how,
        "warmup": warmup,
        "iterations": iterations,
        "repeats": repeats,
        **extra,
    }


def numpy_blas() -> str:
    """Name of the BLAS numpy was built against, e.g. ``scipy-openblas`` or ``mkl``."""
    import numpy as np

    config = getattr(np, "__config__", None)
    info = getattr(config, "CONFIG", None)  # numpy >= 1.26
    if isinstance(info, dict):
        blas = info.get("Build Dependencies", {}).get("blas", {})
        name = blas.get("name") or "unknown"
        version = blas.get("version")
        return f"{name} {version}" if version else str(name)
    return "unknown (numpy < 1.26 has no machine-readable build config)"


def torch_blas(torch: Any) -> str:
    """BLAS_INFO from torch's build configuration (``mkl``, ``open``, ``blas`` = reference...)."""
    text = torch.__config__.show()
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if part.startswith("BLAS_INFO="):
            return part.split("=", 1)[1]
    return "mkl" if torch.backends.mkl.is_available() else "unknown"


def measure_gemm_numpy(n: int, quick: bool) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    return _gemm_result(
        lambda: np.matmul(a, b, out=out),
        n,
        f"numpy.matmul float32 {n}x{n}x{n}; FLOPs = 2*n^3",
        quick,
        backend=numpy_blas(),
        library_version=np.__version__,
        threads=os.cpu_count(),
    )


def measure_gemm_torch(n: int, quick: bool) -> dict[str, Any]:
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen, dtype=torch.float32)
    b = torch.randn(n, n, generator=gen, dtype=torch.float32)
    out = torch.empty(n, n, dtype=torch.float32)
    return _gemm_result(
        lambda: torch.mm(a, b, out=out),
        n,
        f"torch.mm float32 {n}x{n}x{n} on CPU; FLOPs = 2*n^3",
        quick,
        backend=torch_blas(torch),
        library_version=torch.__version__,
        threads=torch.get_num_threads(),
    )


def _sample_result(samples: list[float], how: str, **extra: Any) -> dict[str, Any]:
    # Single runs: each run is its own group, so the summary is the plain median and IQR.
    seconds, spread, _ = summarize([[s] for s in samples])
    return {
        "unit": "s",
        "value": seconds,
        "spread": spread,
        "samples": samples,
        "durations_s": samples,
        "how": how,
        **extra,
    }


IMPORT_SNIPPET = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "__import__(sys.argv[1])\n"
    "print(repr(time.perf_counter() - t))\n"
)


def measure_import(module: str, runs: int, timeout: float) -> dict[str, Any]:
    """Import time of ``module`` in fresh interpreters; raises ImportError when it is absent."""
    samples: list[float] = []
    for i in range(runs + 1):  # run 0 is the untimed warmup (page cache, .pyc files)
        proc = subprocess.run(
            [sys.executable, "-c", IMPORT_SNIPPET, module],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            if f"No module named '{module}'" in last:
                raise ImportError(last)
            raise RuntimeError(f"python -c 'import {module}' exited {proc.returncode}: {last}")
        if i > 0:
            samples.append(float(proc.stdout.strip().splitlines()[-1]))
    return _sample_result(
        samples,
        f"fresh `{sys.executable}` per run, perf_counter around `import {module}`, "
        f"1 warmup + median of {runs}",
        python=sys.executable,
    )


def measure_shell(shell: str, runs: int, timeout: float) -> dict[str, Any]:
    exe = shutil.which(shell)
    if exe is None:
        raise ImportError(f"{shell} is not on PATH")
    login = [exe, "-l", "-i", "-c", "true"]
    bare = [exe, "--norc", "--noprofile", "-c", "true"] if shell == "bash" else [exe, "-f", "-c", "true"]
    time_under_pty(login, timeout)  # warmup: page cache, zsh's compdump
    samples = []
    statuses = set()
    tail = ""
    for _ in range(runs):
        seconds, status, tail = time_under_pty(login, timeout)
        samples.append(seconds)
        statuses.add(status)
    bare_samples = [time_under_pty(bare, timeout)[0] for _ in range(max(3, runs // 2))]
    bare_median = statistics.median(bare_samples)
    return _sample_result(
        samples,
        f"`{shell} -l -i -c true` under a pty, fork to exit, 1 warmup + median of {runs}; "
        f"the bare `{' '.join([shell] + bare[1:])}` takes {bare_median:.3f} s",
        exit_codes=sorted(statuses),
        bare_seconds=bare_median,
        bare_command=" ".join([shell] + bare[1:]),
        output_tail=tail,
    )


def run(metrics: tuple[str, ...], quick: bool, runs: int, timeout: float) -> dict[str, Any]:
    """Measure ``metrics``; one metric's failure lands in ``errors`` and the others still run."""
    n = 256 if quick else 1024
    todo: dict[str, Callable[[], dict[str, Any]]] = {
        "gemm_numpy": lambda: measure_gemm_numpy(n, quick),
        "gemm_torch": lambda: measure_gemm_torch(n, quick),
        "import_torch": lambda: measure_import("torch", runs, timeout),
        "import_transformers": lambda: measure_import("transformers", runs, timeout),
        "shell_bash": lambda: measure_shell("bash", runs, timeout),
        "shell_zsh": lambda: measure_shell("zsh", runs, timeout),
    }
    report: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "cpu",
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "machine": os.uname().machine,
        "metrics": {},
        "errors": {},
    }
    return benchout.measure_each(report, metrics, todo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON report (the default)")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON report")
    parser.add_argument(
        "--metrics", default=",".join(ALL_METRICS), help=f"subset of {', '.join(ALL_METRICS)}"
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs for import and shell figures")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds one import or shell run may take"
    )
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    metrics = benchout.selected(parser, args.metrics, ALL_METRICS)
    return benchout.print_report(lambda: run(metrics, args.quick, args.runs, args.timeout), args.pretty)


if __name__ == "__main__":
    sys.exit(main())
