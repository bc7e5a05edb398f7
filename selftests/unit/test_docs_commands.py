"""Every `pytest` command the docs print is one that runs.

For each line of a ```bash block in README.md and docs/*.md that runs `pytest` (or `python -m pytest`):
every option it uses is one `pytest --help` lists with the suite loaded, path options are written with `=`
(pytest takes a path after a space for a test path before the suite's options exist), and, where every
path it names is there, it really runs with `--collect-only -q` appended (outputs sent to a temp dir). The
`devbox` lines are test_harness_docs.py's (`--help` of each subcommand, each option it uses).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from readme_blocks import bash_lines

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# Options whose value is a path: written `--opt=PATH` in the docs.
PATH_OPTIONS = ("--expectations", "--results-json", "--junitxml", "--ssh-config", "--ssh-identity-file",
                "--ansible-inventory", "--html", "--waivers")  # fmt: skip
# Options that write a file: sent to the temp dir when the line runs.
OUTPUT_OPTIONS = ("--results-json", "--junitxml", "--benchmark-json", "--html")
# Options that save a run's benchmarks: left out when a line only collects.
SAVE_OPTIONS = ("--benchmark-save", "--benchmark-autosave")
# What the docs' shell variables stand for when a line runs here.
VARIABLES = {"ARCH": "amd64", "HOME": "/nonexistent-home", "DIR": "/nonexistent-dir"}
_OPTION = re.compile(r"^(--?[A-Za-z][\w-]*)")
# Spellings pytest accepts but its help no longer lists (pytest 9 shows `--junit-xml` only).
ALIASES = {"--junitxml": "--junit-xml"}
# Placeholders the docs use for an image, and what stands in for them when a line runs here (not local:
# --collect-only then lists the contract for this machine's arch without pulling).
PLACEHOLDER_IMAGES = {"IMG": "devbox-docs-absent:1", "NEW": "devbox-docs-absent:2"}


def pytest_runs(text: str) -> list[list[str]]:
    """The argument lists (after `pytest`) of every pytest run in TEXT's bash blocks."""
    runs: list[list[str]] = []
    for line in bash_lines(text):
        for part in re.split(r"&&|\|\||;", line):
            for name, value in VARIABLES.items():
                part = part.replace(f"${name}", value).replace(f"${{{name}}}", value)
            try:
                tokens = shlex.split(part)
            except ValueError:
                continue
            while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
                tokens.pop(0)
            if tokens and tokens[0] == "pytest":
                runs.append(tokens[1:])
            elif len(tokens) > 2 and re.search(r"python3?$", tokens[0]) and tokens[1:3] == ["-m", "pytest"]:
                runs.append(tokens[3:])
    return runs


def documented() -> list[tuple[str, list[str]]]:
    return [(f"{doc.relative_to(REPO)}: pytest {shlex.join(args)}", args) for doc in DOCS for args in
            pytest_runs(doc.read_text())]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO / "build")])
    return env


@cache
def pytest_help_options() -> frozenset[str]:
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "gpu-devbox conformance suite" in res.stdout, "the suite's plugin is not loaded"
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", res.stdout))


def used_options(args: list[str]) -> list[str]:
    out = []
    for tok in args:
        m = _OPTION.match(tok)
        if m and not re.fullmatch(r"-\d.*", tok):
            out.append(m.group(1) if tok.startswith("--") else tok[:2])
    return out


RUNS = documented()


def test_the_docs_have_pytest_lines() -> None:
    """The parsing is not silently broken: the README's first examples are found."""
    texts = [t for t, _ in RUNS]
    assert len(RUNS) >= 25, texts
    assert any("pytest --image sytelus/gpu-devbox:latest -n auto" in t for t in texts)


@pytest.mark.parametrize("args", [a for _, a in RUNS], ids=[t for t, _ in RUNS])
def test_every_option_exists(args: list[str]) -> None:
    unknown = [opt for opt in used_options(args) if ALIASES.get(opt, opt) not in pytest_help_options()]
    assert not unknown, f"not in `pytest --help`: {unknown}"


@pytest.mark.parametrize("args", [a for _, a in RUNS], ids=[t for t, _ in RUNS])
def test_path_options_are_written_with_equals(args: list[str]) -> None:
    spaced = [tok for tok in args if tok in PATH_OPTIONS]
    assert not spaced, (
        f"write {spaced} as OPTION=PATH: after a space pytest may take the path for a test path"
    )


def runnable(args: list[str], out: Path) -> list[str] | None:
    """ARGS ready to run from the checkout (outputs to OUT), or None when they need what is not here: a path
    on a user's machine, a running container, a saved benchmark to compare with."""
    if "--container" in args or "--benchmark-compare" in args:
        return None
    ready: list[str] = []
    for tok in args:
        if ready[-1:] == ["--image"]:
            tok = PLACEHOLDER_IMAGES.get(tok, tok)
        name, eq, value = tok.partition("=")
        if name in SAVE_OPTIONS:
            continue  # --collect-only runs nothing, so nothing is saved (pytest-benchmark warns)
        if eq and name in OUTPUT_OPTIONS:
            ready.append(f"{name}={out / Path(value).name}")
            continue
        if eq and name in PATH_OPTIONS and not (REPO / value).exists():
            return None
        if (
            not tok.startswith("-")
            and not ready[-1:] == ["-k"]
            and ("/" in tok or tok in ("tests", "selftests"))
        ):
            if "://" not in tok and ":" not in tok.split("/")[-1] and not (REPO / tok).exists():
                return None
        ready.append(tok)
    return ready


@pytest.mark.parametrize("args", [a for _, a in RUNS], ids=[t for t, _ in RUNS])
def test_every_runnable_line_collects(args: list[str], tmp_path: Path) -> None:
    ready = runnable(args, tmp_path)
    if ready is None:
        pytest.skip("needs a user's path, a running container or a saved benchmark; options checked above")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", *ready, "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    assert re.search(r"\d+(/\d+)? tests? collected", res.stdout), res.stdout[-500:]


def test_most_lines_really_run(tmp_path: Path) -> None:
    """The runnable filter must not quietly turn this file into a parse check."""
    ran = [t for t, a in RUNS if runnable(a, tmp_path) is not None]
    assert len(ran) >= 20, ran


def test_a_misspelled_option_would_be_caught() -> None:
    runs = pytest_runs("```bash\npytest --image IMG --result-json=r.json   # typo\n```\n")
    assert runs == [["--image", "IMG", "--result-json=r.json"]]
    with pytest.raises(AssertionError, match="--result-json"):
        test_every_option_exists(runs[0])


def test_a_spaced_path_option_would_be_caught() -> None:
    runs = pytest_runs("```bash\n.venv/bin/python -m pytest --image IMG --expectations team/\n```\n")
    with pytest.raises(AssertionError, match="--expectations"):
        test_path_options_are_written_with_equals(runs[0])
