"""The run's shared state: resolved once by the controller, handed to xdist workers as JSON files.

    >>> state, run_probe = prepare(options, run_id, tmpdir)   # controller: inspect, load, start
    >>> run_probe()             # the probe: runs while pytest collects and xdist workers boot
    >>> path = state.save(tmpdir)                             # -> node.workerinput["devbox_run_file"]
    >>> RunState.load(path).facts["arch_machine"]             # read once the probe has written them
    'x86_64'

Why two files: the facts take seconds to gather (imports of torch and friends), everything else a
fraction of one. Workers get the small file at start and read the facts when their first test runs,
which the controller holds back until the probe is done (plugin.pytest_runtestloop).
"""

from __future__ import annotations

import json
import os
import platform as _platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
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
    # Where the probe's facts land (JSON {"facts": ..., "probe_seconds": ...}) once gathered.
    facts_path: str

    def save(self, directory: Path) -> Path:
        path = directory / f"devbox-run-{self.run_id}.json"
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path | str) -> RunState:
        data = json.loads(Path(path).read_text())
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def save_facts(self, facts: dict[str, Any], seconds: float) -> None:
        """Write the facts atomically: a worker never reads half a file."""
        path = Path(self.facts_path)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"facts": facts, "probe_seconds": round(seconds, 3)}))
        partial.replace(path)

    def _probed(self) -> dict[str, Any]:
        cached = self.__dict__.get("_probed_cache")
        if cached is None:
            try:
                cached = json.loads(Path(self.facts_path).read_text())
            except FileNotFoundError:
                return {}  # not (yet) gathered: asked again later, read again
            self.__dict__["_probed_cache"] = cached
        return cached

    @property
    def facts(self) -> dict[str, Any]:
        """The probe's facts; empty when the probe has not completed (collect-only, a failed probe)."""
        return self._probed().get("facts") or {}

    @property
    def probe_seconds(self) -> float | None:
        return self._probed().get("probe_seconds")

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


def prepare(opts: Options, run_id: str, tmpdir: Path,
            on_container_started: Any = None) -> tuple[RunState, Callable[[], None]]:
    """Resolve the target, load the expectations, start the container if needed.

    Returns the state and the probe: a call that gathers the facts into `state.facts_path` or raises
    UsageProblem, meant to run while pytest collects. `on_container_started(name)` is called before the
    container is started, so the caller can remove it whatever happens next.
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
        probe.require_python(target)
    except (tgt.TargetError, probe.ProbeError) as exc:
        raise UsageProblem(str(exc)) from None
    state = RunState(run_id=run_id, target_kind=kind, container=container, owns_container=started, arch=arch,
                     base_kind=base_kind, image_ref=image_ref, image_attrs=attrs,
                     expectations_dir=str(directory.resolve()),
                     facts_path=str(tmpdir / f"devbox-facts-{run_id}.json"))
    request = probe.build_request(model)

    def run_probe() -> None:
        t0 = time.monotonic()
        try:
            facts = probe.collect_facts(target, request)
        except (tgt.TargetError, probe.ProbeError) as exc:
            raise UsageProblem(str(exc)) from None
        state.save_facts(facts, time.monotonic() - t0)

    return state, run_probe


def default_tmpdir() -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp"))
