# ruff: noqa: E501 - tables of exact expected messages read better unwrapped
"""expectations.load: merging, `when:`, and one exact line for each kind of bad input."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from file_trees import write_tree as write
from packaging.version import Version

from devbox_conformance import expectations as exp

REPO = Path(__file__).resolve().parents[2]


COMMON = """\
binaries:
  - name: rg
    package: ripgrep
    version: ">=13"
  - name: nvtop
  - name: ltrace
python_dists:
  - name: transformers
    min_version: "4.40"
"""


def test_overlays_merge_by_key_replace_fields_and_remove(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "common.yaml": COMMON,
            "arm64.yaml": "binaries:\n  - name: ltrace\n    remove: true\n  - name: rg\n    version: '>=14'\n",
            "amd64.yaml": "",
            "bases/standin.yaml": "binaries:\n  - name: nvtop\n    optional: true\n    reason: contrib\n",
        },
    )
    model = exp.load(d, "arm64", "standin")
    assert [b.name for b in model.binaries] == ["rg", "nvtop"]
    rg = model.binaries[0]
    assert str(rg.version) == ">=14" and rg.package == "ripgrep"  # replaced one field, kept the others
    assert model.binaries[1].optional and model.binaries[1].reason == "contrib"
    assert model.python_dists[0].min_version == Version("4.40")
    assert model.python_dists[0].import_name == "transformers"
    assert model.files == (f"{d}/common.yaml", f"{d}/arm64.yaml", f"{d}/bases/standin.yaml")
    # amd64 has no base overlay for "other": common + arch only
    assert len(exp.load(d, "amd64", "other").binaries) == 3


def test_model_is_frozen(tmp_path: Path) -> None:
    model = exp.load(write(tmp_path, {"common.yaml": COMMON, "amd64.yaml": ""}), "amd64", "other")
    with pytest.raises(AttributeError):
        model.binaries[0].name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "when, cond, unmet",
    [
        ({"arch": ("amd64",)}, {"arch": "arm64"}, "when: arch in ['amd64'], but the target is arm64"),
        (
            {"cuda": True},
            {"cuda": None},
            "when: cuda is true, but the target has no CUDA (torch nor CUDA_VERSION)",
        ),
        ({"cuda": True}, {"cuda": "12.4"}, None),
        ({"gpu": True}, {"gpu": False}, "when: gpu is true, but the target has no GPU visible"),
        (
            {"sets": ("python-core",)},
            {"sets": ["base-tools"], "sets_excluded": {"python-core": "INSTALL_PYTHON_CORE=false"}},
            "when: sets ['python-core'], but set python-core is not in this build (INSTALL_PYTHON_CORE=false)",
        ),
        ({"sets": ("python-core",)}, {"sets": None}, None),  # no manifest: the contract applies
        ({"base": ("ngc",)}, {"base": "standin"}, "when: base in ['ngc'], but the target's base is standin"),
        ({}, {"arch": "amd64"}, None),
    ],
)
def test_when(when: dict, cond: dict, unmet: str | None) -> None:
    assert exp.When(**when).unmet(cond) == unmet


BAD = {
    "malformed YAML": (
        "binaries:\n  - name: rg\n   version: 1\n",
        "{d}/common.yaml:3: malformed YAML: expected <block end>, but found '<block mapping start>'",
    ),
    "unknown key": (
        "binaries:\n  - name: rg\n    versoin: '>=1'\n",
        "{d}/common.yaml:3: binaries[0].versoin: unknown key 'versoin' (did you mean 'version'?)",
    ),
    "unknown kind": (
        "binaris:\n  - name: rg\n",
        "{d}/common.yaml:1: binaris: unknown key 'binaris' (did you mean 'binaries'?)",
    ),
    "wrong type": (
        "binaries:\n  - name: rg\n    optional: 'yes'\n",
        "{d}/common.yaml:3: binaries[0].optional: wrong type: expected boolean, got string ('yes')",
    ),
    "invalid version spec": (
        "binaries:\n  - name: rg\n    version: '>>13'\n",
        "{d}/common.yaml:3: binaries[0].version: invalid version spec '>>13' (PEP 440, e.g. '>=2.30')",
    ),
    "invalid min_version": (
        "python_dists:\n  - name: x\n    min_version: 'four'\n",
        "{d}/common.yaml:3: python_dists[0].min_version: invalid version 'four' (PEP 440, e.g. '4.40')",
    ),
    "unknown arch in when": (
        "binaries:\n  - name: rg\n    when: {arch: [amd65]}\n",
        "{d}/common.yaml:3: binaries[0].when.arch[0]: unknown arch 'amd65' (expected one of amd64, arm64)",
    ),
    "missing key": ("binaries:\n  - version: '>=1'\n", "{d}/common.yaml:2: binaries[0]: 'name' is required"),
    "duplicate": (
        "env:\n  - name: A\n  - name: A\n",
        "{d}/common.yaml:3: env[1].name: duplicate item 'A' (first at env[0])",
    ),
    "bad regex": (
        "env:\n  - name: A\n    regex: '('\n",
        "{d}/common.yaml:3: env[0].regex: invalid regex '(': missing ), unterminated subpattern "
        "at position 0",
    ),
    "empty": (
        "# nothing yet\n",
        "{d}/common.yaml:1: (top level): empty expectations: no item to check in "
        "{d}/common.yaml, {d}/amd64.yaml",
    ),
    "top level list": (
        "- a\n",
        "{d}/common.yaml:1: (top level): wrong type: expected a mapping of item kinds, got list",
    ),
    "package unknown key": (
        "packages:\n  - name: libx11-dev\n    optinal: true\n",
        "{d}/common.yaml:3: packages[0].optinal: unknown key 'optinal' (did you mean 'optional'?)",
    ),
    "package has no version": (
        "packages:\n  - name: git\n    version: '>=2.30'\n",
        "{d}/common.yaml:3: packages[0].version: unknown key 'version' (did you mean 'reason'?)",
    ),
    "package wrong type": (
        "packages:\n  - name: 7\n",
        "{d}/common.yaml:2: packages[0].name: wrong type: expected string, got integer (7)",
    ),
    "package bad name": (
        "packages:\n  - name: Git LFS\n",
        "{d}/common.yaml:2: packages[0].name: 'Git LFS' does not match "
        "'^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$'",
    ),
    "package missing name": (
        "packages:\n  - optional: true\n",
        "{d}/common.yaml:2: packages[0]: 'name' is required",
    ),
    "package duplicate": (
        "packages:\n  - name: gdb\n  - name: gdb\n",
        "{d}/common.yaml:3: packages[1].name: duplicate item 'gdb' (first at packages[0])",
    ),
    "package unknown set type": (
        "packages:\n  - name: gdb\n    when: {sets: dev-tools}\n",
        "{d}/common.yaml:3: packages[0].when.sets: wrong type: expected array, got string ('dev-tools')",
    ),
    "duplicate kind": (
        "binaries:\n  - name: rg\nenv:\n  - name: A\nbinaries:\n  - name: fd\n",
        "{d}/common.yaml:5: duplicate key 'binaries' (first at line 1)",
    ),
    "duplicate field": (
        "binaries:\n  - name: rg\n    version: '>=1'\n    package: ripgrep\n    version: '>=2'\n",
        "{d}/common.yaml:5: duplicate key 'version' (first at line 3)",
    ),
    "duplicate when key": (
        "binaries:\n  - name: rg\n    when:\n      arch: [amd64]\n      cuda: true\n      arch: [arm64]\n",
        "{d}/common.yaml:6: duplicate key 'arch' (first at line 4)",
    ),
    "duplicate key in flow mapping": (
        "env:\n  - {name: A, value: x, name: B}\n",
        "{d}/common.yaml:2: duplicate key 'name' (first at line 2, column 6)",
    ),
    "not UTF-8": (
        b"env:\n  - name: A\n    value: caf\xe9\n",
        "{d}/common.yaml:3: not UTF-8: byte 0xe9 at offset 31 (invalid continuation byte); save the file as UTF-8",
    ),
    "group: unknown key in an item": (
        "binaries:\n  - when: {sets: [base-tools]}\n    items:\n      - name: rg\n      - name: fd\n        versoin: '>=1'\n",
        "{d}/common.yaml:6: binaries[0].items[1].versoin: unknown key 'versoin' (did you mean 'version'?)",
    ),
    "group: bad value in an item": (
        "binaries:\n  - name: git\n  - when: {gpu: true}\n    items:\n      - name: nvidia-smi\n        version: '>>1'\n",
        "{d}/common.yaml:6: binaries[1].items[0].version: invalid version spec '>>1' (PEP 440, e.g. '>=2.30')",
    ),
    "group: bad when": (
        "env:\n  - when: {arch: [riscv]}\n    items:\n      - name: A\n",
        "{d}/common.yaml:2: env[0].when.arch[0]: unknown arch 'riscv' (expected one of amd64, arm64)",
    ),
    "group: without when": (
        "env:\n  - items:\n      - name: A\n",
        "{d}/common.yaml:2: env[0]: 'when' is required",
    ),
    "group: other keys": (
        "env:\n  - when: {gpu: true}\n    optional: true\n    items:\n      - name: A\n",
        "{d}/common.yaml:3: env[0].optional: unknown key 'optional' (valid keys: when, items, note)",
    ),
    "group: empty": (
        "env:\n  - when: {gpu: true}\n    items: []\n",
        "{d}/common.yaml:3: env[0].items: [] should be non-empty",
    ),
    "group: no nesting": (
        "env:\n  - when: {gpu: true}\n    items:\n      - when: {cuda: true}\n        items: [{name: A}]\n",
        "{d}/common.yaml:5: env[0].items[0].items: groups do not nest (give these items the outer group's `when:` keys in a group of their own)",
    ),
    "group: duplicate across groups": (
        "env:\n  - name: A\n  - when: {gpu: true}\n    items:\n      - name: B\n      - name: A\n",
        "{d}/common.yaml:6: env[1].items[1].name: duplicate item 'A' (first at env[0])",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_exact_line(tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    d = write(tmp_path, {"amd64.yaml": ""})
    if isinstance(text, bytes):
        (d / "common.yaml").write_bytes(text)
    else:
        (d / "common.yaml").write_text(text)
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(d, "amd64", "other")
    assert str(info.value) == message.format(d=d)
    assert "\n" not in str(info.value)


def test_duplicate_key_in_an_overlay_names_that_file(tmp_path: Path) -> None:
    d = write(
        tmp_path,
        {
            "common.yaml": COMMON,
            "amd64.yaml": "binaries:\n  - name: rg\n    optional: true\n    optional: false\n",
        },
    )
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(d, "amd64", "other")
    assert str(info.value) == f"{d}/amd64.yaml:4: duplicate key 'optional' (first at line 3)"


def test_duplicate_keys_are_refused_with_and_without_libyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path keeps libyaml when PyYAML has it, and both parsers give the same line."""
    import yaml

    from devbox_conformance import yamlfile

    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(yamlfile.FastLoader, yaml.CSafeLoader)
    d = write(tmp_path, {"common.yaml": "binaries:\n  - name: rg\nbinaries: []\n", "amd64.yaml": ""})
    want = f"{d}/common.yaml:3: duplicate key 'binaries' (first at line 1)"
    with pytest.raises(exp.ExpectationsError, match="duplicate key") as fast:
        exp.load(d, "amd64", "other")
    monkeypatch.setattr(yamlfile, "FastLoader", yamlfile.PureLoader)
    with pytest.raises(exp.ExpectationsError, match="duplicate key") as pure:
        exp.load(d, "amd64", "other")
    assert str(fast.value) == str(pure.value) == want


