"""Performance baselines of the conformance suite.

Two kinds of module live here, kept apart on purpose:

* in-target scripts (``gpu_bench``, ``cpu_bench``): standard library plus torch/numpy and the
  stdlib-only ``devbox_conformance.intarget`` (its pty runner and timing summary), shipped with those
  modules in one ``devbox_target.run_python`` (``measure.script_source``) and printing one JSON
  document; also runnable on their own (``python3 -m devbox_conformance.performance.gpu_bench --json``);
* host-side logic: ``baselines`` (YAML -> frozen model), ``report`` (JSON -> frozen model),
  ``verdict`` (floor/ceiling/tolerance/noise rules), ``measure`` (runs and re-runs),
  ``benchfeed`` (pytest-benchmark), ``conclude`` (pytest outcome).

See docs/PERFORMANCE.md.
"""
