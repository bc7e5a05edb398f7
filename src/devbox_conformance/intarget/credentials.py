# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""credentials: whether a regular file holds a credential, by its name (ssh keys, token files, Docker's
config.json with an `auths` secret) or by its first bytes (a PEM or PuTTY private key).

The security walk (security.py) asks `named_secret`/`sniffed` before it stats a file, so a tree of source
files costs no opens, and `secret_reason` for each regular file it keeps.
"""

import json
import re

# Files at most this large are sniffed for a PEM private key (a 4096-bit RSA key is about 3.3 KB); only the
# first SNIFF_BYTES are read.
SNIFF_MAX = 16384
SNIFF_BYTES = 128
# Not sniffed: source, document, data and archive files by their extension. A private key saved as .py or
# .html is not how keys leak, and skipping them keeps a source tree (a base's /opt) from costing seconds of
# opens; .pem, .key and files without an extension are read.
NOT_SNIFFED = frozenset(
    "7z a bz2 c cc cfg cmake cpp css csv cu cuh cxx decTest diff f90 gif gz h hh hpp htm html hxx ico in ini "
    "jar java jpeg jpg js json map md mjs mo npy npz o patch pl png po pom pt py pyc pyi pyo pyx rb rs rst "
    "sh so svg tar tcl toml ts tsv txt typed wav whl xml xz yaml yml zip zst".split()
)
PEM_PRIVATE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
# Files that hold credentials by their very name (path suffixes, as under a home directory).
TOKEN_FILES = (
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".huggingface/token",
    ".cache/huggingface/token",
    ".cache/huggingface/stored_tokens",
    ".aws/credentials",
    ".config/gh/hosts.yml",
    ".config/gcloud/application_default_credentials.json",
    ".config/gcloud/credentials.db",
    ".kube/config",
    ".azure/accessTokens.json",
    ".azure/msal_token_cache.json",
)
# File name -> the TOKEN_FILES suffixes with that name: one dict lookup per file, not a test per suffix.
TOKEN_BY_NAME = {}
for _token in TOKEN_FILES:
    TOKEN_BY_NAME.setdefault(_token.rpartition("/")[2], []).append(_token)
# Docker's config.json: read whole up to this size; an "auths" entry holding one of these keys is a secret.
JSON_MAX = 1 << 20
DOCKER_KEYS = ("auth", "identitytoken", "password", "registrytoken")


def _docker_credentials(path):
    """The registries a Docker config.json holds credentials for ("auths" entries with a secret)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(JSON_MAX)
    except OSError:
        return []
    try:
        auths = json.loads(raw.decode("utf-8", "replace")).get("auths")
    except (ValueError, AttributeError):
        return ["(unparsable config.json)"] if b'"auths"' in raw and b'"auth"' in raw else []
    if not isinstance(auths, dict):
        return []
    return sorted(
        reg
        for reg, entry in auths.items()
        if isinstance(entry, dict) and any(entry.get(k) for k in DOCKER_KEYS)
    )


def _sniff(path):
    """The PEM header of the private key the file starts with (after white space), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    if head.startswith(b"PuTTY-User-Key-File-"):
        return "PuTTY-User-Key-File"
    hit = PEM_PRIVATE.match(head)
    return hit.group(0).decode("ascii") if hit else None


def named_secret(name):
    """True when a file of this name may be a secret by its name alone (the walk stats only those and the
    small files sniffed)."""
    return (
        name.startswith("id_")
        or name.startswith("ssh_host_")
        or name in TOKEN_BY_NAME
        or name == "config.json"
    )


def sniffed(name):
    return name.rpartition(".")[2] not in NOT_SNIFFED


def secret_reason(path, size):
    """Why the regular file at `path` (of `size` bytes) is a secret, or None."""
    parent, _, name = path.rpartition("/")
    if parent.endswith("/.ssh") and name.startswith("id_") and not name.endswith(".pub"):
        return "ssh private key"
    if name.startswith("ssh_host_") and name.endswith("_key"):
        return "ssh host key"
    for token in TOKEN_BY_NAME.get(name, ()):
        if path.endswith("/" + token):
            return "credentials file (%s)" % token
    if name == "config.json" and path.endswith("/.docker/config.json"):
        registries = _docker_credentials(path)
        if registries:
            return "docker credentials for %s" % ", ".join(registries[:3])
    if size <= SNIFF_MAX and sniffed(name):
        header = _sniff(path)
        if header:
            return "private key (%s)" % header
    return None
