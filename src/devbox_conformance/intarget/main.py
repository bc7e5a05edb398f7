# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""The probe's entry point: read the request, run each requested gatherer, print the facts as JSON.

    python3 -c <packed probe> '{"gatherers": ["binaries"], "binaries": [{"name": "rg", "version_args": []}]}'

Each gatherer module has `gather(request, pool) -> {fact: value}`; a value may be a future of `pool` (or a
dict of futures), resolved once every gatherer has started, so the long ones (imports, shells, binaries)
overlap. Nothing here decides pass or fail.
"""

import concurrent.futures
import importlib
import json
import os
import platform
import pwd
import sys
import time

from . import host

PROBE_VERSION = 1
# Gatherers run when a request names none (an older caller, or a hand-written request): every kind's.
DEFAULT_GATHERERS = (
    "torch_facts",
    "python_dists",
    "shells",
    "commands",
    "binaries",
    "files",
    "env",
    "accounts",
    "packages",
    "security",
    "node",
)


def _resolve(value):
    if isinstance(value, concurrent.futures.Future):
        return value.result()
    if isinstance(value, dict) and any(isinstance(v, concurrent.futures.Future) for v in value.values()):
        return {k: _resolve(v) for k, v in value.items()}
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
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(request.get("threads", 8))) as pool:
        # In request order: the longest first (imports: seconds), the many short runs fill the other threads.
        for name in request.get("gatherers", DEFAULT_GATHERERS):
            module = importlib.import_module("%s.%s" % (package, name))
            pending.update(module.gather(request, pool))
        facts["torch"] = host.torch_cuda()
        facts["gpu"] = host.gpu_visible()
        manifest, why = host.read_manifest(request.get("manifest", "/etc/devbox/build-manifest.json"))
        facts["manifest"] = manifest
        facts["manifest_status"] = why or "present"
        for key, value in pending.items():
            facts[key] = _resolve(value)
    facts["probe_seconds"] = round(time.monotonic() - started, 3)
    sys.stdout.write(json.dumps(facts))
    sys.stdout.flush()
    return 0
