#!/usr/bin/env bash
# Prepare a fresh Debian machine for building and checking gpu-devbox:
# Docker engine (BuildKit-capable), QEMU user emulation, debootstrap, a local
# registry, linters, and the Python dependencies. Safe to run again: each step
# is skipped when its result is already there.
set -euo pipefail

log() { printf '[host-setup] %s\n' "$*" >&2; }

need_pkgs=()
# podman (with runc), Ansible's inventory tool and an ssh client let the suite's self-tests reach targets
# through every transport it supports: podman, ansible://, ssh:// and paramiko://.
for spec in dockerd:docker.io debootstrap:debootstrap qemu-aarch64-static:qemu-user-static \
            docker-registry:docker-registry skopeo:skopeo zsh:zsh shellcheck:shellcheck \
            podman:podman runc:runc ansible-inventory:ansible-core ssh:openssh-client \
            ssh-keygen:openssh-client newuidmap:uidmap; do
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
# this script names it directly. PATH itself is left alone: python3 must stay the interpreter that gets
# the project's dependencies.

if ! /usr/bin/docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup /usr/sbin/dockerd >/var/log/devbox-dockerd.log 2>&1 &
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
log "installing Python dependencies"
python3 -m pip install -q --disable-pip-version-check -e "${here}[dev]"

# A CPU torch on the host lets the self-tests run the GPU measurement code against a CPU stand-in for
# CUDA. Optional: without it those tests skip with the reason. Taken from the wheelhouse when it holds a
# wheel for this Python and arch (DEVBOX_WHEELHOUSE, default /opt/wheels, as `devbox base` does), else
# from PyPI's CPU builds where PyPI has them (arm64); never the multi-GB CUDA build.
if ! python3 -c 'import torch' >/dev/null 2>&1; then
  wheelhouse=${DEVBOX_WHEELHOUSE:-/opt/wheels}
  pytag=$(python3 -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
  machine=$(uname -m)
  wheel=$(find "${wheelhouse}" -maxdepth 1 -name "torch-*+cpu-${pytag}-${pytag}-*${machine}.whl" 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "${wheel}" ]; then
    log "installing torch from ${wheel}"
    python3 -m pip install -q --disable-pip-version-check "${wheel}" || log "torch did not install; GPU-code self-tests will skip"
  elif [ "${machine}" = "aarch64" ]; then
    python3 -m pip install -q --disable-pip-version-check 'torch>=2.3' || log "torch did not install; GPU-code self-tests will skip"
  else
    log "no CPU torch wheel in ${wheelhouse}; GPU-code self-tests will skip"
  fi
fi
log "ready"
