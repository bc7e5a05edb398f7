"""In-target scripts and their JSON: parse, reject bad output, measure what runs on any CPU host."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance.intarget import ptyrun, stats
from devbox_conformance.performance import cpu_bench, gpu_bench
from devbox_conformance.performance.baselines import MetricBaseline, NoisePolicy
from devbox_conformance.performance.measure import Measurer, script_source
from devbox_conformance.performance.report import ReportError, parse_report
from devbox_conformance.performance.verdict import PerfContext, PerfOutcome

GPU_REPORT = {
    "schema": 1,
    "kind": "gpu",
    "available": True,
    "device": {"name": "NVIDIA H200", "capability": [9, 0], "memory_bytes": 150_000_000_000},
    "smi_before": {"name": "NVIDIA H200", "clocks.sm": "345"},
    "smi_after": {"name": "NVIDIA H200", "clocks.sm": "1980", "power.limit": "700.00"},
    "flags": {"cudnn_enabled": True, "flash_sdp_enabled": True},
    "metrics": {
        "matmul_bf16": {
            "unit": "TFLOPS",
            "value": 700.0,
            "spread": 0.01,
            "samples": [699.0, 700.0, 701.0],
            "durations_s": [0.00157, 0.00157, 0.00156],
            "how": "torch.matmul",
            "shape": [8192] * 3,
        }
    },
    "errors": {"attention_flash_attn": "absent: No module named 'flash_attn'"},
}


def test_gpu_report_parses_into_typed_fields() -> None:
    report = parse_report(json.dumps(GPU_REPORT))
    m = report.metrics["matmul_bf16"]
    assert (m.unit, m.value, m.samples, m.details["shape"]) == (
        "TFLOPS",
        700.0,
        (699.0, 700.0, 701.0),
        [8192] * 3,
    )
    assert report.smi["clocks.sm"] == "1980"  # after the load, not the idle clock
    assert report.flags["flash_sdp_enabled"] is True
    assert report.errors["attention_flash_attn"].startswith("absent:")


def test_chatter_before_the_document_is_ignored() -> None:
    text = "Welcome to GPU devbox!\n{not json\n" + json.dumps(GPU_REPORT) + "\n"
    assert parse_report(text).metrics["matmul_bf16"].value == 700.0


def test_pretty_printed_document_parses() -> None:
    assert parse_report(json.dumps(GPU_REPORT, indent=2)).device["name"] == "NVIDIA H200"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(schema=2), "unsupported report schema 2"),
        (
            lambda d: d["metrics"]["matmul_bf16"].pop("durations_s"),
            "metrics.matmul_bf16: missing durations_s",
        ),
        (
            lambda d: d["metrics"]["matmul_bf16"].update(value="fast"),
            "metrics.matmul_bf16.value: expected a finite",
        ),
        (
            lambda d: d["metrics"]["matmul_bf16"].update(durations_s=[]),
            "durations_s: expected a non-empty list",
        ),
    ],
)
def test_bad_reports_are_rejected_with_the_key(mutate: Any, expected: str) -> None:
    data = json.loads(json.dumps(GPU_REPORT))
    mutate(data)
    with pytest.raises(ReportError, match=expected):
        parse_report(json.dumps(data))


def test_no_json_at_all_reports_the_tail() -> None:
    with pytest.raises(ReportError, match="Traceback"):
        parse_report("Traceback (most recent call last):\n  boom\n")


def test_both_scripts_summarize_with_the_one_in_target_summary() -> None:
    """Median of group medians and relative IQR, written once (intarget/stats.py) for CPU and GPU figures."""
    assert cpu_bench.summarize is stats.summarize and gpu_bench.summarize is stats.summarize
    assert doctest.testmod(stats).failed == 0
    center, spread, medians = stats.summarize([[1.0, 1.2, 0.9], [1.1, 1.0], [], [3.0, 2.0, 2.5], [0.5]])
    assert medians == [1.0, 1.05, 2.5, 0.5] and center == 1.025  # an empty group is no group
    assert spread == pytest.approx((1.4125 - 0.875) / 1.025)  # inclusive quartiles of the group medians
    with pytest.raises(ValueError, match="no samples"):
        stats.summarize([[], []])


def test_gpu_script_without_torch_or_cuda_says_why() -> None:
    """Runs the real script as the target would (source through -c); this host has no GPU."""
    proc = subprocess.run(
        [sys.executable, "-c", script_source("gpu_bench"), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = parse_report(proc.stdout)
    assert report.available is False and report.reason
    assert "torch" in report.reason or "CUDA" in report.reason


def test_cpu_script_measures_gemm_and_shell_here() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script_source("cpu_bench"),
            "--quick",
            "--runs",
            "3",
            "--metrics",
            "gemm_numpy,shell_bash",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = parse_report(proc.stdout)
    gemm = report.metrics["gemm_numpy"]
    assert gemm.unit == "GFLOPS" and gemm.value > 0 and len(gemm.durations_s) == 3 and gemm.details["backend"]
    shell = report.metrics["shell_bash"]
    assert shell.unit == "s" and len(shell.samples) == 3 and shell.details["exit_codes"] == [0]


def test_missing_module_is_absent_not_an_error() -> None:
    with pytest.raises(ImportError):
        cpu_bench.measure_import("devbox_no_such_module", runs=1, timeout=60)


def test_shell_timing_uses_the_one_pty_runner() -> None:
    assert cpu_bench.time_under_pty is ptyrun.time_under_pty


def test_pty_timing_covers_the_whole_run_and_drains_output() -> None:
    """200 kB is far more than a pty buffers: the figure includes it only if the runner reads as it comes."""
    seconds, status, tail = ptyrun.time_under_pty(
        ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; sleep 0.2; echo done; echo oops >&2; exit 3"],
        timeout=30,
    )
    assert status == 3 and 0.2 <= seconds < 20
    # stderr is on the terminal, as in a user's shell; the tail is the end of what the terminal showed
    assert tail.replace("\r\n", "\n").endswith("xdone\noops\n") and len(tail) == 500


def test_pty_timing_gives_the_shell_a_controlling_terminal() -> None:
    _, status, tail = ptyrun.time_under_pty(["sh", "-c", "test -t 0 && test -t 2 && tty"], timeout=30)
    assert status == 0 and tail.strip().startswith("/dev/pts/")


def test_pty_timeout_kills_the_child() -> None:
    with pytest.raises(TimeoutError, match="sleep 5 did not exit within 0.3 s"):
        ptyrun.time_under_pty(["sleep", "5"], timeout=0.3)
    with pytest.raises(OSError, match="cannot start"):
        ptyrun.time_under_pty(["/nonexistent/devbox-shell"], timeout=5)


def test_the_probes_pty_runs_keep_stderr_apart() -> None:
    run = ptyrun.run_under_pty(["sh", "-c", "echo out; echo err >&2"], None, None, 30)
    assert run["exit_code"] == 0 and not run["timed_out"] and run["error"] is None
    assert run["stdout"].replace(b"\r\n", b"\n") == b"out\n" and run["stderr"] == b"err\n"


def test_scripts_run_in_an_interpreter_without_this_project(tmp_path: Path) -> None:
    """-I -S: no site-packages, no PYTHONPATH; the pty runner and the summary come with the source."""
    source = script_source("cpu_bench")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", source, "--runs", "1", "--metrics", "shell_bash"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    shell = parse_report(proc.stdout).metrics["shell_bash"]
    assert shell.details["exit_codes"] == [0] and shell.value > 0


@dataclass
class _Result:
    exit_code: int
    stdout: str
    stderr: str


class _FakeTarget:
    """Answers run_python with canned reports: the first noisy, re-runs clean."""

    kind = "local"
    arch = "amd64"

    def __init__(self, reports: list[dict[str, Any]]) -> None:
        self.reports = reports
        self.calls: list[list[str]] = []

    def run_python(self, source: str, args: list[str], timeout: float) -> _Result:
        assert "def main" in source
        self.calls.append(args)
        return _Result(0, json.dumps(self.reports.pop(0)), "")


def _cpu_report(value: float, spread: float, samples: list[float]) -> dict[str, Any]:
    return {
        "schema": 1,
        "kind": "cpu",
        "errors": {},
        "metrics": {
            "shell_bash": {
                "unit": "s",
                "value": value,
                "spread": spread,
                "samples": samples,
                "durations_s": samples,
                "how": "pty",
            }
        },
    }


def test_measurer_reruns_only_the_noisy_metric() -> None:
    target = _FakeTarget([_cpu_report(1.4, 0.9, [0.2, 1.4, 3.0]), _cpu_report(0.2, 0.05, [0.19, 0.2, 0.21])])
    measurer = Measurer(target, "cpu_bench")
    judged = measurer.judged(
        "shell_bash",
        MetricBaseline(name="shell_bash", unit="s", maximum=1.5),
        NoisePolicy(max_spread=0.25, reruns=2),
        PerfContext(subject="amd64"),
    )
    assert (
        judged is not None and judged.verdict.outcome is PerfOutcome.PASS and judged.measurement.value == 0.2
    )
    assert target.calls == [["--json"], ["--json", "--metrics", "shell_bash"]]
    assert measurer.report().metrics["shell_bash"].value == 0.2


def test_measurer_reports_a_broken_run_with_exit_code_and_stderr() -> None:
    class Broken(_FakeTarget):
        def run_python(self, source: str, args: list[str], timeout: float) -> _Result:
            return _Result(1, "", "SyntaxError: invalid syntax")

    with pytest.raises(ReportError, match="exited 1.*SyntaxError"):
        Measurer(Broken([]), "cpu_bench").report()
