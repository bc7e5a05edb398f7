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
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

from devbox_conformance import arch as archs
from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance import labels as lbl
from devbox_conformance import probe, reaper
from devbox_conformance import target as tgt

# Hosts prepared and probed side by side at most (each is mostly waiting on its transport).
MAX_PARALLEL_HOSTS = 8
HELLO_TIMEOUT_S = 60.0
_HELLO = (
    "uname -m; command -v timeout >/dev/null 2>&1 && echo timeout=yes || echo timeout=no; "
    "command -v python3 || echo python3=; cat {manifest} 2>/dev/null | head -c 1000000; true"
)


class UsageProblem(Exception):
    """Wrong or conflicting options, unusable target or expectations: one line for the user."""


@dataclass(frozen=True)
class Options:
    """The suite's command-line options (see plugin.pytest_addoption) and testinfra's connection ones."""

    image: str | None
    container: str | None
    hosts: str | None
    platform: str | None
    expectations_dir: str
    arch: str | None
    base_kind: str | None
    # "auto" (GPUs when the engine has the NVIDIA runtime and the host sees a GPU), "all" or "none".
    gpus: str = "auto"
    # missing | always | never: when --image is pulled.
    pull: str = "missing"
    # docker | podman | auto: the engine that runs --image and holds --container.
    engine: str = "auto"
    # Extra `run` options for the engine (e.g. `--runtime runc` for podman).
    engine_args: tuple[str, ...] = ()
    # testinfra's options (ssh_config, ssh_identity_file, sudo, sudo_user, ansible_inventory, force_ansible,
    # connection): every host the suite makes gets them, as testinfra's own `host` fixture does.
    connection: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostState:
    """One host of the run; JSON-serialisable."""

    # Shown in test ids, results and messages ("ssh://node1"); for --image/--container the container spec.
    name: str
    # testinfra host spec the host is reached through.
    spec: str
    # "image", "container", "local" or "host".
    kind: str
    arch: str
    base_kind: str
    facts_path: str
    container: str | None = None
    engine: str | None = None
    # True when this run started the container (and must remove it).
    owns_container: bool = False
    image_ref: str | None = None
    image_attrs: dict[str, Any] | None = None
    has_timeout: bool = False
    # One line: why this host could not be prepared (unreachable, refused, no python3); None when fine.
    error: str | None = None
    # What asked for GPUs on this host ("--gpus all"), or None. A GPU-node profile sets it the same way; the
    # checks see it as the condition `gpus_required` and fail GPU items where no GPU is visible.
    gpus_required: str | None = None


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
        hosts = tuple(HostState(**{f.name: h[f.name] for f in fields(HostState)}) for h in data["hosts"])
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
        h = self.host(name)
        return tgt.Target(
            spec=h.spec,
            name=h.name,
            kind=h.kind,
            arch=h.arch,
            image_ref=h.image_ref,
            image_attrs=h.image_attrs,
            container=h.container,
            engine=h.engine,
            connection=dict(self.connection),
            has_timeout=h.has_timeout,
        )

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


def split_hosts(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


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


def _engine(opts: Options) -> eng.Engine:
    try:
        return eng.choose(opts.engine, opts.engine_args)
    except tgt.TargetError as exc:
        raise UsageProblem(str(exc)) from None


def _image_host(opts: Options, run_id: str, life: Lifecycle, progress: Callable[[str], None]) -> tgt.Target:
    engine = _engine(opts)
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
        name=f"{engine.name}://{name}",
        kind="image",
        arch=archs.image_arch(attrs),
        image_ref=ref,
        image_attrs=attrs,
        container=name,
        engine=engine.name,
    )


