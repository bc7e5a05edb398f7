# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""The probe's entry point: read the request, run each requested gatherer, print the facts as JSON.

    python3 -c <packed probe> '{"gatherers": ["binaries"], "binaries": [{"name": "rg", "version_args": []}]}'

Each gatherer module has `gather(request, pool) -> {fact: value}`; a value may be a future of `pool` (or a
dict of futures), resolved once every gatherer has started, so the long ones (imports, shells, binaries)
overlap. Nothing here decides pass or fail.

A gatherer that raises fails only its own: an item whose future raised gets {"probe_error": "one line"} as
its facts, and a gatherer that raised as a whole (or a whole fact of it) is named in `probe_errors`.
"""

import concurrent.futures
import importlib
import json
import os
import platform
import pwd
import sys
import time

from . import basics

PROBE_VERSION = 1


# Key of the marker that stands for an item's facts when its gatherer raised: {PROBE_ERROR: "one line"}.
# The host turns it into a failed item naming the reason (kinds/verdict.verify, kinds/base.probe_failure).
PROBE_ERROR = "probe_error"


def failure_line(exc):
    """One line for an exception a gatherer raised: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    return ("%s: %s" % (name, lines[0]) if lines else name)[:300]


def _resolve(value, failed):
    """`value` with its futures replaced by their results; a future that raised becomes the marker.

    Why per future: one item's bad input (a NUL byte in a path, an absurd timeout) must fail that item
    only; `.result()` let the exception end the probe, so every item of the host failed with a type name.
    `failed(line)` is told when a whole fact (not one item of it) could not be resolved.
    """
    if isinstance(value, concurrent.futures.Future):
        try:
            return value.result()
        except Exception as exc:
            line = failure_line(exc)
            failed(line)
            return {PROBE_ERROR: line}
    if isinstance(value, dict) and any(isinstance(v, concurrent.futures.Future) for v in value.values()):
        return {k: _resolve(v, lambda line: None) for k, v in value.items()}
    return value


def main(argv):
    started = time.monotonic()
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    facts = {
        "probe_version": PROBE_VERSION,
        "arch_machine": platform.machine(),
        "python": platform.python_version(),
        "euid": os.geteuid(),
    }
    try:
        facts["user"] = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        facts["user"] = str(os.geteuid())
    package = __name__.rpartition(".")[0]
    pending = {}
    # Fact key -> the gatherer that gives it; gatherer -> why it failed as a whole (every item of its kinds
    # fails with that line; the other gatherers' items are judged as usual).
    origin = {}
    errors = {}
    facts["probe_errors"] = errors
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(request.get("threads", 8))) as pool:
        # In request order: the longest first (imports: seconds), the many short runs fill the other threads.
        # The host names them (derived from the kind declarations: probe.build_request); none named, none run.
        for name in request.get("gatherers", ()):
            try:
                module = importlib.import_module("%s.%s" % (package, name))
                gathered = module.gather(request, pool)
            except Exception as exc:
                errors[name] = failure_line(exc)
                continue
            pending.update(gathered)
            origin.update((key, name) for key in gathered)
        facts["torch"] = basics.torch_cuda()
        facts["gpu"] = basics.gpu_visible()
        # An empty path: the host read the manifest already (its hello) and puts it in the facts itself.
        manifest_path = request.get("manifest", "/etc/devbox/build-manifest.json")
        if manifest_path:
            manifest, why = basics.read_manifest(manifest_path)
            facts["manifest"] = manifest
            facts["manifest_status"] = why or "present"
        for key, value in pending.items():

            def failed(line, key=key):
                errors.setdefault(origin[key], "%s: %s" % (key, line))

            facts[key] = _resolve(value, failed)
    facts["probe_seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.write(json.dumps(facts))
    sys.stdout.flush()
    return 0
