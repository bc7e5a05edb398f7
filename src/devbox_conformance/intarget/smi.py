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


# nvidia-smi --query-gpu fields recorded with every result. An unknown field fails the whole query
# on older drivers, so fields are retried one by one when the joint query fails.
SMI_FIELDS = (
    "name",
    "uuid",
    "pci.bus_id",
    "driver_version",
    "memory.total",
    "clocks.sm",
    "clocks.max.sm",
    "clocks.mem",
    "clocks.max.mem",
    "power.limit",
    "power.default_limit",
    "power.max_limit",
    "power.draw",
    "temperature.gpu",
    "pcie.link.gen.current",
    "pcie.link.gen.max",
    "pcie.link.width.current",
    "pcie.link.width.max",
)


def query_nvidia_smi(index, timeout=30):
    """The SMI_FIELDS of GPU `index` as strings ({} without nvidia-smi): the state a figure was taken in."""

    def one(fields):
        out, err = run_smi(
            ["--id=%d" % index, "--query-gpu=%s" % ",".join(fields), "--format=csv,noheader,nounits"], timeout
        )
        rows = csv_rows(out) if not err and out else []
        return rows[0] if rows and len(rows[0]) == len(fields) else None

    joint = one(SMI_FIELDS)
    if joint is not None:
        return dict((f, joint[i]) for i, f in enumerate(SMI_FIELDS))
    result = {}
    for field in SMI_FIELDS:
        single = one((field,))
        if single is not None:
            result[field] = single[0]
    return result
