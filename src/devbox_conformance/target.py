"""Where the checks run: one testinfra host per target, whatever reaches it.

An image (a container the run starts, `docker://<id>` or `podman://<id>`), an existing container, this
machine (`local://`) or any host testinfra reaches (`ssh://`, `paramiko://`, `ansible://`, `kubectl://` …)
are all the same thing here: a testinfra backend plus what the run learnt about it (arch, image config).
The transport is testinfra's; what runs through it is ours (one probe per host):

    >>> target = Target.from_spec("local://", name="local", kind="local", arch="amd64")
    >>> target.run(["uname", "-m"], timeout=10).stdout.strip()
    'x86_64'

Every call has a time limit twice over: the command runs under the target's `timeout` (so it stops in the
target too) and the call itself is abandoned a little after that, so a host that stops answering can not
hold the run.
"""

from __future__ import annotations

import base64
import math
import shlex
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

from devbox_conformance.localrun import RunResult, decode

# How long past its own limit a call may take before the run stops waiting for the host.
CALL_GRACE_S = 30.0
# Runs shipped Python: decode the zlib+base64 source and arguments, then run the source as __main__.
# Compressed because a command line is one argument of at most 128 KiB on Linux, and ssh, kubectl and
# ansible all carry it as a string.
_PY_BOOT = (
    "import base64,sys,zlib;d=lambda s:zlib.decompress(base64.b64decode(s)).decode();"
    "a=[d(x) for x in sys.argv[1:]];sys.argv[1:]=a[1:];exec(compile(a[0],'<devbox>','exec'))"
)


class TargetError(Exception):
    """A target cannot be reached or prepared; the message is one line meant for the user."""


def first_line(exc: BaseException) -> str:
    """One line out of any exception (testinfra's ssh backend raises RuntimeError(CommandResult))."""
    arg = exc.args[0] if exc.args else None
    stderr = getattr(arg, "stderr", None)
    if isinstance(stderr, str) and stderr.strip():
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        return lines[-1][:300]
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def pack_python(source: str, args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`python3 -c BOOT <packed source> <packed args>…`: survives any transport's quoting and size limit."""
    packed = [base64.b64encode(zlib.compress(s.encode(), 9)).decode() for s in (source, *args)]
    return ["python3", "-c", _PY_BOOT, *packed]


@dataclass
class Target:
    """One host of the run, reached through its testinfra backend; see module docstring."""

    # testinfra host spec: docker://NAME, podman://NAME, local://, ssh://node1, ansible://node1 …
    spec: str
    # How the host appears in test ids, results and messages (testinfra's pytest id for --hosts).
    name: str
    # "image" (a container this run started), "container", "local" or "host" (anything remote).
    kind: str
    # Architecture as docker names it: "amd64" or "arm64".
    arch: str
    # Image the target was made from and its inspect attrs (None for hosts).
    image_ref: str | None = None
    image_attrs: dict[str, Any] | None = None
    # Container the commands run in (None for hosts).
    container: str | None = None
    # "docker" or "podman" for containers.
    engine: str | None = None
    # testinfra connection options (ssh_config, ansible_inventory, sudo …), as testinfra's options name them.
    connection: dict[str, Any] = field(default_factory=dict)
    # Whether the target has `timeout` (coreutils or busybox), so limits hold inside it too.
    has_timeout: bool = False

    @classmethod
    def from_spec(cls, spec: str, **kwargs: Any) -> Target:
        return cls(spec=spec, **kwargs)

    @property
    def where(self) -> str:
        """The target as a message names it."""
        if self.container:
            return self.container
        return "the local host" if self.kind == "local" else self.name

    def testinfra_host(self) -> Any:
        """testinfra's Host for this target (cached by testinfra per spec and options)."""
        import testinfra  # noqa: PLC0415 - testinfra's import pulls in every module; only when used

        options = {k: v for k, v in self.connection.items() if v not in (None, False, "")}
        try:
            host = testinfra.get_host(self.spec, **options)
        except Exception as exc:  # testinfra raises RuntimeError, ValueError, ansible errors …
            raise TargetError(
                f"{self.name}: cannot make a testinfra host of {self.spec}: {first_line(exc)}"
            ) from None
        # The suite decodes bytes itself (UTF-8); left unset, testinfra asks the target for its locale
        # with one more round trip (one more ssh connection) before the first command.
        if getattr(host.backend, "_encoding", "set") is None:
            host.backend._encoding = "utf-8"
        return host

    def run(self, argv: list[str], timeout: float) -> RunResult:
        """Run argv in the target; TargetError (one line) when the host cannot be reached at all."""
        command = shlex.join(argv)
        if self.has_timeout:
            command = f"timeout -k 5 {max(1, math.ceil(timeout))} {command}"
        return self.run_shell(command, timeout)

    def run_shell(self, command: str, timeout: float) -> RunResult:
        """Run a shell command line through the backend, abandoning it CALL_GRACE_S past `timeout`."""
        backend = self.testinfra_host().backend
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["result"] = backend.run(command)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                box["error"] = exc

        worker = threading.Thread(target=call, name=f"devbox-call-{self.name}", daemon=True)
        worker.start()
        worker.join(timeout + CALL_GRACE_S)
        if worker.is_alive():
            return RunResult(124, "", f"{self.name} did not answer within {timeout + CALL_GRACE_S:.0f} s")
        if "error" in box:
            raise TargetError(f"cannot reach {self.name}: {first_line(box['error'])}")
        out = box["result"]
        return RunResult(int(out.rc), decode(out.stdout_bytes), decode(out.stderr_bytes))

    def run_python(
        self, source: str, args: list[str] | tuple[str, ...] = (), timeout: float = 600
    ) -> RunResult:
        """Run Python source with the target's `python3`; nothing is copied into the target."""
        return self.run(pack_python(source, args), timeout=timeout)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "kind": self.kind,
            "container": self.container,
            "arch": self.arch,
            "image_ref": self.image_ref,
            "engine": self.engine,
        }