def _container_host(engine: eng.Engine, container: str) -> tgt.Target:
    cattrs = eng.container_attrs(engine, container)
    if not (cattrs.get("State") or {}).get("Running"):
        raise tgt.TargetError(f"container {container!r} is not running")
    name = cattrs.get("Name", "").lstrip("/") or container
    attrs = eng.image_attrs(engine, cattrs.get("Image", "")) or {}
    return tgt.Target(
        spec=f"{engine.name}://{name}",
        name=f"{engine.name}://{name}",
        kind="container",
        arch=archs.image_arch(attrs),
        image_ref=(cattrs.get("Config") or {}).get("Image"),
        image_attrs=attrs,
        container=name,
        engine=engine.name,
    )


def _expand_hosts(opts: Options) -> list[tgt.Target]:
    """Every host --hosts names, groups expanded by testinfra (Ansible inventories); not contacted yet."""
    import testinfra  # noqa: PLC0415

    options = {k: v for k, v in opts.connection.items() if v not in (None, False, "")}
    try:
        hosts = testinfra.get_hosts(split_hosts(opts.hosts), **options)
    except Exception as exc:  # bad spec, unknown backend, unreadable inventory …
        raise UsageProblem(f"--hosts {opts.hosts}: {tgt.first_line(exc)}") from None
    if not hosts:
        raise UsageProblem(f"--hosts {opts.hosts}: no host matched (empty group or inventory?)")
    targets = []
    for host in sorted(hosts, key=lambda h: h.backend.get_pytest_id()):
        backend = host.backend
        hid = backend.get_pytest_id()
        scheme = backend.get_connection_type()
        spec = "local://" if scheme == "local" else f"{scheme}://{backend.hostname}"
        where = _user_host_port(backend)
        if scheme in ("ssh", "paramiko") and where:
            # testinfra's id drops the user and the port: without them the spec would reach another sshd.
            spec, hid = f"{scheme}://{where}", f"{scheme}://{where}"
        kind = "local" if scheme == "local" else "host"
        targets.append(
            tgt.Target(
                spec=spec,
                name=hid,
                kind=kind,
                arch=archs.local_arch() if kind == "local" else "unknown",
                connection=dict(opts.connection),
            )
        )
    return targets


def _user_host_port(backend: Any) -> str | None:
    """`user@name:port` of an ssh host spec that gives a user or a port (never its password), else None."""
    spec = getattr(backend, "host", None)
    name, user, port = (getattr(spec, key, None) for key in ("name", "user", "port"))
    if not isinstance(name, str) or not (user or port):
        return None
    return (f"{user}@" if user else "") + name + (f":{port}" if port else "")


# The ssh master the hello opens lives this long after its last use; the run closes it at its end anyway.
SSH_CONTROL_PERSIST_S = 30


# A unix socket's path fits in 108 bytes, its NUL included.
SOCKET_PATH_MAX = 107
# ssh binds a master's socket at ControlPath + "." + 16 random characters, then renames it into place.
SSH_BIND_SUFFIX = 17
# The socket's name in its dir: "ssh-" and what %C expands to (40 hex characters).
SSH_SOCKET_NAME = "ssh-" + "0" * 40
# Where a run puts its sockets when its temp dir's path is too long for them (TMPDIR=/tmp/slurm-123/…).
SHORT_SOCKET_PARENT = Path("/tmp")
SOCKET_DIR_PREFIX = "devbox-ssh-"
# In a run's temp dir: a link to its short socket dir; in the short dir: a link back to the run's temp dir.
SOCKET_DIR_LINK = "sockets"
RUN_DIR_LINK = "run"


def ssh_socket_dir(run_dir: Path, parent: Path = SHORT_SOCKET_PARENT) -> Path:
    """Where the run's ssh masters put their sockets: its temp dir, or a short dir when that path is too long.

    Why: a socket path past 108 bytes cannot be bound, and ssh then fails every host. The short dir is linked
    from the temp dir (the run's clean-up removes both) and links back to it: once the temp dir is gone (the
    run ended, or was killed and reaped), a later run removes the short dir too.
    """
    if len(os.fsencode(run_dir / SSH_SOCKET_NAME)) + SSH_BIND_SUFFIX <= SOCKET_PATH_MAX:
        return run_dir
    remove_orphan_socket_dirs(parent)
    short = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=parent))
    (short / RUN_DIR_LINK).symlink_to(run_dir)
    (run_dir / SOCKET_DIR_LINK).symlink_to(short)
    return short


