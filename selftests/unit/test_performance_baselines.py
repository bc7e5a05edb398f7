"""Baseline YAML: the shipped files load, lookups find the file or family, bad files fail in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from devbox_conformance.performance import baselines as bl
from devbox_conformance.performance import gpu_bench

GPU_METRICS = set(gpu_bench.FIGURE_METRICS)


@pytest.fixture(scope="module")
def shipped() -> bl.BaselineSet:
    return bl.load_dir(bl.default_dir())


def test_shipped_files_cover_the_models_and_arches(shipped: bl.BaselineSet) -> None:
    assert {b.name for b in shipped.gpus} == {
        "H100 SXM",
        "H200 SXM",
        "A100",
        "GH200",
        "L40S",
        "GeForce RTX 4090",
    }
    assert {b.arch for b in shipped.cpus} == {"amd64", "arm64"}
    for gpu in shipped.gpus:
        assert set(gpu.metrics) == GPU_METRICS, gpu.source
        for spec in gpu.metrics.values():
            assert spec.peak and spec.floor and 0 < spec.floor < 1, (gpu.source, spec.name)


def test_every_gpu_file_cites_its_peak_source() -> None:
    for path in bl.default_dir().glob("*.yaml"):
        text = path.read_text()
        if "kind: gpu" in text:
            assert "datasheet" in text.lower() or "whitepaper" in text.lower(), path


@pytest.mark.parametrize(
    ("name", "capability", "expected"),
    [
        ("NVIDIA H200", (9, 0), "H200 SXM"),
        ("NVIDIA H100 80GB HBM3", (9, 0), "H100 SXM"),
        ("NVIDIA GH200 480GB", (9, 0), "GH200"),
        ("NVIDIA GH200 144G HBM3e", (9, 0), "GH200"),
        ("NVIDIA A100-SXM4-80GB", (8, 0), "A100"),
        ("NVIDIA A100 80GB PCIe", (8, 0), "A100"),
        ("NVIDIA L40S", (8, 9), "L40S"),
        ("NVIDIA GeForce RTX 4090", (8, 9), "GeForce RTX 4090"),
    ],
)
def test_named_gpus_get_their_own_file(
    shipped: bl.BaselineSet, name: str, capability: tuple[int, int], expected: str
) -> None:
    match = shipped.for_gpu(name, capability)
    assert match is not None and match.baseline.name == expected and not match.borrowed


def test_h200_figures(shipped: bl.BaselineSet) -> None:
    match = shipped.for_gpu("NVIDIA H200", (9, 0))
    assert match is not None
    bf16 = match.baseline.metrics["matmul_bf16"]
    # the reference (770) less its 10 % tolerance is above the datasheet floor (0.55 x 989): it wins
    assert bf16.peak == 989 and bf16.reference == 770
    assert bf16.lower_limit() == pytest.approx(max(0.55 * 989, 770 * 0.9))
    d2d = match.baseline.metrics["copy_d2d"]
    assert d2d.peak == 4800 and d2d.lower_limit() == pytest.approx(max(0.60 * 4800, 4300 * 0.9))


@pytest.mark.parametrize(
    ("name", "capability", "family"),
    [
        ("NVIDIA H100 PCIe", (9, 0), "hopper"),
        ("NVIDIA H200 NVL", (9, 0), "hopper"),
        ("NVIDIA RTX 6000 Ada Generation", (8, 9), "ada"),
    ],
)
def test_unknown_gpu_borrows_the_lowest_family_floor_derated(
    shipped: bl.BaselineSet, name: str, capability: tuple[int, int], family: str
) -> None:
    match = shipped.for_gpu(name, capability)
    assert match is not None and match.borrowed and match.baseline.family == family
    assert family in match.how and "borrowed" in match.how
    members = [b for b in shipped.gpus if b.family == family]
    lowest = min(b.metrics["matmul_bf16"].lower_limit() or 0 for b in members)
    borrowed = match.baseline.metrics["matmul_bf16"].lower_limit(scale=match.floor_scale)
    assert borrowed == pytest.approx(lowest * bl.BORROWED_FLOOR_SCALE)


def test_gpu_of_unknown_family_has_no_baseline(shipped: bl.BaselineSet) -> None:
    assert shipped.for_gpu("NVIDIA B200", (10, 0)) is None
    assert shipped.for_gpu("Some GPU", None) is None


def test_link_peak_from_nvidia_smi() -> None:
    assert bl.link_peak_gbps({"pcie.link.gen.max": "4", "pcie.link.width.max": "16"}) == (
        31.504,
        "PCIe gen 4 x16",
    )
    # max unreadable -> current
    assert bl.link_peak_gbps(
        {"pcie.link.gen.max": "[N/A]", "pcie.link.gen.current": "5", "pcie.link.width.current": "8"}
    ) == (31.504, "PCIe gen 5 x8")
    assert bl.link_peak_gbps({}) is None


def _write(tmp_path: Path, name: str, text: str) -> Path:
    shutil.copy(bl.default_dir() / bl.SCHEMA_FILE, tmp_path / bl.SCHEMA_FILE)
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD_GPU = """\
kind: gpu
name: Test GPU
family: hopper
match: ['TEST']
metrics:
  matmul_bf16: {unit: TFLOPS, peak: 100, floor: 0.5}
