"""`devbox diff`, `snapshot` and `release --against` on real images: the suite's fixture image and a variant.

The variant is the fixture image with exactly three changes: one apt package purged (`media-types`), one
Python distribution lowered (`devbox-fixture-pkg` 1.2.0 -> 1.1.0) and one label changed. No network is
needed for the downgrade: the `Version:` line of the distribution's METADATA is rewritten, which is an
honest change of what the image reports (importlib.metadata, pip and the suite all read that line), though
not a reinstall of older code. The fixture image is small, so every test here takes seconds.

Output goldens (selftests/fixtures/diff/e2e.*) hold what the real diff prints with the volatile parts
(image ids, dates, sizes, the per-run tags) replaced by placeholders; DEVBOX_UPDATE_GOLDEN=1 rewrites them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from devbox_e2e import DOCKER, REPO, devbox

from devbox_conformance import expectations as exp

pytestmark = pytest.mark.e2e

FIXTURE_EXPECTATIONS = "selftests/fixtures/suite/expectations"
GOLDEN = REPO / "selftests" / "fixtures" / "diff"
DIST_INFO = "/usr/local/lib/python3.11/dist-packages/devbox_fixture_pkg-1.2.0.dist-info"
VARIANT = [
    "RUN dpkg --purge --force-depends media-types",
    f"RUN sed -i 's/^Version: 1.2.0$/Version: 1.1.0/' {DIST_INFO}/METADATA",
    'LABEL org.opencontainers.image.revision="4567def"',
]
THREE_CHANGES = [
    {"section": "apt", "name": "media-types", "change": "removed", "old": "10.0.0", "new": None},
    {
        "section": "python",
        "name": "devbox-fixture-pkg",
        "change": "downgraded",
        "old": "1.2.0",
        "new": "1.1.0",
    },
    {
        "section": "labels",
        "name": "org.opencontainers.image.revision",
        "change": "changed",
        "old": "0123abc",
        "new": "4567def",
    },
]


@pytest.fixture(scope="module")
def variant(derive_image) -> str:
    return derive_image("diff-variant", VARIANT)


def diff(old: str, new: str, *args: str) -> subprocess.CompletedProcess[str]:
    return devbox("diff", old, new, "--expectations", FIXTURE_EXPECTATIONS, *args, check=False, timeout=600)


def normalized(text: str, old: str, new: str) -> str:
    """The diff with what changes from run to run replaced: tags, ids, dates, sizes, column padding."""
    text = text.replace(old, "<A>").replace(new, "<B>")
    text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<id>", text)
    text = re.sub(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z", "<date>", text)
    text = re.sub(r"[+-]?\d+(?:\.\d+)? (?:B|kB|MB|GB|TB)\b", "<size>", text)
    return "\n".join(re.sub(r" {2,}", "  ", line).rstrip() for line in text.splitlines()) + "\n"


def normalized_json(text: str, old: str, new: str) -> str:
    doc = json.loads(text)
    for side, ref in (("old", "<A>"), ("new", "<B>")):
        doc[side].update(ref=ref, image_id="sha256:<id>", created="<date>", size="<size>")
    doc["size"] = dict.fromkeys(doc["size"], "<size>")
    # The base image's layers are the same in both; only the variant's own layers are the story.
    doc["layers"] = [
        {**layer, "old": layer["old"] and "<size>", "new": layer["new"] and "<size>", "delta": "<size>"}
        for layer in doc["layers"]
        if layer["change"] != "same"
    ]
    return json.dumps(doc, indent=2) + "\n"


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if os.environ.get("DEVBOX_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{name} differs (DEVBOX_UPDATE_GOLDEN=1):\n{text}"


def test_diff_reports_exactly_the_three_changes_in_every_format(
    suite_fixture_image: str, variant: str
) -> None:
    res = {fmt: diff(suite_fixture_image, variant, "--format", fmt) for fmt in ("json", "md", "table")}
    for fmt, proc in res.items():
        assert proc.returncode == 1, f"{fmt}: exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr}"
    doc = json.loads(res["json"].stdout)
    assert doc["changes"] == THREE_CHANGES
    # The variant's two RUN layers are the only layers that differ: added, each with its instruction.
    moved = [
        (layer["change"], layer["instruction"].split()[:3])
        for layer in doc["layers"]
        if layer["change"] != "same"
    ]
    assert moved == [("added", ["RUN", "dpkg", "--purge"]), ("added", ["RUN", "sed", "-i"])]
    assert doc["size"]["delta"] == sum(layer["delta"] for layer in doc["layers"]) > 0
    check_golden("e2e.json", normalized_json(res["json"].stdout, suite_fixture_image, variant))
    check_golden("e2e.md", normalized(res["md"].stdout, suite_fixture_image, variant))
    check_golden("e2e.txt", normalized(res["table"].stdout, suite_fixture_image, variant))


def test_an_image_against_itself_is_exit_0(suite_fixture_image: str) -> None:
    proc = diff(suite_fixture_image, suite_fixture_image)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("no differences")


def test_an_unknown_image_is_one_line_and_exit_2(suite_fixture_image: str) -> None:
    proc = diff(suite_fixture_image, "devbox-diff-e2e:no-such-tag", "--pull", "never")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "no-such-tag" in proc.stderr


def test_snapshot_passes_its_image_and_fails_the_variant(
    suite_fixture_image: str, variant: str, conformance, tmp_path: Path
) -> None:
    snap = tmp_path / "snapshot"
    made = devbox(
        "snapshot", suite_fixture_image, "--output", str(snap), "--expectations", FIXTURE_EXPECTATIONS
    )
    header = (snap / "common.yaml").read_text()
    assert "#   image id: sha256:" in header and "#   created:  20" in header, header[:800]
    assert exp.extends_of(snap) == (REPO / FIXTURE_EXPECTATIONS).resolve(), header[:800]
    assert "media-types" in header, made.stdout
    good = conformance("--image", suite_fixture_image, f"--expectations={snap}", "tests")
    assert good.returncode == 0 and not good.failed, good.describe()
    assert len(good.names("passed")) > 100, good.describe()  # every dpkg package, dist and binary pinned
    bad = conformance("--image", variant, f"--expectations={snap}", "tests")
    assert bad.returncode == 1, bad.describe()
    assert bad.failed == {"test_package[media-types]", "test_python_dist[devbox-fixture-pkg]"}, bad.describe()


def test_release_against_refuses_the_variant_until_the_allow_list_names_it(
    suite_fixture_image: str, tmp_path: Path
) -> None:
    # The release builds the variant itself (same three changes, FROM the fixture image) and is checked
    # against the fixture image as "the last release". The suite's verdict is the test hook's (green): the
    # gate under test is the one after it. --dry-run: nothing is pushed, so no registry is needed.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("\n".join([f"FROM {suite_fixture_image}", *VARIANT]) + "\n")
    image, tag = "devbox-diff-e2e", f"r{os.getpid()}"
    env = {"RESULTS_DIR": str(tmp_path / "results"), "LOG_DIR": str(tmp_path / "logs"), "SKIP_LOGIN": "1"}
    args = [
        "release",
        "--context",
        str(ctx),
        "--image",
        image,
        "--tag",
        tag,
        "--platforms",
        "linux/amd64",
        "--suite-cmd",
        "true",
        "--no-oci-labels",
        "--dry-run",
        "--against",
        suite_fixture_image,
    ]
    try:
        red = devbox(*args, check=False, env=env, timeout=900)
        assert red.returncode == 1, red.stdout[-4000:] + red.stderr[-2000:]
        assert "REGRESSION apt media-types 10.0.0 -> - (removed)" in red.stdout
        assert "REGRESSION python devbox-fixture-pkg 1.2.0 -> 1.1.0 (downgraded)" in red.stdout
        assert "nothing was pushed" in red.stdout and "would:" not in red.stdout
        notes = sorted((tmp_path / "results").glob("release-*/against-amd64.md"))
        assert notes and "| `media-types` | removed | `10.0.0` | — |" in notes[-1].read_text()

        allow = tmp_path / "allow.yaml"
        allow.write_text(
            "allow:\n"
            "  - apt: media-types\n    reason: nothing in the image reads /etc/mime.types\n"
            "  - python: devbox-fixture-pkg\n"
            "    reason: 1.2 breaks the fixture tool; back to 1.1\n"
        )
        green = devbox(*args, "--allow", str(allow), check=False, env=env, timeout=900)
        assert green.returncode == 0, green.stdout[-4000:] + green.stderr[-2000:]
        assert "allowed python devbox-fixture-pkg 1.2.0 -> 1.1.0 (downgraded): 1.2 breaks" in green.stdout
        assert f"release (dry run): {image}:{tag} built and checked" in green.stdout
    finally:
        subprocess.run([DOCKER, "rmi", "-f", f"{image}:{tag}-amd64"], capture_output=True)


def test_diff_of_the_real_image_and_its_variant_reports_exactly_three_changes(
    devbox_amd64: str, derive_image
) -> None:
    # The same three kinds of change on the full image: a -dev package purged (no command of the contract
    # comes from it, so only the apt view moves), transformers' METADATA lowered, the revision relabelled.
    where = subprocess.run(
        [
            DOCKER,
            "run",
            "--rm",
            "--entrypoint",
            "",
            devbox_amd64,
            "python3",
            "-c",
            "import importlib.metadata as m; d = m.distribution('transformers'); print(d._path, d.version)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    dist_info, version = where[0], where[1]
    lowered = "4.46.0"
    variant = derive_image(
        "diff-real-variant",
        [
            "RUN dpkg --purge --force-depends libsqlite3-dev",
            f"RUN sed -i 's/^Version: {re.escape(version)}$/Version: {lowered}/' {dist_info}/METADATA",
            'LABEL org.opencontainers.image.revision="4567def"',
        ],
        base=devbox_amd64,
    )
    proc = devbox("diff", devbox_amd64, variant, "--format", "json", check=False, timeout=900)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    changes = {(c["section"], c["name"], c["change"], c["new"]) for c in json.loads(proc.stdout)["changes"]}
    assert changes == {
        ("apt", "libsqlite3-dev", "removed", None),
        ("python", "transformers", "downgraded", lowered),
        ("labels", "org.opencontainers.image.revision", "changed", "4567def"),
    }, proc.stdout
