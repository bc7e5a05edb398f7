"""Write the base image's ``pip freeze`` as a pip constraints file (stdlib only).

Example::

    python3 -B base_constraints.py --output /opt/devbox/base-constraints.txt

Every later ``pip install`` passes the file with ``--constraint``, and ``install_pip.py`` fails the build
when a set changed the installed version of any name pinned here. So every package of the base must be
pinned, including the ones pip cannot write as ``name==version`` in a freeze: NGC installs torch and its
companions from local wheels, and its freeze says ``torch @ file:///opt/transfer/torch-...whl``. A
direct reference is not a valid constraint, so such a line (and an editable install whose name is known)
becomes ``name==<the version importlib.metadata reports as installed>``; a version that is not PEP 440
is pinned with ``===`` (exact string). A line whose name cannot be read is dropped and listed in the
file's header. NGC's own ``/etc/pip/constraint.txt`` (applied by pip through ``PIP_CONSTRAINT``) is empty
from 25.10 on, so it is never relied on; what it holds is only reported.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

NGC_CONSTRAINTS = Path("/etc/pip/constraint.txt")
# Name and version of a plain freeze line ("numpy==2.1.0").
_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*===?\s*(?P<version>\S+)$")
# A direct reference: "torch @ file:///...", "pkg[extra] @ https://...".
_DIRECT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*@\s*\S")
# pip's note above an editable install without VCS: "# Editable install with no version control (x==1)".
_EDITABLE_NOTE = re.compile(r"\((?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==[^)]*\)")
_EGG = re.compile(r"[#&]egg=(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")
# PEP 440 public and local versions (case-insensitive, as pip reads them).
_PEP440 = re.compile(
    r"^v?(\d+!)?\d+(\.\d+)*"
    r"([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"((-\d+)|([-_.]?(post|rev|r)[-_.]?\d*))?"
    r"([-_.]?dev[-_.]?\d*)?"
    r"(\+[a-z0-9]+([-_.][a-z0-9]+)*)?$",
    re.IGNORECASE,
)


def normalize(name: str) -> str:
    """PEP 503 name: ``normalize("Huggingface_Hub") == "huggingface-hub"``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> dict[str, str]:
    """{normalized name: version} of this interpreter's distributions; the first on sys.path wins."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist.version)
    return found


def pin(name: str, version: str) -> str:
    """``name==version``, or ``name===version`` for a version PEP 440 cannot order."""
    return f"{name}{'==' if _PEP440.match(version) else '==='}{version}"


def _reference_name(text: str, note: str) -> str | None:
    """The distribution name of a direct-reference or editable freeze line, or None."""
    direct = _DIRECT.match(text)
    if direct:
        return direct.group("name")
    if text.startswith("-e"):
        egg = _EGG.search(text)
        if egg:
            return egg.group("name")
        remembered = _EDITABLE_NOTE.search(note)
        return remembered.group("name") if remembered else None
    return None


def constraints(frozen: list[str], installed: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(constraint lines, freeze lines pinned at their installed version, freeze lines dropped).

    A direct reference whose name has no installed version is an error: the freeze says it is there, so
    a missing version means this step cannot see what it must protect, and the build stops.
    """
    kept: list[str] = []
    resolved: list[str] = []
    dropped: list[str] = []
    note = ""
    for raw in frozen:
        text = raw.strip()
        if not text:
            continue
        if text.startswith("#"):
            note = text
            continue
        plain = _PINNED.match(text)
        if plain:
            kept.append(pin(plain.group("name"), plain.group("version")))
            note = ""
            continue
        name = _reference_name(text, note)
        note = ""
        if name is None:
            dropped.append(text)
            continue
        version = installed.get(normalize(name))
        if version is None:
            raise SystemExit(
                f"base_constraints: cannot pin {name}: pip freeze lists it ({text}) but "
                "importlib.metadata reports no installed version"
            )
        kept.append(pin(name, version))
        resolved.append(text)
    return kept, resolved, dropped


def describe_ngc_file(path: Path) -> str:
    """One line on NGC's own constraints file, for the header and the build log."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"{path}: absent"
    except OSError as err:
        return f"{path}: unreadable ({err.strerror})"
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return f"{path}: empty (as NGC ships it from 25.10 on); the pins below protect the base"
    return f"{path}: {len(lines)} lines, applied by pip through PIP_CONSTRAINT besides the pins below"


def render(kept: list[str], resolved: list[str], dropped: list[str], ngc_line: str) -> str:
    header = [
        f"# pip freeze of the base image ({sys.executable}), written before any package set.",
        "# Passed to every pip install of the build with --constraint: base packages are never replaced.",
        f"# {ngc_line}",
        *(f"# pinned at its installed version: {line}" for line in resolved),
        *(f"# dropped (no name to pin): {line}" for line in dropped),
    ]
    return "\n".join([*header, *kept]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--ngc-constraints", type=Path, default=NGC_CONSTRAINTS)
    args = parser.parse_args(argv)
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    kept, resolved, dropped = constraints(frozen, installed_versions())
    ngc_line = describe_ngc_file(args.ngc_constraints)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(kept, resolved, dropped, ngc_line), encoding="utf-8")
    print(
        f"devbox: {args.output}: {len(kept)} constraints ({len(resolved)} pinned at their installed "
        f"version from direct references), {len(dropped)} lines dropped; {ngc_line}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
