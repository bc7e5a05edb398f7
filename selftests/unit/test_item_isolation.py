"""Each item is isolated: a gatherer's exception fails its own item (or its gatherer's items) with one line,
never the whole probe; the probe's overall limit follows from its items' limits; an old python3 is one line.

The probe runs here, in this interpreter, exactly as it is sent to a target (`probe.PROBE_SOURCE`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from probe_runs import probe_process

from devbox_conformance import probe
from devbox_conformance.intarget import main as intarget_main
from devbox_conformance.kinds import base, verdict
from devbox_conformance.kinds.base import When
from devbox_conformance.kinds.commands import Command
from devbox_conformance.kinds.files import File
from devbox_conformance.kinds.security import SecurityCheck
from devbox_conformance.kinds.verdict import Context
from devbox_conformance.localrun import RunResult


def _probe(request: dict[str, Any]) -> tuple[int, dict[str, Any] | None, str]:
    proc = probe_process(request)
    facts = json.loads(proc.stdout) if proc.returncode == 0 else None
    return proc.returncode, facts, proc.stderr


def _ctx(facts: dict[str, Any]) -> Context:
    return Context(facts=facts, conditions={"arch": "amd64"}, target_kind="local", image_attrs=None)


def _command(name: str, argv: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
    return {"name": name, "argv": list(argv), "timeout": timeout}


def test_a_nul_byte_or_an_absurd_timeout_fails_its_own_item_and_the_others_are_judged() -> None:
    # Before: `ValueError: embedded null byte` / `OverflowError` ended the probe (exit 1, no facts), so
    # every item of the host failed with a Python type name.
    request = {
        "gatherers": ["commands", "security", "env"],
        "commands": [
            _command("nul", ("echo", "a\0b")),
            _command("huge", ("true",), timeout=1e20),
            _command("fine", ("true",)),
        ],
        "security": [{"name": "nul-path", "check": "setuid", "paths": ["/usr\0/bin"]}],
    }
    code, facts, stderr = _probe(request)
    assert code == 0, stderr
    assert facts is not None
    assert facts["commands"]["nul"] == {"probe_error": "ValueError: embedded null byte"}
    # The streaming runner takes any finite limit (the loader refuses absurd ones before they get here).
    huge = facts["commands"]["huge"]
    assert huge.get("exit_code") == 0 or str(huge.get("probe_error")).startswith("OverflowError: "), huge
    # Before: os.path.lexists said False, so the walk passed calling the path absent (a false green).
    assert facts["security"]["nul-path"]["error"] == "path '/usr\\x00/bin' holds a NUL byte"
    assert facts["commands"]["fine"]["exit_code"] == 0
    assert facts["probe_errors"] == {}
    assert "PATH" in facts["env"]

    nul = Command(key="nul", name="nul", argv=("echo", "a\0b"), source="common.yaml:3")
    outcome = verdict.verify("commands", nul, _ctx(facts))
    assert outcome.status == "failed"
    assert outcome.message == (
        "commands[nul] (common.yaml:3)\nexpected: the probe's facts\n"
        "found:    the probe could not gather this item: ValueError: embedded null byte"
    )
    sec = SecurityCheck(key="nul-path", name="nul-path", check="setuid", paths=("/usr\0/bin",))
    outcome = verdict.verify("security", sec, _ctx(facts))
    assert outcome.status == "failed"
    assert "the walk did not run: path '/usr\\x00/bin' holds a NUL byte" in outcome.message
    fine = Command(key="fine", name="fine", argv=("true",))
    assert verdict.verify("commands", fine, _ctx(facts)).status == "passed"


def test_a_gatherer_that_raises_as_a_whole_fails_the_items_of_its_kind_only() -> None:
    # files gathers in gather() itself (no future): a NUL byte in a path raised there.
    request = {"gatherers": ["files", "env"], "files": [{"path": "/etc/\0passwd", "content": False}]}
    code, facts, stderr = _probe(request)
    assert code == 0, stderr
    assert facts is not None
    assert facts["probe_errors"] == {"files": "ValueError: embedded null byte"}
    assert "PATH" in facts["env"]
    item = File(key="/etc/passwd", path="/etc/passwd", source="common.yaml:9")
    outcome = verdict.verify("files", item, _ctx(facts))
    assert outcome.status == "failed"
    assert outcome.message.endswith(
        "found:    the probe's files gatherer failed: ValueError: embedded null byte"
    )


def test_a_probe_error_is_red_even_when_the_item_would_be_skipped() -> None:
    facts = {"commands": {"x": {"probe_error": "OSError: boom"}}, "probe_errors": {}}
    item = Command(key="x", name="x", argv=("true",), when=When(gpu=True))
    assert verdict.verify("commands", item, _ctx(facts)).status == "failed"
    # A whole fact that could not be resolved (not one item of it) is named too.
    whole = {"commands": {"probe_error": "RuntimeError: pool"}}
    assert base.probe_failure(base_kind("commands"), item, whole) == (
        "the probe could not gather commands: RuntimeError: pool"
    )
    assert base.probe_failure(base_kind("commands"), item, {"commands": {"x": {"exit_code": 0}}}) is None


def base_kind(section: str) -> base.Kind:
    from devbox_conformance import kinds  # noqa: PLC0415

    return kinds.get(section)


def test_the_marker_name_is_the_same_on_both_sides() -> None:
    assert intarget_main.PROBE_ERROR == base.PROBE_ERROR
    assert intarget_main.failure_line(ValueError("two\nlines")) == "ValueError: two"
    assert intarget_main.failure_line(KeyError()) == "KeyError"
    assert len(intarget_main.failure_line(ValueError("x" * 5000))) == 300


def test_the_probe_limit_follows_from_the_items_limits() -> None:
    assert probe.probe_timeout({}) == probe.PROBE_FLOOR_S
    small = {"commands": [_command(f"c{i}", ("true",)) for i in range(20)]}
    assert probe.probe_timeout(small) == probe.PROBE_FLOOR_S
    # One command allowed an hour: the probe waits for it (before: killed at 1800 s, every item failed).
    hour = {"commands": [_command("long", ("sleep", "1"), timeout=3600)]}
    assert probe.probe_timeout(hour) == 3600 / 8 + 3600 + probe.PROBE_SLACK_S
    imports = {"imports": ["m"] * 9, "import_workers": 4, "import_timeout": 600}
    assert probe.probe_timeout(imports) == pytest.approx(3 * 600 / 8 + 3 * 600 + probe.PROBE_SLACK_S)


class _Target:
    where = "host1"

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.timeout: float | None = None

    def run_python(self, source: str, args: list[str], timeout: float) -> RunResult:
        self.timeout = timeout
        return self.result


def test_collect_facts_uses_the_computed_limit() -> None:
    target = _Target(RunResult(0, json.dumps({"probe_version": 1}), ""))
    request = {"commands": [_command("long", ("true",), timeout=7200)]}
    probe.collect_facts(target, request)  # type: ignore[arg-type]
    assert target.timeout == probe.probe_timeout(request) > 7200


def test_a_python3_older_than_3_8_is_one_line() -> None:
    # Before: the in-target code failed deep inside with an ImportError or a SyntaxError traceback.
    pretend = (
        "import sys; sys.version_info = (3, 7, 3, 'final', 0); exec(compile(sys.argv[1], '<p>', 'exec'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", pretend, probe.PROBE_SOURCE, "{}"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == probe.TOO_OLD_EXIT
    assert proc.stderr == "the target's python3 is 3.7; the probe needs python3 >= 3.8\n"
    with pytest.raises(probe.ProbeError) as err:
        probe.collect_facts(_Target(RunResult(proc.returncode, proc.stdout, proc.stderr)), {})  # type: ignore[arg-type]
    assert str(err.value) == "the target's python3 is 3.7; the probe needs python3 >= 3.8 in host1"
