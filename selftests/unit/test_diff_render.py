"""Golden files for every view of a diff (goss keeps one per output format): table, Markdown, JSON.

The input is fixed (selftests/fixtures/diff/old.json and new.json, two ImageFacts documents), so the
goldens hold no volatile data. After an intended change to a view, regenerate and review:

    DEVBOX_UPDATE_GOLDEN=1 python3 -m pytest selftests/unit/test_diff_render.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from devbox_build.imagediff import compare, facts, render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diff"
GOLDEN = {"table": "diff.txt", "md": "diff.md", "json": "diff.json"}


def fixture_diff() -> compare.ImageDiff:
    old, new = (
        facts.ImageFacts.from_json(json.loads((FIXTURES / f"{n}.json").read_text())) for n in ("old", "new")
    )
    return compare.diff(old, new)


@pytest.mark.parametrize("fmt", sorted(GOLDEN))
def test_view_matches_its_golden(fmt: str) -> None:
    out = render.FORMATS[fmt](fixture_diff())
    golden = FIXTURES / GOLDEN[fmt]
    if os.environ.get("DEVBOX_UPDATE_GOLDEN") == "1":
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8"), f"{golden.name} differs (DEVBOX_UPDATE_GOLDEN=1)"


def test_json_view_round_trips_every_change() -> None:
    d = fixture_diff()
    doc = json.loads(render.as_json(d))
    assert doc["schema_version"] == 1 and doc["differs"] is True
    assert len(doc["changes"]) == len(d.changes) == sum(doc["counts"].values())
    assert doc["size"] == {"old": 8_081_000_000, "new": 8_149_500_000, "delta": 68_500_000}


def test_markdown_escapes_pipes_in_values() -> None:
    md = render.markdown(fixture_diff())
    assert "`GPU devbox \\| monthly`" in md


def test_no_differences_is_said_in_every_view() -> None:
    old = fixture_diff().old
    d = compare.diff(old, old)
    assert render.text(d).rstrip().endswith("no differences")
    assert "**no differences**" in render.markdown(d)
    assert json.loads(render.as_json(d))["differs"] is False


@pytest.mark.parametrize(
    ("size", "signed", "shown"),
    [
        (0, False, "0 B"),
        (999, False, "999 B"),
        (1234, False, "1.23 kB"),
        (271_000, True, "+271 kB"),
        (-68_500_000, True, "-68.5 MB"),
        (8_081_000_000, False, "8.08 GB"),
        (0, True, "0 B"),
    ],
)
def test_human_size(size: int, signed: bool, shown: str) -> None:
    assert render.human_size(size, signed) == shown
