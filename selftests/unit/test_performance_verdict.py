"""Floor, ceiling, tolerance, emulation and noise decisions on synthetic figures, and re-runs."""

from __future__ import annotations

from collections.abc import Iterator

from devbox_conformance.performance.baselines import MetricBaseline, NoisePolicy
from devbox_conformance.performance.measure import judge_with_reruns
from devbox_conformance.performance.report import Measurement
from devbox_conformance.performance.verdict import PerfContext, PerfOutcome, judge

BF16 = MetricBaseline(name="matmul_bf16", unit="TFLOPS", peak=989.0, floor=0.55)
SHELL = MetricBaseline(name="shell_bash", unit="s", maximum=1.5)
NOISE = NoisePolicy(max_spread=0.10, reruns=2)
H200 = PerfContext(
    subject="NVIDIA H200 judged by H200 SXM (h200.yaml)",
    device_state={"clocks.sm": "1980", "clocks.max.sm": "1980", "power.limit": "700.00"},
)


def fig(
    name: str, unit: str, value: float, spread: float = 0.01, samples: tuple[float, ...] | None = None
) -> Measurement:
    samples = samples if samples is not None else (value,)
    return Measurement(
        name=name,
        unit=unit,
        value=value,
        spread=spread,
        samples=samples,
        durations_s=tuple(1.0 / s for s in samples),
        how="synthetic",
    )


def test_above_floor_passes() -> None:
    verdict = judge(fig("matmul_bf16", "TFLOPS", 700.0), BF16, NOISE, H200)
    assert verdict.outcome is PerfOutcome.PASS
    assert verdict.lower == 0.55 * 989


def test_below_floor_fails_naming_metric_measured_floor_peak_model_and_clocks() -> None:
    verdict = judge(fig("matmul_bf16", "TFLOPS", 400.0), BF16, NOISE, H200)
    assert verdict.outcome is PerfOutcome.FAIL
    for needle in (
        "matmul_bf16",
        "400.0 TFLOPS",
        "floor 544.0 TFLOPS",
        "peak 989.0 TFLOPS",
        "NVIDIA H200",
        "clocks.sm=1980",
        "power.limit=700.00",
        "below",
    ):
        assert needle in verdict.message, (needle, verdict.message)


def test_link_peak_overrides_the_datasheet() -> None:
    h2d = MetricBaseline(name="copy_h2d_pinned", unit="GB/s", peak=63.0, floor=0.5, peak_from_link=True)
    gen4 = PerfContext(subject="x", peak=31.5, peak_source="PCIe gen 4 x16 from nvidia-smi")
    verdict = judge(fig("copy_h2d_pinned", "GB/s", 20.0), h2d, NOISE, gen4)
    assert verdict.outcome is PerfOutcome.PASS and verdict.lower == 15.75
    failing = judge(fig("copy_h2d_pinned", "GB/s", 10.0), h2d, NOISE, gen4)
    assert failing.outcome is PerfOutcome.FAIL and "PCIe gen 4 x16 from nvidia-smi" in failing.message


def test_borrowed_floor_is_scaled_and_says_so() -> None:
    ctx = PerfContext(subject="borrowed from hopper", floor_scale=0.5)
    verdict = judge(fig("matmul_bf16", "TFLOPS", 300.0), BF16, NOISE, ctx)
    assert verdict.outcome is PerfOutcome.PASS and verdict.lower == 0.55 * 989 * 0.5
    failing = judge(fig("matmul_bf16", "TFLOPS", 200.0), BF16, NOISE, ctx)
    assert failing.outcome is PerfOutcome.FAIL and "x 0.5 x peak" in failing.message


def test_reference_and_tolerance_catch_a_regression_above_the_floor() -> None:
    spec = MetricBaseline(
        name="matmul_bf16", unit="TFLOPS", peak=989.0, floor=0.55, reference=750.0, tolerance=0.1
    )
    assert judge(fig("matmul_bf16", "TFLOPS", 700.0), spec, NOISE, H200).outcome is PerfOutcome.PASS
    assert judge(fig("matmul_bf16", "TFLOPS", 660.0), spec, NOISE, H200).outcome is PerfOutcome.FAIL
    slow = MetricBaseline(name="shell_bash", unit="s", maximum=1.5, reference=0.2, tolerance=0.5)
    assert judge(fig("shell_bash", "s", 0.29), slow, NOISE, H200).outcome is PerfOutcome.PASS
    assert judge(fig("shell_bash", "s", 0.31), slow, NOISE, H200).outcome is PerfOutcome.FAIL


def test_shell_ceiling_fails_a_two_second_sleep_in_profile_d() -> None:
    cpu = PerfContext(subject="amd64 (cpu-amd64.yaml)")
    assert judge(fig("shell_bash", "s", 0.12), SHELL, NOISE, cpu).outcome is PerfOutcome.PASS
    slowed = judge(fig("shell_bash", "s", 2.12), SHELL, NOISE, cpu)
    assert slowed.outcome is PerfOutcome.FAIL
    assert "2.120 s is above the ceiling 1.500 s" in slowed.message


