"""The suite's interface for tools built on it: the image diff and release gate, the benchmarks.

Why one module: a tool that reaches into the suite's modules (engine, lease, probe, labels, target) ties
itself to how they are cut today and copies their sequence (resolve, start, lease, probe, remove). Here is
that sequence once, and the few names such a tool needs; everything else of the package may change.

    image = resolve_image("gpu-devbox:latest", pull="never")
    model = load_contract(SHIPPED_DIR, image.arch, image.base_kind)
    facts = probe_image(image, probe_request(model))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devbox_conformance import arch as archs
from devbox_conformance import engine as eng
from devbox_conformance import labels as lbl
from devbox_conformance import lease as leases
from devbox_conformance import localrun, probe
from devbox_conformance import target as tgt
from devbox_conformance.contract_sources import (
    PROFILES_DIR,
    SHIPPED_DIR,
    SHIPPED_NAME,
    profile_names,
    shipped,
)
from devbox_conformance.expectations import SCHEMA_PATH, Expectations
from devbox_conformance.expectations import load as load_contract
from devbox_conformance.kinds.binaries import extract_version
from devbox_conformance.kinds.python_dists import normalize as normalize_dist
from devbox_conformance.probe import MANIFEST_PATH, ProbeError
from devbox_conformance.probe import build_request as probe_request
from devbox_conformance.probe import conditions as when_conditions
from devbox_conformance.target import TargetError
from devbox_conformance.waivers import WaiverError
from devbox_conformance.waivers import load as load_waivers
from devbox_conformance.waivers import today as waiver_today
from devbox_conformance.yamlfile import ExpectationsError

__all__ = [
    "PROFILES_DIR",
    "SCHEMA_PATH",
    "SHIPPED_DIR",
    "SHIPPED_NAME",
    "Expectations",
    "ExpectationsError",
    "ProbeError",
    "Probed",
    "ResolvedImage",
    "TargetError",
    "WaiverError",
    "base_kind_of",
    "extract_version",
    "image_history",
    "load_contract",
    "load_waivers",
    "normalize_dist",
    "probe_image",
    "probe_request",
    "profile_names",
    "resolve_image",
    "shipped",
    "waiver_today",
    "when_conditions",
    "when_request",
]


@dataclass(frozen=True)
class ResolvedImage:
    """An image the engine has, for one platform: its inspect document and what the suite reads from it."""

    ref: str
    engine: eng.Engine
    attrs: dict[str, Any]
    arch: str
    base_kind: str

    @property
    def image_id(self) -> str:
        return str(self.attrs.get("Id") or self.ref)


def base_kind_of(labels: dict[str, str] | None) -> str:
    """The base the image was built on, from its labels ("other" when they do not say)."""
    return lbl.base_kind_from_labels(labels or {}) or "other"


def when_request() -> dict[str, Any]:
    """A probe request for what `when:` needs and nothing else (the build manifest): with the target's arch
    and base, `when_conditions(facts, arch, base_kind)` says which items of a contract apply to it."""
    empty: dict[str, Any] = {k: [] for k in ("binaries", "imports", "files", "users", "groups", "shells")}
    return {**empty, "manifest": MANIFEST_PATH}


def resolve_image(
    ref: str,
    *,
    platform: str | None = None,
    pull: str = "missing",
    progress: Callable[[str], None] = lambda line: None,
    engine_name: str = "auto",
) -> ResolvedImage:
    """`ref` on the engine (pulled per `pull`: always, missing, never); TargetError in one line."""
    engine = eng.choose(engine_name)
    attrs = eng.resolve_image(engine, ref, platform=platform, pull=pull, progress=progress)
    return ResolvedImage(
        ref=ref,
        engine=engine,
        attrs=attrs,
        arch=archs.image_arch(attrs),
        base_kind=base_kind_of(lbl.image_labels(attrs)),
    )


def image_history(image: ResolvedImage) -> str:
    """`history --no-trunc` of the image, one JSON document a line; TargetError when the engine refuses."""
    cmd = [image.engine.cli, "image", "history", "--no-trunc", "--human=false", "--format", "{{json .}}"]
    run = localrun.run_command([*cmd, image.image_id], timeout=120)
    if run.exit_code != 0:
        raise TargetError(f"cannot read the history of {image.ref}: {run.stderr.strip()[-300:]}")
    return run.stdout


@dataclass(frozen=True)
class Probed:
    """The probe's facts, and seconds: the probe alone, and with the container's start and removal."""

    facts: dict[str, Any]
    probe_s: float
    total_s: float


def probe_image(
    image: ResolvedImage,
    request: dict[str, Any],
    *,
    platform: str | None = None,
    timeout: float | None = None,
    run_health: bool = True,
) -> Probed:
    """Start one container of the image (leased, labelled with a new run id), probe it once, remove it.

    `run_health=False` replaces the image's health command with `true`: a tool that reads the health config
    but never judges it (the diff) spares the probe the real one's load. TargetError or ProbeError, one line.
    """
    started = time.monotonic()
    run_id = lbl.new_run_id()
    name = f"devbox-conformance-{run_id}"
    health = [] if run_health else ["--health-cmd", "true"]
    try:
        eng.start_container(image.engine, image.image_id, run_id, platform=platform, gpu_args=health)
        lease = leases.Lease(image.engine, name)
        try:
            target = tgt.Target(
                spec=f"{image.engine.name}://{name}",
                name=image.ref,
                kind="image",
                arch=image.arch,
                image_ref=image.ref,
                image_attrs=image.attrs,
                container=name,
                engine=image.engine.name,
                has_timeout=True,
            )
            t0 = time.monotonic()
            facts = probe.collect_facts(target, request, timeout=timeout)
            probe_s = time.monotonic() - t0
        finally:
            lease.stop()
    finally:
        eng.remove_container(image.engine, name)
    return Probed(facts=facts, probe_s=probe_s, total_s=time.monotonic() - started)
