"""Each kind and field added to the contract fails exactly its own item on a one-defect image derived from
the suite's fixture image (the fixture image itself is green: see test_suite_fixture.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

EXPECTATIONS = "selftests/fixtures/suite/expectations"
SUITE_ARGS = (f"--expectations={EXPECTATIONS}", "--ignore=tests/performance")
REPORT = "/usr/local/bin/devbox-fixture-report"

# name -> (Dockerfile lines of the defect, the one test id that must fail, words its message must hold)
DEFECTS = {
    # a team's command that hangs is killed at its 5 s limit; every other item (the other command too) runs
    "command-hangs": ([f"RUN printf '#!/bin/sh\\necho fixture report: ok\\nsleep 600\\n' >{REPORT}"],
                      "test_command[fixture-report]", "killed after 5 s (still running)"),
    "command-warns": ([f"RUN printf '#!/bin/sh\\necho fixture report: ok\\necho warning: x >&2\\n' "
                       f">{REPORT}"],
                      "test_command[fixture-report]", "stderr is 'warning: x\\n'"),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_fails_exactly_its_item(derive_image, conformance, defect: str) -> None:
    lines, test_id, words = DEFECTS[defect]
    run = conformance("--image", derive_image(defect, lines), *SUITE_ARGS)
    assert run.returncode == 1, run.describe()
    assert run.failed == {test_id}, run.describe()
    failed = next(e for e in run.results["items"] if e["name"] == test_id)
    assert words in failed["message"], failed["message"]
    assert "test_command[python-as-nobody]" in run.names("passed")

