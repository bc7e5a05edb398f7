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

from devbox_conformance import probe_script
from devbox_conformance.checks import binaries as binary_check
from devbox_conformance.checks import packages as package_check
from devbox_conformance.checks import python_dists as dist_check
from devbox_conformance.expectations import load

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
    found, error = probe_script.probe_all_packages(str(status))
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
    found, error = probe_script.probe_all_packages(str(tmp_path / "absent"))
    assert found == {} and "not a Debian-based target" in (error or "")


def test_all_packages_through_the_probe_entry_point(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(STATUS)
    request = {"gatherers": ["packages"], "all_packages": True, "dpkg_status": str(status)}
    out = subprocess.run(
        [sys.executable, probe_script.__file__, json.dumps(request)],
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
    """The little of checks.Context the three checks read."""

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


def outcomes(directory: Path, f: facts.ImageFacts) -> dict[str, bool]:
    model = load(directory, f.arch, "other")
    ctx = _Ctx(probed_like(f))
    out = {}
    kinds = (
        ("bin", binary_check, model.binaries),
        ("dist", dist_check, model.python_dists),
        ("pkg", package_check, model.packages),
    )
    for kind, check, items in kinds:
        for item in items:
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
    assert "# extends: expectations" in text
    assert (tmp_path / "snap" / "amd64.yaml").is_file() and (tmp_path / "snap" / "schema.json").is_file()
    model = load(tmp_path / "snap", "amd64", "other")
    assert {d.name: str(d.min_version) if d.min_version else None for d in model.python_dists} == {
        "accelerate": "1.10.0",
        "numpy": "2.4.6",
        "torch": "2.13.0",
        "transformers": "4.57.1",
        "weird-dist": None,
    }
    assert all(d.import_name is None for d in model.python_dists)
    assert {b.name: str(b.version) for b in model.binaries}["git"] == ">=2.39.5"
    assert {p.name for p in model.packages} == set(known_good.packages)
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
    failed = sorted(k for k, ok in outcomes(tmp_path / "snap", variant).items() if not ok)
    assert failed == ["dist:transformers", "pkg:media-types"]  # an upgrade (rg 14) still passes


def test_snapshot_refuses_to_overwrite_without_force(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    snapshot.write(tmp_path / "snap", known_good, "expectations")
    with pytest.raises(UsageError, match="--force"):
        snapshot.write(tmp_path / "snap", known_good, "expectations")
    snapshot.write(tmp_path / "snap", known_good, "expectations", force=True)


def test_snapshot_keeps_the_contracts_version_arguments(tmp_path: Path, known_good: facts.ImageFacts) -> None:
    f = replace(
        known_good,
        binary_args={**known_good.binary_args, "python3": ["-V"]},
        binary_regex={"rg": r"ripgrep (\S+)"},
    )
    snapshot.write(tmp_path / "snap", f, "expectations")
    bins = {b.name: b for b in load(tmp_path / "snap", "amd64", "other").binaries}
    assert bins["python3"].version_args == ("-V",) and bins["rg"].version_regex == r"ripgrep (\S+)"
