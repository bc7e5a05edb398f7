"""Publishing by digest end to end: the real engine, `docker push`, and a loopback registry that fails at the
wrong moment. Images are the harness's two-arch fixture (FROM scratch + one file: no base, no emulation),
so a whole `./devbox release` with the suite hook takes seconds.

Each test cleans up its images, its registry process and its temp dirs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from devbox_build.attest import ReleaseAttester, att_tag, read_statement, record_results
from devbox_build.docker import Docker
from devbox_build.errors import RegistryError
from devbox_build.publish import RELEASE_LABEL, DockerPusher, Publisher, Request, VerifyFailedError
from devbox_build.registry import HttpRegistry, Manifest
from loopback_registry import Loopback as SharedLoopback

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "selftests" / "fixtures" / "harness" / "multiarch"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
NAME = "devbox-publish-e2e"
ARCHES = ("amd64", "arm64")
REVISION = "org.opencontainers.image.revision"
# each test's release outputs (by its tmp_path), so its images are removed by id afterwards
RUNS: dict[str, list[str]] = {}


class Loopback(SharedLoopback):
    """The shared loopback registry, with what these tests read back from it."""

    def digest(self, tag: str) -> str | None:
        man = HttpRegistry(self.address).get_manifest(NAME, tag)
        return man.digest if man else None

    def config_digests(self, tag: str) -> dict[str, str]:
        """platform -> the image id (config digest) behind each entry of TAG's list."""
        reg = HttpRegistry(self.address)
        listed = reg.get_manifest(NAME, tag)
        assert listed is not None and listed.is_list, tag
        out = {}
        for entry in listed.doc["manifests"]:
            image = reg.get_manifest(NAME, entry["digest"])
            assert image is not None
            out[entry["platform"]["architecture"]] = image.doc["config"]["digest"]
        return out


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[Loopback]:
    """The registry, and afterwards every image the test's releases made (by id: built and stamped)."""
    if subprocess.run([DOCKER, "version"], capture_output=True).returncode != 0:
        pytest.skip("needs a running Docker engine")
    with Loopback.serving(tmp_path / "registry") as reg:
        try:
            yield reg
        finally:
            made = [i for run in RUNS.pop(str(tmp_path), []) for i in stamped_ids(run).values()]
            tagged = [DOCKER, "images", "-q", "--filter", f"reference={reg.address}/{NAME}"]
            made += subprocess.run(
                tagged, capture_output=True, text=True
            ).stdout.split()  # e.g. what push built
            if made:
                subprocess.run([DOCKER, "rmi", "-f", *dict.fromkeys(made)], capture_output=True)


@dataclass
class Built:
    """Images this test built by id; removed at the end."""

    ids: list[str] = field(default_factory=list)

    def image(self, tmp_path: Path, arch: str, marker: str, revision: str = "e2e1234") -> str:
        ctx = tmp_path / f"ctx-{arch}-{uuid.uuid4().hex[:8]}"
        shutil.copytree(FIXTURE, ctx)
        (ctx / "marker.txt").write_text(marker)
        iid = ctx / "iid"
        subprocess.run(
            [DOCKER, "build", "-q", "--platform", f"linux/{arch}", "--build-arg", f"VCS_REF={revision}"]
            + ["--iidfile", str(iid), str(ctx)],
            check=True,
            capture_output=True,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
        )
        self.ids.append(iid.read_text().strip())
        return self.ids[-1]


@pytest.fixture
def built() -> Iterator[Built]:
    made = Built()
    yield made
    if made.ids:
        subprocess.run([DOCKER, "rmi", "-f", *made.ids], capture_output=True)


