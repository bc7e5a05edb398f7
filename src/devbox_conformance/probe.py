"""Run THE probe once in a target and return its facts.

    >>> facts = collect_facts(Target.from_spec("local://", name="local", kind="local", arch="amd64"),
    ...                       build_request(model))
    >>> facts["binaries"]["rg"]["path"]
    '/usr/bin/rg'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devbox_conformance.expectations import Expectations
from devbox_conformance.target import RunResult, Target

PROBE_SOURCE = Path(__file__).with_name("probe_script.py").read_text(encoding="utf-8")
MANIFEST_PATH = "/etc/devbox/build-manifest.json"
DPKG_STATUS_PATH = "/var/lib/dpkg/status"


class ProbeError(Exception):
    """The probe could not run in the target; str() is one line."""


def build_request(model: Expectations) -> dict[str, Any]:
    """What the probe must gather for these expectations (everything, regardless of `when:`)."""
    files: dict[str, bool] = {}
    for f in model.files_:
        files[f.path] = files.get(f.path, False) or f.content is not None
    files.setdefault(MANIFEST_PATH, False)
    imports = [d.import_name for d in model.python_dists if d.import_name]
    # torch first: every later import that needs it finds it loaded in the same child interpreter.
    imports.sort(key=lambda m: (m != "torch", model.python_dists.index(
        next(d for d in model.python_dists if d.import_name == m))))
    return {
        "binaries": [{"name": b.name, "version_args": list(b.version_args) if b.version or b.version_regex
                      else [], "timeout": 30} for b in model.binaries],
        "imports": list(dict.fromkeys(imports)),
        "import_timeout": max([d.import_timeout for d in model.python_dists] or [120.0]),
        # Children importing side by side: at most this many, never more than the target's CPUs.
        "import_workers": 4,
        "files": [{"path": p, "content": c} for p, c in files.items()],
        "users": [u.name for u in model.users],
        "groups": [g.name for g in model.groups],
        # Read from dpkg's status file in one pass; nothing is read when the contract names no package.
        "packages": [p.name for p in model.packages],
        "dpkg_status": DPKG_STATUS_PATH,
        "shells": [{"name": s.name, "shell": s.shell, "login": s.login, "interactive": s.interactive,
                    "aliases": list(s.aliases), "timeout": 60} for s in model.shells],
        "manifest": MANIFEST_PATH,
    }


def collect_facts(target: Target, request: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run the probe in `target` (one call through its transport); ProbeError with one line when it cannot."""
    result = target.run_python(PROBE_SOURCE, [json.dumps(request)], timeout=timeout)
    if result.exit_code != 0:
        raise ProbeError(f"the probe failed in {target.where} (exit {result.exit_code}){_tail(result)}")
    try:
        facts = json.loads(result.stdout)
    except ValueError:
        raise ProbeError(f"the probe printed no JSON in {target.where}: {result.stdout[-300:]!r}") from None
    return facts


def tail_line(result: RunResult) -> str:
    """The last non-empty line a command printed (stderr first), for one-line messages."""
    lines = [ln for ln in (result.stderr or result.stdout).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "no output"


def _tail(result: RunResult) -> str:
    lines = [ln for ln in (result.stderr or result.stdout).strip().splitlines() if ln.strip()]
    return f": {lines[-1][:300]}" if lines else ""


def conditions(facts: dict[str, Any], arch: str, base_kind: str) -> dict[str, Any]:
    """Facts of the target that `when:` may name."""
    manifest = facts.get("manifest") or {}
    sets = manifest.get("sets") if isinstance(manifest, dict) else None
    included = None
    excluded: dict[str, str] = {}
    if isinstance(sets, dict):
        included = [name for name, s in sets.items() if isinstance(s, dict) and s.get("included")]
        excluded = {name: str(s.get("reason") or "not included")
                    for name, s in sets.items() if isinstance(s, dict) and not s.get("included")}
    return {"arch": arch, "cuda": (facts.get("torch") or {}).get("cuda"),
            "gpu": bool((facts.get("gpu") or {}).get("visible")), "sets": included, "sets_excluded": excluded,
            "base": base_kind}
