#!/usr/bin/env bash
# Prepare a fresh Debian machine for building and checking gpu-devbox:
# Docker engine (BuildKit-capable), QEMU user emulation, debootstrap, a local
# registry, linters, and the Python dependencies in the checkout's .venv. Safe to
# run again: each step is skipped when its result is already there.
set -euo pipefail

log() { printf '[host-setup] %s\n' "$*" >&2; }

need_pkgs=()
# podman (with runc), Ansible's inventory tool and an ssh client let the suite's self-tests reach targets
# through every transport it supports: podman, ansible://, ssh:// and paramiko://. Headless Chromium renders
# the suite's HTML report in its self-tests.
for spec in dockerd:docker.io debootstrap:debootstrap qemu-aarch64-static:qemu-user-static \
            docker-registry:docker-registry skopeo:skopeo zsh:zsh shellcheck:shellcheck \
            podman:podman runc:runc ansible-inventory:ansible-core ssh:openssh-client \
            ssh-keygen:openssh-client newuidmap:uidmap chromium:chromium; do
  cmd=${spec%%:*}; pkg=${spec#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need_pkgs+=("$pkg")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  apt-get update -qq
  # shellcheck disable=SC2046 # one word per package, duplicates dropped
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need_pkgs[@]}" | sort -u) binfmt-support >/dev/null
fi

# Debian's client (/usr/bin/docker) knows BuildKit; a newer client elsewhere on PATH may lack buildx, so
# this script names it directly.

if ! /usr/bin/docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup /usr/sbin/dockerd >/var/log/devbox-dockerd.log 2>&1 &
  # Whoever stops it later (.ci/run) stops this process, by its id, and nothing else.
  echo "$!" >"${DEVBOX_DOCKERD_PIDFILE:-/run/gpu-devbox-dockerd.pid}"
  for _ in $(seq 1 60); do
    /usr/bin/docker info >/dev/null 2>&1 && break
    sleep 1
  done
  /usr/bin/docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/devbox-dockerd.log"; exit 1; }
fi

# QEMU binfmt handlers let arm64 images build and run on amd64 hosts.
if [ "$(uname -m)" = "x86_64" ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || log "could not enable qemu-aarch64 binfmt; arm64 builds will fail"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The project's Python dependencies live in a virtual environment of the checkout: a distribution's own
# python3 (Debian 12, Ubuntu 24.04) refuses `pip install` outside one (PEP 668). Any python3 >= 3.10 makes
# it (DEVBOX_PYTHON picks another); the distribution's python3-venv is installed when `venv` lacks ensurepip.
venv="${here}/.venv"
py=${DEVBOX_PYTHON:-python3}
if ! "${py}" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  log "${py} is missing or older than 3.10; set DEVBOX_PYTHON to a python3 >= 3.10"
  exit 1
fi
if [ ! -x "${venv}/bin/python" ]; then
  if ! "${py}" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pyver=$("${py}" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    log "installing python${pyver}-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "python${pyver}-venv" >/dev/null
  fi
  log "creating ${venv}"
  "${py}" -m venv "${venv}"
fi
vpy="${venv}/bin/python"
log "installing Python dependencies into ${venv}"
"${vpy}" -m pip install -q --disable-pip-version-check -e "${here}[dev]"

# A CPU torch in the venv lets the self-tests run the GPU measurement code against a CPU stand-in for
# CUDA. Optional: without it those tests skip with the reason. Taken from the wheelhouse when it holds a
# wheel for this Python and arch (DEVBOX_WHEELHOUSE, default /opt/wheels, as `devbox base` does), else
# from PyPI's CPU builds where PyPI has them (arm64); never the multi-GB CUDA build.
if ! "${vpy}" -c 'import torch' >/dev/null 2>&1; then
  wheelhouse=${DEVBOX_WHEELHOUSE:-/opt/wheels}
  pytag=$("${vpy}" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
  machine=$(uname -m)
  wheel=$(find "${wheelhouse}" -maxdepth 1 -name "torch-*+cpu-${pytag}-${pytag}-*${machine}.whl" 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "${wheel}" ]; then
    log "installing torch from ${wheel}"
    "${vpy}" -m pip install -q --disable-pip-version-check "${wheel}" || log "torch did not install; GPU-code self-tests will skip"
  elif [ "${machine}" = "aarch64" ]; then
    "${vpy}" -m pip install -q --disable-pip-version-check 'torch>=2.3' || log "torch did not install; GPU-code self-tests will skip"
  else
    log "no CPU torch wheel in ${wheelhouse}; GPU-code self-tests will skip"
  fi
fi
log "ready"
