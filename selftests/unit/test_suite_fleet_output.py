"""Fleet output that reads at any size: an unreachable host is one failed id and a bounded number of lines,
and every run of several hosts ends (also under -q) with one table row per host. Through pytester, on
`local://` beside an ssh host whose port refuses at once (no Docker, no sshd)."""

from __future__ import annotations

import json
import socket

import pytest

pytest_plugins = ["pytester"]

TESTS = """
def test_binary(binary, check):
    check("binaries", binary)


def test_host(devbox_host_name, host_reached):
    host_reached()
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(pytester: pytest.Pytester, items: int, *extra: str) -> tuple[int, str, dict]:
    names = ["sh"] + [f"devbox-surely-absent-{i}" for i in range(items - 1)]
    common = "binaries:\n" + "".join(f"  - name: {n}\n" for n in names)
    pytester.makefile(".yaml", **{"exp/common": common, "exp/amd64": "", "exp/arm64": ""})
    pytester.makepyfile(test_fleet=TESTS)
    down = f"ssh://nobody@127.0.0.1:{_closed_port()}"
    out = pytester.path / "r.json"
    result = pytester.runpytest_subprocess(
        "-p", "devbox_conformance.plugin", "--no-contract", "--expectations=exp", "-p", "no:cacheprovider",
        "--hosts", f"local://,{down}", "--ssh-extra-args=-o ConnectTimeout=5 -o BatchMode=yes",
        f"--results-json={out}", *extra,
    )  # fmt: skip
    return result.ret, result.stdout.str() + result.stderr.str(), json.loads(out.read_text())


def _lines_naming(out: str, host: str) -> int:
    return sum(host in line for line in out.splitlines())


def test_an_unreachable_host_is_one_failed_id_and_the_same_lines_at_any_size(
    pytester: pytest.Pytester,
) -> None:
    seen = []
    for items in (3, 30):
        code, out, doc = _run(pytester, items)
        down = next(h["name"] for h in doc["hosts"] if h["name"].startswith("ssh://"))
        mine = [e for e in doc["items"] if e["host"] == down]
        assert code == 1 and [e["name"] for e in mine] == [f"test_host[{down}]"], out
        assert mine[0]["outcome"] == "failed" and mine[0]["message"].startswith(f"{down}: "), mine
        # The local host's items all ran; one binary exists, the others fail on their own.
        local = [e for e in doc["items"] if e["host"] == "local" and e["name"].startswith("test_binary")]
        assert len(local) == items
        seen.append(_lines_naming(out, down))
    # Header, its failure (title and line), its table row, pytest's short summary: not one line per item.
    assert seen[0] == seen[1] <= 5, seen


def test_the_host_table_ends_every_run_also_quiet(pytester: pytest.Pytester) -> None:
    code, out, doc = _run(pytester, 3, "-q")
    lines = out.rstrip().splitlines()
    head = next(i for i, ln in enumerate(lines) if "devbox: hosts" in ln)
    table = lines[head + 1 : head + 4]
    assert table[0].split()[:5] == ["host", "passed", "failed", "skipped", "error"], out
    local = table[1].split()
    assert local[:5] == ["local", "2", "2", "0", "0"], out
    assert "test_binary[local-devbox-surely-absent-0]: not on PATH" in table[1], out
    assert table[2].split()[1:5] == ["0", "1", "0", "0"] and "unreachable: " in table[2], out
