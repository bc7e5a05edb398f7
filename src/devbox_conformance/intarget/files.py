# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""files: lstat/stat of each path (type, mode, owner, group), the content where a check reads it.

The content is the first `max_content` bytes (a check that needs more fails its item, never judges a part as
the whole): `content_read` says how many were kept, `content_truncated` whether the file held more.
"""

import grp
import hashlib
import os
import pwd
import stat

from .text import KEEP_DEFAULT, text_prefix


def probe_file(spec):
    path = spec["path"]
    out = {"exists": False}
    try:
        st = os.lstat(path)
    except OSError as exc:
        out["error"] = os.strerror(exc.errno) if exc.errno else str(exc)
        return out
    out["exists"] = True
    if stat.S_ISLNK(st.st_mode):
        out["link_target"] = os.readlink(path)
        try:
            st = os.stat(path)
            out["type"] = "symlink"
        except OSError:
            out["type"] = "symlink"
            out["dangling"] = True
            return out
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    out.setdefault("type", kind)
    out["target_type"] = kind
    out["mode"] = "%04o" % stat.S_IMODE(st.st_mode)
    out["size"] = st.st_size
    try:
        out["owner"] = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        out["owner"] = str(st.st_uid)
    try:
        out["group"] = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        out["group"] = str(st.st_gid)
    if spec.get("content") and kind == "file":
        out.update(_content(path, int(spec.get("max_content") or KEEP_DEFAULT)))
    if spec.get("sha256") and kind == "file":
        out.update(_sha256(path))
    return out


def _content(path, limit):
    """{content, content_read, content_truncated} of the first `limit` bytes (one more is read to know
    whether the file goes on: st_size is 0 for /proc files), or {"content_error": why}."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        return {"content_error": str(exc)}
    cut = len(data) > limit
    data = data[:limit]
    return {"content": text_prefix(data, cut), "content_read": len(data), "content_truncated": cut}


def _sha256(path):
    """{"sha256": hex} of the whole file, read in 1 MiB blocks, or {"sha256_error": why}."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        return {"sha256_error": str(exc)}
    return {"sha256": digest.hexdigest()}


def gather(request, pool):
    return {"files": {f["path"]: probe_file(f) for f in request.get("files", [])}}
