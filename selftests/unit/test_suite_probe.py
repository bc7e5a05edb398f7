"""The probe script, run here: time-limited imports side by side, shells under a pty, torch facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from probe_runs import run_probe

from devbox_conformance import probe
from devbox_conformance.arch import local_arch
from devbox_conformance.expectations import load
from devbox_conformance.intarget import basics, packages, python_dists, shells
from devbox_conformance.target import Target

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shared_heavy.py").write_text(
        "import os\nos.environ['HEAVY_IMPORTS'] = str(int(os.environ.get('HEAVY_IMPORTS', '0')) + 1)\n"
    )
    (tmp_path / "uses_heavy_a.py").write_text("import shared_heavy, os\nprint(os.environ['HEAVY_IMPORTS'])\n")
    (tmp_path / "uses_heavy_b.py").write_text("import shared_heavy\n")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "crashes.py").write_text("import os\nos._exit(9)\n")
    (tmp_path / "raises.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "dies_loudly.py").write_text(
        "import os, sys\nsys.stderr.write('fatal: no CUDA driver\\n')\nsys.stderr.flush()\nos._exit(3)\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_imports_hang_and_crash_are_marked_and_the_rest_continue(modules: Path, workers: int) -> None:
    order = ["uses_heavy_a", "hangs", "uses_heavy_b", "crashes", "raises", "json", "no_such_module"]
    res = python_dists.probe_imports(order, per_import_timeout=2, workers=workers)
    assert set(res) == set(order)
    assert res["uses_heavy_a"]["ok"] and res["uses_heavy_b"]["ok"] and res["json"]["ok"]
    assert res["hangs"] == {"ok": False, "error": "import took longer than 2s", "seconds": 2}
    assert not res["crashes"]["ok"]
    assert "interpreter died while importing (exit code 9)" in res["crashes"]["error"]
    assert res["raises"]["error"] == "RuntimeError: boom"
    assert res["no_such_module"]["error"] == "ModuleNotFoundError: No module named 'no_such_module'"


def test_a_crash_is_reported_with_the_last_line_the_interpreter_wrote(modules: Path) -> None:
    res = python_dists.probe_imports(["json", "dies_loudly", "csv"], per_import_timeout=10, workers=1)
    died = res["dies_loudly"]["error"]
    assert died == "interpreter died while importing (exit code 3) fatal: no CUDA driver"
    assert res["json"]["ok"] and res["csv"]["ok"]


def test_a_child_imports_what_it_is_fed_and_a_shared_dependency_once(modules: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", python_dists.IMPORT_CHILD],
        input="uses_heavy_a\nuses_heavy_b\n",
        capture_output=True,
        text=True,
        check=True,
    )
    events = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    assert [e["module"] for e in events if e["event"] == "done"] == ["uses_heavy_a", "uses_heavy_b"]
    assert "1" in child.stdout.splitlines()  # shared_heavy ran once for both


def test_every_child_imports_the_first_module_up_front(modules: Path) -> None:
    log = modules / "imported.log"
    (modules / "counted.py").write_text(f"with open({str(log)!r}, 'a') as f:\n    f.write('x\\n')\n")
    order = ["counted", "json", "re", "csv", "uuid"]
    res = python_dists.probe_imports(order, per_import_timeout=30, workers=2)
    assert all(r["ok"] for r in res.values()) and len(res) == 5
    assert log.read_text().count("x") == 2  # once in each of the two children, before anything else


def test_a_first_module_that_kills_its_interpreter_is_not_imported_up_front_again(modules: Path) -> None:
    res = python_dists.probe_imports(
        ["crashes", "json", "raises", "uses_heavy_a"], per_import_timeout=5, workers=2
    )
    assert "interpreter died while importing (exit code 9)" in res["crashes"]["error"]
    assert res["json"]["ok"] and res["uses_heavy_a"]["ok"]
    assert res["raises"]["error"] == "RuntimeError: boom"


def test_import_workers_never_exceed_the_cpus_we_may_use() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert python_dists.import_workers({"import_workers": 64}) == cpus
    assert python_dists.import_workers({"import_workers": 1}) == 1
    assert python_dists.import_workers({"import_workers": 0}) == 1


def test_bash_under_a_pty_has_job_control_and_a_quiet_stderr() -> None:
    run = shells.probe_shell(
        {"name": "b", "shell": "bash", "interactive": True, "aliases": ["zz"], "timeout": 30}
    )
    assert run["available"] and run["exit_code"] == 0 and run["completed"]
    # `bash -i` without a terminal prints "no job control in this shell" on stderr: under the pty it does not
    assert "job control" not in run["stderr"]
    assert run["aliases"]["zz"] is False
    assert run["path"]


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_alias_names_are_quoted_for_the_shell_and_odd_names_are_never_defined(
    shell: str, tmp_path: Path
) -> None:
    """Before: the name went into the script as is, so `x$(touch FILE)` created FILE in the target, and
    `-p` (lists every alias) and `a=b` (defines one) both exited 0: two aliases reported as defined."""
    planted = tmp_path / "planted"
    names = [f"x$(touch {planted})", f"y`touch {planted}`", "it's", "-p", "a=b", "", "two words", "ll"]
    run = shells.probe_shell({"name": "s", "shell": shell, "aliases": names, "timeout": 30})
    assert run["completed"], run
    assert not planted.exists()
    assert run["aliases"] == dict.fromkeys(names, False)


def test_an_alias_that_is_defined_is_reported_by_its_name(tmp_path: Path) -> None:
    rc = tmp_path / "rc"
    rc.write_text("alias ll='ls -l'\nalias q.x='true'\n")
    script = shells._shell_script(["ll", "q.x", "nope"])
    out = subprocess.run(
        ["sh", "-c", f". {rc}; {script}"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert ["ALIAS 0 1", "ALIAS 1 1", "ALIAS 2 0"] == [
        ln for ln in out.splitlines() if ln.startswith("ALIAS")
    ]


def test_torch_cuda_is_read_without_importing_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "torch"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise SystemExit('torch must not be imported by the probe')\n")
    (pkg / "version.py").write_text(
        textwrap.dedent("""\
        from typing import Optional
        __version__ = '2.5.0a0+git'
        cuda: Optional[str] = '12.6'
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # find_spec answers from sys.modules first: a torch imported earlier in this process would win.
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert basics.torch_cuda() == {"installed": True, "version": "2.5.0a0+git", "cuda": "12.6"}


