"""What a Dockerfile itself says, read without Docker: ARG defaults before FROM, labels of the final stage.

Why: the harness resolves the base's digest for whatever base the build uses, including the Dockerfile's
own default `ARG BASE_IMAGE=…`, and `release` verifies the OCI labels the Dockerfile promises. A small
reader of the two instructions involved is enough; full Dockerfile parsing is BuildKit's job.

Example:
    text = Path("Dockerfile").read_text()
    arg_default(text, "BASE_IMAGE")    # "nvcr.io/nvidia/pytorch:25.11-py3"
    label_keys(text)                   # ["org.opencontainers.image.title", ...]
"""

from __future__ import annotations

import re
import shlex

OCI_PREFIX = "org.opencontainers.image."
_CONTINUATION = re.compile(r"\\[ \t]*\n")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuations joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = _CONTINUATION.sub(" ", "\n".join(lines))
    for line in joined.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word:
            out.append((word.upper(), rest.strip()))
    return out


def arg_default(text: str, name: str) -> str | None:
    """The default of `ARG NAME=default` declared before the first FROM (the one FROM can use), or None."""
    for word, rest in instructions(text):
        if word == "FROM":
            return None
        if word == "ARG":
            key, sep, value = rest.partition("=")
            if key.strip() == name and sep:
                parts = shlex.split(value)
                return parts[0] if parts else ""
    return None


def label_keys(text: str, prefix: str = OCI_PREFIX) -> list[str]:
    """Keys starting with PREFIX that the final stage's LABEL instructions set to a non-empty value.

    A value that is only `${ARG}` counts: it is non-empty when the build passes the arg, and the harness
    passes every identity arg.
    """
    keys: list[str] = []
    for word, rest in instructions(text):
        if word == "FROM":
            keys = []  # labels of an earlier stage do not reach the final image
        elif word == "LABEL":
            for token in shlex.split(rest):
                key, sep, value = token.partition("=")
                if sep and key.startswith(prefix) and value and key not in keys:
                    keys.append(key)
    return keys
