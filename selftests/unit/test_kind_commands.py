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
from hypothesis import given, settings
from hypothesis import strategies as st

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance.intarget import commands as gatherer
from devbox_conformance.kinds import verdict
from devbox_conformance.kinds.commands import DEFAULT_MAX_OUTPUT, Command, OutputMatch


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
        "max_output": 1 << 20,
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
        (
            "  - name: x\n    run: 'true'\n    max_output: 0\n",
            "common.yaml:4: commands[0].max_output: 0 is less than the minimum of 1",
        ),
        (
            "  - name: x\n    run: 'true'\n    max_output: 268435457\n",
            "common.yaml:4: commands[0].max_output: 268435457 is greater than the maximum of 268435456",
        ),
        (
            "  - name: x\n    run: 'true'\n    max_output: 1.5\n",
            "common.yaml:4: commands[0].max_output: wrong type: expected integer, got number (1.5)",
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


def _verify(item: Command, found: dict[str, object] | None) -> verdict.Outcome:
    ctx = verdict.Context(
        facts={"commands": {} if found is None else {item.name: found}},
        conditions={},
        target_kind="image",
        image_attrs={},
    )
    return verdict.verify("commands", item, ctx)


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


# --- Output past what is kept: never judged as if it were the whole stream --------------------------------

# 204800 bytes on stdout: 204793 'x', then the line "FATAL".
FATAL_AT_END = "head -c 204793 /dev/zero | tr '\\0' x; echo; echo FATAL"


def _run_and_verify(run: str, **kw: object) -> tuple[dict[str, object], verdict.Outcome]:
    item = _cmd(name="x", run=run, **kw)
    found = gatherer.run_command({"argv": item.command_argv, "timeout": 30, "max_output": item.max_output})
    return found, _verify(item, found)


def test_output_past_max_output_fails_with_the_reason_not_a_pass() -> None:
    found, outcome = _run_and_verify(FATAL_AT_END, stdout=OutputMatch(not_regex="FATAL"), max_output=65536)
    assert found["stdout_bytes"] == 204800 and found["stdout_kept"] == 65536 and found["exit_code"] == 0
    assert found["truncated"] and len(str(found["stdout"])) == 65536
    assert outcome.status == "failed"
    assert outcome.message.splitlines()[2] == (
        "found:    stdout was 204800 bytes; only the first 65536 were judged (raise max_output)"
    )


def test_output_within_max_output_is_judged_to_its_end() -> None:
    found, outcome = _run_and_verify(FATAL_AT_END, stdout=OutputMatch(not_regex="FATAL"))
    assert found["stdout_bytes"] == found["stdout_kept"] == 204800 and not found["truncated"]
    assert outcome.status == "failed"
    assert outcome.message.splitlines()[2] == "found:    stdout matches /FATAL/: 'FATAL'"
    assert _run_and_verify(FATAL_AT_END, stdout=OutputMatch(regex="^FATAL$"))[1].status == "passed"


@pytest.mark.parametrize(
    ("match", "status"),
    [
        (OutputMatch(contains="xxx"), "passed"),  # found in the kept part: the whole stream holds it
        (OutputMatch(contains="FATAL"), "failed"),  # not in the kept part: it may lie past it
        (OutputMatch(regex="x"), "failed"),  # a regex over a part is never decided (`$` at the cut)
        (OutputMatch(equals="x" * 100), "failed"),
        (OutputMatch(not_regex="nothing-like-this"), "failed"),
    ],
)
def test_only_a_found_contains_is_decided_on_a_part(match: OutputMatch, status: str) -> None:
    outcome = _run_and_verify(FATAL_AT_END, stdout=match, max_output=1000)[1]
    assert outcome.status == status, outcome.message
    if status == "failed":
        assert "found:    stdout was 204800 bytes; only the first 1000 were judged (raise max_output)" in (
            outcome.message.splitlines()
        )


def test_a_stream_without_matcher_may_be_longer_and_the_command_is_never_blocked() -> None:
    # 3 MiB on stdout, then a line on stderr: the probe keeps draining stdout past its limit.
    found, outcome = _run_and_verify(
        "head -c 3145728 /dev/zero; echo done >&2", stderr=OutputMatch(equals="done"), max_output=4096
    )
    assert outcome.status == "passed", outcome.message
    assert found["stdout_bytes"] == 3145728 and found["stdout_kept"] == 4096 and found["stderr"] == "done\n"
    assert not found["timed_out"] and found["exit_code"] == 0


def test_both_streams_are_drained_together() -> None:
    # stderr fills while nothing is written to stdout (a reader of one stream at a time would deadlock).
    found = gatherer.run_command(
        {
            "argv": ["/bin/sh", "-c", "head -c 5000000 /dev/zero >&2; head -c 5000000 /dev/zero"],
            "timeout": 30,
            "max_output": 10,
        }
    )
    assert not found["timed_out"] and found["exit_code"] == 0
    assert (found["stdout_bytes"], found["stderr_bytes"], found["stdout_kept"]) == (5000000, 5000000, 10)


def test_a_chatty_command_past_its_time_limit_is_still_killed() -> None:
    started = time.monotonic()
    found = gatherer.run_command({"argv": ["yes"], "timeout": 1, "max_output": 100})
    assert time.monotonic() - started < 10
    assert found["timed_out"] and found["exit_code"] is None and found["stdout"] == "y\n" * 50
    assert int(found["stdout_bytes"]) > 100  # type: ignore[call-overload]
    outcome = _verify(_cmd(name="x", argv=("yes",), timeout=1.0, stdout=OutputMatch(contains="y")), found)
    assert outcome.status == "failed" and "killed after 1 s (still running)" in outcome.message


def test_a_split_character_at_the_cut_is_left_out() -> None:
    found = gatherer.run_command({"argv": ["/bin/sh", "-c", "printf 'a\\303\\251b'"], "max_output": 2})
    assert found["stdout"] == "a" and found["stdout_kept"] == 2 and found["stdout_bytes"] == 4


# Peak RSS from VmHWM: it starts afresh at exec; ru_maxrss keeps the forking parent's (a pytest worker's).
PEAK = """
import json
from devbox_conformance.intarget.commands import run_command
found = run_command({"argv": ["head", "-c", "400000000", "/dev/zero"], "timeout": 120})
with open("/proc/self/status") as fh:
    peak = [int(line.split()[1]) for line in fh if line.startswith("VmHWM:")][0]
print(json.dumps({"bytes": found["stdout_bytes"], "kept": found["stdout_kept"], "peak_kib": peak}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_400_mb_of_output_is_read_in_bounded_memory() -> None:
    """The probe's own peak RSS (its child's not counted) stays far below the output's size."""
    env = {**os.environ, "PYTHONPATH": str(Path(gatherer.__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", PEAK], capture_output=True, text=True, timeout=180, env=env, check=True
    )
    got = json.loads(done.stdout)
    assert got["bytes"] == 400_000_000 and got["kept"] == DEFAULT_MAX_OUTPUT
    assert got["peak_kib"] < 100 * 1024, got  # buffering it all took ~800 MB


def test_facts_without_byte_counts_but_marked_truncated_are_not_whole() -> None:
    item = _cmd(name="x", run="true", stdout=OutputMatch(not_regex="FATAL"))
    found = {"exit_code": 0, "timed_out": False, "stdout": "ok\n", "stderr": "", "truncated": True}
    outcome = _verify(item, found)
    assert outcome.status == "failed" and "stdout was cut by the probe" in outcome.message
    assert _verify(item, {**found, "truncated": False}).status == "passed"


MATCHES = st.builds(
    OutputMatch,
    equals=st.none() | st.sampled_from(["", "ab", "ab\nab"]),
    regex=st.none() | st.sampled_from(["b$", "^a", "F"]),
    contains=st.none() | st.sampled_from(["a", "ba", "F", "\n"]),
    not_regex=st.none() | st.sampled_from(["F", "b$", "^$"]),
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"a"))
    | st.text(alphabet="abF\né", max_size=40).map(str.encode),
    chunks=st.lists(st.integers(min_value=1, max_value=7), max_size=30),
    limit=st.integers(min_value=1, max_value=70),
    match=MATCHES,
)
def test_a_cut_stream_never_passes_what_the_whole_stream_fails(
    data: bytes, chunks: list[int], limit: int, match: OutputMatch
) -> None:
    """However the stream is chunked and cut: what is kept is its start; a verdict on the kept part is a pass
    only when the verdict on the whole stream is a pass, and it is the same verdict when nothing was cut."""
    capped, rest = gatherer.Capped(limit), data
    for size in chunks:
        capped.add(rest[:size])
        rest = rest[size:]
    capped.add(rest)
    assert bytes(capped.kept) == data[:limit] and capped.total == len(data)
    item = _cmd(name="x", run="true", stdout=match, max_output=limit)
    base = {"exit_code": 0, "timed_out": False, "stderr": "", "stderr_bytes": 0, "stderr_kept": 0}
    on_kept = _verify(item, {**base, **capped.facts("stdout")})
    on_whole = _verify(
        item,
        {
            **base,
            **gatherer.Capped(len(data) + 1).facts("stdout"),
            "stdout": data.decode("utf-8", "replace"),
            "stdout_bytes": len(data),
            "stdout_kept": len(data),
        },
    )
    if on_kept.status == "passed":
        assert on_whole.status == "passed", (on_kept.message, on_whole.message)
    if len(data) <= limit:
        assert on_kept.status == on_whole.status
    else:
        assert on_kept.status == "passed" or "only the first" in on_kept.message
