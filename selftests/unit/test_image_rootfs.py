"""The rootfs overlay as the Dockerfile lays it down: programs keep mode 0755 whatever the checkout's bits,
and the health check never imports from the directory it runs in (the user's project on /workspace).

No Docker: the Dockerfile's COPY lines are read as text, and the health check runs here with the host's
python3 and a fake torch. selftests/e2e/test_rootfs_e2e.py builds the same COPY lines on the real engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEALTHCHECK = REPO / "rootfs" / "usr" / "local" / "bin" / "devbox-healthcheck"
_COPY = re.compile(r"^COPY\s+(?P<flags>(--\S+\s+)*)(?P<src>\S+)\s+(?P<dest>\S+)\s*$")


def rootfs_copies(text: str) -> list[tuple[str, str]]:
    """(source under rootfs/, chmod or "") of each `COPY rootfs...` line, in Dockerfile order."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        found = _COPY.match(line.strip())
        if found and found.group("src").startswith("rootfs"):
            mode = re.search(r"--chmod=(\d+)", found.group("flags") or "")
            out.append((found.group("src"), mode.group(1) if mode else ""))
    return out


def final_mode(path: str, copies: list[tuple[str, str]]) -> str | None:
    """The --chmod of the last COPY whose source holds PATH ("" for none), or None when none copies it."""
    mode = None
    for src, chmod in copies:
        prefix = src.rstrip("/") + "/"
        if path == src or path.startswith(prefix):
            mode = chmod
    return mode


def executables() -> list[str]:
    """rootfs files git records as executable (mode 100755)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout")
    out = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-s", "rootfs"], capture_output=True, text=True, check=True
    ).stdout
    return [line.split("\t", 1)[1] for line in out.splitlines() if line.startswith("100755 ")]


def test_every_program_of_the_rootfs_ends_with_mode_0755() -> None:
    programs = executables()
    assert "rootfs/usr/local/bin/devbox-healthcheck" in programs
    copies = rootfs_copies((REPO / "Dockerfile").read_text(encoding="utf-8"))
    wrong = {p: final_mode(p, copies) for p in programs if final_mode(p, copies) not in ("0755", "755")}
    assert not wrong, f"the last COPY of these does not set 0755: {wrong}"


def test_the_old_order_is_caught() -> None:
    """The defect: --chmod copy first, then the whole tree with the checkout's bits."""
    old = "COPY --chmod=0755 rootfs/usr/local/bin/ /usr/local/bin/\nCOPY rootfs/ /\n"
    assert final_mode("rootfs/usr/local/bin/devbox-healthcheck", rootfs_copies(old)) == ""
    assert final_mode("rootfs/etc/skel/.zshrc", rootfs_copies("COPY rootfs/usr/ /usr/\n")) is None


@pytest.fixture
def torches(tmp_path: Path) -> tuple[Path, Path]:
    """(a site dir with a working torch, a project dir whose torch/ folder raises on import)."""
    site = tmp_path / "site"
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text('__version__ = "0.0-installed"\n')
    project = tmp_path / "workspace"
    (project / "torch").mkdir(parents=True)
    (project / "torch" / "__init__.py").write_text('raise ImportError("the project\'s torch/ folder")\n')
    return site, project


@pytest.mark.parametrize("marker", [False, True], ids=["first-check", "later-checks"])
def test_healthcheck_ignores_a_torch_folder_in_the_working_directory(
    torches: tuple[Path, Path], tmp_path: Path, marker: bool
) -> None:
    site, project = torches
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    if marker:  # a later check only looks torch up; it must stay green with the shadow there too
        (tmp / f".devbox-health-torch-{os.getuid()}").touch()
    env = {**os.environ, "PYTHONPATH": str(site), "TMPDIR": str(tmp)}
    proc = subprocess.run(
        ["bash", str(HEALTHCHECK)], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    if not marker:
        assert proc.stdout.strip() == "ok: torch 0.0-installed"


def test_healthcheck_still_fails_without_torch(tmp_path: Path) -> None:
    """The control: with no torch anywhere the check is red (it does not pass by not looking)."""
    env = {**os.environ, "PYTHONPATH": "", "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(HEALTHCHECK)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "No module named 'torch'" in proc.stderr
