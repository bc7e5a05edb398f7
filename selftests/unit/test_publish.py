"""Publishing by digest (build/devbox_build/publish.py) against a REAL loopback registry, without Docker.

The "local images" are made here: a config and one layer, uploaded as blobs by a Pusher, so every step,
its order, and every failure path runs against Debian's docker-registry as a release meets it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devbox_build.attest import ReleaseAttester, att_tag, check_reference, read_statement, record_results
from devbox_build.commands import release, verify
from devbox_build.errors import RegistryError, UsageError
from devbox_build.publish import (
    RELEASE_LABEL,
    Manifest,
    Publisher,
    Pushed,
    Request,
    VerifyFailedError,
    list_problems,
    manifest_list,
    public_tags,
)
from devbox_build.registry import MANIFEST_LIST, MANIFEST_V2, OCI_INDEX, OCI_MANIFEST, HttpRegistry
from devbox_build.remote import RemoteImage
from loopback_registry import Loopback, free_port

REPO = "gpu-devbox"
LABEL = "org.opencontainers.image.version"


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[Loopback]:
    reg = Loopback(tmp_path / "registry", free_port())
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def sha(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass
class FakeImages:
    """A local image store: image id (the config's digest, as Docker's) -> (config, layer); pushes them."""

    registry: HttpRegistry
    images: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    pushes: list[str] = field(default_factory=list)
    # called before each push with its ref: tests stop the registry or swap the image there
    before_push: Any = None

    def make(self, arch: str, labels: dict[str, str], salt: str = "") -> str:
        layer = f"layer {arch} {salt}".encode()
        config = {
            "architecture": arch,
            "os": "linux",
            **({"variant": "v8"} if arch == "arm64" else {}),
            "config": {"Labels": labels},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer)]},
        }
        body = json.dumps(config).encode()
        self.images[sha(body)] = (body, layer)
        return sha(body)

    def push(self, image_id: str, ref: str) -> None:
        if self.before_push:
            image_id = self.before_push(image_id, ref) or image_id
        self.pushes.append(ref)
        config, layer = self.images[image_id]
        repo_tag = ref.split("/", 1)[1]
        repo, tag = repo_tag.rsplit(":", 1)
        self.registry.put_blob(repo, config)
        self.registry.put_blob(repo, layer)
        doc = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": len(layer)}],
        }
        doc["config"]["digest"] = sha(config)  # type: ignore[index]
        doc["layers"][0]["digest"] = sha(layer)  # type: ignore[index]
        self.registry.put_manifest(repo, tag, Manifest(json.dumps(doc).encode(), MANIFEST_V2))


class Recording:
    """An HttpRegistry that records each call (method, ref) and can fail a chosen one with RegistryError."""

    def __init__(self, inner: HttpRegistry, fail_put: str | None = None) -> None:
        self.inner = inner
        self.fail_put = fail_put
        self.calls: list[tuple[str, str]] = []

    def get_manifest(self, repo: str, ref: str) -> Manifest | None:
        self.calls.append(("GET", ref))
        return self.inner.get_manifest(repo, ref)

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        self.calls.append(("PUT", tag))
        if tag == self.fail_put:
            raise RegistryError(f"registry {self.inner.host}: PUT {tag}: HTTP 503 injected")
        return self.inner.put_manifest(repo, tag, manifest)

    def get_blob(self, repo: str, digest: str) -> bytes:
        return self.inner.get_blob(repo, digest)

    def put_blob(self, repo: str, body: bytes) -> str:
        return self.inner.put_blob(repo, body)


def setup(loopback: Loopback, fail_put: str | None = None) -> tuple[FakeImages, Recording, Publisher]:
    http = HttpRegistry(loopback.address)
    images = FakeImages(http)
    reg = Recording(http, fail_put)
    return images, reg, Publisher(images, reg, echo=lambda line: None)


def request(loopback: Loopback, ids: dict[str, str], **kw: Any) -> Request:
    return Request(f"{loopback.address}/{REPO}", "1.0", ids, labels=[f"{LABEL}=1.0"], **kw)


def digest_of(loopback: Loopback, tag: str) -> str | None:
    man = HttpRegistry(loopback.address).get_manifest(REPO, tag)
    return man.digest if man else None


def two_arches(images: FakeImages, salt: str = "", **labels: str) -> dict[str, str]:
    return {a: images.make(a, {LABEL: "1.0", **labels}, salt) for a in ("amd64", "arm64")}


# ---- the list, built from digests (pure) ----


def _pushed(arch: str, media: str = MANIFEST_V2) -> Pushed:
    man = Manifest(json.dumps({"arch": arch}).encode(), media)
    plat = {"architecture": arch, "os": "linux", **({"variant": "v8"} if arch == "arm64" else {})}
    return Pushed(arch, f"sha256:{arch}", f"r:{arch}", man, plat)


def test_manifest_list_is_exactly_the_pushed_digests_in_order() -> None:
    amd, arm = _pushed("amd64"), _pushed("arm64")
    listed = manifest_list([arm, amd])
    assert listed.media_type == MANIFEST_LIST and listed.doc["mediaType"] == MANIFEST_LIST
    assert listed.doc["schemaVersion"] == 2
    assert listed.doc["manifests"] == [
        {
            "mediaType": MANIFEST_V2,
            "size": len(p.manifest.body),
            "digest": p.manifest.digest,
            "platform": p.platform,
        }
        for p in (arm, amd)
    ]
    assert listed.digest == sha(listed.body)
    assert manifest_list([amd, _pushed("arm64", OCI_MANIFEST)]).media_type == OCI_INDEX


def test_public_tags_move_in_order_tag_then_latest() -> None:
    req = Request("r/x", "1.0", {"amd64": "a", "arm64": "b"}, latest=True)
    assert public_tags(req) == ["1.0-amd64", "1.0-arm64", "1.0", "latest"]
    assert public_tags(Request("r/x", "latest", {"amd64": "a"}, latest=True, arch_tags=False)) == ["latest"]


# ---- the steps, in order, against a real registry ----


def test_green_publish_steps_in_order(loopback: Loopback) -> None:
    images, reg, pub = setup(loopback)
    ids = two_arches(images)
    listed = pub.publish(request(loopback, ids, latest=True))
    assert images.pushes == [
        f"{loopback.address}/{REPO}:1.0-amd64.staging",
        f"{loopback.address}/{REPO}:1.0-arm64.staging",
    ]
    puts = [ref for method, ref in reg.calls if method == "PUT"]
    assert puts == ["1.0.staging", "1.0-amd64", "1.0-arm64", "1.0", "latest"]
    # verify read the staged list back before the first public tag moved
    first_public = reg.calls.index(("PUT", "1.0-amd64"))
    assert ("GET", "1.0.staging") in reg.calls[reg.calls.index(("PUT", "1.0.staging")) : first_public]
    assert digest_of(loopback, "1.0") == digest_of(loopback, "latest") == listed.digest
    by_plat = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in listed.doc["manifests"]
    }
    assert by_plat == {
        "linux/amd64": digest_of(loopback, "1.0-amd64.staging"),
        "linux/arm64": digest_of(loopback, "1.0-arm64.staging"),
    }


def test_list_push_fails_then_a_rerun_publishes_its_own_digests(
    loopback: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _, pub = setup(loopback)
    pub.publish(request(loopback, two_arches(images, "old")))
    old = digest_of(loopback, "1.0")
    images, _, pub = setup(loopback, fail_put="1.0.staging")
    new_ids = two_arches(images, "new")
    with pytest.raises(RegistryError) as info:
        pub.publish(request(loopback, new_ids, force=True))
    assert info.value.exit_code == 3
    assert digest_of(loopback, "1.0") == old  # unchanged
    report = capsys.readouterr().err
    assert "FAILED at step 'write the manifest list'" in report
    assert "public tags unchanged: 1.0-amd64 (sha256:" in report and f"1.0 ({old})" in report
    assert (
        f"pushed {loopback.address}/{REPO}:1.0-amd64.staging = {digest_of(loopback, '1.0-amd64.staging')}"
        in report
    )
    assert "resume: fix the cause and run the same command again" in report
    # the clean re-run: TAG resolves to the second run's images, never the first's
    images2, _, pub2 = setup(loopback)
    images2.images = images.images
    listed = pub2.publish(request(loopback, new_ids, force=True))
    assert digest_of(loopback, "1.0") == listed.digest != old
    configs = {
        json.loads(HttpRegistry(loopback.address).get_manifest(REPO, m["digest"]).body)["config"]["digest"]  # type: ignore[union-attr]
        for m in listed.doc["manifests"]
    }
    assert configs == set(new_ids.values())


def test_registry_down_on_the_second_arch_moves_nothing_and_says_what_was_pushed(
    loopback: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _, pub = setup(loopback)
    pub.publish(request(loopback, two_arches(images, "old")))
    before = {t: digest_of(loopback, t) for t in ("1.0", "1.0-amd64", "1.0-arm64")}
    images, _, pub = setup(loopback)
    images.before_push = lambda image_id, ref: loopback.stop() if ref.endswith("arm64.staging") else None
    with pytest.raises(RegistryError) as info:
        pub.publish(request(loopback, two_arches(images, "new"), force=True))
    assert info.value.exit_code == 3 and "not reachable" in str(info.value)
    report = capsys.readouterr().err
    assert "FAILED at step 'push linux/arm64'" in report
    assert report.count("\n  pushed ") == 1 and "1.0-amd64.staging = sha256:" in report
    loopback.start()
    assert {t: digest_of(loopback, t) for t in before} == before


def test_red_verify_moves_neither_tag_nor_latest(
    loopback: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _, pub = setup(loopback)
    pub.publish(request(loopback, two_arches(images, "old", team="ml"), latest=True))
    before = {t: digest_of(loopback, t) for t in ("1.0", "latest")}
    images, reg, pub = setup(loopback)
    # the label the release requires was removed from the arm64 image between build and verify
    ids = {
        "amd64": images.make("amd64", {LABEL: "1.0", "team": "ml"}, "new"),
        "arm64": images.make("arm64", {LABEL: "1.0"}, "new"),
    }
    req = Request(
        f"{loopback.address}/{REPO}", "1.0", ids, labels=[f"{LABEL}=1.0", "team"], latest=True, force=True
    )
    with pytest.raises(VerifyFailedError) as info:
        pub.publish(req)
    assert info.value.exit_code == 1
    assert "problem: linux/arm64: label team missing" in capsys.readouterr().err
    assert {t: digest_of(loopback, t) for t in before} == before
    assert [r for m, r in reg.calls if m == "PUT"] == ["1.0.staging"]


def test_a_swapped_image_is_caught_before_any_tag_moves(loopback: Loopback) -> None:
    images, reg, pub = setup(loopback)
    ids = two_arches(images)
    other = images.make("arm64", {LABEL: "1.0"}, "not what was tested")
    images.before_push = lambda image_id, ref: other if "arm64" in ref else None
    with pytest.raises(VerifyFailedError, match=f"holds image {other}, not the tested {ids['arm64']}"):
        pub.publish(request(loopback, ids))
    assert digest_of(loopback, "1.0") is None and ("PUT", "1.0.staging") not in reg.calls


def test_existing_release_tag_refused_then_replaced_with_force(loopback: Loopback) -> None:
    images, _, pub = setup(loopback)
    first = pub.publish(request(loopback, two_arches(images, "one")))
    images.pushes.clear()
    with pytest.raises(UsageError, match=r":1.0 exists \(sha256:.*unless --force"):
        pub.publish(request(loopback, two_arches(images, "two")))
    assert images.pushes == [] and digest_of(loopback, "1.0") == first.digest
    second = pub.publish(request(loopback, two_arches(images, "two"), force=True))
    assert digest_of(loopback, "1.0") == second.digest != first.digest


def test_a_failed_move_puts_back_the_tags_already_moved(
    loopback: Loopback, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _, pub = setup(loopback)
    pub.publish(request(loopback, two_arches(images, "old")))
    before = {t: digest_of(loopback, t) for t in ("1.0", "1.0-amd64", "1.0-arm64")}
    images, _, pub = setup(loopback, fail_put="1.0")
    with pytest.raises(RegistryError):
        pub.publish(request(loopback, two_arches(images, "new"), force=True))
    assert {t: digest_of(loopback, t) for t in before} == before
    assert "MOVED" not in capsys.readouterr().err


def test_push_never_moves_a_tag_a_release_owns(loopback: Loopback) -> None:
    images, _, pub = setup(loopback)
    pub.publish(request(loopback, two_arches(images, "rel", **{RELEASE_LABEL: "full"})))
    with pytest.raises(UsageError, match="is a verified release"):
        pub.publish(request(loopback, two_arches(images, "dev"), guard="push"))
    plain = Request(f"{loopback.address}/{REPO}", "dev", two_arches(images, "dev"), guard="push")
    pub.publish(plain)
    pub.publish(Request(f"{loopback.address}/{REPO}", "dev", two_arches(images, "dev2"), guard="push"))


# ---- the list check: inputs that passed before, each now red with its exact verdict ----


def _tested(loopback: Loopback, images: FakeImages) -> tuple[dict[str, tuple[str, str]], dict[str, Manifest]]:
    ids = two_arches(images)
    out: dict[str, tuple[str, str]] = {}
    mans: dict[str, Manifest] = {}
    for arch, image_id in ids.items():
        images.push(image_id, f"{loopback.address}/{REPO}:{arch}")
        man = HttpRegistry(loopback.address).get_manifest(REPO, arch)
        assert man is not None
        out[f"linux/{arch}"], mans[arch] = (man.digest, image_id), man
    return out, mans


def _put_list(loopback: Loopback, entries: list[tuple[str, Manifest]]) -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": MANIFEST_V2,
                "size": len(m.body),
                "digest": m.digest,
                "platform": {"os": "linux", "architecture": a},
            }
            for a, m in entries
        ],
    }
    HttpRegistry(loopback.address).put_manifest(REPO, "l", Manifest(json.dumps(doc).encode(), MANIFEST_LIST))


def test_list_problems_false_greens(loopback: Loopback) -> None:
    images = FakeImages(HttpRegistry(loopback.address))
    tested, mans = _tested(loopback, images)
    reg = HttpRegistry(loopback.address)
    _put_list(loopback, [("amd64", mans["amd64"]), ("arm64", mans["arm64"])])
    assert list_problems(reg, REPO, "l", tested, [f"{LABEL}=1.0"]) == []
    # an arch PLATFORMS dropped, still in the list
    only_amd = {"linux/amd64": tested["linux/amd64"]}
    assert list_problems(reg, REPO, "l", only_amd, []) == ["platform linux/arm64 listed but not asked for"]
    # an arch missing
    _put_list(loopback, [("amd64", mans["amd64"])])
    assert list_problems(reg, REPO, "l", tested, []) == ["platform linux/arm64 missing"]
    # a previous run's image under the right platform (the --amend cache bug)
    old = images.make("arm64", {LABEL: "1.0"}, "previous run")
    images.push(old, f"{loopback.address}/{REPO}:old")
    old_man = reg.get_manifest(REPO, "old")
    assert old_man is not None
    _put_list(loopback, [("amd64", mans["amd64"]), ("arm64", old_man)])
    assert list_problems(reg, REPO, "l", tested, []) == [
        f"linux/arm64: lists {old_man.digest}, the tested image was pushed as {tested['linux/arm64'][0]}"
    ]
    # a platform twice
    _put_list(loopback, [("amd64", mans["amd64"]), ("arm64", mans["arm64"]), ("arm64", mans["arm64"])])
    assert list_problems(reg, REPO, "l", tested, []) == ["platform linux/arm64 listed twice"]
    # an image listed under another platform than its own
    _put_list(loopback, [("amd64", mans["arm64"]), ("arm64", mans["arm64"])])
    assert "linux/amd64: lists" in list_problems(reg, REPO, "l", tested, [])[0]
    # a single image where a list was written
    assert list_problems(reg, REPO, "amd64", tested, []) == [
        f"amd64: a {MANIFEST_V2} where a manifest list was written"
    ]
    assert list_problems(reg, REPO, "never", tested, []) == ["never: not in the registry"]


def test_standalone_verify_fails_an_extra_platform() -> None:
    remote = RemoteImage("r", ("linux/amd64", "linux/arm64"), {"linux/amd64": {}, "linux/arm64": {}}, True)
    assert verify.check(remote, ["linux/amd64"], []) == ["platform linux/arm64 listed but not asked for"]
    assert verify.check(remote, ["linux/amd64", "linux/arm64"], []) == []


# ---- the suite's scope, recorded on the images ----


@pytest.mark.parametrize(
    ("args", "scope", "narrowing"),
    [
        ("", "full", ""),
        ("-n 2", "full", ""),
        ("-nauto -q -p no:cacheprovider", "full", ""),
        ("-n 2 -k binary", "narrowed", "-k binary"),
        ("--expectations=/tmp/x", "narrowed", "--expectations=/tmp/x"),
        ("tests/test_binaries.py", "narrowed", "tests/test_binaries.py"),
        ("-m 'not slow'", "narrowed", "-m 'not slow'"),
        ("-p no:xdist", "narrowed", "-p no:xdist"),
    ],
)
def test_suite_scope(args: str, scope: str, narrowing: str) -> None:
    got = release.suite_scope(args, perf=True, hook=False)
    assert got[RELEASE_LABEL] == scope and got[f"{RELEASE_LABEL}-narrowing"] == narrowing
    assert got[f"{RELEASE_LABEL}-args"] == args
    assert release.suite_scope("", perf=False, hook=True)[RELEASE_LABEL] == "replaced (--suite-cmd)"


def test_results_must_name_the_built_image(tmp_path: Path) -> None:
    results = tmp_path / "amd64.json"
    assert release.checked_id(results, "sha256:a") is None  # the test hook writes none
    results.write_text(json.dumps({"image": {"ref": "x", "id": "sha256:b"}}))
    assert (
        release.checked_id(results, "sha256:a")
        == "the suite checked image sha256:b, not the one built (sha256:a)"
    )
    results.write_text(json.dumps({"image": {"ref": "x", "id": "sha256:a"}}))
    assert release.checked_id(results, "sha256:a") is None


def test_the_release_facts_travel_in_the_results(tmp_path: Path) -> None:
    (tmp_path / "amd64.json").write_text(json.dumps({"arch": "amd64", "items": []}))
    scope = release.suite_scope("-k binary", perf=False, hook=False)
    record_results(tmp_path, "amd64", {"image_id": "sha256:a", "suite": scope})
    record_results(tmp_path, "amd64", {"digest": "sha256:d"})
    record_results(tmp_path, "arm64", {"digest": "sha256:e"})  # the suite wrote none: nothing made
    doc = json.loads((tmp_path / "amd64.json").read_text())
    assert doc["items"] == [] and doc["release"]["suite"][RELEASE_LABEL] == "narrowed"
    assert doc["release"]["image_id"] == "sha256:a" and doc["release"]["digest"] == "sha256:d"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amd64.json"]


# ---- attestations (attest.py), attached before any public tag moves ----


def results_dir(tmp_path: Path, ids: dict[str, str], outcome: str = "passed") -> Path:
    """A release's results directory: one green (or OUTCOME) results document per arch, of that image."""
    out = tmp_path / "results"
    out.mkdir(parents=True, exist_ok=True)
    for arch, image_id in ids.items():
        items = [{"nodeid": "tests/test_binaries.py::test_binary[git]", "outcome": "passed"}]
        items.append({"nodeid": "tests/test_binaries.py::test_binary[rg]", "outcome": outcome})
        doc = {
            "arch": arch,
            "base_kind": "standin",
            "expectations_dir": str(Path(__file__).resolve().parents[2] / "expectations"),
            "image": {"ref": f"x:{arch}", "id": image_id},
            "exit_status": 0,
            "error": None,
            "totals": {"passed": 2, "failed": 0, "skipped": 0, "error": 0},
            "items": items,
        }
        (out / f"{arch}.json").write_text(json.dumps(doc))
        record_results(out, arch, {"image_id": image_id, "suite": scope_of()})
    return out