def test_emulation_scales_ceilings_and_leaves_throughput_unjudged() -> None:
    emulated = PerfContext(subject="arm64", emulated=True, emulation_factor=10.0)
    assert judge(fig("shell_bash", "s", 3.0), SHELL, NOISE, emulated).outcome is PerfOutcome.PASS
    over = judge(fig("shell_bash", "s", 16.0), SHELL, NOISE, emulated)
    assert over.outcome is PerfOutcome.FAIL and "emulation factor 10" in over.message
    gemm = MetricBaseline(name="gemm_numpy", unit="GFLOPS", minimum=10.0)
    verdict = judge(fig("gemm_numpy", "GFLOPS", 1.0), gemm, NOISE, emulated)
    assert verdict.outcome is PerfOutcome.UNJUDGED and "emulation" in verdict.message


def test_no_baseline_is_unjudged_with_the_figure() -> None:
    verdict = judge(fig("matmul_bf16", "TFLOPS", 700.0), None, NOISE, PerfContext(subject="NVIDIA B200"))
    assert verdict.outcome is PerfOutcome.UNJUDGED and "700.0 TFLOPS" in verdict.message


def test_unit_mismatch_fails() -> None:
    assert judge(fig("matmul_bf16", "GB/s", 700.0), BF16, NOISE, H200).outcome is PerfOutcome.FAIL


def test_noisy_figure_straddling_the_floor_is_inconclusive_with_its_figures() -> None:
    noisy = fig("matmul_bf16", "TFLOPS", 520.0, spread=0.4, samples=(300.0, 520.0, 700.0))
    verdict = judge(noisy, BF16, NOISE, H200)
    assert verdict.outcome is PerfOutcome.INCONCLUSIVE
    assert "inconclusive" in verdict.message and "300.0 TFLOPS, 520.0 TFLOPS, 700.0 TFLOPS" in verdict.message


def test_noisy_figure_clear_of_every_limit_passes() -> None:
    noisy = fig("matmul_bf16", "TFLOPS", 800.0, spread=0.3, samples=(600.0, 800.0, 900.0))
    assert judge(noisy, BF16, NOISE, H200).outcome is PerfOutcome.PASS


def test_noisy_figure_with_every_sample_over_the_ceiling_still_fails() -> None:
    shells = fig("shell_zsh", "s", 6.8, spread=0.3, samples=(5.4, 5.9, 6.0, 6.8, 7.0, 8.9, 10.7))
    zsh = MetricBaseline(name="shell_zsh", unit="s", maximum=1.5)
    verdict = judge(shells, zsh, NOISE, PerfContext(subject="amd64"))
    assert verdict.outcome is PerfOutcome.FAIL and "6.800 s is above the ceiling 1.500 s" in verdict.message


def test_noisy_passing_median_with_a_breaching_sample_is_inconclusive() -> None:
    noisy = fig("shell_bash", "s", 0.9, spread=0.5, samples=(0.5, 0.9, 2.5))
    assert judge(noisy, SHELL, NOISE, PerfContext(subject="amd64")).outcome is PerfOutcome.INCONCLUSIVE


def test_quiet_figure_below_the_floor_fails_even_with_samples_around() -> None:
    quiet = fig("matmul_bf16", "TFLOPS", 500.0, spread=0.02, samples=(495.0, 500.0, 505.0))
    assert judge(quiet, BF16, NOISE, H200).outcome is PerfOutcome.FAIL


def _sequence(figures: list[Measurement]) -> Iterator[Measurement]:
    yield from figures


def test_reruns_replace_a_noisy_figure_with_a_clean_one() -> None:
    noisy = fig("matmul_bf16", "TFLOPS", 520.0, spread=0.4, samples=(300.0, 520.0, 700.0))
    clean = fig("matmul_bf16", "TFLOPS", 710.0, spread=0.01, samples=(705.0, 710.0, 712.0))
    calls = _sequence([clean])
    judged = judge_with_reruns(noisy, lambda: next(calls), BF16, NOISE, H200)
    assert judged.verdict.outcome is PerfOutcome.PASS and judged.measurement is clean
    assert judged.attempts == (0.4, 0.01)


def test_noise_after_every_rerun_stays_inconclusive_and_keeps_the_quietest() -> None:
    first = fig("matmul_bf16", "TFLOPS", 520.0, spread=0.4, samples=(300.0, 520.0, 700.0))
    second = fig("matmul_bf16", "TFLOPS", 530.0, spread=0.2, samples=(500.0, 530.0, 600.0))
    third = fig("matmul_bf16", "TFLOPS", 540.0, spread=0.3, samples=(400.0, 540.0, 650.0))
    calls = _sequence([second, third])
    judged = judge_with_reruns(first, lambda: next(calls), BF16, NOISE, H200)
    assert judged.verdict.outcome is PerfOutcome.INCONCLUSIVE
    assert judged.measurement is second and judged.attempts == (0.4, 0.2, 0.3)


def test_a_conclusive_first_figure_is_not_remeasured() -> None:
    def remeasure() -> Measurement:
        raise AssertionError("re-measured a conclusive figure")

    judged = judge_with_reruns(fig("matmul_bf16", "TFLOPS", 400.0), remeasure, BF16, NOISE, H200)
    assert judged.verdict.outcome is PerfOutcome.FAIL and judged.attempts == (0.01,)
