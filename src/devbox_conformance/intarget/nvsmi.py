"""What nvidia-smi says of one GPU (clocks, power, link), recorded beside every GPU figure.

Why: a figure below its floor is explained by the state the GPU was in (a lowered power limit, a PCIe link
trained at a lower width); the benchmark records it before and after its load. In-target code: stdlib only.
"""

from __future__ import annotations

import shutil
import subprocess

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


def query_nvidia_smi(index: int) -> dict[str, str]:
    """Return the SMI_FIELDS of GPU ``index`` as strings ({} without nvidia-smi)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return {}

    def _query(fields: tuple[str, ...]) -> list[str] | None:
        try:
            out = subprocess.run(
                [exe, f"--id={index}", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
        values = [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")] if out.stdout else []
        return values if len(values) == len(fields) else None

    joint = _query(SMI_FIELDS)
    if joint is not None:
        return dict(zip(SMI_FIELDS, joint, strict=True))
    result: dict[str, str] = {}
    for field in SMI_FIELDS:
        single = _query((field,))
        if single is not None:
            result[field] = single[0]
    return result
