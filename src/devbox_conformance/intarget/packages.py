# ruff: noqa: UP031 - in-target code (any python3 >= 3.8): plain %-formatting
"""packages: dpkg's record of each requested package, and (for `devbox diff`) every installed one."""

import os

from .text import text as to_text

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_FIELDS = ("Package:", "Status:", "Version:", "Architecture:")


def _dpkg_stanzas(text):
    """(Package, Architecture, Status, Version) of each stanza of a dpkg status file, in file order."""
    out = []
    fields = {}
    # A blank line closes a paragraph; the sentinel closes the last one.
    for line in text.splitlines() + [""]:
        if not line:
            if "Package" in fields:
                row = (fields["Package"], fields.get("Architecture", ""), fields.get("Status", ""))
                out.append(row + (fields.get("Version", ""),))
            fields = {}
        elif line.startswith(DPKG_FIELDS):  # continuation lines start with a blank: never a match
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return out


def probe_packages(names, status_path=DPKG_STATUS):
    """dpkg's record of each requested package: ({name: [{architecture, status, version}]}, error).

    One read of the status file, no dpkg-query per package: that keeps a few hundred package items as cheap
    as one (and it works where dpkg-query is missing). A package has one stanza per installed architecture;
    `name:arch` asks for one of them. dpkg's journal (updates/ beside the status file: stanzas not yet merged
    by an interrupted run) is applied on top, as dpkg-query does. Without a status file the error says why,
    so every package item fails with it.
    """
    records, error = _dpkg_records(status_path)
    if error:
        return {}, error
    found = {}
    for name in names:
        package, _, arch = name.partition(":")
        found[name] = [
            {"architecture": a, "status": st, "version": v}
            for a, (st, v) in sorted(records.get(package, {}).items())
            if not arch or a == arch
        ]
    return found, None


def _dpkg_records(status_path):
    """({package: {architecture: (status, version)}}, error): the status file plus dpkg's journal."""
    try:
        with open(status_path, "rb") as fh:
            text = to_text(fh.read())
    except FileNotFoundError:
        return {}, "no dpkg database at %s: not a Debian-based target" % status_path
    except OSError as exc:
        return {}, "cannot read %s: %s" % (status_path, exc.strerror or exc)
    records = {}  # package -> {architecture: (status, version)}
    for package, arch, status, version in _dpkg_stanzas(text):
        records.setdefault(package, {})[arch] = (status, version)
    updates = os.path.join(os.path.dirname(status_path), "updates")
    try:
        journal = sorted(n for n in os.listdir(updates) if n.isdigit())
    except OSError:
        journal = []
    for entry in journal:
        try:
            with open(os.path.join(updates, entry), "rb") as fh:
                for package, arch, status, version in _dpkg_stanzas(to_text(fh.read())):
                    records.setdefault(package, {})[arch] = (status, version)
        except OSError:
            continue
    return records, None


def probe_all_packages(status_path=DPKG_STATUS):
    """Every package dpkg records as installed: ({"name:arch": version}, error), for `devbox diff`.

    Installed means want `install` or `hold` with `ok installed`, as the packages check reads it. Every
    entry names its architecture (dpkg's `Architecture:`; a stanza without one is keyed by name alone), so
    the host side can tell the image's own packages from foreign ones whatever else is installed.
    """
    records, error = _dpkg_records(status_path)
    if error:
        return {}, error
    found = {}
    for package, arches in records.items():
        installed = {}
        for arch, (status, version) in arches.items():
            words = status.split()
            if len(words) == 3 and words[0] in ("install", "hold") and words[1:] == ["ok", "installed"]:
                installed[arch] = version
        for arch, version in installed.items():
            found["%s:%s" % (package, arch) if arch else package] = version
    return found, None


def gather(request, pool):
    facts = {}
    status = request.get("dpkg_status", DPKG_STATUS)
    if request.get("packages"):
        facts["packages"], facts["packages_error"] = probe_packages(request["packages"], status)
    if request.get("all_packages"):
        facts["all_packages"], facts["all_packages_error"] = probe_all_packages(status)
    return facts
