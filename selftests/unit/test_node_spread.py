"""The slowest GPU of a node against the node's median: the inputs that would pass wrongly fail."""

from __future__ import annotations

import math

import pytest

from devbox_conformance.performance import node_spread


def _node(*values: float, name: str = "NVIDIA H200") -> list[dict]:
    return [{"index": i, "name": name, "value": v} for i, v in enumerate(values)]


def test_eight_equal_gpus_pass() -> None:
    verdict = node_spread.judge(_node(*[700.0] * 8))
    assert verdict.ok and verdict.percent == pytest.approx(100.0)


def test_an_outlier_at_94_9_percent_fails_naming_the_device_and_the_median() -> None:
    verdict = node_spread.judge(_node(*[1000.0] * 7, 949.0))
    assert not verdict.ok
    assert verdict.message == (
        "GPU 7 (NVIDIA H200) 949.0 TFLOPS is 94.9 % of the node's median 1,000.0 TFLOPS "
        "over 8 GPUs (floor 95 %)"
    )


def test_an_outlier_at_95_1_percent_passes() -> None:
    verdict = node_spread.judge(_node(*[1000.0] * 7, 951.0))
    assert verdict.ok and verdict.percent == pytest.approx(95.1)


def test_the_median_not_the_mean_is_the_reference() -> None:
    # Two fast parts would lift a mean; the median of [900, 900, 900, 2000, 2000] is 900: all within 5 %.
    assert node_spread.judge(_node(900.0, 900.0, 900.0, 2000.0, 2000.0)).ok


def test_one_gpu_has_nothing_to_compare() -> None:
    verdict = node_spread.judge(_node(700.0))
    assert verdict.ok and "the node's only GPU: nothing to compare" in verdict.message


@pytest.mark.parametrize(
    "broken",
    [
        {"index": 3, "error": "RuntimeError: CUDA error: an illegal memory access was encountered"},
        {"index": 3, "value": math.nan},
        {"index": 3, "value": 0.0},
        {"index": 3, "value": True},
        {"index": 3},
    ],
)
def test_a_device_without_a_figure_fails_never_leaves_the_rest_looking_even(broken: dict) -> None:
    verdict = node_spread.judge([*_node(700.0, 700.0, 700.0), broken])
    assert not verdict.ok and verdict.message.startswith("GPU 3 could not be measured"), verdict
    assert "1 of 4 GPU(s) without a figure" in verdict.message


def test_no_device_measured_fails() -> None:
    verdict = node_spread.judge([])
    assert not verdict.ok and verdict.percent is None
