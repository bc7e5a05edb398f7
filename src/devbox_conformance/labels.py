"""The label vocabulary: what the suite writes on its containers and reads from an image's labels.

Containers: every one the suite starts carries the run id, its lease, its owner (information only) and the
run group (`run_labels`); the reaper and a CI job's clean-up filter on them. Images: the base kind
(ngc/standin/other) is read from the image's own labels (`base_kind_from_labels`).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

# Label every container the suite starts carries; its value is the run id.
CONTAINER_LABEL = "io.github.gpu-devbox.conformance"
# Label with the owner of a container (`owner_label`; information only).
OWNER_LABEL = f"{CONTAINER_LABEL}.owner"
# Label with the container's lease in seconds: the reaper judges each container by its own lease.
LEASE_LABEL = f"{CONTAINER_LABEL}.lease-s"
# Label with the run group (DEVBOX_RUN_GROUP): what a CI job's clean-up filters on.
GROUP_LABEL = f"{CONTAINER_LABEL}.group"
GROUP_ENV = "DEVBOX_RUN_GROUP"

BASE_KIND_LABEL = "io.github.gpu-devbox.base-kind"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_KINDS = ("ngc", "standin", "other")


def new_run_id() -> str:
    """A run's id: the value of CONTAINER_LABEL on its containers and part of their names."""
    return uuid.uuid4().hex[:12]


def run_labels(run_id: str, lease_s: float) -> list[str]:
    """`run` options that label a container as this run's: run id, lease, owner (information), group."""
    labels = [
        f"{CONTAINER_LABEL}={run_id}",
        f"{LEASE_LABEL}={int(lease_s)}",
        f"{OWNER_LABEL}={owner_label()}",
    ]
    group = os.environ.get(GROUP_ENV, "").strip()
    if group:
        labels.append(f"{GROUP_LABEL}={group}")
    return [arg for label in labels for arg in ("--label", label)]


def owner_label() -> str:
    """This process as an owner label value, for a person reading `docker ps` or a run dir.

    "<hostname>:<pid>:<start time>:pidns=<pid namespace>": the namespace says whose pid it is. Information
    only: a pid is not visible from another pid namespace (or under `hidepid`), so liveness is never
    decided on it (see lease.py). The fourth field also keeps an older suite's reaper, which judged
    `host:pid:start` by the pid, away from this run's containers and dirs.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}:pidns={_pid_namespace()}"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]") or "?"
    except OSError:
        return "?"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def image_labels(attrs: dict[str, Any] | None) -> dict[str, str]:
    """An image's labels from its inspect document (empty when it has none)."""
    if not attrs:
        return {}
    return dict((attrs.get("Config") or {}).get("Labels") or {})


def base_kind_from_labels(labels: dict[str, str]) -> str | None:
    """ngc/standin/other from the image's labels, None when they say nothing."""
    kind = labels.get(BASE_KIND_LABEL)
    if kind in BASE_KINDS:
        return kind
    name = labels.get(BASE_NAME_LABEL, "")
    if name.startswith("nvcr.io/nvidia/pytorch"):
        return "ngc"
    if name.startswith("gpu-devbox-base:"):
        return "standin"
    return "other" if name else None
