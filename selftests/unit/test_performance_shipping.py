"""How in-target code travels: one exec that carries its modules, and nothing in a target written twice.

The probe, the benchmark scripts and the peer benchmark's checker all reach a target as ONE `python3 -c`
source made by `probe.package_source`: an importer serving modules from a dict, then an entry. These pin
down what each carries, that the entry runs as it would here, and that the pty runner and the timing
summary exist once (intarget/ptyrun.py, intarget/stats.py) for all of them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from devbox_conformance import intarget, probe
from devbox_conformance.performance.measure import script_source

REPO = Path(__file__).resolve().parents[2]
INTARGET = REPO / "src" / "devbox_conformance" / "intarget"


def served(source: str) -> dict[str, str]:
    """The SOURCES dict a packed source serves, read back from its text."""
    line = next(ln for ln in source.splitlines() if ln.startswith("SOURCES = "))
    return ast.literal_eval(line.removeprefix("SOURCES = "))


def run_packed(source: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """As a target runs it: its own interpreter, nothing of this project importable (-I -S)."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", source, *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


@pytest.mark.parametrize(
    ("script", "modules"),
    [
        ("cpu_bench", {"benchout", "ptyrun", "stats"}),
        ("gpu_bench", {"benchout", "smi", "stats", "text"}),
    ],
)
def test_a_script_carries_itself_and_the_in_target_modules_it_imports(script: str, modules: set[str]) -> None:
    sources = served(script_source(script))
    entry = f"devbox_conformance.performance.{script}"
    carried = {f"devbox_conformance.intarget.{m}" for m in modules}
    assert set(sources) == {
        entry,
        "devbox_conformance",
        "devbox_conformance.performance",
        "devbox_conformance.intarget",
        *carried,
    }
    performance = REPO / "src" / "devbox_conformance" / "performance"
    assert sources[entry] == (performance / f"{script}.py").read_text()
    for m in modules:
        assert sources[f"devbox_conformance.intarget.{m}"] == (INTARGET / f"{m}.py").read_text()
    # parents with no code of their own are served empty, never this machine's copy
    assert sources["devbox_conformance"] == sources["devbox_conformance.performance"] == ""


def test_the_probe_carries_the_whole_package_under_its_own_name() -> None:
    sources = served(probe.PROBE_SOURCE)
    assert set(sources) == {probe.INTARGET_PACKAGE} | {
        f"{probe.INTARGET_PACKAGE}.{p.stem}" for p in INTARGET.glob("*.py") if p.stem != "__init__"
    }
    assert "ENTRY = 'devbox_intarget.main:main'" in probe.PROBE_SOURCE


def test_imports_are_followed_through_the_package(tmp_path: Path) -> None:
    """An absolute import of one gatherer brings that module and what it imports relatively."""
    extra = "import sys\nfrom devbox_conformance.intarget import shells\nprint(shells.BEGIN, sys.argv[1:])\n"
    source = probe.package_source(
        "tool", package=intarget.__name__, extra_modules={"tool": extra}, whole_package=False
    )
    names = set(served(source))
    assert {
        "devbox_conformance.intarget.shells",
        "devbox_conformance.intarget.ptyrun",
        "devbox_conformance.intarget.text",
    } <= names
    assert not names & {"devbox_conformance.intarget.main", "devbox_conformance.intarget.stats"}
    run = run_packed(source, "a", "b", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "__DEVBOX_PROBE_BEGIN__ ['a', 'b']\n"  # a bare module runs as __main__ would


def test_a_function_entry_gets_argv_and_gives_the_exit_status(tmp_path: Path) -> None:
    extra = (
        "import importlib.util\n\ndef main(argv):\n"
        "    spec = importlib.util.find_spec('devbox_conformance.intarget.stats')\n"
        "    print(len(argv), 'def summarize' in spec.loader.get_source(spec.name))\n"
        "    return 7\n"
    )
    extra += "from devbox_conformance.intarget import stats\n"
    source = probe.package_source(
        "tool:main", package=intarget.__name__, extra_modules={"tool": extra}, whole_package=False
    )
    run = run_packed(source, "x", cwd=tmp_path)
    # argv is ["-c", "x"]; the importer answers get_source for a module it serves
    assert (run.returncode, run.stdout) == (7, "2 True\n"), run.stderr


def test_the_probe_still_runs_from_its_packed_source(tmp_path: Path) -> None:
    run = run_packed(probe.PROBE_SOURCE, json.dumps({"gatherers": ["env"]}), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "PATH" in json.loads(run.stdout)["env"]


def _calls(path: Path) -> set[str]:
    """Dotted names of what a file calls (`os.openpty`, `statistics.quantiles`, ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            found.add(f"{node.func.value.id}.{node.func.attr}")
    return found


def test_one_pty_runner_and_one_summary_for_everything_that_runs_in_a_target() -> None:
    """Guards against a pty runner written three times (probe, cpu_bench, peer checker), a summary twice."""
    pty_calls = {"os.openpty", "pty.openpty", "pty.fork", "os.forkpty", "pty.spawn"}
    files = [*(REPO / "src" / "devbox_conformance").rglob("*.py"), *(REPO / "bench").glob("*.py")]
    opens_pty = sorted(p.relative_to(REPO).as_posix() for p in files if _calls(p) & pty_calls)
    assert opens_pty == ["src/devbox_conformance/intarget/ptyrun.py"]
    scripts = [
        *INTARGET.glob("*.py"),
        *(REPO / "src" / "devbox_conformance" / "performance").glob("*.py"),
        REPO / "bench" / "incontainer_check.py",
    ]
    quartiles = sorted(p.relative_to(REPO).as_posix() for p in scripts if "statistics.quantiles" in _calls(p))
    assert quartiles == ["src/devbox_conformance/intarget/stats.py"]
