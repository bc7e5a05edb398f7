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
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(Path(__file__).resolve().parent)]

import peer_checks as pc  # noqa: E402

from devbox_conformance import arch as archs  # noqa: E402
from devbox_conformance import engine as eng  # noqa: E402
from devbox_conformance import expectations as exp  # noqa: E402
from devbox_conformance import labels as lbl  # noqa: E402
from devbox_conformance import probe  # noqa: E402
from devbox_conformance import target as tgt  # noqa: E402

BENCH_LABEL = "io.github.gpu-devbox.bench"
RUNNERS = ("suite", "suite-serial", "testinfra", "cst")
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"


@dataclass
class RunResult:
    """One timed run of one runner."""

    runner: str
    checks: int
    wall_s: float
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    # Set when the wall time is an extrapolation from a sample (container-structure-test only).
    extrapolated_from: int | None = None
    sample_wall_s: float | None = None
    load_before: float = 0.0
    note: str = ""
    # Seconds spent per contract kind, summed over the tool's own per-test times (peers only).
    seconds_by_kind: dict[str, float] = field(default_factory=dict)
    # First few failures: check id -> message, so a reader can tell a real defect from a peer's quirk.
    failures: dict[str, str] = field(default_factory=dict)


class Cleanup:
    """Containers and temp dirs this run made; removed at the end, on an error and on Ctrl-C/SIGTERM."""

    def __init__(self, run_id: str, image_id: str) -> None:
        self.run_id = run_id
        self.image_id = image_id
        self.dirs: list[Path] = []
        # Tags this run added to the image (removing a tag never removes an image that has another one).
        self.tags: list[str] = []
        self.child: subprocess.Popen[bytes] | None = None
        # Containers of the image (by ID, as container-structure-test names it) that existed before CST ran.
        self.cst_since: float | None = None
        self.cst_before: set[str] = set()

    def tempdir(self, what: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"bench-{what}-{self.run_id}-"))
        self.dirs.append(path)
        return path

    def _ids(self, *filters: str) -> list[str]:
        args = [DOCKER, "ps", "-aq", "--no-trunc", *[a for f in filters for a in ("--filter", f)]]
        out = subprocess.run(args, capture_output=True, text=True)
        return out.stdout.split()

    def cst_containers(self) -> list[str]:
        """Containers container-structure-test started in this run: it labels nothing, so they are the
        containers of (a child of) the image that appeared after it started and name their image by ID."""
        if self.cst_since is None:
            return []
        found = []
        for cid in self._ids(f"ancestor={self.image_id}"):
            if cid in self.cst_before:
                continue
            # CST runs a transient image derived from ours, named by ID; other people's containers of the
            # image carry its tag.
            ref = subprocess.run(
                [DOCKER, "inspect", "--format", "{{.Config.Image}}", cid], capture_output=True, text=True
            ).stdout.strip()
            if ref.startswith("sha256:"):
                found.append(cid)
        return found

    def stop_child(self) -> None:
        """Forward Ctrl-C to the running tool (its own cleanup runs), then kill it if it lingers."""
        child, self.child = self.child, None
        if child is None or child.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 60), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def run(self) -> None:
        self.stop_child()
        ours = self._ids(f"label={BENCH_LABEL}={self.run_id}") + self.cst_containers()
        if ours:
            subprocess.run([DOCKER, "rm", "-f", "-v", *ours], capture_output=True)
        if self.tags:
            subprocess.run([DOCKER, "rmi", "--no-prune", *self.tags], capture_output=True)
            self.tags.clear()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# --- preparation (untimed) ------------------------------------------------------------------------------


def prepare(
    image: str, expectations_dir: Path, cleanup: Cleanup
) -> tuple[exp.Expectations, dict[str, Any], dict[str, Any]]:
    """Load the model the suite would load for IMAGE, read the `when:` facts, warm the page cache."""
    attrs = eng.image_attrs(eng.choose("docker"), image) or {}
    arch = archs.image_arch(attrs)
    base_kind = lbl.base_kind_from_labels(lbl.image_labels(attrs)) or "other"
    model = exp.load(expectations_dir, arch, base_kind)
    request = {
        "binaries": [],
        "imports": [],
        "files": [],
        "users": [],
        "groups": [],
        "shells": [],
        "manifest": probe.MANIFEST_PATH,
    }
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
    return model, probe.conditions(facts, arch, base_kind), attrs


