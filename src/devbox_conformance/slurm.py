"""Drain and resume a Slurm node from its health check, the way NHC does: a failed check drains the node with
a reason that says what failed, and only a node this check drained is resumed when it is healthy again.

    drain_or_resume("gpu017", "node[count] 7 GPU(s) (expected exactly 8 GPU(s))")   # -> "drained gpu017: …"
    drain_or_resume("gpu017", None)                                                   # -> "resumed gpu017"

Why the reason prefix is the mark: Slurm keeps who drained a node only as free text; an administrator's
drain (maintenance, an RMA) must never be undone by a green health check.
"""

from __future__ import annotations

import re
import shutil

from devbox_conformance.localrun import run_command

REASON_PREFIX = "devbox:"
# Slurm shows long reasons whole, but they are read in `sinfo -R` columns: keep them to one glance.
REASON_MAX = 200
SCONTROL_TIMEOUT_S = 20.0


class SlurmError(Exception):
    """scontrol is missing or refused: one line."""


def _scontrol(*args: str) -> str:
    exe = shutil.which("scontrol")
    if exe is None:
        raise SlurmError("scontrol not found on PATH (is this a Slurm node?)")
    result = run_command([exe, *args], timeout=SCONTROL_TIMEOUT_S)
    if result.exit_code != 0:
        last = (result.stderr or result.stdout).strip().splitlines()
        raise SlurmError(
            f"scontrol {' '.join(args[:2])} exited {result.exit_code}: {last[-1] if last else ''}"
        )
    return result.stdout


def node_state(node: str) -> tuple[set[str], str]:
    """({IDLE, DRAIN, …}, reason) of `node` as slurmctld sees it."""
    out = _scontrol("show", "node", node, "-o")
    state = re.search(r"\bState=(\S+)", out)
    reason = out.split(" Reason=", 1)[1].strip() if " Reason=" in out else ""
    reason = re.sub(r"\s*\[[^\]]*@[^\]]*\]\s*$", "", reason)
    return set(state.group(1).split("+")) if state else set(), reason


def reason_text(what: str) -> str:
    text = " ".join(f"{REASON_PREFIX} {what}".split())
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def drain_or_resume(node: str, failure: str | None) -> str | None:
    """Drain `node` with `failure`, or resume it when `failure` is None and this check drained it.

    Returns what was done (one line) or None when nothing was.
    """
    states, reason = node_state(node)
    drained = bool(states & {"DRAIN", "DRAINING", "DRAINED"})
    ours = reason.startswith(REASON_PREFIX)
    if failure is not None:
        wanted = reason_text(failure)
        if drained and not ours:
            return f"{node} is already drained by someone else ({reason or 'no reason'}); left as it is"
        if drained and reason == wanted:
            return None
        _scontrol("update", f"NodeName={node}", "State=DRAIN", f"Reason={wanted}")
        return f"drained {node}: {wanted}"
    if drained and ours:
        _scontrol("update", f"NodeName={node}", "State=RESUME")
        return f"resumed {node} (it was drained by this check: {reason})"
    return None