def release(
    loopback: Loopback, tmp_path: Path, tag: str, marker: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    ctx = tmp_path / f"ctx-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURE, ctx)
    (ctx / "marker.txt").write_text(marker)
    env = {
        **os.environ,
        "LOG_DIR": str(tmp_path / "logs"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "SKIP_LOGIN": "1",
        "RESULTS_DIR": str(tmp_path / f"results-{marker}"),
        "VCS_REF": "e2e1234",
    }
    cmd = [str(REPO_ROOT / "devbox"), "release", "--context", str(ctx), "--registry", loopback.address]
    cmd += ["--image", NAME, "--tag", tag, "--platforms", "linux/amd64,linux/arm64", "--suite-cmd", "true"]
    cmd += ["--require-label", f"{REVISION}=e2e1234", *extra]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)
    RUNS.setdefault(str(tmp_path), []).append(res.stdout)
    return res


def stamped_ids(output: str) -> dict[str, str]:
    """arch -> the image id a release checked and pushed (its `== ARCH: REF = ID; suite …` line)."""
    return dict(re.findall(r"^== (\w+): \S+ = (sha256:[0-9a-f]{64}); suite ", output, re.M))


def publisher(loopback: Loopback, before_push=None) -> Publisher:  # type: ignore[no-untyped-def]
    pusher = DockerPusher(Docker(DOCKER, False), echo=lambda line: None)

    class Hooked:
        def push(self, image_id: str, ref: str) -> None:
            if before_push:
                image_id = before_push(image_id, ref) or image_id
            pusher.push(image_id, ref)

    return Publisher(Hooked(), HttpRegistry(loopback.address), echo=lambda line: None)


def test_list_push_fails_then_a_clean_rerun_publishes_the_second_runs_images(
    loopback: Loopback, tmp_path: Path, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    first = release(loopback, tmp_path, "1.0", "first")
    assert first.returncode == 0, first.stdout + first.stderr
    old = loopback.digest("1.0")
    # a new run whose list push meets a stopped registry: stopped the moment the list is PUT
    ids = {a: built.image(tmp_path, a, "second") for a in ARCHES}
    pub = publisher(loopback)
    real_put = pub.registry.put_manifest

    def stop_then_put(repo: str, tag: str, manifest: Manifest) -> str:
        if tag == "1.0.staging":
            loopback.stop()
        return real_put(repo, tag, manifest)

    pub.registry.put_manifest = stop_then_put  # type: ignore[method-assign]
    image = f"{loopback.address}/{NAME}"
    with pytest.raises(RegistryError) as info:
        pub.publish(Request(image, "1.0", ids, labels=[REVISION], force=True))
    assert info.value.exit_code == 3
    report = capsys.readouterr().err
    assert "FAILED at step 'write the manifest list'" in report and report.count("\n  pushed ") == 2
    loopback.start()
    assert loopback.digest("1.0") == old
    # the clean re-run: TAG is the second run's images, never the first's
    second = release(loopback, tmp_path, "1.0", "second", "--force")
    assert second.returncode == 0, second.stdout + second.stderr
    assert loopback.config_digests("1.0") == stamped_ids(second.stdout) != {}
    assert set(loopback.config_digests("1.0").values()).isdisjoint(stamped_ids(first.stdout).values())


def test_registry_down_on_the_second_arch_leaves_public_tags_and_reports_what_was_pushed(
    loopback: Loopback, tmp_path: Path, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    first = release(loopback, tmp_path, "1.0", "first", "--latest")
    assert first.returncode == 0, first.stdout + first.stderr
    before = {t: loopback.digest(t) for t in ("1.0", "latest", "1.0-amd64", "1.0-arm64")}
    ids = {a: built.image(tmp_path, a, "second") for a in ARCHES}
    pub = publisher(loopback, lambda image_id, ref: loopback.stop() if "arm64" in ref else None)
    request = Request(f"{loopback.address}/{NAME}", "1.0", ids, labels=[REVISION], latest=True, force=True)
    with pytest.raises(RegistryError) as info:
        pub.publish(request)
    assert info.value.exit_code == 3  # the registry, not the user
    report = capsys.readouterr().err
    assert "FAILED at step 'push linux/arm64'" in report
    pushed = [line for line in report.splitlines() if line.startswith("  pushed ")]
    assert (
        len(pushed) == 1 and f"{NAME}:1.0-amd64.staging = sha256:" in pushed[0] and ids["amd64"] in pushed[0]
    )
    assert "resume: fix the cause and run the same command again" in report
    loopback.start()
    assert {t: loopback.digest(t) for t in before} == before


def test_red_verify_moves_neither_tag_nor_latest(
    loopback: Loopback, tmp_path: Path, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    first = release(loopback, tmp_path, "1.0", "first", "--latest")
    assert first.returncode == 0, first.stdout + first.stderr
    before = {t: loopback.digest(t) for t in ("1.0", "latest")}
    # the CLI: a label the release requires is not on the images -> red verify, exit 1, nothing moved
    red = release(loopback, tmp_path, "1.0", "red", "--latest", "--force", "--require-label", "team=ml")
    assert red.returncode == 1, red.stdout + red.stderr
    assert "problem: linux/arm64: label team=ml missing" in red.stderr
    assert red.stderr.strip().splitlines()[-1].startswith("devbox release: error: verify found 2 problem(s)")
    assert {t: loopback.digest(t) for t in before} == before
    # between build and verify, the revision label was emptied on arm64: what reaches the registry is not
    # the image checked, and no public tag moves
    ids = {a: built.image(tmp_path, a, "third") for a in ARCHES}
    emptied = built.image(tmp_path, "arm64", "third", revision="")
    pub = publisher(loopback, lambda image_id, ref: emptied if "arm64" in ref else None)
    request = Request(f"{loopback.address}/{NAME}", "1.0", ids, labels=[REVISION], latest=True, force=True)
    with pytest.raises(VerifyFailedError, match=f"holds image {emptied}, not the tested {ids['arm64']}"):
        pub.publish(request)
    assert {t: loopback.digest(t) for t in before} == before


def test_existing_release_tag_refused_then_replaced_with_force(loopback: Loopback, tmp_path: Path) -> None:
    first = release(loopback, tmp_path, "1.0", "first")
    assert first.returncode == 0, first.stdout + first.stderr
    old = loopback.digest("1.0")
    again = release(loopback, tmp_path, "1.0", "again")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"devbox release: error: {loopback.address}/{NAME}:1.0 exists ({old}): a release tag is not "
        "replaced unless --force says so; nothing was built"
    ]
    assert loopback.digest("1.0") == old
    forced = release(loopback, tmp_path, "1.0", "forced", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert loopback.config_digests("1.0") == stamped_ids(forced.stdout) != {}
    # the list's images carry the suite's scope, stamped before the suite ran
    verify = subprocess.run(
        [
            str(REPO_ROOT / "devbox"),
            "verify",
            f"{loopback.address}/{NAME}:1.0",
            "--platforms",
            "linux/amd64,linux/arm64",
        ]
        + ["--require-label", "io.github.gpu-devbox.release.suite=replaced (--suite-cmd)"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_push_refuses_latest_and_a_release_tag(loopback: Loopback, tmp_path: Path) -> None:
    first = release(loopback, tmp_path, "1.0", "first")
    assert first.returncode == 0, first.stdout + first.stderr
    base = [str(REPO_ROOT / "devbox"), "push", "--context", str(FIXTURE), "--registry", loopback.address]
    base += ["--image", NAME, "--platforms", "linux/amd64,linux/arm64"]
    env = {**os.environ, "SKIP_LOGIN": "1", "LOG_DIR": str(tmp_path / "logs")}
    latest = subprocess.run(
        [*base, "--tag", "latest"], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    assert latest.returncode == 2 and "--allow-latest" in latest.stderr and latest.stdout == ""
    owned = subprocess.run([*base, "--tag", "1.0"], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert owned.returncode == 2, owned.stdout + owned.stderr
    assert "is a verified release" in owned.stderr.strip().splitlines()[-1]
    assert loopback.digest("latest") is None


# ---- attested releases ----


def results_per_arch(out: Path, ids: dict[str, str], outcome: str = "passed") -> Path:
    """A release's results directory as the suite leaves it: one document per arch, naming that image."""
    out.mkdir(parents=True)
    for arch, image_id in ids.items():
        items = [
            {"nodeid": "tests/test_files.py::test_file[/marker.txt]", "outcome": "passed", "kind": "files"},
            {"nodeid": "tests/test_labels.py::test_label[revision]", "outcome": outcome, "kind": "labels"},
        ]
        doc = {
            "schema_version": 2,
            "arch": arch,
            "base_kind": "standin",
            "expectations_dir": str(REPO_ROOT / "expectations"),
            "image": {"ref": f"{NAME}:{arch}", "id": image_id, "digests": []},
            "exit_status": 0,  # a red record that claims green: only its items say otherwise
            "error": None,
            "totals": {"passed": 2, "failed": 0, "skipped": 0, "error": 0},
            "items": items,
        }
        (out / f"{arch}.json").write_text(json.dumps(doc, indent=2))
        record_results(out, arch, {"tag": "x", "image_id": image_id, "suite": SCOPE})
    return out


SCOPE = {
    RELEASE_LABEL: "full",
    f"{RELEASE_LABEL}-args": "",
    f"{RELEASE_LABEL}-narrowing": "",
    f"{RELEASE_LABEL}-performance": "skipped",
}


def verify_cli(ref: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(REPO_ROOT / "devbox"), "verify", ref, "--platforms", "linux/amd64,linux/arm64", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


def fails(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in res.stdout.splitlines() if line.startswith("FAIL ")]


def test_attested_release_verifies_and_what_is_not_gated_fails(
    loopback: Loopback, tmp_path: Path, built: Built
) -> None:
    image = f"{loopback.address}/{NAME}"
    http = HttpRegistry(loopback.address)
    # a green release: the publish step with a results document per arch
    ids = {a: built.image(tmp_path, a, "attested") for a in ARCHES}
    results = results_per_arch(tmp_path / "green", ids)
    attester = ReleaseAttester(results, dict.fromkeys(ids, SCOPE))
    listed = publisher(loopback).publish(Request(image, "1.0", ids, labels=[REVISION], attester=attester))
    ok = verify_cli(f"{image}:1.0", "--require-attestation")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "linux/amd64: 2 passed, 0 failed, 0 skipped, 0 error; suite full;" in ok.stdout
    assert f"attestation: green, subject {listed.digest}" in ok.stdout
    # the attestation's results are the release's results JSON, byte for byte once parsed
    for entry in listed.doc["manifests"]:
        arch = entry["platform"]["architecture"]
        stmt, _ = read_statement(http, NAME, entry["digest"])
        assert stmt is not None and stmt["subject"][0]["digest"]["sha256"] == entry["digest"].split(":")[1]
        assert stmt["predicate"]["platforms"][0]["results"] == json.loads(
            (results / f"{arch}.json").read_text()
        )
    listed_stmt, _ = read_statement(http, NAME, listed.digest)
    assert listed_stmt is not None
    assert [p["platform"] for p in listed_stmt["predicate"]["platforms"]] == ["linux/amd64", "linux/arm64"]
    # an image pushed by `push` alone: one line
    env = {**os.environ, "SKIP_LOGIN": "1", "LOG_DIR": str(tmp_path / "logs")}
    push = [str(REPO_ROOT / "devbox"), "push", "--context", str(FIXTURE), "--registry", loopback.address]
    push += ["--image", NAME, "--platforms", "linux/amd64,linux/arm64", "--tag", "2.0"]
    pushed = subprocess.run(push, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    plain = verify_cli(f"{image}:2.0", "--require-attestation")
    digest = loopback.digest("2.0")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert fails(plain) == [f"FAIL {digest} has no attestation (no tag {att_tag(digest or '')})"]
    # without --require-attestation it is shown, not required
    shown = verify_cli(f"{image}:2.0")
    assert shown.returncode == 0 and f"attestation: none for {digest}" in shown.stdout
    # false green: a release record whose results say failed (exit status 0, totals 0 failed)
    red_ids = {a: built.image(tmp_path, a, "red") for a in ARCHES}
    red_results = results_per_arch(tmp_path / "red", red_ids, outcome="failed")
    attester = ReleaseAttester(red_results, dict.fromkeys(red_ids, SCOPE))
    red = publisher(loopback).publish(Request(image, "3.0", red_ids, labels=[REVISION], attester=attester))
    red_verify = verify_cli(f"{image}:3.0", "--require-attestation")
    assert red_verify.returncode == 1
    first = "first tests/test_labels.py::test_label[revision]"
    assert fails(red_verify) == [f"FAIL linux/{a}: 1 conformance item(s) failed, {first}" for a in ARCHES] * 2
    # tampered: the green release's statement stored as the red list's attestation
    http.put_manifest(NAME, att_tag(red.digest), http.get_manifest(NAME, att_tag(listed.digest)))  # type: ignore[arg-type]
    tampered = verify_cli(f"{image}:3.0", "--require-attestation")
    assert tampered.returncode == 1
    assert fails(tampered)[0] == (
        f"FAIL {att_tag(red.digest)}: its subject is {listed.digest}, the reference resolves to {red.digest}"
    )


def test_a_release_whose_suite_wrote_no_results_is_not_attested_green(
    loopback: Loopback, tmp_path: Path
) -> None:
    """The suite hook (`--suite-cmd true`) writes no results: the release publishes, its attestation says
    so, and --require-attestation fails it."""
    res = release(loopback, tmp_path, "1.0", "hook")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(".att = sha256:") == 3
    verify = verify_cli(f"{loopback.address}/{NAME}:1.0", "--require-attestation")
    assert verify.returncode == 1
    assert (
        fails(verify)
        == [f"FAIL linux/{a}: the attestation has no results (no suite wrote any)" for a in ARCHES] * 2
    )
