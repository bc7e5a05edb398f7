"""What one image is, as `devbox diff`, `snapshot` and `release --against` compare it: `ImageFacts`.

Gathered with the conformance suite's own machinery, through its public interface (`devbox_conformance.api`),
not a second one: the image is resolved (and pulled per --platform), one container is started with the
suite's lease watchdog, and ONE run of the suite's probe reads every dpkg package (`all_packages`), every
Python distribution and the version of each binary the contract names. Config, labels, size and the layers
(per instruction, from `<engine> image history`) come from the engine; no layer is ever extracted.

    >>> old, new = gather_pair("gpu-devbox:2026.11", "gpu-devbox:2026.12", platform=None, pull="missing",
    ...                        expectations_dir=Path("expectations"), progress=print)
    >>> new.dists["transformers"]
    '4.57.1'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from devbox_build.errors import DevboxError, UsageError

# Each binary's `--version` run may take this long; a diff is not the place to wait 30 s on one tool.
BINARY_TIMEOUT_S = 10
# The image's own commands (rootfs/usr/local/bin/devbox-*: greeting, health check) have no version apart
# from the image's, and ignore `--version`: the health check would import torch (seconds of CPU) for nothing.
# They are still found on PATH (added/removed), just not run.
OWN_COMMAND_PREFIX = "devbox-"
# The whole probe; a full image answers in seconds.
PROBE_TIMEOUT_S = 600
# `RUN |3 A=1 B=2 C=3 cmd`: BuildKit records the build args a RUN saw before its command. They carry
# VCS_REF and BUILD_DATE, so two builds of one Dockerfile would never match without dropping them.
_RUN_ARGS = re.compile(r"^RUN \|(\d+) ")
_ARG_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
# The shell a RUN went through (`/bin/sh -c`, the Dockerfile's `SHELL ["/bin/bash", "-o", "pipefail", "-c"]`):
# the same on every layer, so a reader sees the command itself.
_RUN_SHELL = re.compile(r"^RUN /\S*/(?:ba|z|da)?sh(?: -o \w+)* -c ")
# The engine's architecture name -> dpkg's, for an image whose dpkg database does not name its own.
DEBIAN_ARCH = {"386": "i386", "arm": "armhf", "ppc64le": "ppc64el", "mips64le": "mips64el"}
# dpkg's architecture of packages that run anywhere.
ARCH_ALL = "all"


class FactsError(DevboxError):
    """An image could not be resolved, started or probed; the message is one line.

    Exit 2, as `diff` exits on trouble: 1 is taken by "the images differ".
    """

    exit_code = 2


@dataclass(frozen=True)
class Layer:
    """One layer of an image's history, oldest first."""

    # The Dockerfile instruction that made it, build args dropped (see instruction()).
    instruction: str
    # Bytes the layer adds.
    size: int


@dataclass(frozen=True)
class ImageFacts:
    """Everything a diff compares, JSON-serialisable (to_json/from_json), so views can be tested offline."""

    # The reference the user gave, and what it resolved to.
    ref: str
    image_id: str
    # Registry digest (sha256:…) when the image was pulled or pushed; "" for an image only built here.
    digest: str
    # Image creation time as the engine records it (ISO 8601).
    created: str
    arch: str
    # Total size in bytes (the engine's `Size`).
    size: int
    labels: dict[str, str] = field(default_factory=dict)
    # The image config's environment, KEY -> value.
    env: dict[str, str] = field(default_factory=dict)
    # entrypoint, cmd, healthcheck, user, workdir: each as one display string ("" when unset).
    config: dict[str, str] = field(default_factory=dict)
    layers: tuple[Layer, ...] = ()
    # Installed dpkg package -> version, keyed by name and architecture (package_keys): `name` for the
    # image's own architecture or `all`, `name:arch` for a foreign one.
    packages: dict[str, str] = field(default_factory=dict)
    # PEP 503 normalised distribution name -> version.
    dists: dict[str, str] = field(default_factory=dict)
    # Binary the contract names and the image has -> its version ("" when its output shows none).
    binaries: dict[str, str] = field(default_factory=dict)
    # Each found binary's `--version` arguments and regex as the contract gives them (for snapshots).
    binary_args: dict[str, list[str]] = field(default_factory=dict)
    binary_regex: dict[str, str] = field(default_factory=dict)
    # Section (compare.SECTIONS key) -> why the probe could not read it. Such a section is never an empty
    # side: a diff does not compare it and says so, the release gate refuses, a snapshot is not written.
    unreadable: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageFacts:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["layers"] = tuple(Layer(**layer) for layer in data.get("layers") or ())
        return cls(**values)


