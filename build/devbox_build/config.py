"""Settings shared by the subcommands: upstream's environment variables, their defaults, and parsing.

Command-line flags override the environment, which overrides the defaults below (the upstream scripts'
variables keep working: IMAGE, TAG, PLATFORMS, BUILDER, BUILD_CONTEXT, DOCKERFILE, VCS_REF, CACHE_DIR,
SKIP_LOGIN, INSTALL_*).

Example:
    parse_platforms("linux/amd64,linux/arm64")  # -> ("amd64", "arm64")
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

from devbox_build.errors import UsageError
from devbox_conformance.arch import MACHINE_TO_ARCH
from devbox_conformance.arch import SUPPORTED as SUPPORTED_ARCHES

# The repository root: build/devbox_build/config.py -> parents[2].
REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_IMAGE = "gpu-devbox"
DEFAULT_BUILD_TAG = "local"
DEFAULT_PUSH_TAG = "latest"
DEFAULT_PLATFORMS = "linux/amd64,linux/arm64"
DEFAULT_BUILDER = "gpu-devbox-builder"
DEFAULT_DOCKERFILE = "Dockerfile"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_WHEELHOUSE = Path("/opt/wheels")
STANDIN_BASE = "gpu-devbox-base:{suite}-{arch}"

_ARM64_V8 = {"arm64/v8": "arm64", "aarch64/v8": "arm64"}

# Docker's reference grammar (distribution/reference): a registry host[:port], then lowercase path
# components joined by '/', each alphanumerics with single separators '.', '_', '__' or runs of '-'.
_DOMAIN = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$"
)
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Per-arch tags append "-amd64"/"-arm64" to TAG, and a tag has at most 128 characters.
MAX_TAG = 128 - len("-arm64")


def env(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """An environment variable, where an empty value counts as unset (as `${X:-default}` did upstream)."""
    value = (os.environ if environ is None else environ).get(name, "")
    return value if value else default


def host_arch(machine: str | None = None) -> str:
    """This machine's architecture in Docker's spelling (amd64, arm64)."""
    m = (machine or platform.machine()).lower()
    if m not in MACHINE_TO_ARCH:
        raise UsageError(f"unsupported host architecture {m!r}: gpu-devbox builds for amd64 and arm64")
    return MACHINE_TO_ARCH[m]


def parse_arch(text: str) -> str:
    """'arm64', 'linux/arm64', 'aarch64' -> 'arm64'; anything else is a one-line usage error."""
    value = text.strip().lower()
    if value.startswith("linux/"):
        value = value.removeprefix("linux/")
        # v8 is arm64's only variant (what `docker version` and manifest lists often print): the same image
        value = _ARM64_V8.get(value, value)
    elif "/" in value:
        raise UsageError(f"bad platform {text!r}: only linux/amd64 and linux/arm64 are supported")
    value = MACHINE_TO_ARCH.get(value, value)
    if value not in SUPPORTED_ARCHES:
        raise UsageError(f"bad platform {text!r}: use linux/amd64 or linux/arm64")
    return value


def parse_platforms(text: str) -> tuple[str, ...]:
    """A comma-separated PLATFORMS value -> arches, in order, without duplicates."""
    arches: list[str] = []
    for part in text.split(","):
        if not part.strip():
            continue
        arch = parse_arch(part)
        if arch not in arches:
            arches.append(arch)
    if not arches:
        raise UsageError(f"no platform in {text!r}: use e.g. linux/amd64,linux/arm64")
    return tuple(arches)


def _git(context: Path, *argv: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(
            ["git", "-C", str(context), *argv], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def vcs_ref(context: Path, environ: Mapping[str, str] | None = None) -> str:
    """VCS_REF, else the short commit of the build context, else 'unknown' (as upstream).

    A context with uncommitted changes (modified, staged, deleted or untracked files that git does not
    ignore) is not that commit: the ref then ends in '-dirty', and so it does when git cannot say
    whether the tree is clean, since an image label must never claim a commit it was not built from.
    """
    given = env("VCS_REF", "", environ)
    if given:
        return given
    head = _git(context, "rev-parse", "--short", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return "unknown"
    status = _git(context, "status", "--porcelain", "--untracked-files=normal", "--", ".")
    clean = status is not None and status.returncode == 0 and not status.stdout.strip()
    return head.stdout.strip() + ("" if clean else "-dirty")


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """CACHE_DIR (debootstrap tarballs, buildx cache), default ~/.cache/gpu-devbox."""
    return Path(env("CACHE_DIR", str(Path.home() / ".cache" / "gpu-devbox"), environ)).expanduser()


def _work_root() -> Path:
    """The checkout this harness runs from, or — installed from a wheel, where REPO_ROOT is inside the
    Python installation — the working directory, so logs and results never land in site-packages."""
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()


def log_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where build logs go: LOG_DIR, default <repo>/logs (git-ignored)."""
    return Path(env("LOG_DIR", str(_work_root() / "logs"), environ)).expanduser()


def results_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where release keeps the suite's per-arch results: RESULTS_DIR, default <repo>/results (git-ignored)."""
    return Path(env("RESULTS_DIR", str(_work_root() / "results"), environ)).expanduser()


def truthy(value: str) -> bool:
    """Shell-style booleans as the upstream scripts read them ('1', 'true', 'yes')."""
    return value.strip().lower() in {"1", "true", "yes", "on"}


def check_image(image: str) -> str:
    """IMAGE in Docker's reference grammar (no tag, no digest), else a one-line usage error."""
    where = f"bad IMAGE {image!r} (--image or env IMAGE)"
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        raise UsageError(f"{where}: give the name only; the tag goes in TAG (--tag)")
    parts = image.split("/")
    # As Docker reads it: the first part is a registry only with a '.' or ':' in it, or as localhost.
    first = parts[0]
    has_domain = len(parts) > 1 and ("." in first or ":" in first or first == "localhost")
    if has_domain and not _DOMAIN.match(first):
        raise UsageError(f"{where}: {first!r} is not a registry host[:port]")
    path = parts[1:] if has_domain else parts
    bad = [c for c in path if not _PATH_COMPONENT.match(c)]
    if bad:
        raise UsageError(
            f"{where}: {bad[0]!r} is not a repository name component (lowercase letters and digits, "
            "joined by '.', '_', '__' or '-')"
        )
    if len(image) > 255:
        raise UsageError(f"{where}: {len(image)} characters, at most 255")
    return image


def check_tag(tag: str) -> str:
    """TAG in Docker's tag grammar, short enough for its per-arch tags, else a one-line usage error."""
    where = f"bad TAG {tag!r} (--tag or env TAG)"
    if not _TAG.match(tag):
        raise UsageError(f"{where}: letters, digits, '_', '.' and '-', not starting with '.' or '-'")
    if len(tag) > MAX_TAG:
        raise UsageError(f"{where}: {len(tag)} characters, at most {MAX_TAG} (per-arch tags add '-arm64')")
    return tag
