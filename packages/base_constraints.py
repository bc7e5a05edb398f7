"""Write the base image's ``pip freeze`` as a pip constraints file (stdlib only).

Example::

    python3 -B base_constraints.py --output /opt/devbox/base-constraints.txt

Lines pip cannot use as a constraint are dropped: direct references (``torch @ file:///...``),
editable installs (``-e ...``), bare paths and URLs. Every later ``pip install`` passes the file with
``--constraint``, so no package of the base is ever up- or downgraded.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

_UNUSABLE_PREFIXES = ("-e", "--", "#", ".", "/", "file:", "git+", "http:", "https:")


def usable(line: str) -> bool:
    """``usable("numpy==2.1.0") is True``; ``usable("torch @ file:///tmp/torch.whl") is False``."""
    text = line.strip()
    return bool(text) and " @ " not in text and not text.startswith(_UNUSABLE_PREFIXES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    kept = [line.strip() for line in frozen if usable(line)]
    dropped = [line.strip() for line in frozen if line.strip() and not usable(line)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    header = [
        f"# pip freeze of the base image ({sys.executable}), written before any package set.",
        "# Passed to every pip install of the build with --constraint: base packages are never replaced.",
        *(f"# dropped (not usable as a constraint): {line}" for line in dropped),
    ]
    args.output.write_text("\n".join([*header, *kept]) + "\n", encoding="utf-8")
    print(f"devbox: {args.output}: {len(kept)} constraints, {len(dropped)} lines dropped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
