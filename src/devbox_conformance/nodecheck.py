"""`devbox-node-check`: the node profile on the machine it runs on, without pytest: fast enough for a
Slurm `HealthCheckProgram` (one probe, no GPU compute; Slurm kills a health check at 60 s), and the same
results document the suite writes, so `devbox fleet-report` reads a fleet job's output either way.

    devbox-node-check                              # the shipped profile's `node` items; exit 0 / 1
    devbox-node-check --slurm                      # ... and drain this node with the reason, or resume it
    srun -N "$SLURM_NNODES" devbox-node-check --results-json "$DIR/%n.json"   # a fleet job

Why not the plugin: a health check runs every few minutes on every node; pytest's start-up and collection
are most of a second of the few the check may take, and nothing here needs a fixture or a report hook. The
data path is the suite's own: expectations -> the one probe -> facts -> the kinds' checks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devbox_conformance import expectations as exp
from devbox_conformance import nodewaivers, probe, slurm
from devbox_conformance import waivers as wv
from devbox_conformance.arch import normalize_arch
from devbox_conformance.kinds import all_kinds, verdict
from devbox_conformance.kinds import node as node_kind
from devbox_conformance.localrun import run_command
from devbox_conformance.target import pack_python

PROFILE_DIR = exp.PROFILES_DIR / "gpu-node"
# The health check's kinds: facts of the node only (the `gpu` items compute on every GPU).
HEALTH_KINDS = ("node",)
# Seconds the probe may take: every nvidia-smi call runs side by side under its own 20 s limit.
PROBE_TIMEOUT_S = 45.0
EXIT_OK, EXIT_RED, EXIT_USAGE = 0, 1, 2


class NodeCheckError(Exception):
    """A problem the user can fix (bad expectations, an unknown kind): one line, exit 2."""


@dataclass(frozen=True)
class Verdict:
    kind: str
    key: str
    test: str
    status: str
    message: str

    @property
    def short(self) -> str:
        """`node[count] 7 GPU(s) (expected exactly 8 GPU(s))`: what a Slurm reason has room for."""
        lines = {
            ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip()
            for ln in self.message.splitlines()
            if ":" in ln
        }
        found, expected = lines.get("found"), lines.get("expected")
        if found is None:
            return f"{self.kind}[{self.key}] {self.message.splitlines()[0] if self.message else 'failed'}"
        # A failure a waiver no longer covers says so in the drain reason: someone's promise ran out.
        expired = "waiver expired: " if self.message.startswith("waiver expired on") else ""
        return f"{self.kind}[{self.key}] {expired}{found}" + (f" (expected {expected})" if expected else "")


def _base_kind() -> str:
    try:
        data = json.loads(Path(probe.MANIFEST_PATH).read_text())
    except (OSError, ValueError):
        return "other"
    return str((data.get("base") or {}).get("kind") or "other") if isinstance(data, dict) else "other"


def run_probe(model: exp.Expectations, kinds: Sequence[str], timeout: float) -> dict[str, Any]:
    """The suite's probe in a child `python3`, asked only for what `kinds` need."""
    chosen = [k for k in all_kinds() if k.section in kinds]
    request: dict[str, Any] = {}
    for kind in chosen:
        request.update(kind.request(model.items(kind.section)))
    request["gatherers"] = list(dict.fromkeys(k.gatherer for k in chosen if k.gatherer))
    request["manifest"] = probe.MANIFEST_PATH
    argv = pack_python(probe.PROBE_SOURCE, [json.dumps(request)])
    argv[0] = os.environ.get("DEVBOX_NODE_CHECK_PYTHON", sys.executable or "python3")
    result = run_command(argv, timeout=timeout)
    if result.exit_code != 0:
        raise probe.ProbeError(
            f"the probe failed on this node (exit {result.exit_code}): {probe.tail_line(result)}"
        )
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise probe.ProbeError(f"the probe printed no JSON: {result.stdout[-300:]!r}") from None


def check(
    directory: Path, kinds: Sequence[str], timeout: float = PROBE_TIMEOUT_S
) -> tuple[list[Verdict], str, str, wv.Scope]:
    """(verdicts, arch, base kind, waiver scope) of this machine against `directory`, `kinds` only."""
    arch = normalize_arch(platform.machine())
    base_kind = _base_kind()
    try:
        model = exp.load(directory, arch, base_kind)
    except exp.ExpectationsError as exc:
        raise NodeCheckError(str(exc)) from None
    known = {k.section for k in all_kinds()}
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise NodeCheckError(f"--kinds: unknown kind(s) {unknown} (known: {', '.join(sorted(known))})")
    if not any(model.items(k) for k in kinds):
        raise NodeCheckError(f"{directory}: no item of kind(s) {', '.join(kinds)} to check")
    facts = run_probe(model, kinds, timeout)
    asked = node_kind.asks_for_gpus(model.items("node"))
    ctx = verdict.Context(
        facts=facts,
        conditions={**probe.conditions(facts, arch, base_kind), "gpus_required": asked},
        target_kind="local",
        image_attrs=None,
    )
    verdicts = []
    for kind in all_kinds():
        if kind.section not in kinds:
            continue
        for item in model.items(kind.section):
            outcome = verdict.verify(kind.section, item, ctx)
            verdicts.append(
                Verdict(kind.section, item.key, f"{kind.test}[{item.key}]", outcome.status, outcome.message)
            )
    return verdicts, arch, base_kind, wv.scope_of(arch, None, facts)


