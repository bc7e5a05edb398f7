"""Harness subprocess runner: typed errors and their mapping from stderr.

Only `subprocess.run`/`Popen` are mocked (monkeypatched); everything above them is the real code.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from devbox_build import runner
from devbox_build.cli import main
from devbox_build.errors import (
    CommandError,
    DaemonDownError,
    DaemonPermissionError,
    ManifestUnknownError,
    NoSuchImageError,
    RegistryUnreachableError,
    ToolMissingError,
    classify,
)


def fake_run(returncode: int, stdout: str = "", stderr: str = ""):  # noqa: ANN201
    calls: list[list[str]] = []

    def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, returncode, stdout, stderr)

    return _run, calls


@pytest.mark.parametrize(
    ("stderr", "kind", "exit_code"),
    [
        (
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?",
            DaemonDownError,
            2,
        ),
        ("permission denied while trying to connect to the Docker daemon socket", DaemonPermissionError, 2),
        ("Error: No such image: gpu-devbox:nope", NoSuchImageError, 2),
        ("manifest unknown: manifest unknown", ManifestUnknownError, 2),
        ("something else broke", CommandError, 1),
    ],
)
def test_stderr_maps_to_typed_error(
    monkeypatch: pytest.MonkeyPatch, stderr: str, kind: type[CommandError], exit_code: int
) -> None:
    run, calls = fake_run(1, "", stderr)
    monkeypatch.setattr(subprocess, "run", run)
    with pytest.raises(kind) as info:
        runner.run(["docker", "image", "inspect", "gpu-devbox:nope"])
    err = info.value
    assert type(err) is kind
    assert err.cmd == ["docker", "image", "inspect", "gpu-devbox:nope"] and err.returncode == 1
    assert err.stderr == stderr and err.exit_code == exit_code
    assert "\n" not in str(err)
    assert calls == [["docker", "image", "inspect", "gpu-devbox:nope"]]


def test_generic_error_names_command_and_last_line() -> None:
    err = classify(["docker", "push", "x"], 3, "", "line one\nfinal reason\n")
    assert str(err) == "`docker push x` exited 3: final reason"


def test_check_false_returns_result(monkeypatch: pytest.MonkeyPatch) -> None:
    run, _ = fake_run(5, "out", "err")
    monkeypatch.setattr(subprocess, "run", run)
    res = runner.run(["x"], check=False)
    assert (res.ok, res.returncode, res.stdout, res.stderr) == (False, 5, "out", "err")


def test_missing_tool_is_usage_error() -> None:
    with pytest.raises(ToolMissingError, match="not installed"):
        runner.run(["devbox-no-such-binary-xyz"])


def test_probe_never_raises() -> None:
    assert runner.probe(["devbox-no-such-binary-xyz"]) is None
    res = runner.probe([sys.executable, "-c", "import sys; sys.exit(4)"])
    assert res is not None and res.returncode == 4


def test_stream_merges_output_and_logs(tmp_path: Any) -> None:
    seen: list[str] = []
    log = (tmp_path / "x.log").open("w")
    res = runner.stream(
        [sys.executable, "-c", "import sys; print('a'); print('b', file=sys.stderr)"],
        on_line=seen.append,
        log_file=log,
    )
    log.close()
    assert res.ok and sorted(seen) == ["a", "b"]
    assert (tmp_path / "x.log").read_text().startswith("$ ")


def test_daemon_down_via_cli_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    run, _ = fake_run(
        1, "", "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"
    )
    monkeypatch.setattr(subprocess, "run", run)
    assert main(["build", "--context", str(tmp_path), "--no-ca"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "devbox build: error: the Docker daemon is not running or not reachable "
        "(start dockerd, or set DOCKER_HOST)"
    )


def test_registry_unreachable_is_one_line() -> None:
    err = classify(
        ["skopeo", "inspect", "--raw", "docker://127.0.0.1:1/x:y"],
        1,
        "",
        'level=fatal msg="pinging container registry 127.0.0.1:1: '
        'dial tcp 127.0.0.1:1: connect: connection refused"',
    )
    assert type(err) is RegistryUnreachableError and err.exit_code == 3  # the registry, not the user
    assert str(err).startswith("registry not reachable for 127.0.0.1:1/x:y")
