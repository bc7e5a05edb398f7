"""Release-gate and diff verdicts at the edges: each input here was wrongly green or wrongly red before.

Every test names the input, the wrong verdict it had, and asserts the exact verdict it must have now:
packages keyed by name and architecture, local version labels, pairs that cannot be ordered, an unreadable
side, images of two architectures, Debian binNMU rebuilds, and `snapshot --force` over another arch.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from devbox_build.commands import diff as diff_command
from devbox_build.errors import UsageError
from devbox_build.imagediff import compare, facts, gate, render, snapshot

from devbox_conformance import expectations as exp

ATTRS = {"Id": "sha256:11", "Created": "2026", "Architecture": "amd64", "Size": 5, "Config": {}}
DPKG = {"dpkg:amd64": "1.21.22"}


def probed_image(ref: str, packages: dict[str, str], arch: str = "amd64", **probed: Any) -> facts.ImageFacts:
    """ImageFacts as gather() builds them from the probe's answer (`name:arch` keys, as the probe gives)."""
    answer: dict[str, Any] = {"all_packages": packages, "all_packages_error": None, "dists": {}, **probed}
    return facts.from_inspect(ref, {**ATTRS, "Architecture": arch}, (), answer, {})


def image(ref: str = "a", **kw: Any) -> facts.ImageFacts:
    return facts.ImageFacts(ref=ref, image_id="sha256:aa", digest="", created="", arch="amd64", size=1, **kw)


def rows(d: compare.ImageDiff) -> list[tuple[str, str, str]]:
    return [(c.section, c.name, c.change) for c in d.changes]


# ---- packages keyed by name and architecture ----


def test_adding_a_foreign_arch_adds_one_row_and_removes_none() -> None:
    # Was: `libgomp1` "removed" (the probe re-keyed it `libgomp1:amd64`), and the gate RED. Wrongly red.
    old = probed_image("old", {**DPKG, "libgomp1:amd64": "14.2.0-19"})
    new = probed_image("new", {**DPKG, "libgomp1:amd64": "14.2.0-19", "libgomp1:i386": "14.2.0-19"})
    d = compare.diff(old, new)
    assert rows(d) == [("apt", "libgomp1:i386", "added")]
    assert gate.judge(d, ()).ok


def test_a_package_that_changed_architecture_is_removed_and_added() -> None:
    # Was: both keyed `libgomp1`, same version: no change at all, gate green. Wrongly green.
    old = probed_image("old", {**DPKG, "libgomp1:amd64": "14.2.0-19"})
    new = probed_image("new", {**DPKG, "libgomp1:i386": "14.2.0-19"})
    d = compare.diff(old, new)
    assert rows(d) == [("apt", "libgomp1", "removed"), ("apt", "libgomp1:i386", "added")]
    verdict = gate.judge(d, ())
    assert [gate.describe(c) for c in verdict.blocking] == ["apt libgomp1 14.2.0-19 -> - (removed)"]


def test_own_arch_and_all_packages_match_by_name_across_images() -> None:
    old = probed_image("old", {**DPKG, "libgomp1:amd64": "14.2.0-19", "tzdata:all": "2025b-0+deb12u1"})
    new = probed_image("new", {**DPKG, "libgomp1:amd64": "14.2.0-19", "tzdata:all": "2025b-0+deb12u2"})
    assert set(old.packages) == {"dpkg", "libgomp1", "tzdata"}
    assert rows(compare.diff(old, new)) == [("apt", "tzdata", "upgraded")]
    # The native arch is dpkg's own; an arm64 image keys its arm64 packages by name alike.
    arm = probed_image("arm", {"dpkg:arm64": "1.21.22", "libgomp1:arm64": "14.2.0-19", "libc6:armhf": "2"})
    assert set(arm.packages) == {"dpkg", "libgomp1", "libc6:armhf"}


