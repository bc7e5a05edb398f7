"""A base whose pip freeze has an NGC-style ``name @ file:///...`` line keeps that package: a set that
upgrades it fails the build naming it.

NGC installs torch from local wheels under /opt/transfer; the stand-in's freeze has only ``==`` lines. So a
small image is built here FROM the stand-in base with a tiny local wheel installed by
``pip install file:///opt/transfer/...``, then the project's own scripts run as the Dockerfile runs them
(base_constraints.py, then install_pip.py for a set). Offline: PIP_NO_INDEX, wheels from /wheelhouse.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, image_exists

pytestmark = pytest.mark.e2e

BASE = "gpu-devbox-base:bookworm-amd64"
WHEEL = "devboxpin-{version}-py3-none-any.whl"
SCRIPTS = ("base_constraints.py", "install_pip.py", "devbox_sets.py")


def make_wheel(folder: Path, version: str) -> Path:
    """A minimal pure-Python wheel of the distribution ``devboxpin`` at VERSION."""
    info = f"devboxpin-{version}.dist-info"
    files = {
        "devboxpin/__init__.py": f'VERSION = "{version}"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: devboxpin\nVersion: {version}\n",
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: selftest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    path = folder / WHEEL.format(version=version)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def dockerfile(set_step: str) -> str:
    one = WHEEL.format(version="1.0")
    mounts = "--mount=type=bind,source=packages,target=/tmp/devbox-build"
    return "\n".join(
        [
            f"FROM {BASE}",
            "ENV PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
            f"COPY {one} /opt/transfer/{one}",
            f"RUN python3 -m pip install -q --root-user-action=ignore file:///opt/transfer/{one}"
            " && python3 -m pip freeze | grep -x 'devboxpin @ file:///opt/transfer/.*'",
            f"RUN {mounts} python3 -B /tmp/devbox-build/base_constraints.py"
            " --output /opt/devbox/base-constraints.txt && cat /opt/devbox/base-constraints.txt",
            f"RUN {mounts} --mount=type=bind,source=wheelhouse,target=/wheelhouse {set_step}",
            "",
        ]
    )


def build(tmp_path: Path, set_list: str, set_step: str) -> subprocess.CompletedProcess[str]:
    ctx = tmp_path / "ctx"
    (ctx / "packages").mkdir(parents=True)
    (ctx / "wheelhouse").mkdir()
    for script in SCRIPTS:
        shutil.copy(REPO / "packages" / script, ctx / "packages" / script)
    (ctx / "packages" / "list.txt").write_text(set_list, encoding="utf-8")
    make_wheel(ctx, "1.0")
    make_wheel(ctx / "wheelhouse", "2.0")
    (ctx / "Dockerfile").write_text(dockerfile(set_step), encoding="utf-8")
    tag = f"devbox-basepins-e2e:{os.getpid()}"
    try:
        return subprocess.run(
            [DOCKER, "build", "--progress=plain", "--no-cache", "-t", tag, str(ctx)],
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "1"},
            timeout=600,
        )
    finally:
        subprocess.run([DOCKER, "rmi", "-f", tag], capture_output=True)


INSTALL_SET = (
    "python3 -B /tmp/devbox-build/install_pip.py --set python-core --list /tmp/devbox-build/list.txt"
    " --mode core --arch amd64 --records-dir /tmp/sets"
)


@pytest.fixture(autouse=True)
def _needs_base() -> None:
    if not image_exists(BASE):
        pytest.skip(f"needs the stand-in base {BASE} (`./devbox base`)")


def test_a_set_that_upgrades_a_file_installed_base_package_fails_naming_it(tmp_path: Path) -> None:
    """Before: the ``@ file://`` line was dropped, pip upgraded devboxpin to 2.0 and the build passed."""
    proc = build(tmp_path, "devboxpin==2.0\n", INSTALL_SET)
    log = proc.stdout + proc.stderr
    assert "devboxpin==1.0" in log  # the pin the constraints step wrote
    assert proc.returncode != 0, log[-3000:]
    last = [line for line in log.splitlines() if "python-core: pip install failed" in line]
    assert last, log[-3000:]
    assert "Cannot install devboxpin==2.0" in last[-1] and "(base pins: devboxpin==1.0)" in last[-1], last


def test_the_base_check_covers_file_installed_packages(tmp_path: Path) -> None:
    """A change made past the constraints (any pip run without them) is caught by the set's base check."""
    step = (
        f"python3 -m pip install -q --root-user-action=ignore --find-links /wheelhouse devboxpin==2.0"
        f" && {INSTALL_SET}"
    )
    proc = build(tmp_path, "# nothing of its own\n", step)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert "base packages changed despite the constraints: devboxpin 1.0 -> 2.0" in log, log[-3000:]


def test_an_unchanged_base_builds(tmp_path: Path) -> None:
    """The control: the same image with a set that leaves devboxpin alone builds."""
    proc = build(tmp_path, "devboxpin\n", INSTALL_SET)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "1 preinstalled" in log, log[-3000:]