def ssh_socket_dirs(run_dir: Path) -> list[Path]:
    """The dirs that may hold this run's ssh sockets: its temp dir, and its short socket dir if it has one."""
    link = run_dir / SOCKET_DIR_LINK
    return [run_dir, Path(os.readlink(link))] if link.is_symlink() else [run_dir]


def remove_orphan_socket_dirs(parent: Path = SHORT_SOCKET_PARENT) -> list[Path]:
    """Remove the short socket dirs whose run's temp dir is gone; a dir being made (no link yet) is left."""
    removed = []
    for path in parent.glob(SOCKET_DIR_PREFIX + "*"):
        back = path / RUN_DIR_LINK
        if back.is_symlink() and not back.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _with_ssh_multiplexing(connection: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
    """testinfra's ssh options plus one ssh master per host in the run's temp dir (or a short dir beside it,
    see ssh_socket_dir).

    Why: a host costs a hello and a probe; without a ControlPath each is a new ssh connection (key
    exchange and auth, about half a second on a loaded host), with one the probe reuses the hello's.
    testinfra asks for ControlMaster but sets no ControlPath; a user's own ControlPath/ControlMaster in
    --ssh-extra-args wins. Backends other than ssh ignore these options.
    """
    extra = str(connection.get("ssh_extra_args") or "").lower()
    if "controlpath" in extra or "controlmaster" in extra:
        return dict(connection)
    # testinfra %-formats its ssh command line: %%C reaches ssh as %C (a hash of host, port and user).
    sockets = ssh_socket_dir(tmpdir)
    return {**connection, "controlpath": str(sockets / "ssh-%%C"), "controlpersist": SSH_CONTROL_PERSIST_S}


def gpus_required(opts: Options) -> str | None:
    """What in the options asks for GPUs on every host: `--gpus all` (an image's container gets them; a
    --hosts or --container target must have them), or None."""
    return "--gpus all" if opts.gpus == "all" else None


def _hello(target: tgt.Target) -> tuple[tgt.Target, str | None, str | None]:
    """One round trip: (target with arch/timeout filled in, base kind from its manifest, error line)."""
    try:
        result = target.run_shell(_HELLO.format(manifest=probe.MANIFEST_PATH), HELLO_TIMEOUT_S)
    except tgt.TargetError as exc:
        return target, None, str(exc)
    if result.exit_code != 0:
        return (
            target,
            None,
            (f"cannot run a shell on {target.name} (exit {result.exit_code}): {probe.tail_line(result)}"),
        )
    lines = result.stdout.splitlines()
    if len(lines) < 3:
        return target, None, f"{target.name} answered the hello with {result.stdout[-200:]!r}"
    arch = target.arch if target.kind in ("image", "container") else archs.normalize_arch(lines[0].strip())
    target = replace(target, arch=arch, has_timeout=lines[1].strip() == "timeout=yes")
    if lines[2].strip() in ("python3=", ""):
        return (
            target,
            None,
            (f"no python3 in {target.where}: the probe needs python3 >= 3.8 on the target's PATH"),
        )
    base = None
    try:
        manifest = json.loads("\n".join(lines[3:]) or "null")
        kind = (manifest.get("base") or {}).get("kind") if isinstance(manifest, dict) else None
        base = kind if kind in lbl.BASE_KINDS else None
    except ValueError:
        pass
    return target, base, None


def _listing_targets(opts: Options, kind: str) -> list[tgt.Target]:
    """The targets as --collect-only lists them: nothing is pulled, started or contacted."""
    if kind == "image":
        engine = _engine(opts)
        attrs = eng.image_attrs(engine, opts.image or "")
        arch = (
            opts.arch
            or (archs.image_arch(attrs) if attrs else None)
            or eng.platform_arch(opts.platform)
            or archs.local_arch()
        )
        return [
            tgt.Target(
                spec=f"{engine.name}://(not started)",
                name=f"{engine.name}://(not started)",
                kind="image",
                arch=arch,
                image_ref=opts.image,
                image_attrs=attrs or None,
            )
        ]
    if kind == "container":
        return [_container_host(_engine(opts), opts.container or "")]
    return [replace(t, arch=opts.arch or archs.local_arch()) for t in _expand_hosts(opts)]


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
    opts = replace(opts, connection=_with_ssh_multiplexing(opts.connection, tmpdir))
    directory = Path(opts.expectations_dir)
    _check_arch(opts, directory)
    if not (directory / "common.yaml").is_file():
        raise UsageProblem(f"--expectations {opts.expectations_dir}: no common.yaml in {directory.resolve()}")
    try:
        if listing:
            targets = _listing_targets(opts, kind)
        elif kind == "image":
            targets = [_image_host(opts, run_id, life, progress)]
        elif kind == "container":
            targets = [_container_host(_engine(opts), opts.container or "")]
        else:
            targets = _expand_hosts(opts)
            engine_hosts = [t for t in targets if t.spec.split("://")[0] in ("docker", "podman")]
            for t in engine_hosts:  # docker://NAME given to --hosts is a container: its image is known too
                targets[targets.index(t)] = replace(
                    _container_host(
                        _engine(replace(opts, engine=t.spec.split("://")[0])), t.spec.split("://")[1]
                    ),
                    name=t.name,
                )
    except tgt.TargetError as exc:
        raise UsageProblem(str(exc)) from None
    for t in targets:
        t.connection.update(opts.connection)
    if listing:
        greeted: list[tuple[tgt.Target, str | None, str | None]] = [(t, None, None) for t in targets]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(targets))) as pool:
            greeted = list(pool.map(_hello, targets))
    if len(greeted) == 1 and greeted[0][2]:
        raise UsageProblem(greeted[0][2])
    fallback_arch = opts.arch or next((t.arch for t, _, err in greeted if not err), archs.local_arch())
    hosts = []
    for index, (t, base, error) in enumerate(greeted):
        labels_base = lbl.base_kind_from_labels(lbl.image_labels(t.image_attrs))
        arch = opts.arch or (t.arch if not error and t.arch != "unknown" else fallback_arch)
        hosts.append(
            HostState(
                name=t.name,
                spec=t.spec,
                kind=t.kind,
                arch=arch,
                base_kind=opts.base_kind or labels_base or base or "other",
                facts_path=str(tmpdir / f"devbox-facts-{run_id}-{index}.json"),
                container=t.container,
                engine=t.engine,
                owns_container=t.kind == "image" and not listing,
                image_ref=t.image_ref,
                image_attrs=t.image_attrs,
                has_timeout=t.has_timeout,
                error=error,
                gpus_required=gpus_required(opts),
            )
        )
    state = RunState(
        run_id=run_id,
        expectations_dir=str(directory.resolve()),
        hosts=tuple(hosts),
        connection=dict(opts.connection),
    )
    try:
        requests = {h.name: probe.build_request(state.model(h.name)) for h in hosts}
    except exp.ExpectationsError as exc:
        raise UsageProblem(str(exc)) from None

    def probe_one(host: HostState) -> str | None:
        if host.error:
            _save_probed(host.facts_path, {"error": host.error})
            return host.error
        t0 = time.monotonic()
        try:
            facts = probe.collect_facts(state.target(host.name), requests[host.name])
        except (tgt.TargetError, probe.ProbeError) as exc:
            _save_probed(host.facts_path, {"error": str(exc)})
            return str(exc)
        _save_probed(host.facts_path, {"facts": facts, "probe_seconds": round(time.monotonic() - t0, 3)})
        return None

    def run_probes() -> None:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_HOSTS, len(hosts))) as pool:
            errors = list(pool.map(probe_one, hosts))
        if len(hosts) == 1 and errors[0]:
            raise UsageProblem(errors[0])

    return state, run_probes
