"""A team's contract: one line removes a tool everywhere, overlays are optional, set names are checked.

Each rule has the input that used to pass wrongly (or fail for no reason) beside the one that must fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from file_trees import write_tree

from devbox_conformance import expectations as exp
from devbox_conformance.kinds import schema as kind_schema

REPO = Path(__file__).resolve().parents[2]

BASE = """\
binaries:
  - name: nvtop
  - name: rg
packages:
  - name: nvtop
  - name: ripgrep
"""


def keys(model: exp.Expectations, kind: str) -> list[str]:
    return [item.key for item in model.items(kind)]


# --- remove: [KEY] at the top level drops the key from every kind -------------------------------------


def test_top_level_remove_drops_the_tool_from_every_kind(tmp_path: Path) -> None:
    write_tree(tmp_path, {"base/common.yaml": BASE, "base/amd64.yaml": ""})
    team = write_tree(tmp_path / "team", {"common.yaml": "extends: ../base\nremove: [nvtop]\n"})
    model = exp.load(team, "amd64", "other")
    assert keys(model, "binaries") == ["rg"]
    assert keys(model, "packages") == ["ripgrep"]


def test_item_remove_leaves_the_other_kind_checked(tmp_path: Path) -> None:
    """What the issue met: `remove: true` under binaries only; packages[nvtop] is still asked for."""
    write_tree(tmp_path, {"base/common.yaml": BASE, "base/amd64.yaml": ""})
    team = write_tree(
        tmp_path / "team", {"common.yaml": "extends: ../base\nbinaries:\n  - name: nvtop\n    remove: true\n"}
    )
    model = exp.load(team, "amd64", "other")
    assert "nvtop" not in keys(model, "binaries") and "nvtop" in keys(model, "packages")


def test_top_level_remove_of_a_name_nothing_has_is_one_line(tmp_path: Path) -> None:
    """A typo must not look like a removal while the item stays checked."""
    write_tree(tmp_path, {"base/common.yaml": BASE, "base/amd64.yaml": ""})
    team = write_tree(tmp_path / "team", {"common.yaml": "extends: ../base\nremove:\n  - nvtop\n  - nvtpo\n"})
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(team, "amd64", "other")
    assert (
        str(info.value) == f"{team}/common.yaml:4: remove[1]: no earlier item 'nvtpo' in any kind to remove"
    )


def test_top_level_remove_must_be_a_list_of_names(tmp_path: Path) -> None:
    write_tree(tmp_path, {"base/common.yaml": BASE, "base/amd64.yaml": ""})
    team = write_tree(tmp_path / "team", {"common.yaml": "extends: ../base\nremove: nvtop\n"})
    with pytest.raises(exp.ExpectationsError, match=r"common.yaml:2: remove: wrong type: expected array"):
        exp.load(team, "amd64", "other")


def test_top_level_remove_against_the_shipped_contract(tmp_path: Path) -> None:
    """The shipped contract checks nvtop as a binary and a package; one line drops both."""
    team = write_tree(tmp_path, {"common.yaml": "extends: gpu-devbox\nremove: [nvtop]\n"})
    shipped = exp.load(exp.SHIPPED_DIR, "amd64", "ngc")
    assert "nvtop" in keys(shipped, "binaries") and "nvtop" in keys(shipped, "packages")
    model = exp.load(team, "amd64", "ngc")
    assert not [kind for kind, item in model.all_items() if item.key == "nvtop"]
    assert model.count() == shipped.count() - 2


# --- overlays are optional for an arch-neutral contract --------------------------------------------------


def test_common_only_contract_loads_on_every_arch(tmp_path: Path) -> None:
    d = write_tree(tmp_path, {"common.yaml": "binaries:\n  - name: our-cli\n"})
    for arch in ("amd64", "arm64"):
        assert keys(exp.load(d, arch, "other"), "binaries") == ["our-cli"]


def test_a_waivers_file_beside_a_common_only_contract_is_not_an_overlay(tmp_path: Path) -> None:
    # waivers.yaml beside the contract was counted as an overlay: "no overlay for arch (overlays: waivers)".
    waivers = "waivers:\n  - id: test_binary[our-cli]\n    justification: x\n    expires: 2027-01-01\n"
    d = write_tree(tmp_path, {"common.yaml": "binaries:\n  - name: our-cli\n", "waivers.yaml": waivers})
    for arch in ("amd64", "arm64"):
        assert keys(exp.load(d, arch, "other"), "binaries") == ["our-cli"]


def test_a_contract_with_overlays_still_needs_this_arch(tmp_path: Path) -> None:
    d = write_tree(tmp_path, {"common.yaml": "binaries:\n  - name: our-cli\n", "arm64.yaml": ""})
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(d, "amd64", "other")
    assert str(info.value) == f"{d}/amd64.yaml: no overlay for arch 'amd64' (overlays: arm64)"


def test_the_shipped_contract_keeps_both_overlays() -> None:
    """The shipped contract describes per-arch differences; losing an overlay must not go unnoticed."""
    assert {p.stem for p in exp.SHIPPED_DIR.glob("*.yaml")} >= {"common", "amd64", "arm64"}


# --- unknown set names in when: ---------------------------------------------------------------------------


def test_unknown_set_name_names_the_known_sets(tmp_path: Path) -> None:
    d = write_tree(tmp_path, {"common.yaml": "binaries:\n  - name: nvtop\n    when: {sets: [gpu-tool]}\n"})
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(d, "amd64", "other")
    known = ", ".join(kind_schema.KNOWN_SETS)
    assert str(info.value) == (
        f"{d}/common.yaml:3: binaries[0].when.sets[0]: unknown set 'gpu-tool' (expected one of {known})"
    )


def test_unknown_set_in_a_group_is_caught_too(tmp_path: Path) -> None:
    text = "packages:\n  - when: {sets: [dev-tool]}\n    items:\n      - name: gdb\n"
    d = write_tree(tmp_path, {"common.yaml": text})
    with pytest.raises(
        exp.ExpectationsError, match=r"common.yaml:2: packages\[0\].when.sets\[0\]: unknown set"
    ):
        exp.load(d, "amd64", "other")


def test_base_typo_says_base_kind(tmp_path: Path) -> None:
    d = write_tree(tmp_path, {"common.yaml": "binaries:\n  - name: nvtop\n    when: {base: [ngcc]}\n"})
    with pytest.raises(
        exp.ExpectationsError, match=r"unknown base kind 'ngcc' \(expected one of ngc, standin, other\)"
    ):
        exp.load(d, "amd64", "other")


def test_known_sets_are_the_package_set_files() -> None:
    files = {p.stem for p in (REPO / "packages").glob("*/*.txt")}
    assert set(kind_schema.KNOWN_SETS) == files
