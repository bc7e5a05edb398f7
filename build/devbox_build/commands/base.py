"""`devbox base`: the Debian stand-in base gpu-devbox-base:<suite>-<arch>, built offline from debootstrap.

Used where the NGC base can't be pulled (no registry, CI): minbase Debian + Python + torch (from a local
wheelhouse when it has a wheel for the arch, else PyPI), labelled io.github.gpu-devbox.base-kind=standin.
The debootstrap tarball is cached in CACHE_DIR keyed by arch, suite, mirror and package list, so a rerun
only redoes the (cached) docker build. The host CA bundle reaches pip as a BuildKit secret, never a layer.

With --cuda (amd64) the base gets PyPI's CUDA build of torch with NVIDIA's runtime wheels (cuBLAS, cuDNN,
NCCL …) and the compiler wheel of the same CUDA release (ptxas and NVVM; NVIDIA's wheel has no `nvcc`
driver, so `nvcc` stays an NGC-base item): real CUDA libraries without a GPU, so every `cuda: true` item of
the contract runs in CI (the `gpu: true` ones skip: no GPU). Its pip downloads (about 3 GB) live in a
BuildKit cache mount, so a rebuild on the same machine downloads nothing.

Example:
    ./devbox base --arch arm64           # minutes under QEMU the first time
    ./devbox base --no-torch --tag my-base:test
    ./devbox base --cuda                 # gpu-devbox-base:bookworm-amd64-cuda
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devbox_build import config, runner
from devbox_build.builder import BuildRequest, build
from devbox_build.docker import Docker
from devbox_build.errors import UsageError

INCLUDE = ("python3", "python3-pip", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# PyPI's torch is a CPU build on arm64; on amd64 PyPI's default is the (huge) CUDA build: use the CPU index.
PYPI_TORCH = {
    "arm64": ("torch==2.9.1", ""),
    "amd64": ("torch==2.9.1", "https://download.pytorch.org/whl/cpu"),
}
# --cuda: PyPI's default torch on amd64 is the CUDA build (CUDA 12.8 for 2.9.1); its nvidia-*-cu12 runtime
# wheels come as its dependencies; the compiler wheel is pinned to the same CUDA release.
CUDA_TORCH = "torch==2.9.1"
CUDA_RELEASE = "12.8"
CUDA_EXTRAS = (f"nvidia-cuda-nvcc-cu12=={CUDA_RELEASE}.*",)
# wheel platform tags per arch
_WHEEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
_WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<py>cp\d+|py3)-[^-]+-(?P<plat>.+)\.whl$")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "base",
        help="build the Debian stand-in base gpu-devbox-base:<suite>-<arch>",
        description="debootstrap a minimal Debian, add Python and torch, tag it as the "
        "stand-in base. Needs root (debootstrap).",
    )
    p.add_argument("--arch", default=None, help="amd64 or arm64 (default: the host's)")
    p.add_argument("--suite", default="bookworm", help="Debian suite (default %(default)s)")
    p.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror (default %(default)s)")
    p.add_argument("--no-torch", action="store_true", help="leave torch out")
    p.add_argument(
        "--cuda",
        action="store_true",
        help="amd64: PyPI's CUDA torch, NVIDIA's runtime and compiler wheels (tag suffix -cuda)",
    )
    wheels = config.DEFAULT_WHEELHOUSE if config.DEFAULT_WHEELHOUSE.is_dir() else None
    p.add_argument(
        "--wheelhouse",
        type=Path,
        default=wheels,
        help="folder with a torch wheel for the arch (default: %(default)s)",
    )
    p.add_argument(
        "--torch",
        default=None,
        metavar="SPEC",
        help="torch requirement from PyPI when the wheelhouse has none (default torch==2.9.1)",
    )
    ca_default = config.DEFAULT_CA_BUNDLE if config.DEFAULT_CA_BUNDLE.is_file() else None
    p.add_argument(
        "--ca-bundle", type=Path, default=ca_default, help="CA bundle for pip (default %(default)s)"
    )
    p.add_argument("--tag", default=None, help="image tag (default gpu-devbox-base:<suite>-<arch>)")
    p.add_argument("--verbose", action="store_true", help="echo every BuildKit line")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class TorchSource:
    """Where the stand-in's torch comes from."""

    # pip requirement, pinned so pip never picks another build
    requirement: str
    # a wheel to stage into the build context's wheelhouse/ (None: from an index)
    wheel: Path | None
    # --index-url for pip ('' = PyPI)
    index_url: str
    # more requirements installed with torch (the CUDA base's compiler wheel)
    extras: tuple[str, ...] = ()
    # True: CUDA build; pip's downloads are kept in a BuildKit cache mount (GBs, reused on rebuilds)
    cuda: bool = False


def find_wheel(wheelhouse: Path | None, arch: str, py: str = "cp311") -> Path | None:
    """The newest torch wheel in WHEELHOUSE built for ARCH and Debian bookworm's Python."""
    if wheelhouse is None or not wheelhouse.is_dir():
        return None
    hits = []
    for w in wheelhouse.glob("torch-*.whl"):
        m = _WHEEL.match(w.name)
        if m and m["name"] == "torch" and m["py"] in (py, "py3") and _WHEEL_ARCH[arch] in m["plat"]:
            hits.append(w)
    return sorted(hits)[-1] if hits else None


