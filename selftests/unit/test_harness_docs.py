"""The harness's `--help` and its docs agree, both ways.

build/README.md is the reference: every option of `devbox --help` and of each subcommand's `--help` is
documented there (in its command's row of the Commands table, or in the shared Build options paragraph),
and every option and environment variable it documents exists. README.md summarises: every `./devbox …`
invocation it shows uses options that exist, and every variable in its table is one the harness reads.
"""

from __future__ import annotations

import argparse
import re
import shlex
from functools import cache
from pathlib import Path

import pytest
from devbox_build import config
from devbox_build.cli import make_parser

BUILD_README = config.REPO_ROOT / "build" / "README.md"
ROOT_README = config.REPO_ROOT / "README.md"
DOCS = sorted((config.REPO_ROOT / "docs").glob("*.md"))
HARNESS_SRC = config.REPO_ROOT / "build" / "devbox_build"
BUILD_COMMANDS = ("build", "build-native", "push", "release")
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_ENV_IN_HELP = re.compile(r"\benv ([A-Z][A-Z0-9_]+)")


@cache
def parsers() -> dict[str, argparse.ArgumentParser]:
    """'' -> the top-level parser, then each subcommand's."""
    top = make_parser()
    sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return {"": top, **sub.choices}


def options(parser: argparse.ArgumentParser, *, shown_only: bool) -> dict[str, set[str]]:
    """Each option's strings (keyed by its first long form), without --help; hidden ones unless shown_only."""
    out: dict[str, set[str]] = {}
    for action in parser._actions:
        if not action.option_strings or "--help" in action.option_strings:
            continue
        if shown_only and action.help == argparse.SUPPRESS:
            continue
        longs = [o for o in action.option_strings if o.startswith("--")] or action.option_strings
        out[longs[0]] = set(action.option_strings)
    return out


def all_option_strings(command: str) -> set[str]:
    return {o for strings in options(parsers()[command], shown_only=False).values() for o in strings}


def help_text(command: str) -> str:
    """The help strings of COMMAND's arguments (not format_help(): it wraps lines and shows metavars)."""
    parser = parsers()[command]
    return " ".join(a.help for a in parser._actions if a.help and a.help != argparse.SUPPRESS)


def section(text: str, title: str) -> str:
    """The body of the `## title` section of a markdown text."""
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no section '## {title}'"
    return m.group(1)


def command_rows() -> dict[str, str]:
    """Commands table of build/README.md: command name -> its first cell (`name [--opt …]`)."""
    rows: dict[str, str] = {}
    for line in section(BUILD_README.read_text(), "Commands").splitlines():
        m = re.match(r"^\| `([a-z-]+)([^`]*)` \|", line)
        if m:
            rows[m.group(1)] = m.group(1) + m.group(2)
    return rows


def build_options_paragraph() -> str:
    text = section(BUILD_README.read_text(), "Commands")
    m = re.search(r"^Build options \(([^)]*)\):(.*?)(?=\n\n)", text, re.M | re.S)
    assert m, "no 'Build options (…):' paragraph"
    assert {c.strip() for c in m.group(1).split(",")} == set(BUILD_COMMANDS)
    return m.group(2)


def invocations(text: str) -> list[tuple[str, list[str]]]:
    """(command, its tokens) for each `./devbox …` or `devbox …` run in code spans and code blocks."""
    found: list[tuple[str, list[str]]] = []
    snippets = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    for snippet in snippets:
        for line in snippet.splitlines():
            line = line.split("  #", 1)[0]
            for part in re.split(r"&&|\|\||;", line):
                m = re.search(r"(?:^|\s)(?:\./)?devbox((?:\s+[^|]*)?)$", part.strip())
                if not m:
                    continue
                try:
                    tokens = shlex.split(m.group(1))
                except ValueError:
                    continue
                command = tokens[0] if tokens and not tokens[0].startswith("-") else ""
                if command and command not in parsers():
                    continue  # prose such as "`devbox` once the project is pip-installed"
                found.append((command, tokens[1:] if command else tokens))
    return found


def harness_reads(name: str) -> bool:
    """True when the harness source reads environment variable NAME (INSTALL_* as a prefix)."""
    needle = '"INSTALL_"' if name.endswith("*") else f'"{name}"'
    return any(needle in p.read_text() for p in HARNESS_SRC.rglob("*.py"))


def env_table(text: str, title: str | None = None) -> set[str]:
    """Variables in the first column of a `| variable | … |` table (of section TITLE when given)."""
    body = section(text, title) if title else text
    names: set[str] = set()
    in_table = False
    for line in body.splitlines():
        if line.startswith("| variable |"):
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            in_table = False
        if in_table:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*\*?)`", line.split("|")[1]))
    return names


# ---- help -> build/README.md ----


@pytest.mark.parametrize("command", sorted(c for c in parsers() if c))
def test_every_option_in_help_is_documented(command: str) -> None:
    row = command_rows().get(command)
    assert row is not None, f"build/README.md: no row for `{command}` in the Commands table"
    documented = set(_OPTION.findall(row))
    if command in BUILD_COMMANDS:
        documented |= set(_OPTION.findall(build_options_paragraph()))
    missing = [
        opt
        for opt, strings in options(parsers()[command], shown_only=True).items()
        if not strings & documented
    ]
    assert not missing, f"build/README.md does not document `{command}` options {missing}"


def test_top_level_options_are_documented() -> None:
    text = BUILD_README.read_text()
    for opt in options(parsers()[""], shown_only=True):
        assert re.search(rf"`(?:\./devbox )?{re.escape(opt)}\b", text), f"build/README.md lacks `{opt}`"


