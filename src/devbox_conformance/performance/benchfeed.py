"""Hand figures measured inside the target to pytest-benchmark, so its storage and comparison work.

pytest-benchmark times a callable with its own clock, on the machine running pytest. The figures
that matter were taken in the target (CUDA events, or perf_counter in the container), so the
fixture gets a *replay clock*: each round's start/end readings are spaced by one pre-measured
duration. ``--benchmark-save``, ``--benchmark-compare``, ``--benchmark-compare-fail`` and
``--benchmark-json`` then see exactly the in-target durations (seconds per iteration, one round per
repeat median). Example::

    feed(benchmark, measurement, extra_info={"TFLOPS": 712.4, "gpu": "NVIDIA H200"})

pytest-benchmark has no public hook to supply durations, so the fixture's timer attribute is
replaced for this one fixture instance (``_timer``, read when the round runner is built); if a future
release renames it, ``feed`` raises rather than silently timing a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .report import Measurement


class ReplayClock:
    """A clock whose i-th (start, end) reading pair is (0, durations[i]).

    Every round starts from zero so ``end - start`` is the duration exactly (a running sum would
    add float rounding); pytest-benchmark only ever subtracts the two readings of one round.

    >>> clock = ReplayClock([0.5, 0.25])
    >>> [clock() for _ in range(4)]
    [0.0, 0.5, 0.0, 0.25]
    """

    # pytest-benchmark records the timer's name in its JSON ("options": {"timer": ...}).
    __name__ = "in_target_replay"

    def __init__(self, durations: Sequence[float]) -> None:
        if not durations:
            raise ValueError("no durations to replay")
        self._durations = list(durations)
        self._readings = 0

    def __call__(self) -> float:
        index, is_end = divmod(self._readings, 2)
        if index >= len(self._durations):
            raise RuntimeError(f"replay clock read past its {len(self._durations)} rounds")
        self._readings += 1
        return self._durations[index] if is_end else 0.0

    @property
    def rounds(self) -> int:
        return len(self._durations)


def _noop() -> None:
    """The benchmarked callable: the work already happened in the target."""


def feed(benchmark: Any, measurement: Measurement, extra_info: Mapping[str, Any] | None = None) -> None:
    """Record ``measurement`` in ``benchmark`` (the pytest-benchmark fixture) as its rounds."""
    benchmark.extra_info.update(
        {
            "metric": measurement.name,
            "unit": measurement.unit,
            "value": measurement.value,
            "spread": measurement.spread,
            "samples": list(measurement.samples),
            "how": measurement.how,
            "measured_in": "target",
        }
    )
    if extra_info:
        benchmark.extra_info.update(dict(extra_info))
    if getattr(benchmark, "disabled", False):
        # --benchmark-disable: nothing is stored, but the fixture must still be used once, or
        # pytest-benchmark warns (an error under filterwarnings = error).
        benchmark.pedantic(_noop)
        return
    if not hasattr(benchmark, "_timer"):
        raise RuntimeError(
            "this pytest-benchmark has no fixture timer to replace; in-target figures cannot be fed"
        )
    clock = ReplayClock(measurement.durations_s)
    benchmark._timer = clock
    benchmark.pedantic(_noop, rounds=clock.rounds, iterations=1, warmup_rounds=0)
