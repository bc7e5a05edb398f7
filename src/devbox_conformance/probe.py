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
from devbox_conformance.kinds import all_kinds
from devbox_conformance.kinds.packages import DPKG_STATUS_PATH  # noqa: F401 - imported from here
from devbox_conformance.target import RunResult, Target

MANIFEST_PATH = "/etc/devbox/build-manifest.json"
# Name the in-target package is imported under in the target (its modules import each other relatively).
INTARGET_PACKAGE = "devbox_intarget"
INTARGET_DIR = Path(__file__).with_name("intarget")

# The bootstrap run by the target's python3: an importer serving the package's modules from a dict of
# sources (nothing is written to the target's disk), then the probe's main. Python >= 3.8, stdlib only.
_BOOTSTRAP = """\
import importlib.abc, importlib.util, sys
SOURCES = %(sources)r
PACKAGE = %(package)r


class _Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in SOURCES:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=name == PACKAGE)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(SOURCES[module.__name__], "<devbox:%%s>" %% module.__name__, "exec")
        exec(code, module.__dict__)

    def get_source(self, name):
        return SOURCES[name]


sys.meta_path.insert(0, _Sources())
from devbox_intarget.main import main
sys.exit(main(sys.argv))
"""


def probe_source() -> str:
    """One Python source that carries the whole in-target package: run as `python3 -c SOURCE REQUEST`."""
    sources = {}
    for path in sorted(INTARGET_DIR.glob("*.py")):
        name = INTARGET_PACKAGE if path.stem == "__init__" else f"{INTARGET_PACKAGE}.{path.stem}"
        sources[name] = path.read_text(encoding="utf-8")
    return _BOOTSTRAP % {"sources": sources, "package": INTARGET_PACKAGE}


PROBE_SOURCE = probe_source()


class ProbeError(Exception):
    """The probe could not run in the target; str() is one line."""


def build_request(model: Expectations) -> dict[str, Any]:
    """What the probe must gather for these expectations (everything, regardless of `when:`).

    Each kind adds its own entries (kinds/<kind>.py `request`); every kind's in-target gatherer runs, even
    for a kind without items, so facts such as `dists` and `env` are always there (the image diff reads
    them). Gatherers start in the kinds' probe priority: the long ones first.
    """
    request: dict[str, Any] = {}
    for kind in all_kinds():
        request.update(kind.request(model.items(kind.section)))
    files = request.setdefault("files", [])
    if not any(f["path"] == MANIFEST_PATH for f in files):
        files.append({"path": MANIFEST_PATH, "content": False})
    ordered = sorted(all_kinds(), key=lambda k: k.probe_priority)
    request["gatherers"] = list(dict.fromkeys(k.gatherer for k in ordered if k.gatherer))
    request["manifest"] = MANIFEST_PATH
    return request


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
    return f": {tail_line(result)}" if (result.stderr or result.stdout).strip() else ""


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
