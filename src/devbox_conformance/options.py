"""The suite's command-line options: the table (`--NAME` and `--devbox-NAME`), how a run reads them, and
whether the command asks for the suite at all.

Why apart from the plugin: the table is long and changes on its own (a new option, a help text), and the
readers (`run_options`, `expectations_dir`, `suite_requested`) are used by several of the run's modules.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devbox_conformance import cli_args, runopts
from devbox_conformance import engine as eng
from devbox_conformance import expectations as exp
from devbox_conformance import labels as lbl
from devbox_conformance import lease as leases
from devbox_conformance import waivers as wv

GROUP_TITLE = "gpu-devbox conformance suite (every option also answers to --devbox-NAME)"
# The suite's options that take a value, by every spelling (see cli_args: they must never move the rootdir).
VALUE_OPTIONS: list[str] = []
SUITE_OPTIONS: list[str] = []


def _adder(group: Any) -> Callable[..., None]:
    """`add("image", ...)` registers --image and --devbox-image: old names stay, the prefix groups them."""

    def add(name: str, **kwargs: Any) -> None:
        names = cli_args.spellings(name)
        group.addoption(*names, **kwargs)
        SUITE_OPTIONS.extend(names)
        if kwargs.get("action") not in ("store_true", "store_false"):
            VALUE_OPTIONS.extend(n for n in names if n not in VALUE_OPTIONS)

    return add


HOSTS_HELP = (
    "targets to check, comma-separated testinfra host specs (this is testinfra's --hosts): local:// (this "
    "machine), ssh://[USER@]HOST[:PORT] (with --ssh-config, --ssh-identity-file), paramiko://HOST, "
    "docker://NAME, podman://NAME, kubectl://POD, ansible://GROUP (with --ansible-inventory). Several hosts "
    "are probed in parallel and every item is checked per host. devbox-node-check (the node checks without "
    "pytest) runs its probe with the interpreter named by DEVBOX_NODE_CHECK_PYTHON"
)


def add_options(parser: pytest.Parser) -> None:
    """The suite's options, each under both spellings, in one group of pytest's help."""
    group = parser.getgroup("devbox", GROUP_TITLE)
    add = _adder(group)
    add(
        "image",
        dest="devbox_image",
        metavar="IMAGE",
        help="image to check (pulled per --pull; one container is started for the run). The container "
        f"stops itself when the run is gone for {leases.LEASE_ENV} seconds "
        f"(default {leases.DEFAULT_LEASE_S:.0f}); {lbl.GROUP_ENV}=NAME labels it with a group of runs",
    )
    add(
        "container",
        dest="devbox_container",
        metavar="NAME",
        help="running container to check (never removed)",
    )
    add(
        "platform",
        dest="devbox_platform",
        metavar="OS/ARCH",
        help="platform for --image, e.g. linux/arm64: that variant of a multi-arch tag is "
        "pulled and checked against its arch's overlay (runs emulated under QEMU)",
    )
    add(
        "pull",
        dest="devbox_pull",
        choices=eng.PULL_CHOICES,
        default="missing",
        help="when to pull --image: missing (also when the local copy is another arch than "
        "--platform), always, or never (default: %(default)s)",
    )
    add(
        "engine",
        dest="devbox_engine",
        choices=("auto", "docker", "podman"),
        default="auto",
        help="container engine for --image and --container: auto (docker when its client is "
        "there, else podman), docker or podman (default: %(default)s); DEVBOX_DOCKER names the docker client",
    )
    add(
        "engine-arg",
        dest="devbox_engine_args",
        metavar="ARG",
        action="append",
        default=[],
        help="extra option for the engine's `run` of --image, repeatable (e.g. "
        "--engine-arg=--runtime=runc for podman where its defaults are refused)",
    )
    add(
        "expectations",
        dest="devbox_expectations",
        metavar="DIR",
        default=None,
        help="expectations directory, relative to the rootdir (default: expectations/ there, "
        "else the contract shipped with the suite); it may `extends: gpu-devbox`",
    )
    add(
        "no-contract",
        dest="devbox_no_contract",
        action="store_true",
        help="do not add the shipped contract's tests to the run (only the paths given)",
    )
    add(
        "arch",
        dest="devbox_arch",
        metavar="ARCH",
        help="override the target's architecture (picks <ARCH>.yaml)",
    )
    add(
        "base-kind",
        dest="devbox_base_kind",
        choices=lbl.BASE_KINDS,
        help="override the base kind (default: build manifest / image labels)",
    )
    add(
        "gpus",
        dest="devbox_gpus",
        choices=("auto", "all", "none"),
        default="auto",
        help="GPUs for the container started from --image: auto (when the engine has the NVIDIA "
        "runtime and the host sees a GPU), all, or none (default: %(default)s). `all` also means GPUs are "
        "REQUIRED, on every target (--hosts and local:// too): GPU items and GPU performance tests then "
        "fail, not skip, where no GPU is visible",
    )
    add(
        "perf",
        dest="devbox_perf",
        action="store_true",
        help="also run the performance baselines (serially: refused with -n N; same as selecting them "
        "with -m performance). Without it they are not collected. Each figure is printed against its "
        "limit; DEVBOX_PERF_DEVICE picks the GPU index of the in-target benchmark (default 0)",
    )
    add(
        "results-json",
        dest="devbox_results_json",
        metavar="PATH",
        help="write a JSON summary of the run (per kind counts, per item outcome)",
    )
    add(
        "html",
        dest="devbox_html",
        metavar="PATH",
        help="write one self-contained HTML page of the run (per-host table, failures with file:line, "
        "waivers, skips, performance bars), rendered from the results document",
    )
    add(
        "waivers",
        dest="devbox_waivers",
        metavar="FILE",
        help="waivers file: failures accepted until a date, each with its justification (default: "
        f"{wv.FILE_NAME} beside the expectations when there is one). The date is today, or "
        f"{wv.TODAY_ENV}=YYYY-MM-DD",
    )
    add(
        "strict-waivers",
        dest="devbox_strict_waivers",
        action="store_true",
        help="a stale waiver (one that covered no failure of the run) fails the run",
    )
    # testinfra owns --hosts; the prefixed spelling is the same option (same dest), with the suite's help.
    group.addoption(f"{cli_args.PREFIX}hosts", dest="hosts", metavar="SPEC[,SPEC…]", help=HOSTS_HELP)
    VALUE_OPTIONS.append(f"{cli_args.PREFIX}hosts")


# testinfra's connection options, passed to every host the suite makes, as testinfra passes them to its own.
_CONNECTION_OPTIONS = (
    "connection",
    "ssh_config",
    "ssh_extra_args",
    "ssh_identity_file",
    "sudo",
    "sudo_user",
    "ansible_inventory",
    "force_ansible",
)
# --hosts as the user gave it (the controller rewrites testinfra's option to bind `host` to the targets).
USER_HOSTS_KEY = pytest.StashKey["str | None"]()


def run_options(config: pytest.Config) -> runopts.Options:
    if USER_HOSTS_KEY in config.stash:
        hosts = config.stash[USER_HOSTS_KEY]
    else:
        hosts = config.getoption("hosts", default=None)  # testinfra's option: any testinfra host spec
    if isinstance(hosts, list):
        hosts = ",".join(hosts) or None
    connection = {name: config.getoption(name, default=None) for name in _CONNECTION_OPTIONS}
    return runopts.Options(
        image=config.getoption("devbox_image"),
        container=config.getoption("devbox_container"),
        hosts=hosts,
        platform=config.getoption("devbox_platform"),
        expectations_dir=expectations_dir(config),
        arch=config.getoption("devbox_arch"),
        base_kind=config.getoption("devbox_base_kind"),
        gpus=config.getoption("devbox_gpus"),
        pull=config.getoption("devbox_pull"),
        engine=config.getoption("devbox_engine"),
        engine_args=tuple(config.getoption("devbox_engine_args") or ()),
        connection={k: v for k, v in connection.items() if v not in (None, False, "")},
    )


def expectations_dir(config: pytest.Config) -> str:
    """--expectations, relative to the rootdir (not the working directory) when relative; without the
    option, the rootdir's expectations/ (a checkout, or a team's repository), else the shipped contract."""
    chosen = config.getoption("devbox_expectations", default=None)
    if chosen is None:
        local = config.rootpath / "expectations"
        return str(local if (local / "common.yaml").is_file() else exp.SHIPPED_DIR)
    value = Path(chosen)
    local = value if value.is_absolute() else config.rootpath / value
    # A shipped profile by name (`--expectations=gpu-node`) unless a directory of that name is there.
    named = None if local.exists() else exp.shipped(chosen)
    return str(named or local)


# The contract's test functions, shipped in the package (the checkout's tests/ directory).
CONTRACT_DIR = Path(__file__).resolve().parent / "contract"


def add_contract(config: pytest.Config) -> None:
    """Collect the shipped contract too, unless the paths given already hold it (a checkout's tests/).

    Why: installed from a wheel into a team's repository, `pytest --image IMG` must run the whole
    contract — and the team's own tests beside it — without copying test files.
    """
    if config.getoption("devbox_no_contract") or not CONTRACT_DIR.is_dir():
        return
    contract = CONTRACT_DIR.resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = (path if path.is_absolute() else config.invocation_params.dir / path).resolve()
        if path == contract or contract in path.parents:
            return
    config.args.append(str(contract))


def suite_requested(config: pytest.Config, opts: runopts.Options) -> bool:
    """True when a target is given or the suite's own tests/ are collected (in a gpu-devbox checkout)."""
    if opts.image or opts.container or opts.hosts:
        return True
    if suite_option_given(config):
        return True  # `--perf --results-json r.json` without a target: the suite's "no target", not exit 5
    if not (config.rootpath / "expectations" / "common.yaml").is_file():
        return False  # another project's tests/, with this plugin installed through its entry point
    suite_dir = (config.rootpath / "tests").resolve()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == suite_dir or suite_dir in path.parents:
            return True
    return False


def suite_option_given(config: pytest.Config) -> bool:
    """True when the command line names one of the suite's own options (any spelling); --no-contract alone
    asks for nothing of the suite (another project's run may pass it)."""
    names = set(SUITE_OPTIONS) - set(cli_args.spellings("no-contract"))
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    return any(arg.split("=", 1)[0] in names for arg in args if arg.startswith("--"))


def perf_requested(config: pytest.Config) -> bool:
    """Performance baselines load the target for minutes: only with --perf or a -m that names them."""
    return bool(config.getoption("devbox_perf")) or "performance" in (config.getoption("markexpr") or "")
