"""packages/base_constraints.py and install_pip.py's base check: every base package is pinned, also those
NGC installs from local wheels (``torch @ file:///opt/transfer/...``), and a set that changes one fails.

pip and the image's Python are replaced by a freeze text and an installed-versions map here; the real run
is the image build (selftests/e2e/test_base_pins_e2e.py builds a small one on the stand-in base).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]

NGC_TORCH = "torch @ file:///opt/transfer/torch-2.6.0a0+ecf3bae40a.nv25.1-cp312-cp312-linux_x86_64.whl"
NGC_FREEZE = f"""\
absl-py==2.1.0
numpy==1.26.4
{NGC_TORCH}
flash_attn @ file:///opt/transfer/flash_attn-2.4.2-cp312-cp312-linux_x86_64.whl
-e git+https://github.com/NVIDIA/apex@810ffae374a2b9cb4b5c5e28eaeca7d7998fca0c#egg=apex
# Editable install with no version control (transformer_engine==1.13.0+e5edd6c)
-e /opt/transformer_engine
/opt/somewhere/odd
"""
NGC_INSTALLED = {
    "absl-py": "2.1.0",
    "numpy": "1.26.4",
    "torch": "2.6.0a0+ecf3bae40a.nv25.1",
    "flash-attn": "2.4.2",
    "apex": "0.1",
    "transformer-engine": "1.13.0+e5edd6c",
}


@pytest.fixture
def bc(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "packages"))
    monkeypatch.delitem(sys.modules, "base_constraints", raising=False)
    import base_constraints  # noqa: PLC0415 - packages/ is not a package; put on sys.path above

    return base_constraints


@pytest.fixture
def ip(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "packages"))
    for name in ("install_pip", "devbox_sets"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import install_pip  # noqa: PLC0415 - packages/ is not a package; put on sys.path above

    return install_pip


def test_direct_references_are_pinned_at_their_installed_version(bc: ModuleType) -> None:
    kept, resolved, dropped = bc.constraints(NGC_FREEZE.splitlines(), NGC_INSTALLED)
    assert kept == [
        "absl-py==2.1.0",
        "numpy==1.26.4",
        "torch==2.6.0a0+ecf3bae40a.nv25.1",
        "flash_attn==2.4.2",
        "apex==0.1",
        "transformer_engine==1.13.0+e5edd6c",
    ]
    assert NGC_TORCH in resolved and len(resolved) == 4
    assert dropped == ["/opt/somewhere/odd"]


def test_a_direct_reference_without_an_installed_version_stops_the_build(bc: ModuleType) -> None:
    installed = {k: v for k, v in NGC_INSTALLED.items() if k != "torch"}
    with pytest.raises(SystemExit, match=r"cannot pin torch: pip freeze lists it \(torch @ file:///opt"):
        bc.constraints(NGC_FREEZE.splitlines(), installed)


def test_a_version_pep440_cannot_order_is_an_exact_pin(
    bc: ModuleType, ip: ModuleType, tmp_path: Path
) -> None:
    kept, _, _ = bc.constraints(["oddpkg @ file:///w/oddpkg.whl", "fine==1.0"], {"oddpkg": "1.0-custom_x"})
    assert kept == ["oddpkg===1.0-custom_x", "fine==1.0"]
    path = tmp_path / "c.txt"
    path.write_text(bc.render(kept, [], [], "x"), encoding="utf-8")
    assert ip.base_pins(path) == {"oddpkg": "1.0-custom_x", "fine": "1.0"}


@pytest.mark.parametrize(
    "version", ["2.6.0a0+ecf3bae40a.nv25.1", "1!2.0.post1.dev3", "25.1rc1", "v1.0", "1.13.0+e5edd6c"]
)
def test_pep440_versions_keep_double_equals(bc: ModuleType, version: str) -> None:
    assert bc.pin("x", version) == f"x=={version}"


def test_ngc_freeze_round_trip_a_set_that_replaces_torch_fails_naming_it(
    bc: ModuleType, ip: ModuleType, tmp_path: Path
) -> None:
    """The false green of the issue: with file:// lines dropped, torch had no pin and a change passed."""
    kept, resolved, dropped = bc.constraints(NGC_FREEZE.splitlines(), NGC_INSTALLED)
    path = tmp_path / "base-constraints.txt"
    path.write_text(bc.render(kept, resolved, dropped, bc.describe_ngc_file(tmp_path / "none")), "utf-8")
    pins = ip.base_pins(path)
    assert pins["torch"] == "2.6.0a0+ecf3bae40a.nv25.1"
    assert ip.changed_base(pins, dict(NGC_INSTALLED)) is None
    after = {**NGC_INSTALLED, "torch": "2.7.0"}
    assert ip.changed_base(pins, after) == (
        "base packages changed despite the constraints: torch 2.6.0a0+ecf3bae40a.nv25.1 -> 2.7.0"
    )
    gone = {k: v for k, v in NGC_INSTALLED.items() if k != "flash-attn"}
    assert ip.changed_base(pins, gone) == (
        "base packages changed despite the constraints: flash-attn 2.4.2 -> removed"
    )


