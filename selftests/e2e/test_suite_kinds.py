"""Each kind and field added to the contract fails exactly its own item on a one-defect image derived from
the suite's fixture image (the fixture image itself is green: see test_suite_fixture.py)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

EXPECTATIONS = "selftests/fixtures/suite/expectations"
SUITE_ARGS = (f"--expectations={EXPECTATIONS}", "--ignore=tests/performance")
REPORT = "/usr/local/bin/devbox-fixture-report"
CONF = "/etc/devbox/fixture.conf"
LINK = "/usr/local/bin/devbox-fixture-link"
SITE = "/usr/local/lib/python3.11/dist-packages"
DIST = "devbox_fixture_pkg"

# name -> (Dockerfile lines of the defect, the one test id that must fail, words its message must hold)
DEFECTS = {
    # a team's command that hangs is killed at its 5 s limit; every other item (the other command too) runs
    "command-hangs": (
        [f"RUN printf '#!/bin/sh\\necho fixture report: ok\\nsleep 600\\n' >{REPORT}"],
        "test_command[fixture-report]",
        "killed after 5 s (still running)",
    ),
    "command-warns": (
        [f"RUN printf '#!/bin/sh\\necho fixture report: ok\\necho warning: x >&2\\n' >{REPORT}"],
        "test_command[fixture-report]",
        "stderr is 'warning: x\\n'",
    ),
    # files: a path that must be absent, a changed file (substring; checksum), its group, a symlink's target
    "file-present": (
        ["RUN touch /etc/devbox/fixture-absent"],
        "test_file[/etc/devbox/fixture-absent]",
        "found:    exists (file)",
    ),
    "file-debug-added": ([f"RUN echo 'debug = 1' >>{CONF}"], f"test_file[{CONF}]", "found:    holds 'debug'"),
    "file-rewritten": (
        [f"RUN printf 'mode = fixture \\n' >{CONF}"],
        f"test_file[{CONF}]",
        "found:    sha256 ",
    ),
    "file-group": ([f"RUN chgrp nogroup {CONF}"], f"test_file[{CONF}]", "found:    group nogroup"),
    "link-retargeted": (
        [f"RUN ln -sfn /usr/local/bin/devbox-greeting {LINK}"],
        f"test_file[{LINK}]",
        "found:    symlink to /usr/local/bin/devbox-greeting",
    ),
    # python_dists: a version outside the specifier (above it: min_version alone would pass)
    "dist-above-spec": (
        [
            f"RUN cd {SITE} && mv {DIST}-1.2.0.dist-info {DIST}-2.1.dist-info "
            f"&& sed -i 's/^Version: .*/Version: 2.1/' {DIST}-2.1.dist-info/METADATA"
        ],
        "test_python_dist[devbox-fixture-pkg]",
        "found:    version 2.1",
    ),
    # image config: a port or a volume the contract does not name (a base or a later layer added it)
    "port-exposed": (["EXPOSE 8888"], "test_image_config[exposed_ports]", "found:    ['8888/tcp']"),
    "volume-added": (["VOLUME /data"], "test_image_config[volumes]", "found:    ['/data']"),
    # users: root's login shell is not DEFAULT_SHELL's /bin/bash
    "root-shell": (
        ["RUN sed -i 's|^root:\\(.*\\):/bin/bash$|root:\\1:/bin/sh|' /etc/passwd"],
        "test_user[root]",
        "found:    shell /bin/sh",
    ),
    # security: a world-writable file under a walked path, a private key in root's .ssh, a setuid binary
    # outside the allow-list
    "world-writable": (
        ["RUN touch /etc/devbox/shared.conf && chmod 0666 /etc/devbox/shared.conf"],
        "test_security[no-world-writable]",
        "/etc/devbox/shared.conf (world-writable file (0666))",
    ),
    "ssh-key-baked": (
        [
            "RUN mkdir -m 0700 /root/.ssh && printf '%s\\n' '-----BEGIN OPENSSH PRIVATE KEY-----' "
            "AAAA '-----END OPENSSH PRIVATE KEY-----' >/root/.ssh/id_ed25519"
        ],
        "test_security[no-private-keys]",
        "/root/.ssh/id_ed25519 (ssh private key)",
    ),
    "setuid-added": (
        ["RUN install -m 4755 /usr/bin/env /usr/local/bin/devbox-suid"],
        "test_security[setuid-allow-list]",
        "/usr/local/bin/devbox-suid (setuid root:root 4755)",
    ),
    # a key under no telling name is found by its first line
    "pem-key-baked": (
        ["RUN printf '%s\\n' '-----BEGIN RSA PRIVATE KEY-----' AAAA >/workspace/deploy.key"],
        "test_security[no-private-keys]",
        "/workspace/deploy.key (private key (-----BEGIN RSA PRIVATE KEY-----))",
    ),
}


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_fails_exactly_its_item(derive_image, conformance, defect: str) -> None:
    lines, test_id, words = DEFECTS[defect]
    run = conformance("--image", derive_image(defect, lines), *SUITE_ARGS)
    assert run.returncode == 1, run.describe()
    assert run.failed == {test_id}, run.describe()
    failed = next(e for e in run.results["items"] if e["name"] == test_id)
    assert words in failed["message"], failed["message"]
    assert "test_command[python-as-nobody]" in run.names("passed")
