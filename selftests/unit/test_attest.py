"""The release attestation (build/devbox_build/attest.py), pure: the statement's shape, its subject, the
contract's hash, and every way a statement could wrongly pass --require-attestation."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from devbox_build import attest
from devbox_build.attest import Expected, entry_problems, statement, statement_problems
from devbox_build.commands.verify import split_ref
from devbox_build.publish import RELEASE_LABEL
from devbox_build.registry import OCI_MANIFEST

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a" * 64
CONFIG = "sha256:" + "c" * 64
OTHER = "sha256:" + "b" * 64
SCOPE = {
    RELEASE_LABEL: "full",
    f"{RELEASE_LABEL}-args": "-n 2",
    f"{RELEASE_LABEL}-narrowing": "",
    f"{RELEASE_LABEL}-performance": "skipped",
}


def results(image_id: str = CONFIG, *outcomes: str) -> dict[str, Any]:
    items = [
        {"nodeid": f"tests/test_x.py::test_{i}", "outcome": o, "kind": "binaries"}
        for i, o in enumerate(outcomes or ("passed", "passed", "skipped"))
    ]
    totals = {k: sum(1 for i in items if i["outcome"] == k) for k in ("passed", "failed", "skipped", "error")}
    return {
        "schema_version": 2,
        "arch": "amd64",
        "base_kind": "standin",
        "expectations_dir": str(REPO_ROOT / "expectations"),
        "image": {"ref": "x", "id": image_id, "digests": []},
        "exit_status": 0,
        "error": None,
        "totals": totals,
        "items": items,
    }


def green_statement(subject: str = DIGEST) -> dict[str, Any]:
    entry = attest.platform_entry("linux/amd64", DIGEST, CONFIG, SCOPE, results(), None)
    return statement("127.0.0.1:5000/gpu-devbox", subject, [entry])


WANT = {"linux/amd64": Expected(DIGEST, CONFIG)}


def test_statement_shape_and_subject() -> None:
    stmt = green_statement()
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["subject"] == [{"name": "127.0.0.1:5000/gpu-devbox", "digest": {"sha256": "a" * 64}}]
    assert stmt["predicateType"] == "https://github.com/sytelus/gpu-devbox/conformance/v1"
    pred = stmt["predicate"]
    assert pred["suite"]["name"] == "gpu-devbox" and pred["suite"]["version"]
    (entry,) = pred["platforms"]
    assert entry["results"] == results() and entry["digest"] == DIGEST and entry["image_id"] == CONFIG
    assert entry["suite_scope"] == "full" and entry["narrowing"] == ""
    assert entry["contract"]["sha256"].startswith("sha256:")
    assert entry["contract"]["files"] == [
        "expectations/common.yaml",
        "expectations/amd64.yaml",
        "bases/standin.yaml",
    ]
    assert statement_problems(stmt, DIGEST, WANT) == []
    # the bytes are stable: the same statement is the same blob, so the same .att manifest
    assert attest.encode(stmt) == attest.encode(json.loads(attest.encode(stmt)))


def test_artifact_is_an_oci_manifest_with_the_statement_as_its_one_layer() -> None:
    body = attest.encode(green_statement())
    man = attest.artifact(body)
    assert man.media_type == OCI_MANIFEST and man.doc["mediaType"] == OCI_MANIFEST
    assert man.doc["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
        "size": 2,
    }
    (layer,) = man.doc["layers"]
    assert layer["mediaType"] == "application/vnd.in-toto+json"
    assert layer["digest"] == "sha256:" + hashlib.sha256(body).hexdigest() and layer["size"] == len(body)
    assert attest.att_tag(DIGEST) == f"sha256-{'a' * 64}.att"


def test_contract_hash_is_stable_and_changes_with_any_byte(tmp_path: Path) -> None:
    a, b = tmp_path / "common.yaml", tmp_path / "amd64.yaml"
    a.write_text("binaries: [{name: git}]\n")
    b.write_text("binaries: [{name: rg}]\n")
    first = attest.contract_hash([a, b])
    assert first == attest.contract_hash([a, b])  # stable
    copied = tmp_path / "elsewhere"
    copied.mkdir()
    (copied / "common.yaml").write_bytes(a.read_bytes())
    (copied / "amd64.yaml").write_bytes(b.read_bytes())
    assert attest.contract_hash([copied / "common.yaml", copied / "amd64.yaml"]) == first  # paths not hashed
    assert attest.contract_hash([b, a]) != first  # merge order matters
    # moving bytes across the boundary between two files changes the hash (length-prefixed)
    a.write_text("binaries: [{name: git}]\nbinaries: [{name: rg}")
    b.write_text("]\n")
    assert attest.contract_hash([a, b]) != first
    # the shipped contract: the same twice, and it is what the entry records
    shipped = attest.contract_of(results())
    assert shipped is not None and shipped == attest.contract_of(results())
    assert attest.contract_of(None) is None


def test_summary_says_counts_scope_and_contract() -> None:
    stmt = green_statement()
    narrowed = attest.platform_entry(
        "linux/arm64",
        OTHER,
        CONFIG,
        {**SCOPE, RELEASE_LABEL: "narrowed", f"{RELEASE_LABEL}-narrowing": "-k rg"},
        None,
        None,
    )
    stmt["predicate"]["platforms"].append(narrowed)
    lines = attest.summary(stmt)
    assert lines[0].startswith("attestation: gpu-devbox suite ")
    contract = stmt["predicate"]["platforms"][0]["contract"]["sha256"]
    assert lines[1] == (
        f"  linux/amd64: 2 passed, 0 failed, 1 skipped, 0 error; suite full; performance skipped; "
        f"contract {contract}"
    )
    assert lines[2] == "  linux/arm64: no results; suite narrowed (-k rg); performance skipped; contract none"


def _entry(stmt: dict[str, Any]) -> dict[str, Any]:
    return dict(stmt["predicate"]["platforms"][0])


# Each input would pass a check that trusted the statement's say-so; each must fail, with this verdict.
FALSE_GREENS = {
    "failed item": (
        lambda e: e.update(results=results(CONFIG, "passed", "failed")),
        "linux/amd64: 1 conformance item(s) failed, first tests/test_x.py::test_1",
    ),
    "failed item, totals say 0": (
        lambda e: (
            e.update(results=results(CONFIG, "passed", "error")),
            e["results"]["totals"].update(error=0),
        ),
        "linux/amd64: 1 conformance item(s) error, first tests/test_x.py::test_1",
    ),
    "totals red, items green": (
        lambda e: e["results"]["totals"].update(failed=2),
        "linux/amd64: the conformance totals count",
    ),
    "exit status red": (
        lambda e: e["results"].update(exit_status=1),
        "linux/amd64: the conformance run exited 1",
    ),
    "stopped run": (
        lambda e: e["results"].update(error="no engine"),
        "linux/amd64: the conformance run stopped: no engine",
    ),
    "no item": (
        lambda e: e["results"].update(items=[]),
        "linux/amd64: the conformance results check no item",
    ),
    "no results": (
        lambda e: e.update(results=None),
        "linux/amd64: the attestation has no results (no suite wrote any)",
    ),
    "results of another image": (
        lambda e: e["results"].update(image={"id": OTHER}),
        f"linux/amd64: the results are of image {OTHER}, not this one ({CONFIG})",
    ),
    "no contract hash": (lambda e: e.update(contract=None), "linux/amd64: no contract hash (not recorded)"),
    "performance measured, not attested": (
        lambda e: e.update(performance_scope="measured"),
        "linux/amd64: performance was measured but its results are not attested",
    ),
    "performance red": (
        lambda e: e.update(performance=results(CONFIG, "failed")),
        "linux/amd64: 1 performance item(s) failed",
    ),
    "entry of another digest": (
        lambda e: e.update(digest=OTHER),
        f"linux/amd64: attested {OTHER}, the image is {DIGEST}",
    ),
}


@pytest.mark.parametrize("case", FALSE_GREENS)
def test_entry_false_greens_fail(case: str) -> None:
    mutate, verdict = FALSE_GREENS[case]
    entry = _entry(green_statement())
    assert entry_problems(entry, WANT["linux/amd64"]) == []
    mutate(entry)
    problems = entry_problems(entry, WANT["linux/amd64"])
    assert len(problems) == 1 and problems[0].startswith(verdict), problems


def test_statement_false_greens_fail() -> None:
    stmt = green_statement()
    tag = attest.att_tag(DIGEST)
    # a statement about another image, stored under this digest's tag
    assert statement_problems(green_statement(OTHER), DIGEST, WANT) == [
        f"{tag}: its subject is {OTHER}, the reference resolves to {DIGEST}"
    ]
    # two subjects, one of them this digest: not a statement about this image alone
    two = copy.deepcopy(stmt)
    two["subject"].append({"name": "x", "digest": {"sha256": "b" * 64}})
    assert statement_problems(two, DIGEST, WANT)[0].startswith(f"{tag}: its subject is {DIGEST}, {OTHER}")
    # another predicate type, or not an in-toto statement
    other = {**stmt, "predicateType": "https://slsa.dev/provenance/v1"}
    assert statement_problems(other, DIGEST, WANT) == [
        f"{tag}: not a https://github.com/sytelus/gpu-devbox/conformance/v1 in-toto statement"
    ]
    # a platform the image has, not attested; one attested the image does not have; one twice
    both = {**WANT, "linux/arm64": Expected(OTHER, CONFIG)}
    assert statement_problems(stmt, DIGEST, both) == ["linux/arm64: not attested"]
    assert statement_problems(stmt, DIGEST, {}) == ["linux/amd64: attested but not in the image"]
    twice = copy.deepcopy(stmt)
    twice["predicate"]["platforms"] *= 2
    assert statement_problems(twice, DIGEST, WANT) == ["linux/amd64: attested twice"]
    assert statement_problems(None, DIGEST, WANT, "why") == ["why"]


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("127.0.0.1:5000/gpu-devbox:1.0", ("127.0.0.1:5000", "gpu-devbox", "1.0")),
        ("127.0.0.1:5000/team/gpu-devbox", ("127.0.0.1:5000", "team/gpu-devbox", "latest")),
        (f"localhost:5000/x@{DIGEST}", ("localhost:5000", "x", DIGEST)),
        ("ghcr.io/o/x:2", ("ghcr.io", "o/x", "2")),
    ],
)
def test_split_ref(ref: str, parts: tuple[str, str, str]) -> None:
    assert split_ref(ref) == parts
