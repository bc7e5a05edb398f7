"""After a pip set: import the named packages; step back to older releases, or take one out, when not.

Why: pip only knows what a package *declares*. torchao, for one, declares no torch bound yet is built
against the newest torch, and the base's torch is pinned (never replaced): pip then installs a release
that cannot be imported, and breaks every package that imports it in turn (peft imports torchao when
it is present). This step imports each named package in a fresh interpreter; when that fails it asks
pip for the next older release, up to ``--older`` times, and when none imports it uninstalls the
package and records it as skipped with the error, so the image never ships a package that cannot be
imported. Stdlib only; runs in the same RUN as ``install_pip.py`` and edits its set record.

    python3 -B verify_imports.py --set python-extras --list list.txt --check torchao=torchao --older 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import devbox_sets as ds
from install_pip import Pip, failure_reason, installed_dists


def import_error(module: str, timeout: float) -> str | None:
    """None when ``import module`` works in a fresh interpreter, else its last error line."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"import {module} took longer than {int(timeout)} s"
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit code {proc.returncode}")[:300]


def uninstall(name: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", name], check=False)


def torch_version() -> str:
    return installed_dists().get("torch", "absent")


def verify(
    pip: Pip, entry: ds.Entry, module: str, older: int, import_timeout: float
) -> tuple[str | None, str]:
    """(the installed version that imports, or None when it was taken out; what happened, in words)."""
    version = installed_dists().get(entry.name)
    error = import_error(module, import_timeout)
    if error is None:
        return version, f"{entry.name} {version}: import {module} works"
    first = (version, error)
    tried = [str(version)]
    for _ in range(older):
        result = pip.install(
            [f"{entry.name}<{version}"],
            timeout=entry.timeout,
            no_build_isolation=entry.no_build_isolation,
        )
        if result.returncode != 0:
            ds.log(f"{entry.name}<{version}: pip install failed: {failure_reason(result)}")
            break
        version = installed_dists().get(entry.name)
        error = import_error(module, import_timeout)
        if error is None:
            return version, (
                f"{entry.name} {first[0]} did not import with torch {torch_version()} ({first[1]}); "
                f"{version} does"
            )
        tried.append(str(version))
    uninstall(entry.name)
    return None, (
        f"no release imports with the base's torch {torch_version()}: import {module}: {first[1]} "
        f"(tried {', '.join(tried)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, dest="set_name", help="the set install_pip.py recorded")
    parser.add_argument("--list", required=True, type=Path, help="the set's list file (for its options)")
    parser.add_argument("--check", action="append", default=[], metavar="DIST=MODULE", help="repeatable")
    parser.add_argument("--older", type=int, default=3, help="older releases to try before giving up")
    parser.add_argument("--import-timeout", type=float, default=300)
    parser.add_argument("--constraints", type=Path, default=Path("/opt/devbox/base-constraints.txt"))
    parser.add_argument("--find-links", type=Path, default=Path("/wheelhouse"))
    parser.add_argument("--records-dir", type=Path, default=Path("/etc/devbox/sets"))
    args = parser.parse_args(argv)

    path = args.records_dir / f"{args.set_name}.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    if not record.get("included"):
        return 0
    entries = {e.name: e for e in ds.parse_list(args.list, pip=True)}
    find_links = args.find_links if args.find_links.is_dir() and any(args.find_links.glob("*.whl")) else None
    pip = Pip(args.constraints, find_links)
    installed: dict[str, str] = record.get("installed") or {}
    skipped: list[dict[str, str]] = record.setdefault("skipped", [])
    notes: list[str] = record.setdefault("notes", [])
    for pair in args.check:
        dist, sep, module = pair.partition("=")
        name = ds.normalize(dist)
        if not sep or name not in entries:
            raise SystemExit(f"--check {pair!r}: expected DIST=MODULE with DIST in {args.list}")
        if name not in installed:
            continue  # skipped or preinstalled: nothing of ours to verify
        version, what = verify(pip, entries[name], module, args.older, args.import_timeout)
        ds.log(what)
        if version is None:
            del installed[name]
            skipped.append({"name": name, "reason": what})
        elif version != installed[name]:
            installed[name] = version
            notes.append(what)
    if not notes:
        record.pop("notes")
    ds.write_record(args.records_dir, args.set_name, record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
