"""The release gate reads waivers: `apt[NAME]` / `python[NAME]` entries with a justification and an expiry
date, from the same file a team's suite run reads. An expired entry allows nothing; the old `allow:` list
still works, with a deprecation line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from devbox_build.errors import UsageError
from devbox_build.imagediff import compare, facts, gate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diff"
WAIVERS = (
    "waivers:\n"
    "  - id: apt[htop]\n    justification: the backport fixes a crash\n    expires: 2027-01-31\n"
    "  - id: apt[media-types]\n    justification: nothing reads /etc/mime.types\n    expires: 2027-01-31\n"
    "  - id: python[Accelerate]\n    justification: folded into torch\n    expires: 2027-01-31\n"
    "  - id: python[transformers]\n    justification: 4.57 breaks our eval harness\n    expires: 2026-12-31\n"
    "  - id: test_binary[nvtop]\n    justification: the suite's, not the gate's\n    expires: 2027-01-31\n"
    "  - id: python[weird-dist]\n    justification: its versions cannot be ordered\n    expires: 2027-01-31\n"
)


def load(name: str) -> facts.ImageFacts:
    return facts.ImageFacts.from_json(json.loads((FIXTURES / f"{name}.json").read_text()))


def verdict_on(today: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[gate.Verdict, Path]:
    """The gate's verdict on the fixture diff with WAIVERS in a file, judged as on `today`; and that file
    (the messages name it)."""
    path = tmp_path / "waivers.yaml"
    path.write_text(WAIVERS)
    monkeypatch.setenv("DEVBOX_TODAY", today)
    return gate.judge(compare.diff(load("old"), load("new")), gate.load_allow(path)), path


def test_waivers_allow_the_gate_s_regressions_until_their_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    green, path = verdict_on("2026-12-31", tmp_path, monkeypatch)
    assert green.ok, [gate.describe(c) for c in green.blocking]
    reasons = dict((c.name, a.reason) for c, a in green.allowed)
    assert reasons["transformers"] == f"4.57 breaks our eval harness (until 2026-12-31, {path}:11)"
    assert capsys.readouterr().err == ""


def test_an_expired_gate_waiver_allows_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The false green: a downgrade allowed forever. A day after its date, transformers blocks again."""
    red, path = verdict_on("2027-01-01", tmp_path, monkeypatch)
    assert [gate.describe(c) for c in red.blocking] == ["python transformers 4.57.1 -> 4.46.3 (downgraded)"]
    assert capsys.readouterr().err == (
        f"{path}:11: waiver python[transformers] expired on 2026-12-31: it no longer allows a regression\n"
    )


def test_a_gate_waiver_needs_a_justification_and_a_date(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n  - id: python[torch]\n    justification: downgrade on purpose\n")
    with pytest.raises(UsageError) as info:
        gate.load_allow(path)
    assert str(info.value) == f"{path}:2: waivers[0]: 'expires' is required"
    path.write_text("waivers:\n  - id: python[torch]\n    justification: x\n    expires: 2027-02-30\n")
    with pytest.raises(UsageError, match=r":4: waivers\[0\].expires: not a date: '2027-02-30'"):
        gate.load_allow(path)


def test_the_old_allow_list_still_works_with_a_deprecation_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "allow.yaml"
    path.write_text("allow:\n  - python: transformers\n    reason: 4.57 breaks our eval harness\n")
    assert [(a.section, a.name) for a in gate.load_allow(path)] == [("python", "transformers")]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the `allow:` list is deprecated; write it as waivers" in err
