"""commands: a command a team writes itself (argv or a shell string, as a user, with an environment, in a
directory, within a time limit) exits with the expected code and prints what it should.

    commands:
      - name: python-imports-sys
        argv: [python3, -c, "import sys"]
      - name: login-bash-is-quiet
        run: bash -lc true             # a shell string runs under /bin/sh -c
        stderr: {equals: ""}

Each command runs in the one probe, side by side with the other gatherers, under its own time limit: a
command that hangs is killed (with its process group) and reported, and the others still run.

A verdict is about the whole stream: the probe keeps the first `max_output` bytes of each (1 MiB unless the
item says) and counts all of them; a matcher that did not see a whole stream fails the item with that
reason, except a `contains` found in what was kept (then it is in the whole stream too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devbox_conformance.kinds.base import Item, Kind
from devbox_conformance.kinds.verdict import Context, Outcome

SHELL = "/bin/sh"
DEFAULT_TIMEOUT = 30.0
# Bytes of each stream the probe keeps and the matchers judge, unless the item sets `max_output`.
DEFAULT_MAX_OUTPUT = 1 << 20
MAX_MAX_OUTPUT = 256 << 20


@dataclass(frozen=True)
class OutputMatch:
    """What one output stream must hold; every field given must hold."""

    # The whole output, trailing newlines ignored ("" means nothing at all was printed).
    equals: str | None = None
    # A regex that must match somewhere (multi-line: ^ and $ match at each line).
    regex: str | None = None
    # A substring that must appear.
    contains: str | None = None
    # A regex that must match nowhere.
    not_regex: str | None = None

    def describe(self, stream: str) -> list[str]:
        out = []
        if self.equals is not None:
            out.append(f"{stream} empty" if self.equals == "" else f"{stream} = {self.equals!r}")
        if self.contains is not None:
            out.append(f"{stream} contains {self.contains!r}")
        if self.regex is not None:
            out.append(f"{stream} matches /{self.regex}/")
        if self.not_regex is not None:
            out.append(f"{stream} does not match /{self.not_regex}/")
        return out

    def problems(self, stream: str, text: str, cut: str | None = None) -> list[str]:
        """What the text breaks; `cut` says why the text is only the start of the stream (None: all of it).

        Over a start only a `contains` that is found is decided (the whole stream holds it too): any other
        matcher given makes the one line `cut`, never a pass.
        """
        if cut is not None:
            undecided = (self.equals, self.regex, self.not_regex)
            if any(m is not None for m in undecided) or (
                self.contains is not None and self.contains not in text
            ):
                return [cut]
            return []
        out = []
        if self.equals is not None and text.rstrip("\n") != self.equals.rstrip("\n"):
            out.append(f"{stream} is {text[:300]!r}")
        if self.contains is not None and self.contains not in text:
            out.append(f"{stream} lacks {self.contains!r}")
        if self.regex is not None and not re.search(self.regex, text, re.M):
            out.append(f"{stream} has no match for /{self.regex}/")
        if self.not_regex is not None:
            hit = re.search(self.not_regex, text, re.M)
            if hit:
                out.append(f"{stream} matches /{self.not_regex}/: {hit.group(0)[:200]!r}")
        return out


@dataclass(frozen=True, kw_only=True)
class Command(Item):
    name: str
    # A shell string (run by /bin/sh -c) or an argument list: exactly one of them.
    run: str | None = None
    argv: tuple[str, ...] = ()
    # Run as this user (the probe must run as root to switch); None: the probe's user.
    user: str | None = None
    # Added to (or replacing in) the probe's environment, sorted by name.
    env: tuple[tuple[str, str], ...] = ()
    # Working directory; None: the probe's (a container's WORKDIR).
    cwd: str | None = None
    # Seconds before the command (and its process group) is killed.
    timeout: float = DEFAULT_TIMEOUT
    exit_code: int = 0
    stdout: OutputMatch | None = None
    stderr: OutputMatch | None = None
    # Bytes of each stream kept and judged; past it a matcher fails the item (it saw only a part).
    max_output: int = DEFAULT_MAX_OUTPUT

    @property
    def command_argv(self) -> list[str]:
        return [SHELL, "-c", self.run] if self.run is not None else list(self.argv)

    @property
    def shown(self) -> str:
        return self.run if self.run is not None else " ".join(self.argv)


def evaluate(item: Command, ctx: Context) -> Outcome:
    found = (ctx.facts.get("commands") or {}).get(item.name)
    expected = _expected(item)
    if found is None:
        return Outcome.failed(expected, "not probed (the probe was not asked for it)")
    if found.get("error"):
        return Outcome.failed(
            expected, f"did not start: {found['error']}", absent=bool(found.get("not_found"))
        )
    problems = _problems(item, found)
    if problems:
        out, err = found.get("stdout") or "", found.get("stderr") or ""
        shown = (f"\nstdout:   {out[-500:]!r}" if out.strip() else "") + (
            f"\nstderr:   {err[-500:]!r}" if err.strip() else ""
        )
        return Outcome.failed(expected, "; ".join(problems) + shown)
    return Outcome.passed(f"exit {found.get('exit_code')} in {found.get('seconds')} s")


def _expected(item: Command) -> str:
    parts = [
        f"`{item.shown}` exits {item.exit_code}"
        + (f" as {item.user}" if item.user else "")
        + f" within {item.timeout:g} s"
    ]
    for stream, match in (("stdout", item.stdout), ("stderr", item.stderr)):
        if match is not None:
            parts.extend(match.describe(stream))
    return ", ".join(parts)


def _problems(item: Command, found: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if found.get("timed_out"):
        problems.append(f"killed after {item.timeout:g} s (still running)")
    elif found.get("exit_code") != item.exit_code:
        problems.append(f"exit code {found.get('exit_code')}")
    if found.get("output_lost"):
        problems.append(f"output lost: {found['output_lost']}")
    for stream, match in (("stdout", item.stdout), ("stderr", item.stderr)):
        if match is not None:
            problems.extend(match.problems(stream, found.get(stream) or "", cut_reason(found, stream)))
    return problems


def cut_reason(found: Mapping[str, Any], stream: str) -> str | None:
    """Why the probe's text of `stream` is not the whole stream, or None when it is.

    From the stream's byte counts; a probe that gave none but said `truncated` (or lost the output) is taken
    at its word for both streams: unknown is not whole.
    """
    total, kept = found.get(f"{stream}_bytes"), found.get(f"{stream}_kept")
    if found.get("output_lost"):
        return f"{stream} was not read to its end; only its start was judged"
    if isinstance(total, int) and isinstance(kept, int):
        if total <= kept:
            return None
        return f"{stream} was {total} bytes; only the first {kept} were judged (raise max_output)"
    if found.get("truncated"):
        return f"{stream} was cut by the probe; only its start was judged (raise max_output)"
    return None


def request(items: Sequence[Command]) -> dict[str, Any]:
    return {
        "commands": [
            {
                "name": c.name,
                "argv": c.command_argv,
                "user": c.user,
                "env": dict(c.env),
                "cwd": c.cwd,
                "timeout": c.timeout,
                "max_output": c.max_output,
            }
            for c in items
        ]
    }


def _match(value: Mapping[str, Any] | None) -> OutputMatch | None:
    return None if value is None else OutputMatch(**value)


def convert(raw: Mapping[str, Any]) -> dict[str, Any]:
    """argv or run (exactly one, after merging), env as sorted pairs, the output matchers."""
    if ("run" in raw) == ("argv" in raw):
        raise ValueError("give exactly one of `run` (a shell string) or `argv` (a list)")
    out: dict[str, Any] = {
        "env": tuple(sorted((str(k), str(v)) for k, v in (raw.get("env") or {}).items())),
        "stdout": _match(raw.get("stdout")),
        "stderr": _match(raw.get("stderr")),
    }
    if "timeout" in raw:
        out["timeout"] = float(raw["timeout"])
    return out


# The kind in the JSON Schema: its section's description and its own fields (kinds/schema.py adds the
# fields every item takes and the group form, and writes schema.json from all kinds).
SCHEMA_DESCRIPTION = (
    "Commands a team writes itself: exit code and output of an argv or a shell string, run in the probe "
    "as a user, with an environment and a working directory, within a time limit (a hung command is "
    "killed and fails its item; the others still run)."
)


def _stream(description: str) -> dict[str, Any]:
    """The schema of one output stream's expectations (stdout and stderr take the same four tests)."""
    return {
        "description": description,
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "equals": {
                "description": 'The whole output, trailing newlines ignored ("": nothing printed).',
                "type": "string",
            },
            "regex": {
                "description": "Regex that must match somewhere (multi-line: ^ and $ match at each line).",
                "type": "string",
            },
            "contains": {"description": "Text that must appear.", "type": "string"},
            "not_regex": {"description": "Regex that must match nowhere.", "type": "string"},
        },
    }