# --- runners --------------------------------------------------------------------------------------------


def _timed(
    cmd: list[str], cwd: Path, cleanup: Cleanup, env: dict[str, str] | None = None, timeout: float = 3600
) -> tuple[float, int, str]:
    """(wall seconds, exit code, stdout) of one tool run in its own process group."""
    t0 = time.monotonic()
    child = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    cleanup.child = child
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cleanup.stop_child()
        out = child.communicate()[0] if child.stdout else b""
    wall = time.monotonic() - t0
    cleanup.child = None
    return wall, child.returncode, out.decode("utf-8", "replace")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = "/usr/bin:" + env.get("PATH", "")
    env["DEVBOX_DOCKER"] = DOCKER
    return env


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
    wall, code, out = _timed(cmd, REPO, cleanup, _env())
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
    env = _env() | {
        "BENCH_IMAGE": image,
        "BENCH_RUN": cleanup.run_id,
        "BENCH_LABEL": BENCH_LABEL,
        "BENCH_DOCKER": DOCKER,
    }
    # The suite registers itself as a pytest plugin (pytest11); a peer run must not load it.
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "test_peer.py",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:devbox_conformance.plugin",
        "-q",
        "--no-header",
        "-rN",
        f"--junitxml={junit}",
        "--rootdir",
        str(work),
        "-c",
        "/dev/null",
    ]
    load = os.getloadavg()[0]
    wall, code, out = _timed(cmd, work, cleanup, env)
    by_kind, failures = _junit_details(junit)
    return RunResult(
        "testinfra",
        len(checks),
        wall,
        code,
        _junit_counts(junit),
        load_before=load,
        note="" if junit.exists() else (out.strip().splitlines() or ["no output"])[-1][:200],
        seconds_by_kind=by_kind,
        failures=failures,
    )


def _junit_suite(path: Path) -> Any:
    import xml.etree.ElementTree as ET  # noqa: PLC0415

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    return root if root.tag == "testsuite" else root.find("testsuite")


def _junit_details(path: Path) -> tuple[dict[str, float], dict[str, str]]:
    """(seconds per kind, failed check id -> message) from testinfra's JUnit report."""
    suite = _junit_suite(path)
    by_kind: dict[str, float] = {}
    failures: dict[str, str] = {}
    for case in suite.iter("testcase") if suite is not None else ():
        check_id = case.get("name", "").removeprefix("test_check[").removesuffix("]")
        kind = check_id.split("[", 1)[0]
        by_kind[kind] = round(by_kind.get(kind, 0.0) + float(case.get("time") or 0), 3)
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None and len(failures) < 10:
            failures[check_id] = (bad.get("message") or "")[:300]
    return by_kind, failures


def _junit_counts(path: Path) -> dict[str, int]:
    suite = _junit_suite(path)
    if suite is None:
        return {}
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0))
    errors = int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    counts = {
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "skipped": skipped,
        "error": errors,
    }
    return {k: v for k, v in counts.items() if v}


