"""release --against/--allow parse and fail early: a bad allow-list costs seconds, not a build."""

from __future__ import annotations

from pathlib import Path

import pytest
from devbox_build.cli import make_parser
from devbox_build.commands.release import against_allowances
from devbox_build.errors import UsageError


def parse(*argv: str):
    return make_parser().parse_args(["release", *argv])


def test_no_against_no_gate() -> None:
    assert against_allowances(parse()) == ()


def test_allow_without_against_is_a_usage_error(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("allow: []\n")
    with pytest.raises(UsageError, match="--allow applies to --against"):
        against_allowances(parse("--allow", str(allow)))


def test_allow_list_is_read_before_the_build(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("allow:\n  - python: Torch_Audio\n    reason: dropped upstream\n")
    got = against_allowances(parse("--against", "reg/gpu-devbox:2026.11", "--allow", str(allow)))
    assert [(a.section, a.name, a.reason) for a in got] == [("python", "torch-audio", "dropped upstream")]
    with pytest.raises(UsageError, match="cannot read"):
        against_allowances(parse("--against", "x:1", "--allow", str(tmp_path / "missing.yaml")))
