"""Performance baselines of the conformance suite.

Two kinds of module live here, kept apart on purpose:

* in-target scripts (``gpu_bench``, ``cpu_bench``): standard library plus torch/numpy, shipped as
  source through ``devbox_target.run_python`` and printing one JSON document; also runnable on
  their own (``python3 -m devbox_conformance.performance.gpu_bench --json``);
* host-side logic: ``baselines`` (YAML -> frozen model), ``report`` (JSON -> frozen model),
  ``verdict`` (floor/ceiling/tolerance/noise rules), ``measure`` (runs and re-runs),
  ``benchfeed`` (pytest-benchmark), ``conclude`` (pytest outcome).

See docs/PERFORMANCE.md.
"""