def run_cst(image: str, checks: list[pc.Check], sample: int | None, cleanup: Cleanup) -> RunResult:
    """container-structure-test on a generated config; with `sample`, K checks timed and extrapolated."""
    chosen = pc.select(checks, sample) if sample and sample < len(checks) else list(checks)
    cfg, covers = pc.cst_config(chosen)
    work = cleanup.tempdir("cst")
    if image.startswith("sha256:"):
        # CST's file and metadata tests cannot find an image by ID: give it a tag of its own for this run.
        tag = f"bench-cst-{cleanup.run_id}:pinned"
        subprocess.run([DOCKER, "tag", image, tag], check=True, capture_output=True)
        cleanup.tags.append(tag)
        image = tag
    (work / "cst.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, width=1 << 16))
    report = work / "report.json"
    cmd = [
        "container-structure-test",
        "test",
        "--image",
        image,
        "--config",
        str(work / "cst.yaml"),
        "--output",
        "json",
        "--test-report",
        str(report),
        "--no-color",
    ]
    cleanup.cst_before = set(cleanup._ids(f"ancestor={cleanup.image_id}"))
    cleanup.cst_since = time.time()
    load = os.getloadavg()[0]
    try:
        wall, code, out = _timed(cmd, work, cleanup, _env())
    finally:
        leftovers = cleanup.cst_containers()
        if leftovers:
            subprocess.run([DOCKER, "rm", "-f", "-v", *leftovers], capture_output=True)
        cleanup.cst_since = None
    doc = _cst_report(report, out)
    passed = failed = 0
    per_kind: dict[str, list[float]] = {}
    failures: dict[str, str] = {}
    skipped_like = 0
    for res in doc.get("Results") or []:
        ids = covers.get(_cst_key(res.get("Name", ""), covers), [])
        n = max(len(ids), 1)
        if res.get("Pass"):
            passed += n
            if "SKIP:" in str(res.get("Stdout") or ""):
                skipped_like += 1
        else:
            failed += n
            if len(failures) < 10:
                failures[",".join(ids) or res.get("Name", "?")] = "; ".join(
                    [*map(str, res.get("Errors") or []), str(res.get("Stdout") or "")]
                )[:300]
        kind = ids[0].split("[", 1)[0] if len(ids) == 1 else "metadata"
        per_kind.setdefault(kind, []).append(float(res.get("Duration") or 0) / 1e9)
    counts = {k: v for k, v in {"passed": passed, "failed": failed}.items() if v}
    note = f"{len(doc.get('Results') or [])} CST tests"
    if skipped_like:
        note += f"; {skipped_like} passes are absent optional items (SKIP)"
    by_kind = {k: round(sum(v), 3) for k, v in per_kind.items()}
    if len(chosen) == len(checks):
        return RunResult(
            "cst",
            len(checks),
            wall,
            code,
            counts,
            load_before=load,
            note=note,
            seconds_by_kind=by_kind,
            failures=failures,
        )
    # Extrapolate: fixed overhead (wall minus the tests' own durations) + per-kind mean x full count.
    # The full config's own tests per kind (labels, env, CMD, WORKDIR share the one metadataTest).
    overhead = max(wall - sum(sum(v) for v in per_kind.values()), 0.0)
    full_by_kind: dict[str, int] = {}
    for ids in pc.cst_config(list(checks))[1].values():
        kind = ids[0].split("[", 1)[0] if len(ids) == 1 else "metadata"
        full_by_kind[kind] = full_by_kind.get(kind, 0) + 1
    estimate = overhead
    for kind, count in full_by_kind.items():
        durations = per_kind.get(kind)
        if durations:
            estimate += statistics.fmean(durations) * count
        # a kind the sample missed has too few tests to matter (select() spreads the sample evenly)
    return RunResult(
        "cst",
        len(checks),
        estimate,
        code,
        counts,
        extrapolated_from=len(chosen),
        sample_wall_s=wall,
        load_before=load,
        seconds_by_kind=by_kind,
        failures=failures,
        note=note + f"; EXTRAPOLATED from {len(chosen)} of {len(checks)} checks ({wall:.1f} s measured)",
    )


def _cst_key(name: str, covers: dict[str, list[str]]) -> str:
    for key in covers:
        section, _, test = key.partition(":")
        if name.endswith(": " + test) or name == test or (section == "metadataTest" and "Metadata" in name):
            return key
    return ""


def _cst_report(report: Path, stdout: str) -> dict[str, Any]:
    for text in ([report.read_text()] if report.exists() else []) + stdout.splitlines()[::-1]:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "Results" in doc:
            return doc
    return {}


# --- report ---------------------------------------------------------------------------------------------


def summarize(results: list[RunResult]) -> list[dict[str, Any]]:
    """One row per runner: median wall time over repeats, ratio to the suite's (-n auto) median."""
    rows: list[dict[str, Any]] = []
    by_runner: dict[str, list[RunResult]] = {}
    for r in results:
        by_runner.setdefault(r.runner, []).append(r)
    base = statistics.median(r.wall_s for r in by_runner["suite"]) if "suite" in by_runner else None
    for runner in RUNNERS:
        runs = by_runner.get(runner)
        if not runs:
            continue
        wall = statistics.median(r.wall_s for r in runs)
        last = runs[-1]
        rows.append(
            {
                "runner": runner,
                "checks": last.checks,
                "wall_s": round(wall, 2),
                "walls_s": [round(r.wall_s, 2) for r in runs],
                "checks_per_s": round(last.checks / wall, 2) if wall else None,
                "ratio_vs_suite": round(wall / base, 2) if base else None,
                "counts": last.counts,
                "extrapolated_from": last.extrapolated_from,
                "note": last.note,
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'runner':<14}{'checks':>7}{'wall s':>10}{'checks/s':>10}{'x suite':>9}  pass/fail/skip   note"
    print(head)
    print("-" * len(head))
    for row in rows:
        c = row["counts"]
        pfs = f"{c.get('passed', 0)}/{c.get('failed', 0) + c.get('error', 0)}/{c.get('skipped', 0)}"
        wall = f"{row['wall_s']:.1f}" + ("*" if row["extrapolated_from"] else "")
        ratio = f"{row['ratio_vs_suite']:.1f}x" if row["ratio_vs_suite"] else "-"
        print(
            f"{row['runner']:<14}{row['checks']:>7}{wall:>10}{row['checks_per_s'] or 0:>10.2f}{ratio:>9}  "
            f"{pfs:<16} {row['note']}"
        )
    if any(r["extrapolated_from"] for r in rows):
        print(
            "* extrapolated from a sample (see note): per-kind mean test time x full count + fixed overhead"
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
    previous = signal.signal(signal.SIGTERM, _interrupt)
    results: list[RunResult] = []
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
        if len(pool) < args.checks:
            print(
                f"NOTE: the contract has only {len(pool)} applicable items for this image"
                f"{' and --kinds' if kinds else ''}, "
                f"fewer than the {args.checks} asked for; using all of them (no padding)"
            )
        for rep in range(args.repeat):
            for runner in only:
                print(f"[{rep + 1}/{args.repeat}] {runner} ...", flush=True)
                if runner in ("suite", "suite-serial"):
                    res = run_suite(
                        image,
                        checks,
                        len(derivation.checks),
                        "auto" if runner == "suite" else "0",
                        cleanup,
                        args.expectations,
                    )
                elif runner == "testinfra":
                    res = run_testinfra(image, checks, cleanup)
                else:
                    res = run_cst(image, checks, args.cst_sample, cleanup)
                results.append(res)
                print(f"    {res.wall_s:.1f} s, exit {res.exit_code}, {res.counts} {res.note}", flush=True)
                cleanup.run()
        rows = summarize(results)
        print()
        print_table(rows)
        if args.json:
            doc = {
                "schema_version": 1,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                "image": {
                    "ref": args.image,
                    "id": attrs["Id"],
                    "arch": model.arch,
                    "base_kind": model.base_kind,
                    "size_bytes": attrs.get("Size"),
                },
                "repo": _version(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
                "host": {
                    "cpus": os.cpu_count(),
                    "machine": platform.machine(),
                    "cst": _version(["container-structure-test", "version"]),
                },
                "checks": {
                    "used": len(checks),
                    "applicable": len(derivation.checks),
                    "requested": args.checks,
                    "kinds": kinds or "all",
                    "by_kind": derivation.by_kind(),
                    "not_applicable": [list(x) for x in derivation.not_applicable],
                },
                "summary": rows,
                "runs": [asdict(r) for r in results],
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"wrote {args.json}")
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


def _version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