SCHEMA_FIELDS: dict[str, Any] = {
    "name": {
        "description": "Test id of the command (test_command[<name>]).",
        "type": "string",
        "minLength": 1,
    },
    "run": {
        "description": "Shell string, run by /bin/sh -c. Give `run` or `argv`, not both.",
        "type": "string",
        "minLength": 1,
    },
    "argv": {
        "description": "Argument list, run without a shell (argv[0] looked up on PATH). Give `run` "
        "or `argv`, not both.",
        "type": "array",
        "minItems": 1,
        "items": {"type": "string"},
    },
    "user": {
        "description": "Run as this user (HOME, USER and LOGNAME set to theirs); the probe must run "
        "as root to switch. Default: the probe's user.",
        "type": "string",
        "minLength": 1,
    },
    "env": {
        "description": "Environment variables added to (or replacing in) the probe's environment.",
        "type": "object",
        "additionalProperties": {"type": "string"},
    },
    "cwd": {
        "description": "Working directory. Default: the probe's (a container's WORKDIR).",
        "type": "string",
        "minLength": 1,
    },
    "timeout": {
        "description": "Seconds before the command and its process group are killed (default 30); "
        "a killed command fails its item.",
        "type": "number",
        "exclusiveMinimum": 0,
    },
    "exit_code": {"description": "Expected exit code (default 0).", "type": "integer"},
    "stdout": _stream("What the standard output must hold."),
    "stderr": _stream('What the standard error must hold ({equals: ""}: nothing at all).'),
    "max_output": {
        "description": "Bytes of each stream (stdout, stderr) kept and judged (default 1048576: 1 MiB). "
        "The probe reads all of the output and counts it; a stream with a matcher that printed more "
        "fails the item (only a `contains` found in the kept part passes).",
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_MAX_OUTPUT,
    },
}


def job_seconds(request: Mapping[str, Any]) -> list[float]:
    return [float(c.get("timeout", 30)) for c in request.get("commands") or []]


KIND = Kind(
    section="commands",
    report_order=110,
    key="name",
    argname="command",
    test="test_command",
    item=Command,
    evaluate=evaluate,
    request=request,
    job_seconds=job_seconds,
    gatherer="commands",
    patterns={
        "stdout.regex": "regex",
        "stdout.not_regex": "regex",
        "stderr.regex": "regex",
        "stderr.not_regex": "regex",
    },
    convert=convert,
    probe_priority=1,
    description=SCHEMA_DESCRIPTION,
    schema_fields=SCHEMA_FIELDS,
)