def test_merge_keys_may_still_override(tmp_path: Path) -> None:
    """`<<: *anchor` then the same key is YAML's way to override, not a duplicate."""
    text = "binaries:\n  - &rg {name: rg, package: ripgrep}\n  - <<: *rg\n    name: fd\n"
    model = exp.load(write(tmp_path, {"common.yaml": text, "amd64.yaml": ""}), "amd64", "other")
    assert [(b.name, b.package) for b in model.binaries] == [("rg", "ripgrep"), ("fd", "ripgrep")]


GROUPED = """\
binaries:
  - name: git
  # a group: its items share one when
  - when: {sets: [gpu-tools], arch: [amd64]}
    note: NVIDIA's tools
    items:
      - name: nvtop
      - name: nsys
        when: {arch: [amd64, arm64]}
      - name: ncu
        when: {gpu: true}
packages:
  - when: {sets: [dev-tools]}
    items:
      - name: gdb
"""


def test_group_items_share_its_when_and_add_or_override_keys(tmp_path: Path) -> None:
    d = write(tmp_path, {"common.yaml": GROUPED, "amd64.yaml": ""})
    model = exp.load(d, "amd64", "other")
    by_name = {b.name: b for b in model.binaries}
    assert list(by_name) == ["git", "nvtop", "nsys", "ncu"]
    assert by_name["git"].when == exp.When()
    assert by_name["nvtop"].when == exp.When(sets=("gpu-tools",), arch=("amd64",))
    assert by_name["nsys"].when == exp.When(sets=("gpu-tools",), arch=("amd64", "arm64"))  # item's key wins
    assert by_name["ncu"].when == exp.When(sets=("gpu-tools",), arch=("amd64",), gpu=True)  # keys add up
    assert model.packages[0].when == exp.When(sets=("dev-tools",))
    # source names the item's own line inside the group, as failures show it
    assert [b.source for b in model.binaries] == [f"{d}/common.yaml:{n}" for n in (2, 7, 8, 10)]


