"""GPU throughput measured inside the target, printed as one JSON document.

Shipped through ``devbox_target.run_python`` in one exec together with the in-target modules it
imports (``measure.script_source``: nothing is copied into the target), so it may use the standard
library, torch (and flash-attn when present) and the stdlib-only ``devbox_conformance.intarget``
package, nothing else of ``devbox_conformance``. It also runs on its own on a GPU node from a checkout,
which is how a lead without Docker checks a machine::

    PYTHONPATH=src python3 -m devbox_conformance.performance.gpu_bench --json
    PYTHONPATH=src python3 -m devbox_conformance.performance.gpu_bench --json --metrics matmul_bf16,copy_d2d

How figures are taken (why: one number per metric that survives clock ramps and caches):

* CUDA events around each iteration; ``warmup`` untimed iterations first.
* Before every timed iteration a buffer larger than the L2 cache is written, so no iteration reads
  its inputs from a cache warmed by the previous one.
* ``repeats`` groups of ``iterations``: the median of each group, then the median of those medians.
  The relative spread reported is (q3 - q1) / median over the group medians
  (``intarget.stats.summarize``, the CPU script's summary too).
* Bytes for the device-to-device copy count the read and the write (2 x buffer size); host copies
  count the buffer once (it crosses the link once).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from devbox_conformance.intarget import benchout
from devbox_conformance.intarget.smi import SMI_FIELDS, query_nvidia_smi  # noqa: F401
from devbox_conformance.intarget.stats import summarize

SCHEMA_VERSION = 1

# The figures judged against a GPU model's floors: the one list of them (the contract's tests and the
# baselines' schema import it).
FIGURE_METRICS = (
    "matmul_bf16",
    "matmul_fp16",
    "matmul_tf32",
    "copy_d2d",
    "copy_h2d_pinned",
    "copy_d2h_pinned",
    "attention_sdpa_flash",
    "attention_flash_attn",
)
# The bf16 matmul on every visible device, for the slowest GPU against the node's median.
PER_DEVICE_METRIC = "matmul_bf16_per_device"
ALL_METRICS = (*FIGURE_METRICS, "nccl_allreduce", PER_DEVICE_METRIC)
# NCCL and the per-device pass run only when asked for: each has its own test and its own time budget.
DEFAULT_METRICS = FIGURE_METRICS


class Bench:
    """Holds the torch module, the device and the L2-flush buffer shared by all metrics."""

    def __init__(self, torch: Any, device_index: int, warmup: int, iterations: int, repeats: int) -> None:
        self.torch = torch
        self.device = torch.device("cuda", device_index)
        self.warmup = warmup
        self.iterations = iterations
        self.repeats = repeats
        props = torch.cuda.get_device_properties(self.device)
        l2 = int(getattr(props, "L2_cache_size", 0) or 0)
        # Twice the L2 (at least 256 MiB) so that no line of the previous iteration survives.
        self.flush_bytes = max(2 * l2, 256 << 20)
        self.flush_buf = torch.empty(self.flush_bytes, dtype=torch.uint8, device=self.device)

    def time_groups(self, fn: Callable[[], object]) -> list[list[float]]:
        """Seconds per call of ``fn``: ``repeats`` groups of ``iterations`` CUDA-event timings."""
        torch = self.torch
        for _ in range(self.warmup):
            fn()
        torch.cuda.synchronize(self.device)
        groups: list[list[float]] = []
        for _ in range(self.repeats):
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(self.iterations)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(self.iterations)]
            for i in range(self.iterations):
                self.flush_buf.zero_()
                starts[i].record()
                fn()
                ends[i].record()
            torch.cuda.synchronize(self.device)
            groups.append([s.elapsed_time(e) / 1000.0 for s, e in zip(starts, ends, strict=True)])
        return groups

    def throughput(
        self, fn: Callable[[], object], work: float, scale: float, unit: str, how: str, **extra: Any
    ) -> dict[str, Any]:
        """Time ``fn`` and turn seconds into ``work / seconds / scale`` (e.g. FLOPs -> TFLOPS)."""
        groups = self.time_groups(fn)
        seconds, spread, medians = summarize(groups)
        return {
            "unit": unit,
            "value": work / seconds / scale,
            "spread": spread,
            "samples": [work / s / scale for s in medians],
            "durations_s": medians,
            "work": work,
            "how": how,
            "warmup": self.warmup,
            "iterations": self.iterations,
            "repeats": self.repeats,
            **extra,
        }


def measure_matmul(bench: Bench, dtype_name: str, n: int) -> dict[str, Any]:
    """Square matmul of size n; TF32 is switched on only for its own measurement."""
    torch = bench.torch
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "tf32": torch.float32}[dtype_name]
    a = torch.randn(n, n, device=bench.device, dtype=dtype)
    b = torch.randn(n, n, device=bench.device, dtype=dtype)
    out = torch.empty(n, n, device=bench.device, dtype=dtype)
    # TF32 only for its own measurement; set_float32_matmul_precision is the switch torch documents
    # across versions (the allow_tf32 attribute is being replaced by fp32_precision).
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high" if dtype_name == "tf32" else "highest")
    try:
        result = bench.throughput(
            lambda: torch.matmul(a, b, out=out),
            work=2.0 * n * n * n,
            scale=1e12,
            unit="TFLOPS",
            how=f"torch.matmul {n}x{n}x{n} {dtype_name}; FLOPs = 2*n^3",
            shape=[n, n, n],
        )
    finally:
        torch.set_float32_matmul_precision(previous)
    return result


def measure_copy_d2d(bench: Bench, nbytes: int) -> dict[str, Any]:
    torch = bench.torch
    src = torch.empty(nbytes, dtype=torch.uint8, device=bench.device).fill_(1)
    dst = torch.empty_like(src)
    result = bench.throughput(
        lambda: dst.copy_(src),
        work=2.0 * nbytes,
        scale=1e9,
        unit="GB/s",
        how=f"device-to-device copy of {nbytes} bytes; bytes counted = read + write (2 x size)",
        bytes=nbytes,
    )
    return result


def measure_copy_host(bench: Bench, nbytes: int, direction: str) -> dict[str, Any]:
    torch = bench.torch
    host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(nbytes, dtype=torch.uint8, device=bench.device)
    if direction == "h2d":
        fn: Callable[[], object] = lambda: dev.copy_(host, non_blocking=True)  # noqa: E731
    else:
        fn = lambda: host.copy_(dev, non_blocking=True)  # noqa: E731
    result = bench.throughput(
        fn,
        work=float(nbytes),
        scale=1e9,
        unit="GB/s",
        how=f"pinned {direction} copy of {nbytes} bytes; bytes counted once (one link crossing)",
        bytes=nbytes,
    )
    return result


def measure_per_device(torch: Any, n: int, warmup: int, iterations: int, repeats: int) -> dict[str, Any]:
    """The bf16 matmul on each visible device, one after the other (never side by side: a shared host link
    or power budget would make the slowest look slower). A device that fails is listed with its error,
    never left out: a missing device must not make the node look even."""
    current = torch.cuda.current_device()
    devices: list[dict[str, Any]] = []
    for index in range(int(torch.cuda.device_count())):
        try:
            torch.cuda.set_device(index)
            entry = measure_matmul(Bench(torch, index, warmup, iterations, repeats), "bf16", n)
            name = torch.cuda.get_device_properties(index).name
            devices.append({"index": index, "name": name, "value": entry["value"], "spread": entry["spread"]})
        except Exception as exc:  # noqa: BLE001 - reported for this device, the others still run
            devices.append({"index": index, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            torch.cuda.empty_cache()
    torch.cuda.set_device(current)
    values = [d["value"] for d in devices if "value" in d]
    median = statistics.median(values) if values else 0.0
    ratio = 100.0 * min(values) / median if median > 0 else 0.0
    work = 2.0 * n * n * n
    return {
        "unit": "% of median",
        "value": ratio,
        "spread": 0.0,
        "samples": [d.get("value", 0.0) for d in devices],
        "durations_s": [work / (d["value"] * 1e12) for d in devices if d.get("value")],
        "how": f"torch.matmul {n}x{n}x{n} bf16 on each of {len(devices)} devices in turn; slowest / median",
        "devices": devices,
    }


def _attention_work(batch: int, heads: int, seq: int, dim: int) -> float:
    # Two matmuls (QK^T and PV), 2 FLOPs per multiply-add, non-causal.
    return 4.0 * batch * heads * seq * seq * dim


def measure_attention_sdpa(bench: Bench, batch: int, heads: int, seq: int, dim: int) -> dict[str, Any]:
    torch = bench.torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention

    q, k, v = (
        torch.randn(batch, heads, seq, dim, device=bench.device, dtype=torch.bfloat16) for _ in range(3)
    )

    def run() -> object:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            return scaled_dot_product_attention(q, k, v)

    return bench.throughput(
        run,
        work=_attention_work(batch, heads, seq, dim),
        scale=1e12,
        unit="TFLOPS",
        how=f"torch SDPA, flash backend only, bf16 forward, B={batch} H={heads} S={seq} D={dim}, "
        "FLOPs = 4*B*H*S^2*D (non-causal)",
        shape=[batch, heads, seq, dim],
    )


def measure_attention_flash_attn(bench: Bench, batch: int, heads: int, seq: int, dim: int) -> dict[str, Any]:
    torch = bench.torch
    import flash_attn
    from flash_attn import flash_attn_func

    q, k, v = (
        torch.randn(batch, seq, heads, dim, device=bench.device, dtype=torch.bfloat16) for _ in range(3)
    )
    return bench.throughput(
        lambda: flash_attn_func(q, k, v),
        work=_attention_work(batch, heads, seq, dim),
        scale=1e12,
        unit="TFLOPS",
        how=f"flash_attn {getattr(flash_attn, '__version__', '?')} flash_attn_func bf16 forward, "
        f"B={batch} S={seq} H={heads} D={dim}, FLOPs = 4*B*H*S^2*D (non-causal)",
        shape=[batch, heads, seq, dim],
    )


def nccl_smoke(torch: Any, device_index: int) -> dict[str, Any]:
    """One-rank process group, one all_reduce: proves NCCL loads, initialises and computes."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_nccl_available():
        raise RuntimeError("torch.distributed reports NCCL unavailable")
    with socket.socket() as s:  # a free port for the rendezvous store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torch.cuda.set_device(device_index)
    started = time.perf_counter()
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        x = torch.full((1024,), 3.0, device=torch.device("cuda", device_index))
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        torch.cuda.synchronize()
        ok = bool(torch.all(x == 3.0).item())
    finally:
        dist.destroy_process_group()
    elapsed = time.perf_counter() - started
    version = torch.cuda.nccl.version() if hasattr(torch.cuda, "nccl") else None
    return {
        "unit": "s",
        "value": elapsed,
        "ok": ok,
        "durations_s": [elapsed],
        "spread": 0.0,
        "nccl_version": ".".join(map(str, version)) if isinstance(version, tuple) else str(version),
        "how": "init_process_group(nccl, world_size=1) + all_reduce(SUM) of 3.0; correct if still 3.0",
    }


