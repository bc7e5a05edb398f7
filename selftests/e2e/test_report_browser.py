"""The HTML report in a real browser: Debian's headless Chromium renders the page of a failing two-host run
(built here, synthetically) and of a real suite run (`--hosts local://`, through pytester) to a PNG and to
its DOM; the test reads what the browser made of the page, not only that it made something.

No Docker: the pages come from results documents. Chromium is required (tools/host-setup.sh installs it);
without it these tests fail, they do not skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import report_html

pytest_plugins = ["pytester"]

WIDTH, HEIGHT = 1200, 2000
BANNER_RED = (0xB3, 0x26, 0x1E)  # .banner.red in the page's CSS
BANNER_GREEN = (0x1F, 0x7A, 0x3A)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("needs Debian's chromium (tools/host-setup.sh installs it)", pytrace=False)
    return found


def browse(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on PAGE with its own profile and HOME; every process it left is ended."""
    home = tmp / "chromium-home"
    home.mkdir(exist_ok=True)
    argv = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={home / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        *mode,
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what this run started
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def png_rows(path: Path, rows: int) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """(width, height, the first ROWS rows of pixels as RGB tuples) of an 8-bit RGB/RGBA PNG.

    Only the top rows are decoded: a row's filter needs only the rows above it, so this stays fast.
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"{path}: a PNG layout this reader lacks"
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    out: list[list[tuple[int, ...]]] = []
    prev = bytearray(stride)
    for r in range(min(rows, height)):
        line = raw[r * (stride + 1) : (r + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif kind == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out.append([tuple(cur[i : i + 3]) for i in range(0, stride, bpp)])
        prev = cur
    return width, height, out


def section(dom: str, anchor: str) -> str:
    m = re.search(rf'<h2 id="{anchor}">(.*?)(?=<h2 |</main>)', dom, re.S)
    assert m, f"no section {anchor} in the rendered DOM"
    return m.group(1)


def screenshot(page: Path, tmp: Path) -> Path:
    png = tmp / (page.stem + ".png")
    browse(page, tmp, f"--screenshot={png}")
    assert png.is_file(), "chromium wrote no screenshot"
    return png


def assert_picture(png: Path, banner: tuple[int, int, int]) -> None:
    """A real picture: the asked size, many colours, and the verdict banner drawn in its colour."""
    assert png.stat().st_size > 20_000, f"{png}: {png.stat().st_size} bytes, a blank page is about 10 KB"
    width, height, rows = png_rows(png, 160)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {px for row in rows for px in row}
    assert len(colours) > 20, f"only {len(colours)} colours in the top of the page"
    widest = max(sum(1 for px in row if px == banner) for row in rows)
    assert widest > WIDTH // 2, f"no banner of colour {banner} across the page (widest run {widest} px)"


def test_the_page_of_a_failing_two_host_run_in_chromium(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "report" / "two_hosts.json"
    doc: dict[str, Any] = report_html.load(fixture)
    page = tmp_path / "two-hosts.html"
    report_html.write(page, doc)

    dom = browse(page, tmp_path, "--dump-dom").stdout
    verdict = re.search(r'id="verdict">(.*?)</div>', dom)
    assert verdict and verdict.group(1) == "FAILED — exit status 1: 3 failed or in error"
    hosts = section(dom, "hosts")
    assert "ssh://node1" in hosts and "ssh://node2" in hosts
    failures = section(dom, "failures")
    assert "expectations/common.yaml:12" in failures
    assert re.search(r'<pre class="expected">rg &gt;= 14.0 on PATH</pre>', failures)
    assert re.search(r'<pre class="found">rg 13.0.0 at /usr/bin/rg</pre>', failures)
    # The message's markup stays text in the browser: no element came of it.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in failures and "<script" not in dom
    waived = section(dom, "waived")
    assert "binaries[rg]" in waived and "ssh://node2" in waived
    assert "arm64 ripgrep build lands in sprint 14 (TICKET-88)" in waived and "2026-12-31" in waived
    assert "optional, absent: only in GPU builds" in section(dom, "skipped")
    perf = section(dom, "performance")
    assert perf.count('class="floor"') == 2 and '<span class="tag fail">fail</span>' in perf

    assert_picture(screenshot(page, tmp_path), BANNER_RED)


EXPECTATIONS = {
    "exp/common.yaml": "binaries:\n  - name: sh\n  - name: devbox-surely-absent-tool\n"
    "  - name: devbox-optional-tool\n    optional: true\n    reason: only in some builds\n",
    "exp/amd64.yaml": "",
    "exp/arm64.yaml": "",
}


def test_the_page_of_a_real_run_in_chromium(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makefile(".yaml", **{k.removesuffix(".yaml"): v for k, v in EXPECTATIONS.items()})
    pytester.makepyfile(test_suite="def test_binary(binary, check):\n    check('binaries', binary)\n")
    page, results = pytester.path / "report.html", pytester.path / "results.json"
    run = pytester.runpytest_subprocess(
        "-p", "devbox_conformance.plugin", "--no-contract", "-p", "no:cacheprovider", "--hosts", "local://",
        "--expectations=exp", f"--results-json={results}", f"--html={page}",
    )  # fmt: skip
    run.assert_outcomes(passed=1, failed=1, skipped=1)
    assert page.read_text() == report_html.render(report_html.load(results))

    dom = browse(page, tmp_path, "--dump-dom").stdout
    assert re.search(r'id="verdict">FAILED — exit status 1: 1 failed or in error</div>', dom)
    host = json.loads(results.read_text())["hosts"][0]["name"]
    assert f'<td class="mono">{host}</td>' in section(dom, "hosts")
    failures = section(dom, "failures")
    assert re.search(r"<code>exp/common\.yaml:\d+</code>", failures)
    assert "binaries[devbox-surely-absent-tool]" in failures
    assert re.search(r'<pre class="found">[^<]+</pre>', failures), "the failure's found line"
    assert "only in some builds" in section(dom, "skipped")

    assert_picture(screenshot(page, tmp_path), BANNER_RED)


def test_a_green_page_is_drawn_green(tmp_path: Path) -> None:
    """The colour check itself can fail: the same reader finds no red banner on a green run's page."""
    doc = {
        "schema_version": 2,
        "hosts": [{"name": "local://"}],
        "exit_status": 0,
        "items": [{"nodeid": "t::a", "host": "local://", "outcome": "passed"}],
    }
    page = tmp_path / "green.html"
    report_html.write(page, doc)
    png = screenshot(page, tmp_path)
    assert_picture(png, BANNER_GREEN)
    with pytest.raises(AssertionError, match="no banner of colour"):
        assert_picture(png, BANNER_RED)
