"""Install one pip package set into the base image's Python and record what happened (stdlib only).

Example (what a Dockerfile RUN does)::

    python3 -B install_pip.py --set python-core --list python-core.txt --mode core --arch amd64

``--mode core``: one resolver run for the plain entries, then each ``no-build-isolation`` entry; any
failure fails the build. ``--mode extras``: every entry on its own, time-limited, and a failure is
recorded instead of failing the build. Every run is constrained by the base's ``pip freeze``
(``/opt/devbox/base-constraints.txt``) so no package of the base is ever replaced.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import devbox_sets as ds

# Lists the installed distributions of the target Python as {normalized name: version}. When a name is
# installed twice (pip's copy in /usr/local shadowing a Debian python3-* package), the first one on
# sys.path wins, as it does for `import`.
_LIST_DISTS = (
    "import importlib.metadata as m, json, re\n"
    "found = {}\n"
    "for d in m.distributions():\n"
    "    if d.metadata['Name']:\n"
    "        found.setdefault(re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(), d.version)\n"
    "print(json.dumps(found))"
)
_TORCH_CUDA = "import torch; print(torch.version.cuda or '')"
NIGHTLY_INDEX = "https://download.pytorch.org/whl/nightly/{tag}"


def failure_reason(result: ds.Result) -> str:
    """The line that says why pip failed: git's ``fatal:`` beats pip's generic "subprocess-exited".

    A conflict with a base pin also names the pin (pip's "The user requested (constraint) torch==2.6"),
    so the build's last line says which base package the set tried to replace.
    """
    generic = (
        "subprocess-exited-with-error",
        "metadata-generation-failed",
        "failed-wheel-build",
        "ResolutionImpossible",
    )
    pins = [
        line.strip().removeprefix("The user requested (constraint) ")
        for line in result.tail
        if line.strip().startswith("The user requested (constraint) ")
    ]
    suffix = f" (base pins: {', '.join(dict.fromkeys(pins))})" if pins else ""
    for prefix in ("fatal:", "ERROR:", "error:"):
        for line in reversed(result.tail):
            text = line.strip()
            if text.startswith(prefix) and not any(g in text for g in generic):
                return text[:300] + suffix
    return result.reason + suffix


def installed_dists() -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", _LIST_DISTS], check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def base_pins(constraints: Path) -> dict[str, str]:
    """``name==version`` lines of the constraints file as {normalized name: version}."""
    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            # "name===version" (a version PEP 440 cannot order) is an exact-string pin
            pins[ds.normalize(name.strip())] = version.removeprefix("=").strip()
    return pins


def changed_base(pinned: dict[str, str], after: dict[str, str]) -> str | None:
    """One line naming every pinned base package whose installed version is no longer its pin, or None.

    ``changed_base({"torch": "2.6.0a0+ecf3"}, {"torch": "2.7.0"})`` names torch and both versions.
    """
    changed = [
        f"{name} {version} -> {after.get(name) or 'removed'}"
        for name, version in sorted(pinned.items())
        if after.get(name) != version
    ]
    if not changed:
        return None
    return "base packages changed despite the constraints: " + ", ".join(changed)


def torch_cuda() -> str:
    """CUDA version torch was built with, or "" (no torch, or a CPU build)."""
    out = subprocess.run([sys.executable, "-c", _TORCH_CUDA], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else ""


def nightly_tag(cuda: str) -> str:
    """PyTorch nightly index for a CUDA version: ``nightly_tag("12.8") == "cu128"``; "" -> "cpu"."""
    if not cuda:
        return "cpu"
    major, _, minor = cuda.partition(".")
    number = int(major) * 10 + int(minor.split(".")[0] or 0)
    for upper, tag in ((124, "cu124"), (126, "cu126"), (129, "cu128"), (139, "cu130")):
        if number <= upper:
            return tag
    return f"cu{number}"


class Pip:
    """``pip install`` with the options every call shares."""

    def __init__(self, constraints: Path, find_links: Path | None) -> None:
        self.base = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--progress-bar",
            "off",
            "--root-user-action=ignore",
        ]
        self.constrained = ["--constraint", str(constraints)]
        self.links = ["--find-links", str(find_links)] if find_links else []

    def install(
        self, specs: list[str], *, timeout: float | None, no_build_isolation: bool = False
    ) -> ds.Result:
        extra = ["--no-build-isolation"] if no_build_isolation else []
        return ds.run([*self.base, *self.constrained, *self.links, *extra, *specs], timeout=timeout)


def unmet_need(entry: ds.Entry, cuda: str) -> str | None:
    for need in entry.needs:
        if need == "cuda" and not cuda:
            return "torch has no CUDA"
        if need == "git" and not shutil.which("git"):
            return "git is not installed (base-tools set)"
    return None


def install_nightly(pip: Pip, cuda: str, timeout: float) -> dict[str, str]:
    """Replace the base's torch with a nightly; only when asked (INSTALL_PYTORCH_NIGHTLY=true)."""
    present = installed_dists()
    names = [n for n in ("torch", "torchvision", "torchaudio") if n in present] or ["torch"]
    index = NIGHTLY_INDEX.format(tag=nightly_tag(cuda))
    # Constraints would pin the base's torch, so this call alone runs without them: neither ours nor the
    # base's own (NGC 25.03 to 25.09 set PIP_CONSTRAINT to an /etc/pip/constraint.txt that pins torch).
    result = ds.run(
        [*pip.base, "--pre", "--upgrade", "--index-url", index, *names],
        timeout=timeout,
        env={"PIP_CONSTRAINT": ""},
    )
    if result.returncode != 0:
        return {"state": "failed", "reason": f"{index}: {failure_reason(result)}"}
    after = installed_dists()
    return {
        "state": "installed",
        "reason": ", ".join(f"{n} {after.get(n, '?')}" for n in names) + f" from {index}",
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, dest="set_name", help="set name, e.g. python-core")
    parser.add_argument("--list", required=True, type=Path, help="requirement list file")
    parser.add_argument("--mode", choices=("core", "extras"), required=True)
    parser.add_argument("--arch", required=True, help="target arch (TARGETARCH)")
    parser.add_argument("--enabled", default="true", help="the set's INSTALL_* build arg")
    parser.add_argument("--disabled-reason", default="")
    parser.add_argument("--feature", action="append", default=[], help="NAME=true|false, repeatable")
    parser.add_argument("--constraints", type=Path, default=Path("/opt/devbox/base-constraints.txt"))
    parser.add_argument("--find-links", type=Path, default=Path("/wheelhouse"))
    parser.add_argument("--timeout", type=int, default=300, help="seconds per entry (extras mode)")
    parser.add_argument("--core-timeout", type=int, default=3600, help="seconds for the core resolver run")
    parser.add_argument("--records-dir", type=Path, default=Path("/etc/devbox/sets"))
    return parser


def _install_core(pip: Pip, runnable: list[ds.Entry], core_timeout: int) -> None:
    """One resolver run for the set; entries that build without isolation after it. Any failure stops
    the build: the core set is what every later layer and every team relies on."""
    plain = [e for e in runnable if not e.no_build_isolation]
    result = pip.install([e.spec for e in plain], timeout=core_timeout) if plain else None
    if result is not None and result.returncode != 0:
        raise SystemExit(f"python-core: pip install failed ({result.returncode}): {failure_reason(result)}")
    for entry in runnable:
        if entry.no_build_isolation:
            result = pip.install([entry.spec], timeout=entry.timeout or core_timeout, no_build_isolation=True)
            if result.returncode != 0:
                raise SystemExit(
                    f"{entry.name}: pip install failed ({result.returncode}): {failure_reason(result)}"
                )


def _install_extras(pip: Pip, runnable: list[ds.Entry], timeout: int, outcome: ds.Outcome) -> None:
    """Each entry on its own, within its time limit; a failure is recorded as a skip, the build goes on."""
    for entry in runnable:
        limit = entry.timeout or timeout
        result = pip.install([entry.spec], timeout=limit, no_build_isolation=entry.no_build_isolation)
        if result.returncode == 124:
            outcome.skip(entry.name, f"timed out after {limit} s", attempted=True)
        elif result.returncode != 0:
            outcome.skip(entry.name, f"pip install failed: {failure_reason(result)}", attempted=True)


def _settle(
    runnable: list[ds.Entry], before: dict[str, str], outcome: ds.Outcome
) -> tuple[dict[str, str], dict[str, str]]:
    """(installed, preinstalled) by what is there now; a success pip reported without the dist is a skip."""
    after = installed_dists()
    installed: dict[str, str] = {}
    preinstalled: dict[str, str] = {}
    for entry in runnable:
        if entry.name in outcome.failed or entry.name not in after:
            if entry.name not in outcome.failed:
                outcome.skip(
                    entry.name, "pip reported success but the distribution is absent", attempted=True
                )
            continue
        if before.get(entry.name) == after[entry.name]:
            preinstalled[entry.name] = after[entry.name]
        else:
            installed[entry.name] = after[entry.name]
    outcome.installed, outcome.preinstalled = list(installed), list(preinstalled)
    return installed, preinstalled


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    if not ds.parse_bool(args.enabled):
        reason = args.disabled_reason or "disabled"
        ds.log(f"set {args.set_name} not included: {reason}")
        ds.write_record(args.records_dir, args.set_name, ds.disabled_record("pip", reason))
        return 0
    if not args.constraints.is_file():
        raise SystemExit(
            f"{args.constraints} is missing: the first layer writes it from the base's pip freeze"
        )

    features = ds.parse_features(args.feature)
    nightly = features.get("pytorch-nightly", False)
    entries = ds.parse_list(args.list, pip=True)
    find_links = args.find_links if args.find_links.is_dir() and any(args.find_links.glob("*.whl")) else None
    pip = Pip(args.constraints, find_links)
    outcome = ds.Outcome()
    before = installed_dists()
    cuda = torch_cuda() if any("cuda" in e.needs for e in entries) or nightly else ""

    runnable: list[ds.Entry] = []
    for entry in entries:
        why = ds.gate(entry, arch=args.arch, features=features) or unmet_need(entry, cuda)
        if why:
            outcome.skip(entry.name, why)
        else:
            runnable.append(entry)
    if args.mode == "core":
        _install_core(pip, runnable, args.core_timeout)
    else:
        _install_extras(pip, runnable, args.timeout, outcome)
    installed, preinstalled = _settle(runnable, before, outcome)

    states = ds.feature_states(entries, outcome)
    if args.set_name == ds.FEATURE_SETS["pytorch-nightly"]:
        states["pytorch-nightly"] = (
            install_nightly(pip, cuda, args.core_timeout)
            if nightly
            else {"state": "skipped", "reason": "INSTALL_PYTORCH_NIGHTLY=false"}
        )
    changed = changed_base(base_pins(args.constraints), installed_dists())
    if changed and not nightly:
        raise SystemExit(changed)

    order = {e.name: i for i, e in enumerate(entries)}
    outcome.skipped.sort(key=lambda s: order.get(s["name"], 0))
    record: dict[str, object] = {
        "kind": "pip",
        "included": True,
        "arch": args.arch,
        "requested": [e.spec for e in entries],
        "installed": installed,
        "preinstalled": preinstalled,
        "skipped": outcome.skipped,
        "duration_s": round(time.monotonic() - started, 1),
    }
    if states:
        record["features"] = states
    ds.write_record(args.records_dir, args.set_name, record)
    ds.log(
        f"set {args.set_name}: {len(installed)} installed, {len(preinstalled)} preinstalled, "
        f"{len(outcome.skipped)} skipped: " + ", ".join(s["name"] for s in outcome.skipped)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
