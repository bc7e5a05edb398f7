"""The suite as a team uses it from its own repository: the shipped contract, `extends:`, its own baselines,
and what a run collects (performance only when asked, nothing started by --collect-only). No Docker."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from file_trees import write_tree
from plugin_runs import run_plugin

from devbox_conformance import expectations as exp
from devbox_conformance.performance import baselines as bl

pytest_plugins = ["pytester"]


def _team(tmp_path: Path, common: dict, **files: str) -> Path:
    team = tmp_path / "team"
    team.mkdir()
    return write_tree(team, {"common.yaml": yaml.safe_dump(common, sort_keys=False), **files})


def test_the_shipped_contract_is_package_data() -> None:
    assert (exp.SHIPPED_DIR / "common.yaml").is_file() and (exp.SHIPPED_DIR / "amd64.yaml").is_file()
    assert (bl.default_dir() / "h200.yaml").is_file()
    from devbox_conformance.plugin import CONTRACT_DIR  # noqa: PLC0415

    assert (CONTRACT_DIR / "test_binaries.py").is_file()
    assert (CONTRACT_DIR / "performance" / "conftest.py").is_file()


def test_extends_adds_overrides_and_removes_without_copying(tmp_path: Path) -> None:
    shipped = exp.load(exp.SHIPPED_DIR, "amd64", "standin")
    first, second = shipped.binaries[0].name, shipped.binaries[1].name
    team = _team(
        tmp_path,
        {
            "extends": "gpu-devbox",
            "binaries": [
                {"name": "team-tool", "version": ">=1.0"},
                {"name": first, "optional": True, "reason": "the team does without it"},
                {"name": second, "remove": True},
            ],
        },
    )
    model = exp.load(team, "amd64", "standin")
    names = [b.name for b in model.binaries]
    assert "team-tool" in names and second not in names
    assert next(b for b in model.binaries if b.name == first).optional
    assert model.count() == shipped.count()  # one added, one removed
    assert model.files[: len(shipped.files)] == shipped.files and model.files[-1].endswith("team/common.yaml")


def test_extends_a_directory_path_and_its_overlays_order(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "common.yaml").write_text("env:\n  - name: A\n    value: base\n")
    (base / "amd64.yaml").write_text("env:\n  - name: A\n    value: base-amd64\n")
    team = _team(tmp_path, {"extends": "../base"}, **{"amd64.yaml": "env:\n  - name: A\n    value: team\n"})
    model = exp.load(team, "amd64", "other")
    assert [e.value for e in model.env] == ["team"]
    assert [Path(f).name for f in model.files] == ["common.yaml", "amd64.yaml", "common.yaml", "amd64.yaml"]


@pytest.mark.parametrize(
    "value, words",
    [
        ("no-such-dir", "extends: 'no-such-dir': no common.yaml in"),
        (3, "extends: expected 'gpu-devbox', a shipped profile (gpu-node) or a directory path, got 3"),
    ],
)
def test_a_bad_extends_is_one_line(tmp_path: Path, value: object, words: str) -> None:
    team = _team(tmp_path, {"extends": value, "env": [{"name": "A"}]})
    with pytest.raises(exp.ExpectationsError) as err:
        exp.load(team, "amd64", "other")
    assert words in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).split(":")[0].endswith("common.yaml")


def test_an_extends_cycle_is_an_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "common.yaml").write_text("extends: ../b\nenv:\n  - name: A\n")
    (b / "common.yaml").write_text("extends: ../a\nenv:\n  - name: B\n")
    with pytest.raises(exp.ExpectationsError, match="a cycle"):
        exp.load(a, "amd64", "other")


def test_team_baselines_add_to_and_replace_the_shipped_ones(tmp_path: Path) -> None:
    shipped = bl.load_dir(bl.default_dir())
    team = tmp_path / "baselines"
    team.mkdir()
    text = (bl.default_dir() / "h200.yaml").read_text()
    (team / "h200.yaml").write_text(text)
    (team / "h200-team.yaml").write_text(text.replace("NVIDIA H200", "NVIDIA H200 TEAM"))
    merged = bl.load_dirs([bl.default_dir(), team])
    assert len(merged.gpus) == len(shipped.gpus) + 1 and merged.cpus == shipped.cpus


def _collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return run_plugin(pytester, "--hosts", "local://", "--collect-only", "-q", *args)


def test_an_empty_directory_collects_the_shipped_contract_and_no_performance(
    pytester: pytest.Pytester,
) -> None:
    result = _collect(pytester)
    text = result.stdout.str()
    assert result.ret == 0, text
    assert "test_binaries.py::test_binary[" in text and "test_package[" in text
    assert "test_cpu_figure" not in text and "test_gpu_figure" not in text
    assert "devbox: probe" not in text  # --collect-only runs no probe


@pytest.mark.parametrize("ask", [["--perf"], ["-m", "performance"]])
def test_performance_runs_when_asked(pytester: pytest.Pytester, ask: list[str]) -> None:
    text = _collect(pytester, *ask).stdout.str()
    assert "test_cpu_figure[" in text


def test_a_team_directory_runs_beside_the_contract_and_no_contract_drops_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_team="def test_mine(host):\n    assert host.exists('sh')\n")
    text = _collect(pytester).stdout.str()
    assert "test_team.py::test_mine[local]" in text and "test_binary[" in text
    only = _collect(pytester, "--no-contract", "test_team.py").stdout.str()
    assert "test_mine" in only and "test_binary[" not in only
