# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""nvidia-smi, run one way for every gatherer: a time limit, stderr folded in, the last line on failure."""

import shutil
import subprocess

from .text import text

TIMEOUT_S = 60


def run_smi(args, timeout=TIMEOUT_S):
    """(stdout, None) or (None, one line saying why nvidia-smi gave no answer)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, "nvidia-smi not found"
    try:
        proc = subprocess.run(
            [smi] + list(args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None, "nvidia-smi %s did not answer within %d s" % (" ".join(args), timeout)
    except OSError as exc:
        return None, "cannot run nvidia-smi: %s" % exc
    if proc.returncode != 0:
        lines = text(proc.stdout).strip().splitlines()
        return None, "nvidia-smi %s exited %d: %s" % (
            " ".join(args),
            proc.returncode,
            lines[-1][:200] if lines else "",
        )
    return text(proc.stdout), None


def csv_rows(out):
    """Rows of `--format=csv,noheader,nounits` output, cells stripped."""
    return [[c.strip() for c in line.split(",")] for line in out.strip().splitlines() if line.strip()]


def query_gpus(fields, timeout=TIMEOUT_S):
    """([{field: value} per GPU], None) or (None, why) for one `--query-gpu` call."""
    out, err = run_smi(["--query-gpu=%s" % ",".join(fields), "--format=csv,noheader,nounits"], timeout)
    if err:
        return None, err
    gpus = []
    for row in csv_rows(out):
        if len(row) != len(fields):
            return None, "nvidia-smi gave %d values for %d fields: %r" % (len(row), len(fields), row[:8])
        gpus.append(dict((f, row[i]) for i, f in enumerate(fields)))
    return gpus, None
