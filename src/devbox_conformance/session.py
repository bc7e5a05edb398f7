"""The run's shared state: resolved once by the controller, handed to xdist workers as JSON files.

    >>> state, run_probes = prepare(options, run_id, tmpdir, life)   # controller: resolve, start, hello
    >>> run_probes()           # THE probe of every host, in parallel; runs while pytest collects
    >>> path = state.save(tmpdir)                                  # -> node.workerinput["devbox_run_file"]
    >>> RunState.load(path).facts(state.hosts[0].name)["arch_machine"]
    'x86_64'

A run has one or more hosts: the container started from --image, a --container, or every testinfra host
spec of --hosts (an Ansible group expands to its hosts). Each host gets one short hello (architecture,
python3, `timeout`, build manifest) and then one probe; both go through the host's testinfra backend. A
host that cannot be reached keeps its place: its items fail with the one line that says why, and the other
hosts are still checked. With a single host that line stops the run instead, as a user expects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from devbox_conformance import arch as archs
from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance import health, probe, reaper
from devbox_conformance import labels as lbl
from devbox_conformance import target as tgt
from devbox_conformance.hosts import Hello, HostState, container_host, expand_hosts, hello, listing_targets
from devbox_conformance.runopts import Options, UsageProblem, engine_for, split_hosts
from devbox_conformance.sshmux import with_ssh_multiplexing

# Hosts prepared and probed side by side at most (each is mostly waiting on its transport).
MAX_PARALLEL_HOSTS = 8


@dataclass(frozen=True)
class RunState:
    """Everything workers need; JSON-serialisable."""

    run_id: str
    expectations_dir: str
    hosts: tuple[HostState, ...]
    connection: dict[str, Any]

    def save(self, directory: Path) -> Path:
        path = directory / f"devbox-run-{self.run_id}.json"
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path | str) -> RunState:
        data = json.loads(Path(path).read_text())
        hosts = tuple(HostState.from_json(h) for h in data["hosts"])
        return cls(
            run_id=data["run_id"],
            expectations_dir=data["expectations_dir"],
            hosts=hosts,
            connection=data["connection"],
        )

    @property
    def multi(self) -> bool:
        return len(self.hosts) > 1

    @property
    def first(self) -> HostState:
        return self.hosts[0]

    def host(self, name: str | None) -> HostState:
        for host in self.hosts:
            if host.name == name:
                return host
        return self.first

    def testinfra_hosts(self) -> str:
        """What testinfra's --hosts must say so that its `host` fixture is bound to the same targets."""
        return ",".join(h.spec for h in self.hosts)

    def _probed(self, host: HostState) -> dict[str, Any]:
        cache = self.__dict__.setdefault("_probed_cache", {})
        if host.name not in cache:
            try:
                cache[host.name] = json.loads(Path(host.facts_path).read_text())
            except FileNotFoundError:
                return {}  # not (yet) gathered: asked again later, read again
        return cache[host.name]

    def facts(self, name: str | None = None) -> dict[str, Any]:
        """A host's facts; empty when its probe has not completed (collect-only, a failed probe)."""
        return self._probed(self.host(name)).get("facts") or {}

    def probe_error(self, name: str | None = None) -> str | None:
        """The one line a host's probe failed with (multi-host runs record it instead of stopping)."""
        return self._probed(self.host(name)).get("error")

    def probe_seconds(self, name: str | None = None) -> float | None:
        return self._probed(self.host(name)).get("probe_seconds")

    def target(self, name: str | None = None) -> tgt.Target:
        """A host's Target, with its own copy of the run's connection options."""
        return replace(self.host(name).target, connection=dict(self.connection))

    def model(self, name: str | None = None) -> exp.Expectations:
        h = self.host(name)
        return _load_model(self.expectations_dir, h.arch, h.base_kind)


_MODELS: dict[tuple[str, str, str], exp.Expectations] = {}


def _load_model(directory: str, arch: str, base_kind: str) -> exp.Expectations:
    key = (directory, arch, base_kind)
    if key not in _MODELS:
        _MODELS[key] = exp.load(directory, arch, base_kind)
    return _MODELS[key]


def _save_probed(path: str, document: dict[str, Any]) -> None:
    """Write atomically: a worker never reads half a file."""
    target = Path(path)
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(document))
    partial.replace(target)


