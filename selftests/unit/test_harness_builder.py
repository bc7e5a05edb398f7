"""Harness build plumbing: the docker build command line, wheelhouse staging, progress, base recipe.

No Docker: commands are assembled and inspected, never run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from devbox_build.builder import BuildRequest, build_command, staged_wheelhouse
from devbox_build.commands import base
from devbox_build.docker import Docker
from devbox_build.errors import UsageError
from devbox_build.progress import StepProgress, open_log

LEGACY = Docker("/usr/bin/docker", buildx=False)
BUILDX = Docker("/usr/local/bin/docker", buildx=True)


def _req(tmp_path: Path, **kw: object) -> BuildRequest:
    defaults: dict[str, object] = dict(
        context=tmp_path,
        dockerfile=tmp_path / "Dockerfile",
        tags=["gpu-devbox:local"],
        platforms=["amd64"],
        build_args={"VCS_REF": "abc"},
        secrets={"ca": Path("/etc/ca.pem")},
    )
    defaults.update(kw)
    return BuildRequest(**defaults)  # type: ignore[arg-type]


def test_buildkit_command_without_buildx(tmp_path: Path) -> None:
    cmd = build_command(LEGACY, _req(tmp_path), tmp_path / "iid")
    assert cmd[:2] == ["/usr/bin/docker", "build"]
    assert "--progress=plain" in cmd
    assert cmd[cmd.index("--iidfile") + 1] == str(tmp_path / "iid")
    assert cmd[cmd.index("--platform") + 1] == "linux/amd64"
    assert cmd[cmd.index("--secret") + 1] == "id=ca,src=/etc/ca.pem"
    assert cmd[cmd.index("--build-arg") + 1] == "VCS_REF=abc"
    assert cmd[cmd.index("--tag") + 1] == "gpu-devbox:local"
    assert cmd[-1] == str(tmp_path) and "--load" not in cmd


def test_buildkit_refuses_multi_platform(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="needs buildx"):
        build_command(LEGACY, _req(tmp_path, platforms=["amd64", "arm64"]), tmp_path / "iid")


def test_buildx_single_arch_loads(tmp_path: Path) -> None:
    cmd = build_command(BUILDX, _req(tmp_path, builder="b1"), tmp_path / "iid")
    assert cmd[:5] == ["/usr/local/bin/docker", "buildx", "build", "--builder", "b1"]
    assert "--load" in cmd and "--push" not in cmd


def test_buildx_multi_arch_goes_to_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    req = _req(tmp_path, platforms=["amd64", "arm64"], cache_dir=cache)
    cmd = build_command(BUILDX, req, tmp_path / "iid")
    assert cmd[cmd.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert f"type=local,dest={cache},mode=max" in cmd and "--load" not in cmd
    assert not any(c.startswith("type=local,src=") for c in cmd)  # no index.json yet: nothing to read
    (cache / "index.json").write_text("{}")
    assert f"type=local,src={cache}" in build_command(BUILDX, req, tmp_path / "iid")


def test_buildx_push(tmp_path: Path) -> None:
    cmd = build_command(BUILDX, _req(tmp_path, platforms=["amd64", "arm64"], push=True), tmp_path / "iid")
    assert "--push" in cmd and "--load" not in cmd


def test_wheelhouse_staged_then_removed(tmp_path: Path) -> None:
    src = tmp_path / "wheels"
    src.mkdir()
    (src / "a-1-py3-none-any.whl").write_text("a")
    (src / "notes.txt").write_text("not a wheel")
    ctx = tmp_path / "ctx"
    (ctx / "wheelhouse").mkdir(parents=True)
    (ctx / "wheelhouse" / "README.md").write_text("kept")
    (ctx / "wheelhouse" / "mine-1-py3-none-any.whl").write_text("kept too")
    with staged_wheelhouse(ctx, src) as added:
        assert [p.name for p in added] == ["a-1-py3-none-any.whl"]
        assert (ctx / "wheelhouse" / "a-1-py3-none-any.whl").read_text() == "a"
        assert not (ctx / "wheelhouse" / "notes.txt").exists()
    assert sorted(p.name for p in (ctx / "wheelhouse").iterdir()) == ["README.md", "mine-1-py3-none-any.whl"]
    assert (src / "a-1-py3-none-any.whl").exists()


def test_wheelhouse_removed_on_failure_and_interrupt(tmp_path: Path) -> None:
    src = tmp_path / "wheels"
    src.mkdir()
    (src / "a-1-py3-none-any.whl").write_text("a")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    for exc in (RuntimeError("build failed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), staged_wheelhouse(ctx, src):
            assert (ctx / "wheelhouse" / "a-1-py3-none-any.whl").exists()
            raise exc
        # the folder did not exist before, so it is gone again
        assert not (ctx / "wheelhouse").exists()


def test_progress_counts_steps(tmp_path: Path) -> None:
    shown: list[str] = []
    p = StepProgress(echo=shown.append)
    for line in [
        "#1 [internal] load build definition from Dockerfile",
        "#5 [1/3] FROM docker.io/library/base",
        "#6 [2/3] RUN apt-get update",
        "#6 0.512 Get:1 http://deb.debian.org bookworm InRelease",
        "#6 DONE 12.3s",
        "#8 [4/4] COPY x /",
        "#8 CACHED",
        "#7 [3/3] RUN false",
        '#7 ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
    ]:
        p.feed(line)
    assert shown == [
        "  [1/3] FROM docker.io/library/base",
        "  [2/3] RUN apt-get update",
        "  [2/3] DONE 12.3s",
        "  [4/4] COPY x /",
        "  [3/3] RUN false",
        '  [3/3] ERROR: process "/bin/sh -c false" did not complete successfully: exit code: 1',
    ]
    assert p.last_step == "[3/3] RUN false" and p.cached == 1
    padded: list[str] = []
    q = StepProgress(echo=padded.append)
    q.feed("#8 [ 2/14] RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists true")
    q.feed("#9 [stage-1  3/14] COPY rootfs/ /")
    assert [s.split(" RUN")[0].split(" COPY")[0] for s in padded] == ["  [2/14]", "  [3/14]"]
    path, fh = open_log(tmp_path, "build-amd64")
    fh.close()
    assert path.parent == tmp_path and path.name.startswith("build-amd64-")


def test_base_torch_from_matching_wheel(tmp_path: Path) -> None:
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_text("")
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl").write_text("")
    (tmp_path / "torch-2.13.0-cp312-cp312-manylinux_2_28_x86_64.whl").write_text("")
    src = base.torch_source("amd64", tmp_path, None)
    assert src.requirement == "torch==2.13.0+cpu" and src.wheel is not None and "x86_64" in src.wheel.name
    assert base.torch_source("arm64", tmp_path, None).wheel.name.endswith("aarch64.whl")  # type: ignore[union-attr]


def test_base_torch_from_pypi_without_wheel(tmp_path: Path) -> None:
    arm = base.torch_source("arm64", tmp_path, None)
    assert (arm.requirement, arm.wheel, arm.index_url) == ("torch==2.9.1", None, "")
    assert base.torch_source("amd64", None, None).index_url.endswith("/whl/cpu")
    assert base.torch_source("arm64", None, "torch==2.8.0").requirement == "torch==2.8.0"


def test_base_dockerfile_keeps_ca_out_of_layers() -> None:
    text = base.dockerfile_text(base.TorchSource("torch==2.13.0+cpu", None, ""))
    assert text.startswith("FROM scratch\nADD rootfs.tar /\n")
    assert "--mount=type=secret,id=ca" in text and "PIP_CERT=/run/secrets/ca" in text
    assert "COPY" not in text and "'torch==2.13.0+cpu'" in text
    assert "LABEL io.github.gpu-devbox.base-kind=standin" in text
    assert "pip install" not in base.dockerfile_text(None)


def test_base_cache_key_depends_on_inputs() -> None:
    a = base.cache_key("amd64", "bookworm", base.DEFAULT_MIRROR)
    assert a != base.cache_key("arm64", "bookworm", base.DEFAULT_MIRROR)
    assert a != base.cache_key("amd64", "trixie", base.DEFAULT_MIRROR)
    assert a == base.cache_key("amd64", "bookworm", base.DEFAULT_MIRROR)


def test_cuda_base_takes_pypis_cuda_torch_and_keeps_its_downloads_in_a_cache_mount() -> None:
    src = base.torch_source("amd64", None, None, cuda=True)
    assert src.cuda and src.index_url == "" and src.requirement == base.CUDA_TORCH
    text = base.dockerfile_text(src)
    install = next(line for line in text.splitlines() if "pip install" in line)
    assert "--mount=type=cache,id=devbox-pip-cuda,target=/root/.cache/pip" in install
    assert "--no-cache-dir" not in install and "'nvidia-cuda-nvcc-cu12==12.8.*'" in install
    assert "--index-url" not in install  # PyPI's default build of torch is the CUDA one
    # The CPU stand-in keeps pip's cache out of the image and off the machine.
    assert "--no-cache-dir" in base.dockerfile_text(base.torch_source("amd64", None, None))


def test_cuda_base_is_amd64_only() -> None:
    with pytest.raises(UsageError, match="amd64 only"):
        base.torch_source("arm64", None, None, cuda=True)


def test_installed_without_a_checkout_asks_for_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed from a wheel, the harness's own root holds no Dockerfile: one line says what to pass.
    from devbox_build import builder, config  # noqa: PLC0415

    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    with pytest.raises(UsageError, match="pass --context DIR"):
        builder.dockerfile_path(tmp_path, "Dockerfile")
    other = tmp_path / "elsewhere"
    other.mkdir()
    with pytest.raises(UsageError, match="Dockerfile not found"):
        builder.dockerfile_path(other, "Dockerfile")
    assert config.log_dir({}) == Path.cwd() / "logs"  # never inside the Python installation
