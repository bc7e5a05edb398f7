"""imagediff without an engine: history parsing, the diff of two ImageFacts, the release gate's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from devbox_build.errors import UsageError
from devbox_build.imagediff import compare, facts, gate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "diff"


def load(name: str) -> facts.ImageFacts:
    return facts.ImageFacts.from_json(json.loads((FIXTURES / f"{name}.json").read_text()))


def image(**kw: object) -> facts.ImageFacts:
    base: dict[str, object] = {
        "ref": "a",
        "image_id": "sha256:aa",
        "digest": "",
        "created": "",
        "arch": "amd64",
        "size": 100,
    }
    return facts.ImageFacts(**{**base, **kw})  # type: ignore[arg-type]


# ---- history ----


@pytest.mark.parametrize(
    ("created_by", "expected"),
    [
        ("RUN |2 VCS_REF=abc BUILD_DATE=2026-11-01T07:00:00Z /bin/sh -c make # buildkit", "RUN make"),
        (
            "RUN |1 X=1 /bin/bash -o pipefail -c python3 -B  /tmp/x.py\n  --set a",
            "RUN python3 -B /tmp/x.py --set a",
        ),
        ("/bin/sh -c #(nop)  ENV A=1", "ENV A=1"),
        ("COPY rootfs/ / # buildkit", "COPY rootfs/ /"),
        ("RUN /bin/sh -c echo |2 not-args", "RUN echo |2 not-args"),
        ('RUN ["/usr/bin/env", "true"]', 'RUN ["/usr/bin/env", "true"]'),
    ],
)
def test_instruction_drops_build_args_and_noise(created_by: str, expected: str) -> None:
    assert facts.instruction(created_by) == expected


def test_history_is_read_oldest_first_in_bytes() -> None:
    out = "\n".join(
        json.dumps(row)
        for row in [
            {"CreatedBy": 'CMD ["bash"]', "Size": "0"},
            {"CreatedBy": "RUN |1 A=1 /bin/sh -c apt-get install -y git # buildkit", "Size": "123456"},
            {"CreatedBy": "ADD rootfs.tar / # buildkit", "Size": "1000"},
        ]
    )
    assert facts.parse_history(out) == (
        facts.Layer("ADD rootfs.tar /", 1000),
        facts.Layer("RUN apt-get install -y git", 123456),
        facts.Layer('CMD ["bash"]', 0),
    )


def test_facts_from_inspect_and_probe() -> None:
    config = {
        "Env": ["A=1", "B=x=y"],
        "Labels": {"l": "v"},
        "Cmd": ["bash"],
        "WorkingDir": "/w",
        "Healthcheck": {"Test": ["CMD", "true"], "Retries": 0},
    }
    attrs = {
        "Id": "sha256:11",
        "RepoDigests": ["reg/x@sha256:22"],
        "Created": "2026",
        "Architecture": "amd64",
        "Size": 5,
        "Config": config,
    }
    probed = {
        "all_packages": {"git": "1:2.39"},
        "dists": {"torch": "2.13.0"},
        "binaries": {
            "git": {"path": "/usr/bin/git", "version_output": "git version 2.39.5"},
            "rg": {"path": None},
            "tool": {"path": "/t", "version_output": "no digits"},
        },
    }
    f = facts.from_inspect("x:1", attrs, (), probed, {"git": (["--version"], None), "tool": (["-V"], None)})
    assert f.digest == "sha256:22" and f.env == {"A": "1", "B": "x=y"}
    assert f.config == {
        "entrypoint": "",
        "cmd": '["bash"]',
        "healthcheck": '{"Test": ["CMD", "true"]}',
        "user": "",
        "workdir": "/w",
    }
    assert f.binaries == {"git": "2.39.5", "tool": ""}
    assert f.binary_args == {"git": ["--version"], "tool": ["-V"]}
    assert facts.ImageFacts.from_json(json.loads(json.dumps(f.to_json()))) == f


# ---- diff ----


def test_each_section_and_change_kind() -> None:
    d = compare.diff(load("old"), load("new"))
    got = {(c.section, c.name): c.change for c in d.changes}
    assert got == {
        ("apt", "htop"): "downgraded",  # 3.2.2-2 -> 3.2.2-2~bpo12+1 (~ sorts first)
        ("apt", "libssl3"): "upgraded",
        ("apt", "media-types"): "removed",
        ("apt", "ripgrep"): "added",
        ("python", "accelerate"): "removed",
        ("python", "numpy"): "upgraded",
        ("python", "peft"): "added",
        ("python", "transformers"): "downgraded",
        ("python", "weird-dist"): "changed",  # not PEP 440: never guessed
        ("binaries", "fd"): "added",
        ("binaries", "htop"): "changed",  # the new one prints no version
        ("binaries", "python3"): "removed",
        ("binaries", "rg"): "upgraded",
        ("labels", "org.opencontainers.image.description"): "added",
        ("labels", "org.opencontainers.image.revision"): "changed",
        ("labels", "org.opencontainers.image.version"): "changed",
        ("env", "HF_HOME"): "added",
        ("env", "PIP_NO_CACHE_DIR"): "removed",
        ("config", "cmd"): "changed",
    }
    assert d.differs and d.size_delta == 68_500_000


def test_layers_pair_by_instruction_and_skip_empty_ones() -> None:
    d = compare.diff(load("old"), load("new"))
    rows = [(r.instruction.split("--set ")[-1], r.change, r.delta) for r in d.changed_layers]
    assert rows == [
        ("base-tools --list /tmp/devbox-build/list.txt", "changed", 500_000),
        ("python-core", "changed", 80_000_000),
        ("python-extras", "removed", -1_650_000_000),
        ("python-extras --timeout 900", "added", 1_638_000_000),
    ]
    assert all(r.old or r.new for r in d.layers)  # LABEL/ENV layers (0 B) are left to the config sections


def test_an_image_against_itself_does_not_differ() -> None:
    old = load("old")
    d = compare.diff(old, old)
    assert not d.differs and d.changes == () and d.counts() == dict.fromkeys(compare.CHANGES, 0)


def test_empty_label_value_is_still_a_label() -> None:
    d = compare.diff(image(labels={"a": ""}), image(labels={}))
    assert [(c.name, c.change) for c in d.changes] == [("a", "removed")]


# ---- release gate ----


def test_gate_blocks_removed_and_downgraded_packages_and_dists_only() -> None:
    verdict = gate.judge(compare.diff(load("old"), load("new")), ())
    assert not verdict.ok
    assert [gate.describe(c) for c in verdict.blocking] == [
        "apt htop 3.2.2-2 -> 3.2.2-2~bpo12+1 (downgraded)",
        "apt media-types 10.0.0 -> - (removed)",
        "python accelerate 1.10.0 -> - (removed)",
        "python transformers 4.57.1 -> 4.46.3 (downgraded)",
        "python weird-dist not.a.version -> also.not.pep440 (changed: cannot be ordered: 'not.a.version' "
        "and 'also.not.pep440' are not PEP 440 versions)",
    ]


def test_gate_passes_when_the_allow_list_names_every_regression(tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(
        "allow:\n"
        "  - apt: htop\n    reason: the backport fixes a crash\n"
        "  - apt: media-types\n    reason: nothing reads /etc/mime.types\n"
        "  - python: Accelerate\n    reason: folded into torch\n"
        "  - python: transformers\n    reason: 4.57 breaks our eval harness\n"
        "  - python: weird-dist\n    reason: its versions are build names\n"
        "  - python: gone-long-ago\n    reason: stale entry\n"
    )
    verdict = gate.judge(compare.diff(load("old"), load("new")), gate.load_allow(allow))
    assert verdict.ok
    last = [(c.name, a.reason) for c, a in verdict.allowed][-2]
    assert last == ("transformers", "4.57 breaks our eval harness")
    assert [a.name for a in verdict.unused] == ["gone-long-ago"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("allow:\n  - python: torch\n", "`reason:` is required"),
        ("allow:\n  - python: torch\n    reason: ''\n", "`reason:` is required"),
        ("allow:\n  - pip: torch\n    reason: x\n", "unknown keys: pip"),
        ("allow:\n  - python: torch\n    apt: git\n    reason: x\n", "exactly one of"),
        ("allowed: []\n", "expected one key"),
        ("allow: [\n", "malformed YAML"),
        ("allow:\n  - torch\n", "entry 1: expected a mapping"),
    ],
)
def test_a_bad_allow_list_is_one_line(tmp_path: Path, text: str, words: str) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(text)
    with pytest.raises(UsageError, match=words) as info:
        gate.load_allow(allow)
    assert "\n" not in str(info.value) and str(allow) in str(info.value)
