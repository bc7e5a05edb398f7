# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""node_facts: what makes a GPU node healthy, from nvidia-smi's documented query fields, `nvidia-smi nvlink
--status`, the kernel log (Xid) and the NVIDIA container toolkit's CLI. No GPU compute: this is what a
Slurm health check may run every few minutes.

Fields are asked in small groups, one `--query-gpu` call each, so a field an older driver does not know
fails the items that need it and nothing else. Where a driver renamed a field (clocks_throttle_reasons ->
clocks_event_reasons) the new name is asked first.
"""

import re
import shutil
import subprocess

from .smi import csv_rows, query_gpus, run_smi
from .text import text

# group -> alternatives (each a field list; the first one nvidia-smi accepts is used).
_REASONS = ("hw_slowdown", "hw_thermal_slowdown", "sw_thermal_slowdown", "hw_power_brake_slowdown")
GROUPS = {
    "base": (("index", "name", "uuid", "pci.bus_id", "driver_version"),),
    "persistence": (("index", "persistence_mode"),),
    "ecc": (("index", "ecc.mode.current", "ecc.errors.uncorrected.volatile.total"),),
    "retired_pages": (("index", "retired_pages.pending"),),
    "throttle": (
        ("index",) + tuple("clocks_event_reasons.%s" % r for r in _REASONS),
        ("index",) + tuple("clocks_throttle_reasons.%s" % r for r in _REASONS),
    ),
    "pcie": (
        (
            "index",
            "pcie.link.gen.max",
            "pcie.link.gen.current",
            "pcie.link.width.max",
            "pcie.link.width.current",
        ),
    ),
    "pcie_gpumax": (("index", "pcie.link.gen.gpumax"),),
    "mig": (("index", "mig.mode.current", "mig.mode.pending"),),
}
# item name -> the groups and extra sources it needs.
NEEDS = {
    "driver": ("base",),
    "count": ("base",),
    "persistence": ("persistence",),
    "ecc": ("ecc",),
    "retired_pages": ("retired_pages",),
    "row_remap": ("remap",),
    "throttle": ("throttle",),
    "pcie": ("pcie", "pcie_gpumax"),
    "mig": ("mig",),
    "nvlink": ("nvlink",),
    "xid": ("xid",),
    "container_toolkit": ("toolkit",),
}
REMAP_FIELDS = (
    "gpu_bus_id",
    "remapped_rows.correctable",
    "remapped_rows.uncorrectable",
    "remapped_rows.pending",
    "remapped_rows.failure",
)
XID = re.compile(r"NVRM: Xid \(([^)]*)\): (\d+)")
# Kernel log lines kept per event kind: the first ones say when it started.
XID_KEEP = 20


def query_group(name, timeout):
    """{gpus: [...], fields: [...]} with the first field list the driver accepts, or {error: why}."""
    errors = []
    for fields in GROUPS[name]:
        gpus, err = query_gpus(fields, timeout)
        if err is None:
            return {"gpus": gpus, "fields": list(fields)}
        errors.append(err)
    return {"error": errors[-1]}


def query_remap(timeout):
    out, err = run_smi(
        ["--query-remapped-rows=%s" % ",".join(REMAP_FIELDS), "--format=csv,noheader,nounits"], timeout
    )
    if err:
        return {"error": err}
    rows = []
    for row in csv_rows(out):
        if len(row) == len(REMAP_FIELDS):
            rows.append(dict((f, row[i]) for i, f in enumerate(REMAP_FIELDS)))
    return {"gpus": rows}


def query_nvlink(timeout):
    """{gpus: {index: [link state, ...]}}: "up" (a speed is listed) or "inactive"; [] means no NVLink."""
    out, err = run_smi(["nvlink", "--status"], timeout)
    if err:
        return {"error": err}
    gpus = {}
    current = None
    for line in out.splitlines():
        head = re.match(r"GPU (\d+):", line.strip())
        if head:
            current = head.group(1)
            gpus[current] = []
            continue
        link = re.match(r"Link (\d+): (.*)", line.strip())
        if link and current is not None:
            state = link.group(2).strip()
            gpus[current].append("inactive" if "inactive" in state.lower() or not state else "up")
    return {"gpus": gpus}


def _run(argv, timeout):
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if proc.returncode != 0:
        lines = text(proc.stderr).strip().splitlines() or text(proc.stdout).strip().splitlines()
        return None, "%s exited %d: %s" % (argv[0], proc.returncode, lines[-1][:200] if lines else "")
    return text(proc.stdout), None


def read_xid(timeout):
    """Xid events in the kernel log since boot: {readable, how, events: {code: count}, lines: [...]}."""
    tried = []
    for argv in (
        ["dmesg", "--kernel", "--notime"],
        ["journalctl", "-k", "-b", "--no-pager", "-q", "-o", "cat"],
    ):
        if shutil.which(argv[0]) is None:
            tried.append("%s not found" % argv[0])
            continue
        out, err = _run(argv, timeout)
        if err:
            tried.append(err)
            continue
        events, lines = {}, []
        for line in out.splitlines():
            hit = XID.search(line)
            if hit:
                events[hit.group(2)] = events.get(hit.group(2), 0) + 1
                if len(lines) < XID_KEEP:
                    lines.append(line.strip()[:300])
        return {"readable": True, "how": " ".join(argv), "events": events, "lines": lines}
    return {"readable": False, "why": "; ".join(tried)}


def query_toolkit(timeout):
    """`nvidia-container-cli info`: the toolkit's own view of the driver and the GPUs it can hand out."""
    cli = shutil.which("nvidia-container-cli")
    if cli is None:
        ctk = shutil.which("nvidia-ctk")
        return {
            "ok": False,
            "why": "nvidia-container-cli not found" + (" (nvidia-ctk is: %s)" % ctk if ctk else ""),
        }
    out, err = _run([cli, "info"], timeout)
    if err:
        return {"ok": False, "why": err}
    devices = len(re.findall(r"^Device Index:", out, re.M))
    return {"ok": True, "devices": devices, "path": cli}


def gather(request, pool):
    """node_facts: {source: future}: each nvidia-smi group, the remap query, NVLink, Xid and the toolkit run
    side by side on the pool (nvidia-smi takes up to a second a call on a GPU without persistence mode)."""
    spec = request.get("node")
    if not spec:
        return {}
    timeout = float(spec.get("timeout", 30))
    sources = set()
    for name in spec.get("items") or []:
        sources.update(NEEDS.get(name, ()))
    others = {"remap": query_remap, "nvlink": query_nvlink, "xid": read_xid, "toolkit": query_toolkit}
    facts = {}
    for source in sorted(sources):
        if source in GROUPS:
            facts[source] = pool.submit(query_group, source, timeout)
        else:
            facts[source] = pool.submit(others[source], timeout)
    return {"node_facts": facts}
