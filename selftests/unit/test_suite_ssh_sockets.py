"""The ssh ControlPath stays under the unix socket limit under a long TMPDIR, and ends with the run.

A batch system's TMPDIR (`/tmp/slurm-12345678/...`) made the run's temp dir so deep that ssh refused every
host with "ControlPath too long". The real ssh client tells: against a closed port it must say "Connection
refused" (it got as far as connecting), never "ControlPath too long".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from devbox_conformance import sshmux

pytest_plugins = ["pytester"]


@pytest.fixture
def long_tmpdir(tmp_path: Path) -> Path:
    """A TMPDIR whose run dirs' sockets would pass 108 bytes (as /tmp/slurm-12345678/job/... do)."""
    deep = tmp_path / ("slurm-12345678-" + "j" * 60)
    deep.mkdir()
    return deep


def binds(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(path)
        except OSError:
            return False
    os.unlink(path)
    return True


def socket_of(controlpath: str) -> str:
    """The path ssh binds for a master: %C expanded (40 hex), plus its ".<16 random>" while it sets up."""
    return controlpath.replace("%%C", "f" * 40) + "." + "r" * 16


def test_a_short_run_dir_keeps_its_sockets(tmp_path: Path) -> None:
    run_dir = Path(os.path.realpath("/tmp")) / "devbox-conformance-abcdefgh"
    assert sshmux.ssh_socket_dir(run_dir) == run_dir
    assert not (run_dir / sshmux.SOCKET_DIR_LINK).exists()


def test_a_long_run_dir_gets_a_short_linked_socket_dir(long_tmpdir: Path) -> None:
    run_dir = long_tmpdir / "devbox-conformance-abcdefgh"
    run_dir.mkdir()
    too_long = socket_of(str(run_dir / "ssh-%%C"))
    assert not binds(too_long)  # the defect: this is where the sockets went
    connection = sshmux.with_ssh_multiplexing({}, run_dir)
    short = Path(connection["controlpath"]).parent
    try:
        assert short != run_dir and short.parent == sshmux.SHORT_SOCKET_PARENT
        assert binds(socket_of(connection["controlpath"]))
        assert sshmux.ssh_socket_dirs(run_dir) == [run_dir, short]
        assert (short / sshmux.RUN_DIR_LINK).resolve() == run_dir.resolve()
        assert oct(short.stat().st_mode & 0o777) == "0o700"
    finally:
        shutil.rmtree(short, ignore_errors=True)


def test_a_short_dir_whose_run_is_gone_is_removed_and_a_live_one_kept(long_tmpdir: Path) -> None:
    live_run, dead_run = long_tmpdir / "live", long_tmpdir / "dead"
    live_run.mkdir()
    dead_run.mkdir()
    live, dead = sshmux.ssh_socket_dir(live_run), sshmux.ssh_socket_dir(dead_run)
    try:
        shutil.rmtree(dead_run)  # the dead run's temp dir was reaped
        removed = sshmux.remove_orphan_socket_dirs()
        assert dead in removed and not dead.exists()
        assert live.is_dir() and live not in removed
    finally:
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(dead, ignore_errors=True)


def test_ssh_under_a_long_tmpdir_reaches_the_host(
    pytester: pytest.Pytester, long_tmpdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not shutil.which("ssh"):
        pytest.skip("needs the ssh client")
    pytester.makefile(
        ".yaml", **{"exp/common": "binaries:\n  - name: sh\n", "exp/amd64": "", "exp/arm64": ""}
    )
    pytester.makepyfile(test_s="def test_binary(binary, check):\n    check('binaries', binary)\n")
    monkeypatch.setenv("TMPDIR", str(long_tmpdir))
    before = set(sshmux.SHORT_SOCKET_PARENT.glob(sshmux.SOCKET_DIR_PREFIX + "*"))
    result = pytester.runpytest_subprocess(
        "-p",
        "devbox_conformance.plugin",
        "--no-contract",
        "--expectations=exp",
        "--hosts",
        "ssh://nobody@127.0.0.1:1",
        "--ssh-extra-args=-o BatchMode=yes -o ConnectTimeout=5",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "ControlPath too long" not in text
    assert "port 1: Connection refused" in text, text
    assert (
        set(sshmux.SHORT_SOCKET_PARENT.glob(sshmux.SOCKET_DIR_PREFIX + "*")) <= before
    )  # removed with the run
    assert not list(long_tmpdir.glob("devbox-conformance-*"))


def test_the_real_ssh_refuses_the_long_path_this_guards_against(long_tmpdir: Path) -> None:
    if not shutil.which("ssh"):
        pytest.skip("needs the ssh client")
    controlpath = str(long_tmpdir / "devbox-conformance-abcdefgh" / "ssh-%C")
    proc = subprocess.run(
        ["ssh", "-o", "ControlMaster=auto", "-o", f"ControlPath={controlpath}", "-o", "BatchMode=yes"]
        + ["-p", "1", "nobody@127.0.0.1", "true"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 255 and "ControlPath too long" in proc.stderr, proc.stderr
