"""Debian's docker-registry on 127.0.0.1, for the tests that push and read back (unit and end to end).

Why one helper: three copies of start/wait/stop had drifted apart (one checked that the binary exists,
one killed a registry that would not stop, one did neither). The registry is real: the tests read its
HTTP API, never a stand-in.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LoopbackT = TypeVar("LoopbackT", bound="Loopback")


@dataclass
class Loopback:
    """docker-registry on 127.0.0.1:<port>; stop() and start() keep the port and the storage."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    @contextmanager
    def serving(cls: type[LoopbackT], root: Path) -> Iterator[LoopbackT]:
        """A registry on a free port with its storage under `root`, stopped however the block ends: the
        start/try/stop every fixture wrote out (a subclass gets an instance of itself)."""
        reg = cls(root, free_port())
        reg.start()
        try:
            yield reg
        finally:
            reg.stop()

    def start(self) -> None:
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        if not Path(binary).exists():
            pytest.fail("needs Debian's docker-registry (tools/host-setup.sh installs it)", pytrace=False)
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "config.yml"
        cfg.write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.root / 'data'}\n"
            f"http:\n  addr: {self.address}\n"
        )
        with (self.root / "registry.log").open("a") as log:
            self.proc = subprocess.Popen([binary, "serve", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):  # bounded: 10 s
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"registry did not start: {(self.root / 'registry.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
