"""Values checked before anything is built (INSTALL_*, IMAGE, TAG, PLATFORMS), and VCS_REF of a dirty tree.

Each mistake is one line naming the variable, exit 2, before any docker call; the same values used to
surface only at their own layer of a build that takes hours, or never (a dirty tree labelled as a commit).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from devbox_build import buildargs, config
from devbox_build.cli import main
from devbox_build.errors import UsageError


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "packages" / "apt").mkdir(parents=True)
    (tmp_path / "packages" / "apt" / "base-tools.txt").write_text("x\n")
    return tmp_path


def _one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("extra", "env", "needle"),
    [
        (
            ["--build-arg", "INSTALL_FLASH_ATTN=ture"],
            {},
            "INSTALL_FLASH_ATTN='ture' (--build-arg) is not a boolean: use one of true, false, 1, 0, yes, no",
        ),
        ([], {"INSTALL_VLLM": "ture"}, "INSTALL_VLLM='ture' (environment) is not a boolean: use one of true"),
        (["--image", "Gpu-Devbox"], {}, "bad IMAGE 'Gpu-Devbox' (--image or env IMAGE): 'Gpu-Devbox' is not"),
        ([], {"IMAGE": "gpu-devbox:v1"}, "bad IMAGE 'gpu-devbox:v1' (--image or env IMAGE): give the name"),
        (["--tag", "v1/x"], {}, "bad TAG 'v1/x' (--tag or env TAG): letters, digits"),
        ([], {"TAG": "-v1"}, "bad TAG '-v1' (--tag or env TAG)"),
        (["--platforms", "linux/arm64/v7"], {}, "bad platform 'linux/arm64/v7'"),
    ],
)
@pytest.mark.parametrize("command", ["build", "release"])
def test_bad_values_are_one_line_before_any_build(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    context: Path,
    command: str,
    extra: list[str],
    env: dict[str, str],
    needle: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # Any docker call would be a build starting: make it fail loudly instead.
    monkeypatch.setattr("devbox_build.docker.Docker.detect", lambda *a, **k: pytest.fail("docker reached"))
    err = _one_line(capsys, [command, "--context", str(context), *extra])
    assert needle in err


@pytest.mark.parametrize("value", ["true", "FALSE", "1", "0", "yes", "No", "on", "off", ""])
def test_booleans_the_build_understands_pass(value: str) -> None:
    buildargs.check_switches({"INSTALL_SHELL": value, "OTHER": "ture"}, "--build-arg")


@pytest.mark.parametrize(
    "image",
    [
        "gpu-devbox",
        "ghcr.io/team/gpu-devbox",
        "localhost:5000/gpu-devbox",
        "127.0.0.1:5000/a/b__c",
        "registry.example.com:443/x-y.z",
        "a--b",
        "[::1]:5000/gpu-devbox",
    ],
)
def test_good_image_names(image: str) -> None:
    assert config.check_image(image) == image


@pytest.mark.parametrize(
    "image",
    [
        "",
        "Gpu",
        "a/",
        "/a",
        "a//b",
        "a_",
        "-a",
        "a___b",
        "ghcr.io/Team/x",
        "x@sha256:ab",
        "My.Reg/x:y",
        "a" * 256,
    ],
)
def test_bad_image_names(image: str) -> None:
    with pytest.raises(UsageError, match="bad IMAGE"):
        config.check_image(image)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "2026.11-rc_1", "_x", "A" * config.MAX_TAG])
def test_good_tags(tag: str) -> None:
    assert config.check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a:b", "a b", "é", "A" * (config.MAX_TAG + 1)])
def test_bad_tags(tag: str) -> None:
    with pytest.raises(UsageError, match="bad TAG"):
        config.check_tag(tag)


@pytest.mark.parametrize(
    ("text", "arches"),
    [("linux/arm64/v8", ("arm64",)), ("linux/amd64,linux/arm64/v8", ("amd64", "arm64"))],
)
def test_arm64_v8_is_arm64(text: str, arches: tuple[str, ...]) -> None:
    assert config.parse_platforms(text) == arches


@pytest.mark.parametrize("text", ["linux/arm64/v7", "linux/amd64/v8", "arm64/v8", "linux/arm/v8"])
def test_other_variants_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="bad platform"):
        config.parse_platforms(text)


def _git(repo: Path, *argv: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *argv],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.delenv("VCS_REF", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "Dockerfile").write_text("FROM scratch\n")
    (repo / ".gitignore").write_text("logs/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return repo, head


def test_vcs_ref_of_a_clean_tree_is_the_commit(checkout: tuple[Path, str]) -> None:
    repo, head = checkout
    (repo / "logs").mkdir()
    (repo / "logs" / "build.log").write_text("ignored by git\n")
    assert config.vcs_ref(repo) == head


@pytest.mark.parametrize("change", ["modified", "staged", "deleted", "untracked"])
def test_vcs_ref_of_a_dirty_tree_says_so(checkout: tuple[Path, str], change: str) -> None:
    repo, head = checkout
    if change == "modified":
        (repo / "Dockerfile").write_text("FROM scratch\nLABEL x=1\n")
    elif change == "staged":
        (repo / "new.txt").write_text("x\n")
        _git(repo, "add", "new.txt")
    elif change == "deleted":
        (repo / "Dockerfile").unlink()
    else:
        (repo / "scratch.txt").write_text("x\n")
    assert config.vcs_ref(repo) == f"{head}-dirty"


def test_vcs_ref_given_wins(checkout: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = checkout
    (repo / "scratch.txt").write_text("x\n")
    monkeypatch.setenv("VCS_REF", "release-1")
    assert config.vcs_ref(repo) == "release-1"
