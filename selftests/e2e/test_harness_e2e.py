"""Harness end-to-end: the real `./devbox` against the real engine, a throwaway registry and tiny images.

Each test cleans up what it made: images, the registry process and its temp dir, staged wheels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "selftests" / "fixtures" / "harness"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
BASE = "gpu-devbox-base:bookworm-amd64"

pytestmark = pytest.mark.e2e


def _engine_up() -> bool:
    return subprocess.run([DOCKER, "version"], capture_output=True).returncode == 0


def _image_exists(ref: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", ref], capture_output=True).returncode == 0


def devbox(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the repo-root launcher as a user would."""
    return subprocess.run(
        [str(REPO / "devbox"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _rmi(*refs: str) -> None:
    subprocess.run([DOCKER, "rmi", "-f", *refs], capture_output=True)


@pytest.fixture(autouse=True)
def _needs_engine() -> None:
    if not _engine_up():
        pytest.skip("needs a running Docker engine")


@pytest.fixture
def harness_env(tmp_path: Path) -> dict[str, str]:
    """Logs and caches of the harness go to this test's temp dir; no login prompt; a fixed VCS_REF."""
    return {
        "LOG_DIR": str(tmp_path / "logs"),
        "CACHE_DIR": str(tmp_path / "cache"),
        "SKIP_LOGIN": "1",
        "RESULTS_DIR": str(tmp_path / "results"),
        "VCS_REF": "e2e1234",
    }


def _copy_fixture(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _on_context(
    command: str, ctx: Path, image: str, tag: str, *more: str, registry: str | None = None
) -> list[str]:
    """`COMMAND --context CTX [--registry R] --image IMAGE --tag TAG MORE…`: the arguments every build,
    push and release below starts with."""
    at = ["--registry", registry] if registry else []
    return [command, "--context", str(ctx), *at, "--image", image, "--tag", tag, *more]


def _two_arch(
    command: str, tmp_path: Path, registry_address: str, name: str, tag: str, *more: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`./devbox COMMAND` of the two-arch fixture (FROM scratch: seconds) for linux/amd64 and linux/arm64,
    as REGISTRY/NAME:TAG: the push and both releases below."""
    ctx = _copy_fixture("multiarch", tmp_path / "ctx")
    platforms = ("--platforms", "linux/amd64,linux/arm64")
    return devbox(
        *_on_context(command, ctx, name, tag, *platforms, *more, registry=registry_address), env=env
    )


def _needs_base(ref: str = BASE, how: str = "`./devbox base`") -> None:
    if not _image_exists(ref):
        pytest.skip(f"needs the stand-in base {ref} ({how})")


def _staged_wheel(tmp_path: Path, name: str) -> Path:
    """A wheelhouse holding one file named `name` (the harness stages it, it need not be a real wheel)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / name).write_text("not really a wheel")
    return wheels


def test_build_keeps_ca_out_of_layers_and_removes_staged_wheels(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    _needs_base()
    ctx = _copy_fixture("secret", tmp_path / "ctx")
    token = f"DEVBOX-CA-CANARY-{uuid.uuid4().hex}"
    ca = tmp_path / "ca.pem"
    ca.write_text(f"-----BEGIN CERTIFICATE-----\n{token}\n-----END CERTIFICATE-----\n")
    wheels = _staged_wheel(tmp_path, "devbox_canary-0.1-py3-none-any.whl")
    ref = f"devbox-harness-e2e:secret-{os.getpid()}"
    image, tag = ref.split(":")
    try:
        res = devbox(
            *_on_context("build", ctx, image, tag, "--ca-bundle", str(ca), "--wheelhouse", str(wheels)),
            env=harness_env,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert "[2/2] RUN" in res.stdout  # the step counter
        logs = list((tmp_path / "logs").glob("build-amd64-*.log"))
        assert len(logs) == 1 and "--secret id=ca," in logs[0].read_text()
        # the build saw the staged wheel; afterwards the context is as before (no wheelhouse/ at all)
        seen = subprocess.run(
            [DOCKER, "run", "--rm", ref, "cat", "/staged-wheels.txt"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "devbox_canary-0.1-py3-none-any.whl" in seen
        assert sorted(p.name for p in ctx.iterdir()) == ["Dockerfile"]
        assert (wheels / "devbox_canary-0.1-py3-none-any.whl").exists()
        labels = json.loads(
            subprocess.run(
                [DOCKER, "image", "inspect", ref], capture_output=True, text=True, check=True
            ).stdout
        )[0]["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == "e2e1234"
        # the CA's content is in no layer of the saved image
        saved = tmp_path / "image.tar"
        subprocess.run([DOCKER, "save", "-o", str(saved), ref], check=True, capture_output=True)
        scanned = 0
        with tarfile.open(saved) as outer:
            for member in outer.getmembers():
                if not member.isfile():
                    continue
                data = outer.extractfile(member).read()  # type: ignore[union-attr]
                assert token.encode() not in data, f"CA content found in {member.name}"
                scanned += member.name.endswith("layer.tar")
        assert scanned >= 2
    finally:
        _rmi(ref)


def test_build_failure_names_step_and_log_and_cleans_wheels(
    tmp_path: Path, harness_env: dict[str, str]
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo about-to-fail && exit 7\n")
    wheels = _staged_wheel(tmp_path, "w-1-py3-none-any.whl")
    _needs_base()
    res = devbox(
        *_on_context("build", ctx, "devbox-harness-e2e", "fail", "--wheelhouse", str(wheels)), env=harness_env
    )
    assert res.returncode == 1
    assert "build failed at [2/2] RUN echo about-to-fail" in res.stderr and "full log:" in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.name for p in ctx.iterdir()) == ["Dockerfile"]
    _rmi("devbox-harness-e2e:fail")


def test_daemon_down_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    res = devbox("build", "--context", str(tmp_path), env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "devbox build: error: the Docker daemon is not running or not reachable "
        "(start dockerd, or set DOCKER_HOST)"
    ]


def test_push_then_verify_two_arches(tmp_path: Path, registry, harness_env: dict[str, str]) -> None:
    image = f"{registry.address}/devbox-harness-push"
    try:
        res = _two_arch("push", tmp_path, registry.address, "devbox-harness-push", "two", env=harness_env)
        assert res.returncode == 0, res.stdout + res.stderr
        ok = devbox(
            "verify",
            f"{image}:two",
            "--platforms",
            "linux/amd64,linux/arm64",
            "--require-label",
            "org.opencontainers.image.revision=e2e1234",
            "--require-label",
            "io.github.gpu-devbox.selftest-arch",
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "manifest list with linux/amd64, linux/arm64" in ok.stdout
        assert "io.github.gpu-devbox.selftest-arch=arm64" in ok.stdout
        bad = devbox(
            "verify",
            f"{image}:two",
            "--require-label",
            "io.github.gpu-devbox.selftest-arch=amd64",
            "--require-label",
            "not.there",
        )
        assert bad.returncode == 1
        assert (
            "FAIL linux/arm64: label io.github.gpu-devbox.selftest-arch=amd64 (found 'arm64') missing"
            in bad.stdout
        )
        assert "FAIL linux/amd64: label not.there missing" in bad.stdout
        single = devbox("verify", f"{image}:two-amd64", "--platforms", "linux/amd64,linux/arm64")
        assert single.returncode == 1 and "FAIL platform linux/arm64 missing" in single.stdout
    finally:
        _rmi(f"{image}:two-amd64", f"{image}:two-arm64")


def test_release_red_arch_pushes_nothing(tmp_path: Path, registry, harness_env: dict[str, str]) -> None:
    image = f"{registry.address}/devbox-harness-red"
    try:
        res = _two_arch(
            "release",
            tmp_path,
            registry.address,
            "devbox-harness-red",
            "r1",
            "--suite-cmd",
            "sh -c 'test {arch} != arm64'",
            env=harness_env,
        )
        assert res.returncode == 1, res.stdout + res.stderr
        assert "conformance amd64: green" in res.stdout and "conformance arm64: RED (exit 1)" in res.stdout
        assert "arm64 failed the conformance suite; nothing was pushed" in res.stdout
        assert "devbox-harness-red" not in registry.catalog()
        assert sorted(p.name for p in (tmp_path / "results").glob("release-*/*")) == []  # the fake wrote none
    finally:
        _rmi(f"{image}:r1-amd64", f"{image}:r1-arm64")


def test_release_green_publishes_and_verifies(tmp_path: Path, registry, harness_env: dict[str, str]) -> None:
    image = f"{registry.address}/devbox-harness-green"
    try:
        res = _two_arch(
            "release",
            tmp_path,
            registry.address,
            "devbox-harness-green",
            "g1",
            "--suite-cmd",
            "true",
            "--require-label",
            "org.opencontainers.image.revision=e2e1234",
            env=harness_env,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"release: {image}:g1 published and verified" in res.stdout
        assert "devbox-harness-green" in registry.catalog()
    finally:
        _rmi(f"{image}:g1-amd64", f"{image}:g1-arm64")


def test_sigterm_mid_build_removes_staged_wheels(tmp_path: Path, harness_env: dict[str, str]) -> None:
    _needs_base()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo {uuid.uuid4().hex} && sleep 60\n")
    wheels = _staged_wheel(tmp_path, "w-1-py3-none-any.whl")
    proc = subprocess.Popen(
        [
            str(REPO / "devbox"),
            *_on_context("build", ctx, "devbox-harness-e2e", "term", "--wheelhouse", str(wheels)),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **harness_env},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logs = list((tmp_path / "logs").glob("build-amd64-*.log"))
            if (
                logs
                and "sleep 60" in logs[0].read_text()
                and (ctx / "wheelhouse" / "w-1-py3-none-any.whl").exists()
            ):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the build never reached its RUN step")
        time.sleep(1)
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "devbox build: terminated" in err
    assert sorted(p.name for p in ctx.iterdir()) == ["Dockerfile"]
    assert not _image_exists("devbox-harness-e2e:term")


def test_standin_arm64_build_runs_under_qemu(tmp_path: Path, harness_env: dict[str, str]) -> None:
    _needs_base("gpu-devbox-base:bookworm-arm64", "`./devbox base --arch arm64`")
    ctx = _copy_fixture("qemu", tmp_path / "ctx")
    ref = "devbox-harness-e2e:qemu-arm64"
    try:
        res = devbox(
            *_on_context(
                "build", ctx, "devbox-harness-e2e", "qemu", "--standin", "--platforms", "linux/arm64"
            ),
            env=harness_env,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        out = subprocess.run(
            [DOCKER, "run", "--rm", "--platform", "linux/arm64", ref, "cat", "/built-on.txt"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert out == "aarch64"
        info = json.loads(
            subprocess.run(
                [DOCKER, "image", "inspect", ref], capture_output=True, text=True, check=True
            ).stdout
        )[0]
        assert info["Architecture"] == "arm64"
    finally:
        _rmi(ref)
