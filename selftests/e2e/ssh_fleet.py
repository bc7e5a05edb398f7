"""A fleet of SSH nodes for end-to-end tests: containers with sshd, reached only on 127.0.0.1.

    with SshFleet(image, ["node1", "node2"], workdir) as fleet:
        fleet.ssh_config      # Host node1 -> 127.0.0.1:<published port>, the throwaway key
        fleet.inventory       # the same nodes as an Ansible inventory

Each node publishes its port 22 on 127.0.0.1 only. The key pair is generated for the fleet in `workdir`
and bind-mounted into the nodes at start: no key is in any image layer, and the caller removes `workdir`.
Host keys are generated when a node starts, for the same reason. A plain module (not conftest.py) so the
benchmarks can make the same fleet.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from devbox_e2e import DOCKER, docker_build

FLEET_LABEL = "io.github.gpu-devbox.selftest-fleet"
# What a node image adds to an image of this project: sshd, and `less` for a package a defect can remove.
NODE_PACKAGES = "openssh-server less"


def build_node_image(base: str, tag: str, extra_lines: tuple[str, ...] = ()) -> str:
    """`base` plus sshd (host keys removed from the layer), built with BuildKit; returns the tag."""
    lines = [
        f"FROM {base}",
        "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        f"--no-install-recommends {NODE_PACKAGES} >/dev/null && rm -rf /var/lib/apt/lists/* "
        "&& rm -f /etc/ssh/ssh_host_* && mkdir -p /run/sshd /root/.ssh && chmod 0700 /root/.ssh",
        *extra_lines,
    ]
    with tempfile.TemporaryDirectory(prefix="devbox-node-image-") as ctx:
        (Path(ctx) / "Dockerfile").write_text("\n".join(lines) + "\n")
        return docker_build(tag, ctx, timeout=1200)


class SshFleet:
    """Start one sshd container per (name, image); write an ssh config and an inventory; stop them all."""

    def __init__(self, nodes: dict[str, str], workdir: Path) -> None:
        self.nodes = nodes
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:8]
        self.ports: dict[str, int] = {}
        self.containers: list[str] = []
        self.key = workdir / "id_ed25519"
        self.ssh_config = workdir / "ssh_config"
        self.inventory = workdir / "inventory.ini"

    def __enter__(self) -> SshFleet:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start(self) -> None:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)], check=True)
        authorized = self.workdir / "authorized_keys"
        authorized.write_text(self.key.with_suffix(".pub").read_text())
        authorized.chmod(0o600)
        for name, image in self.nodes.items():
            container = f"devbox-fleet-{self.run_id}-{name}"
            self.containers.append(container)
            subprocess.run(
                [
                    DOCKER,
                    "run",
                    "-d",
                    "--rm",
                    "--name",
                    container,
                    "--label",
                    f"{FLEET_LABEL}={self.run_id}",
                    "-p",
                    "127.0.0.1::22",
                    "-v",
                    f"{authorized}:/root/.ssh/authorized_keys:ro",
                    "--entrypoint",
                    "",
                    image,
                    "sh",
                    "-c",
                    "ssh-keygen -A -q && exec /usr/sbin/sshd -D -e",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            port = (
                subprocess.run(
                    [DOCKER, "port", container, "22/tcp"], check=True, capture_output=True, text=True
                )
                .stdout.split()[0]
                .rsplit(":", 1)[1]
            )
            self.ports[name] = int(port)
        self._write_config()
        for name in self.nodes:
            self._wait_ready(name)

    def _write_config(self) -> None:
        blocks = [
            f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {self.key}\n"
            "  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            for name, port in self.ports.items()
        ]
        self.ssh_config.write_text("\n".join(blocks))
        ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        hosts = [
            f"{name} ansible_host=127.0.0.1 ansible_port={port} ansible_user=root "
            f"ansible_ssh_private_key_file={self.key} ansible_ssh_common_args='{ssh_args}'"
            for name, port in self.ports.items()
        ]
        self.inventory.write_text("[nodes]\n" + "\n".join(hosts) + "\n")

    def _wait_ready(self, name: str, budget_s: float = 60) -> None:
        """Until sshd answers a command (bounded: a node that never comes up fails the fixture)."""
        deadline = time.monotonic() + budget_s
        last = ""
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(1)
                if sock.connect_ex(("127.0.0.1", self.ports[name])) == 0:
                    proc = subprocess.run(
                        ["ssh", "-F", str(self.ssh_config), name, "true"],
                        capture_output=True,
                        text=True,
                        timeout=30,
                    )
                    if proc.returncode == 0:
                        return
                    last = proc.stderr.strip()[-300:]
            time.sleep(0.5)
        raise RuntimeError(f"sshd of {name} did not answer within {budget_s:.0f} s: {last}")

    def stop(self) -> None:
        if self.containers:
            subprocess.run([DOCKER, "rm", "-f", *self.containers], capture_output=True)
            self.containers = []
        for path in (self.key, self.key.with_suffix(".pub"), self.workdir / "authorized_keys"):
            path.unlink(missing_ok=True)