def test_group_is_the_same_model_as_items_with_their_own_when(tmp_path: Path) -> None:
    flat = """\
binaries:
  - name: git
  - name: nvtop
    when: {sets: [gpu-tools], arch: [amd64]}
  - name: nsys
    when: {sets: [gpu-tools], arch: [amd64, arm64]}
  - name: ncu
    when: {arch: [amd64], gpu: true, sets: [gpu-tools]}
packages:
  - name: gdb
    when: {sets: [dev-tools]}
"""
    grouped = exp.load(write(tmp_path / "g", {"common.yaml": GROUPED, "amd64.yaml": ""}), "amd64", "other")
    plain = exp.load(write(tmp_path / "f", {"common.yaml": flat, "amd64.yaml": ""}), "amd64", "other")
    strip = functools.partial(dataclasses.replace, source="")
    assert [strip(i) for _, i in grouped.all_items()] == [strip(i) for _, i in plain.all_items()]


def test_overlay_may_group_and_replaces_when_as_for_any_item(tmp_path: Path) -> None:
    """In an overlay a grouped item is an item whose `when` is the group's (plus its own): it replaces the
    earlier `when` whole, as an overlay item's `when:` always did; other fields are kept."""
    arm = "binaries:\n  - when: {arch: [arm64]}\n    items:\n      - name: nsys\n        optional: true\n        reason: not published\n      - name: git\n        remove: true\n"
    d = write(tmp_path, {"common.yaml": GROUPED, "amd64.yaml": "", "arm64.yaml": arm})
    model = exp.load(d, "arm64", "other")
    nsys = next(b for b in model.binaries if b.name == "nsys")
    assert nsys.when == exp.When(arch=("arm64",)) and nsys.optional and nsys.source == f"{d}/arm64.yaml:4"
    assert "git" not in {b.name for b in model.binaries}