def test_allow_list_names_a_foreign_arch_package(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text("allow:\n  - apt: libgomp1:i386\n    reason: the i386 runtime is gone for good\n")
    old = probed_image("old", {**DPKG, "libgomp1:amd64": "1", "libgomp1:i386": "1"})
    new = probed_image("new", {**DPKG, "libgomp1:amd64": "1"})
    verdict = gate.judge(compare.diff(old, new), gate.load_allow(allow))
    assert verdict.ok and [c.name for c, _a in verdict.allowed] == ["libgomp1:i386"]


# ---- PEP 440 local labels, pairs that cannot be ordered ----


@pytest.mark.parametrize(
    ("old", "new", "before"),
    [
        ("2.6.0a0+ecf3bae40a", "2.6.0a0+df5b1c2e77", "downgraded"),  # wrongly red, for the wrong reason
        ("2.6.0a0+df5b1c2e77", "2.6.0a0+ecf3bae40a", "upgraded"),  # wrongly green
        ("2.13.0", "2.13.0+cpu", "upgraded"),  # wrongly green: a CPU build replacing the CUDA one
    ],
)
def test_a_change_only_in_the_local_label_is_changed_and_blocks_unless_allowed(
    old: str, new: str, before: str, tmp_path: Path
) -> None:
    d = compare.diff(image(dists={"torch": old}), image(dists={"torch": new}))
    (change,) = d.changes
    assert (change.change, change.unordered) == ("changed", True) and change.change != before
    assert change.reason.startswith("cannot be ordered: only the local label differs")
    verdict = gate.judge(d, ())
    assert [c.name for c in verdict.blocking] == ["torch"] and "\n" not in gate.describe(change)
    allow = tmp_path / "allow.yaml"
    allow.write_text("allow:\n  - python: torch\n    reason: the nightly we tested\n")
    assert gate.judge(d, gate.load_allow(allow)).ok


def test_the_public_version_still_orders_a_pair_with_local_labels() -> None:
    d = compare.diff(image(dists={"torch": "2.7.0+cu128"}), image(dists={"torch": "2.6.0a0+ecf3"}))
    assert rows(d) == [("python", "torch", "downgraded")]


@pytest.mark.parametrize(
    ("section", "old", "new"),
    [
        ("dists", "2.1.0-14-gabc123", "1.9.0-3-gdef456"),  # git-describe: a real downgrade, not PEP 440
        ("dists", "1.0", "not-a-version"),
        ("packages", "1.0-1", ""),  # a dpkg record without a version
    ],
)
def test_a_pair_that_cannot_be_ordered_fails_the_gate(section: str, old: str, new: str) -> None:
    # Was: "changed", and the gate ignored "changed": wrongly green.
    d = compare.diff(image(**{section: {"x": old}}), image(**{section: {"x": new}}))
    (change,) = d.changes
    assert (change.change, change.unordered) == ("changed", True)
    verdict = gate.judge(d, ())
    assert not verdict.ok and verdict.blocking == (change,)
    assert gate.describe(change).startswith(f"{'apt' if section == 'packages' else 'python'} x {old or '-'}")
    assert "cannot be ordered" in gate.describe(change)


def test_two_spellings_of_one_version_are_changed_and_pass() -> None:
    d = compare.diff(image(dists={"x": "1.0"}), image(dists={"x": "1.0.0"}))
    assert rows(d) == [("python", "x", "changed")] and not d.changes[0].unordered
    assert gate.judge(d, ()).ok


# ---- Debian binNMU rebuilds ----


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("1.4g-1+b1", "1.4g-1", "rebuilt"),  # was "downgraded": wrongly red
        ("1.4g-1", "1.4g-1+b2", "rebuilt"),
        ("2.0+b3", "2.0+b1", "rebuilt"),  # a native package's binNMU
        ("1.4g-2", "1.4g-1+b1", "downgraded"),  # the source went down: still a downgrade
        ("1.4g-1+b1", "1.4h-1", "upgraded"),
    ],
)
def test_a_binnmu_suffix_alone_is_a_rebuild(old: str, new: str, kind: str) -> None:
    d = compare.diff(image(packages={"libfoo": old}), image(packages={"libfoo": new}))
    assert rows(d) == [("apt", "libfoo", kind)]
    assert gate.judge(d, ()).ok is (kind != "downgraded")


# ---- an unreadable side ----


def test_an_unreadable_dpkg_database_is_an_error_never_an_empty_side() -> None:
    # Was: a progress note, then every package of B "added" and the gate green. Wrongly green.
    old = probed_image(
        "reg/devbox:2026.11",
        {},
        all_packages_error="cannot read /var/lib/dpkg/status: Permission denied",
    )
    new = probed_image("reg/devbox:2026.12", {**DPKG, "git:amd64": "1:2.39.5-0+deb12u2"})
    assert old.unreadable == {"apt": "dpkg database: cannot read /var/lib/dpkg/status: Permission denied"}
    d = compare.diff(old, new)
    assert rows(d) == []  # not compared: no row from an empty side
    assert d.errors == (
        "A reg/devbox:2026.11: apt packages could not be read (dpkg database: cannot read "
        "/var/lib/dpkg/status: Permission denied); that section is not compared",
    )
    verdict = gate.judge(d, ())
    assert not verdict.ok and verdict.blocking == () and verdict.errors == d.errors
    assert render.text(d).splitlines()[3].startswith("ERROR: A reg/devbox:2026.11: apt packages")
    assert render.document(d)["errors"] == list(d.errors)


def test_a_probe_answer_without_dists_or_packages_is_unreadable() -> None:
    f = facts.from_inspect("x", ATTRS, (), {}, {})
    assert f.unreadable == {
        "apt": "the probe returned no dpkg packages",
        "python": "the probe returned no Python distributions",
    }
    d = compare.diff(image(dists={"torch": "2.9"}), f)
    assert rows(d) == [] and len(d.errors) == 2 and not gate.judge(d, ()).ok


