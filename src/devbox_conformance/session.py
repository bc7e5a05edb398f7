"""The run's shared state: resolved once by the controller, handed to xdist workers as one JSON file.

    >>> state = prepare(options)          # controller: inspect, load expectations, start, probe
    >>> path = state.save(tmpdir)         # -> node.workerinput["devbox_run_file"]
    >>> RunState.load(path).facts["arch_machine"]
    'x86_64'
"""

from __future__ import annotations

import json
import os
import platform as _platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance import target as tgt


class UsageProblem(Exception):
    """Wrong or conflicting options, unusable target or expectations: one line for the user."""


@dataclass(frozen=True)
class Options:
    """The suite's command-line options (see plugin.pytest_addoption)."""

    image: str | None
    container: str | None
    hosts: str | None
    platform: str | None
    expectations_dir: str
    arch: str | None
    base_kind: str | None
    # "auto" (GPUs when the engine has the NVIDIA runtime and the host sees a GPU), "all" or "none".
    gpus: str = "auto"


@dataclass(frozen=True)
class RunState:
    """Everything workers need; JSON-serialisable."""

    run_id: str
    # "image", "container" or "local".
    target_kind: str
    # Container commands run in (None on local).
    container: str | None
    # True when this run started the container (and must remove it).
    owns_container: bool
    arch: str
    base_kind: str
    image_ref: str | None
    image_attrs: dict[str, Any] | None
    expectations_dir: str
    facts: dict[str, Any]
    probe_seconds: float

    def save(self, directory: Path) -> Path:
        path = directory / f"devbox-run-{self.run_id}.json"
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path | str) -> RunState:
        return cls(**json.loads(Path(path).read_text()))

    def target(self) -> tgt.Target:
        if self.container is None:
            return tgt.LocalTarget(self.arch)
        return tgt.ContainerTarget(self.container, kind=self.target_kind, arch=self.arch,
                                   image_ref=self.image_ref, image_attrs=self.image_attrs)

    def model(self) -> exp.Expectations:
        return exp.load(self.expectations_dir, self.arch, self.base_kind)


def choose_target(opts: Options) -> str:
    """Which target the options name: "image", "container" or "local"; UsageProblem unless exactly one."""
    given = [name for name, value in (("--image", opts.image), ("--container", opts.container),
                                      ("--hosts", opts.hosts)) if value]
    if len(given) > 1:
        raise UsageProblem(f"{' and '.join(given)} both given: pick exactly one target")
    if not given:
        raise UsageProblem("no target: pass --image IMAGE, --container NAME or --hosts local://")
    if opts.platform and not opts.image:
        raise UsageProblem("--platform only applies to --image")
    if opts.hosts and opts.hosts.rstrip("/") not in ("local:", "local"):
        raise UsageProblem(f"--hosts {opts.hosts}: only local:// is supported; use --container NAME for a "
                           f"running container")
    return given[0].lstrip("-").replace("hosts", "local")


def _local_base_kind() -> str | None:
    try:
        data = json.loads(Path(probe.MANIFEST_PATH).read_text())
    except (OSError, ValueError):
        return None
    kind = (data.get("base") or {}).get("kind") if isinstance(data, dict) else None
    return kind if kind in tgt.BASE_KINDS else None


def _check_arch(opts: Options, arch: str, directory: Path) -> None:
    if opts.arch:
        known = sorted({*exp.KNOWN_ARCHS, *(p.stem for p in directory.glob("*.yaml") if p.stem != "common")})
        if opts.arch not in known:
            raise UsageProblem(f"--arch {opts.arch}: unknown arch (expected one of {', '.join(known)})")


def prepare(opts: Options, run_id: str, on_container_started: Any = None) -> RunState:
    """Resolve the target, load the expectations, start the container if needed, run the probe.

    `on_container_started(name)` is called as soon as a container exists, so the caller can remove it
    whatever happens next.
    """
    kind = choose_target(opts)
    directory = Path(opts.expectations_dir)
    attrs: dict[str, Any] | None = None
    container: str | None = None
    image_ref: str | None = None
    try:
        if kind == "image":
            image_ref = opts.image
            attrs = tgt.image_attrs(opts.image or "")
            arch = tgt.image_arch(attrs)
            base = tgt.base_kind_from_labels(tgt.image_labels(attrs))
        elif kind == "container":
            cattrs = tgt.container_attrs(opts.container or "")
            if not (cattrs.get("State") or {}).get("Running"):
                raise UsageProblem(f"container {opts.container!r} is not running")
            container = cattrs.get("Name", "").lstrip("/") or opts.container
            image_ref = (cattrs.get("Config") or {}).get("Image")
            attrs = tgt.image_attrs(cattrs.get("Image", ""))
            arch = tgt.image_arch(attrs)
            base = tgt.base_kind_from_labels(tgt.image_labels(attrs))
        else:
            arch = tgt.normalize_arch(_platform.machine())
            base = _local_base_kind()
    except tgt.TargetError as exc:
        raise UsageProblem(str(exc)) from None
    _check_arch(opts, arch, directory)
    arch = opts.arch or arch
    base_kind = opts.base_kind or base or "other"
    try:
        model = exp.load(directory, arch, base_kind)
    except exp.ExpectationsError as exc:
        raise UsageProblem(str(exc)) from None
    started = False
    try:
        if kind == "image":
            name = f"devbox-conformance-{run_id}"
            if on_container_started:
                on_container_started(name)
            started = True
            target: tgt.Target = tgt.start_container(opts.image or "", run_id, opts.platform, attrs or {},
                                                         gpus=opts.gpus)
            container = target.container
        elif kind == "container":
            target = tgt.ContainerTarget(container or "", arch=arch, image_ref=image_ref, image_attrs=attrs)
        else:
            target = tgt.LocalTarget(arch)
        t0 = time.monotonic()
        facts = probe.collect_facts(target, probe.build_request(model))
        seconds = time.monotonic() - t0
    except (tgt.TargetError, probe.ProbeError) as exc:
        raise UsageProblem(str(exc)) from None
    return RunState(run_id=run_id, target_kind=kind, container=container, owns_container=started, arch=arch,
                    base_kind=base_kind, image_ref=image_ref, image_attrs=attrs,
                    expectations_dir=str(directory.resolve()), facts=facts, probe_seconds=round(seconds, 3))


def default_tmpdir() -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp"))
