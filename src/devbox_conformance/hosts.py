"""The hosts of a run: how each is found (--container, --hosts, a listing) and greeted, and its record.

A host's record (`HostState`) holds its Target (transport, arch, image) and what the run learnt beside it
(base kind, facts file, the one line it failed with); nothing of the Target is copied into it.

The hello is one round trip per host: architecture, `timeout`, python3 and the build manifest. The
manifest it read is handed to the probe (`Hello.manifest`), which then does not read it again; when the
hello's copy is not certainly whole and valid (unreadable, past the cap, not UTF-8, not JSON) the probe
reads the file itself, so the verdict is the probe's as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from devbox_conformance import arch as archs
from devbox_conformance import engine as eng
from devbox_conformance import labels as lbl
from devbox_conformance import probe
from devbox_conformance import target as tgt
from devbox_conformance.runopts import Options, UsageProblem, engine_for, split_hosts

HELLO_TIMEOUT_S = 60.0
# The hello reads the manifest up to this many bytes (one more, to tell a cut copy from a whole one).
HELLO_MANIFEST_MAX = 1000000
_HELLO = (
    "uname -m; command -v timeout >/dev/null 2>&1 && echo timeout=yes || echo timeout=no; "
    "command -v python3 || echo python3=; "
    "if [ -f {manifest} ] && [ -r {manifest} ]; then echo manifest=read; head -c {cap} {manifest}; "
    "elif [ -e {manifest} ]; then echo manifest=unreadable; else echo manifest=absent; fi; true"
)


@dataclass(frozen=True)
class HostState:
    """One host of the run: its Target and what the run learnt beside it; JSON-serialisable."""

    # How the host is reached and what it is (name, spec, kind, arch — the run's resolved arch — image).
    target: tgt.Target
    base_kind: str
    facts_path: str
    # True when this run started the container (and must remove it).
    owns_container: bool = False
    # One line: why this host could not be prepared (unreachable, refused, no python3); None when fine.
    error: str | None = None
    # What asked for GPUs on this host ("--gpus all"), or None. A GPU-node profile sets it the same way; the
    # checks see it as the condition `gpus_required` and fail GPU items where no GPU is visible.
    gpus_required: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostState:
        return cls(**{**data, "target": tgt.Target(**data["target"])})

    # The Target's own fields, read through: one record, no copies to drift apart.
    name = property(lambda self: self.target.name)
    spec = property(lambda self: self.target.spec)
    kind = property(lambda self: self.target.kind)
    arch = property(lambda self: self.target.arch)
    container = property(lambda self: self.target.container)
    engine = property(lambda self: self.target.engine)
    image_ref = property(lambda self: self.target.image_ref)
    image_attrs = property(lambda self: self.target.image_attrs)
    has_timeout = property(lambda self: self.target.has_timeout)


@dataclass(frozen=True)
class Hello:
    """What one host's hello found."""

    # The target with its arch (hosts) and `timeout` filled in.
    target: tgt.Target
    # Base kind from the build manifest, None when it names none.
    base: str | None = None
    # One line: why the host cannot be checked; None when it can.
    error: str | None = None
    # (manifest, status) as the probe would report them, or None: the probe reads the manifest itself.
    manifest: tuple[Any, str] | None = None


def hello(target: tgt.Target) -> Hello:
    """One round trip: the target with arch/timeout filled in, the base kind and manifest, or an error."""
    command = _HELLO.format(manifest=probe.MANIFEST_PATH, cap=HELLO_MANIFEST_MAX + 1)
    try:
        result = target.run_shell(command, HELLO_TIMEOUT_S)
    except tgt.TargetError as exc:
        return Hello(target, error=str(exc))
    if result.exit_code != 0:
        why = f"cannot run a shell on {target.name} (exit {result.exit_code}): {probe.tail_line(result)}"
        return Hello(target, error=why)
    lines = result.stdout.splitlines()
    if len(lines) < 3:
        return Hello(target, error=f"{target.name} answered the hello with {result.stdout[-200:]!r}")
    arch = target.arch if target.kind in ("image", "container") else archs.normalize_arch(lines[0].strip())
    target = replace(target, arch=arch, has_timeout=lines[1].strip() == "timeout=yes")
    if lines[2].strip() in ("python3=", ""):
        why = f"no python3 in {target.where}: the probe needs python3 >= 3.8 on the target's PATH"
        return Hello(target, error=why)
    manifest = hello_manifest(result.stdout)
    document = manifest[0] if manifest else _within_cap(result.stdout.partition("\nmanifest=read\n")[2])
    kind = (document.get("base") or {}).get("kind") if isinstance(document, dict) else None
    return Hello(target, base=kind if kind in lbl.BASE_KINDS else None, manifest=manifest)


def hello_manifest(stdout: str) -> tuple[Any, str] | None:
    """(manifest, status) from the hello's output, exactly as the probe reports them, or None when only the
    probe can tell (unreadable, cut at the cap, bytes that are not UTF-8, not JSON): it then reads the file.
    """
    head, marker, text = stdout.partition("\nmanifest=read\n")
    if not marker:
        return (None, "absent") if stdout.rstrip("\n").endswith("\nmanifest=absent") else None
    if "\ufffd" in text or len(text.encode("utf-8")) > HELLO_MANIFEST_MAX:
        return None
    document = _parsed(text)
    return None if document is _UNPARSED else (document, "present")


_UNPARSED = object()


def _within_cap(text: str) -> Any:
    """The manifest as far as the hello read it, for its base kind only (a cut copy names none)."""
    return _parsed(text) if len(text.encode("utf-8")) <= HELLO_MANIFEST_MAX else None


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _UNPARSED


def container_host(engine: eng.Engine, container: str) -> tgt.Target:
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


def expand_hosts(opts: Options) -> list[tgt.Target]:
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


def listing_targets(opts: Options, kind: str) -> list[tgt.Target]:
    """The targets as --collect-only lists them: nothing is pulled, started or contacted."""
    if kind == "image":
        engine = engine_for(opts)
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
        return [container_host(engine_for(opts), opts.container or "")]
    return [replace(t, arch=opts.arch or archs.local_arch()) for t in expand_hosts(opts)]
