"""Turn BuildKit's plain progress into a short step counter on the terminal; the full text goes to a log.

Example:
    p = StepProgress(echo=print)
    p.feed("#7 [3/9] RUN apt-get update")   # prints "  [3/9] RUN apt-get update"
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = directory / f"{name}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{name}-{stamp}-{n}.log"
    return path, path.open("w", encoding="utf-8", buffering=1)
