"""Image-level figures: container start-to-ready time, image size, layer count.

Start-to-ready needs an image the suite may start (``--image``); size and layers need the image's
config (``--image`` or ``--container``). The local host target has neither: those tests skip.
"""

from __future__ import annotations

from typing import Any

import pytest

from devbox_conformance.engine import choose
from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance.conclude import conclude
from devbox_conformance.performance.container_start import measure_start_to_ready
from devbox_conformance.performance.measure import Judged, is_emulated, judge_with_reruns
from devbox_conformance.performance.report import Measurement
from devbox_conformance.performance.verdict import PerfContext, judge

pytestmark = [pytest.mark.performance, pytest.mark.xdist_group("performance")]


def _ctx(baseline: bl.Baseline, target: Any) -> PerfContext:
    return PerfContext(
        subject=f"{baseline.name} ({baseline.source.name})",
        emulated=is_emulated(target),
        emulation_factor=baseline.emulation_factor,
    )


@pytest.mark.benchmark(group="performance-image")
def test_container_start_to_ready(
    benchmark: Any, devbox_target: Any, cpu_baseline: bl.Baseline, results_record: Any
) -> None:
    if devbox_target.kind != "image" or not devbox_target.image_ref:
        pytest.skip(
            f"start-to-ready needs an image the suite starts (--image); target is {devbox_target.kind}"
        )
    ref, arch = devbox_target.image_ref, devbox_target.arch
    engine = choose(devbox_target.engine or "auto")
    first = measure_start_to_ready(ref, arch=arch, engine=engine)
    judged = judge_with_reruns(
        first,
        lambda: measure_start_to_ready(ref, arch=arch, engine=engine),
        cpu_baseline.metrics.get("container_ready"),
        cpu_baseline.noise,
        _ctx(cpu_baseline, devbox_target),
    )
    conclude(
        judged,
        benchmark=benchmark,
        record=results_record,
        extra={"image": ref, "arch": arch, "emulated": is_emulated(devbox_target)},
    )


def _image_attrs(target: Any) -> dict[str, Any]:
    attrs = getattr(target, "image_attrs", None)
    if not attrs:
        pytest.skip(f"image size and layers need the image's config; target is {target.kind}")
    return attrs


@pytest.mark.parametrize("metric", ["image_size", "image_layers"])
def test_image_footprint(
    metric: str, devbox_target: Any, cpu_baseline: bl.Baseline, results_record: Any
) -> None:
    attrs = _image_attrs(devbox_target)
    layers = len((attrs.get("RootFS") or {}).get("Layers") or [])
    size_gb = float(attrs.get("Size") or 0) / 1e9
    value, unit, how = (
        (size_gb, "GB", "docker SDK image attrs Size (uncompressed, bytes / 1e9)")
        if metric == "image_size"
        else (float(layers), "layers", "docker SDK image attrs RootFS.Layers")
    )
    m = Measurement(
        name=metric, unit=unit, value=value, spread=0.0, samples=(value,), durations_s=(value,), how=how
    )
    spec = cpu_baseline.metrics.get(metric)
    # Size and layer count do not change with emulation: judged as on a native target.
    ctx = PerfContext(subject=f"{cpu_baseline.name} ({cpu_baseline.source.name})")
    judged = Judged(m, judge(m, spec, cpu_baseline.noise, ctx), (0.0,))
    conclude(
        judged,
        benchmark=None,
        record=results_record,
        extra={"image": devbox_target.image_ref, "size_bytes": attrs.get("Size"), "layers": layers},
    )