def test_ngc_constraint_file_is_described_never_relied_on(bc: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "constraint.txt"
    assert bc.describe_ngc_file(path).endswith(": absent")
    path.write_text("\n# only a comment\n\n", encoding="utf-8")
    assert "empty (as NGC ships it from 25.10 on)" in bc.describe_ngc_file(path)
    path.write_text("torch==2.6.0\nnumpy==1.26.4\n", encoding="utf-8")
    assert "2 lines, applied by pip through PIP_CONSTRAINT" in bc.describe_ngc_file(path)


def test_main_writes_the_pins_and_reports_the_ngc_file(
    bc: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert argv[1:] == ["-m", "pip", "freeze"]
        return subprocess.CompletedProcess(argv, 0, NGC_FREEZE, "")

    monkeypatch.setattr(bc.subprocess, "run", fake_run)
    monkeypatch.setattr(bc, "installed_versions", lambda: dict(NGC_INSTALLED))
    (tmp_path / "constraint.txt").write_text("", encoding="utf-8")
    out = tmp_path / "opt" / "base-constraints.txt"
    assert bc.main(["--output", str(out), "--ngc-constraints", str(tmp_path / "constraint.txt")]) == 0
    text = out.read_text(encoding="utf-8")
    assert "torch==2.6.0a0+ecf3bae40a.nv25.1\n" in text
    assert f"# pinned at its installed version: {NGC_TORCH}\n" in text
    assert "constraint.txt: empty" in text
    log = capsys.readouterr().out
    assert (
        "6 constraints (4 pinned at their installed version from direct references), 1 lines dropped" in log
    )


def test_installed_versions_reads_this_interpreter(bc: ModuleType) -> None:
    found = bc.installed_versions()
    assert found["pytest"] == pytest.__version__


def test_nightly_runs_without_any_constraints(ip: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """NGC 25.03-25.09 set PIP_CONSTRAINT to a file pinning torch: the opt-in nightly must clear it."""
    calls: list[dict[str, str] | None] = []

    def fake_run(
        argv: list[str], *, timeout: float | None = None, env: dict[str, str] | None = None
    ) -> object:
        calls.append(env)
        assert "--constraint" not in argv
        return ip.ds.Result(1, ("ERROR: offline",), 0.0)

    monkeypatch.setattr(ip.ds, "run", fake_run)
    monkeypatch.setattr(ip, "installed_dists", lambda: {"torch": "2.6.0"})
    pip = ip.Pip(Path("/opt/devbox/base-constraints.txt"), None)
    assert ip.install_nightly(pip, "12.8", 10)["state"] == "failed"
    assert calls == [{"PIP_CONSTRAINT": ""}]


def test_a_conflict_with_a_base_pin_names_the_package(ip: ModuleType) -> None:
    """pip's last ERROR line (ResolutionImpossible) names nothing; the reason must name the package."""
    tail = (
        "ERROR: Cannot install torch==2.7.0 because these package versions have conflicting dependencies.",
        "",
        "The conflict is caused by:",
        "    The user requested torch==2.7.0",
        "    The user requested (constraint) torch==2.6.0a0+ecf3bae40a.nv25.1",
        "",
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/",
    )
    reason = ip.failure_reason(ip.ds.Result(1, tail, 1.0))
    assert reason == (
        "ERROR: Cannot install torch==2.7.0 because these package versions have conflicting dependencies."
        " (base pins: torch==2.6.0a0+ecf3bae40a.nv25.1)"
    )