def test_release_gate_refuses_an_unreadable_last_release(monkeypatch, tmp_path: Path) -> None:
    old = probed_image(
        "reg/devbox:2026.11", {}, all_packages_error="no dpkg database at /var/lib/dpkg/status"
    )
    new = probed_image("new", {**DPKG})
    monkeypatch.setattr(facts, "gather_pair", lambda *_a, **_k: (old, new))
    lines: list[str] = []
    assert not gate.release_gate({"amd64": "new"}, "reg/devbox:2026.11", (), tmp_path, tmp_path, lines.append)
    assert any(
        line.startswith("   REFUSED A reg/devbox:2026.11: apt packages could not be read") for line in lines
    )
    assert "RED (1 thing(s) could not be compared" in lines[-1]


def test_diff_command_prints_the_diff_and_exits_2_on_an_unreadable_side(monkeypatch, capsys) -> None:
    old = probed_image("old", {}, all_packages_error="cannot read /var/lib/dpkg/status: I/O error")
    new = probed_image("new", {**DPKG})
    monkeypatch.setattr(facts, "gather_pair", lambda *_a, **_k: (old, new))
    assert diff_command.run(args()) == 2
    out, err = capsys.readouterr()
    assert "ERROR: A old: apt packages could not be read" in out
    assert err.strip().startswith("devbox diff: ERROR A old: apt packages could not be read")


def test_snapshot_of_an_unreadable_image_writes_nothing(tmp_path: Path) -> None:
    f = probed_image("x", {}, all_packages_error="no dpkg database at /var/lib/dpkg/status", dists={"a": "1"})
    with pytest.raises(UsageError, match="x: nothing written: apt could not be read"):
        snapshot.write(tmp_path / "snap", f, "expectations")
    assert not (tmp_path / "snap").exists()


# ---- two architectures ----


def args(**kw: Any) -> argparse.Namespace:
    base = {
        "old": "old",
        "new": "new",
        "format": "table",
        "output": None,
        "platform": None,
        "pull": "missing",
        "expectations": Path("expectations"),
        "allow_arch_mismatch": False,
    }
    return argparse.Namespace(**{**base, **kw})


def test_diff_of_two_architectures_is_refused_unless_allowed(monkeypatch, capsys) -> None:
    # Was: a plain diff, exit 1, nothing said of amd64 vs arm64. Wrongly quiet.
    old = probed_image("old", {**DPKG, "libc6:amd64": "2.36-9"})
    new = probed_image("new", {"dpkg:arm64": "1.21.22", "libc6:arm64": "2.36-9"}, arch="arm64")
    monkeypatch.setattr(facts, "gather_pair", lambda *_a, **_k: (old, new))
    with pytest.raises(UsageError, match="architecture mismatch: A is amd64 and B is arm64") as info:
        diff_command.run(args())
    assert "\n" not in str(info.value) and "--allow-arch-mismatch" in str(info.value)
    assert diff_command.run(args(allow_arch_mismatch=True)) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[3].startswith("ARCHITECTURE MISMATCH: A is amd64 and B is arm64")
    assert out.rstrip().endswith("architecture amd64 -> arm64; 0 changes; 0 layers differ")
    assert "**ARCHITECTURE MISMATCH: A is amd64" in render.markdown(compare.diff(old, new))
    assert rows(compare.diff(old, new)) == []  # each image's own-arch packages match by name
    verdict = gate.judge(compare.diff(old, new), ())
    assert not verdict.ok and verdict.errors[0].startswith("architecture mismatch: A is amd64 and B is arm64")


def test_the_cli_knows_the_flag() -> None:
    from devbox_build.cli import make_parser  # noqa: PLC0415

    parsed = make_parser().parse_args(["diff", "a", "b", "--allow-arch-mismatch"])
    assert parsed.allow_arch_mismatch is True
    assert make_parser().parse_args(["diff", "a", "b"]).allow_arch_mismatch is False


# ---- snapshot --force over another arch ----


def test_snapshot_force_over_another_arch_leaves_no_old_arch_file(tmp_path: Path) -> None:
    # Was: amd64.yaml stayed, so an amd64 image was checked against the arm64 pins. Wrongly green.
    amd = image(ref="img:amd64", packages={"git": "1"})
    snapshot.write(tmp_path, amd, "expectations")
    (tmp_path / "notes.md").write_text("mine")
    snapshot.write(tmp_path, replace(amd, ref="img:arm64", arch="arm64"), "expectations", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "arm64.yaml",
        "common.yaml",
        "notes.md",
        "schema.json",
    ]
    exp.load(tmp_path, "arm64", "other")
    with pytest.raises(exp.ExpectationsError):
        exp.load(tmp_path, "amd64", "other")