def test_real_contract_groups_its_package_sets() -> None:
    """A run of one set's items is one group in common.yaml, not a `when:` repeated on each item."""
    import yaml

    data = yaml.safe_load((REPO / "expectations" / "common.yaml").read_text())
    for kind in ("binaries", "packages", "python_dists"):
        loose = [e["name"] for e in data[kind] if "items" not in e and "sets" in (e.get("when") or {})]
        assert not loose, f"{kind}: items of a set outside its group: {loose}"
        assert sum("items" in e for e in data[kind]) >= 2


def test_remove_of_unknown_item(tmp_path: Path) -> None:
    d = write(tmp_path, {"common.yaml": COMMON, "amd64.yaml": "binaries:\n  - name: fzf\n    remove: true\n"})
    with pytest.raises(
        exp.ExpectationsError, match=r"amd64.yaml:2: binaries\[0\]: remove: no earlier item 'fzf'"
    ):
        exp.load(d, "amd64", "other")


def test_arch_without_overlay(tmp_path: Path) -> None:
    d = write(tmp_path, {"common.yaml": COMMON, "amd64.yaml": ""})
    with pytest.raises(exp.ExpectationsError) as info:
        exp.load(d, "riscv64", "other")
    assert str(info.value) == f"{d}/riscv64.yaml: no overlay for arch 'riscv64' (overlays: amd64)"


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(exp.ExpectationsError, match="expectations directory not found"):
        exp.load(tmp_path / "nope", "amd64", "other")


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("base", ["ngc", "standin", "other"])
def test_the_real_contract_loads(arch: str, base: str) -> None:
    model = exp.load(REPO / "expectations", arch, base)
    assert model.count() > 150
    names = {b.name for b in model.binaries}
    assert {
        "rg",
        "fd",
        "bat",
        "fzf",
        "git-lfs",
        "cmake",
        "clang",
        "nvtop",
        "htop",
        "btop",
        "tmux",
        "zsh",
    } <= names
    dists = {d.name for d in model.python_dists}
    assert {
        "transformers",
        "datasets",
        "accelerate",
        "deepspeed",
        "peft",
        "trl",
        "lightning",
        "wandb",
        "tensorboard",
        "flash-attn",
    } <= dists


