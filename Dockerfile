# gpu-devbox: an NGC PyTorch image (or a Debian stand-in) with the team's tools, for amd64 and arm64.
# Layers run from least to most often changed: one per package set (packages/apt, packages/pip), then
# the rootfs/ overlay, then identity. See docs/IMAGE.md for the build args and measurements.
# Docker 20.10's built-in frontend parses this file: no heredocs, no `# syntax=` line.

ARG BASE_IMAGE=nvcr.io/nvidia/pytorch:25.11-py3
FROM ${BASE_IMAGE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ARG TARGETARCH
ARG DEBIAN_FRONTEND=noninteractive

# PS1 has a default because NGC's /etc/bash.bashrc runs under `set -u` (through BASH_ENV) and reads it.
ENV TZ=UTC \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    DEVBOX_CONTAINER=1 \
    PS1="\\u@\\h:\\w\\$ "

# Keep downloaded .debs in the BuildKit cache mount (Debian/Ubuntu images delete them through
# docker-clean) and skip apt's binary package cache, which would otherwise land in every apt layer.
# Then record the base's pip freeze before any set can add to it.
RUN --mount=type=bind,source=packages/base_constraints.py,target=/tmp/devbox-build/base_constraints.py \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && printf '%s\n' \
        'Binary::apt::APT::Keep-Downloaded-Packages "true";' \
        'Dir::Cache::pkgcache "";' \
        'Dir::Cache::srcpkgcache "";' \
        >/etc/apt/apt.conf.d/00devbox-keep-downloads \
    && mkdir -p /etc/devbox/sets /opt/devbox \
    && python3 -B /tmp/devbox-build/base_constraints.py --output /opt/devbox/base-constraints.txt

# ---- apt package sets: one list, one layer each ----
ARG INSTALL_BASE_TOOLS=true
RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=devbox-apt-archives,target=/var/cache/apt/archives,sharing=locked \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_apt.py,target=/tmp/devbox-build/install_apt.py \
    --mount=type=bind,source=packages/apt/base-tools.txt,target=/tmp/devbox-build/list.txt \
    python3 -B /tmp/devbox-build/install_apt.py --set base-tools --list /tmp/devbox-build/list.txt \
        --arch "${TARGETARCH}" --enabled "${INSTALL_BASE_TOOLS}" --disabled-reason "INSTALL_BASE_TOOLS=${INSTALL_BASE_TOOLS}"

ARG INSTALL_DEV_TOOLS=true
RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=devbox-apt-archives,target=/var/cache/apt/archives,sharing=locked \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_apt.py,target=/tmp/devbox-build/install_apt.py \
    --mount=type=bind,source=packages/apt/dev-tools.txt,target=/tmp/devbox-build/list.txt \
    python3 -B /tmp/devbox-build/install_apt.py --set dev-tools --list /tmp/devbox-build/list.txt \
        --arch "${TARGETARCH}" --enabled "${INSTALL_DEV_TOOLS}" --disabled-reason "INSTALL_DEV_TOOLS=${INSTALL_DEV_TOOLS}"

# Nsight comes from NVIDIA's apt repository, which the NGC base configures; elsewhere it is skipped.
ARG INSTALL_GPU_TOOLS=true
ARG INSTALL_NSIGHT=true
RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=devbox-apt-archives,target=/var/cache/apt/archives,sharing=locked \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_apt.py,target=/tmp/devbox-build/install_apt.py \
    --mount=type=bind,source=packages/apt/gpu-tools.txt,target=/tmp/devbox-build/list.txt \
    python3 -B /tmp/devbox-build/install_apt.py --set gpu-tools --list /tmp/devbox-build/list.txt \
        --arch "${TARGETARCH}" --enabled "${INSTALL_GPU_TOOLS}" --disabled-reason "INSTALL_GPU_TOOLS=${INSTALL_GPU_TOOLS}" \
        --feature "nsight=${INSTALL_NSIGHT}"

ARG INSTALL_FUN_TOOLS=false
RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=devbox-apt-archives,target=/var/cache/apt/archives,sharing=locked \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_apt.py,target=/tmp/devbox-build/install_apt.py \
    --mount=type=bind,source=packages/apt/fun-tools.txt,target=/tmp/devbox-build/list.txt \
    python3 -B /tmp/devbox-build/install_apt.py --set fun-tools --list /tmp/devbox-build/list.txt \
        --arch "${TARGETARCH}" --enabled "${INSTALL_FUN_TOOLS}" --disabled-reason "INSTALL_FUN_TOOLS=${INSTALL_FUN_TOOLS}"

# The shell set also fetches Oh My Zsh at a pinned ref; GitHub being away only records a failure.
ARG INSTALL_SHELL=true
ARG INSTALL_OH_MY_ZSH=true
ARG OH_MY_ZSH_REF=d6aaafdc1d0f502b3fa119f3359c946082f8147b
RUN --mount=type=cache,id=devbox-apt-lists,target=/var/lib/apt/lists,sharing=locked \
    --mount=type=cache,id=devbox-apt-archives,target=/var/cache/apt/archives,sharing=locked \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_apt.py,target=/tmp/devbox-build/install_apt.py \
    --mount=type=bind,source=packages/oh_my_zsh.py,target=/tmp/devbox-build/oh_my_zsh.py \
    --mount=type=bind,source=packages/apt/shell.txt,target=/tmp/devbox-build/list.txt \
    python3 -B /tmp/devbox-build/install_apt.py --set shell --list /tmp/devbox-build/list.txt \
        --arch "${TARGETARCH}" --enabled "${INSTALL_SHELL}" --disabled-reason "INSTALL_SHELL=${INSTALL_SHELL}" \
    && python3 -B /tmp/devbox-build/oh_my_zsh.py --ref "${OH_MY_ZSH_REF}" \
        --enabled "${INSTALL_OH_MY_ZSH}" --set-enabled "${INSTALL_SHELL}"

# ---- pip package sets: constrained by the base's freeze; the pip cache stays in a cache mount ----
# PyPI over HTTPS may need the host's CA bundle: a build secret, visible to this RUN only.
ARG INSTALL_PYTHON_CORE=true
RUN --mount=type=cache,id=devbox-pip,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_pip.py,target=/tmp/devbox-build/install_pip.py \
    --mount=type=bind,source=packages/pip/python-core.txt,target=/tmp/devbox-build/list.txt \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca REQUESTS_CA_BUNDLE=/run/secrets/ca; fi \
    && python3 -B /tmp/devbox-build/install_pip.py --set python-core --list /tmp/devbox-build/list.txt \
        --mode core --arch "${TARGETARCH}" --enabled "${INSTALL_PYTHON_CORE}" \
        --disabled-reason "INSTALL_PYTHON_CORE=${INSTALL_PYTHON_CORE}"

# flash-attn: amd64 with a CUDA torch only. vllm and a PyTorch nightly (which replaces NGC's tuned
# torch) are opt-in.
ARG INSTALL_PYTHON_EXTRAS=true
ARG INSTALL_FLASH_ATTN=true
ARG INSTALL_VLLM=false
ARG INSTALL_PYTORCH_NIGHTLY=false
RUN --mount=type=cache,id=devbox-pip,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca \
    --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=packages/devbox_sets.py,target=/tmp/devbox-build/devbox_sets.py \
    --mount=type=bind,source=packages/install_pip.py,target=/tmp/devbox-build/install_pip.py \
    --mount=type=bind,source=packages/verify_imports.py,target=/tmp/devbox-build/verify_imports.py \
    --mount=type=bind,source=packages/pip/python-extras.txt,target=/tmp/devbox-build/list.txt \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca REQUESTS_CA_BUNDLE=/run/secrets/ca; fi \
    && python3 -B /tmp/devbox-build/install_pip.py --set python-extras --list /tmp/devbox-build/list.txt \
        --mode extras --arch "${TARGETARCH}" --enabled "${INSTALL_PYTHON_EXTRAS}" \
        --disabled-reason "INSTALL_PYTHON_EXTRAS=${INSTALL_PYTHON_EXTRAS}" \
        --feature "flash-attn=${INSTALL_FLASH_ATTN}" --feature "vllm=${INSTALL_VLLM}" \
        --feature "pytorch-nightly=${INSTALL_PYTORCH_NIGHTLY}" \
    && python3 -B /tmp/devbox-build/verify_imports.py --set python-extras --list /tmp/devbox-build/list.txt \
        --check torchao=torchao --older 3

# ---- the rootfs overlay: greeting, login snippet, shell hooks, health check, skel dotfiles ----
# The programs are copied again after the whole tree, so their mode is 0755 whatever bits the checkout
# has (a copy made without exec bits would otherwise give a health check that exits 126).
COPY rootfs/ /
COPY --chmod=0755 rootfs/usr/local/bin/ /usr/local/bin/
COPY --chmod=0755 rootfs/usr/local/lib/devbox/ /usr/local/lib/devbox/

# Wire bash and zsh to the overlay, set root's login shell, index files for `locate`, and drop what
# the package layers left behind: empty mount points and the JVM's perf folder from pdftk-java's setup.
# ntfs-3g and mount.cifs come setuid root from Debian for user mounts, which a container never does:
# the bit only widens what a local exploit can reach (the contract's setuid allow-list leaves them out).
ARG DEFAULT_SHELL=/bin/bash
RUN /usr/local/lib/devbox/wire-shells.sh "${DEFAULT_SHELL}" \
    && for f in /usr/bin/ntfs-3g /usr/sbin/mount.cifs; do if [ -u "$f" ]; then chmod u-s "$f"; fi; done \
    && rm -rf /tmp/devbox-build /wheelhouse /tmp/hsperfdata_* \
    && { rmdir /root/.cache/pip /root/.cache 2>/dev/null || true; } \
    && if command -v updatedb >/dev/null; then updatedb --prunepaths='/proc /sys /dev /run /tmp /var/cache'; fi

WORKDIR /workspace

HEALTHCHECK --interval=30s --timeout=30s --start-period=20s --retries=3 CMD ["/usr/local/bin/devbox-healthcheck"]

CMD ["/bin/bash", "-l"]

# ---- identity: declared last so a new revision or date rebuilds only what follows ----
ARG BASE_IMAGE
ARG BASE_DIGEST=""
ARG BASE_KIND=auto
ARG VCS_REF=""
ARG BUILD_DATE=""
ARG IMAGE_REF=gpu-devbox:local
# The harness passes the TAG it builds; "local" is its default tag, so a plain `docker build` says so too.
ARG IMAGE_VERSION=local
ARG IMAGE_SOURCE=https://github.com/sytelus/gpu-devbox
ARG IMAGE_URL=${IMAGE_SOURCE}
ARG IMAGE_DOCUMENTATION=${IMAGE_SOURCE}#readme
ARG IMAGE_VENDOR=gpu-devbox
# SPDX expression for what the image holds; NOASSERTION because the base's own terms (NVIDIA's for NGC) and
# every package's licence apply, which no single identifier states. Set your own with --build-arg.
ARG IMAGE_LICENSES=NOASSERTION
# packages/ is mounted on /mnt, an empty folder in every base, so this layer leaves no mount point behind.
RUN --mount=type=bind,source=packages,target=/mnt \
    python3 -B /mnt/write_manifest.py --arch "${TARGETARCH}" \
        --image-ref "${IMAGE_REF}" --vcs-ref "${VCS_REF}" --build-date "${BUILD_DATE}" \
        --base-name "${BASE_IMAGE}" --base-digest "${BASE_DIGEST}" --base-kind "${BASE_KIND}"

LABEL org.opencontainers.image.title="gpu-devbox" \
      org.opencontainers.image.description="GPU development image: NGC PyTorch plus developer, GPU and ML tooling (amd64, arm64)" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.url="${IMAGE_URL}" \
      org.opencontainers.image.documentation="${IMAGE_DOCUMENTATION}" \
      org.opencontainers.image.vendor="${IMAGE_VENDOR}" \
      org.opencontainers.image.licenses="${IMAGE_LICENSES}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.version="${IMAGE_VERSION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}"
