"""`devbox snapshot IMG`: an expectations overlay that pins what a known-good image has.

The contract says what any devbox must have; a snapshot says what THIS release had, as a floor for the
next: every binary of the contract the image has at `>=` its version, every Python distribution at `>=`
its version (imports are the contract's business, not repeated here), every installed dpkg package. A later
image that lost a package or went down in a version fails it; one that only moved up passes.

The overlay is a directory the suite loads as it is (`pytest --image NEW --expectations=DIR`, from any
directory): common.yaml with `extends:` naming the contract it was taken against (`gpu-devbox`, or a path
relative to the snapshot) and the pinned items, `<arch>.yaml` of the one arch it was taken on (the loader
refuses it for another) and the schema beside them for editor completion. Each pinned item merges into the
contract's item of the same key and gives only fields that tighten it (see `overlay`), so one run checks
the contract and the floors, and `weakened` proves, at every write, that nothing of the contract got laxer.

    >>> write(Path("snapshots/2026.11"), facts, contract="gpu-devbox")
    PosixPath('snapshots/2026.11/common.yaml')
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from devbox_build.errors import UsageError
from devbox_build.imagediff.facts import ImageFacts

DEFAULT_VERSION_ARGS = ["--version"]
# Architecture names (the engine's and dpkg's) whose `<arch>.yaml` a snapshot may have written: `--force`
# over a snapshot of another architecture removes them, so the directory never claims an arch it was not
# taken on (the loader then refuses to check an image of that arch against it).
ARCH_FILES = (
    "amd64",
    "arm64",
    "386",
    "i386",
    "arm",
    "armhf",
    "armel",
    "ppc64le",
    "ppc64el",
    "s390x",
    "riscv64",
)


def _q(value: str) -> str:
    """A YAML scalar that reads back as exactly this string (JSON strings are YAML)."""
    return json.dumps(value)


def _floor(version: str) -> str | None:
    """The public part of a PEP 440 version (`2.13.0+cpu` -> `2.13.0`), None when it is not PEP 440."""
    try:
        return Version(version).public
    except InvalidVersion:
        return None


def contract_ref(contract: Path, directory: Path) -> str:
    """The snapshot's `extends:` value: the shipped name when CONTRACT is a shipped contract or profile,
    else its path relative to the snapshot directory (so both can move together, and the check runs from
    any directory)."""
    from devbox_conformance import api  # noqa: PLC0415 - suite deps on demand

    target = contract.resolve()
    if target == api.SHIPPED_DIR.resolve():
        return api.SHIPPED_NAME
    for name in api.profile_names():
        if target == (api.PROFILES_DIR / name).resolve():
            return name
    return os.path.relpath(target, directory.resolve())


def _by_key(model: Any, kind: str, normal: Callable[[str], str] = str) -> dict[str, Any]:
    return {normal(str(item.key)): item for item in model.items(kind)}


def _binary_entry(f: ImageFacts, name: str, version: str, item: Any) -> str:
    """A binary's snapshot item: the contract's specifier AND the floor; how to ask an unknown one."""
    lines = [f"  - name: {_q(name)}"]
    floor = _floor(version) if version else None
    if floor:
        spec = SpecifierSet(f">={floor}")
        if item is not None and item.version is not None:
            spec = item.version & spec
        lines.append(f"    version: {_q(str(spec))}")
        if item is None:
            args = f.binary_args.get(name, DEFAULT_VERSION_ARGS)
            if args != DEFAULT_VERSION_ARGS:
                lines.append(f"    version_args: [{', '.join(_q(a) for a in args)}]")
            if name in f.binary_regex:
                lines.append(f"    version_regex: {_q(f.binary_regex[name])}")
    if item is not None and item.optional:
        lines.append("    optional: false")
    return "\n".join(lines)


def _dist_entry(name: str, version: str, item: Any) -> str:
    """A distribution's snapshot item: the higher of the contract's minimum and the floor."""
    floor = _floor(version)
    lines = [f"  - name: {_q(item.name if item is not None else name)}"]
    if floor:
        low = Version(floor)
        if item is not None and item.min_version is not None:
            low = max(low, item.min_version)
        lines.append(f"    min_version: {_q(str(low))}")
    if item is None:
        lines.append("    import: false")
    elif item.optional:
        lines.append("    optional: false")
    return "\n".join(lines)


def overlay(f: ImageFacts, extends: str, model: Any, base: str) -> str:
    """common.yaml of the snapshot of `f`, taken against the contract `model` (pure; deterministic).

    Loaded with `extends:`, each item merges into the contract's item of the same key and replaces the
    fields it gives, so it gives only what tightens: a binary's `version` is the contract's specifier AND
    the floor (never the floor alone, which would drop an upper bound), a distribution's `min_version` the
    higher of the contract's and the floor, `optional: false` where the contract relaxed an item the image
    had. `import: false` only for a distribution the contract does not name (its module name is unknown):
    on a contract item it would switch off the contract's import check.
    """
    from devbox_conformance.api import normalize_dist as normalize  # noqa: PLC0415

    c_bins = _by_key(model, "binaries")
    c_dists = _by_key(model, "python_dists", normalize)
    c_pkgs = _by_key(model, "packages")
    binaries = [_binary_entry(f, name, version, c_bins.get(name)) for name, version in f.binaries.items()]
    dists = [_dist_entry(name, version, c_dists.get(normalize(name))) for name, version in f.dists.items()]
    packages = []
    for name in f.packages:
        item = c_pkgs.get(name)
        packages.append(f"  - name: {_q(name)}" + ("\n    optional: false" if item and item.optional else ""))
    pinned_bins = sum(1 for v in f.binaries.values() if v and _floor(v))
    pinned_dists = sum(1 for v in f.dists.values() if _floor(v))
    header = [
        "# yaml-language-server: $schema=./schema.json",
        f"# Snapshot of {f.ref} ({f.arch}, base {base}), written by `devbox snapshot`.",
        f"#   image id: {f.image_id}",
        f"#   digest:   {f.digest or 'none (built here: never pushed or pulled)'}",
        f"#   created:  {f.created}",
        "# A floor for the next release on top of the contract it extends: "
        f"{len(f.binaries)} binaries ({pinned_bins} at >= their version),",
        f"# {len(f.dists)} Python distributions ({pinned_dists} at >= their version), "
        f"{len(f.packages)} dpkg packages installed.",
        "# Check an image against both: pytest --image IMAGE --expectations=THIS_DIRECTORY",
        f"extends: {_q(extends)}",
    ]
    body = []
    for kind, items in (("binaries", binaries), ("python_dists", dists), ("packages", packages)):
        if items:
            body += ["", f"{kind}:", *items]
    return "\n".join(header + body) + "\n"


def weakened(contract: Any, merged: Any) -> list[str]:
    """What the merged model (contract + snapshot) checks less strictly than the contract alone (pure).

    A snapshot may only add: an item gone, made optional, no longer imported, or a specifier or minimum
    dropped would make an image pass the snapshot run that fails the contract.
    """
    out = []
    for kind in ("binaries", "python_dists", "packages"):
        after = _by_key(merged, kind)
        for key, item in _by_key(contract, kind).items():
            now = after.get(key)
            if now is None:
                out.append(f"{kind}[{key}]: gone")
                continue
            if now.optional and not item.optional:
                out.append(f"{kind}[{key}]: made optional")
            if now.when != item.when:
                out.append(f"{kind}[{key}]: condition changed")
            spec = getattr(item, "version", None)
            if spec is not None and not set(spec) <= set(getattr(now, "version", None) or ()):
                out.append(f"{kind}[{key}]: version {spec} dropped")
            low = getattr(item, "min_version", None)
            if low is not None and (now.min_version is None or now.min_version < low):
                out.append(f"{kind}[{key}]: min_version {low} lowered")
            if getattr(item, "import_name", None) and now.import_name != item.import_name:
                out.append(f"{kind}[{key}]: import {item.import_name} dropped")
    return out


def _contract_dir(contract: Path | str) -> Path:
    from devbox_conformance import api  # noqa: PLC0415

    return api.shipped(str(contract)) or Path(contract)


def write(directory: Path, f: ImageFacts, contract: Path | str, *, force: bool = False) -> Path:
    """Write the overlay directory, extending CONTRACT (a directory, or a shipped name such as
    `gpu-devbox`); refuse to replace an existing snapshot unless `force`.

    A snapshot of facts with an unreadable section is refused: it would pin nothing there, and the check
    against it would pass an image that lost every package.

    What is written is loaded back with the suite's own loader (schema, `extends:` and all) before this
    returns and compared with the contract alone: a snapshot the suite would refuse, or one that would
    check anything of the contract less strictly, never stays on disk.
    """
    from devbox_conformance import api  # noqa: PLC0415 - suite deps on demand

    common = directory / "common.yaml"
    if common.exists() and not force:
        raise UsageError(f"{common} exists: pass --force to replace that snapshot")
    if f.unreadable:
        raise UsageError(
            f"{f.ref}: nothing written: "
            + "; ".join(
                f"{section} could not be read ({why})" for section, why in sorted(f.unreadable.items())
            )
        )
    if not (f.binaries or f.dists or f.packages):
        raise UsageError(
            f"{f.ref}: nothing to pin (no binary of the contract, Python distribution or dpkg package found)"
        )
    base = api.base_kind_of(f.labels)
    source = _contract_dir(contract)
    try:
        model = api.load_contract(source, f.arch, base)
    except api.ExpectationsError as exc:
        raise UsageError(str(exc)) from None
    directory.mkdir(parents=True, exist_ok=True)
    for arch in ARCH_FILES:
        if arch != f.arch:
            (directory / f"{arch}.yaml").unlink(missing_ok=True)
    common.write_text(overlay(f, contract_ref(source, directory), model, base), encoding="utf-8")
    (directory / f"{f.arch}.yaml").write_text(
        f"# {f.arch}: nothing beyond common.yaml (a snapshot is of one image, of one arch).\n",
        encoding="utf-8",
    )
    shutil.copyfile(api.SCHEMA_PATH, directory / "schema.json")
    try:
        merged = api.load_contract(directory, f.arch, base)
    except api.ExpectationsError as exc:
        raise AssertionError(f"devbox snapshot wrote an overlay the loader refuses: {exc}") from None
    lost = weakened(model, merged)
    if lost:
        raise AssertionError(f"devbox snapshot wrote an overlay that weakens the contract: {'; '.join(lost)}")
    return common
