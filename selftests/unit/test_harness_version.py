"""`devbox --version`: the installed distribution's version, else the checkout's pyproject.toml."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from devbox_build import config, version
from devbox_build.cli import main


def _not_installed(name: str) -> str:
    raise metadata.PackageNotFoundError(name)


def test_version_flag_prints_devbox_and_the_installed_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: {"gpu-devbox": "9.8.7"}[name])
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == "devbox 9.8.7\n"


def test_checkout_without_install_reads_pyproject(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(metadata, "version", _not_installed)
    with pytest.raises(SystemExit):
        main(["--version"])
    want = version.checkout_version(config.REPO_ROOT / "pyproject.toml")
    assert want and want[0].isdigit()
    assert capsys.readouterr().out == f"devbox {want}\n"


def test_checkout_version_reads_the_project_table_only(tmp_path: Path) -> None:
    py = tmp_path / "pyproject.toml"
    py.write_text(
        '[tool.other]\nversion = "0.0.0"\n\n[project]\nname = "gpu-devbox"\nversion = "1.2.3"\n'
        '\n[tool.x]\nversion = "4"\n'
    )
    assert version.checkout_version(py) == "1.2.3"
    py.write_text('[project]\nname = "gpu-devbox"\ndynamic = ["version"]\n[tool.x]\nversion = "4"\n')
    assert version.checkout_version(py) is None
    assert version.checkout_version(tmp_path / "missing.toml") is None


def test_unknown_when_neither(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(metadata, "version", _not_installed)
    assert version.version(tmp_path / "pyproject.toml") == "unknown"