def instruction(created_by: str) -> str:
    """The history's `CreatedBy` as the instruction a reader recognises, the same across rebuilds.

    >>> instruction("RUN |2 VCS_REF=abc BUILD_DATE=2026 /bin/sh -c make # buildkit")
    'RUN make'
    """
    text = created_by.strip()
    text = _NOP.sub("", text)
    if text.endswith("# buildkit"):
        text = text[: -len("# buildkit")].rstrip()
    match = _RUN_ARGS.match(text)
    if match:
        tokens = text[match.end() :].split(" ")
        count = int(match.group(1))
        while count and tokens and _ARG_TOKEN.match(tokens[0]):
            tokens.pop(0)
            count -= 1
        text = "RUN " + " ".join(tokens)
    return _RUN_SHELL.sub("RUN ", " ".join(text.split()))


def parse_history(output: str) -> tuple[Layer, ...]:
    """`image history --no-trunc --human=false --format '{{json .}}'` (newest first) -> layers, oldest first.

    Why not `docker history` in human units: sizes must add up and compare to the byte.
    """
    layers = []
    for line in output.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        size = row.get("Size", 0)
        try:
            size = int(size)
        except (TypeError, ValueError):
            size = 0
        layers.append(Layer(instruction=instruction(str(row.get("CreatedBy", ""))), size=size))
    return tuple(reversed(layers))


def _config_strings(config: dict[str, Any]) -> dict[str, str]:
    """entrypoint, cmd, healthcheck, user and workdir as stable display strings."""

    def show(value: Any) -> str:
        if value in (None, "", [], {}):
            return ""
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    health = config.get("Healthcheck") or {}
    return {
        "entrypoint": show(config.get("Entrypoint")),
        "cmd": show(config.get("Cmd")),
        "healthcheck": show({k: v for k, v in health.items() if v not in (None, 0, [], "")}),
        "user": show(config.get("User")),
        "workdir": show(config.get("WorkingDir")),
    }


def package_keys(found: dict[str, str], image_arch: str) -> dict[str, str]:
    """The probe's `name:arch` -> version as ImageFacts keys it: by name and architecture.

    The image's own architecture (that of the `dpkg` package; the engine's name as a fallback) and `all`
    are left out of the key, so `libgomp1` of an amd64 image matches `libgomp1` of the next amd64 image, and
    adding `libgomp1:i386` adds that key and nothing else. A key without `:arch` is kept as it is.
    """
    by_name: dict[str, dict[str, str]] = {}
    for key, version in found.items():
        name, _, arch = key.partition(":")
        by_name.setdefault(name, {})[arch] = version
    own = list(by_name.get("dpkg", {}))
    native = own[0] if len(own) == 1 and own[0] else DEBIAN_ARCH.get(image_arch, image_arch)
    out = {}
    for name, arches in by_name.items():
        home = [a for a in arches if a in ("", ARCH_ALL, native)]
        for arch, version in arches.items():
            out[name if arch in home and len(home) == 1 else f"{name}:{arch}"] = version
    return dict(sorted(out.items()))


def unreadable_sections(probed: dict[str, Any]) -> dict[str, str]:
    """What the probe could not read: dpkg's database (its own error), or a section it did not answer."""
    out = {}
    if probed.get("all_packages_error"):
        out["apt"] = f"dpkg database: {probed['all_packages_error']}"
    elif not isinstance(probed.get("all_packages"), dict):
        out["apt"] = "the probe returned no dpkg packages"
    if not isinstance(probed.get("dists"), dict):
        out["python"] = "the probe returned no Python distributions"
    return out


