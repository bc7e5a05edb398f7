# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""How the in-target benchmark scripts talk to the suite: stdout carries one JSON document and nothing else.

Why: libraries print to fd 1 while they measure (NCCL_DEBUG banners, CUDA and BLAS warnings), and the suite
reads the script's stdout as the report. Everything written during the measurement goes to stderr instead.
"""

from __future__ import annotations

import json
import os
import sys


def selected(parser, given, known):
    """The comma-separated metrics of `given`, in order; an unknown one is the parser's one-line error."""
    metrics = tuple(m for m in given.split(",") if m)
    unknown = [m for m in metrics if m not in known]
    if unknown:
        parser.error("unknown metrics: %s" % ", ".join(unknown))
    return metrics


def print_report(measure, pretty):
    """Run `measure()` with fd 1 sent to stderr, then print its report on the real stdout; returns 0."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        report = measure()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    json.dump(report, sys.stdout, indent=2 if pretty else None, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def measure_each(report, metrics, todo, after_each=None):
    """Fill report["metrics"] with each metric's figures, report["errors"] with why one has none.

    Why one loop for both scripts: a metric that cannot run (its library absent, a shape the device refuses)
    must cost that metric only, worded the same way in the CPU and the GPU report.
    """
    for name in metrics:
        try:
            report["metrics"][name] = todo[name]()
        except ImportError as exc:
            report["errors"][name] = "absent: %s" % exc
        except Exception as exc:  # noqa: BLE001 - reported per metric, the others still run
            report["errors"][name] = "%s: %s" % (type(exc).__name__, exc)
        finally:
            if after_each is not None:
                after_each()
    return report
