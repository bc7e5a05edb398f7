"""The probe script, run on this machine: time-limited import batches, shells under a pty, torch facts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devbox_conformance import probe, probe_script
from devbox_conformance.expectations import load
from devbox_conformance.target import LocalTarget

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shared_heavy.py").write_text("import os\nos.environ['HEAVY_IMPORTS'] = "
                                              "str(int(os.environ.get('HEAVY_IMPORTS', '0')) + 1)\n")
    (tmp_path / "uses_heavy_a.py").write_text("import shared_heavy, os\nprint(os.environ['HEAVY_IMPORTS'])\n")
    (tmp_path / "uses_heavy_b.py").write_text("import shared_heavy\n")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "crashes.py").write_text("import os\nos._exit(9)\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


def test_imports_hang_and_crash_are_marked_and_the_rest_continue(modules: Path) -> None:
    order = ["uses_heavy_a", "hangs", "uses_heavy_b", "crashes", "raises", "json", "no_such_module"]
    res = probe_script.probe_imports(order, per_import_timeout=2)
    assert res["uses_heavy_a"]["ok"] and res["uses_heavy_b"]["ok"] and res["json"]["ok"]
    assert res["hangs"] == {"ok": False, "error": "import took longer than 2s", "seconds": 2}
    assert not res["crashes"]["ok"]
    assert "interpreter died while importing (exit code 9)" in res["crashes"]["error"]
    assert res["raises"]["error"] == "RuntimeError: boom"
    assert res["no_such_module"]["error"] == "ModuleNotFoundError: No module named 'no_such_module'"


def test_shared_dependency_is_imported_once_per_batch(modules: Path) -> None:
    child = subprocess.run([sys.executable, "-c", probe_script.IMPORT_CHILD, "uses_heavy_a", "uses_heavy_b"],
                           capture_output=True, text=True, check=True)
    events = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    assert [e["module"] for e in events if e["event"] == "done"] == ["uses_heavy_a", "uses_heavy_b"]
    assert "1" in child.stdout.splitlines()  # shared_heavy ran once for both


def test_bash_under_a_pty_has_job_control_and_a_quiet_stderr() -> None:
    run = probe_script.probe_shell({"name": "b", "shell": "bash", "interactive": True, "aliases": ["zz"],
                                    "timeout": 30})
    assert run["available"] and run["exit_code"] == 0 and run["completed"]
    # `bash -i` without a terminal prints "no job control in this shell" on stderr: under the pty it does not
    assert "job control" not in run["stderr"]
    assert run["aliases"]["zz"] is False
    assert run["path"]


def test_torch_cuda_is_read_without_importing_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('torch must not be imported by the probe')\n")
    (pkg / "version.py").write_text(textwrap.dedent("""\
        from typing import Optional
        __version__ = '2.5.0a0+git'
        cuda: Optional[str] = '12.6'
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    # find_spec answers from sys.modules first: a torch imported earlier in this process would win.
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert probe_script.torch_cuda() == {"installed": True, "version": "2.5.0a0+git", "cuda": "12.6"}


def test_collect_facts_locally_for_the_real_contract() -> None:
    model = load(REPO / "expectations", "amd64", "standin")
    facts = probe.collect_facts(LocalTarget(), probe.build_request(model), timeout=600)
    assert facts["probe_version"] == 1 and "python3" in facts["binaries"]
    assert facts["binaries"]["python3"]["version_output"].startswith("Python 3.")
    assert set(facts["shells"]) == {s.name for s in model.shells}
    assert "/etc/devbox/build-manifest.json" in facts["files"]
    request = probe.build_request(model)
    assert request["imports"][0] == "torch"  # heavy shared dependency first, once per batch
    assert "tf_keras" not in request["imports"]  # `import: false`
