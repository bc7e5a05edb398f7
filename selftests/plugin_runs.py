"""The conformance plugin run through pytester on the local target (no Docker), as the unit tests do it.

Why one helper: several test modules laid out the same expectation files and test module, and spelled out
the same plugin command line, each its own way; a change to how the plugin is loaded (or to the cache
plugin being off) had to be made in each.
"""

from __future__ import annotations

import pytest

# Loaded explicitly (a subprocess of pytester does not see this checkout's entry points the same way), and
# without the cache plugin so runs leave nothing in the test's directory but what they were asked to write.
PLUGIN_ARGS = ("-p", "devbox_conformance.plugin", "-p", "no:cacheprovider")


def lay_out_suite(pytester: pytest.Pytester, expectations: dict[str, str], tests: str) -> pytest.Pytester:
    """Write `expectations` ({"exp/common.yaml": text, ...}; the ".yaml" may be left off) and `tests` as
    test_suite.py into pytester's directory; returns pytester for a fixture to hand on."""
    pytester.makefile(".yaml", **{name.removesuffix(".yaml"): text for name, text in expectations.items()})
    pytester.makepyfile(test_suite=tests)
    return pytester


def run_plugin(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """`pytest -p devbox_conformance.plugin -p no:cacheprovider ARGS` in a subprocess, in pytester's
    directory (a subprocess: the plugin's session state must not leak into the next run)."""
    return pytester.runpytest_subprocess(*PLUGIN_ARGS, *args)
