"""The runner's streaming modes (push progress as it happens, login on the terminal) and push's log filter.

Real child processes (the Python running the tests), no Docker.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from devbox_build import registry_push, runner
from devbox_build.errors import DaemonDownError, ManifestUnknownError
from devbox_build.progress import LayerProgress, layer_state


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_stream_hands_over_each_line_while_the_command_runs(tmp_path: Path) -> None:
    """The child waits for a file that only our on_line callback creates: a captured run would time out."""
    flag = tmp_path / "seen"
    child = (
        "import os, sys, time\n"
        "print('ready', flush=True)\n"
        f"deadline = time.time() + 20\n"
        f"while not os.path.exists({str(flag)!r}) and time.time() < deadline: time.sleep(0.02)\n"
        f"print('done' if os.path.exists({str(flag)!r}) else 'timeout', flush=True)\n"
        "print('warning', file=sys.stderr)\n"
    )
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        flag.touch()

    res = runner.run(py(child), output="stream", on_line=on_line)
    assert seen == ["ready", "done", "warning"]
    assert res.ok and res.stdout == "ready\ndone\nwarning\n"


def test_stream_keeps_the_typed_errors() -> None:
    child = (
        "import sys; print('pushing', flush=True); "
        "sys.stderr.write('Cannot connect to the Docker daemon at x\\n'); sys.exit(1)"
    )
    seen: list[str] = []
    with pytest.raises(DaemonDownError) as info:
        runner.run(py(child), output="stream", on_line=seen.append)
    assert info.value.returncode == 1 and "pushing" in info.value.stdout
    assert seen == ["pushing", "Cannot connect to the Docker daemon at x"]
    res = runner.run(py(child), output="stream", on_line=seen.append, check=False)
    assert res.returncode == 1


def test_terminal_mode_leaves_stdin_and_stdout_to_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    """`docker login` prompts on stdout and reads stdin: both must be ours, not a pipe the harness holds."""
    try:
        ours = os.fstat(0)
    except OSError:
        pytest.skip("this process has no stdin")
    child = (
        "import os, sys\n"
        "st = os.fstat(0)\n"
        "print(f'Username: {st.st_dev}:{st.st_ino}', flush=True)\n"
        "print('WARNING! stored unencrypted', file=sys.stderr)\n"
    )
    errs: list[str] = []
    res = runner.run(py(child), output="terminal", on_line=errs.append)
    out = capfd.readouterr().out
    assert f"Username: {ours.st_dev}:{ours.st_ino}" in out  # the same stdin, and stdout reached the terminal
    assert res.stdout == "" and res.stderr == "WARNING! stored unencrypted\n"
    assert errs == ["WARNING! stored unencrypted"]


def test_terminal_mode_keeps_the_typed_errors(capfd: pytest.CaptureFixture[str]) -> None:
    child = "import sys; sys.stderr.write('Error: manifest unknown: manifest unknown\\n'); sys.exit(1)"
    with pytest.raises(ManifestUnknownError):
        runner.run(py(child), output="terminal")
    assert "manifest unknown" in capfd.readouterr().err  # shown as it came, by default on our stderr


def test_streaming_refuses_capture_only_arguments() -> None:
    with pytest.raises(ValueError, match="capture"):
        runner.run(py("pass"), output="stream", timeout=5)
    with pytest.raises(ValueError, match="capture"):
        runner.run(py("pass"), output="terminal", input_text="secret")


# `docker push` without a terminal: a line per progress update of every layer.
PUSH_LOG = """\
The push refers to repository [127.0.0.1:5000/gpu-devbox]
5f70bf18a086: Preparing
a1b2c3d4e5f6: Preparing
0123456789ab: Preparing
a1b2c3d4e5f6: Waiting
5f70bf18a086: Pushing [>                                                  ]  512B/10.5MB
5f70bf18a086: Pushing [=====>                                             ]  1.1MB/10.5MB
5f70bf18a086: Pushing [==========================>                        ]  5.5MB/10.5MB
0123456789ab: Layer already exists
5f70bf18a086: Pushing [==================================================>]  10.5MB
5f70bf18a086: Retrying in 5 seconds
5f70bf18a086: Retrying in 4 seconds
5f70bf18a086: Pushing [>                                                  ]  512B/10.5MB
5f70bf18a086: Pushed
a1b2c3d4e5f6: Pushing [===>  ]  1MB/3MB
a1b2c3d4e5f6: Pushing [=====>]  3MB/3MB
a1b2c3d4e5f6: Pushed
two-amd64: digest: sha256:0f0e0d0c0b0a09080706050403020100ffeeddccbbaa99887766554433221100 size: 945
"""


def test_push_log_has_one_line_per_layer_state_change() -> None:
    out: list[str] = []
    progress = LayerProgress(echo=out.append)
    for line in PUSH_LOG.splitlines():
        progress.feed(line)
    assert out == [
        "The push refers to repository [127.0.0.1:5000/gpu-devbox]",
        "5f70bf18a086: Preparing",
        "a1b2c3d4e5f6: Preparing",
        "0123456789ab: Preparing",
        "a1b2c3d4e5f6: Waiting",
        "5f70bf18a086: Pushing",
        "0123456789ab: Layer already exists",
        "5f70bf18a086: Retrying",
        "5f70bf18a086: Pushing",
        "5f70bf18a086: Pushed",
        "a1b2c3d4e5f6: Pushing",
        "a1b2c3d4e5f6: Pushed",
        PUSH_LOG.splitlines()[-1],
    ]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Pushing [==>   ]  1.2MB/10MB", "Pushing"),
        ("Pushing  10.5MB", "Pushing"),
        ("Retrying in 1 second", "Retrying"),
        ("Layer already exists", "Layer already exists"),
        ("Mounted from 127.0.0.1:5000/base", "Mounted from 127.0.0.1:5000/base"),
    ],
)
def test_layer_state(status: str, state: str) -> None:
    assert layer_state(status) == state


def test_terminal_redraws_count_by_their_last_frame() -> None:
    out: list[str] = []
    LayerProgress(echo=out.append).feed("5f70bf18a086: Preparing\r5f70bf18a086: Pushed")
    assert out == ["5f70bf18a086: Pushed"]


class RecordingDocker:
    """Stands in for Docker: records each call with the output mode it asked for."""

    binary = "docker"
    buildx = False

    def __init__(self, lines: list[str] | None = None) -> None:
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.lines = lines or []

    def run(self, *args: str, **kw: Any) -> runner.Result:
        self.calls.append((args, kw))
        for line in self.lines:
            kw["on_line"](line)
        return runner.Result(["docker", *args], 0, "", "")


def test_push_streams_through_the_layer_filter(capsys: pytest.CaptureFixture[str]) -> None:
    docker = RecordingDocker(PUSH_LOG.splitlines())
    registry_push.push_image(docker, "127.0.0.1:5000/gpu-devbox:two-amd64")  # type: ignore[arg-type]
    ((args, kw),) = docker.calls
    assert args == ("push", "127.0.0.1:5000/gpu-devbox:two-amd64") and kw["output"] == "stream"
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "pushing 127.0.0.1:5000/gpu-devbox:two-amd64"
    assert out.count("  5f70bf18a086: Pushing") == 2 and len(out) == 14


def test_login_runs_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    docker = RecordingDocker()
    registry_push.login(docker, "ghcr.io/team/gpu-devbox", skip=False)  # type: ignore[arg-type]
    registry_push.login(docker, "team/gpu-devbox", skip=False)  # type: ignore[arg-type]
    registry_push.login(docker, "ghcr.io/team/gpu-devbox", skip=True)  # type: ignore[arg-type]
    assert [(a, k.get("output")) for a, k in docker.calls] == [
        (("login", "ghcr.io"), "terminal"),
        (("login",), "terminal"),
    ]
