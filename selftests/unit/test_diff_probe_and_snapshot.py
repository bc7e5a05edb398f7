"""The probe's `all_packages` request and `devbox snapshot`'s overlay, without an engine.

The overlay is loaded back with the suite's own loader and checked with the suite's own checks against
the facts it was made from (passes) and against a downgraded, trimmed variant (fails where it should).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from devbox_build.errors import UsageError
from devbox_build.imagediff import facts, snapshot
from file_trees import write_tree
from packaging.specifiers import SpecifierSet

from devbox_conformance import expectations as exp
from devbox_conformance import probe
from devbox_conformance.expectations import load
from devbox_conformance.intarget.packages import probe_all_packages
from devbox_conformance.kinds import binaries as binary_check
from devbox_conformance.kinds import packages as package_check
from devbox_conformance.kinds import python_dists as dist_check

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diff"

STATUS = """\
Package: git
Status: install ok installed
Architecture: amd64
Version: 1:2.39.5-0+deb12u2
Description: fast, scalable, distributed revision control system
 continuation line: Package: not-a-package

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u10

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u10

Package: htop
Status: hold ok installed
Architecture: amd64
Version: 3.2.2-2

Package: media-types
Status: deinstall ok config-files
Architecture: all
Version: 10.0.0

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0
"""


def test_all_packages_reads_installed_ones_with_the_journal(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS)
    (tmp_path / "updates").mkdir()
    (tmp_path / "updates" / "0001").write_text(
        "Package: git\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.39.5-0+deb12u3\n"
    )
    found, error = probe_all_packages(str(status))
    assert error is None
    assert found == {  # every entry names its architecture: the host side keys them (facts.package_keys)
        "git:amd64": "1:2.39.5-0+deb12u3",
        "libc6:amd64": "2.36-9+deb12u10",
        "libc6:i386": "2.36-9+deb12u10",
        "htop:amd64": "3.2.2-2",
    }
    assert facts.package_keys(found, "amd64") == {
        "git": "1:2.39.5-0+deb12u3",
        "htop": "3.2.2-2",
        "libc6": "2.36-9+deb12u10",
        "libc6:i386": "2.36-9+deb12u10",
    }


def test_all_packages_without_dpkg_says_why(tmp_path: Path) -> None:
    found, error = probe_all_packages(str(tmp_path / "absent"))
    assert found == {} and "not a Debian-based target" in (error or "")


def test_all_packages_through_the_probe_entry_point(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS)
    request = {"gatherers": ["packages"], "all_packages": True, "dpkg_status": str(status)}
    out = subprocess.run(
        [sys.executable, "-c", probe.PROBE_SOURCE, json.dumps(request)],  # as shipped into a target
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["all_packages"]["htop:amd64"] == "3.2.2-2" and got["all_packages_error"] is None
    assert "packages" not in got  # the existing key is untouched when only all_packages is asked


# ---- snapshot ----


class _Ctx:
    """The little of verdict.Context the three checks read."""

    def __init__(self, probed: dict[str, object]) -> None:
        self.facts = probed


def probed_like(f: facts.ImageFacts) -> dict[str, object]:
    """Facts as the suite's probe would report them for an image with `f`'s content."""
    return {
        "dists": dict(f.dists),
        "packages": {
            n: [{"architecture": "amd64", "status": "install ok installed", "version": v}]
            for n, v in f.packages.items()
        },
        "binaries": {
            n: {"path": f"/usr/bin/{n}", "version_output": f"{n} version {v}"} for n, v in f.binaries.items()
        },
    }


def outcomes(
    directory: Path, f: facts.ImageFacts, pinned_by: facts.ImageFacts | None = None
) -> dict[str, bool]:
    """Verdicts of the items the snapshot pins (the contract's other items are not in `f`'s synthetic
    facts; they are the contract's business, checked by the merge tests below)."""
    model = load(directory, f.arch, "standin")
    probed = probed_like(f)
    probed["imports"] = {d.import_name: {"ok": True} for d in model.python_dists if d.import_name}
    ctx = _Ctx(probed)
    by = pinned_by or f
    pinned = {"bin": set(by.binaries), "dist": set(by.dists), "pkg": set(by.packages)}
    out = {}
    kinds = (
        ("bin", binary_check, model.binaries),
        ("dist", dist_check, model.python_dists),
        ("pkg", package_check, model.packages),
    )
    for kind, check, items in kinds:
        for item in items:
            if item.key in pinned[kind]:
                out[f"{kind}:{item.key}"] = check.evaluate(item, ctx).status == "passed"  # type: ignore[arg-type]
    return out


@pytest.fixture
def known_good() -> facts.ImageFacts:
    return facts.ImageFacts.from_json(json.loads((FIXTURES / "old.json").read_text()))


def test_snapshot_pins_and_passes_on_its_own_image(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    common = snapshot.write(tmp_path / "snap", known_good, "expectations")
    text = common.read_text()
    assert f"#   digest:   {known_good.digest}" in text and "#   created:  2026-11-01T07:00:00" in text
    assert text.startswith("# yaml-language-server: $schema=./schema.json")
    assert '\nextends: "gpu-devbox"\n' in text  # the checkout's contract is the shipped one
    assert (tmp_path / "snap" / "amd64.yaml").is_file() and (tmp_path / "snap" / "schema.json").is_file()
    model = load(tmp_path / "snap", "amd64", "standin")
    dists = {d.name: d for d in model.python_dists}
    assert {n: str(dists[n].min_version) if dists[n].min_version else None for n in known_good.dists} == {
        "accelerate": "1.10.0",
        "numpy": "2.4.6",
        "torch": "2.13.0",
        "transformers": "4.57.1",
        "weird-dist": None,
    }
    # The contract's import checks stand; only a distribution the contract does not name is not imported.
    assert dists["torch"].import_name == "torch" and dists["transformers"].import_name == "transformers"
    assert dists["weird-dist"].import_name is None
    bins = {b.name: b for b in model.binaries}
    assert set(bins["git"].version) == set(SpecifierSet(">=2.34,>=2.39.5"))
    assert {p.name for p in model.packages} >= set(known_good.packages)
    assert all(outcomes(tmp_path / "snap", known_good).values())


def test_snapshot_fails_a_downgraded_and_trimmed_variant(
    tmp_path: Path, known_good: facts.ImageFacts
) -> None:
    snapshot.write(tmp_path / "snap", known_good, "expectations")
    packages = {k: v for k, v in known_good.packages.items() if k != "media-types"}
    variant = replace(
        known_good,
        packages=packages,
        dists={**known_good.dists, "transformers": "4.46.3"},
        binaries={**known_good.binaries, "rg": "14.1.0"},
    )
    failed = sorted(k for k, ok in outcomes(tmp_path / "snap", variant, known_good).items() if not ok)
    assert failed == ["dist:transformers", "pkg:media-types"]  # an upgrade (rg 14) still passes


def test_snapshot_refuses_to_overwrite_without_force(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    snapshot.write(tmp_path / "snap", known_good, "expectations")
    with pytest.raises(UsageError, match="--force"):
        snapshot.write(tmp_path / "snap", known_good, "expectations")
    snapshot.write(tmp_path / "snap", known_good, "expectations", force=True)


def test_snapshot_keeps_the_contracts_version_arguments(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    contract = write_tree(
        tmp_path / "team",
        {
            "common.yaml": 'binaries:\n  - name: python3\n    version_args: ["-V"]\n  - name: rg\n'
            '    version_regex: "ripgrep (\\\\S+)"\n'
        },
    )
    f = replace(known_good, binaries={"python3": "3.11.2", "rg": "13.0.0"})
    common = snapshot.write(tmp_path / "snap", f, contract)
    assert "version_args" not in common.read_text() and "version_regex" not in common.read_text()
    bins = {b.name: b for b in load(tmp_path / "snap", "amd64", "standin").binaries}
    assert bins["python3"].version_args == ("-V",) and bins["rg"].version_regex == r"ripgrep (\S+)"


# ---- a snapshot extends its contract and never weakens it ----

TEAM = """\
binaries:
  - name: git
    version: ">=2.30,<3"
  - name: htop
    optional: true
    reason: not everywhere
python_dists:
  - name: torch
    min_version: "2.3"
  - name: PyYAML
    import: yaml
  - name: numpy
    min_version: "9.0"
packages:
  - name: vim
    optional: true
    reason: a team choice
"""


def team_facts(known_good: facts.ImageFacts) -> facts.ImageFacts:
    return replace(
        known_good,
        binaries={"git": "2.39.5", "htop": "3.2.2"},
        dists={"torch": "2.13.0+cpu", "pyyaml": "6.0.2", "numpy": "2.4.6", "rich": "13.7.1"},
        packages={"git": "1:2.39.5", "vim": "2:9.0"},
    )


def test_snapshot_extends_its_contract_and_adds_only_floors(
    tmp_path: Path, known_good: facts.ImageFacts, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = write_tree(tmp_path / "team" / "contract", {"common.yaml": TEAM})
    snap = tmp_path / "team" / "snapshots" / "2026.11"
    text = snapshot.write(snap, team_facts(known_good), contract).read_text()
    assert '\nextends: "../../contract"\n' in text  # relative: the two move together
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # loaded from any directory, in one step
    alone = load(contract, "amd64", "standin")
    model = load(snap, "amd64", "standin")
    assert model.files[0].endswith("contract/common.yaml") and model.files[1].endswith("2026.11/common.yaml")
    bins = {b.key: b for b in model.binaries}
    assert set(bins["git"].version) == set(SpecifierSet(">=2.30,<3,>=2.39.5"))  # the upper bound stays
    assert bins["htop"].optional is False  # the image had it: the snapshot pins it
    dists = {d.key: d for d in model.python_dists}
    assert set(dists) == {"torch", "PyYAML", "numpy", "rich"}  # PyYAML merged under the contract's name
    assert dists["torch"].import_name == "torch" and str(dists["torch"].min_version) == "2.13.0"
    assert dists["PyYAML"].import_name == "yaml" and str(dists["PyYAML"].min_version) == "6.0.2"
    assert str(dists["numpy"].min_version) == "9.0"  # the contract's higher minimum is kept
    assert dists["rich"].import_name is None  # not the contract's: its module name is unknown
    assert {p.key: p.optional for p in model.packages} == {"vim": False, "git": False}
    assert snapshot.weakened(alone, model) == []


def test_an_old_style_overlay_under_extends_is_caught_as_weakening(tmp_path: Path) -> None:
    """The false green the writer avoids: `import: false` and a bare floor replace the contract's fields."""
    contract = write_tree(tmp_path / "contract", {"common.yaml": TEAM})
    naive = write_tree(
        tmp_path / "naive",
        {
            "common.yaml": 'extends: ../contract\nbinaries:\n  - name: git\n    version: ">=2.39.5"\n'
            "python_dists:\n  - name: torch\n    min_version: '2.0'\n    import: false\n"
            "packages:\n  - name: vim\n",
        },
    )
    alone, merged = load(contract, "amd64", "other"), load(naive, "amd64", "other")
    assert next(d for d in merged.python_dists if d.key == "torch").import_name is None  # torch unchecked
    assert snapshot.weakened(alone, merged) == [
        "binaries[git]: version <3,>=2.30 dropped",
        "python_dists[torch]: min_version 2.3 lowered",
        "python_dists[torch]: import torch dropped",
    ]


def test_a_snapshot_judges_only_the_arch_it_was_taken_on(
    tmp_path: Path, known_good: facts.ImageFacts
) -> None:
    contract = write_tree(tmp_path / "contract", {"common.yaml": TEAM})
    snap = tmp_path / "snap"
    snapshot.write(snap, team_facts(known_good), contract)
    with pytest.raises(exp.ExpectationsError) as info:
        load(snap, "arm64", "standin")
    assert str(info.value) == f"{snap}/arm64.yaml: no overlay for arch 'arm64' (overlays: amd64)"


def test_a_contract_the_loader_refuses_is_one_line(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    contract = write_tree(tmp_path / "contract", {"common.yaml": "binaries:\n  - nme: git\n"})
    with pytest.raises(UsageError, match=r"contract/common.yaml:2: binaries\[0\]"):
        snapshot.write(tmp_path / "snap", team_facts(known_good), contract)
    assert not (tmp_path / "snap").exists()
