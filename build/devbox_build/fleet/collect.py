"""Read a directory of per-node results files into one record per node; nothing here judges the fleet.

    nodes = read_dir(Path("fleet-results/"))   # {"gpu001": NodeResult(...), ...}

A file that cannot be read or is not a results document still yields a record, with `error` set: a node
whose answer is garbled is as red as one that gave none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Results documents this reader understands (the suite's results.py writes schema_version 2).
SCHEMA_VERSIONS = (2,)
# How much of one failure message a report keeps: the first line says what failed.
MESSAGE_WIDTH = 200


@dataclass(frozen=True)
class Failure:
    """One red item of a node."""

    # The test's name, e.g. `test_gpu[count]`.
    name: str
    # "failed" or "error".
    outcome: str
    # The first informative line of its message.
    reason: str


@dataclass(frozen=True)
class Figure:
    """One performance figure a node measured."""

    metric: str
    unit: str
    value: float
    # The floor (higher is better) or ceiling (lower is better) from the GPU model's baseline; None: unjudged.
    lower_limit: float | None
    upper_limit: float | None
    # The suite's verdict on it: pass, fail, inconclusive, unjudged.
    outcome: str
    # The GPU model (or CPU arch) the figure belongs to; figures are compared within one model only.
    model: str

    @property
    def higher_is_better(self) -> bool:
        if self.lower_limit is not None:
            return True
        if self.upper_limit is not None:
            return False
        return self.unit not in ("s", "ms", "us", "seconds")


@dataclass(frozen=True)
class NodeResult:
    """What one node's results file says (or why it says nothing)."""

    node: str
    path: str | None
    # The suite's exit status; None when the file was missing or unreadable.
    exit_status: int | None = None
    # passed / failed / skipped / error counts.
    totals: Mapping[str, int] = field(default_factory=dict)
    failures: tuple[Failure, ...] = ()
    figures: tuple[Figure, ...] = ()
    # One line: why this node has no usable answer (missing, unreadable, the run failed at start-up).
    error: str | None = None
    # One line per recorded figure whose value is not a finite number (NaN, Infinity): red, and kept out
    # of the fleet's medians, where one NaN would make the sort, and so every node's median, meaningless.
    unfit_figures: tuple[str, ...] = ()


def _reason(message: str) -> str:
    """The line that says what was found (`found: …`), else the first non-empty line."""
    lines = [ln.strip() for ln in (message or "").splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("found:"):
            return line.removeprefix("found:").strip()[:MESSAGE_WIDTH]
    return (lines[0] if lines else "(no message)")[:MESSAGE_WIDTH]


def _figure(record: Mapping[str, Any]) -> Figure | None:
    """None when the record has no number (a test that failed before it measured records None: its item
    says why); a non-finite value is returned and set apart by the caller."""
    value = record.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    model = record.get("gpu") or record.get("cpu") or record.get("arch") or "?"
    return Figure(
        metric=str(record.get("metric") or "?"),
        unit=str(record.get("unit") or ""),
        value=float(value),
        lower_limit=record.get("lower_limit"),
        upper_limit=record.get("upper_limit"),
        outcome=str(record.get("outcome") or "unjudged"),
        model=str(model),
    )


def parse(node: str, path: str | None, doc: Any) -> NodeResult:
    """One results document -> NodeResult; a document of the wrong shape is an error, not a pass."""
    if not isinstance(doc, dict) or doc.get("schema_version") not in SCHEMA_VERSIONS:
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        return NodeResult(
            node, path, error=f"not a results document of schema {SCHEMA_VERSIONS} ({version!r})"
        )
    items = doc.get("items") if isinstance(doc.get("items"), list) else []
    totals = {k: 0 for k in ("passed", "failed", "skipped", "error")}
    failures: list[Failure] = []
    figures: list[Figure] = []
    unfit: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        outcome = str(item.get("outcome"))
        if outcome in totals:
            totals[outcome] += 1
        if outcome in ("failed", "error"):
            failures.append(
                Failure(
                    str(item.get("name") or item.get("nodeid")), outcome, _reason(item.get("message", ""))
                )
            )
        perf = (item.get("records") or {}).get("performance")
        if isinstance(perf, dict):
            fig = _figure(perf)
            if fig is not None and not math.isfinite(fig.value):
                unfit.append(f"{fig.metric} ({item.get('name')}) recorded {fig.value}, not a finite number")
            elif fig is not None:
                figures.append(fig)
    status = doc.get("exit_status")
    errors = [h.get("error") for h in doc.get("hosts") or [] if isinstance(h, dict) and h.get("error")]
    error = doc.get("error") or (errors[0] if errors else None)
    return NodeResult(
        node=node,
        path=path,
        exit_status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        totals=totals,
        failures=tuple(failures),
        figures=tuple(figures),
        error=str(error) if error else None,
        unfit_figures=tuple(unfit),
    )


def read_file(path: Path) -> NodeResult:
    """The node is the file's name without `.json` (the fleet job writes `<node>.json`)."""
    node = path.name.removesuffix(".json")
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        return NodeResult(node, str(path), error=f"cannot read {path}: {exc.strerror or exc}")
    except ValueError as exc:
        return NodeResult(
            node, str(path), error=f"{path} is not JSON ({exc}); was the run killed while writing?"
        )
    return parse(node, str(path), doc)


def read_dir(directory: Path) -> dict[str, NodeResult]:
    """Every `*.json` of `directory` (not recursive), by node name."""
    return {r.node: r for r in (read_file(p) for p in sorted(directory.glob("*.json")))}


def missing(node: str) -> NodeResult:
    return NodeResult(
        node, None, error="no results file (the node did not run the check, or died before writing)"
    )
