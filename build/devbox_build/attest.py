"""Attested releases: each arch's conformance results travel with the image, tied to its digest.

A release writes one in-toto Statement v1 per arch image and one for the manifest list, and stores each in
the registry next to the image under cosign's tag convention, `sha256-<hex>.att` on the same repository:
an OCI image manifest whose config is the empty descriptor and whose one layer is the statement JSON
(`application/vnd.in-toto+json`). The statement is NOT signed (no DSSE envelope): its integrity is the
subject digest it names, and what reads it checks that digest against what the reference resolves to.
Signing (cosign, a DSSE envelope) is a next step.

The predicate (type PREDICATE_TYPE) holds, per platform: the digest and image id attested, the suite's
scope (full or narrowed, and how), the contract's hash (sha256 over the merged expectations files' bytes),
the suite's results document and the performance run's, as the release wrote them.

Example:
    stmt = statement("127.0.0.1:5000/gpu-devbox", "sha256:…", [platform_entry(…)])
    push_statement(HttpRegistry("127.0.0.1:5000"), "gpu-devbox", "sha256:…", stmt)
    problems = statement_problems(read_statement(reg, "gpu-devbox", "sha256:…"), "sha256:…", expected)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devbox_build import version
from devbox_build.errors import RegistryError
from devbox_build.registry import IMAGE_TYPES, OCI_MANIFEST, Manifest, Registry

if TYPE_CHECKING:
    from devbox_build.publish import Pushed

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://github.com/sytelus/gpu-devbox/conformance/v1"
INTOTO_MEDIA = "application/vnd.in-toto+json"
EMPTY_MEDIA = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
SUITE_NAME = "gpu-devbox"
# the results' outcomes that make a platform red
RED_OUTCOMES = ("failed", "error")


def att_tag(digest: str) -> str:
    """cosign's attestation tag for DIGEST: sha256:abc… -> sha256-abc….att (pure)."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}-{hexpart}.att"


def contract_hash(files: Sequence[Path]) -> str:
    """sha256 over the merged expectations files' bytes, in merge order, each prefixed by its length (so
    moving bytes from one file to the next changes the hash). Paths are not hashed: the same contract
    checked out elsewhere has the same hash."""
    h = hashlib.sha256()
    for path in files:
        body = Path(path).read_bytes()
        h.update(len(body).to_bytes(8, "big"))
        h.update(body)
    return "sha256:" + h.hexdigest()


