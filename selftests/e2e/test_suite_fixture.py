"""The suite against its fixture image: green as built, and each derived defect fails exactly its test id."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
EXPECTATIONS = "selftests/fixtures/suite/expectations"
# The perf developer's tests measure; these tests are about the checks.
SUITE_ARGS = (f"--expectations={EXPECTATIONS}", "--ignore=tests/performance")

# name -> (Dockerfile lines of the defect, test ids that must fail, and only those)
DEFECTS = {
    "binary-deleted": (["RUN rm /usr/local/bin/devbox-fixture-tool"], {"test_binary[devbox-fixture-tool]"}),
    "dist-uninstalled": (
        ["RUN pip uninstall -y --break-system-packages devbox-fixture-pkg"],
        {"test_python_dist[devbox-fixture-pkg]"},
    ),
    "dist-below-minimum": (
        [
            "RUN cd /usr/local/lib/python3.11/dist-packages && mv devbox_fixture_pkg-1.2.0.dist-info "
            "devbox_fixture_pkg-0.9.dist-info && sed -i 's/^Version: .*/Version: 0.9/' "
            "devbox_fixture_pkg-0.9.dist-info/METADATA"
        ],
        {"test_python_dist[devbox-fixture-pkg]"},
    ),
    "label-changed": (
        ['LABEL org.opencontainers.image.title="something-else"'],
        {"test_label[org.opencontainers.image.title]"},
    ),
    "greeting-fails": (
        ["RUN printf '#!/bin/sh\\necho broken >&2\\nexit 3\\n' >/usr/local/bin/devbox-greeting"],
        {"test_shell[bash-login-interactive]"},
    ),
    "healthcheck-removed": (["HEALTHCHECK NONE"], {"test_image_config[healthcheck]"}),
    # A health command that always fails: the health fact the run gathers after the probe says unhealthy.
    "healthcheck-unhealthy": (
        ['HEALTHCHECK --interval=5s --timeout=10s --start-period=1s --retries=2 CMD ["false"]'],
        {"test_image_config[healthcheck]"},
    ),
}


def test_fixture_image_passes(suite_fixture_image: str, conformance) -> None:
    run = conformance("--image", suite_fixture_image, *SUITE_ARGS)
    assert run.returncode == 0 and not run.failed, run.describe()
    assert len(run.names("passed")) >= 12, run.describe()
    # optional absent -> skip with its reason and the manifest's why; `when:` false -> skip naming the fact
    assert "not available on the stand-in base" in run.skipped["test_binary[nvtop]"]
    assert "no candidate for amd64" in run.skipped["test_binary[nvtop]"]
    assert "python-extras" in run.skipped["test_binary[devbox-extra-tool]"]
    res = run.results
    assert res["arch"] == "amd64" and res["target_kind"] == "image" and res["base_kind"] == "standin"
    assert res["image"]["ref"] == suite_fixture_image and res["image"]["id"].startswith("sha256:")
    assert res["counts"]["binaries"] == {"passed": 3, "failed": 0, "skipped": 2, "error": 0, "waived": 0}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_fails_exactly_its_test(derive_image, conformance, defect: str) -> None:
    lines, expected_failures = DEFECTS[defect]
    image = derive_image(defect, lines)
    run = conformance("--image", image, *SUITE_ARGS)
    assert run.returncode == 1, run.describe()
    assert run.failed == expected_failures, run.describe()
    failed_items = [e for e in run.results["items"] if e["outcome"] == "failed"]
    assert [e["name"] for e in failed_items] == sorted(expected_failures)
    # the message names what was expected and what was found
    assert "expected:" in failed_items[0]["message"] and "found:" in failed_items[0]["message"]


def test_xdist_gives_the_same_outcomes(derive_image, conformance) -> None:
    image = derive_image("binary-deleted", DEFECTS["binary-deleted"][0])
    serial = conformance("--image", image, *SUITE_ARGS)
    parallel = conformance("--image", image, *SUITE_ARGS, "-n", "2")
    assert parallel.returncode == serial.returncode == 1, parallel.describe()
    assert {e["name"]: e["outcome"] for e in serial.results["items"]} == {
        e["name"]: e["outcome"] for e in parallel.results["items"]
    }, parallel.describe()
    assert serial.results["counts"] == parallel.results["counts"]


def test_container_target_is_checked_and_kept(suite_fixture_image: str, conformance) -> None:
    name = f"devbox-suite-existing-{os.getpid()}"
    subprocess.run(
        [DOCKER, "run", "-d", "--name", name, suite_fixture_image, "sleep", "infinity"],
        check=True,
        capture_output=True,
    )
    try:
        run = conformance("--container", name, *SUITE_ARGS)
        assert run.returncode == 0, run.describe()
        assert run.results["target_kind"] == "container" and run.results["container"] == name
        state = subprocess.run(
            [DOCKER, "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True
        )
        assert state.stdout.strip() == "true", "the suite must never remove a container it did not start"
    finally:
        subprocess.run([DOCKER, "rm", "-f", name], capture_output=True)


def test_local_target_runs_the_same_checks(conformance) -> None:
    # This machine is not a devbox: the fixture's items fail or skip, but the same checks run, one line each,
    # and image-only kinds skip naming the target.
    run = conformance("--hosts", "local://", *SUITE_ARGS)
    assert run.results["target_kind"] == "local" and run.results["image"] is None, run.describe()
    assert (
        run.skipped["test_label[org.opencontainers.image.title]"]
        == "labels are image config; the local target has no image"
    )
    assert "test_user[root]" in run.names("passed")
