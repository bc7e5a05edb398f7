"""`devbox snapshot IMG`: an expectations overlay that pins what a known-good image has.

The contract says what any devbox must have; a snapshot says what THIS release had, as a floor for the
next: every binary of the contract the image has at `>=` its version, every Python distribution at `>=`
its version (imports are the contract's business, not repeated here), every installed dpkg package. A later
image that lost a package or went down in a version fails it; one that only moved up passes.

The overlay is a directory the suite loads as it is (`pytest --image NEW --expectations DIR`): common.yaml
with the pinned items, an empty `<arch>.yaml` (the loader wants one per arch) and the schema beside them
for editor completion. Its header names the image, its digest and its date, and the contract it pins
beside (`# extends:` as a comment: as the real key, the snapshot's `import: false` on every distribution
would switch off the contract's import checks for the distributions both name).

    >>> write(Path("snapshots/2026.11"), facts, contract=Path("expectations"))
    PosixPath('snapshots/2026.11/common.yaml')
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


def overlay(f: ImageFacts, contract: str) -> str:
    """common.yaml of the snapshot of `f` (pure; deterministic for one image)."""
    binaries = []
    for name, version in f.binaries.items():
        lines = [f"  - name: {_q(name)}"]
        floor = _floor(version) if version else None
        if floor:
            lines.append(f"    version: {_q('>=' + floor)}")
            args = f.binary_args.get(name, DEFAULT_VERSION_ARGS)
            if args != DEFAULT_VERSION_ARGS:
                lines.append(f"    version_args: [{', '.join(_q(a) for a in args)}]")
            if name in f.binary_regex:
                lines.append(f"    version_regex: {_q(f.binary_regex[name])}")
        binaries.append("\n".join(lines))
    dists = []
    for name, version in f.dists.items():
        floor = _floor(version)
        lines = [f"  - name: {_q(name)}"]
        if floor:
            lines.append(f"    min_version: {_q(floor)}")
        lines.append("    import: false")
        dists.append("\n".join(lines))
    packages = [f"  - name: {_q(name)}" for name in f.packages]
    pinned_bins = sum(1 for v in f.binaries.values() if v and _floor(v))
    pinned_dists = sum(1 for v in f.dists.values() if _floor(v))
    header = [
        "# yaml-language-server: $schema=./schema.json",
        f"# Snapshot of {f.ref} ({f.arch}), written by `devbox snapshot`.",
        f"#   image id: {f.image_id}",
        f"#   digest:   {f.digest or 'none (built here: never pushed or pulled)'}",
        f"#   created:  {f.created}",
        f"# extends: {contract}",
        "#   (a note, not the key: under a real `extends:` the `import: false` below would replace the",
        "#   contract's import checks; run this directory beside the contract, not instead of it)",
        "# A floor for the next release, beside the contract it extends: "
        f"{len(f.binaries)} binaries ({pinned_bins} at >= their version),",
        f"# {len(f.dists)} Python distributions ({pinned_dists} at >= their version), "
        f"{len(f.packages)} dpkg packages installed.",
        "# Check an image against it: pytest --image IMAGE --expectations THIS_DIRECTORY",
    ]
    body = []
    for kind, items in (("binaries", binaries), ("python_dists", dists), ("packages", packages)):
        if items:
            body += ["", f"{kind}:", *items]
    return "\n".join(header + body) + "\n"


def write(directory: Path, f: ImageFacts, contract: str, *, force: bool = False) -> Path:
    """Write the overlay directory; refuse to replace an existing snapshot unless `force`.

    A snapshot of facts with an unreadable section is refused: it would pin nothing there, and the check
    against it would pass an image that lost every package.

    What is written is loaded back with the suite's own loader (schema and all) before this returns, so a
    snapshot that the suite would refuse never stays on disk.
    """
    from devbox_conformance import expectations as exp  # noqa: PLC0415 - suite deps on demand

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
    directory.mkdir(parents=True, exist_ok=True)
    for arch in ARCH_FILES:
        if arch != f.arch:
            (directory / f"{arch}.yaml").unlink(missing_ok=True)
    common.write_text(overlay(f, contract), encoding="utf-8")
    (directory / f"{f.arch}.yaml").write_text(
        f"# {f.arch}: nothing beyond common.yaml (a snapshot is of one image, of one arch).\n",
        encoding="utf-8",
    )
    shutil.copyfile(exp.SCHEMA_PATH, directory / "schema.json")
    try:
        exp.load(directory, f.arch, "other")
    except exp.ExpectationsError as exc:
        raise AssertionError(f"devbox snapshot wrote an overlay the loader refuses: {exc}") from None
    return common
