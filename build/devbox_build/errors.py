"""Typed errors, so the CLI can print one line for a user's mistake and keep tracebacks for real bugs.

Exit codes: 1 a failed build or check (a red suite, a verify that found problems), 2 a user's mistake
(UsageError: a flag, a file, a tag that exists without --force, credentials), 3 the registry or the
network (RegistryError: re-run to resume).

Example:
    raise UsageError("bad platform 'linux/sparc': use linux/amd64 or linux/arm64")
"""

from __future__ import annotations

import shlex


class DevboxError(Exception):
    """Base of every error the CLI reports as one line instead of a traceback."""

    # exit status the CLI returns for this error
    exit_code = 1


class UsageError(DevboxError):
    """A mistake the user can fix by changing a flag, a variable or a file (exit 2)."""

    exit_code = 2


class CommandError(DevboxError):
    """A subprocess exited non-zero; keeps everything needed to explain why."""

    def __init__(self, cmd: list[str], returncode: int, stdout: str = "", stderr: str = "") -> None:
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(self._summary())

    def _summary(self) -> str:
        last = (self.stderr.strip() or self.stdout.strip()).splitlines()
        why = f": {last[-1]}" if last else ""
        return f"`{shlex.join(self.cmd)}` exited {self.returncode}{why}"


class DaemonDownError(CommandError, UsageError):
    """The Docker engine is not reachable (not started, or the socket is elsewhere)."""

    exit_code = 2

    def _summary(self) -> str:
        return "the Docker daemon is not running or not reachable (start dockerd, or set DOCKER_HOST)"


class DaemonPermissionError(CommandError, UsageError):
    """The user may not talk to the Docker socket."""

    exit_code = 2

    def _summary(self) -> str:
        return "permission denied on the Docker socket (add yourself to the docker group, or use sudo)"


class NoSuchImageError(CommandError, UsageError):
    """An image the command needs is not in the local store."""

    exit_code = 2

    def _summary(self) -> str:
        return f"no such image: {self.cmd[-1]}"


class ManifestUnknownError(CommandError, UsageError):
    """A registry reference does not exist (never pushed, or a typo)."""

    exit_code = 2

    def _summary(self) -> str:
        return f"no such image in the registry: {self.cmd[-1]}"


class RegistryError(DevboxError):
    """The registry or the network failed (refused, timed out, HTTP 5xx, a push cut short): not the user's
    mistake, and nothing public moved when a publish step raised it; re-running resumes (exit 3)."""

    exit_code = 3


class RegistryAuthError(UsageError):
    """The registry refused the credentials (HTTP 401/403): log in (`docker login HOST`) and re-run."""


class RegistryUnreachableError(CommandError, RegistryError):
    """Nothing answers at the registry's address (not started, wrong port, firewall): exit 3, like every
    registry or network failure."""

    exit_code = 3

    def _summary(self) -> str:
        ref = self.cmd[-1].removeprefix("docker://")
        return f"registry not reachable for {ref} (connection refused): is it running, is the port right?"


class ToolMissingError(UsageError):
    """An executable the command needs is not installed."""


# Substrings of docker/skopeo stderr, mapped to the error that explains them; first match wins.
_STDERR_PATTERNS: tuple[tuple[str, type[CommandError]], ...] = (
    ("cannot connect to the docker daemon", DaemonDownError),
    ("is the docker daemon running", DaemonDownError),
    ("permission denied while trying to connect to the docker daemon", DaemonPermissionError),
    ("no such image", NoSuchImageError),
    ("manifest unknown", ManifestUnknownError),
    ("name unknown", ManifestUnknownError),
    ("connection refused", RegistryUnreachableError),
)


def classify(cmd: list[str], returncode: int, stdout: str, stderr: str) -> CommandError:
    """The most specific CommandError for a failed command, judged by its stderr."""
    low = stderr.lower()
    for needle, kind in _STDERR_PATTERNS:
        if needle in low:
            return kind(cmd, returncode, stdout, stderr)
    return CommandError(cmd, returncode, stdout, stderr)
