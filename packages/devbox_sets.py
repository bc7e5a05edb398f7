"""Shared helpers for the package-set installers (stdlib only, Python 3.10+).

The installers run inside the image build with the base image's ``python3``. They read one list file per
set, decide what to install, and write one record per set to ``/etc/devbox/sets/<set>.json``; the last
layer merges those records into ``/etc/devbox/build-manifest.json``.

Example::

    entries = parse_list(Path("packages/apt/base-tools.txt"))
    write_record(Path("/etc/devbox/sets"), "base-tools", {"kind": "apt", "included": True})
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

# Order of the sets in the Dockerfile and in the manifest (least to most often changed).
SET_ORDER: tuple[str, ...] = (
    "base-tools",
    "dev-tools",
    "gpu-tools",
    "fun-tools",
    "shell",
    "python-core",
    "python-extras",
)

# Optional features and the set whose layer decides them.
FEATURE_SETS: dict[str, str] = {
    "nsight": "gpu-tools",
    "oh-my-zsh": "shell",
    "flash-attn": "python-extras",
    "vllm": "python-extras",
    "pytorch-nightly": "python-extras",
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*")
_OPTION_KEYS = frozenset({"feature", "arch", "needs", "timeout", "no-build-isolation"})


@dataclass(frozen=True)
class Entry:
    """One line of a package list: ``spec [option ...]``.

    Options: ``feature=NAME`` (gated by ``INSTALL_<NAME>``), ``arch=amd64[,arm64]``, ``needs=cuda|git``,
    ``timeout=SECONDS``, ``no-build-isolation``.
    """

    spec: str  # what is handed to apt-get / pip, e.g. "transformers>=4.40"
    name: str  # the package name, normalized for pip ("huggingface-hub"), verbatim for apt
    feature: str | None = None  # optional feature this entry belongs to
    arches: tuple[str, ...] = ()  # empty: every arch
    needs: tuple[str, ...] = ()  # runtime facts that must hold ("cuda", "git")
    timeout: int | None = None  # seconds; None: the installer's default
    no_build_isolation: bool = False  # build against the installed torch
    line: int = 0  # line number in the list file, for error messages


@dataclass
class Outcome:
    """What happened to the entries of one set, in list order."""

    installed: list[str] = field(default_factory=list)
    preinstalled: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    # name -> "skipped" / "failed" reason, used to derive feature states
    not_attempted: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def skip(self, name: str, reason: str, *, attempted: bool = False) -> None:
        self.skipped.append({"name": name, "reason": reason})
        (self.failed if attempted else self.not_attempted)[name] = reason


def normalize(name: str) -> str:
    """PEP 503 name: ``normalize("Huggingface_Hub") == "huggingface-hub"``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_list(path: Path, *, pip: bool) -> list[Entry]:
    """Read a list file; ``#`` starts a comment, blank lines are ignored."""
    entries: list[Entry] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not text:
            continue
        words = shlex.split(text)
        spec, options = words[0], words[1:]
        # A direct reference ("name @ git+https://...") spans three words.
        if len(options) >= 2 and options[0] == "@":
            spec, options = f"{spec} @ {options[1]}", options[2:]
        match = _NAME.match(spec)
        if not match:
            raise SystemExit(f"{path}:{number}: cannot read a package name from {spec!r}")
        name = normalize(match.group(0)) if pip else match.group(0)
        values: dict[str, str] = {}
        for option in options:
            key, _, value = option.partition("=")
            if key not in _OPTION_KEYS:
                raise SystemExit(f"{path}:{number}: unknown option {key!r} (known: {sorted(_OPTION_KEYS)})")
            values[key] = value
        timeout = values.get("timeout")
        entries.append(
            Entry(
                spec=spec,
                name=name,
                feature=values.get("feature") or None,
                arches=tuple(a for a in values.get("arch", "").split(",") if a),
                needs=tuple(n for n in values.get("needs", "").split(",") if n),
                timeout=int(timeout) if timeout else None,
                no_build_isolation="no-build-isolation" in values,
                line=number,
            )
        )
    return entries