def torch_source(arch: str, wheelhouse: Path | None, spec: str | None, cuda: bool = False) -> TorchSource:
    if cuda:
        if arch != "amd64":
            raise UsageError(f"--cuda: PyPI publishes CUDA builds of torch for amd64 only (asked: {arch})")
        return TorchSource(spec or CUDA_TORCH, None, "", CUDA_EXTRAS, cuda=True)
    wheel = find_wheel(wheelhouse, arch)
    if wheel is not None and spec is None:
        m = _WHEEL.match(wheel.name)
        assert m is not None
        return TorchSource(f"torch=={m['version']}", wheel, "")
    req, index = PYPI_TORCH[arch]
    return TorchSource(spec or req, None, index)


def cache_key(arch: str, suite: str, mirror: str) -> str:
    digest = hashlib.sha256("|".join([arch, suite, mirror, *INCLUDE]).encode()).hexdigest()[:12]
    return f"rootfs-{suite}-{arch}-{digest}.tar"


def dockerfile_text(torch: TorchSource | None) -> str:
    """The stand-in's Dockerfile (pure; unit-tested). The CA secret and wheels are mounts, not layers."""
    lines = [
        "FROM scratch",
        "ADD rootfs.tar /",
        "RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf python3 /usr/bin/python",
    ]
    if torch is not None:
        index = f" --index-url {torch.index_url}" if torch.index_url else ""
        cache = (
            "--mount=type=cache,id=devbox-pip-cuda,target=/root/.cache/pip,sharing=locked "
            if torch.cuda
            else ""
        )
        nocache = "" if torch.cuda else " --no-cache-dir"
        extras = "".join(f" '{r}'" for r in torch.extras)
        lines.append(
            f"RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse --mount=type=secret,id=ca {cache}"
            "if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi "
            # numpy too: the NGC base ships it, torch warns on stderr without it, and the contract expects it.
            f"&& pip install{nocache} --find-links /wheelhouse{index} '{torch.requirement}' numpy{extras}"
        )
    if torch is not None and torch.cuda:
        # What NGC's images set too: the image says it is a CUDA image, so a torch that fell back to a CPU
        # build fails the contract's torch_cuda item instead of skipping every CUDA item.
        lines.append(f"ENV CUDA_VERSION={CUDA_RELEASE}")
    lines += ["LABEL io.github.gpu-devbox.base-kind=standin", 'CMD ["/bin/bash"]', ""]
    return "\n".join(lines)


def bootstrap(arch: str, suite: str, mirror: str, cache: Path) -> Path:
    """The cached rootfs tarball for ARCH/SUITE, debootstrapping it on a miss (root needed)."""
    tarball = cache / cache_key(arch, suite, mirror)
    if tarball.is_file():
        print(f"rootfs: cached {tarball}")
        return tarball
    if os.geteuid() != 0:
        raise UsageError(
            "debootstrap needs root: run `sudo ./devbox base`, or reuse a cached rootfs in CACHE_DIR"
        )
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").exists():
        raise UsageError("debootstrap is not installed (apt-get install debootstrap qemu-user-static)")
    cache.mkdir(parents=True, exist_ok=True)
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    with tempfile.TemporaryDirectory(prefix="devbox-rootfs-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        started = time.monotonic()
        print(f"rootfs: debootstrap {suite} {arch} (about 30 s on amd64, minutes for a foreign arch)")
        runner.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--arch={arch}",
                f"--include={','.join(INCLUDE)}",
                suite,
                str(root),
                mirror,
            ]
        )
        partial = Path(tmp) / "rootfs.tar"
        runner.run(["tar", "-C", str(root), "-cf", str(partial), "."])
        partial.replace(tarball)
        print(f"rootfs: {tarball} in {time.monotonic() - started:.0f} s")
    return tarball


def run(args: argparse.Namespace) -> int:
    arch = config.parse_arch(args.arch) if args.arch else config.host_arch()
    tag = args.tag or config.STANDIN_BASE.format(suite=args.suite, arch=arch) + ("-cuda" if args.cuda else "")
    if args.ca_bundle is not None and not Path(args.ca_bundle).is_file():
        raise UsageError(f"CA bundle not found: {args.ca_bundle} (--ca-bundle)")
    docker = Docker.detect()
    docker.ping()
    started = time.monotonic()
    tarball = bootstrap(arch, args.suite, args.mirror, config.cache_dir())
    if args.cuda and args.no_torch:
        raise UsageError("--cuda and --no-torch: the CUDA base is a CUDA torch")
    torch = None if args.no_torch else torch_source(arch, args.wheelhouse, args.torch, cuda=args.cuda)
    if torch is not None:
        print(f"torch: {torch.requirement} from {torch.wheel or torch.index_url or 'PyPI'}")
    with tempfile.TemporaryDirectory(prefix="devbox-base-ctx-", dir=config.cache_dir()) as tmp:
        ctx = Path(tmp)
        try:
            os.link(tarball, ctx / "rootfs.tar")
        except OSError:
            shutil.copy2(tarball, ctx / "rootfs.tar")
        (ctx / "wheelhouse").mkdir()
        if torch is not None and torch.wheel is not None:
            try:
                os.link(torch.wheel, ctx / "wheelhouse" / torch.wheel.name)
            except OSError:
                shutil.copy2(torch.wheel, ctx / "wheelhouse" / torch.wheel.name)
        (ctx / "Dockerfile").write_text(dockerfile_text(torch))
        secrets = {"ca": Path(args.ca_bundle).resolve()} if args.ca_bundle is not None else {}
        req = BuildRequest(
            context=ctx,
            dockerfile=ctx / "Dockerfile",
            tags=[tag],
            platforms=[arch],
            secrets=secrets,
            verbose=args.verbose,
        )
        image_id = build(docker, req, log_name=f"base-{arch}")
    print(f"built {tag} ({image_id[:19]}) in {time.monotonic() - started:.0f} s")
    return 0
