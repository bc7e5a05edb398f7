"""Harness subcommands' pure parts: docker run flags, GPU detection, manifest commands, verify verdicts,
the release suite command, builder listing, binfmt status.

No Docker: where a command would run a subprocess, `runner.probe`/`runner.run` is mocked, as each test says.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from devbox_build import hostinfo, runner
from devbox_build.cli import main, make_parser
from devbox_build.commands import release, setup_builder, verify
from devbox_build.commands import run as run_cmd
from devbox_build.docker import Docker, is_insecure_registry, registry_of, split_ref
from devbox_build.remote import RemoteImage, missing_labels, platforms_of

LEGACY = Docker("/usr/bin/docker", buildx=False)
BUILDX = Docker("/usr/bin/docker", buildx=True)


def _run_args(*argv: str) -> argparse.Namespace:
    return make_parser().parse_args(["run", *argv])


def test_docker_run_command_with_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUN_EXTRA_ARGS", raising=False)
    args = _run_args("-v", "/data:/data", "-p", "8888:8888", "-e", "A=1", "--tag", "t")
    cmd = run_cmd.docker_run_command(LEGACY, args, use_gpu=True, tty=True)
    assert cmd == [
        "/usr/bin/docker",
        "run",
        "--rm",
        "-it",
        "--gpus",
        "all",
        "--ipc=host",
        "--ulimit",
        "memlock=-1",
        "--ulimit",
        "stack=67108864",
        "-v",
        "/data:/data",
        "-p",
        "8888:8888",
        "-e",
        "A=1",
        "gpu-devbox:t",
    ]


def test_docker_run_command_with_command_and_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUN_EXTRA_ARGS", "--shm-size 1g")
    args = _run_args("--no-gpu", "-c", "nvidia-smi; echo ok", "--", "--network", "host")
    cmd = run_cmd.docker_run_command(LEGACY, args, use_gpu=False, tty=False)
    assert "--gpus" not in cmd and "-it" not in cmd
    assert cmd[-6:] == ["--network", "host", "gpu-devbox:local", "bash", "-lc", "nvidia-smi; echo ok"]
    assert ["--shm-size", "1g"] == cmd[cmd.index("--shm-size") : cmd.index("--shm-size") + 2]


def test_run_dry_run_prints_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Docker.detect and GPU probing are replaced: this test checks only the printed command.
    monkeypatch.setattr(Docker, "detect", classmethod(lambda cls: LEGACY))
    assert main(["run", "--no-gpu", "--dry-run", "-c", "true"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("/usr/bin/docker run --rm") and out.endswith("gpu-devbox:local bash -lc true")


def _fake_probe(answers: dict[str, runner.Result | None]):  # noqa: ANN202
    def probe(cmd: list[str], timeout: float = 20) -> runner.Result | None:
        return answers.get(Path(cmd[0]).name)

    return probe


def _ok(cmd: str, out: str) -> runner.Result:
    return runner.Result([cmd], 0, out, "")


def test_gpu_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    # runner.probe (nvidia-smi, docker info) and shutil.which are mocked.
    monkeypatch.setattr(run_cmd.shutil, "which", lambda name: None)
    monkeypatch.setattr(runner, "probe", _fake_probe({}))
    assert run_cmd.detect_gpu(LEGACY)[0] is False
    smi = _ok("nvidia-smi", "GPU 0: NVIDIA H200 (UUID: GPU-1)\n")
    monkeypatch.setattr(
        runner, "probe", _fake_probe({"nvidia-smi": smi, "docker": _ok("docker", '{"runc":{}}')})
    )
    use, why = run_cmd.detect_gpu(LEGACY)
    assert use is False and "NVIDIA Container Toolkit" in why
    monkeypatch.setattr(
        runner, "probe", _fake_probe({"nvidia-smi": smi, "docker": _ok("docker", '{"nvidia":{}}')})
    )
    assert run_cmd.detect_gpu(LEGACY) == (True, "1 GPU(s)")


def test_registry_helpers() -> None:
    assert registry_of("127.0.0.1:5000/gpu-devbox:1") == "127.0.0.1:5000"
    assert registry_of("sytelus/gpu-devbox:latest") == "docker.io"
    assert registry_of("localhost/x") == "localhost"
    assert is_insecure_registry("127.0.0.1:5000/x:1") and is_insecure_registry("localhost:5000/x")
    assert not is_insecure_registry("ghcr.io/x/y:1") and not is_insecure_registry("sytelus/gpu-devbox")
    assert split_ref("127.0.0.1:5000/a/b:t") == ("127.0.0.1:5000/a/b", "t")
    assert split_ref("127.0.0.1:5000/a") == ("127.0.0.1:5000/a", "latest")


INDEX = {
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {
            "digest": "sha256:c",
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        },
    ],
}


def test_platforms_of_skips_attestations() -> None:
    assert platforms_of(INDEX) == ("linux/amd64", "linux/arm64")
    assert platforms_of({"mediaType": "application/vnd.docker.distribution.manifest.v2+json"}) == ()


def test_missing_labels() -> None:
    labels = {"a": "1", "empty": ""}
    assert missing_labels(labels, ["a", "a=1"]) == []
    assert missing_labels(labels, ["a=2", "b", "empty"]) == ["a=2 (found '1')", "b", "empty (found '')"]


def test_verify_check() -> None:
    remote = RemoteImage("r", ("linux/amd64",), {"linux/amd64": {"rev": "abc"}}, True)
    assert verify.check(remote, ["linux/amd64"], ["rev"]) == []
    assert verify.check(remote, ["linux/amd64", "linux/arm64"], ["rev", "x"]) == [
        "platform linux/arm64 missing",
        "linux/amd64: label x missing",
    ]


def test_suite_command_template(tmp_path: Path) -> None:
    cmd = release.suite_command(
        release.DEFAULT_SUITE_CMD,
        "-n 2 -k 'binary or label'",
        image="r/x:1-arm64",
        arch="arm64",
        results=tmp_path / "arm64.json",
    )
    assert cmd == [
        sys.executable,
        "-m",
        "pytest",
        "--image",
        "r/x:1-arm64",
        "--platform",
        "linux/arm64",
        "-p",
        "no:cacheprovider",
        "--results-json",
        str(tmp_path / "arm64.json"),
        "-m",
        "not performance",
        "-n",
        "2",
        "-k",
        "binary or label",
    ]
    fake = release.suite_command(
        "sh -c 'test {arch} != arm64'", "", image="i", arch="amd64", results=tmp_path
    )
    assert fake == ["sh", "-c", "test amd64 != arm64"]


def test_performance_run_drops_the_worker_count() -> None:
    assert release.serial_args("-n 2 -k shell") == "-k shell"
    assert release.serial_args("-nauto --numprocesses=4 --expectations=x") == "--expectations=x"
    assert release.serial_args("--numprocesses 3 -x") == "-x"


def test_suite_cmd_is_hidden_from_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        make_parser().parse_args(["release", "--help"])
    out = capsys.readouterr().out
    assert "--suite-args" in out and "--suite-cmd" not in out


def test_builder_exists() -> None:
    ls = (
        "NAME/NODE             DRIVER/ENDPOINT  STATUS   PLATFORMS\n"
        "gpu-devbox-builder *  docker-container\n"
        "  gpu-devbox-builder0 unix:///var/run/docker.sock running linux/amd64\n"
        "default               docker\n"
    )
    assert setup_builder.builder_exists(ls, "gpu-devbox-builder")
    assert setup_builder.builder_exists(
        ls.replace("gpu-devbox-builder *", "gpu-devbox-builder*"), "gpu-devbox-builder"
    )
    assert not setup_builder.builder_exists(ls, "other")


def test_binfmt_status(tmp_path: Path) -> None:
    assert hostinfo.binfmt_status("amd64", tmp_path)[0] is False
    (tmp_path / "qemu-aarch64").write_text(
        "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64\nflags: PF\n"
    )
    ok, why = hostinfo.binfmt_status("amd64", tmp_path)
    assert ok and "flags PF" in why
    (tmp_path / "qemu-aarch64").write_text("disabled\nflags: \n")
    assert hostinfo.binfmt_status("amd64", tmp_path)[0] is False
