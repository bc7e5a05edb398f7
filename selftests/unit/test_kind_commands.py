"""The `commands` kind: loading (run or argv, output matchers), the in-target runner (time limits, users,
environment) and the check's messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devbox_conformance import checks, probe
from devbox_conformance import expectations as exp
from devbox_conformance.intarget import commands as gatherer
from devbox_conformance.kinds.commands import Command, OutputMatch


def _load(tmp_path: Path, commands_yaml: str) -> exp.Expectations:
    (tmp_path / "common.yaml").write_text("commands:\n" + commands_yaml)
    (tmp_path / "amd64.yaml").write_text("{}\n")
    return exp.load(tmp_path, "amd64", "standin")


def test_a_command_loads_with_its_defaults_and_matchers(tmp_path: Path) -> None:
    model = _load(
        tmp_path,
        """\
  - name: quiet-login
    run: bash -lc true
    stderr: {equals: ""}
  - name: py
    argv: [python3, -c, "import sys"]
    env: {B: "2", A: "1"}
    timeout: 5
    exit_code: 3
    stdout: {contains: ok, not_regex: "Traceback"}
""",
    )
    quiet, py = model.items("commands")
    assert isinstance(quiet, Command) and quiet.key == "quiet-login"
    assert quiet.command_argv == ["/bin/sh", "-c", "bash -lc true"] and quiet.timeout == 30.0
    assert quiet.stderr == OutputMatch(equals="") and quiet.stdout is None and quiet.exit_code == 0
    assert py.command_argv == ["python3", "-c", "import sys"] and py.env == (("A", "1"), ("B", "2"))
    assert py.timeout == 5.0 and py.exit_code == 3
    assert py.stdout == OutputMatch(contains="ok", not_regex="Traceback")
    request = probe.build_request(model)
    assert request["commands"][1] == {
        "name": "py",
        "argv": ["python3", "-c", "import sys"],
        "user": None,
        "env": {"A": "1", "B": "2"},
        "cwd": None,
        "timeout": 5.0,
    }
    assert "commands" in request["gatherers"]


ONE_OF = "give exactly one of `run` (a shell string) or `argv` (a list)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  - name: x\n    run: 'true'\n    argv: ['true']\n", f"common.yaml:2: commands[x]: {ONE_OF}"),
        ("  - name: x\n", f"common.yaml:2: commands[x]: {ONE_OF}"),
        (
            "  - name: x\n    run: 'true'\n    stdout: {regex: '('}\n",
            "common.yaml:4: commands[0].stdout.regex: invalid regex '('",
        ),
        (
            "  - name: x\n    run: 'true'\n    stdout: {equal: ''}\n",
            "common.yaml:4: commands[0].stdout.equal: unknown key 'equal' (did you mean 'equals'?)",
        ),
        (
            "  - name: x\n    run: 'true'\n    timeout: 0\n",
            "common.yaml:4: commands[0].timeout: 0 is less than or equal",
        ),
    ],
)
def test_a_bad_command_is_one_line_naming_file_line_and_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(exp.ExpectationsError) as err:
        _load(tmp_path, body)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_hung_command_is_killed_and_the_others_still_run() -> None:
    request = {
        "gatherers": ["commands"],
        "commands": [
            {"name": "hangs", "argv": ["/bin/sh", "-c", "echo started; sleep 60 & sleep 60"], "timeout": 1},
            {"name": "echo", "argv": ["/bin/sh", "-c", "echo out; echo err >&2"], "timeout": 30},
            {"name": "exit3", "argv": ["/bin/sh", "-c", "exit 3"], "timeout": 30},
            {
                "name": "env-cwd",
                "argv": ["/bin/sh", "-c", 'echo "$DEVBOX_T" "$(pwd)"'],
                "env": {"DEVBOX_T": "v"},
                "cwd": "/",
                "timeout": 30,
            },
            {"name": "missing", "argv": ["devbox-no-such-command"], "timeout": 30},
        ],
    }
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", probe.PROBE_SOURCE, json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert time.monotonic() - started < 20  # the two sleeps (one in the background) were killed at 1 s
    facts = json.loads(out.stdout)["commands"]
    assert facts["hangs"]["timed_out"] and facts["hangs"]["exit_code"] is None
    assert facts["hangs"]["stdout"] == "started\n"
    assert facts["echo"]["stdout"] == "out\n" and facts["echo"]["stderr"] == "err\n"
    assert facts["exit3"]["exit_code"] == 3
    assert facts["env-cwd"]["stdout"] == "v /\n"
    assert facts["missing"]["not_found"] and "cannot run devbox-no-such-command" in facts["missing"]["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_a_command_runs_as_another_user_with_their_home() -> None:
    res = gatherer.run_command(
        {"argv": ["/bin/sh", "-c", 'id -u; echo "$HOME $USER"'], "user": "nobody", "timeout": 30}
    )
    assert res["error"] is None and res["stdout"].splitlines()[0] != "0"
    assert res["stdout"].splitlines()[1].endswith(" nobody")
    assert gatherer.run_command({"argv": ["true"], "user": "devbox-no-such-user"})["error"] == (
        "no such user 'devbox-no-such-user'"
    )


def _verify(item: Command, found: dict[str, object] | None) -> checks.Outcome:
    ctx = checks.Context(
        facts={"commands": {} if found is None else {item.name: found}},
        conditions={},
        target_kind="image",
        image_attrs={},
    )
    return checks.verify("commands", item, ctx)


def _cmd(**kw: object) -> Command:
    return Command(key=str(kw["name"]), source="common.yaml:9", **kw)  # type: ignore[arg-type]


def test_the_check_names_what_was_expected_and_found() -> None:
    item = _cmd(
        name="q", run="bash -lc true", stderr=OutputMatch(equals=""), stdout=OutputMatch(regex="^ok$")
    )
    ok = {
        "exit_code": 0,
        "timed_out": False,
        "stdout": "x\nok\n",
        "stderr": "",
        "seconds": 0.1,
        "error": None,
    }
    assert _verify(item, ok).status == "passed"
    bad = _verify(item, {**ok, "exit_code": 2, "stderr": "warning: x\n", "stdout": "no\n"})
    assert bad.status == "failed"
    assert bad.message.splitlines()[:3] == [
        "commands[q] (common.yaml:9)",
        "expected: `bash -lc true` exits 0 within 30 s, stdout matches /^ok$/, stderr empty",
        "found:    exit code 2; stdout has no match for /^ok$/; stderr is 'warning: x\\n'",
    ]
    hung = _verify(item, {**ok, "timed_out": True, "exit_code": None})
    assert "killed after 30 s (still running)" in hung.message
    never = _verify(
        _cmd(name="n", argv=("nope",), optional=True, reason="team tool"),
        {"error": "cannot run nope: No such file or directory", "not_found": True},
    )
    assert never.status == "skipped" and never.message == "optional, absent: team tool"
    assert _verify(item, None).message.endswith("not probed (the probe was not asked for it)")


def test_output_matchers() -> None:
    m = OutputMatch(equals="a", contains="a", regex="^a$", not_regex="b")
    assert m.problems("stdout", "a\n\n") == []
    assert m.problems("stdout", "ab") == [
        "stdout is 'ab'",
        "stdout has no match for /^a$/",
        "stdout matches /b/: 'b'",
    ]