"""


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    baseline = bl.load_file(_write(tmp_path, "t.yaml", GOOD_GPU))
    spec = baseline.metrics["matmul_bf16"]
    assert spec.tolerance == 0.10 and spec.reference is None and spec.lower_limit() == 50
    assert baseline.noise == bl.NoisePolicy()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_GPU.replace("peak: 100, ", ""), ":6: metrics.matmul_bf16.floor: a floor is a fraction of peak"),
        (
            GOOD_GPU.replace("unit: TFLOPS", "unit: PFLOPS"),
            ":6: metrics.matmul_bf16.unit: 'PFLOPS' is not one of",
        ),
        (GOOD_GPU.replace("floor: 0.5", "floor: 5"), ":6: metrics.matmul_bf16.floor: 5 is greater than"),
        (GOOD_GPU.replace("match: ['TEST']\n", ""), ":1: (top level): 'match' is a required property"),
        (
            GOOD_GPU + "  copy_d2d: {unit: GB/s, max: 3}\n",
            ":7: metrics.copy_d2d.max: GB/s is higher-is-better",
        ),
        (GOOD_GPU + "  shell_bash: {unit: s, min: 3}\n", ":7: metrics.shell_bash: s is time-like"),
        (GOOD_GPU + "bogus: 1\n", "(top level): Additional properties are not allowed ('bogus'"),
        (GOOD_GPU.replace("metrics:", "metrics: [").rstrip() + "\n", "(yaml)"),
    ],
)
def test_bad_file_fails_with_one_line_naming_file_key_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(bl.BaselineError) as info:
        bl.load_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_two_files_for_one_arch_is_an_error(tmp_path: Path) -> None:
    cpu = "kind: cpu\nname: x\narch: amd64\nmetrics:\n  shell_bash: {unit: s, max: 1}\n"
    _write(tmp_path, "a.yaml", cpu)
    _write(tmp_path, "b.yaml", cpu)
    with pytest.raises(bl.BaselineError, match="amd64 already has a baseline file"):
        bl.load_dir(tmp_path)


def test_a_directory_without_a_schema_uses_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(GOOD_GPU)
    assert bl.load_file(path).kind == "gpu"


def test_unreadable_schema_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(GOOD_GPU)
    (tmp_path / bl.SCHEMA_FILE).write_text("{not json")
    with pytest.raises(bl.BaselineError, match="baseline.schema.json:1: \\(schema\\)"):
        bl.load_file(path)
