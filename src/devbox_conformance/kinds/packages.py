"""packages: the distro (dpkg) package is installed, as dpkg's own database records it.

Why beside `binaries`: the image's real contract is its apt package sets, and a binary check only sees the
commands a package provides. A library or -dev package (headers, pkg-config files, shared objects that pip
builds link against) can go missing without any command disappearing; only dpkg's record shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

DPKG_STATUS_PATH = "/var/lib/dpkg/status"


@dataclass(frozen=True, kw_only=True)
class Package(Item):
    """A distro (dpkg) package of the image's apt package sets.

    Why a kind of its own: `binaries` only sees the commands a package provides, so a library or -dev
    package (headers, pkg-config files) missing from the image went unnoticed. No version field: the sets
    pin none, and the archive decides which one a build gets.
    """

    # dpkg package name, optionally `name:arch` (e.g. libc6:amd64) for one architecture of a multi-arch one.
    name: str


EXPECTED = "installed (status install ok installed)"
# dpkg's Status is "<want> <flag> <status>". Installed: status `installed` with flag `ok`; the want is
# `install`, or `hold` when `apt-mark hold` keeps it at its version (still installed).
_INSTALLED_WANTS = ("install", "hold")
# Status words that mean the package is not there at all (an optional item then skips): removed with its
# configuration kept, or only known to dpkg. Other states (unpacked, half-configured, ...) are a broken
# package, which fails even when optional.
_ABSENT_STATUSES = ("not-installed", "config-files")


def is_installed(status: str) -> bool:
    """True for `install ok installed` and `hold ok installed`."""
    words = status.split()
    return len(words) == 3 and words[0] in _INSTALLED_WANTS and words[1:] == ["ok", "installed"]


def _status_word(status: str) -> str:
    words = status.split()
    return words[-1] if words else ""


def _describe(record: dict[str, Any], with_arch: bool) -> str:
    """`status deinstall ok config-files`, prefixed by the architecture when there are several."""
    text = f"status {record.get('status') or 'missing'}"
    return f"{record.get('architecture') or '?'}: {text}" if with_arch else text


def evaluate(item: Package, ctx: Context) -> Outcome:
    error = ctx.facts.get("packages_error")
    if error:
        return Outcome.failed(EXPECTED, str(error))
    records: list[dict[str, Any]] | None = (ctx.facts.get("packages") or {}).get(item.name)
    if records is None:
        return Outcome.failed(EXPECTED, "not probed (the probe was not asked for it)")
    if not records:
        return Outcome.failed(EXPECTED, "no such package", absent=True)
    for record in records:
        if is_installed(record.get("status", "")):
            return Outcome.passed(" ".join(str(record.get(k) or "?") for k in ("version", "architecture")))
    found = "; ".join(_describe(r, len(records) > 1) for r in records)
    absent = all(_status_word(r.get("status", "")) in _ABSENT_STATUSES for r in records)
    return Outcome.failed(EXPECTED, f"not installed ({found})", absent=absent)


def request(items: Sequence[Package]) -> dict[str, Any]:
    """Read from dpkg's status file in one pass; nothing is read when the contract names no package."""
    return {"packages": [p.name for p in items], "dpkg_status": DPKG_STATUS_PATH}


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = (
    "Distro packages that must be installed: the dpkg database (/var/lib/dpkg/status) records them with "
    "Status 'install ok installed' (or 'hold ok installed')."
)
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "dpkg package name as in packages/apt/*.txt (e.g. libx11-dev); `name:arch` "
        "(e.g. libc6:amd64) asks for that architecture of a multi-arch package. No "
        "version: the sets pin none.",
        "type": "string",
        "pattern": "^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$",
    }
}


KIND = Kind(
    section="packages",
    report_order=20,
    key="name",
    argname="package",
    test="test_package",
    item=Package,
    evaluate=evaluate,
    request=request,
    gatherer="packages",
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
