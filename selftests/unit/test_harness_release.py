"""push/release --dry-run, the OCI labels a build sets and release verifies, and the base digest lookup.

No Docker: a recording stand-in replaces the client, and `runner.probe` is fed canned answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from devbox_build import buildopts, config, dockerfile, remote, runner
from devbox_build.cli import main, make_parser
from devbox_build.commands import push, release
from devbox_build.docker import Docker, digest_from_inspect

from devbox_conformance import expectations as exp

DIGEST = "sha256:" + "ab" * 32
REAL_DOCKERFILE = (config.REPO_ROOT / "Dockerfile").read_text()
OCI_LABELS = {
    f"org.opencontainers.image.{k}"
    for k in (
        "title",
        "description",
        "source",
        "url",
        "documentation",
        "vendor",
        "licenses",
        "revision",
        "created",
        "version",
        "base.name",
        "base.digest",
    )
}


@dataclass
class FakeDocker:
    """Stands in for Docker; `local` holds the images the engine has. Push and login are refused loudly."""

    binary: str = "/usr/bin/docker"
    buildx: bool = False
    local: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def cmd(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def ping(self) -> None:
        pass

    def image_exists(self, ref: str) -> bool:
        return ref in self.local

    def base_digest(self, ref: str) -> str:
        info = self.local[ref]
        return digest_from_inspect(ref, info.get("RepoDigests", []), info["Id"])

    def run(self, *args: str, **kw: Any) -> runner.Result:
        self.calls.append(args)
        assert args[0] not in ("push", "login", "manifest"), f"a dry run ran docker {args}"
        return runner.Result([self.binary, *args], 0, "", "")


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker()
    monkeypatch.setattr(Docker, "detect", classmethod(lambda cls: fake))
    for name in ("IMAGE", "TAG", "PLATFORMS", "SKIP_LOGIN", "VCS_REF"):
        monkeypatch.delenv(name, raising=False)
    return fake


# ---- the Dockerfile's labels and the contract ----


def test_dockerfile_sets_every_oci_label_and_the_contract_checks_each() -> None:
    assert set(dockerfile.label_keys(REAL_DOCKERFILE)) == OCI_LABELS
    model = exp.load(config.REPO_ROOT / "expectations", "amd64", "standin")
    contract = {label.name for label in model.labels}
    assert OCI_LABELS <= contract


def test_label_defaults_are_not_empty_on_a_plain_build() -> None:
    for arg in ("IMAGE_VERSION", "IMAGE_SOURCE", "IMAGE_VENDOR", "IMAGE_LICENSES"):
        assert re.search(rf"^ARG {arg}=\S+", REAL_DOCKERFILE, re.M), arg
    for arg in ("IMAGE_URL", "IMAGE_DOCUMENTATION"):
        assert re.search(rf"^ARG {arg}=\$\{{IMAGE_SOURCE\}}", REAL_DOCKERFILE, re.M), arg
    # kept within what Docker 20.10's built-in frontend parses
    assert "<<" not in REAL_DOCKERFILE and not REAL_DOCKERFILE.startswith("# syntax=")


@pytest.mark.parametrize(
    ("label", "good", "bad"),
    [
        (
            "org.opencontainers.image.version",
            ["local", "2026.11.29", "latest", "v1.2_rc-3"],
            ["", "-x", "a b"],
        ),
        (
            "org.opencontainers.image.base.digest",
            [DIGEST],
            ["", "sha256:abc", "gpu-devbox-base:bookworm-amd64"],
        ),
    ],
)
def test_contract_label_patterns(label: str, good: list[str], bad: list[str]) -> None:
    model = exp.load(config.REPO_ROOT / "expectations", "amd64", "ngc")
    item = next(x for x in model.labels if x.name == label)
    assert item.regex is not None
    assert all(re.fullmatch(item.regex, v) for v in good)
    assert not any(re.fullmatch(item.regex, v) for v in bad)


def test_dockerfile_reader() -> None:
    text = (
        "# comment\nARG BASE_IMAGE=reg/base:1 \\\n  # inside\n\nARG OTHER\nFROM ${BASE_IMAGE} AS deps\n"
        "ARG BASE_IMAGE=after-from\nLABEL org.opencontainers.image.title=early\nFROM deps\n"
        'LABEL org.opencontainers.image.revision="${VCS_REF}" \\\n'
        '      org.opencontainers.image.version="" other.key=x\n'
        "label org.opencontainers.image.vendor=team\n"
    )
    assert dockerfile.arg_default(text, "BASE_IMAGE") == "reg/base:1"
    assert dockerfile.arg_default(text, "OTHER") is None
    # only the final stage's, non-empty, OCI keys
    assert dockerfile.label_keys(text) == [
        "org.opencontainers.image.revision",
        "org.opencontainers.image.vendor",
    ]
    assert str(dockerfile.arg_default(REAL_DOCKERFILE, "BASE_IMAGE")).startswith("nvcr.io/nvidia/pytorch:")


# ---- build args: version and base digest ----


def _args(*argv: str) -> Any:
    return make_parser().parse_args(["build", "--no-ca", *argv])


def test_version_is_the_tag_being_built(docker: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "base_digest", lambda d, ref, arch: DIGEST)

    def version(*argv: str) -> str:
        return buildopts.resolve_args(_args(*argv), docker, "amd64", "x")["IMAGE_VERSION"]  # type: ignore[arg-type]

    assert version("--tag", "2026.11.29") == "2026.11.29"
    assert version() == "local"
    assert version("--tag", "2026.11.29", "--build-arg", "IMAGE_VERSION=9") == "9"


def test_base_digest_for_the_dockerfiles_default_base(
    docker: FakeDocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(remote, "base_digest", lambda d, ref, arch: asked.append((ref, arch)) or DIGEST)
    got = buildopts.base_args(_args(), docker, "arm64")  # type: ignore[arg-type]
    assert got == {"BASE_DIGEST": DIGEST}  # BASE_IMAGE stays the Dockerfile's own default
    assert asked == [(dockerfile.arg_default(REAL_DOCKERFILE, "BASE_IMAGE"), "arm64")]
    buildopts.base_args(_args("--build-arg", "BASE_IMAGE=reg/other:2"), docker, "amd64")  # type: ignore[arg-type]
    got = buildopts.base_args(_args("--base-image", "reg/mine:1"), docker, "amd64")  # type: ignore[arg-type]
    assert got == {"BASE_IMAGE": "reg/mine:1", "BASE_DIGEST": DIGEST}
    assert [a[0] for a in asked[1:]] == ["reg/other:2", "reg/mine:1"]
    # given explicitly: not looked up
    given = _args("--build-arg", f"BASE_DIGEST={DIGEST}")
    assert buildopts.base_args(given, docker, "amd64") == {}  # type: ignore[arg-type]
    assert len(asked) == 3


def test_base_digest_unknown_is_a_warning(
    docker: FakeDocker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(remote, "base_digest", lambda d, ref, arch: None)
    assert buildopts.base_args(_args(), docker, "amd64") == {}  # type: ignore[arg-type]
    assert "warning: no digest found for the base nvcr.io/nvidia/pytorch" in capsys.readouterr().out


def test_local_digest_prefers_the_bases_own_repository() -> None:
    digests = ["mirror.example/team/pytorch@sha256:" + "11" * 32, f"nvcr.io/nvidia/pytorch@{DIGEST}"]
    assert digest_from_inspect("nvcr.io/nvidia/pytorch:25.11-py3", digests, "sha256:id") == DIGEST
    assert digest_from_inspect("other:1", digests, "sha256:id") == "sha256:" + "11" * 32
    assert digest_from_inspect("gpu-devbox-base:bookworm-amd64", [], "sha256:id") == "sha256:id"


def _probe_answers(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str]) -> list[list[str]]:
    """runner.probe answers by the tool word in the command (buildx, skopeo, manifest); others fail."""
    seen: list[list[str]] = []

    def probe(cmd: list[str], timeout: float = 20, env: Any = None) -> runner.Result | None:
        seen.append(list(cmd))
        for word, out in answers.items():
            if word in cmd:
                return runner.Result(list(cmd), 0, out, "")
        return runner.Result(list(cmd), 1, "", "unreachable")

    monkeypatch.setattr(runner, "probe", probe)
    monkeypatch.setattr(remote.shutil, "which", lambda name: "/usr/bin/" + name)
    return seen


def test_remote_digest_from_buildx(monkeypatch: pytest.MonkeyPatch) -> None:
    _probe_answers(monkeypatch, {"buildx": json.dumps({"mediaType": "x", "digest": DIGEST, "size": 1})})
    assert remote.base_digest(FakeDocker(buildx=True), "reg/base:1", "amd64") == DIGEST  # type: ignore[arg-type]


def test_remote_digest_from_skopeo_for_the_arch(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _probe_answers(monkeypatch, {"skopeo": DIGEST + "\n"})
    assert remote.base_digest(FakeDocker(), "127.0.0.1:5000/base:1", "arm64") == DIGEST  # type: ignore[arg-type]
    (cmd,) = seen
    assert cmd[:5] == ["skopeo", "--override-os", "linux", "--override-arch", "arm64"]
    assert "--tls-verify=false" in cmd and cmd[-1] == "docker://127.0.0.1:5000/base:1"


def test_remote_digest_from_docker_manifest_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    listing = json.dumps(
        [
            {
                "Ref": "r",
                "Descriptor": {"digest": "sha256:" + "00" * 32, "platform": {"architecture": "amd64"}},
            },
            {"Ref": "r", "Descriptor": {"digest": DIGEST, "platform": {"architecture": "arm64"}}},
        ]
    )
    _probe_answers(monkeypatch, {"manifest": listing})
    monkeypatch.setattr(remote.shutil, "which", lambda name: None)  # no skopeo
    assert remote.base_digest(FakeDocker(), "reg/base:1", "arm64") == DIGEST  # type: ignore[arg-type]
    single = json.dumps({"Ref": "r", "Descriptor": {"digest": DIGEST}})
    _probe_answers(monkeypatch, {"manifest": single})
    monkeypatch.setattr(remote.shutil, "which", lambda name: None)
    assert remote.base_digest(FakeDocker(), "reg/base:1", "amd64") == DIGEST  # type: ignore[arg-type]


def test_remote_digest_none_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    _probe_answers(monkeypatch, {})
    assert remote.base_digest(FakeDocker(buildx=True), "reg/base:1", "amd64") is None  # type: ignore[arg-type]


def test_local_base_is_not_looked_up_remotely(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _probe_answers(monkeypatch, {})
    fake = FakeDocker(local={"reg/base:1": {"Id": "sha256:id", "RepoDigests": [f"reg/base@{DIGEST}"]}})
    assert remote.base_digest(fake, "reg/base:1", "amd64") == DIGEST  # type: ignore[arg-type]
    assert seen == []


# ---- release: the labels it verifies ----


def _release_args(*argv: str) -> Any:
    return make_parser().parse_args(["release", "--no-ca", *argv])


def test_release_requires_the_promised_oci_labels_and_the_version(docker: FakeDocker) -> None:
    labels = release.required_labels(_release_args("--tag", "2026.11.29"), REAL_DOCKERFILE)
    assert "org.opencontainers.image.version=2026.11.29" in labels
    assert {label.split("=", 1)[0] for label in labels} == OCI_LABELS
    extra = release.required_labels(
        _release_args("--require-label", "team=ml", "--require-label", "org.opencontainers.image.title"),
        REAL_DOCKERFILE,
    )
    assert extra[-1] == "team=ml" and extra.count("org.opencontainers.image.title") == 1
    only = _release_args("--no-oci-labels", "--require-label", "a")
    assert release.required_labels(only, REAL_DOCKERFILE) == ["a"]
    # a Dockerfile that promises less is held to what it promises
    small = 'FROM scratch\nLABEL org.opencontainers.image.revision="${VCS_REF}"\n'
    assert release.required_labels(_release_args(), small) == ["org.opencontainers.image.revision"]


# ---- dry runs ----


def test_push_dry_run_prints_the_plan_and_runs_nothing(
    docker: FakeDocker, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["push", "--dry-run", "--no-ca", "--registry", "127.0.0.1:5000", "--tag", "2026.11.29"]) == 0
    out = capsys.readouterr().out
    assert docker.calls == []
    ref = "127.0.0.1:5000/gpu-devbox:2026.11.29"
    for want in (
        "nothing is built, logged in to or pushed",
        "label org.opencontainers.image.version=2026.11.29",
        "login: docker login 127.0.0.1:5000",
        f"linux/amd64: build, then push {ref}-amd64.staging",
        f"linux/arm64: build, then push {ref}-arm64.staging",
        f"manifest list {ref}.staging <- the digests pushed for {ref}-amd64.staging, {ref}-arm64.staging",
        "read it back: exactly these platforms, each exactly the digest pushed",
        f"then move: {ref}-amd64, {ref}-arm64, {ref}\n",
    ):
        assert want in out, (want, out)
    assert "manifest create" not in out and "--amend" not in out


def test_push_dry_run_with_buildx_is_one_build(
    docker: FakeDocker, capsys: pytest.CaptureFixture[str]
) -> None:
    docker.buildx = True
    argv = ["push", "--dry-run", "--no-ca", "--skip-login", "--platforms", "linux/arm64"]
    assert main([*argv, "--allow-latest"]) == 0
    out = capsys.readouterr().out
    assert "login: skipped" in out
    assert "build and push gpu-devbox:latest for linux/arm64 in one buildx build" in out


def test_push_dry_run_still_refuses_a_bad_flag(
    docker: FakeDocker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["push", "--dry-run", "--no-ca", "--set-only", "nope"]) == 2
    assert "unknown package set 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("green", [True, False])
def test_release_dry_run_builds_and_checks_then_pushes_nothing(
    docker: FakeDocker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    green: bool,
) -> None:
    built: list[list[str]] = []

    def build_images(args: Any, d: Any, arches: list[str]) -> dict[str, tuple[str, str]]:
        built.append(arches)
        return {a: (push.per_arch_tag(args.image, args.tag, a), f"sha256:{a}") for a in arches}

    stamped: list[tuple[str, str, dict[str, str]]] = []

    def stamp_labels(d: Any, image_id: str, ref: str, labels: dict[str, str]) -> str:
        stamped.append((image_id, ref, labels))
        return image_id + "-stamped"

    monkeypatch.setattr(release, "build_images", build_images)
    monkeypatch.setattr(release, "stamp_labels", stamp_labels)
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path))
    suite = "true" if green else "sh -c 'test {arch} != arm64'"
    rc = main(
        [
            "release",
            "--dry-run",
            "--no-ca",
            "--skip-login",
            "--registry",
            "127.0.0.1:5000",
            "--tag",
            "r1",
            "--suite-cmd",
            suite,
        ]
    )
    out = capsys.readouterr().out
    assert built == [["amd64", "arm64"]]  # built and checked as usual
    assert docker.calls == []
    # what gates the release is stamped on the images before the suite runs: the test hook replaced it
    assert [s[2][release.RELEASE_LABEL] for s in stamped] == ["replaced (--suite-cmd)"] * 2
    if not green:
        assert rc == 1 and "nothing was pushed" in out and "A release would" not in out
        return
    assert rc == 0, out
    assert "== conformance amd64: green" in out and "== conformance arm64: green" in out
    assert "linux/arm64: push 127.0.0.1:5000/gpu-devbox:r1-arm64.staging" in out
    assert "org.opencontainers.image.version=r1" in out
    assert "attach each arch's results as an in-toto attestation (sha256-<hex>.att)" in out
    assert out.rstrip().endswith(
        "release (dry run): 127.0.0.1:5000/gpu-devbox:r1 built and checked; nothing was pushed"
    )
