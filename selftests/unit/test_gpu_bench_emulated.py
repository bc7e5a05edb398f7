"""gpu_bench run end to end on an emulated CUDA device, and its report judged by the GPU tests' own code.

No GPU exists on the machines that run these self-tests, so ``torch.cuda`` is replaced here by a small
stand-in backed by the CPU build of torch (``FakeTorch`` below):

* one device, "NVIDIA H200", capability 9.0, with total memory, SM count and L2 size;
* ``cuda.Event(enable_timing=True)``: ``record()`` reads a clock (``time.perf_counter`` unless a test gives
  its own) and ``elapsed_time()`` answers in milliseconds, as CUDA's events do (and refuses, as they do,
  without timing or a record);
* ``torch.device("cuda", i)`` is the CPU device, and tensor factories drop ``pin_memory=True``;
* ``set_device``/``synchronize``/``empty_cache`` do nothing but leave a trace of the call order.

Everything else is the real torch. What this checks is the measurement logic (warm-up, an L2 flush
before every timed iteration, median of group medians, seconds and unit conversions, per-metric
errors), the report format, and that the suite's consumer code accepts the report as it comes. The
figures are CPU figures: they say nothing about any GPU. Shapes are shrunk below ``--quick`` and the
flush buffer to 1 MiB so the whole module takes seconds on two slow cores. On a GPU node the real
script runs instead (tests/performance/test_gpu_performance.py).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.intarget import smi
from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance import gpu_bench, node_spread
from devbox_conformance.performance.measure import Measurer, script_source
from devbox_conformance.performance.report import BenchReport, parse_report

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30
MIB = 1 << 20

# ---------------------------------------------------------------------------------------------------
# The stand-in for CUDA.

H200_PROPERTIES = dict(
    name="NVIDIA H200", major=9, minor=0, total_memory=141 * GIB, multi_processor_count=132
)
# What the stubbed nvidia-smi answers: PCIe gen 5 x16 gives the host copies a 63 GB/s link peak.
SMI = {
    "name": "NVIDIA H200",
    "driver_version": "570.86.15",
    "clocks.sm": "1980",
    "clocks.max.sm": "1980",
    "power.limit": "700.00",
    "pcie.link.gen.max": "5",
    "pcie.link.width.max": "16",
}


class ManualClock:
    """A clock that moves only when told: work "takes" exactly what a test says, however loaded the machine
    (a time.sleep of 2 ms can take 20 on a busy CI runner and reorder the figures a test relies on)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeEvent:
    """``torch.cuda.Event``: the clock at ``record()``, milliseconds from ``elapsed_time()``."""

    def __init__(
        self, trace: list[str], enable_timing: bool = False, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.trace = trace
        self.enable_timing = enable_timing
        self.clock = clock
        self.at: float | None = None

    def record(self, stream: object = None) -> None:
        self.at = self.clock()
        self.trace.append("record")

    def elapsed_time(self, end: FakeEvent) -> float:
        if not (self.enable_timing and end.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'")
        if self.at is None or end.at is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time")
        return (end.at - self.at) * 1000.0


class FakeCuda:
    """``torch.cuda`` with one device; calls that order work on a GPU are logged in ``trace``."""

    def __init__(self, l2_cache_size: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.trace: list[str] = []
        self.clock = clock
        self.properties = types.SimpleNamespace(**H200_PROPERTIES, L2_cache_size=l2_cache_size)
        self.nccl = types.SimpleNamespace(version=lambda: (2, 21, 5))

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 1

    def current_device(self) -> int:
        return 0

    def set_device(self, device: object) -> None:
        self.trace.append("set_device")

    def synchronize(self, device: object = None) -> None:
        self.trace.append("synchronize")

    def empty_cache(self) -> None:
        pass

    def get_device_properties(self, device: object) -> types.SimpleNamespace:
        return self.properties

    def Event(self, enable_timing: bool = False) -> FakeEvent:  # noqa: N802 - torch's name
        return FakeEvent(self.trace, enable_timing, self.clock)


class FakeTorch(types.ModuleType):
    """The real (CPU) torch, but with ``FakeCuda`` as ``cuda`` and "cuda" tensors made on the host."""

    FACTORIES = ("empty", "zeros", "ones", "full", "randn", "rand", "tensor")

    def __init__(
        self,
        real: types.ModuleType,
        l2_cache_size: int = 50 * MIB,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__("torch")
        self.real = real
        self.cuda = FakeCuda(l2_cache_size, clock)
        self.version = types.SimpleNamespace(cuda="12.8")
        self.pinned_requests = 0
        for name in self.FACTORIES:
            setattr(self, name, self._on_host(getattr(real, name)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def device(self, kind: Any, index: int | None = None) -> Any:
        if str(kind).startswith("cuda"):
            return self.real.device("cpu")
        return self.real.device(kind) if index is None else self.real.device(kind, index)

    def _on_host(self, factory: Callable[..., Any]) -> Callable[..., Any]:
        def make(*args: Any, device: Any = None, pin_memory: bool = False, **kwargs: Any) -> Any:
            self.pinned_requests += bool(pin_memory)
            if device is not None and str(device).startswith("cuda"):
                device = "cpu"
            return factory(*args, device=device, **kwargs)

        return make


class TracedFlush:
    """The L2-flush buffer, 1 MiB instead of 256: logs each write in the trace."""

    def __init__(self, torch: FakeTorch) -> None:
        self.trace = torch.cuda.trace
        self.buf = torch.real.empty(MIB, dtype=torch.real.uint8)

    def zero_(self) -> None:
        self.buf.zero_()
        self.trace.append("flush")


class SmallFlushBench(gpu_bench.Bench):
    """The real Bench; only the buffer written is small. ``flush_bytes`` keeps the size it chose."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flush_buf = TracedFlush(self.torch)


SMALL_N = 128
SMALL_BYTES = MIB
SMALL_ATTENTION = (1, 2, 128, 64)
REAL_MEASURE = {
    "matmul": gpu_bench.measure_matmul,
    "d2d": gpu_bench.measure_copy_d2d,
    "host": gpu_bench.measure_copy_host,
    "sdpa": gpu_bench.measure_attention_sdpa,
}


def emulate(mp: pytest.MonkeyPatch, real_torch: types.ModuleType) -> FakeTorch:
    """Install the fake torch for ``gpu_bench.run``, the stubbed nvidia-smi, and the small shapes."""
    fake = FakeTorch(real_torch)
    mp.setitem(sys.modules, "torch", fake)
    mp.setitem(sys.modules, "flash_attn", None)  # absent whatever this machine has installed
    mp.setattr(gpu_bench, "query_nvidia_smi", lambda index: dict(SMI))
    mp.setattr(gpu_bench, "Bench", SmallFlushBench)
    mp.setattr(gpu_bench, "measure_matmul", lambda b, dt, n: REAL_MEASURE["matmul"](b, dt, SMALL_N))
    mp.setattr(gpu_bench, "measure_copy_d2d", lambda b, nbytes: REAL_MEASURE["d2d"](b, SMALL_BYTES))
    mp.setattr(
        gpu_bench, "measure_copy_host", lambda b, nbytes, way: REAL_MEASURE["host"](b, SMALL_BYTES, way)
    )
    mp.setattr(
        gpu_bench, "measure_attention_sdpa", lambda b, *shape: REAL_MEASURE["sdpa"](b, *SMALL_ATTENTION)
    )
    # NCCL needs a GPU; the same one-rank process group and all_reduce run on gloo (milliseconds).
    dist = real_torch.distributed
    init = dist.init_process_group
    mp.setattr(dist, "is_nccl_available", lambda: True)
    mp.setattr(
        dist, "init_process_group", lambda backend, **kw: init("gloo" if backend == "nccl" else backend, **kw)
    )
    return fake


@pytest.fixture(scope="module")
def real_torch() -> types.ModuleType:
    torch = pytest.importorskip("torch")
    # Imported before the fake takes the name "torch": gpu_bench imports them from inside run().
    for name in ("torch.distributed", "torch.nn.attention", "torch.nn.functional"):
        importlib.import_module(name)
    return torch


@dataclass(frozen=True)
class Emulated:
    report: dict[str, Any]
    pinned_requests: int
    precision_before: str
    precision_after: str


@pytest.fixture(scope="module")
def emulated(real_torch: types.ModuleType) -> Emulated:
    """One ``run()`` of every metric, quick, on the emulated H200 (about a second)."""
    before = real_torch.get_float32_matmul_precision()
    with pytest.MonkeyPatch.context() as mp:
        fake = emulate(mp, real_torch)
        report = gpu_bench.run(gpu_bench.ALL_METRICS, 0, quick=True)
    return Emulated(report, fake.pinned_requests, before, real_torch.get_float32_matmul_precision())


# ---------------------------------------------------------------------------------------------------
# Without a usable torch or device: the report says why.


def test_no_torch_is_unavailable_with_the_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setattr(gpu_bench, "query_nvidia_smi", lambda index: {})
    report = gpu_bench.run(gpu_bench.DEFAULT_METRICS, 0, quick=True)
    assert report["available"] is False and report["metrics"] == {} and "device" not in report
    assert report["reason"].startswith("import torch failed: ModuleNotFoundError"), report["reason"]
    parsed = parse_report(json.dumps(report))
    assert parsed.available is False and parsed.reason == report["reason"]


def test_torch_without_cuda_is_unavailable_naming_the_build(
    real_torch: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    if real_torch.cuda.is_available():
        pytest.skip("this torch sees a CUDA device")
    monkeypatch.setattr(gpu_bench, "query_nvidia_smi", lambda index: {})
    report = gpu_bench.run(("matmul_bf16",), 0, quick=True)
    assert report["available"] is False and report["metrics"] == {}
    assert report["reason"] == (
        f"torch {real_torch.__version__} (CUDA {real_torch.version.cuda}) sees no CUDA device"
    )
    assert report["torch"] == {"version": real_torch.__version__, "cuda": real_torch.version.cuda}


def test_nvidia_smi_fields_are_retried_one_by_one_when_the_joint_query_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An older driver rejects one unknown field, and with it the whole query."""
    asked: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        asked.append(cmd)
        fields = cmd[2].removeprefix("--query-gpu=").split(",")
        if "power.default_limit" in fields:
            return subprocess.CompletedProcess(cmd, 2, b"Field is not a valid field to query.\n")
        return subprocess.CompletedProcess(cmd, 0, (", ".join(f"<{f}>" for f in fields) + "\n").encode())

    monkeypatch.setattr(smi.shutil, "which", lambda name: "/opt/bin/nvidia-smi")
    monkeypatch.setattr(smi.subprocess, "run", fake_run)
    result = smi.query_nvidia_smi(3)
    assert result == {f: f"<{f}>" for f in smi.SMI_FIELDS if f != "power.default_limit"}
    assert len(asked) == 1 + len(smi.SMI_FIELDS)
    assert all(cmd[:2] == ["/opt/bin/nvidia-smi", "--id=3"] for cmd in asked)
    monkeypatch.setattr(smi.shutil, "which", lambda name: None)
    assert smi.query_nvidia_smi(0) == {}


# ---------------------------------------------------------------------------------------------------
# The measurement logic, with work whose duration is known.


def _bench(
    real_torch: types.ModuleType,
    warmup: int,
    iterations: int,
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
) -> SmallFlushBench:
    return SmallFlushBench(FakeTorch(real_torch, clock=clock), 0, warmup, iterations, repeats)


def test_timed_iterations_follow_a_flush_and_events_are_read_after_a_sync(
    real_torch: types.ModuleType,
) -> None:
    bench = _bench(real_torch, warmup=2, iterations=3, repeats=2)
    trace = bench.torch.cuda.trace
    groups = bench.time_groups(lambda: trace.append("work"))
    assert [len(g) for g in groups] == [3, 3]
    timed = ["flush", "record", "work", "record"] * 3 + ["synchronize"]
    assert trace == ["work", "work", "synchronize", *timed, *timed]


@pytest.mark.parametrize(("l2", "flush"), [(50 * MIB, 256 * MIB), (200 * MIB, 400 * MIB)])
def test_flush_buffer_is_twice_the_l2_and_at_least_256_mib(
    real_torch: types.ModuleType, l2: int, flush: int
) -> None:
    bench = gpu_bench.Bench(FakeTorch(real_torch, l2_cache_size=l2), 0, 0, 1, 1)
    assert bench.flush_bytes == flush and bench.flush_buf.numel() == flush


def test_durations_are_seconds_and_throughput_is_work_per_second(real_torch: types.ModuleType) -> None:
    """20 ms of work must come back as 0.02 s: a millisecond read as a second would be 1000x off."""
    bench = _bench(real_torch, warmup=1, iterations=3, repeats=3)
    entry = bench.throughput(
        lambda: time.sleep(0.02), work=2e10, scale=1e12, unit="TFLOPS", how="sleep", shape=[1]
    )
    assert len(entry["durations_s"]) == len(entry["samples"]) == 3
    assert all(0.02 <= d < 0.5 for d in entry["durations_s"]), entry["durations_s"]
    median = statistics.median(entry["durations_s"])
    assert math.isclose(entry["value"], 2e10 / median / 1e12, rel_tol=1e-9)
    assert 0.04 < entry["value"] <= 1.0  # 2e10 FLOPs in >= 20 ms: at most 1 TFLOPS
    assert (entry["unit"], entry["how"], entry["shape"], entry["work"]) == ("TFLOPS", "sleep", [1], 2e10)


def noisy_entry(real_torch: types.ModuleType) -> dict[str, Any]:
    """A matmul-shaped entry timed through Bench whose three groups take 2, 5 and 12 ms an iteration.

    The durations are put on a manual clock, not slept: slept, a loaded machine stretched the 2 ms group
    towards the others and the floor no longer fell between the slowest repeat and the median."""
    clock = ManualClock()
    bench = _bench(real_torch, warmup=0, iterations=3, repeats=3, clock=clock)
    calls = iter(range(9))
    entry = bench.throughput(
        lambda: clock.advance((0.002, 0.005, 0.012)[next(calls) // 3]),
        work=2.0 * SMALL_N**3,
        scale=1e12,
        unit="TFLOPS",
        how=f"torch.matmul {SMALL_N}x{SMALL_N}x{SMALL_N} bf16; FLOPs = 2*n^3",
        shape=[SMALL_N] * 3,
    )
    assert entry["spread"] > 0.2, entry  # far above H200's max_spread of 0.10
    return entry


# ---------------------------------------------------------------------------------------------------
# The report of a full run.

# Every figure but flash-attn's, which a CPU stand-in cannot run.
MEASURED = tuple(m for m in gpu_bench.FIGURE_METRICS if m != "attention_flash_attn")
HOW = {
    "matmul_bf16": f"torch.matmul {SMALL_N}x{SMALL_N}x{SMALL_N} bf16; FLOPs = 2*n^3",
    "matmul_fp16": f"torch.matmul {SMALL_N}x{SMALL_N}x{SMALL_N} fp16; FLOPs = 2*n^3",
    "matmul_tf32": f"torch.matmul {SMALL_N}x{SMALL_N}x{SMALL_N} tf32; FLOPs = 2*n^3",
    "copy_d2d": "bytes counted = read + write (2 x size)",
    "copy_h2d_pinned": "pinned h2d copy of 1048576 bytes; bytes counted once",
    "copy_d2h_pinned": "pinned d2h copy of 1048576 bytes; bytes counted once",
    "attention_sdpa_flash": "flash backend only, bf16 forward, B=1 H=2 S=128 D=64, FLOPs = 4*B*H*S^2*D",
}


def expected_figure(name: str, entry: dict[str, Any]) -> tuple[str, float]:
    """Unit and figure recomputed from the shape or byte count and the median duration in seconds."""
    seconds = statistics.median(entry["durations_s"])
    if name.startswith("matmul_"):
        n = entry["shape"][0]
        return "TFLOPS", 2 * n**3 / seconds / 1e12
    if name == "copy_d2d":
        return "GB/s", 2 * entry["bytes"] / seconds / 1e9
    if name.startswith("copy_"):
        return "GB/s", entry["bytes"] / seconds / 1e9
    b, h, s, d = entry["shape"]
    return "TFLOPS", 4 * b * h * s * s * d / seconds / 1e12


def test_report_describes_the_device_torch_and_smi(emulated: Emulated) -> None:
    report = emulated.report
    assert (report["schema"], report["kind"], report["available"]) == (1, "gpu", True)
    assert report["device"] == {
        "index": 0,
        "name": "NVIDIA H200",
        "capability": [9, 0],
        "memory_bytes": 141 * GIB,
        "multiprocessors": 132,
        "l2_cache_bytes": 50 * MIB,
    }
    assert report["torch"]["cuda"] == "12.8" and report["torch"]["version"]
    assert report["smi_before"] == report["smi_after"] == SMI
    assert report["l2_flush_bytes"] == 256 * MIB
    flags = report["flags"]
    assert isinstance(flags["cudnn_enabled"], bool) and isinstance(flags["flash_sdp_enabled"], bool)
    assert flags["float32_matmul_precision"] == emulated.precision_before
    # TF32 was switched on for its own measurement only.
    assert emulated.precision_after == emulated.precision_before
    assert json.loads(json.dumps(report)) == report


def test_every_metric_is_measured_or_has_its_error(emulated: Emulated) -> None:
    report = emulated.report
    assert sorted(report["metrics"]) == sorted((*MEASURED, "nccl_allreduce", gpu_bench.PER_DEVICE_METRIC))
    assert list(report["errors"]) == ["attention_flash_attn"]
    assert report["errors"]["attention_flash_attn"].startswith("absent: "), report["errors"]
    assert emulated.pinned_requests == 2  # one pinned host buffer per host copy


@pytest.mark.parametrize("name", MEASURED)
def test_throughput_entry_shape_units_and_figures(emulated: Emulated, name: str) -> None:
    entry = emulated.report["metrics"][name]
    unit, figure = expected_figure(name, entry)
    assert entry["unit"] == unit
    assert math.isclose(entry["value"], figure, rel_tol=1e-9), (entry["value"], figure)
    assert HOW[name] in entry["how"], entry["how"]
    assert (entry["warmup"], entry["iterations"], entry["repeats"]) == (2, 5, 3)
    assert len(entry["samples"]) == len(entry["durations_s"]) == entry["repeats"]
    assert all(math.isfinite(v) and v > 0 for v in (entry["value"], *entry["samples"], *entry["durations_s"]))
    assert entry["value"] == statistics.median(entry["samples"])
    assert math.isfinite(entry["spread"]) and entry["spread"] >= 0
    # Each iteration is a wall-clock slice of this run: a millisecond read as a second would not fit.
    assert all(d < 5.0 for d in entry["durations_s"]), entry["durations_s"]


def test_nccl_smoke_entry(emulated: Emulated) -> None:
    entry = emulated.report["metrics"]["nccl_allreduce"]
    assert (entry["unit"], entry["ok"], entry["nccl_version"], entry["spread"]) == ("s", True, "2.21.5", 0.0)
    assert entry["durations_s"] == [entry["value"]] and 0 < entry["value"] < 60
    assert "all_reduce(SUM)" in entry["how"]


def test_main_prints_only_the_json_document_on_stdout(
    real_torch: types.ModuleType, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Library output written to fd 1 while measuring (an NCCL banner) goes to stderr."""
    fake = emulate(monkeypatch, real_torch)
    monkeypatch.setattr(fake.cuda, "set_device", lambda device: os.write(1, b"NCCL INFO banner\n"))
    assert gpu_bench.main(["--json", "--quick", "--metrics", "copy_d2d"]) == 0
    out, err = capfd.readouterr()
    assert "NCCL INFO banner" in err and len(out.splitlines()) == 1
    report = parse_report(out)
    assert list(report.metrics) == ["copy_d2d"] and report.metrics["copy_d2d"].unit == "GB/s"
    with pytest.raises(SystemExit):
        gpu_bench.main(["--metrics", "matmul_int8"])
    assert "unknown metrics: matmul_int8" in capfd.readouterr().err


# ---------------------------------------------------------------------------------------------------
# The report through the GPU performance tests' own code, against the shipped H200 baseline.


def _load_gpu_tests() -> types.ModuleType:
    path = REPO / "tests" / "performance" / "test_gpu_performance.py"
    spec = importlib.util.spec_from_file_location("devbox_gpu_performance_tests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GPU_TESTS = _load_gpu_tests()
BASELINES = bl.load_dir(bl.default_dir())
H200 = BASELINES.for_gpu("NVIDIA H200", (9, 0))


@dataclass
class _Result:
    exit_code: int
    stdout: str
    stderr: str


class ServingTarget:
    """A target whose ``run_python`` prints a fixed gpu_bench report, trimmed to the metrics asked for."""

    kind = "local"
    arch = "amd64"

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.calls: list[list[str]] = []

    def run_python(self, source: str, args: list[str], timeout: float) -> _Result:
        assert source == script_source("gpu_bench")
        self.calls.append(args)
        doc = dict(self.report)
        if "--metrics" in args:
            asked = args[args.index("--metrics") + 1].split(",")
            doc["metrics"] = {k: v for k, v in doc["metrics"].items() if k in asked}
            doc["errors"] = {k: v for k, v in doc["errors"].items() if k in asked}
        return _Result(0, "Welcome to the devbox\n" + json.dumps(doc) + "\n", "")


def at_speed(entry: dict[str, Any], factor: float) -> dict[str, Any]:
    """``entry`` as a device ``factor`` times faster would report it: same work, shorter durations."""
    return {
        **entry,
        "value": entry["value"] * factor,
        "samples": [s * factor for s in entry["samples"]],
        "durations_s": [d / factor for d in entry["durations_s"]],
    }


def floor_of(name: str) -> float:
    assert H200 is not None
    spec = H200.baseline.metrics[name]
    peak = bl.link_peak_gbps(SMI)[0] if spec.peak_from_link else spec.peak  # type: ignore[index]
    limit = spec.lower_limit(peak=peak)
    assert limit is not None
    return limit


@dataclass
class Judging:
    target: ServingTarget
    measurer: Measurer
    report: BenchReport
    records: list[tuple[str, Any]]

    def figure(self, metric: str) -> None:
        """``test_gpu_figure`` as pytest would call it (no pytest-benchmark fixture)."""
        match = self.report_match()
        GPU_TESTS.test_gpu_figure(
            metric, None, self.measurer, self.report, match, lambda k, v: self.records.append((k, v))
        )

    def report_match(self) -> bl.GpuMatch | None:
        # What the gpu_match fixture (tests/performance/conftest.py) does with the report.
        name = str(self.report.smi.get("name") or self.report.device.get("name") or "")
        cap = self.report.device.get("capability")
        capability = (int(cap[0]), int(cap[1])) if isinstance(cap, list) and len(cap) == 2 else None
        return BASELINES.for_gpu(name, capability)


def judging(report: dict[str, Any]) -> Judging:
    target = ServingTarget(report)
    measurer = Measurer(target, "gpu_bench", metrics=GPU_TESTS.GPU_METRICS)
    return Judging(target, measurer, measurer.report(), [])


def with_metrics(report: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    return {**report, "metrics": {**report["metrics"], **metrics}}


def test_the_emulated_report_is_accepted_as_printed(emulated: Emulated) -> None:
    j = judging(emulated.report)
    assert j.target.calls == [["--json", "--metrics", ",".join(GPU_TESTS.GPU_METRICS)]]
    assert sorted(j.report.metrics) == sorted(MEASURED)
    for name in MEASURED:
        m, entry = j.report.metrics[name], emulated.report["metrics"][name]
        assert (m.unit, m.value, m.spread, m.how) == (
            entry["unit"],
            entry["value"],
            entry["spread"],
            entry["how"],
        )
        assert m.durations_s == tuple(entry["durations_s"]) and len(m.samples) == 3
    match = j.report_match()
    assert match is not None and not match.borrowed and match.baseline.source.name == "h200.yaml"
    with pytest.raises(pytest.skip.Exception, match=r"attention_flash_attn: not measurable.*\(absent: "):
        j.figure("attention_flash_attn")


@pytest.mark.parametrize("name", MEASURED)
def test_figures_above_the_floor_pass(emulated: Emulated, name: str) -> None:
    entry = emulated.report["metrics"][name]
    floor = floor_of(name)
    # Every repeat figure 1.2x the floor: a pass whatever the CPU's own noise.
    fast = at_speed(entry, 1.2 * floor / min(entry["samples"]))
    j = judging(with_metrics(emulated.report, {name: fast}))
    j.figure(name)
    [(key, figures)] = j.records
    assert (key, figures["metric"], figures["outcome"]) == ("performance", name, "pass")
    assert math.isclose(figures["lower_limit"], floor) and figures["gpu"] == "NVIDIA H200"
    assert figures["samples"] == fast["samples"] and figures["how"] == entry["how"]


@pytest.mark.parametrize("name", MEASURED)
def test_figures_below_the_floor_fail_naming_metric_floor_and_peak(emulated: Emulated, name: str) -> None:
    entry = emulated.report["metrics"][name]
    floor = floor_of(name)
    slow = at_speed(entry, 0.8 * floor / max(entry["samples"]))
    j = judging(with_metrics(emulated.report, {name: slow}))
    with pytest.raises(pytest.fail.Exception) as failed:
        j.figure(name)
    message = failed.value.msg
    unit = entry["unit"]
    assert (
        message.startswith(f"{name}: measured ")
        and f" {unit} is below the floor {floor:,.1f} {unit}" in message
    )
    assert H200 is not None
    spec = H200.baseline.metrics[name]
    if spec.peak_from_link:
        assert "x peak 63.0 GB/s (PCIe gen 5 x16 from nvidia-smi)" in message, message
    else:
        assert f"x peak {spec.peak:,.1f} {unit} (datasheet)" in message, message
    assert "H200 SXM (h200.yaml)" in message and "clocks.sm=1980" in message and entry["how"] in message
    assert [f["outcome"] for _, f in j.records] == ["fail"]
    assert len(j.target.calls) == 1  # a clear failure is not re-measured


def test_a_noisy_figure_straddling_the_floor_is_inconclusive_after_reruns(
    emulated: Emulated, real_torch: types.ModuleType
) -> None:
    entry = noisy_entry(real_torch)
    slowest, middle = sorted(entry["samples"])[:2]
    floor = floor_of("matmul_bf16")
    # The floor between the slowest repeat and the median: a re-run could land on either side.
    noisy = at_speed(entry, floor / math.sqrt(slowest * middle))
    j = judging(with_metrics(emulated.report, {"matmul_bf16": noisy}))
    with pytest.raises(pytest.skip.Exception) as skipped:
        j.figure("matmul_bf16")
    assert skipped.value.msg.startswith("inconclusive: matmul_bf16 = "), skipped.value.msg
    assert "above the noise limit 10%" in skipped.value.msg
    assert j.target.calls[1:] == [["--json", "--metrics", "matmul_bf16"]] * 2
    [(_, figures)] = j.records
    assert figures["outcome"] == "inconclusive" and len(figures["attempt_spreads"]) == 3


def test_nccl_and_backend_flag_tests_read_the_report(emulated: Emulated) -> None:
    j = judging(emulated.report)
    GPU_TESTS.test_nccl_single_rank_allreduce(j.measurer, j.report, lambda k, v: j.records.append((k, v)))
    assert j.target.calls[-1] == ["--json", "--metrics", "nccl_allreduce"]
    [(key, nccl)] = j.records
    assert key == "nccl" and nccl["ok"] is True and nccl["nccl_version"] == "2.21.5"
    assert nccl["gpu"] == "NVIDIA H200" and nccl["driver"] == "570.86.15" and nccl["torch_cuda"] == "12.8"
    for flag in ("cudnn_enabled", "flash_sdp_enabled"):
        if emulated.report["flags"][flag] is True:
            GPU_TESTS.test_gpu_backend_flag(flag, j.report, lambda k, v: None)
        else:
            with pytest.raises(AssertionError, match=flag):
                GPU_TESTS.test_gpu_backend_flag(flag, j.report, lambda k, v: None)


# ---------------------------------------------------------------------------------------------------
# Every device in turn, for the slowest GPU against the node's median.


def test_every_device_is_measured_in_turn_and_a_failing_one_is_listed(
    real_torch: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = emulate(monkeypatch, real_torch)
    monkeypatch.setattr(fake.cuda, "device_count", lambda: 3)
    chosen: list[object] = []

    def set_device(device: object) -> None:
        chosen.append(device)
        if device == 2:
            raise RuntimeError("CUDA error: uncorrectable ECC error encountered")

    monkeypatch.setattr(fake.cuda, "set_device", set_device)
    report = gpu_bench.run((gpu_bench.PER_DEVICE_METRIC,), 0, quick=True)
    assert report["errors"] == {}, report["errors"]
    entry = report["metrics"][gpu_bench.PER_DEVICE_METRIC]
    devices = entry["devices"]
    assert [d["index"] for d in devices] == [0, 1, 2]
    assert all(d["value"] > 0 and d["name"] == "NVIDIA H200" for d in devices[:2]), devices
    assert devices[2]["error"].startswith("RuntimeError: CUDA error: uncorrectable ECC"), devices
    # The measured device is made current again after the pass (the main device of the run is 0).
    assert chosen[-1] == 0 and 0 < entry["value"] <= 100.0
    parsed = parse_report(json.dumps(report)).metrics[gpu_bench.PER_DEVICE_METRIC]
    verdict = node_spread.judge(parsed.details["devices"])
    # A device that could not be measured never makes the node look even.
    assert not verdict.ok and verdict.message.startswith("GPU 2 could not be measured (RuntimeError"), verdict


def test_the_per_device_pass_is_not_in_the_session_run() -> None:
    """It has its own test and time budget; the default run measures the figures judged by floors only."""
    assert gpu_bench.PER_DEVICE_METRIC in gpu_bench.ALL_METRICS
    assert gpu_bench.PER_DEVICE_METRIC not in gpu_bench.DEFAULT_METRICS
    assert GPU_TESTS.GPU_METRICS == gpu_bench.FIGURE_METRICS == gpu_bench.DEFAULT_METRICS