def scope_of() -> dict[str, str]:
    return release.suite_scope("-n 2", perf=False, hook=False)


def attested_request(loopback: Loopback, ids: dict[str, str], tmp_path: Path, **kw: Any) -> Request:
    attester = ReleaseAttester(
        results_dir(tmp_path, ids, kw.pop("outcome", "passed")), dict.fromkeys(ids, scope_of())
    )
    return request(loopback, ids, attester=attester, **kw)


def test_attestations_are_attached_before_the_tags_move_and_verify_green(
    loopback: Loopback, tmp_path: Path
) -> None:
    images, reg, pub = setup(loopback)
    ids = two_arches(images)
    listed = pub.publish(attested_request(loopback, ids, tmp_path, latest=True))
    arch_digests = [m["digest"] for m in listed.doc["manifests"]]
    puts = [ref for method, ref in reg.calls if method == "PUT"]
    atts = [att_tag(d) for d in [*arch_digests, listed.digest]]
    assert puts == ["1.0.staging", *atts, "1.0-amd64", "1.0-arm64", "1.0", "latest"]
    http = HttpRegistry(loopback.address)
    digest, lines, problems = check_reference(http, REPO, "1.0")
    assert (digest, problems) == (listed.digest, [])
    assert lines[1].startswith("  linux/amd64: 2 passed, 0 failed, 0 skipped, 0 error; suite full;")
    # the attested results are the results files as the release left them (digests recorded first)
    for arch, digest in zip(("amd64", "arm64"), arch_digests, strict=True):
        stmt, _ = read_statement(http, REPO, digest)
        assert stmt is not None and stmt["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
        (entry,) = stmt["predicate"]["platforms"]
        on_disk = json.loads((tmp_path / "results" / f"{arch}.json").read_text())
        assert entry["results"] == on_disk and on_disk["release"]["digest"] == digest
        assert on_disk["release"]["list_digest"] == listed.digest
        assert check_reference(http, REPO, digest)[2] == []


def test_a_failed_attestation_push_fails_the_release_and_moves_nothing(
    loopback: Loopback, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, reg, pub = setup(loopback)
    ids = two_arches(images)
    failing = Recording(reg.inner)
    real_put = failing.put_manifest

    def fail_second_att(repo: str, tag: str, manifest: Manifest) -> str:
        if tag.endswith(".att") and any(t.endswith(".att") for _, t in failing.calls):
            failing.calls.append(("PUT", tag))
            raise RegistryError(f"registry {loopback.address}: PUT {tag}: HTTP 503 injected")
        return real_put(repo, tag, manifest)

    failing.put_manifest = fail_second_att  # type: ignore[method-assign]
    pub = Publisher(images, failing, echo=lambda line: None)
    with pytest.raises(RegistryError):
        pub.publish(attested_request(loopback, ids, tmp_path, latest=True))
    assert {t: digest_of(loopback, t) for t in ("1.0", "latest", "1.0-amd64", "1.0-arm64")} == dict.fromkeys(
        ("1.0", "latest", "1.0-amd64", "1.0-arm64")
    )
    report = capsys.readouterr().err
    assert "FAILED at step 'attach the attestations'" in report
    assert report.count(".att = sha256:") == 1 and "(attestation of sha256:" in report


def test_require_attestation_false_greens(loopback: Loopback, tmp_path: Path) -> None:
    http = HttpRegistry(loopback.address)
    # pushed without a release (no attester): no attestation, one problem
    images, _, pub = setup(loopback)
    plain = pub.publish(request(loopback, two_arches(images, "plain")))
    assert check_reference(http, REPO, "1.0") == (
        plain.digest,
        [],
        [f"{plain.digest} has no attestation (no tag {att_tag(plain.digest)})"],
    )
    # a red release record (forced past the gate): attached, shown, and failed
    ids = two_arches(images, "red")
    red = pub.publish(attested_request(loopback, ids, tmp_path / "r", outcome="failed", force=True))
    _, lines, problems = check_reference(http, REPO, "1.0")
    assert lines[1].startswith("  linux/amd64: 1 passed, 1 failed,")
    rg = "first tests/test_binaries.py::test_binary[rg]"
    assert problems == [f"linux/{a}: 1 conformance item(s) failed, {rg}" for a in ("amd64", "arm64")] * 2
    # tampered: a green attestation of another image copied under this one's .att tag
    ids = two_arches(images, "green")
    green = pub.publish(attested_request(loopback, ids, tmp_path / "g", force=True))
    assert check_reference(http, REPO, "1.0")[2] == []
    http.put_manifest(REPO, att_tag(red.digest), http.get_manifest(REPO, att_tag(green.digest)))  # type: ignore[arg-type]
    assert check_reference(http, REPO, red.digest)[2][0] == (
        f"{att_tag(red.digest)}: its subject is {green.digest}, the reference resolves to {red.digest}"
    )