class Lifecycle(Protocol):
    """What prepare() tells its caller, so that it can undo whatever happens next."""

    def started(self, engine: eng.Engine, name: str) -> None: ...


def choose_target(opts: Options) -> str:
    """Which target the options name: "image", "container" or "hosts"; UsageProblem unless exactly one."""
    given = [
        name
        for name, value in (("--image", opts.image), ("--container", opts.container), ("--hosts", opts.hosts))
        if value
    ]
    if len(given) > 1:
        raise UsageProblem(f"{' and '.join(given)} both given: pick exactly one target")
    if not given:
        raise UsageProblem(
            "no target: pass --image IMAGE, --container NAME or --hosts SPEC[,SPEC…] "
            "(local://, ssh://node, ansible://group …)"
        )
    if opts.platform and not opts.image:
        raise UsageProblem("--platform only applies to --image")
    if opts.hosts and not split_hosts(opts.hosts):
        raise UsageProblem(f"--hosts {opts.hosts!r}: no host spec in it")
    return given[0].lstrip("-")


def _check_arch(opts: Options, directory: Path) -> None:
    if opts.arch:
        known = sorted({*exp.KNOWN_ARCHS, *(p.stem for p in directory.glob("*.yaml") if p.stem != "common")})
        if opts.arch not in known:
            raise UsageProblem(f"--arch {opts.arch}: unknown arch (expected one of {', '.join(known)})")


def _image_host(opts: Options, run_id: str, life: Lifecycle, progress: Callable[[str], None]) -> tgt.Target:
    engine = engine_for(opts)
    ref = opts.image or ""
    reaper.reap_dead_runs(engine)
    attrs = eng.resolve_image(engine, ref, platform=opts.platform, pull=opts.pull, progress=progress)
    # A bad expectations file is found before a container is started for nothing.
    base = opts.base_kind or lbl.base_kind_from_labels(lbl.image_labels(attrs)) or "other"
    try:
        _load_model(str(Path(opts.expectations_dir).resolve()), opts.arch or archs.image_arch(attrs), base)
    except exp.ExpectationsError as exc:
        raise UsageProblem(str(exc)) from None
    name = f"devbox-conformance-{run_id}"
    life.started(engine, name)
    eng.start_container(
        engine, ref, run_id, platform=opts.platform, gpu_args=eng.gpu_run_args(engine, opts.gpus)
    )
    return tgt.Target(
        spec=f"{engine.name}://{name}",
        # The image, not the container: test ids, results and reports name the same host in every run.
        name=f"{engine.name}://{ref}",
        kind="image",
        arch=archs.image_arch(attrs),
        image_ref=ref,
        image_attrs=attrs,
        container=name,
        engine=engine.name,
    )


def gpus_required(opts: Options) -> str | None:
    """What in the options asks for GPUs on every host: `--gpus all` (an image's container gets them; a
    --hosts or --container target must have them), or None."""
    return "--gpus all" if opts.gpus == "all" else None


def prepare(
    opts: Options,
    run_id: str,
    tmpdir: Path,
    life: Lifecycle,
    progress: Callable[[str], None] = lambda line: None,
    listing: bool = False,
) -> tuple[RunState, Callable[[], None]]:
    """Resolve the target(s), load the expectations, start the container if needed, say hello to each.

    Returns the state and the probes: a call that gathers every host's facts into its facts file (in
    parallel), meant to run while pytest collects. With one host a failure raises UsageProblem; with more,
    each host's failure is recorded for its own items.
    """
    kind = choose_target(opts)
    opts = replace(opts, connection=with_ssh_multiplexing(opts.connection, tmpdir))
    directory = Path(opts.expectations_dir)
    _check_arch(opts, directory)
    if not (directory / "common.yaml").is_file():
        raise UsageProblem(f"--expectations {opts.expectations_dir}: no common.yaml in {directory.resolve()}")
    try:
        targets = _resolve_targets(opts, kind, run_id, life, progress, listing)
    except tgt.TargetError as exc:
        raise UsageProblem(str(exc)) from None
    for t in targets:
        t.connection.update(opts.connection)
    greeted = _greet(targets, listing)
    hosts = _host_records(opts, greeted, tmpdir, run_id, listing)
    state = RunState(
        run_id=run_id,
        expectations_dir=str(directory.resolve()),
        hosts=tuple(hosts),
        connection=dict(opts.connection),
    )
    manifests = {h.target.name: h.manifest for h in greeted}
    return state, _probes(state, manifests)


