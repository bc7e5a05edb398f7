"""Which files make a contract: the shipped one, its profiles, `extends:` chains and arch/base overlays.

Why apart from the loader: the harness, the node check and the diff tool ask which files a contract is made
of (or where the shipped one is) without loading it.
"""

from __future__ import annotations

from pathlib import Path

from devbox_conformance.yamlfile import ExpectationsError, display, line_of, read

# The contract this package ships (the checkout's expectations/, carried in the wheel).
SHIPPED_DIR = Path(__file__).resolve().parent / "default_expectations"
# `extends:` names the shipped contract with this word; anything else is a directory path.
SHIPPED_NAME = "gpu-devbox"
# Shipped profiles beside the image contract (`extends: gpu-node`, `--expectations=gpu-node`).
PROFILES_DIR = SHIPPED_DIR / "profiles"
_MAX_EXTENDS_DEPTH = 8


def shipped(name: str) -> Path | None:
    """The shipped contract (`gpu-devbox`) or a shipped profile (`gpu-node`) by name, else None."""
    if name == SHIPPED_NAME:
        return SHIPPED_DIR
    if name and "/" not in name and (PROFILES_DIR / name / "common.yaml").is_file():
        return PROFILES_DIR / name
    return None


def profile_names() -> list[str]:
    return sorted(p.parent.name for p in PROFILES_DIR.glob("*/common.yaml"))


def extends_of(directory: Path) -> Path | None:
    """The directory `common.yaml` of `directory` extends (`extends: gpu-devbox` or a path), if any.

    Why only common.yaml: one place says what a contract builds on, so the arch and base overlays of both
    directories apply in a fixed order (the base's first, then the extending directory's).
    """
    common = directory / "common.yaml"
    data, node = read(common)
    if not isinstance(data, dict) or "extends" not in data:
        return None
    value = data["extends"]
    line = line_of(node, ["extends"])
    if not isinstance(value, str) or not value.strip():
        raise ExpectationsError(
            f"{display(common)}:{line}: extends: expected '{SHIPPED_NAME}', a shipped profile "
            f"({', '.join(profile_names())}) or a directory path, got {value!r}"
        )
    target = shipped(value.strip()) or (directory / value.strip()).resolve()
    if not (target / "common.yaml").is_file():
        raise ExpectationsError(f"{display(common)}:{line}: extends: {value!r}: no common.yaml in {target}")
    return target


def overlay_files(directory: Path, arch: str, base_kind: str, _depth: int = 0) -> list[Path]:
    """The files merged for (arch, base_kind), in order; raises when a required one is missing.

    A directory that `extends:` another contributes its files after that contract's. A directory needs the
    overlay of `arch` when it has any `<arch>.yaml` (or is the shipped contract); with none it is
    arch-neutral (an extending one's arch overlays are then the extended contract's).
    """
    common = directory / "common.yaml"
    if not directory.is_dir():
        raise ExpectationsError(f"{display(directory)}: expectations directory not found")
    if not common.is_file():
        raise ExpectationsError(f"{display(common)}: not found (every expectations directory needs one)")
    parent = extends_of(directory)
    if parent is not None and _depth >= _MAX_EXTENDS_DEPTH:
        raise ExpectationsError(
            f"{display(common)}:1: extends: more than {_MAX_EXTENDS_DEPTH} levels (a cycle?)"
        )
    inherited = overlay_files(parent, arch, base_kind, _depth + 1) if parent is not None else []
    arch_file = directory / f"{arch}.yaml"
    files = [*inherited, common]
    # waivers.yaml lives beside the contract (the suite and devbox-node-check find it there): not an overlay.
    have = sorted(p.stem for p in directory.glob("*.yaml") if p.stem not in ("common", "waivers"))
    if arch_file.is_file():
        files.append(arch_file)
    elif have or (parent is None and directory.resolve() == SHIPPED_DIR):
        # A contract that describes arches must describe this one, whether or not it extends another (a
        # snapshot has only the overlay of the arch it was taken on, and must not judge another); one with
        # no overlay at all (a team's arch-neutral common.yaml) is the same on every arch. The shipped
        # contract always has them.
        raise ExpectationsError(
            f"{display(arch_file)}: no overlay for arch {arch!r} (overlays: {', '.join(have) or 'none'})"
        )
    base_file = directory / "bases" / f"{base_kind}.yaml"
    if base_file.is_file():
        files.append(base_file)
    return files
