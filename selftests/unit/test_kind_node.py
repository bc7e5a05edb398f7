"""The node kind and devbox-node-check, on this machine against emulated GPUs: the fixture's scripted
nvidia-smi and nvidia-container-cli (selftests/fixtures/emulated_gpu/bin) answer with nvidia-smi's real
query field names, and each defect of a node is one override. No GPU exists here, so this proves the path
(gatherer, facts, checks, the health check's exit and output) and the verdicts, not any GPU."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devbox_conformance import expectations as exp
from devbox_conformance import nodecheck
from devbox_conformance.kinds import node as node_kind
from devbox_conformance.kinds import verdict

REPO = Path(__file__).resolve().parents[2]
EMULATED_BIN = REPO / "selftests" / "fixtures" / "emulated_gpu" / "bin"
PROFILE = REPO / "expectations" / "profiles" / "gpu-node"
# Every item name the kind declares; the shipped profile must check each of them.
NODE_ITEMS = node_kind.NAMES


def _team(tmp_path: Path, extra: str = "") -> Path:
    """A team's node group: the shipped profile with 8 GPUs pinned."""
    team = tmp_path / "team"
    team.mkdir()
    (team / "common.yaml").write_text(f"extends: gpu-node\nnode:\n  - {{name: count, count: 8}}\n{extra}")
    return team


