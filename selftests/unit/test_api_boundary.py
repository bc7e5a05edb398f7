"""Tools built on the suite (the image diff, snapshot, release gate, diff benchmark) use its public interface.

Why: a tool that imports the suite's modules (engine, lease, probe, labels, kinds) breaks whenever they are
cut differently, and tends to copy their sequence; `devbox_conformance.api` is the one place it may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS = sorted(
    [*(REPO / "build" / "devbox_build" / "imagediff").glob("*.py"), REPO / "bench" / "diff_bench.py"]
)


def suite_imports(path: Path) -> list[str]:
    """Every `devbox_conformance...` module a file imports, at any depth (lazy imports in functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("devbox_conformance"):
            names = [a.name for a in node.names]
            found += [
                f"{node.module}.{n}" if node.module == "devbox_conformance" else node.module for n in names
            ]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("devbox_conformance")]
    return found


def test_the_diff_tools_import_only_the_api() -> None:
    assert len(TOOLS) >= 5, TOOLS
    reached = {
        str(p.relative_to(REPO)): m for p in TOOLS for m in suite_imports(p) if m != "devbox_conformance.api"
    }
    assert not reached, f"modules of the suite reached past devbox_conformance.api: {reached}"


def test_the_scan_sees_an_internal_import(tmp_path: Path) -> None:
    """The check can fail: a lazy import of an internal module, inside a function, is found."""
    tool = tmp_path / "tool.py"
    tool.write_text(
        "def f():\n"
        "    from devbox_conformance import engine as eng\n"
        "    from devbox_conformance.api import load_contract\n"
    )
    assert suite_imports(tool) == ["devbox_conformance.engine", "devbox_conformance.api"]
