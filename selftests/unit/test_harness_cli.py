"""Harness CLI: argument/env parsing, platform parsing, build-arg assembly, one-line usage errors.

No Docker: every test here stops before the harness would start a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from devbox_build import buildargs, config
from devbox_build.cli import main, make_parser
from devbox_build.errors import UsageError


@pytest.fixture
def context(tmp_path: Path) -> Path:
    """A build context with a Dockerfile and three package sets."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    for kind, name in (("apt", "base-tools"), ("apt", "fun-tools"), ("pip", "python-core")):
        (tmp_path / "packages" / kind).mkdir(parents=True, exist_ok=True)
        (tmp_path / "packages" / kind / f"{name}.txt").write_text("x\n")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "arches"),
    [
        ("linux/amd64,linux/arm64", ("amd64", "arm64")),
        ("linux/arm64", ("arm64",)),
        ("arm64, amd64", ("arm64", "amd64")),
        ("aarch64,x86_64", ("arm64", "amd64")),
        ("linux/amd64,linux/amd64", ("amd64",)),
    ],
)
def test_parse_platforms(text: str, arches: tuple[str, ...]) -> None:
    assert config.parse_platforms(text) == arches


@pytest.mark.parametrize("text", ["linux/sparc", "windows/amd64", "", " , ", "linux/arm/v7"])
def test_bad_platform_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        config.parse_platforms(text)


def test_host_arch_spellings() -> None:
    assert config.host_arch("x86_64") == "amd64"
    assert config.host_arch("aarch64") == "arm64"
    with pytest.raises(UsageError):
        config.host_arch("riscv64")


def test_env_defaults_and_flags_override(monkeypatch: pytest.MonkeyPatch, context: Path) -> None:
    monkeypatch.setenv("IMAGE", "reg.example/team/devbox")
    monkeypatch.setenv("TAG", "nightly")
    monkeypatch.setenv("BUILD_CONTEXT", str(context))
    monkeypatch.setenv("BUILDER", "b1")
    monkeypatch.setenv("PLATFORMS", "linux/arm64")
    monkeypatch.setenv("SKIP_LOGIN", "1")
    args = make_parser().parse_args(["push"])
    assert (args.image, args.tag, args.context, args.builder) == (
        "reg.example/team/devbox",
        "nightly",
        context,
        "b1",
    )
    assert args.platforms == "linux/arm64" and args.skip_login is True
    args = make_parser().parse_args(["push", "--tag", "1.0", "--image", "x/y", "--platforms", "linux/amd64"])
    assert (args.image, args.tag, args.platforms) == ("x/y", "1.0", "linux/amd64")


def test_defaults_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGE", "TAG", "PLATFORMS", "BUILDER", "BUILD_CONTEXT", "DOCKERFILE", "SKIP_LOGIN"):
        monkeypatch.delenv(name, raising=False)
    build = make_parser().parse_args(["build"])
    assert (build.image, build.tag, build.dockerfile) == ("gpu-devbox", "local", "Dockerfile")
    assert build.context == config.REPO_ROOT and build.builder == "gpu-devbox-builder"
    push = make_parser().parse_args(["push"])
    assert push.tag == "latest" and push.platforms == "linux/amd64,linux/arm64" and push.skip_login is False


def test_empty_env_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE", "")
    assert make_parser().parse_args(["build"]).image == "gpu-devbox"


def test_set_switches_only_and_without() -> None:
    known = ["base-tools", "fun-tools", "python-core"]
    assert buildargs.set_switches(known, ["python-core"], []) == {
        "INSTALL_BASE_TOOLS": "false",
        "INSTALL_FUN_TOOLS": "false",
        "INSTALL_PYTHON_CORE": "true",
    }
    assert buildargs.set_switches(known, [], ["fun-tools"]) == {"INSTALL_FUN_TOOLS": "false"}
    with pytest.raises(UsageError, match="unknown package set 'nope'"):
        buildargs.set_switches(known, ["nope"], [])


def test_discover_sets(context: Path) -> None:
    assert buildargs.discover_sets(context) == ["base-tools", "fun-tools", "python-core"]
    assert buildargs.set_arg("python-extras") == "INSTALL_PYTHON_EXTRAS"


def test_build_arg_precedence() -> None:
    identity = {"VCS_REF": "abc", "IMAGE_REF": "gpu-devbox:local", "BUILD_DATE": "d"}
    env = buildargs.env_install_args({"INSTALL_VLLM": "true", "INSTALL_FUN_TOOLS": "true", "PATH": "/bin"})
    assert env == {"INSTALL_FUN_TOOLS": "true", "INSTALL_VLLM": "true"}
    switches = {"INSTALL_FUN_TOOLS": "false"}
    cli = buildargs.parse_kv(["VCS_REF=override", "EMPTY="])
    merged = buildargs.assemble(identity, env, switches, cli)
    assert merged == {
        "VCS_REF": "override",
        "IMAGE_REF": "gpu-devbox:local",
        "BUILD_DATE": "d",
        "INSTALL_VLLM": "true",
        "INSTALL_FUN_TOOLS": "false",
        "EMPTY": "",
    }
    assert buildargs.as_flags({"A": "1", "B": "x y"}) == ["--build-arg", "A=1", "--build-arg", "B=x y"]


@pytest.mark.parametrize("bad", ["NOVALUE", "=x"])
def test_bad_build_arg(bad: str) -> None:
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        buildargs.parse_kv([bad])


def test_split_names() -> None:
    assert buildargs.split_names(["a,b", " c ", ","]) == ["a", "b", "c"]


def test_vcs_ref_from_env_and_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VCS_REF", "feedbee")
    assert config.vcs_ref(tmp_path) == "feedbee"
    monkeypatch.delenv("VCS_REF")
    assert config.vcs_ref(tmp_path) == "unknown"  # tmp_path is not a git checkout


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--platforms", "linux/sparc"], "bad platform 'linux/sparc'"),
        (["--dockerfile", "Nope.Dockerfile"], "Dockerfile not found"),
        (["--ca-bundle", "/nonexistent/ca.pem"], "CA bundle not found"),
        (["--set-only", "base-tools,bogus"], "unknown package set 'bogus'"),
        (["--build-arg", "JUSTKEY"], "expected KEY=VALUE"),
        (["--wheelhouse", "/nonexistent/wheels"], "is not a directory"),
    ],
)
def test_build_user_mistakes_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], context: Path, extra: list[str], needle: str
) -> None:
    _one_line_error(capsys, ["build", "--context", str(context), *extra], needle)


def test_missing_context(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _one_line_error(capsys, ["build", "--context", str(tmp_path / "nope")], "is not a directory")


def test_release_bad_platform(capsys: pytest.CaptureFixture[str], context: Path) -> None:
    _one_line_error(
        capsys, ["release", "--context", str(context), "--platforms", "linux/s390x"], "bad platform"
    )


def test_build_native_refuses_off_arm64(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    _one_line_error(
        capsys, ["build-native"], "docker buildx create --append --name gpu-devbox-builder ssh://"
    )


def test_every_command_has_help() -> None:
    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    names = set(sub.choices)  # type: ignore[attr-defined]
    assert names == {
        "check",
        "setup-builder",
        "base",
        "build",
        "build-native",
        "push",
        "run",
        "verify",
        "diff",
        "snapshot",
        "info",
        "prune",
        "release",
        "fleet-report",
        "report",
    }
    helps = {a.dest for a in sub._choices_actions}  # type: ignore[attr-defined]
    assert helps == names