def results_document(
    node: str,
    verdicts: Sequence[Verdict],
    exit_status: int,
    arch: str | None,
    base_kind: str | None,
    error: str | None,
    stale_waivers: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The suite's results document (schema 2) for one local host."""
    totals = {k: 0 for k in ("passed", "failed", "skipped", "error", "waived")}
    counts: dict[str, dict[str, int]] = {}
    for v in verdicts:
        totals[v.status] += 1
        counts.setdefault(v.kind, {k: 0 for k in totals})[v.status] += 1
    return {
        "schema_version": 2,
        "arch": arch,
        "base_kind": base_kind,
        "target_kind": "local",
        "image": None,
        "container": None,
        "runner": "devbox-node-check",
        "node": node,
        "error": error,
        "hosts": [
            {
                "name": node,
                "spec": "local://",
                "kind": "local",
                "arch": arch,
                "error": error,
                "totals": totals,
            }
        ],
        "exit_status": exit_status,
        "counts": counts,
        "totals": totals,
        "items": [
            {
                "nodeid": f"devbox-node-check::{v.test}",
                "name": v.test,
                "host": node,
                "kind": v.kind,
                "key": v.key,
                "outcome": v.status,
                "message": v.message,
                "records": {},
                "duration_s": 0.0,
            }
            for v in verdicts
        ],
        "stale_waivers": list(stale_waivers),
    }


def write_atomically(path: Path, text: str) -> None:
    """Readers (a fleet report, CI) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def node_name(given: str | None) -> str:
    """--node, else the name slurmd runs this node under, else the short host name."""
    return given or os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="devbox-node-check",
        description="Check this machine against the GPU node profile (no GPU compute). Exit 0: healthy; "
        "1: an item failed (with --slurm the node is drained with the reason); 2: a usage error.",
    )
    p.add_argument(
        "--expectations",
        type=Path,
        default=PROFILE_DIR,
        metavar="DIR",
        help="a shipped profile by name (gpu-node) or a team's directory that extends it (default: gpu-node)",
    )
    p.add_argument(
        "--kinds",
        default=",".join(HEALTH_KINDS),
        metavar="K,K",
        help="kinds of items to check (default: %(default)s; `node,gpu` adds compute on every GPU)",
    )
    p.add_argument(
        "--results-json",
        default=None,
        metavar="PATH",
        help="write the suite's results document here (`%%n` becomes the node name), atomically",
    )
    p.add_argument(
        "--node", default=None, help="this node's name (default: $SLURMD_NODENAME, else hostname -s)"
    )
    p.add_argument(
        "--slurm",
        action="store_true",
        help="drain this node when an item fails (reason `devbox: …`), and resume it when healthy again if "
        "this check drained it; nodes drained by anyone else are left as they are",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=PROBE_TIMEOUT_S,
        help="seconds the probe may take (default: %(default)s)",
    )
    p.add_argument(
        "--waivers",
        default=None,
        metavar="FILE",
        help="the suite's waivers file (default: waivers.yaml beside the expectations when present): a "
        "waived failure neither fails the check nor drains the node, and is printed as WAIVED",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    return p


def _print_verdicts(verdicts: Sequence[Verdict], stale: Sequence[dict[str, Any]], quiet: bool) -> None:
    for v in verdicts:
        if v.status == "failed" or not quiet:
            print(f"{v.status.upper():7} {v.test}" + (f": {v.short}" if v.status != "passed" else ""))
    for w in stale:
        print(f"STALE   waiver {w['id']} ({w['source']}): {w['why']}")


def _tell_slurm(node: str, verdicts: Sequence[Verdict], error: str | None) -> bool:
    """Drain with the first failure's reason, or resume what this check drained; False when Slurm refused."""
    failed = [v for v in verdicts if v.status == "failed"]
    try:
        action = slurm.drain_or_resume(node, failed[0].short if failed else error)
    except slurm.SlurmError as exc:
        print(f"devbox-node-check: slurm: {exc}", file=sys.stderr)
        return False
    if action:
        print(f"devbox-node-check: {action}", file=sys.stderr)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    started = time.monotonic()
    node = node_name(args.node)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    results = Path(args.results_json.replace("%n", node)) if args.results_json else None
    verdicts: list[Verdict] = []
    stale: list[dict[str, Any]] = []
    arch = base_kind = error = None
    try:
        directory = args.expectations
        if not directory.exists():
            directory = exp.shipped(str(directory)) or directory
        book = nodewaivers.open_book(args.waivers, directory)
        verdicts, arch, base_kind, scope = check(directory, kinds, args.timeout)
        verdicts, stale = nodewaivers.apply(verdicts, book, node, scope)
        status = EXIT_RED if any(v.status == "failed" for v in verdicts) else EXIT_OK
    except (NodeCheckError, wv.WaiverError) as exc:
        error, status = str(exc), EXIT_USAGE
    except probe.ProbeError as exc:
        error, status = str(exc), EXIT_RED
    if results is not None:
        doc = results_document(node, verdicts, status, arch, base_kind, error, stale)
        write_atomically(results, json.dumps(doc, indent=1) + "\n")
    _print_verdicts(verdicts, stale, args.quiet)
    if status == EXIT_USAGE:
        print(f"devbox-node-check: error: {error}", file=sys.stderr)
        return status
    if error:
        print(f"devbox-node-check: failed: {error}", file=sys.stderr)
    if args.slurm and not _tell_slurm(node, verdicts, error):
        return EXIT_USAGE
    if not args.quiet:
        counts = {s: sum(v.status == s for v in verdicts) for s in ("passed", "failed", "skipped", "waived")}
        print(
            f"{node}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
            f"{counts['waived']} waived in {time.monotonic() - started:.2f} s",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
