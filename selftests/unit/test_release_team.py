"""`release --expectations DIR --waivers FILE`: the suite of each arch, the --against gate and the labels
all name the team's contract and waivers (argument plumbing only: nothing is built)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from devbox_build.commands import release
from devbox_build.errors import UsageError
from devbox_build.publish import RELEASE_LABEL


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    release.register(parser.add_subparsers())
    return parser.parse_args(["release", *argv])


@pytest.fixture
def team(tmp_path: Path) -> Path:
    d = tmp_path / "team"
    d.mkdir()
    (d / "common.yaml").write_text("extends: gpu-devbox\n")
    return d


def test_the_suite_of_each_arch_gets_the_contract_and_waivers(
    team: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (team / "waivers.yaml").write_text("waivers: []\n")
    monkeypatch.chdir(tmp_path)
    expectations, waivers = release.team_files(parse("--expectations", "team"))
    assert (expectations, waivers) == (team, team / "waivers.yaml")  # absolute: the suite runs elsewhere
    cmd = release.suite_command(
        release.DEFAULT_SUITE_CMD,
        "-n 2",
        image="r/x:1-amd64",
        arch="amd64",
        results=tmp_path / "a.json",
        team=release.team_args(expectations, waivers),
    )
    assert cmd[0] == sys.executable
    assert cmd[-4:] == [f"--expectations={team}", f"--waivers={team / 'waivers.yaml'}", "-n", "2"]


def test_no_team_files_leave_the_suite_command_as_it_was(tmp_path: Path) -> None:
    assert release.team_files(parse()) == (None, None)
    assert release.team_args(None, None) == []
    assert release.team_labels(None, None) == {}


def test_an_explicit_waivers_file_wins_and_a_missing_one_is_one_line(team: Path, tmp_path: Path) -> None:
    (team / "waivers.yaml").write_text("waivers: []\n")
    other = tmp_path / "other.yaml"
    other.write_text("waivers: []\n")
    assert release.team_files(parse("--expectations", str(team), "--waivers", str(other)))[1] == other
    with pytest.raises(UsageError, match=r"^--waivers nope.yaml: no such file$"):
        release.team_files(parse("--waivers", "nope.yaml"))
    with pytest.raises(UsageError, match=r"--expectations .*: no common.yaml there$"):
        release.team_files(parse("--expectations", str(tmp_path)))


def test_the_against_gate_reads_the_waivers_unless_allow_names_a_file(team: Path, tmp_path: Path) -> None:
    waivers = team / "waivers.yaml"
    allow = tmp_path / "allow.yaml"
    assert release.allow_source(parse("--against", "r/x:old"), waivers) == waivers
    assert release.allow_source(parse("--against", "r/x:old", "--allow", str(allow)), waivers) == allow
    assert release.allow_source(parse(), waivers) is None  # no --against: no gate, nothing read
    with pytest.raises(UsageError, match="--allow applies to --against"):
        release.allow_source(parse("--allow", str(allow)), waivers)


def test_the_labels_record_the_contract_and_waivers(team: Path) -> None:
    labels = release.team_labels(team, team / "waivers.yaml")
    assert labels == {
        f"{RELEASE_LABEL}-expectations": str(team),
        f"{RELEASE_LABEL}-waivers": str(team / "waivers.yaml"),
    }