def test_collect_facts_locally_for_the_real_contract() -> None:
    model = load(REPO / "expectations", "amd64", "standin")
    local = Target("local://", "local", "local", local_arch())
    facts = probe.collect_facts(local, probe.build_request(model), timeout=600)
    assert facts["probe_version"] == 1 and "python3" in facts["binaries"]
    assert facts["binaries"]["python3"]["version_output"].startswith("Python 3.")
    assert set(facts["shells"]) == {s.name for s in model.shells}
    assert "/etc/devbox/build-manifest.json" in facts["files"]
    request = probe.build_request(model)
    assert request["imports"][0] == "torch"  # heavy shared dependency first, once per batch
    assert "tf_keras" not in request["imports"]  # `import: false`


DPKG_STATUS = """\
Package: libx11-dev
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2:1.8.4-2+deb12u2
Description: X11 client-side library (development headers)
 Package: not-a-field (a continuation line of the description)
 Status: deinstall ok config-files

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u9

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u9

Package: ltrace
Status: deinstall ok config-files
Architecture: amd64
Version: 0.7.3-6.4

Package: gdb
Status: install ok unpacked
Architecture: amd64
Version: 13.1-3"""


def test_probe_packages_reads_the_dpkg_status_file_once(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(DPKG_STATUS)  # no blank line at the end: the last stanza still counts
    (tmp_path / "updates").mkdir()
    # dpkg's journal of an interrupted run: applied on top, in order, as dpkg-query does
    (tmp_path / "updates" / "0001").write_text(
        "Package: gdb\nStatus: install ok installed\nArchitecture: amd64\nVersion: 13.1-3\n\n"
    )
    (tmp_path / "updates" / "tmp.i").write_text("Package: gdb\nStatus: purge ok not-installed\n")
    names = ["libx11-dev", "libc6", "libc6:i386", "ltrace", "gdb", "nvtop", "not-a-field"]
    found, error = packages.probe_packages(names, str(status))
    assert error is None
    assert found["libx11-dev"] == [
        {"architecture": "amd64", "status": "install ok installed", "version": "2:1.8.4-2+deb12u2"}
    ]
    assert [r["architecture"] for r in found["libc6"]] == ["amd64", "i386"]
    assert [r["architecture"] for r in found["libc6:i386"]] == ["i386"]
    assert found["ltrace"][0]["status"] == "deinstall ok config-files"
    assert found["gdb"][0]["status"] == "install ok installed"
    assert found["nvtop"] == [] and found["not-a-field"] == []
    assert set(found) == set(names)  # facts only for what was asked


def test_probe_without_a_dpkg_database_records_one_reason(tmp_path: Path) -> None:
    missing = tmp_path / "var" / "lib" / "dpkg" / "status"
    assert packages.probe_packages(["git"], str(missing)) == (
        {},
        f"no dpkg database at {missing}: not a Debian-based target",
    )
    request = {"gatherers": ["packages"], "packages": ["git", "curl"], "dpkg_status": str(missing)}
    facts = run_probe(request)
    assert facts["packages"] == {}
    assert facts["packages_error"] == f"no dpkg database at {missing}: not a Debian-based target"
    # no package asked for: the database is not read at all
    request = {"gatherers": ["packages"], "dpkg_status": str(missing)}
    assert "packages_error" not in run_probe(request)


def test_build_request_names_every_package_item() -> None:
    model = load(REPO / "expectations", "arm64", "standin")
    request = probe.build_request(model)
    assert request["packages"] == [p.name for p in model.packages]
    assert {"libopencv-dev", "build-essential", "fonts-firacode"} <= set(request["packages"])
    assert request["dpkg_status"] == "/var/lib/dpkg/status"