def test_every_env_var_in_help_is_documented() -> None:
    table = env_table(BUILD_README.read_text(), "Environment variables")
    mentioned: set[str] = set()
    for command in parsers():
        mentioned |= set(_ENV_IN_HELP.findall(help_text(command)))
    epilog = parsers()[""].epilog or ""
    listed = epilog.split(":", 1)[1].split(";", 1)[0]  # "Environment: IMAGE, TAG, …, INSTALL_*; flags …"
    mentioned |= set(re.findall(r"\b[A-Z][A-Z0-9_]+\*?", listed))
    assert mentioned, "the help names no environment variable: the parsing here is broken"
    missing = sorted(v for v in mentioned if v not in table)
    assert not missing, f"in --help but not in build/README.md's variable table: {missing}"


# ---- build/README.md -> the harness ----


def test_every_documented_option_of_a_command_exists() -> None:
    rows = command_rows()
    assert set(rows) == {c for c in parsers() if c}, "Commands table and subcommands differ"
    for command, row in rows.items():
        unknown = [o for o in _OPTION.findall(row) if o not in all_option_strings(command) and o != "--"]
        assert not unknown, f"build/README.md documents {unknown} for `{command}`, which has none"
    for opt in set(_OPTION.findall(build_options_paragraph())):
        for command in BUILD_COMMANDS:
            assert opt in all_option_strings(command), f"build option {opt} is missing from `{command}`"


@pytest.mark.parametrize(
    "readme",
    [BUILD_README, ROOT_README, *DOCS],
    ids=["build/README.md", "README.md", *(f"docs/{d.name}" for d in DOCS)],
)
def test_every_devbox_invocation_in_the_docs_uses_real_options(readme: Path) -> None:
    runs = invocations(readme.read_text())
    if readme in (BUILD_README, ROOT_README):
        assert runs, f"{readme.name}: no ./devbox invocation found: the parsing here is broken"
    for command, tokens in runs:
        if command == "check":  # IMAGE, then pytest's arguments (test_docs_commands checks pytest's options)
            assert not tokens or not tokens[0].startswith("-"), f"{readme.name}: `devbox check` without IMAGE"
            continue
        known = all_option_strings(command) | all_option_strings("")
        for token in tokens:
            if token == "--":
                break
            opt = token.split("=", 1)[0]
            if _OPTION.fullmatch(opt):
                assert opt in known, f"{readme.name}: `devbox {command} … {token}`: no such option"


@pytest.mark.parametrize("readme", [BUILD_README, ROOT_README], ids=["build/README.md", "README.md"])
def test_every_documented_env_var_is_read_by_the_harness(readme: Path) -> None:
    title = "Environment variables" if readme == BUILD_README else None
    table = env_table(readme.read_text(), title) if title else _harness_table(readme.read_text())
    assert {"IMAGE", "TAG", "PLATFORMS", "SKIP_LOGIN"} <= table
    unread = sorted(v for v in table if not harness_reads(v))
    assert not unread, f"{readme.name} documents variables the harness never reads: {unread}"


def _harness_table(text: str) -> set[str]:
    """README.md's variable table in its harness section."""
    return env_table(section(text, "The harness: `./devbox`"))


def test_root_readme_variables_are_in_the_reference() -> None:
    root = _harness_table(ROOT_README.read_text())
    reference = env_table(BUILD_README.read_text(), "Environment variables")
    assert root <= reference | {"LOG_DIR", "RESULTS_DIR"}, root - reference


def test_help_of_every_documented_subcommand_works(capsys: pytest.CaptureFixture[str]) -> None:
    """`devbox COMMAND --help` exits 0 and prints a usage line for every command the docs run."""
    documented = {
        c for doc in (BUILD_README, ROOT_README, *DOCS) for c, _ in invocations(doc.read_text()) if c
    }
    assert {"build", "release", "check", "diff", "snapshot", "fleet-report"} <= documented, documented
    for command in sorted(documented):
        with pytest.raises(SystemExit) as done:
            make_parser().parse_args([command, "--help"])
        assert done.value.code == 0, command
        assert capsys.readouterr().out.startswith(f"usage: devbox {command}"), command


# ---- the checks themselves catch drift ----


def test_a_missing_option_would_be_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    row = command_rows()["prune"]
    assert "--volumes" in row
    monkeypatch.setattr(f"{__name__}.command_rows", lambda: {"prune": row.replace(" [--volumes]", "")})
    with pytest.raises(AssertionError, match="--volumes"):
        test_every_option_in_help_is_documented("prune")


def test_an_invented_option_would_be_caught(tmp_path: Path) -> None:
    fake = tmp_path / "README.md"
    fake.write_text("```bash\n./devbox prune --keep-everything   # no such flag\n```\n")
    with pytest.raises(AssertionError, match="--keep-everything"):
        test_every_devbox_invocation_in_the_docs_uses_real_options(fake)
