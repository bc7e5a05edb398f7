"""packages/verify_imports.py: the build step that keeps a package that cannot be imported out of the image.

pip and the image's Python are replaced by fakes here: the step's real run is the image build (the
python-extras layer), which the e2e self-tests do on the real engine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def vi(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "packages"))
    for name in ("verify_imports", "install_pip", "devbox_sets"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import verify_imports  # noqa: PLC0415 - packages/ is not a package; put on sys.path above

    return verify_imports


class FakeWorld:
    """Installed versions, which of them import, and the pip calls made."""

    def __init__(self, versions: list[str], importable: set[str]) -> None:
        self.available = versions  # newest first
        self.current = versions[0]
        self.importable = importable
        self.calls: list[list[str]] = []
        self.removed = False

    def install(self, specs: list[str], *, timeout: float | None, no_build_isolation: bool = False) -> object:
        self.calls.append(specs)
        bound = specs[0].split("<", 1)[1]
        older = [v for v in self.available if v < bound]
        if older:
            self.current = older[0]
        return type(
            "R",
            (),
            {
                "returncode": 0 if older else 1,
                "tail": ("ERROR: no matching release",),
                "reason": "ERROR: no matching release",
            },
        )()


def run(vi: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: FakeWorld) -> dict:
    records = tmp_path / "sets"
    records.mkdir()
    (records / "python-extras.json").write_text(
        json.dumps(
            {
                "kind": "pip",
                "included": True,
                "installed": {"torchao": world.current, "lm-eval": "0.4"},
                "preinstalled": {},
                "skipped": [],
            }
        )
    )
    listing = tmp_path / "list.txt"
    listing.write_text("torchao no-build-isolation timeout=600\nlm-eval timeout=300\n")
    monkeypatch.setattr(vi, "Pip", lambda constraints, links: world)
    monkeypatch.setattr(
        vi, "installed_dists", lambda: {} if world.removed else {"torchao": world.current, "torch": "2.9.1"}
    )
    monkeypatch.setattr(
        vi,
        "import_error",
        lambda module, timeout: (
            None if world.current in world.importable else "ImportError: cannot import name 'ScalingType'"
        ),
    )
    monkeypatch.setattr(vi, "uninstall", lambda name: setattr(world, "removed", True))
    assert (
        vi.main(
            [
                "--set",
                "python-extras",
                "--list",
                str(listing),
                "--check",
                "torchao=torchao",
                "--older",
                "3",
                "--records-dir",
                str(records),
                "--find-links",
                str(tmp_path / "none"),
            ]
        )
        == 0
    )
    return json.loads((records / "python-extras.json").read_text())


def test_a_release_that_imports_is_left_alone(
    vi: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = FakeWorld(["0.18.0", "0.17.0"], importable={"0.18.0"})
    record = run(vi, tmp_path, monkeypatch, world)
    assert world.calls == [] and record["installed"]["torchao"] == "0.18.0" and "notes" not in record


def test_an_older_release_that_imports_replaces_one_that_does_not(
    vi: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = FakeWorld(["0.18.0", "0.17.0", "0.16.0", "0.15.0"], importable={"0.15.0"})
    record = run(vi, tmp_path, monkeypatch, world)
    assert world.calls == [["torchao<0.18.0"], ["torchao<0.17.0"], ["torchao<0.16.0"]]
    assert record["installed"] == {"torchao": "0.15.0", "lm-eval": "0.4"}
    assert "torchao 0.18.0 did not import with torch 2.9.1" in record["notes"][0]
    assert record["skipped"] == []


def test_when_no_release_imports_the_package_is_taken_out_and_recorded(
    vi: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = FakeWorld(["0.18.0", "0.17.0", "0.16.0", "0.15.0", "0.14.0"], importable=set())
    record = run(vi, tmp_path, monkeypatch, world)
    assert len(world.calls) == 3 and world.removed
    assert record["installed"] == {"lm-eval": "0.4"}
    (skip,) = record["skipped"]
    assert skip["name"] == "torchao"
    assert "no release imports with the base's torch" in skip["reason"]
    assert "ScalingType" in skip["reason"] and "tried 0.18.0, 0.17.0, 0.16.0, 0.15.0" in skip["reason"]