def backend_flags(torch: Any) -> dict[str, Any]:
    flags: dict[str, Any] = {
        "cudnn_available": bool(torch.backends.cudnn.is_available()),
        "cudnn_enabled": bool(torch.backends.cudnn.enabled),
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    for name in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        fn = getattr(torch.backends.cuda, name, None)
        flags[name] = bool(fn()) if callable(fn) else None
    return flags


def run(metrics: tuple[str, ...], device_index: int, quick: bool) -> dict[str, Any]:
    """Measure ``metrics``; never raises for one metric's failure (it lands in ``errors``)."""
    report: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": "gpu",
        "metrics": {},
        "errors": {},
        "smi_before": query_nvidia_smi(device_index),
    }
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any import failure means "no torch" to the host
        report["available"] = False
        report["reason"] = f"import torch failed: {type(exc).__name__}: {exc}"
        return report
    report["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda}
    if not torch.cuda.is_available():
        report["available"] = False
        report["reason"] = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
        return report
    report["available"] = True
    # Events record on the current device's stream: make the measured device the current one.
    torch.cuda.set_device(device_index)
    props = torch.cuda.get_device_properties(device_index)
    report["device"] = {
        "index": device_index,
        "name": props.name,
        "capability": [props.major, props.minor],
        "memory_bytes": int(props.total_memory),
        "multiprocessors": int(props.multi_processor_count),
        "l2_cache_bytes": int(getattr(props, "L2_cache_size", 0) or 0),
    }
    report["flags"] = backend_flags(torch)

    n = 2048 if quick else 8192
    copy_bytes = (64 << 20) if quick else (1 << 30)
    host_bytes = (64 << 20) if quick else (512 << 20)
    attn = (2, 8, 1024, 64) if quick else (8, 16, 4096, 128)
    warmup, iterations, repeats = (2, 5, 3) if quick else (10, 20, 5)

    bench = Bench(torch, device_index, warmup, iterations, repeats)
    report["l2_flush_bytes"] = bench.flush_bytes
    todo: dict[str, Callable[[], dict[str, Any]]] = {
        "matmul_bf16": lambda: measure_matmul(bench, "bf16", n),
        "matmul_fp16": lambda: measure_matmul(bench, "fp16", n),
        "matmul_tf32": lambda: measure_matmul(bench, "tf32", n),
        "copy_d2d": lambda: measure_copy_d2d(bench, copy_bytes),
        "copy_h2d_pinned": lambda: measure_copy_host(bench, host_bytes, "h2d"),
        "copy_d2h_pinned": lambda: measure_copy_host(bench, host_bytes, "d2h"),
        "attention_sdpa_flash": lambda: measure_attention_sdpa(bench, *attn),
        "attention_flash_attn": lambda: measure_attention_flash_attn(bench, *attn),
        "nccl_allreduce": lambda: nccl_smoke(torch, device_index),
        PER_DEVICE_METRIC: lambda: measure_per_device(torch, n, warmup, iterations, repeats),
    }
    benchout.measure_each(report, metrics, todo, after_each=torch.cuda.empty_cache)
    # Clocks and power right after the load: the figures a floor failure is explained with.
    report["smi_after"] = query_nvidia_smi(device_index)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the JSON report (the default)")
    parser.add_argument("--pretty", action="store_true", help="indent the JSON report")
    parser.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated subset of {', '.join(ALL_METRICS)}",
    )
    parser.add_argument("--device", type=int, default=int(os.environ.get("DEVBOX_PERF_DEVICE", "0")))
    parser.add_argument("--quick", action="store_true", help="small shapes: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    metrics = benchout.selected(parser, args.metrics, ALL_METRICS)
    return benchout.print_report(lambda: run(metrics, args.device, args.quick), args.pretty)


if __name__ == "__main__":
    sys.exit(main())
