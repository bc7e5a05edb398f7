"""shells: bash/zsh, login and/or interactive, under a pseudo-terminal: greeting exactly once and first,
exit 0, PATH entries, aliases, nothing on stderr."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

DEFAULT_GREETING = "Welcome to GPU devbox!"


@dataclass(frozen=True, kw_only=True)
class Shell(Item):
    name: str
    shell: str
    login: bool = False
    interactive: bool = False
    # First line expected exactly once; "" means no greeting may appear; None means not checked.
    greeting: str | None = None
    path_contains: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    stderr_empty: bool = True


def _mode(item: Shell) -> str:
    flags = [f for f, on in (("-l", item.login), ("-i", item.interactive)) if on]
    return f"{item.shell} {' '.join(flags)}".strip()


def evaluate(item: Shell, ctx: Context) -> Outcome:
    run = (ctx.facts.get("shells") or {}).get(item.name)
    mode = _mode(item)
    if not isinstance(run, dict) or "available" not in run:
        # No answer is not "not on PATH": an optional shell must not skip on a probe that never looked.
        return Outcome.failed(f"`{mode}` runs", "not probed (the probe gave no answer for this shell)")
    if not run.get("available"):
        return Outcome.failed(f"`{item.shell}` on PATH", "not on PATH", absent=True)
    if run.get("error"):
        return Outcome.failed(f"`{mode}` starts", run["error"])
    lines = [ln for ln in (run.get("stdout") or "").splitlines() if ln.strip()]
    problems = [
        *_exit_problems(run),
        *_greeting_problems(item, lines),
        *_path_problems(item, run),
        *(f"alias {a} not defined" for a in item.aliases if not (run.get("aliases") or {}).get(a)),
    ]
    if item.stderr_empty and (run.get("stderr") or "").strip():
        problems.append(f"stderr: {run['stderr'].strip()[:300]!r}")
    if item.greeting == "" and lines:
        problems.append(f"unexpected output: {lines[0][:200]!r}")
    if problems:
        return Outcome.failed(
            _expected(item, mode),
            "; ".join(problems) + (f"\nstdout:   {(run.get('stdout') or '')[:500]!r}" if lines else ""),
        )
    return Outcome.passed()


def _exit_problems(run: Mapping[str, Any]) -> list[str]:
    problems = []
    if run.get("timed_out"):
        problems.append("did not finish within 60 s")
    elif run.get("exit_code") != 0:
        problems.append(f"exit code {run.get('exit_code')}")
    if not run.get("completed"):
        problems.append("the probe's commands did not run to the end")
    return problems


def _greeting_problems(item: Shell, lines: list[str]) -> list[str]:
    """The greeting printed exactly once, as the first line (`greeting: false` is judged by the caller)."""
    if not item.greeting:
        return []
    count = sum(1 for ln in lines if ln.strip() == item.greeting)
    if count != 1:
        return [f"greeting {item.greeting!r} printed {count} times"]
    if lines[0].strip() != item.greeting:
        return [f"first line is {lines[0].strip()!r}, not the greeting"]
    return []


def _path_problems(item: Shell, run: Mapping[str, Any]) -> list[str]:
    home = run.get("home")
    path_entries = (run.get("path") or "").split(":")
    problems = []
    for entry in item.path_contains:
        if entry.startswith("~") and not home:
            # A literal "~/..." in PATH is not expanded by exec*p, so it must not stand in for the home.
            problems.append(f"PATH should hold {entry}, but the shell's HOME is unknown")
            continue
        wanted = str(home) + entry[1:] if entry.startswith("~") else entry
        if wanted not in path_entries:
            problems.append(f"PATH lacks {wanted} (PATH={run.get('path')})")
    return problems


def _expected(item: Shell, mode: str) -> str:
    expected = [f"`{mode}` exits 0"]
    if item.greeting:
        expected.append(f"prints {item.greeting!r} once, first")
    if item.path_contains:
        expected.append(f"PATH holds {', '.join(item.path_contains)}")
    if item.aliases:
        expected.append(f"aliases {', '.join(item.aliases)}")
    if item.stderr_empty:
        expected.append("nothing on stderr")
    return ", ".join(expected)


def request(items: Sequence[Shell]) -> dict[str, Any]:
    return {
        "shells": [
            {
                "name": s.name,
                "shell": s.shell,
                "login": s.login,
                "interactive": s.interactive,
                "aliases": list(s.aliases),
                "timeout": 60,
            }
            for s in items
        ]
    }


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    if "greeting" not in raw:
        return {}
    value = raw["greeting"]
    return {"greeting": "" if value is False else (DEFAULT_GREETING if value is True else value)}


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = "Shell behaviour, run under a pseudo-terminal as the target's default user."
SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "Name of this shell run (test id), e.g. bash-login.",
        "type": "string",
        "minLength": 1,
    },
    "shell": {"description": "Shell command.", "enum": ["bash", "zsh", "sh"]},
    "login": {"description": "Run as a login shell (-l).", "type": "boolean"},
    "interactive": {"description": "Run as an interactive shell (-i).", "type": "boolean"},
    "greeting": {
        "description": "First line the shell must print, exactly once; false: no greeting line may appear.",
        "type": ["string", "boolean"],
    },
    "path_contains": {
        "description": "Entries PATH must hold (~ means the shell's $HOME).",
        "type": "array",
        "items": {"type": "string"},
    },
    "aliases": {
        "description": "Aliases that must be defined (names: no leading '-', no '=' nor white space).",
        "type": "array",
        "items": {"type": "string", "pattern": "^[^-=\\s][^=\\s]*$"},
    },
    "stderr_empty": {"description": "Nothing may be written on stderr (default true).", "type": "boolean"},
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    """A shell may run twice (a second try when its first run hit the pty's quirks)."""
    return [2 * float(s.get("timeout", 60)) for s in request.get("shells") or []]


KIND = Kind(
    section="shells",
    report_order=90,
    key="name",
    argname="shell",
    test="test_shell",
    item=Shell,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="shells",
    convert=convert,
    probe_priority=1,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
    schema_required=("shell",),
)