def test_real_overlays_are_small_and_say_what_differs() -> None:
    standin = exp.load(REPO / "expectations", "amd64", "standin")
    optional = {b.name for b in standin.binaries if b.optional}
    assert {"nvtop", "dust", "starship", "nsys", "ncu"} <= optional
    assert {p.name for p in standin.packages if p.optional} == {
        "nvtop",
        "du-dust",
        "starship",
        "nsight-systems-cli",
        "nsight-compute",
    }
    assert all(p.reason for p in standin.packages if p.optional)
    arm = exp.load(REPO / "expectations", "arm64", "standin")
    assert next(b for b in arm.binaries if b.name == "ltrace").optional
    assert next(p for p in arm.packages if p.name == "ltrace").optional
    # on the NGC base only starship (absent from Ubuntu 24.04) is relaxed; on arm64 Nsight too
    assert {p.name for p in exp.load(REPO / "expectations", "amd64", "ngc").packages if p.optional} == {
        "starship"
    }
    assert {p.name for p in exp.load(REPO / "expectations", "arm64", "ngc").packages if p.optional} == {
        "starship",
        "ltrace",
        "nsight-systems-cli",
        "nsight-compute",
    }
    flash = next(d for d in arm.python_dists if d.name == "flash-attn")
    assert flash.when.arch == ("amd64",) and flash.when.cuda is True