def contract_of(results: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The contract the results were judged against: its hash and files (names only), from the results'
    expectations directory, arch and base kind; None when the results do not say (no suite ran)."""
    if not results or not results.get("expectations_dir") or not results.get("arch"):
        return None
    from devbox_conformance import expectations as exp  # noqa: PLC0415 - suite deps on demand

    directory = Path(str(results["expectations_dir"]))
    try:
        files = exp.overlay_files(directory, str(results["arch"]), str(results.get("base_kind") or ""))
    except exp.ExpectationsError as err:
        return {"sha256": None, "files": [], "error": str(err)}
    return {"sha256": contract_hash(files), "files": [f"{p.parent.name}/{p.name}" for p in files]}


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def results_files(results_dir: Path, arch: str) -> tuple[Path, Path]:
    """(conformance, performance) results of ARCH in a release's results directory."""
    return results_dir / f"{arch}.json", results_dir / f"{arch}-performance.json"


def record_results(results_dir: Path, arch: str, facts: Mapping[str, object]) -> None:
    """Add FACTS under "release" in each results file the suite wrote for ARCH (atomically): what gated
    the release, the image id checked and, once pushed, its digests travel with the verdicts."""
    for results in results_files(results_dir, arch):
        doc = read_json(results)
        if doc is None:
            continue  # none written (the test hook), or not the suite's: nothing to add to
        doc.setdefault("release", {}).update(facts)
        tmp = results.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(results)


def platform_entry(
    platform: str,
    digest: str,
    image_id: str,
    scope: Mapping[str, str],
    results: Mapping[str, Any] | None,
    performance: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One platform of the predicate (pure but for reading the contract's files)."""
    from devbox_build.publish import RELEASE_LABEL  # noqa: PLC0415 - publish imports this module

    return {
        "platform": platform,
        "digest": digest,
        "image_id": image_id,
        "suite_scope": scope.get(RELEASE_LABEL, "unknown"),
        "suite_args": scope.get(f"{RELEASE_LABEL}-args", ""),
        "narrowing": scope.get(f"{RELEASE_LABEL}-narrowing", ""),
        "performance_scope": scope.get(f"{RELEASE_LABEL}-performance", "skipped"),
        "contract": contract_of(results),
        "results": dict(results) if results is not None else None,
        "performance": dict(performance) if performance is not None else None,
    }


def statement(name: str, digest: str, platforms: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An in-toto Statement v1 whose subject is NAME@DIGEST (pure)."""
    algo, _, hexpart = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {algo: hexpart}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "suite": {"name": SUITE_NAME, "version": version.version()},
            "platforms": [dict(p) for p in platforms],
        },
    }


def encode(stmt: Mapping[str, Any]) -> bytes:
    """The statement's bytes: sorted keys, so the same statement is the same blob (pure)."""
    return json.dumps(stmt, indent=1, sort_keys=True, default=str).encode() + b"\n"


def artifact(stmt_body: bytes) -> Manifest:
    """The OCI manifest stored under the .att tag: empty config, the statement as its one layer (pure)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY_MEDIA, "digest": _sha(EMPTY_BLOB), "size": len(EMPTY_BLOB)},
        "layers": [
            {
                "mediaType": INTOTO_MEDIA,
                "digest": _sha(stmt_body),
                "size": len(stmt_body),
                "annotations": {"in-toto.io/predicate-type": PREDICATE_TYPE},
            }
        ],
    }
    return Manifest(json.dumps(doc, indent=3).encode() + b"\n", OCI_MANIFEST)


def push_statement(reg: Registry, repo: str, digest: str, stmt: Mapping[str, Any]) -> Manifest:
    """Store STMT as DIGEST's attestation (blobs, then the manifest under the .att tag) and read it back."""
    body = encode(stmt)
    reg.put_blob(repo, EMPTY_BLOB)
    reg.put_blob(repo, body)
    man = artifact(body)
    reg.put_manifest(repo, att_tag(digest), man)
    back = reg.get_manifest(repo, att_tag(digest))
    if back is None or back.digest != man.digest:
        raise RegistryError(f"{repo}:{att_tag(digest)} was written but the registry serves something else")
    return man


def read_statement(reg: Registry, repo: str, digest: str) -> tuple[dict[str, Any] | None, str | None]:
    """(statement, None), or (None, why there is none) for DIGEST's .att tag."""
    man = reg.get_manifest(repo, att_tag(digest))
    if man is None:
        return None, f"{digest} has no attestation (no tag {att_tag(digest)})"
    layers = [la for la in man.doc.get("layers") or [] if la.get("mediaType") == INTOTO_MEDIA]
    if man.media_type not in IMAGE_TYPES or len(layers) != 1:
        return None, f"{att_tag(digest)} is not an attestation (wants one {INTOTO_MEDIA} layer)"
    try:
        return dict(json.loads(reg.get_blob(repo, str(layers[0].get("digest"))))), None
    except ValueError:
        return None, f"{att_tag(digest)}: its statement is not JSON"


@dataclass(frozen=True)
class ReleaseAttester:
    """The statements of one release, from its results directory: one per arch image and one for the list.

    Called by Publisher after verify and before any public tag moves; the digests are recorded in the
    results files first, so the attested results are the results files as the release leaves them.
    """

    results_dir: Path
    # arch -> the suite-scope labels stamped on that arch's image
    scopes: Mapping[str, Mapping[str, str]]

    def statements(
        self, image: str, pushed: Sequence[Pushed], listed: Manifest
    ) -> list[tuple[str, dict[str, Any]]]:
        entries = []
        for p in pushed:
            record_results(
                self.results_dir, p.arch, {"digest": p.manifest.digest, "list_digest": listed.digest}
            )
            results, performance = (read_json(f) for f in results_files(self.results_dir, p.arch))
            plat = platform_name(p.platform)
            entries.append(
                platform_entry(plat, p.manifest.digest, p.image_id, self.scopes[p.arch], results, performance)
            )
        out = [
            (p.manifest.digest, statement(image, p.manifest.digest, [e]))
            for p, e in zip(pushed, entries, strict=True)
        ]
        out.append((listed.digest, statement(image, listed.digest, entries)))
        return out


def platform_name(plat: Mapping[str, Any]) -> str:
    return f"{plat.get('os', 'unknown')}/{plat.get('architecture', 'unknown')}"


def _sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


# ---- judging a statement ----


@dataclass(frozen=True)
class Expected:
    """One platform as the registry holds it: its image manifest digest and its config digest (image id)."""

    digest: str
    config_digest: str


def _results_problems(plat: str, phase: str, doc: Mapping[str, Any]) -> list[str]:
    """Why a results document is not green: a non-zero exit, an error, no item, an item failed or in error
    (counted from the items themselves: totals that say 0 failed do not hide a failed item)."""
    problems: list[str] = []
    if doc.get("exit_status") != 0:
        problems.append(f"{plat}: the {phase} run exited {doc.get('exit_status')}")
    if doc.get("error"):
        problems.append(f"{plat}: the {phase} run stopped: {doc['error']}")
    items = doc.get("items") or []
    if not items:
        problems.append(f"{plat}: the {phase} results check no item")
    red = [i for i in items if i.get("outcome") not in ("passed", "skipped")]
    if red:
        first = red[0]
        problems.append(
            f"{plat}: {len(red)} {phase} item(s) {first.get('outcome')}, first {first.get('nodeid')}"
        )
    totals = doc.get("totals") or {}
    if not red and any(totals.get(k) for k in RED_OUTCOMES):
        problems.append(f"{plat}: the {phase} totals count {totals} failed or in error")
    return problems


def entry_problems(entry: Mapping[str, Any], want: Expected) -> list[str]:
    """Everything that keeps one platform of a statement from being a green, complete record of WANT."""
    plat = str(entry.get("platform"))
    problems: list[str] = []
    if entry.get("digest") != want.digest:
        problems.append(f"{plat}: attested {entry.get('digest')}, the image is {want.digest}")
    results = entry.get("results")
    if not isinstance(results, Mapping):
        return [*problems, f"{plat}: the attestation has no results (no suite wrote any)"]
    problems += _results_problems(plat, "conformance", results)
    checked = (results.get("image") or {}).get("id")
    if checked not in (want.config_digest, want.digest):
        problems.append(f"{plat}: the results are of image {checked}, not this one ({want.config_digest})")
    contract = entry.get("contract") or {}
    if not contract.get("sha256"):
        problems.append(f"{plat}: no contract hash ({contract.get('error', 'not recorded')})")
    perf = entry.get("performance")
    if entry.get("performance_scope") == "measured" and not isinstance(perf, Mapping):
        problems.append(f"{plat}: performance was measured but its results are not attested")
    elif isinstance(perf, Mapping):
        problems += _results_problems(plat, "performance", perf)
    return problems


def statement_problems(
    stmt: Mapping[str, Any] | None,
    subject: str,
    expected: Mapping[str, Expected],
    why_none: str | None = None,
) -> list[str]:
    """Everything wrong with STMT as the attestation of SUBJECT (the digest a reference resolves to), whose
    platforms must be exactly EXPECTED and each green. Empty when it is a green attestation of SUBJECT."""
    if stmt is None:
        return [why_none or f"{subject} has no attestation"]
    if stmt.get("_type") != STATEMENT_TYPE or stmt.get("predicateType") != PREDICATE_TYPE:
        return [f"{att_tag(subject)}: not a {PREDICATE_TYPE} in-toto statement"]
    algo, _, hexpart = subject.partition(":")
    named = [s.get("digest", {}).get(algo) for s in stmt.get("subject") or [] if isinstance(s, Mapping)]
    if named != [hexpart]:
        shown = ", ".join(f"{algo}:{n}" for n in named) or "nothing"
        return [f"{att_tag(subject)}: its subject is {shown}, the reference resolves to {subject}"]
    entries = (stmt.get("predicate") or {}).get("platforms") or []
    problems: list[str] = []
    seen: list[str] = []
    for entry in entries:
        plat = str(entry.get("platform"))
        if plat in seen or plat not in expected:
            problems.append(f"{plat}: attested {'twice' if plat in seen else 'but not in the image'}")
            continue
        seen.append(plat)
        problems += entry_problems(entry, expected[plat])
    problems += [f"{p}: not attested" for p in expected if p not in seen]
    return problems


def summary(stmt: Mapping[str, Any]) -> list[str]:
    """What `devbox verify` shows of a statement: per platform its counts, scope and contract (pure)."""
    pred = stmt.get("predicate") or {}
    suite = pred.get("suite") or {}
    lines = [f"attestation: {suite.get('name', '?')} suite {suite.get('version', '?')}"]
    for entry in pred.get("platforms") or []:
        results = entry.get("results")
        if isinstance(results, Mapping):
            counts = {k: 0 for k in ("passed", "failed", "skipped", "error")}
            for item in results.get("items") or []:
                counts[item.get("outcome", "error")] = counts.get(item.get("outcome", "error"), 0) + 1
            text = ", ".join(f"{v} {k}" for k, v in counts.items())
            waivers = results.get("waivers")
            if waivers:
                text += f", {len(waivers)} waived"
        else:
            text = "no results"
        scope = entry.get("suite_scope", "unknown")
        if entry.get("narrowing"):
            scope += f" ({entry['narrowing']})"
        contract = (entry.get("contract") or {}).get("sha256") or "none"
        perf = entry.get("performance_scope")
        lines.append(
            f"  {entry.get('platform')}: {text}; suite {scope}; performance {perf}; contract {contract}"
        )
    return lines


# ---- a reference, as `devbox verify` reads it ----


def _expected(reg: Registry, repo: str, top: Manifest) -> dict[str, Expected]:
    """platform -> (image digest, config digest) of every runnable image behind TOP."""
    if not top.is_list:
        config_digest = str((top.doc.get("config") or {}).get("digest", ""))
        config = json.loads(reg.get_blob(repo, config_digest))
        return {platform_name(config): Expected(top.digest, config_digest)}
    out: dict[str, Expected] = {}
    for entry in top.doc.get("manifests") or []:
        name = platform_name(entry.get("platform") or {})
        if name == "unknown/unknown":
            continue  # buildx's own provenance entries
        child = reg.get_manifest(repo, str(entry.get("digest")))
        config_digest = str(((child.doc if child else {}).get("config") or {}).get("digest", ""))
        out[name] = Expected(str(entry.get("digest")), config_digest)
    return out


def check_reference(reg: Registry, repo: str, ref: str) -> tuple[str | None, list[str], list[str]]:
    """(the digest REF resolves to, summary lines, problems) of REF's attestation and, for a list, of each
    platform image's own. No attestation for REF's digest is one problem, reported alone."""
    top = reg.get_manifest(repo, ref)
    if top is None:
        return None, [], [f"{repo}:{ref} is not in the registry"]
    stmt, why = read_statement(reg, repo, top.digest)
    if stmt is None:
        return top.digest, [], [why or f"{top.digest} has no attestation"]
    expected = _expected(reg, repo, top)
    problems = statement_problems(stmt, top.digest, expected)
    if top.is_list:
        for plat, want in expected.items():
            own, own_why = read_statement(reg, repo, want.digest)
            problems += statement_problems(own, want.digest, {plat: want}, own_why)
    return top.digest, summary(stmt), problems
