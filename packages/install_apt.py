"""Install one apt package set and record what happened (stdlib only).

Example (what a Dockerfile RUN does)::

    python3 -B install_apt.py --set base-tools --list base-tools.txt --arch amd64 --enabled true

Packages the base already has are recorded as preinstalled; packages without an installation candidate
for this architecture in the configured apt sources are skipped and recorded, never fatal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import devbox_sets as ds

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_INSTALL = [
    "apt-get",
    "install",
    "-y",
    "-q",
    "--no-install-recommends",
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
]
# Debian installs these commands under other names; link the usual names when free.
RENAMED_COMMANDS = {"fdfind": "fd", "batcat": "bat"}


def dpkg_installed() -> set[str]:
    """Names of packages dpkg has fully installed (state ``ii``)."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    names: set[str] = set()
    for line in out.splitlines():
        name, _, status = line.partition("\t")
        if status.startswith("ii"):
            names.add(name.split(":", 1)[0])
    return names


def apt_candidates(names: list[str]) -> set[str]:
    """Which of ``names`` have an installation candidate: one ``apt-cache policy`` call for the list."""
    if not names:
        return set()
    out = subprocess.run(
        ["apt-cache", "policy", *names], capture_output=True, text=True, env={**os.environ, **APT_ENV}
    ).stdout
    found: set[str] = set()
    current: str | None = None
    for line in out.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1].split(":", 1)[0]
        elif current and line.strip().startswith("Candidate:"):
            if line.split(":", 1)[1].strip() != "(none)":
                found.add(current)
    return found


def apt_update() -> None:
    result = ds.run(["apt-get", "update", "-q"], env=APT_ENV)
    if result.returncode != 0:
        lists = Path("/var/lib/apt/lists")
        if not any(p.name.endswith("_Packages") for p in lists.glob("*")):
            raise SystemExit(f"apt-get update failed and no package lists are cached: {result.reason}")
        ds.log(f"warning: apt-get update failed, using cached lists: {result.reason}")


def install(names: list[str], outcome: ds.Outcome) -> None:
    """One apt-get call for the set; if it fails, retry one by one so one bad package names itself."""
    if not names:
        return
    if ds.run([*APT_INSTALL, *names], env=APT_ENV).returncode == 0:
        return
    ds.log("batch install failed; retrying package by package")
    for name in names:
        result = ds.run([*APT_INSTALL, name], env=APT_ENV)
        if result.returncode != 0:
            outcome.skip(name, f"apt-get install failed: {result.reason}", attempted=True)
    if len(outcome.failed) == len(names):
        raise SystemExit("every package of the set failed to install; see the log above")


def post_install(installed: set[str]) -> None:
    """Small fix-ups that belong to packages of any set."""
    for debian_name, usual in RENAMED_COMMANDS.items():
        found = shutil.which(debian_name)
        link = Path("/usr/local/bin") / usual
        if found and not shutil.which(usual) and not link.exists():
            link.symlink_to(found)
            ds.log(f"linked {link} -> {found}")
    if "locales" in installed and shutil.which("localedef"):
        # C.UTF-8 is the default; en_US.UTF-8 is what many tools and notebooks still ask for.
        ds.run(["localedef", "-i", "en_US", "-f", "UTF-8", "en_US.UTF-8"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, dest="set_name", help="set name, e.g. base-tools")
    parser.add_argument("--list", required=True, type=Path, help="package list file")
    parser.add_argument("--arch", default="", help="target arch (default: dpkg --print-architecture)")
    parser.add_argument("--enabled", default="true", help="the set's INSTALL_* build arg")
    parser.add_argument("--disabled-reason", default="", help="recorded when the set is disabled")
    parser.add_argument("--feature", action="append", default=[], help="NAME=true|false, repeatable")
    parser.add_argument("--records-dir", type=Path, default=Path("/etc/devbox/sets"))
    args = parser.parse_args(argv)

    started = time.monotonic()
    if not ds.parse_bool(args.enabled):
        reason = args.disabled_reason or "disabled"
        ds.log(f"set {args.set_name} not included: {reason}")
        ds.write_record(args.records_dir, args.set_name, ds.disabled_record("apt", reason))
        return 0

    arch = (
        args.arch
        or subprocess.run(
            ["dpkg", "--print-architecture"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    entries = ds.parse_list(args.list, pip=False)
    features = ds.parse_features(args.feature)
    outcome = ds.Outcome()

    wanted: list[str] = []
    for entry in entries:
        why = ds.gate(entry, arch=arch, features=features)
        if why:
            outcome.skip(entry.name, why)
        else:
            wanted.append(entry.name)

    before = dpkg_installed()
    outcome.preinstalled = [n for n in wanted if n in before]
    apt_update()
    to_check = [n for n in wanted if n not in before]
    available = apt_candidates(to_check)
    installable = [n for n in to_check if n in available]
    for name in to_check:
        if name not in available:
            outcome.skip(name, f"no candidate for {arch} in the configured apt sources")

    install(installable, outcome)
    after = dpkg_installed()
    outcome.installed = [n for n in installable if n in after and n not in outcome.failed]
    post_install(after)

    order = {e.name: i for i, e in enumerate(entries)}
    outcome.skipped.sort(key=lambda s: order.get(s["name"], 0))
    record: dict[str, object] = {
        "kind": "apt",
        "included": True,
        "arch": arch,
        "requested": [e.name for e in entries],
        "installed": outcome.installed,
        "preinstalled": outcome.preinstalled,
        "skipped": outcome.skipped,
        "duration_s": round(time.monotonic() - started, 1),
    }
    states = ds.feature_states(entries, outcome)
    if states:
        record["features"] = states
    ds.write_record(args.records_dir, args.set_name, record)
    ds.log(
        f"set {args.set_name}: {len(outcome.installed)} installed, {len(outcome.preinstalled)} preinstalled, "
        f"{len(outcome.skipped)} skipped: " + ", ".join(s["name"] for s in outcome.skipped)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
