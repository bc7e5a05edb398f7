"""Run THE probe once in a target and return its facts.

>>> facts = collect_facts(Target.from_spec("local://", name="local", kind="local", arch="amd64"),
...                       build_request(model))
>>> facts["binaries"]["rg"]["path"]
'/usr/bin/rg'
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devbox_conformance.expectations import Expectations
from devbox_conformance.kinds import all_kinds
from devbox_conformance.kinds.packages import DPKG_STATUS_PATH  # noqa: F401 - imported from here
from devbox_conformance.localrun import RunResult
from devbox_conformance.target import Target

MANIFEST_PATH = "/etc/devbox/build-manifest.json"
# Name the in-target package is imported under in the target by the probe (its modules import each other
# relatively, so the package works under any name).
INTARGET_PACKAGE = "devbox_intarget"
INTARGET_DIR = Path(__file__).with_name("intarget")

# The bootstrap run by the target's python3: an importer serving modules from a dict of sources (nothing is
# written to the target's disk), then the entry: `module:function` is called with sys.argv and its result is
# the exit status (the probe's main); a bare `module` runs as __main__, as `python3 -m module` would run it
# (the benchmark scripts). Python >= 3.8, stdlib only; an older python3 stops at the first lines with one line
# saying so (the in-target code would fail with an ImportError or a SyntaxError deep inside), and the exit
# status TOO_OLD_EXIT.
_BOOTSTRAP = """\
import sys
if sys.version_info < (3, 8):
    _have = "%%d.%%d" %% tuple(sys.version_info[:2])
    sys.stderr.write("%%s %%s; the probe needs python3 >= 3.8\\n" %% (%(too_old)r, _have))
    sys.exit(%(too_old_exit)d)
import importlib, importlib.abc, importlib.util, runpy
SOURCES = %(sources)r
PACKAGES = %(packages)r
ENTRY = %(entry)r


class _Sources(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name not in SOURCES:
            return None
        return importlib.util.spec_from_loader(name, self, is_package=name in PACKAGES)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    def get_code(self, name):
        return compile(SOURCES[name], "<devbox:%%s>" %% name, "exec")

    def get_source(self, name):
        return SOURCES[name]


sys.meta_path.insert(0, _Sources())
_module, _, _function = ENTRY.partition(":")
if _function:
    sys.exit(getattr(importlib.import_module(_module), _function)(sys.argv))
runpy.run_module(_module, run_name="__main__")
"""


TOO_OLD = "the target's python3 is"
TOO_OLD_EXIT = 86


def intarget_sources(package: str = INTARGET_PACKAGE) -> dict[str, str]:
    """Every module of the in-target package by the name it is served under (`package`, `package.<mod>`)."""
    sources = {}
    for path in sorted(INTARGET_DIR.glob("*.py")):
        name = package if path.stem == "__init__" else f"{package}.{path.stem}"
        sources[name] = path.read_text(encoding="utf-8")
    return sources


def _imported_names(name: str, source: str, is_package: bool) -> set[str]:
    """Every module name `source` may import statically (relative imports resolved), with its parents."""
    base = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = base.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{anchor}.{module}" if module else anchor
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    for full in list(names):
        while "." in full:
            full = full.rpartition(".")[0]
            names.add(full)
    return names


def package_source(
    entry: str = f"{INTARGET_PACKAGE}.main:main",
    *,
    package: str = INTARGET_PACKAGE,
    extra_modules: Mapping[str, str] | None = None,
    whole_package: bool = True,
) -> str:
    """One Python source that carries in-target code and runs `entry`: run as `python3 -c SOURCE ARGS…`.

    The in-target package is served under `package`; `extra_modules` (name -> source) beside it, e.g. a
    benchmark script under its own dotted name, so that its absolute imports of the package resolve in the
    target exactly as they do here. `whole_package` carries every module (the probe's main imports its
    gatherers by name at run time); otherwise only those the extra modules import, directly or through each
    other, found by reading their import statements. A parent package that carries no code of its own
    (`devbox_conformance` for `devbox_conformance.intarget`) is served empty.
    """
    sources = dict(extra_modules or {})
    available = intarget_sources(package)
    if whole_package:
        sources.update(available)
    else:
        todo = list(sources)
        while todo:
            name = todo.pop()
            for wanted in _imported_names(name, sources[name], name == package):
                if wanted in available and wanted not in sources:
                    sources[wanted] = available[wanted]
                    todo.append(wanted)
    for name in list(sources):
        while "." in name:
            name = name.rpartition(".")[0]
            sources.setdefault(name, "")
    packages = {name.rpartition(".")[0] for name in sources if "." in name}
    if package in sources:
        packages.add(package)
    return _BOOTSTRAP % {
        "sources": sources,
        "packages": sorted(packages),
        "entry": entry,
        "too_old": TOO_OLD,
        "too_old_exit": TOO_OLD_EXIT,
    }


def probe_source() -> str:
    """One Python source that carries the whole in-target package: run as `python3 -c SOURCE REQUEST`."""
    return package_source()


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


# The probe's overall limit is never below this (a slow or emulated target reads its trees slowly too).
PROBE_FLOOR_S = 1800.0
# Beside the items' own limits: starting python3, the packages and files gatherers, writing the facts.
PROBE_SLACK_S = 300.0


def probe_timeout(request: Mapping[str, Any]) -> float:
    """The probe's overall limit, from its jobs' own limits: what they can take together, at worst.

    Why: a fixed 1800 s ended the whole probe (every item of the host failed) when one command was allowed
    an hour. The jobs share `threads` workers, so together they end within sum/threads + the longest one
    (a greedy schedule's bound). Each kind says what its jobs may take (`Kind.job_seconds`).
    """
    jobs = [seconds for kind in all_kinds() for seconds in kind.job_seconds(request)]
    threads = max(1, int(request.get("threads", 8)))
    bound = sum(jobs) / threads + max(jobs, default=0.0) + PROBE_SLACK_S
    return max(PROBE_FLOOR_S, bound)


def collect_facts(target: Target, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Run the probe in `target` (one call through its transport); ProbeError with one line when it cannot.

    `timeout`: the probe's overall limit; by default `probe_timeout(request)`.
    """
    if timeout is None:
        timeout = probe_timeout(request)
    result = target.run_python(PROBE_SOURCE, [json.dumps(request)], timeout=timeout)
    if result.exit_code == TOO_OLD_EXIT and TOO_OLD in result.stderr:
        raise ProbeError(f"{tail_line(result)} in {target.where}")
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
        excluded = {
            name: str(s.get("reason") or "not included")
            for name, s in sets.items()
            if isinstance(s, dict) and not s.get("included")
        }
    # A CUDA target: torch is a CUDA build, or the image says it is one (CUDA_VERSION, as NGC's images and
    # the CUDA stand-in set it), so a torch that fell back to a CPU build still gets the CUDA items run.
    cuda = (facts.get("torch") or {}).get("cuda") or (facts.get("env") or {}).get("CUDA_VERSION") or None
    return {
        "arch": arch,
        "cuda": cuda,
        "gpu": bool((facts.get("gpu") or {}).get("visible")),
        "sets": included,
        "sets_excluded": excluded,
        "base": base_kind,
    }
