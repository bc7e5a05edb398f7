"""One ssh master per host of a run: the hello and the probe share a connection.

Each ssh host costs a hello and a probe; with a ControlPath the probe reuses the hello's connection (no
second key exchange). The sockets live in the run's temp dir, or in a short dir beside it when that path
is too long for a unix socket (`ssh_socket_dir`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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


def with_ssh_multiplexing(connection: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
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