def from_inspect(
    ref: str,
    attrs: dict[str, Any],
    history: tuple[Layer, ...],
    probed: dict[str, Any],
    binaries: dict[str, tuple[list[str], str | None]],
) -> ImageFacts:
    """Join the engine's view (inspect, history) and the probe's facts into one ImageFacts (pure)."""
    from devbox_conformance.api import extract_version  # noqa: PLC0415 - suite deps on demand

    config = attrs.get("Config") or {}
    env = {}
    for entry in config.get("Env") or []:
        key, _, value = str(entry).partition("=")
        env[key] = value
    digests = [str(d).split("@", 1)[1] for d in attrs.get("RepoDigests") or [] if "@" in str(d)]
    found: dict[str, str] = {}
    for name, result in (probed.get("binaries") or {}).items():
        if not result.get("path"):
            continue
        args, regex = binaries.get(name, (["--version"], None))
        version = extract_version(result.get("version_output") or "", regex) if args else None
        found[name] = version or ""
    return ImageFacts(
        ref=ref,
        image_id=str(attrs.get("Id", "")),
        digest=digests[0] if digests else "",
        created=str(attrs.get("Created", "")),
        arch=str(attrs.get("Architecture", "")),
        size=int(attrs.get("Size") or 0),
        labels=dict(config.get("Labels") or {}),
        env=env,
        config=_config_strings(config),
        layers=history,
        packages=package_keys(dict(probed.get("all_packages") or {}), str(attrs.get("Architecture", ""))),
        dists=dict(sorted((probed.get("dists") or {}).items())),
        binaries=dict(sorted(found.items())),
        binary_args={n: list(binaries[n][0]) for n in sorted(found) if n in binaries},
        binary_regex={n: str(binaries[n][1]) for n in sorted(found) if n in binaries and binaries[n][1]},
        unreadable=unreadable_sections(probed),
    )


def probe_request(model: Any) -> tuple[dict[str, Any], dict[str, tuple[list[str], str | None]]]:
    """The suite's request cut to what a diff needs, and each binary's (version args, regex).

    Every binary of the contract is asked for its version (the suite asks only where the contract pins
    one), every dpkg package is read (`all_packages`); imports, shells, users and files are left out: they
    are the slow part of a suite probe and a diff does not compare them.
    """
    from devbox_conformance import api  # noqa: PLC0415

    request = api.probe_request(model)
    binaries = {
        b.name: ([] if b.name.startswith(OWN_COMMAND_PREFIX) else list(b.version_args), b.version_regex)
        for b in model.binaries
    }
    request.update(
        {
            "binaries": [
                {"name": name, "version_args": args, "timeout": BINARY_TIMEOUT_S}
                for name, (args, _regex) in binaries.items()
            ],
            "imports": [],
            "shells": [],
            "files": [],
            "users": [],
            "groups": [],
            "packages": [],
            "all_packages": True,
        }
    )
    return request, binaries


def gather(
    ref: str,
    *,
    platform: str | None,
    pull: str,
    expectations_dir: Path,
    progress: Callable[[str], None],
    engine_name: str = "auto",
) -> ImageFacts:
    """Resolve REF (pulled per `pull`), start one container, probe it once, remove it.

    FactsError (one line) when the image cannot be resolved, started or probed; UsageError for a contract
    the loader refuses.
    """
    from devbox_conformance import api  # noqa: PLC0415 - suite deps on demand

    try:
        image = api.resolve_image(
            ref, platform=platform, pull=pull, progress=progress, engine_name=engine_name
        )
    except api.TargetError as exc:
        raise FactsError(str(exc)) from None
    try:
        model = api.load_contract(expectations_dir, image.arch, image.base_kind)
    except api.ExpectationsError as exc:
        raise UsageError(str(exc)) from None
    request, binaries = probe_request(model)
    try:
        history = api.image_history(image)
        # The health command is replaced: a diff reads the image's health config, never runs it, and the
        # real one imports torch while the probe runs.
        probed = api.probe_image(image, request, platform=platform, timeout=PROBE_TIMEOUT_S, run_health=False)
    except (api.TargetError, api.ProbeError) as exc:
        raise FactsError(f"{ref}: {exc}") from None
    return from_inspect(ref, image.attrs, parse_history(history), probed.facts, binaries)


def gather_pair(
    old: str,
    new: str,
    *,
    platform: str | None,
    pull: str,
    expectations_dir: Path,
    progress: Callable[[str], None],
    engine_name: str = "auto",
) -> tuple[ImageFacts, ImageFacts]:
    """Both images at once (two containers, two probes side by side); the first error is raised."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(
                gather,
                ref,
                platform=platform,
                pull=pull,
                expectations_dir=expectations_dir,
                progress=progress,
                engine_name=engine_name,
            )
            for ref in (old, new)
        ]
        return futures[0].result(), futures[1].result()
