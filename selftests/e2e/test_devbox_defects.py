"""One defect at a time, on the real devbox image: the suite fails exactly the matching test ids.

Each broken image is derived from the full amd64 image (one Dockerfile line each) and removed afterwards.
The performance tests are left out here: they measure, and these runs are about what the checks catch.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

_DIST_PATH = "python3 -c \"import importlib.metadata as m; print(m.distribution('einops')._path)\""

# name -> (Dockerfile lines of the defect, the test ids that must fail, and only those)
DEFECTS: dict[str, tuple[list[str], set[str]]] = {
    "binary-deleted": (['RUN rm "$(command -v rg)"'], {"test_binary[rg]"}),
    "dist-uninstalled": (["RUN pip uninstall -y -q natsort"], {"test_python_dist[natsort]"}),
    # The metadata is what pip and importlib report, so rewriting it is a package "below its minimum"
    # without a network fetch of an old release.
    "dist-below-minimum": (
        [f"RUN sed -i 's/^Version: .*/Version: 0.1/' \"$({_DIST_PATH})/METADATA\""],
        {"test_python_dist[einops]"},
    ),
    "label-changed": (
        ['LABEL org.opencontainers.image.title="not-gpu-devbox"'],
        {"test_label[org.opencontainers.image.title]"},
    ),
    "greeting-fails": (
        ["RUN printf '#!/bin/sh\\necho broken >&2\\nexit 3\\n' >/usr/local/bin/devbox-greeting"],
        {"test_shell[bash-login-interactive]", "test_shell[zsh-login-interactive]"},
    ),
    "healthcheck-removed": (["HEALTHCHECK NONE"], {"test_image_config[healthcheck]"}),
    # A -dev package of dev-tools: headers and a pkg-config file, no command, so no binary check notices;
    # the libsqlite3-0 library it builds against stays, so nothing else breaks.
    "package-removed": (
        ["RUN dpkg --purge --force-depends libsqlite3-dev"],
        {"test_package[libsqlite3-dev]"},
    ),
    # The login snippet every login shell sources as root, writable by anyone: only the walk notices.
    "login-snippet-world-writable": (
        ["RUN chmod o+w /etc/profile.d/00-devbox.sh"],
        {"test_security[no-world-writable]"},
    ),
    # The image config's Env changed (a later layer's ENV): what every process of the image starts with.
    "config-env-changed": (["ENV DEVBOX_CONTAINER=0"], {"test_env[DEVBOX_CONTAINER]"}),
    # DEFAULT_SHELL not taking: every shell test starts its shell by name, so only root's entry notices.
    "root-shell-changed": (["RUN chsh -s /bin/sh root"], {"test_user[root]"}),
    # The build's scratch left in the image: a path that must not exist.
    "build-scratch-left": (
        ["RUN mkdir -p /tmp/devbox-build && touch /tmp/devbox-build/list.txt"],
        {"test_file[/tmp/devbox-build]"},
    ),
    "greeting-group-changed": (
        ["RUN chgrp nogroup /usr/local/bin/devbox-greeting"],
        {"test_file[/usr/local/bin/devbox-greeting]"},
    ),
    # A profile script that writes to stderr (a command whose output changed): the team's quiet-login
    # command and the two bash login shells notice; zsh's login reads only the devbox snippet.
    "login-warns": (
        ["RUN printf 'echo devbox: note >&2\\n' >/etc/profile.d/zz-note.sh"],
        {"test_command[bash-login-is-quiet]", "test_shell[bash-login]", "test_shell[bash-login-interactive]"},
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_fails_exactly_its_checks(devbox_amd64: str, derive_image, conformance, defect: str) -> None:
    lines, expected = DEFECTS[defect]
    image = derive_image(f"devbox-{defect}", lines, base=devbox_amd64)
    run = conformance("--image", image, "-m", "not performance")
    assert run.returncode == 1, run.describe()
    assert run.failed == expected, run.describe()