def _run(tmp_path: Path, emu: str, *args: str, path: str | None = None) -> tuple[int, dict, str]:
    """devbox-node-check in a child (as Slurm runs it), returning (exit, results document, stderr+stdout)."""
    results = tmp_path / "out" / "%n.json"
    env = {
        **os.environ,
        "PATH": path if path is not None else f"{EMULATED_BIN}{os.pathsep}{os.environ['PATH']}",
        "DEVBOX_EMU_GPUS": "8",
        "DEVBOX_EMU_SMI": emu,
        "DEVBOX_EMU_SMI_FILE": str(tmp_path / "no-such-file"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "devbox_conformance.nodecheck",
            "--node",
            "gpu07",
            "--results-json",
            str(results),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    doc_path = tmp_path / "out" / "gpu07.json"
    doc = json.loads(doc_path.read_text()) if doc_path.exists() else {}
    return proc.returncode, doc, proc.stdout + proc.stderr


def _outcomes(doc: dict) -> dict[str, str]:
    return {i["key"]: i["outcome"] for i in doc.get("items", [])}


def test_a_healthy_node_passes_every_item(tmp_path: Path) -> None:
    code, doc, out = _run(tmp_path, "", "--expectations", str(_team(tmp_path)))
    outcomes = _outcomes(doc)
    assert code == 0, out
    assert set(outcomes) == set(NODE_ITEMS)
    # Hopper remaps rows instead of retiring pages: that item says so, it does not pass.
    assert outcomes.pop("retired_pages") == "skipped"
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert doc["exit_status"] == 0 and doc["hosts"][0]["name"] == "gpu07"


@pytest.mark.parametrize(
    ("defect", "item", "found"),
    [
        ("gpus=7", "count", "7 GPU(s)"),
        ("3:persistence_mode=Disabled", "persistence", "GPU 3: persistence_mode is Disabled"),
        ("3:ecc.errors.uncorrected.volatile.total=2", "ecc", "GPU 3: 2 uncorrectable"),
        ("ecc.mode.current=Disabled", "ecc", "ECC mode Disabled"),
        ("5:ecc.errors.uncorrected.volatile.total=[N/A]", "ecc", "not reported"),
        ("1:retired_pages.pending=Yes", "retired_pages", "GPU 1: retirement pending"),
        ("6:remapped_rows.pending=Yes", "row_remap", "pending"),
        ("6:remapped_rows.failure=Yes", "row_remap", "failure"),
        (
            "2:clocks_event_reasons.hw_thermal_slowdown=Active",
            "throttle",
            "GPU 2: hw_thermal_slowdown active",
        ),
        ("1:pcie.link.width.current=8", "pcie", "GPU 1: x8 of x16"),
        ("0:pcie.link.gen.max=4", "pcie", "the slot allows Gen4, the GPU Gen5"),
        ("nvlink.4=up,inactive,up", "nvlink", "GPU 4: link(s) 1 inactive"),
        ("7:mig.mode.pending=Enabled", "mig", "MIG change pending"),
        ("mig.mode.current=Enabled;mig.mode.pending=Enabled", "mig", "mig.mode.current is Enabled"),
        ("2:driver_version=550.54.15", "driver", "different drivers"),
        ("toolkit=broken", "container_toolkit", "load library failed"),
        ("toolkit_gpus=7", "container_toolkit", "it lists 7 GPU(s), nvidia-smi 8"),
    ],
)
def test_each_defect_fails_exactly_its_item(tmp_path: Path, defect: str, item: str, found: str) -> None:
    code, doc, out = _run(tmp_path, defect, "--expectations", str(_team(tmp_path)))
    failed = {k for k, v in _outcomes(doc).items() if v == "failed"}
    assert code == 1 and failed == {item}, out
    message = next(i["message"] for i in doc["items"] if i["key"] == item)
    assert found in message, message
    assert f"FAILED  test_node[{item}]: node[{item}]" in out


def test_an_older_driver_fails_only_what_it_cannot_answer(tmp_path: Path) -> None:
    """A field the driver refuses fails the items that need it; the renamed throttle fields fall back."""
    refused = (
        "refuse=ecc.errors.uncorrected.volatile.total,clocks_event_reasons.hw_slowdown,pcie.link.gen.gpumax"
    )
    code, doc, out = _run(tmp_path, refused, "--expectations", str(_team(tmp_path)))
    outcomes = _outcomes(doc)
    assert {k for k, v in outcomes.items() if v == "failed"} == {"ecc"}, out
    assert outcomes["throttle"] == "passed" and outcomes["pcie"] == "passed"


def test_no_gpu_answer_is_red_never_skipped(tmp_path: Path) -> None:
    """A node profile asks for GPUs: without nvidia-smi every nvidia-smi item fails (none skips or passes)."""
    code, doc, out = _run(tmp_path, "", path="/usr/bin:/bin")
    outcomes = _outcomes(doc)
    assert code == 1, out
    assert {k for k, v in outcomes.items() if v != "failed"} <= {"xid"}, outcomes
    assert "nvidia-smi not found" in next(i["message"] for i in doc["items"] if i["key"] == "count")


def test_xid_events_in_the_kernel_log_fail_unless_ignored(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    dmesg = fake / "dmesg"
    dmesg.write_text(
        "#!/bin/sh\necho 'NVRM: Xid (PCI:0000:18:00): 13, pid=4242, Graphics Exception'\n"
        "echo 'NVRM: Xid (PCI:0000:1a:00): 79, pid=0, GPU has fallen off the bus.'\n"
    )
    dmesg.chmod(dmesg.stat().st_mode | stat.S_IEXEC)
    path = f"{fake}{os.pathsep}{EMULATED_BIN}{os.pathsep}{os.environ['PATH']}"
    code, doc, out = _run(tmp_path, "", "--expectations", str(_team(tmp_path)), path=path)
    message = next(i["message"] for i in doc["items"] if i["key"] == "xid")
    assert _outcomes(doc)["xid"] == "failed" and "Xid 79 x1" in message and "Xid 13" not in message, message


def test_usage_errors_are_one_line_and_still_write_the_results(tmp_path: Path) -> None:
    code, doc, out = _run(tmp_path, "", "--kinds", "node,bogus")
    assert code == 2 and "--kinds: unknown kind(s) ['bogus']" in out and len(out.strip().splitlines()) == 1, (
        out
    )
    assert doc["exit_status"] == 2 and doc["items"] == [] and "bogus" in doc["error"]
    code, doc, out = _run(tmp_path, "", "--expectations", str(tmp_path / "nowhere"))
    assert code == 2 and "expectations directory not found" in out, out


def test_the_profile_is_valid_and_ships_a_gpu_section() -> None:
    model = exp.load(PROFILE, "amd64", "other")
    assert [i.key for i in model.items("node")] == list(NODE_ITEMS)
    assert {i.key for i in model.items("gpu")} >= {"count", "matmul", "nccl_all_reduce"}
    assert exp.load(PROFILE, "arm64", "ngc").count() == model.count()


def test_results_are_written_atomically_and_name_the_node(tmp_path: Path) -> None:
    code, doc, _ = _run(tmp_path, "")
    assert doc["node"] == "gpu07" and not list((tmp_path / "out").glob(".*tmp"))


def test_a_health_reason_says_what_failed() -> None:
    verdict = nodecheck.Verdict(
        "node", "count", "test_node[count]", "failed", "expected: exactly 8 GPU(s)\nfound:    7 GPU(s)"
    )
    assert verdict.short == "node[count] 7 GPU(s) (expected exactly 8 GPU(s))"


def test_missing_facts_never_pass() -> None:
    """An older probe (no node facts) or a group nvidia-smi was not asked for is a failure."""
    item = exp.load(PROFILE, "amd64", "other").items("node")[1]
    for facts in ({}, {"node_facts": {}}, {"node_facts": {"base": {"error": "boom"}}}):
        ctx = verdict.Context(
            facts=facts, conditions={"arch": "amd64"}, target_kind="local", image_attrs=None
        )
        assert verdict.verify("node", item, ctx).status == "failed", facts


def test_gpu_items_of_a_node_profile_fail_without_a_gpu(tmp_path: Path) -> None:
    """The profile's gpu items skip on an image run without GPUs, but a node profile asks for GPUs."""
    code, doc, out = _run(
        tmp_path, "", "--kinds", "gpu", "--expectations", str(_team(tmp_path)), path="/usr/bin:/bin"
    )
    outcomes = _outcomes(doc)
    assert code == 1 and outcomes and set(outcomes.values()) == {"failed"}, out
    assert all("GPUs were asked for (the node profile" in i["message"] for i in doc["items"]), doc["items"]


def test_the_profile_is_named_in_extends_and_in_expectations(tmp_path: Path) -> None:
    assert exp.shipped("gpu-node") == exp.PROFILES_DIR / "gpu-node" and exp.shipped("nope") is None
    code, doc, out = _run(tmp_path, "", "--expectations", "gpu-node")
    assert code == 0 and len(doc["items"]) == len(NODE_ITEMS), out
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "common.yaml").write_text("extends: gpu-nod\n")
    code, doc, out = _run(tmp_path, "", "--expectations", str(bad))
    assert code == 2 and "extends: 'gpu-nod': no common.yaml" in out, out


# Waivers: the suite's file, judged the same way on a node.
NVLINK_DEFECT = "nvlink.4=up,inactive,up"


def _waive(team: Path, test_id: str, expires: str = "2027-01-31", scope: str = "") -> None:
    (team / "waivers.yaml").write_text(
        f"waivers:\n  - id: {test_id}\n    justification: NVLink bridge on order (TICKET-7)\n"
        f"    expires: {expires}\n{scope}"
    )


def _run_on(tmp_path: Path, emu: str, team: Path, today: str, *args: str) -> tuple[int, dict, str]:
    os.environ["DEVBOX_TODAY"] = today
    try:
        return _run(tmp_path, emu, "--expectations", str(team), *args)
    finally:
        del os.environ["DEVBOX_TODAY"]


def test_a_valid_waiver_keeps_the_node_in_service_and_says_waived(tmp_path: Path) -> None:
    team = _team(tmp_path)
    _waive(team, "test_node[nvlink]")
    code, doc, out = _run_on(tmp_path, NVLINK_DEFECT, team, "2026-12-05")
    assert code == 0, out
    assert _outcomes(doc)["nvlink"] == "waived" and doc["totals"]["waived"] == 1, doc["totals"]
    message = next(i["message"] for i in doc["items"] if i["key"] == "nvlink")
    assert message.startswith("waived until 2027-01-31: NVLink bridge on order (TICKET-7)"), message
    assert "GPU 4: link(s) 1 inactive" in message  # the failure stays visible
    assert "WAIVED  test_node[nvlink]" in out and "1 waived" in out


def test_an_expired_waiver_is_red_and_the_reason_says_it_expired(tmp_path: Path) -> None:
    team = _team(tmp_path)
    _waive(team, "test_node[nvlink]")
    code, doc, out = _run_on(tmp_path, NVLINK_DEFECT, team, "2027-02-01")
    assert code == 1, out
    assert _outcomes(doc)["nvlink"] == "failed"
    message = next(i["message"] for i in doc["items"] if i["key"] == "nvlink")
    assert message.startswith("waiver expired on 2027-01-31"), message
    verdict = nodecheck.Verdict("node", "nvlink", "test_node[nvlink]", "failed", message)
    assert verdict.short.startswith("node[nvlink] waiver expired: GPU 4"), verdict.short


def test_a_waiver_out_of_scope_or_for_nothing_waives_nothing(tmp_path: Path) -> None:
    team = _team(tmp_path)
    _waive(team, "test_node[nvlink]", scope="    scope: {gpu: [NVIDIA B200]}\n")
    code, doc, _ = _run_on(tmp_path, NVLINK_DEFECT, team, "2026-12-05")
    assert code == 1 and _outcomes(doc)["nvlink"] == "failed"
    # A waiver for an item that passes is stale, and listed.
    _waive(team, "test_node[ecc]")
    code, doc, out = _run_on(tmp_path, "", team, "2026-12-05")
    assert code == 0 and "waived" not in set(_outcomes(doc).values())
    assert [w["id"] for w in doc["stale_waivers"]] == ["test_node[ecc]"]
    assert "STALE   waiver test_node[ecc]" in out


def test_a_bad_waivers_file_is_one_line_exit_2(tmp_path: Path) -> None:
    team = _team(tmp_path)
    (team / "waivers.yaml").write_text("waivers:\n  - id: test_node[nvlink]\n    expires: 2027-01-31\n")
    code, doc, out = _run_on(tmp_path, "", team, "2026-12-05")
    assert code == 2 and "Traceback" not in out
    assert "waivers.yaml:2: waivers[0]: 'justification' is required" in out, out


def test_the_node_check_does_not_need_pytest() -> None:
    """A Slurm node has python3 and the suite's sources, not pytest: the health check must not import it."""
    code = (
        "import sys, devbox_conformance.nodecheck; print('pytest' in sys.modules, '_pytest' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["False", "False"], out.stdout + out.stderr
