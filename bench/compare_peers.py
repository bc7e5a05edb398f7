#!/usr/bin/env python3
"""Peer benchmark: the same checks on the same image, run by this suite and by two peer tools.

    python3 bench/compare_peers.py --image gpu-devbox:dev [--checks 300] [--repeat 1] [--json out.json]
                                   [--cst-sample K] [--only suite,testinfra,cst]

Why: the suite's design ("One probe, many checks", /work/shared/DESIGN.md) claims that gathering every fact
with ONE exec and asserting per item is much faster than what teams use today. This script measures that
claim instead of asserting it. Runners, one after the other, each from a cold start (its container(s)
created inside its own measured time):

  suite -n auto   python3 -m pytest --image IMG -n auto -p no:cacheprovider --ignore=tests/performance
  suite -n 0      the same, serial
  testinfra       one test per check against one docker:// container (bench/testinfra_peer.py), serial
  cst             container-structure-test with a generated config (a new container per commandTest)

All three get their checks from ONE list (bench/peer_checks.py) derived from the merged expectations the
suite itself loads for the image's arch and base. Before timing, one untimed container reads the facts
`when:` needs (with the suite's own probe) and imports every module once, so no runner pays a cold page
cache the others do not. Every container and temp dir this script creates is removed, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(Path(__file__).resolve().parent)]

import peer_checks as pc  # noqa: E402
from peer_cst import run_cst  # noqa: E402
from peer_report import RUNNERS, print_table, summarize, write_json  # noqa: E402
from peer_run import (  # noqa: E402
    BENCH_LABEL,
    DOCKER,
    Cleanup,
    RunResult,
    bench_env,
    interrupt,
    junit_counts,
    junit_details,
    peer_pytest,
    timed,
)

from devbox_conformance import api, probe  # noqa: E402
from devbox_conformance import arch as archs  # noqa: E402
from devbox_conformance import engine as eng  # noqa: E402
from devbox_conformance import expectations as exp  # noqa: E402
from devbox_conformance import labels as lbl  # noqa: E402
from devbox_conformance import target as tgt  # noqa: E402

# --- preparation (untimed) ------------------------------------------------------------------------------


def prepare(
    image: str, expectations_dir: Path, cleanup: Cleanup
) -> tuple[exp.Expectations, dict[str, Any], dict[str, Any]]:
    """Load the model the suite would load for IMAGE, read the `when:` facts, warm the page cache."""
    attrs = eng.image_attrs(eng.choose("docker"), image) or {}
    arch = archs.image_arch(attrs)
    base_kind = lbl.base_kind_from_labels(lbl.image_labels(attrs)) or "other"
    model = exp.load(expectations_dir, arch, base_kind)
    request = api.when_request()
    name = f"bench-prep-{cleanup.run_id}"
    subprocess.run(
        [
            DOCKER,
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"{BENCH_LABEL}={cleanup.run_id}",
            "--entrypoint",
            "",
            image,
            "sleep",
            "infinity",
        ],
        check=True,
        capture_output=True,
    )
    try:
        target = tgt.Target(
            f"docker://{name}",
            name,
            "image",
            arch,
            image_ref=image,
            image_attrs=attrs,
            container=name,
            engine="docker",
        )
        facts = probe.collect_facts(target, request, timeout=600)
        imports = [d.import_name for d in model.python_dists if d.import_name]
        warm = (
            "import importlib, sys\nfor m in sys.argv[1:]:\n try: importlib.import_module(m)\n"
            " except BaseException: pass\n"
        )
        target.run(["python3", "-c", warm, *imports], timeout=900)
        target.run(["sh", "-c", "cat /usr/bin/* /usr/local/bin/* >/dev/null 2>&1; true"], timeout=300)
    finally:
        subprocess.run([DOCKER, "rm", "-f", "-v", name], capture_output=True)
    return model, api.when_conditions(facts, arch, base_kind), attrs


# --- runners --------------------------------------------------------------------------------------------


def run_suite(
    image: str,
    checks: list[pc.Check],
    all_checks: int,
    workers: str,
    cleanup: Cleanup,
    expectations_dir: Path,
) -> RunResult:
    out_dir = cleanup.tempdir("suite")
    results = out_dir / "results.json"
    if len(checks) < all_checks:
        # A subset runs against a subset contract, so the probe gathers only what those checks need.
        expectations_dir = pc.write_subset(expectations_dir, out_dir / "expectations", {c.id for c in checks})
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--image",
        image,
        "-n",
        workers,
        "-p",
        "no:cacheprovider",
        "--ignore=tests/performance",
        f"--expectations={expectations_dir}",
        f"--results-json={results}",
        "-q",
        "--no-header",
        "-rN",
    ]
    load = os.getloadavg()[0]
    wall, code, out = timed(cmd, REPO, cleanup, bench_env())
    counts: dict[str, int] = {}
    note = ""
    try:
        doc = json.loads(results.read_text())
        counts = {k: v for k, v in doc["totals"].items() if v}
        note = f"probe {doc.get('probe_seconds', 0):.1f} s"
    except (OSError, ValueError, KeyError):
        note = "no results JSON: " + (out.strip().splitlines() or ["no output"])[-1][:200]
    name = "suite" if workers != "0" else "suite-serial"
    return RunResult(name, len(checks), wall, code, counts, load_before=load, note=note)


def run_testinfra(image: str, checks: list[pc.Check], cleanup: Cleanup) -> RunResult:
    work = cleanup.tempdir("testinfra")
    shutil.copy(Path(__file__).with_name("testinfra_peer.py"), work / "test_peer.py")
    # The checker as the peers ship it: packed with the pty runner it imports.
    (work / "incontainer_check.py").write_text(pc.CHECKER_SOURCE, encoding="utf-8")
    (work / "cases.json").write_text(json.dumps(pc.testinfra_cases(checks)))
    junit = work / "junit.xml"
    env = bench_env() | {
        "BENCH_IMAGE": image,
        "BENCH_RUN": cleanup.run_id,
        "BENCH_LABEL": BENCH_LABEL,
        "BENCH_DOCKER": DOCKER,
    }
    cmd = peer_pytest("test_peer.py", "-rN", f"--junitxml={junit}", "--rootdir", str(work), "-c", "/dev/null")
    load = os.getloadavg()[0]
    wall, code, out = timed(cmd, work, cleanup, env)
    by_kind, failures = junit_details(junit)
    return RunResult(
        "testinfra",
        len(checks),
        wall,
        code,
        junit_counts(junit),
        load_before=load,
        note="" if junit.exists() else (out.strip().splitlines() or ["no output"])[-1][:200],
        seconds_by_kind=by_kind,
        failures=failures,
    )


def _run_all(
    args: argparse.Namespace,
    only: list[str],
    image: str,
    checks: list[pc.Check],
    applicable: int,
    cleanup: Cleanup,
) -> list[RunResult]:
    """Every chosen runner once per repeat, one after the other, each cleaned up before the next starts."""
    results: list[RunResult] = []
    for rep in range(args.repeat):
        for runner in only:
            print(f"[{rep + 1}/{args.repeat}] {runner} ...", flush=True)
            if runner in ("suite", "suite-serial"):
                workers = "auto" if runner == "suite" else "0"
                res = run_suite(image, checks, applicable, workers, cleanup, args.expectations)
            elif runner == "testinfra":
                res = run_testinfra(image, checks, cleanup)
            else:
                res = run_cst(image, checks, args.cst_sample, cleanup)
            results.append(res)
            print(f"    {res.wall_s:.1f} s, exit {res.exit_code}, {res.counts} {res.note}", flush=True)
            cleanup.run()
    return results


def _describe(
    args: argparse.Namespace,
    attrs: dict[str, Any],
    model: exp.Expectations,
    derivation: pc.Derivation,
    pool: list[pc.Check],
    checks: list[pc.Check],
    kinds: list[str],
) -> None:
    """What is compared: the image, the contract, the checks chosen and what was left out, and why."""
    print(
        f"image {args.image} ({attrs['Id'][:19]}, {model.arch}, base {model.base_kind}); "
        f"contract {model.count()} items from {', '.join(model.files)}"
    )
    if kinds:
        print(f"--kinds {','.join(kinds)}: {len(pool)} of the applicable checks")
    print(
        f"checks: {len(checks)} of {len(derivation.checks)} applicable "
        f"({', '.join(f'{k} {v}' for k, v in derivation.by_kind().items())}); "
        f"{len(derivation.not_applicable)} left out by `when:`"
    )
    if derivation.untranslated:
        shown = sorted({u.split("[", 1)[0] for u in derivation.untranslated})
        print(
            f"NOTE: {len(derivation.untranslated)} applicable items of kinds the peers cannot express "
            f"({', '.join(shown)}) are left out of every runner, the suite's (a subset contract) included"
        )
    if len(pool) < args.checks:
        print(
            f"NOTE: the contract has only {len(pool)} applicable items for this image"
            f"{' and --kinds' if kinds else ''}, "
            f"fewer than the {args.checks} asked for; using all of them (no padding)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", required=True, help="local image to check (never pulled)")
    parser.add_argument(
        "--checks",
        type=int,
        default=300,
        help="how many checks (default 300; the contract may have fewer: then all of them)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per runner; the table shows the median")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--cst-sample",
        type=int,
        metavar="K",
        help="run only K checks with container-structure-test and extrapolate (said so)",
    )
    parser.add_argument(
        "--only",
        default=",".join(RUNNERS),
        help=f"comma-separated runners to run (default: {','.join(RUNNERS)})",
    )
    parser.add_argument("--expectations", type=Path, default=REPO / "expectations")
    parser.add_argument(
        "--kinds",
        help="only these contract kinds, comma-separated (e.g. binaries,files); "
        "all runners, the suite through a subset contract",
    )
    args = parser.parse_args(argv)
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    kinds = [k.strip() for k in (args.kinds or "").split(",") if k.strip()]
    if [k for k in kinds if k not in exp.KINDS]:
        parser.error(f"--kinds: unknown kind(s) (choose from {', '.join(exp.KINDS)})")
    unknown = [r for r in only if r not in RUNNERS]
    if unknown:
        parser.error(f"unknown runner(s) {', '.join(unknown)} (choose from {', '.join(RUNNERS)})")

    try:
        attrs = eng.image_attrs(eng.choose("docker"), args.image)
        if attrs is None:
            raise tgt.TargetError(f"image {args.image!r} not found in the local engine")
    except tgt.TargetError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 4
    cleanup = Cleanup(uuid.uuid4().hex[:10], attrs["Id"])
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        print(
            f"preparing (untimed): expectations, `when:` facts, warm page cache for {args.image} ...",
            flush=True,
        )
        # Pin the image by ID: a rebuild may move the tag while the runners take their turns.
        image = attrs["Id"]
        model, cond, attrs = prepare(image, args.expectations, cleanup)
        derivation = pc.derive_checks(model, cond)
        pool = [c for c in derivation.checks if not kinds or c.kind in kinds]
        checks = pc.select(pool, args.checks)
        _describe(args, attrs, model, derivation, pool, checks, kinds)
        applicable = len(derivation.checks) + len(derivation.untranslated)
        results = _run_all(args, only, image, checks, applicable, cleanup)
        rows = summarize(results)
        print()
        print_table(rows)
        if args.json:
            write_json(args, argv, attrs, model, checks, derivation, kinds, rows, results)
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: removing this run's containers and temp dirs", file=sys.stderr)
        return 130
    except (exp.ExpectationsError, tgt.TargetError, probe.ProbeError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 4
    finally:
        cleanup.run()
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