def parse_bool(value: str) -> bool:
    """Build args arrive as strings: ``parse_bool("TRUE") is True``."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SystemExit(f"not a boolean: {value!r}")


def parse_features(pairs: list[str]) -> dict[str, bool]:
    """``["nsight=true"]`` -> ``{"nsight": True}``."""
    features: dict[str, bool] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--feature wants NAME=true|false, got {pair!r}")
        features[name] = parse_bool(value)
    return features


def feature_arg(feature: str) -> str:
    """The build arg that switches a feature: ``feature_arg("flash-attn") == "INSTALL_FLASH_ATTN"``."""
    return "INSTALL_" + feature.upper().replace("-", "_")


def gate(entry: Entry, *, arch: str, features: dict[str, bool]) -> str | None:
    """Why an entry is not attempted on this build, or None when it should be."""
    if entry.feature is not None and not features.get(entry.feature, False):
        return f"{feature_arg(entry.feature)}=false"
    if entry.arches and arch not in entry.arches:
        return f"not built for {arch} (list limits it to {', '.join(entry.arches)})"
    return None


def feature_states(entries: list[Entry], outcome: Outcome) -> dict[str, dict[str, str]]:
    """Fold the entries of each feature into one state: installed, skipped or failed."""
    states: dict[str, dict[str, str]] = {}
    for feature in dict.fromkeys(e.feature for e in entries if e.feature):
        members = [e.name for e in entries if e.feature == feature]
        done = [n for n in members if n in outcome.installed or n in outcome.preinstalled]
        failed = {n: outcome.failed[n] for n in members if n in outcome.failed}
        missing = {n: outcome.not_attempted[n] for n in members if n in outcome.not_attempted}
        if failed:
            states[feature] = {"state": "failed", "reason": "; ".join(f"{n}: {r}" for n, r in failed.items())}
        elif done and not missing:
            states[feature] = {"state": "installed", "reason": ", ".join(done)}
        elif done:
            note = "; ".join(f"{n}: {r}" for n, r in missing.items())
            states[feature] = {"state": "installed", "reason": f"{', '.join(done)} (not: {note})"}
        else:
            reasons = sorted(set(missing.values()))
            states[feature] = {"state": "skipped", "reason": "; ".join(reasons)}
    return states


def write_record(records_dir: Path, set_name: str, record: dict[str, object]) -> Path:
    """Write ``<records_dir>/<set>.json`` (one file per set; the manifest step merges them)."""
    records_dir.mkdir(parents=True, exist_ok=True)
    path = records_dir / f"{set_name}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"devbox: wrote {path}", flush=True)
    return path


def disabled_record(kind: str, reason: str) -> dict[str, object]:
    return {"kind": kind, "included": False, "reason": reason}


def log(message: str) -> None:
    print(f"devbox: {message}", flush=True)


@dataclass(frozen=True)
class Result:
    """A finished command: exit code (124 on timeout) and the tail of its combined output."""

    returncode: int
    tail: tuple[str, ...]
    seconds: float

    @property
    def reason(self) -> str:
        """The most telling output line: the last ``ERROR``/``E:`` line, else the last line."""
        for line in reversed(self.tail):
            if line.startswith(("ERROR", "E:", "error:")):
                return line[:300]
        for line in reversed(self.tail):
            if line.strip():
                return line.strip()[:300]
        return f"exit code {self.returncode}"


def run(argv: list[str], *, timeout: float | None = None, env: dict[str, str] | None = None) -> Result:
    """Run a command, stream its output into the build log, keep the tail, kill its group on timeout."""
    log("$ " + shlex.join(argv) + (f"   (time limit {int(timeout)} s)" if timeout else ""))
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=40)
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, **(env or {})},
        start_new_session=True,  # so a timeout can end the whole process group (pip's build backends)
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line.rstrip("\n"))
        sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        tail.append(f"timed out after {int(timeout or 0)} s")
        return Result(124, tuple(tail), time.monotonic() - started)
    reader.join(5)
    return Result(code, tuple(tail), time.monotonic() - started)
