"""Fixtures shared by the suite's self-tests: the fixture image and its broken variants."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from suite_runs import ConformanceRun, run_suite

# Timing belongs in benchmarks: on a loaded CI machine hypothesis's per-example deadline fails correct tests.
hypothesis_settings.register_profile("selftests", deadline=None)
hypothesis_settings.load_profile("selftests")

REPO = Path(__file__).resolve().parents[1]
SUITE_FIXTURES = REPO / "selftests" / "fixtures" / "suite"
FIXTURE_EXPECTATIONS = SUITE_FIXTURES / "expectations"


def _docker() -> str:
    return "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"


def _build(context: Path, tag: str) -> None:
    proc = subprocess.run(
        [_docker(), "build", "-q", "-t", tag, str(context)],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"building {tag} failed:\n{proc.stderr[-3000:]}", pytrace=False)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with hypothesis's plugin off in the nested runs as pytest.ini has it off here: loaded
    again in-process after a property test ran, it warns (an error under filterwarnings) about strategies
    that test evaluated."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    return pytester


@pytest.fixture(scope="session")
def suite_fixture_image() -> Iterator[str]:
    """The suite's fixture image (selftests/fixtures/suite/image), removed after the session."""
    if (
        subprocess.run(
            [_docker(), "image", "inspect", "gpu-devbox-base:bookworm-amd64"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("needs the stand-in base gpu-devbox-base:bookworm-amd64 (`./devbox base`)")
    tag = f"devbox-suite-fixture:e2e-{os.getpid()}"
    _build(SUITE_FIXTURES / "image", tag)
    yield tag
    subprocess.run([_docker(), "rmi", "-f", tag], capture_output=True)


@pytest.fixture(scope="session")
def derive_image(request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """derive_image(name, dockerfile_lines, base=None) -> tag of an image with one defect.

    `base` defaults to the suite's fixture image (built only when a test asks for it); the end-to-end tests
    of the real devbox pass their own image.
    """
    made: list[str] = []

    def derive(name: str, lines: list[str], base: str | None = None) -> str:
        parent = base or request.getfixturevalue("suite_fixture_image")
        tag = f"devbox-suite-fixture:broken-{name}-{os.getpid()}"
        with tempfile.TemporaryDirectory(prefix="devbox-suite-derive-") as ctx:
            (Path(ctx) / "Dockerfile").write_text("\n".join([f"FROM {parent}", *lines]) + "\n")
            _build(Path(ctx), tag)
        made.append(tag)
        return tag

    yield derive
    for tag in made:
        subprocess.run([_docker(), "rmi", "-f", tag], capture_output=True)


def run_conformance(*args: str, timeout: float = 900) -> ConformanceRun:
    """`python -m pytest ARGS --results-json …` from the repository root, with this interpreter; the engine's
    directory first on PATH, so the suite finds the same docker as these tests."""
    path = f"{Path(_docker()).parent}:{os.environ.get('PATH', '')}"
    return run_suite(*args, env={"PATH": path}, timeout=timeout)


@pytest.fixture(scope="session")
def conformance() -> Callable[..., ConformanceRun]:
    """conformance(*pytest_args) -> ConformanceRun; see run_conformance."""
    return run_conformance