@functools.cache
def _devbox_sets() -> ModuleType:
    """packages/devbox_sets.py, the installers' own list parser (stdlib only; not on sys.path)."""
    if "devbox_sets" in sys.modules:
        return sys.modules["devbox_sets"]
    spec = importlib.util.spec_from_file_location("devbox_sets", REPO / "packages" / "devbox_sets.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["devbox_sets"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@functools.cache
def _real_packages(arch: str, base: str) -> dict[str, exp.Package]:
    return {p.name: p for p in exp.load(REPO / "expectations", arch, base).packages}


APT_SETS = sorted(p.stem for p in (REPO / "packages" / "apt").glob("*.txt"))


@pytest.mark.parametrize("set_name", APT_SETS)
@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("base", ["ngc", "standin", "other"])
def test_every_apt_package_has_a_packages_item_of_its_set(set_name: str, arch: str, base: str) -> None:
    """Drift guard: a package added to a list without its `packages` item would go unchecked."""
    entries = _devbox_sets().parse_list(REPO / "packages" / "apt" / f"{set_name}.txt", pip=False)
    assert entries, set_name
    items = _real_packages(arch, base)
    for entry in entries:
        item = items.get(entry.name)
        assert item is not None, (
            f"packages/apt/{set_name}.txt:{entry.line}: {entry.name} has no `packages` item"
        )
        assert item.when.sets == (set_name,), (
            f"packages[{entry.name}] ({item.source}): when.sets {item.when.sets}"
        )
        if entry.arches:  # the list limits it to some architectures: so must the contract
            assert set(item.when.arch or ()) == set(entry.arches), f"packages[{entry.name}] ({item.source})"
    listed = {e.name for e in entries}
    stale = [name for name, item in items.items() if item.when.sets == (set_name,) and name not in listed]
    assert not stale, (
        f"`packages` items of set {set_name} that packages/apt/{set_name}.txt does not list: {stale}"
    )


def test_every_yaml_points_at_the_schema() -> None:
    for path in (REPO / "expectations").rglob("*.yaml"):
        if "baselines" in path.parts:
            continue
        assert path.read_text().startswith("# yaml-language-server: $schema="), path


def _bomb(levels: int) -> str:
    """A "billion laughs" `name:`: each level a list of nine of the level below, all on one line."""
    lol = '&a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'
    more = [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return f"binaries:\n  - name: [{', '.join([lol, *more])}]\n"


@pytest.mark.parametrize(
    "body, message",
    [
        # Before: accepted (a NUL byte in a name or path reached the target and ended the probe there).
        ('binaries:\n  - name: "rg\\0x"\n', "common.yaml:2: binaries[0].name: NUL byte in 'rg\\x00x'"),
        (
            'binaries:\n  - name: rg\n    "a\\0": 1\n',
            "common.yaml:3: binaries[0].a\x00: key: NUL byte in 'a\\x00'",
        ),
        # Before: accepted; NaN passes every `maximum`.
        (
            "commands:\n  - name: x\n    argv: [a]\n    timeout: .nan\n",
            "common.yaml:4: commands[0].timeout: not a finite number (nan)",
        ),
        (
            "commands:\n  - name: x\n    argv: [a]\n    timeout: .inf\n",
            "common.yaml:4: commands[0].timeout: not a finite number (inf)",
        ),
        # Before: accepted, and an OverflowError in the target took every item of the host down.
        (
            "commands:\n  - name: x\n    argv: [a]\n    timeout: 1.0e+20\n",
            "common.yaml:4: commands[0].timeout: 1e+20 is greater than the maximum of 86400",
        ),
        # Before: an OverflowError traceback in the loader.
        (
            "commands:\n  - name: x\n    argv: [a]\n    timeout: 1" + "0" * 400 + "\n",
            "common.yaml:4: commands[0].timeout: number too large (401 digits)",
        ),
        (
            "security:\n  - name: x\n    check: setuid\n    paths: [/usr]\n    max_entries: 10000000000\n",
            "common.yaml:5: security[0].max_entries: 10000000000 is greater than the maximum of 100000000",
        ),
        # Before: a TypeError traceback (sorting an int key beside a str one).
        ("binaries:\n  - name: rg\n    1: a\n    b: c\n", "common.yaml:4: binaries[0].b: unknown key 'b'"),
        # Before: an INTERNALERROR RecursionError traceback.
        (
            "binaries: " + "[" * 1000 + "]" * 1000 + "\n",
            "common.yaml:1: malformed YAML: nested more than 32 levels deep",
        ),
        ("binaries: " + "[" * 40 + "]" * 40 + "\n", "common.yaml:1: binaries[0][0][0]"),
        (
            "binaries:\n  - &r {name: x, note: [*r]}\n",
            "common.yaml:2: binaries[0].note[0]: an alias refers to a value that holds it",
        ),
        (
            "binaries:\n  - name: rg\n    note: {a: 'x\n      y'}\n    b\x00: 1\n",
            "common.yaml:",
        ),
    ],
)
def test_values_no_field_may_hold_are_one_line_naming_file_and_line(
    tmp_path: Path, body: str, message: str
) -> None:
    write(tmp_path, {"common.yaml": body, "amd64.yaml": ""})
    with pytest.raises(exp.ExpectationsError) as err:
        exp.load(tmp_path, "amd64", "other")
    text = str(err.value)
    assert message in text and "\n" not in text and len(text) <= exp.MAX_MESSAGE, text


@pytest.mark.parametrize("levels, refused", [(9, True), (6, True), (5, False)])
def test_an_alias_bomb_is_refused_or_shown_cut(tmp_path: Path, levels: int, refused: bool) -> None:
    """Before: 5 levels made a message of 481,685 characters, 6 levels 4.3 million, 9 never finished."""
    write(tmp_path, {"common.yaml": _bomb(levels), "amd64.yaml": ""})
    started = time.monotonic()
    with pytest.raises(exp.ExpectationsError) as err:
        exp.load(tmp_path, "amd64", "other")
    assert time.monotonic() - started < 10
    text = str(err.value)
    assert "\n" not in text and len(text) - len(str(tmp_path)) < 250, text
    if refused:
        assert "values once aliases are expanded" in text
    else:
        assert text.startswith(
            f"{tmp_path}/common.yaml:2: binaries[0].name: wrong type: expected string, got list"
        )


@pytest.mark.parametrize("overlay", ["amd64.yaml", "bases/standin.yaml"])
def test_extends_in_an_overlay_is_an_error(tmp_path: Path, overlay: str) -> None:
    """Before: silently ignored, so the contract it named was never checked."""
    files = {"common.yaml": COMMON, "amd64.yaml": ""}
    files[overlay] = "binaries:\n  - name: fd\nextends: gpu-devbox\n"
    write(tmp_path, files)
    with pytest.raises(exp.ExpectationsError) as err:
        exp.load(tmp_path, "amd64", "standin")
    assert str(err.value) == (
        f"{tmp_path}/{overlay}:3: extends: only common.yaml may extend a contract "
        "(an arch or base overlay cannot); move it to common.yaml"
    )
