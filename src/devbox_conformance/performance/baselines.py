"""Performance baselines: YAML files in ``expectations/baselines/`` loaded into frozen models.

One file per GPU model (``kind: gpu``) or CPU architecture (``kind: cpu``). A GPU file names the
datasheet peak of each metric (with its source in a comment), the floor as a fraction of that peak,
and a regression tolerance against an optional measured ``reference``. A CPU file holds absolute
floors (``min``) and ceilings (``max``), because CPU peaks vary with the host and the target does
not choose its host.

Example::

    baselines = load_dir(default_dir())
    match = baselines.for_gpu("NVIDIA H200", capability=(9, 0))
    match.baseline.metrics["matmul_bf16"].lower_limit()   # 0.55 * 989 TFLOPS

A bad file fails with one line naming the file, the key and the line (``BaselineError``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

SCHEMA_FILE = "baseline.schema.json"
# Units where a larger figure is better; every other unit is time-like (smaller is better).
HIGHER_IS_BETTER = frozenset({"TFLOPS", "GFLOPS", "GB/s"})
# Data rate per PCIe lane in GB/s after line encoding (8b/10b for gen 1-2, 128b/130b from gen 3);
# PCI-SIG base specifications: 2.5, 5, 8, 16, 32 GT/s per lane.
PCIE_LANE_GBPS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.563}
# A floor borrowed from a relative of an unknown GPU is derated: the relative may be the full part
# and the unknown one a cut-down or lower-power variant (H100 PCIe vs H100 SXM: 756 vs 989 TFLOPS).
BORROWED_FLOOR_SCALE = 0.5
# Compute capability -> family, for GPUs no file names.
CAPABILITY_FAMILY = {(8, 0): "ampere", (8, 9): "ada", (9, 0): "hopper"}


class BaselineError(ValueError):
    """A baseline file is invalid; the message is one line: ``file:line: key: problem``."""


@dataclass(frozen=True)
class MetricBaseline:
    """Limits for one metric of one GPU model or CPU architecture."""

    name: str
    unit: str
    # Datasheet peak in ``unit`` (None where there is none, e.g. time-like CPU metrics).
    peak: float | None = None
    # Floor as a fraction of ``peak``.
    floor: float | None = None
    # Absolute floor and ceiling in ``unit``.
    minimum: float | None = None
    maximum: float | None = None
    # True: the peak is the host link's (PCIe gen x width from nvidia-smi), ``peak`` is the fallback.
    peak_from_link: bool = False
    # Allowed relative regression against ``reference`` (a measured figure), when one is set.
    tolerance: float = 0.10
    reference: float | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.unit in HIGHER_IS_BETTER

    def lower_limit(self, peak: float | None = None, scale: float = 1.0) -> float | None:
        """Smallest passing figure: the larger of floor x peak (times ``scale``) and ``minimum``."""
        limits = []
        peak = self.peak if peak is None else peak
        if self.floor is not None and peak is not None:
            limits.append(self.floor * peak * scale)
        if self.minimum is not None:
            limits.append(self.minimum * scale)
        if self.reference is not None and self.higher_is_better:
            limits.append(self.reference * (1.0 - self.tolerance))
        return max(limits) if limits else None

    def upper_limit(self, scale: float = 1.0) -> float | None:
        """Largest passing figure for time-like metrics (``maximum`` times ``scale``)."""
        limits = []
        if self.maximum is not None:
            limits.append(self.maximum * scale)
        if self.reference is not None and not self.higher_is_better:
            limits.append(self.reference * (1.0 + self.tolerance))
        return min(limits) if limits else None


@dataclass(frozen=True)
class NoisePolicy:
    """When a figure is too noisy to judge: relative IQR spread above ``max_spread``."""

    max_spread: float = 0.10
    # Re-measurements of a noisy metric before it is reported as inconclusive.
    reruns: int = 2


@dataclass(frozen=True)
class Baseline:
    """One file: a GPU model or a CPU architecture."""

    kind: str
    name: str
    source: Path
    metrics: Mapping[str, MetricBaseline]
    noise: NoisePolicy = field(default_factory=NoisePolicy)
    # GPU files: family and name patterns (case-insensitive regular expressions).
    family: str | None = None
    match: tuple[str, ...] = ()
    capability: tuple[int, int] | None = None
    # CPU files: the architecture, and how much slower time-like figures may be under QEMU.
    arch: str | None = None
    emulation_factor: float = 1.0

    def matches(self, gpu_name: str) -> bool:
        return any(re.search(p, gpu_name, re.IGNORECASE) for p in self.match)


@dataclass(frozen=True)
class GpuMatch:
    """Which baseline judges a GPU, and how it was chosen."""

    baseline: Baseline
    # 1.0 for a named GPU; BORROWED_FLOOR_SCALE when borrowed from the family.
    floor_scale: float
    # Human-readable: "H200 (expectations/baselines/h200.yaml)" or "borrowed from ... (family ...)".
    how: str

    @property
    def borrowed(self) -> bool:
        return self.floor_scale != 1.0


@dataclass(frozen=True)
class BaselineSet:
    """Every baseline file of a directory."""

    gpus: tuple[Baseline, ...]
    cpus: tuple[Baseline, ...]

    def for_gpu(self, name: str, capability: tuple[int, int] | None = None) -> GpuMatch | None:
        """The baseline named by ``name``; else the nearest family's (by compute capability).

        For a borrowed baseline each metric takes the member of the family with the lowest
        floor, derated by BORROWED_FLOOR_SCALE. None when neither name nor family is known.
        """
        for baseline in self.gpus:
            if baseline.matches(name):
                return GpuMatch(baseline, 1.0, f"{baseline.name} ({baseline.source.name})")
        family = CAPABILITY_FAMILY.get(capability) if capability else None
        members = [b for b in self.gpus if family and b.family == family]
        if not members:
            return None
        metrics: dict[str, MetricBaseline] = {}
        for member in members:
            for key, spec in member.metrics.items():
                current = metrics.get(key)
                if current is None or (spec.lower_limit() or 0.0) < (current.lower_limit() or 0.0):
                    metrics[key] = spec
        # References are figures of a specific GPU; a relative's would be meaningless.
        metrics = {k: replace(v, reference=None) for k, v in metrics.items()}
        names = ", ".join(sorted(m.name for m in members))
        borrowed = Baseline(
            kind="gpu",
            name=f"{family} family ({names})",
            source=members[0].source.parent,
            metrics=MappingProxyType(metrics),
            noise=members[0].noise,
            family=family,
        )
        how = (
            f"'{name}' has no baseline file; floors borrowed from the {family} family ({names}), "
            f"lowest of the family, scaled by {BORROWED_FLOOR_SCALE}"
        )
        return GpuMatch(borrowed, BORROWED_FLOOR_SCALE, how)

    def for_arch(self, arch: str) -> Baseline | None:
        for baseline in self.cpus:
            if baseline.arch == arch:
                return baseline
        return None


def default_dir() -> Path:
    """The shipped baselines: ``expectations/baselines`` of the checkout, carried in the wheel."""
    return Path(__file__).resolve().parents[1] / "default_expectations" / "baselines"


def link_peak_gbps(smi: Mapping[str, str]) -> tuple[float, str] | None:
    """Peak one-direction host-link rate from nvidia-smi's PCIe gen and width (max, else current).

    >>> link_peak_gbps({"pcie.link.gen.max": "5", "pcie.link.width.max": "16"})
    (63.008, 'PCIe gen 5 x16')
    """
    for suffix in ("max", "current"):
        gen, width = smi.get(f"pcie.link.gen.{suffix}"), smi.get(f"pcie.link.width.{suffix}")
        try:
            g, w = int(str(gen)), int(str(width))
        except ValueError:
            continue
        if g in PCIE_LANE_GBPS and w > 0:
            return round(PCIE_LANE_GBPS[g] * w, 3), f"PCIe gen {g} x{w}"
    return None


def _line_of(node: yaml.Node | None, path: list[Any]) -> int | None:
    """1-based line of the YAML node at ``path`` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(key)), None)
            if found is None:
                found = next((k for k, _ in node.value if k.value == str(key)), None)
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _schema(directory: Path) -> dict[str, Any]:
    """The JSON Schema beside the baseline files (one copy: editors and this loader read the same)."""
    schema_path = directory / SCHEMA_FILE
    if not schema_path.is_file():  # a team's own baselines/ need not carry a copy: the shipped one applies
        schema_path = default_dir() / SCHEMA_FILE
    try:
        return json.loads(schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{schema_path}:1: (schema): cannot read: {exc}") from None


def _fail(path: Path, node: yaml.Node | None, where: list[Any], problem: str) -> BaselineError:
    key = ".".join(str(p) for p in where) or "(top level)"
    line = _line_of(node, where)
    return BaselineError(f"{path}:{line or '?'}: {key}: {problem}")


def load_file(path: Path) -> Baseline:
    """Parse and validate one baseline file."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else "?"
        raise BaselineError(f"{path}:{line}: (yaml): {getattr(exc, 'problem', exc)}") from None
    validator = jsonschema.Draft202012Validator(_schema(path.parent))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise _fail(path, node, list(err.absolute_path), err.message)

    metrics: dict[str, MetricBaseline] = {}
    for key, spec in data["metrics"].items():
        if spec.get("floor") is not None and spec.get("peak") is None:
            raise _fail(path, node, ["metrics", key, "floor"], "a floor is a fraction of peak: set peak")
        if spec["unit"] in HIGHER_IS_BETTER and spec.get("max") is not None:
            raise _fail(
                path, node, ["metrics", key, "max"], f"{spec['unit']} is higher-is-better: use min/floor"
            )
        if spec["unit"] not in HIGHER_IS_BETTER and (
            spec.get("floor") is not None or spec.get("min") is not None
        ):
            raise _fail(path, node, ["metrics", key], f"{spec['unit']} is time-like: use max, not floor/min")
        metrics[key] = MetricBaseline(
            name=key,
            unit=spec["unit"],
            peak=spec.get("peak"),
            floor=spec.get("floor"),
            minimum=spec.get("min"),
            maximum=spec.get("max"),
            peak_from_link=spec.get("peak_from") == "host_link",
            tolerance=spec.get("tolerance", 0.10),
            reference=spec.get("reference"),
        )
    noise = data.get("noise", {})
    cap = data.get("capability")
    return Baseline(
        kind=data["kind"],
        name=data["name"],
        source=path,
        metrics=MappingProxyType(metrics),
        noise=NoisePolicy(
            max_spread=noise.get("max_spread", NoisePolicy.max_spread),
            reruns=noise.get("reruns", NoisePolicy.reruns),
        ),
        family=data.get("family"),
        match=tuple(data.get("match", ())),
        capability=(cap[0], cap[1]) if cap else None,
        arch=data.get("arch"),
        emulation_factor=data.get("emulation_factor", 1.0),
    )


def load_dirs(directories: list[Path]) -> BaselineSet:
    """The baselines of several directories, later ones first: a team's own `baselines/` adds GPU models to
    the shipped ones and replaces a shipped file of the same name (its own H100 floors, say)."""
    by_name: dict[str, Path] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            by_name[path.name] = path
    return _load_files(sorted(by_name.values(), key=lambda p: p.name))


def load_dir(directory: Path) -> BaselineSet:
    """Every ``*.yaml`` of ``directory``; two files claiming the same CPU arch is an error."""
    return _load_files(sorted(directory.glob("*.yaml")))


def _load_files(paths: list[Path]) -> BaselineSet:
    gpus: list[Baseline] = []
    cpus: list[Baseline] = []
    for path in paths:
        baseline = load_file(path)
        if baseline.kind == "gpu":
            gpus.append(baseline)
        else:
            if any(c.arch == baseline.arch for c in cpus):
                raise BaselineError(f"{path}:1: arch: {baseline.arch} already has a baseline file")
            cpus.append(baseline)
    return BaselineSet(gpus=tuple(gpus), cpus=tuple(cpus))
