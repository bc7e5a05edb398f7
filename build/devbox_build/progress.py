"""Turn BuildKit's plain progress into a short step counter on the terminal; the full text goes to a log.
Turn `docker push` output into one line per layer state change.

Example:
    p = StepProgress(echo=print)
    p.feed("#7 [3/9] RUN apt-get update")   # prints "  [3/9] RUN apt-get update"
    LayerProgress(echo=print).feed("5f70bf18a086: Pushing [=>   ] 1.2MB/10MB")   # "5f70bf18a086: Pushing"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

# "#7 [3/9] RUN …", "#7 [ 3/14] RUN …" (BuildKit pads the counter) or "#7 [stage-1 3/9] RUN …"
_STEP = re.compile(r"^#(\d+) \[(?:[\w.:-]+\s+)?\s*(\d+)/(\d+)\] (.*)$")
# "#7 DONE 1.2s", "#7 CACHED", "#7 ERROR: …"
_STATE = re.compile(r"^#(\d+) (DONE [\d.]+s|CACHED|ERROR.*|CANCELED)$")


@dataclass
class StepProgress:
    """Prints each Dockerfile step once with its counter, and when it finished or failed."""

    # where progress lines go (print to the terminal by default)
    echo: Callable[[str], None]
    # also echo every raw BuildKit line (--verbose)
    verbose: bool = False
    # BuildKit vertex number -> "[k/n] instruction"
    steps: dict[str, str] = field(default_factory=dict)
    # last "[k/n] instruction" seen, so a failure can name its step
    last_step: str = ""
    # how many steps BuildKit took from its cache (reported once, at the end, instead of a line each)
    cached: int = 0
    # last lines of output, shown when the build fails
    tail: list[str] = field(default_factory=list)

    def feed(self, line: str) -> None:
        self.tail = [*self.tail[-39:], line]
        if self.verbose:
            self.echo(line)
        if m := _STEP.match(line):
            vertex, k, n, what = m.groups()
            if vertex not in self.steps:
                self.steps[vertex] = f"[{k}/{n}] {what[:100]}"
                self.last_step = self.steps[vertex]
                if not self.verbose:
                    self.echo(f"  {self.steps[vertex]}")
            return
        if (m := _STATE.match(line)) and m.group(1) in self.steps:
            state = m.group(2)
            if state.startswith("ERROR"):
                self.last_step = self.steps[m.group(1)]
            if state == "CACHED":
                self.cached += 1
            elif not self.verbose and (state.startswith("ERROR") or _slow(state)):
                self.echo(f"  {self.steps[m.group(1)].split(' ', 1)[0]} {state}")


def _slow(state: str) -> bool:
    """Report the time of steps that took a while, so the user sees where a build spends it."""
    if not state.startswith("DONE "):
        return False
    return float(state.removeprefix("DONE ").rstrip("s")) >= 5.0


def open_log(directory: Path, name: str) -> tuple[Path, TextIO]:
    """A new timestamped log file, e.g. logs/build-20261129-081500-amd64.log."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = directory / f"{name}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{name}-{stamp}-{n}.log"
    return path, path.open("w", encoding="utf-8", buffering=1)


# "5f70bf18a086: Pushing [==>   ]  1.2MB/10MB", "5f70bf18a086: Layer already exists"
_LAYER = re.compile(r"^(?P<layer>[0-9a-f]{12}): (?P<status>.+)$")
# Where a layer's state ends and its momentary detail begins: a progress bar, a size, a retry countdown.
_DETAIL = re.compile(r"\s+(?:\[|[\d.]+\s*[kMGT]?B\b|in \d+ seconds?)")


def layer_state(status: str) -> str:
    """'Pushing [==>  ] 1.2MB/10MB' -> 'Pushing'; 'Retrying in 5 seconds' -> 'Retrying'; others as given."""
    return _DETAIL.split(status.strip(), maxsplit=1)[0]


@dataclass
class LayerProgress:
    """Passes `docker push` (or pull) output through, one line per layer and state.

    Why: without a terminal docker writes a line for every progress update of every layer, thousands for
    an image of several GB, which buries the rest of a CI log; the states (Preparing, Waiting, Pushing,
    Pushed, Layer already exists, Retrying) are what a reader needs. Other lines pass unchanged.
    """

    # where the kept lines go
    echo: Callable[[str], None]
    # layer id -> the state last echoed for it
    states: dict[str, str] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        # A terminal-style redraw ("\r" between frames) counts by its last frame.
        line = line.rsplit("\r", 1)[-1].rstrip()
        m = _LAYER.match(line)
        if m is None:
            if line:
                self.echo(line)
            return
        layer, status = m.group("layer"), m.group("status").strip()
        state = layer_state(status)
        if self.states.get(layer) == state:
            return
        self.states[layer] = state
        self.echo(f"{layer}: {state}")
