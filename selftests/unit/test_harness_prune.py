"""`devbox prune`: volumes are kept unless --volumes is given (Docker's own default); no Docker needed."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from devbox_build import runner
from devbox_build.cli import main
from devbox_build.commands import prune
from devbox_build.docker import Docker


@dataclass
class FakeDocker:
    """Stands in for Docker: records every docker call instead of running it."""

    binary: str = "/usr/bin/docker"
    buildx: bool = False
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def ping(self) -> None:
        pass

    def run(self, *args: str, **kw: object) -> runner.Result:
        self.calls.append(args)
        return runner.Result([self.binary, *args], 0, "", "")


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker()
    monkeypatch.setattr(Docker, "detect", classmethod(lambda cls: fake))
    return fake


def test_prune_command_keeps_volumes_unless_asked() -> None:
    d = Docker("docker", False)
    assert prune.prune_command(d, volumes=False) == ["docker", "system", "prune", "--all", "--force"]
    assert prune.prune_command(d, volumes=True)[-1] == "--volumes"


@pytest.mark.parametrize(
    ("flags", "volumes"), [([], False), (["--volumes"], True), (["--keep-volumes"], False)]
)
def test_prune_run(docker: FakeDocker, flags: list[str], volumes: bool) -> None:
    assert main(["prune", "--yes", *flags]) == 0
    prunes = [c for c in docker.calls if c[:2] == ("system", "prune")]
    assert prunes == [("system", "prune", "--all", "--force", *(["--volumes"] if volumes else []))]


def test_prune_question_says_whether_volumes_go(
    docker: FakeDocker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or "n")
    assert main(["prune"]) == 0
    assert main(["prune", "--volumes"]) == 0
    assert "(volumes are kept)" in asked[0] and "VOLUMES" not in asked[0]
    assert "ALL UNUSED VOLUMES" in asked[1]
    assert not [c for c in docker.calls if c[:2] == ("system", "prune")]


def test_prune_contradiction_is_one_line(docker: FakeDocker, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--yes", "--volumes", "--keep-volumes"]) == 2
    assert "contradict" in capsys.readouterr().err