def _resolve_targets(
    opts: Options, kind: str, run_id: str, life: Lifecycle, progress: Callable[[str], None], listing: bool
) -> list[tgt.Target]:
    """The run's targets, not yet greeted: the image's container (started), a container, or --hosts."""
    if listing:
        return listing_targets(opts, kind)
    if kind == "image":
        return [_image_host(opts, run_id, life, progress)]
    if kind == "container":
        return [container_host(engine_for(opts), opts.container or "")]
    targets = expand_hosts(opts)
    for index, t in enumerate(targets):
        scheme, _, name = t.spec.partition("://")
        if scheme in ("docker", "podman"):  # docker://NAME given to --hosts is a container: its image too
            try:
                found = container_host(engine_for(replace(opts, engine=scheme)), name)
            except tgt.TargetError:
                if len(targets) == 1:
                    raise
                continue  # one host of a fleet: its hello fails and says why; the others are checked
            targets[index] = replace(found, name=t.name)
    return targets


def _greet(targets: list[tgt.Target], listing: bool) -> list[Hello]:
    """Every target's hello, side by side; a listing contacts none. One host's failure stops the run."""
    if listing:
        return [Hello(t) for t in targets]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(targets))) as pool:
        greeted = list(pool.map(hello, targets))
    if len(greeted) == 1 and greeted[0].error:
        raise UsageProblem(greeted[0].error)
    return greeted


def _host_records(
    opts: Options, greeted: list[Hello], tmpdir: Path, run_id: str, listing: bool
) -> list[HostState]:
    """One record per host: its target with the run's arch, the base kind, its facts file, its error."""
    fallback_arch = opts.arch or next((h.target.arch for h in greeted if not h.error), archs.local_arch())
    hosts = []
    for index, h in enumerate(greeted):
        t = h.target
        labels_base = lbl.base_kind_from_labels(lbl.image_labels(t.image_attrs))
        arch = opts.arch or (t.arch if not h.error and t.arch != "unknown" else fallback_arch)
        hosts.append(
            HostState(
                target=replace(t, arch=arch),
                base_kind=opts.base_kind or labels_base or h.base or "other",
                facts_path=str(tmpdir / f"devbox-facts-{run_id}-{index}.json"),
                owns_container=t.kind == "image" and not listing,
                error=h.error,
                gpus_required=gpus_required(opts),
            )
        )
    return hosts


def _probes(state: RunState, manifests: dict[str, tuple[Any, str] | None]) -> Callable[[], None]:
    """The call that probes every host into its facts file; UsageProblem when the only host fails.

    A manifest the hello already read whole is not read again: the probe is told to skip it and the
    hello's copy goes into the facts as the probe would have put it.
    """
    try:
        requests = {h.name: probe.build_request(state.model(h.name)) for h in state.hosts}
    except exp.ExpectationsError as exc:
        raise UsageProblem(str(exc)) from None

    def probe_one(host: HostState) -> str | None:
        if host.error:
            _save_probed(host.facts_path, {"error": host.error})
            return host.error
        known = manifests.get(host.name)
        request = requests[host.name] if known is None else {**requests[host.name], "manifest": ""}
        t0 = time.monotonic()
        try:
            facts = probe.collect_facts(state.target(host.name), request)
        except (tgt.TargetError, probe.ProbeError) as exc:
            _save_probed(host.facts_path, {"error": str(exc)})
            return str(exc)
        if known is not None:
            facts["manifest"], facts["manifest_status"] = known
        probe_seconds = round(time.monotonic() - t0, 3)  # the probe's own time, not the health wait's
        if host.container and host.engine and health.wanted(state.model(host.name)):
            facts[health.FACT] = health.gather(host.engine, host.container, host.image_attrs)
        _save_probed(host.facts_path, {"facts": facts, "probe_seconds": probe_seconds})
        return None

    def run_probes() -> None:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(state.hosts))) as pool:
            errors = list(pool.map(probe_one, state.hosts))
        if len(state.hosts) == 1 and errors[0]:
            raise UsageProblem(errors[0])

    return run_probes
