"""Build arguments: package sets -> INSTALL_* switches, identity args, and `--build-arg K=V` overrides.

Package sets are discovered from the context's packages/{apt,pip}/<set>.txt files, so a new set needs no
harness change: its switch is INSTALL_<SET> with '-' turned into '_' (base-tools -> INSTALL_BASE_TOOLS).

Example:
    set_switches(["base-tools", "shell", "fun-tools"], only=["shell"], without=[])
    # -> {"INSTALL_BASE_TOOLS": "false", "INSTALL_SHELL": "true", "INSTALL_FUN_TOOLS": "false"}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from devbox_build.errors import UsageError


def set_arg(name: str) -> str:
    """The build arg that switches a package set on or off."""
    return "INSTALL_" + name.upper().replace("-", "_")


def discover_sets(context: Path) -> list[str]:
    """Package set names found in <context>/packages/{apt,pip}/*.txt, sorted."""
    found = {p.stem for kind in ("apt", "pip") for p in (context / "packages" / kind).glob("*.txt")}
    return sorted(found)


def split_names(values: Iterable[str]) -> list[str]:
    """Flags given several times and/or comma-separated -> one flat list."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def set_switches(known: Sequence[str], only: Sequence[str], without: Sequence[str]) -> dict[str, str]:
    """INSTALL_* values for --set-only / --without-set; sets not named keep the Dockerfile's default."""
    for name in [*only, *without]:
        if name not in known:
            listing = ", ".join(known) if known else "none found under packages/"
            raise UsageError(f"unknown package set {name!r}; known sets: {listing}")
    switches: dict[str, str] = {}
    if only:
        switches = {set_arg(n): "true" if n in only else "false" for n in known}
    for name in without:
        switches[set_arg(name)] = "false"
    return switches


def parse_kv(items: Iterable[str]) -> dict[str, str]:
    """--build-arg K=V flags -> dict; a flag without '=' is a usage error (docker would read the env)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"bad --build-arg {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def env_install_args(environ: Mapping[str, str]) -> dict[str, str]:
    """INSTALL_* variables from the environment, passed through as build args (as upstream did)."""
    return {k: v for k, v in sorted(environ.items()) if k.startswith("INSTALL_") and v != ""}


def assemble(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers override earlier ones: identity < environment < --set-only/--without-set < --build-arg."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def as_flags(args: Mapping[str, str]) -> list[str]:
    """{'K': 'V'} -> ['--build-arg', 'K=V', ...] in a stable order."""
    flags: list[str] = []
    for key, value in args.items():
        flags += ["--build-arg", f"{key}={value}"]
    return flags


# What the Dockerfile's installers take as a boolean (packages/devbox_sets.py's parse_bool); "" is false.
BOOLEANS = ("true", "false", "1", "0", "yes", "no", "on", "off")


def check_switches(values: Mapping[str, str], source: str) -> None:
    """Every INSTALL_* value is a boolean the build understands, else a one-line usage error.

    Checked before anything is built: the build itself would only fail at the set's own layer, possibly
    hours in (`INSTALL_VLLM=ture`).
    """
    for key, value in values.items():
        if key.startswith("INSTALL_") and value.strip().lower() not in (*BOOLEANS, ""):
            raise UsageError(f"{key}={value!r} ({source}) is not a boolean: use one of {', '.join(BOOLEANS)}")
