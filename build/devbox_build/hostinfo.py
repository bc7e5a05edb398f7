"""Fail-soft facts about the host that several commands report: binfmt/QEMU and the NVIDIA toolkit.

Example:
    binfmt_status("amd64")  # -> ("ok", "qemu-aarch64 registered (flags: F)")
"""

from __future__ import annotations

from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# host arch -> the foreign arch it would emulate, and the binfmt handler name for it
_FOREIGN = {"amd64": ("arm64", "qemu-aarch64"), "arm64": ("amd64", "qemu-x86_64")}


def binfmt_status(host: str, root: Path = BINFMT) -> tuple[bool, str]:
    """(can run the other arch's binaries?, explanation) from /proc/sys/fs/binfmt_misc."""
    foreign, handler = _FOREIGN[host]
    entry = root / handler
    try:
        text = entry.read_text()
    except FileNotFoundError:
        return False, (
            f"no {handler} binfmt handler: {foreign} builds will fail; install qemu-user-static "
            f"and binfmt-support, or `docker run --privileged --rm tonistiigi/binfmt --install all`"
        )
    except OSError as exc:
        return False, f"cannot read {entry}: {exc.strerror}"
    enabled = text.splitlines()[0].strip() == "enabled" if text else False
    flags = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("flags:")), "")
    if not enabled:
        return False, f"{handler} is registered but disabled (update-binfmts --enable {handler})"
    note = "" if "F" in flags else " (no F flag: the interpreter must exist inside containers)"
    return True, f"{handler} enabled, flags {flags or 'none'}{note}"
