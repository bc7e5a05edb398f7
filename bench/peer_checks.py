"""One list of checks from the contract, and how each peer tool is told to run it.

Why apart from the runner (compare_peers.py): "the same checks, three ways" is only worth something if the
three configurations come from ONE list, as the unit tests pin down (test_bench_peer_checks.py).

- `derive_checks(model, cond)`: every item of the merged expectations whose `when:` holds for the target
  (the suite reports the others as skips without looking at the target, so no peer runs them either).
  Optional items stay in; an absent one is a skip in the suite and testinfra, a pass printing `SKIP:` in CST.
- `cst_config(checks)`: container-structure-test's schema 2.0.0: metadataTest for labels, env, CMD,
  WORKDIR, ENTRYPOINT, USER; fileExistenceTests / fileContentTests where a file check fits them; a
  commandTest (one new container each, that is how the tool works) for everything else (a distro package:
  `dpkg-query -s NAME`, its Status line matched).
- `testinfra_cases(checks)`: the data the naive testinfra module (testinfra_peer.py) parametrizes over:
  one test per check, each making its own host call(s) against one `docker://` container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devbox_conformance import expectations as exp
from devbox_conformance import intarget, probe

# The shared in-container checker as the peers ship it: one `python3 -c` source that carries the checker
# and the suite's pty runner it imports (the probe's importer, nothing written to the image), spec in argv[1].
CHECKER_SOURCE = probe.package_source(
    "incontainer_check:main",
    package=intarget.__name__,
    extra_modules={"incontainer_check": Path(__file__).with_name("incontainer_check.py").read_text("utf-8")},
    whole_package=False,
)

# Contract kind -> the suite's test function (node id = tests/<file>::<function>[<key>]).
SUITE_TESTS = {
    "binaries": "tests/test_binaries.py::test_binary",
    "packages": "tests/test_packages.py::test_package",
    "python_dists": "tests/test_python_dists.py::test_python_dist",
    "labels": "tests/test_labels.py::test_label",
    "env": "tests/test_env.py::test_env",
    "files": "tests/test_files.py::test_file",
    "users": "tests/test_users.py::test_user",
    "groups": "tests/test_users.py::test_group",
    "shells": "tests/test_shell.py::test_shell",
    "image_config": "tests/test_image_config.py::test_image_config",
}

# dpkg's Status line of an installed package (a held one counts, as in the suite and in testinfra).
_DPKG_INSTALLED = "Status: (install|hold) ok installed"

# image_config name -> container-structure-test metadataTest field.
_CST_METADATA = {"cmd": "cmd", "workdir": "workdir", "entrypoint": "entrypoint", "user": "user"}


@dataclass(frozen=True)
class Check:
    """One contract item as the peers see it: kind, key and the item's fields as plain JSON data."""

    kind: str
    key: str
    optional: bool = False
    reason: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.kind}[{self.key}]"

    @property
    def suite_nodeid(self) -> str:
        return f"{SUITE_TESTS[self.kind]}[{self.key}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "optional": self.optional,
            "reason": self.reason,
            "spec": self.spec,
        }


@dataclass(frozen=True)
class Derivation:
    """The checks that apply to a target, and the items left out with the `when:` that excludes them."""

    checks: tuple[Check, ...]
    not_applicable: tuple[tuple[str, str], ...]
    # Items that apply but that the peers have no translation for (commands, security, cuda, ...): left out
    # of every runner, the suite's included (it then runs a subset contract), so all check the same items.
    untranslated: tuple[str, ...] = ()

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.checks:
            counts[c.kind] = counts.get(c.kind, 0) + 1
        return counts


def _plain(value: Any) -> Any:
    """JSON-able form of a model field (SpecifierSet/Version -> str, tuple -> list)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return str(value)


_SPEC_FIELDS: dict[str, tuple[str, ...]] = {
    "binaries": ("name", "version", "version_args", "version_regex"),
    "packages": ("name",),
    "python_dists": ("name", "min_version", "import_name"),
    "labels": ("name", "value", "regex"),
    "env": ("name", "value", "regex"),
    "files": ("path", "exists", "type", "mode", "owner", "content"),
    "users": ("name", "uid", "home", "shell"),
    "groups": ("name", "gid"),
    "shells": ("shell", "login", "interactive", "greeting", "path_contains", "aliases", "stderr_empty"),
    "image_config": ("name", "value", "regex", "healthy"),
}


def to_check(kind: str, item: exp.Item) -> Check:
    spec = {name: _plain(getattr(item, name)) for name in _SPEC_FIELDS[kind]}
    return Check(kind=kind, key=item.key, optional=item.optional, reason=item.reason, spec=spec)


def derive_checks(model: exp.Expectations, cond: dict[str, Any]) -> Derivation:
    """All items of `model` that apply to a target with conditions `cond` (see probe.conditions)."""
    checks: list[Check] = []
    left_out: list[tuple[str, str]] = []
    untranslated: list[str] = []
    for kind, item in model.all_items():
        unmet = item.when.unmet(cond)
        if unmet:
            left_out.append((f"{kind}[{item.key}]", unmet))
        elif kind not in _SPEC_FIELDS:
            untranslated.append(f"{kind}[{item.key}]")
        else:
            checks.append(to_check(kind, item))
    return Derivation(tuple(checks), tuple(left_out), tuple(untranslated))


def select(checks: tuple[Check, ...] | list[Check], n: int) -> list[Check]:
    """At most n checks, evenly spread over the list (so every kind keeps its share), order kept."""
    checks = list(checks)
    if n >= len(checks):
        return checks
    if n <= 0:
        return []
    step = len(checks) / n
    return [checks[int(i * step)] for i in range(n)]


def write_subset(src: Path, dst: Path, keep: set[str]) -> Path:
    """Copy the expectations directory `src` to `dst` keeping only the items whose check id is in `keep`.

    Why not `pytest -k`/node ids: the suite's probe gathers facts for the whole contract it loads, so a
    subset selected by test id would still pay for every import. A subset contract is what a team checking
    fewer things would have.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out: dict[str, Any] = {}
        for kind, items in data.items():
            if kind not in exp.KINDS:
                out[kind] = items
                continue
            keyname = exp.KINDS[kind][1]
            # Groups ({when, items}) flattened: each kept item carries the group's `when`.
            kept = [raw for _, raw in exp.entries({kind: items}, kind) if f"{kind}[{raw[keyname]}]" in keep]
            if kept:
                out[kind] = kept
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(out, sort_keys=False, width=1 << 16), encoding="utf-8")
    return dst


# --- container-structure-test ---------------------------------------------------------------------------


def _checker_test(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "command": "python3",
        "args": ["-c", CHECKER_SOURCE, json.dumps(spec)],
        "exitCode": 0,
    }


def _sh_test(name: str, script: str, expected: list[str] | None = None) -> dict[str, Any]:
    """`sh -c script`; CST expands $NAME in arguments itself, so scripts here use no dollar sign."""
    test: dict[str, Any] = {"name": name, "command": "sh", "args": ["-c", script], "exitCode": 0}
    if expected:
        test["expectedOutput"] = expected
    return test


def _q(text: str) -> str:
    """Single-quote for sh."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _permissions(ftype: str | None, mode: str) -> str:
    """`-rwxr-xr-x` from type file + mode 0755 (the form fileExistenceTests compares)."""
    bits = int(mode, 8)
    first = {"directory": "d", "symlink": "L"}.get(ftype or "file", "-")
    out = first
    for shift in (6, 3, 0):
        part = (bits >> shift) & 7
        out += ("r" if part & 4 else "-") + ("w" if part & 2 else "-") + ("x" if part & 1 else "-")
    return out


def _file_tests(c: Check) -> dict[str, Any]:
    """One CST test for one file item: its native file tests where they express it, else `sh -c test`."""
    s = c.spec
    path = s["path"]
    if s.get("exists") is False:  # a path that must not be there (the build's scratch left behind)
        return {"fileExistenceTests": {"name": c.id, "path": path, "shouldExist": False}}
    native_owner = s["owner"] in (None, "root")
    if s["content"] and not s["mode"] and not s["owner"] and s["type"] in (None, "file"):
        return {"fileContentTests": {"name": c.id, "path": path, "expectedContents": [f"(?m){s['content']}"]}}
    if not s["content"] and native_owner and (s["mode"] or s["type"] is None):
        test: dict[str, Any] = {"name": c.id, "path": path, "shouldExist": True}
        if s["mode"]:
            test["permissions"] = _permissions(s["type"], s["mode"])
        if s["owner"] == "root":
            test["uid"] = 0
        return {"fileExistenceTests": test}
    flag = {"file": "-f", "directory": "-d", "symlink": "-L"}.get(s["type"] or "", "-e")
    script = f"test {flag} {_q(path)}"
    if s["mode"]:
        script += f' && [ "`stat -Lc %a {_q(path)}`" = {int(s["mode"], 8):o} ]'
    if s["owner"]:
        script += f' && [ "`stat -Lc %U {_q(path)}`" = {_q(s["owner"])} ]'
    if s["content"]:
        script += f" && grep -Eq {_q(s['content'])} {_q(path)}"
    return {"commandTests": _sh_test(c.id, script)}


def _anchored(regex: str) -> str:
    """Go's regexp matches anywhere; the contract's regexes match the whole value."""
    return f"^(?:{regex})$"


def cst_config(checks: list[Check]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(container-structure-test config, CST test name -> check ids it covers).

    The mapping matters for counting: CST runs its whole metadataTest as ONE test, however many labels,
    env values and config fields it holds.
    """
    cfg: dict[str, Any] = {"schemaVersion": "2.0.0"}
    covers: dict[str, list[str]] = {}
    metadata: dict[str, Any] = {}
    meta_ids: list[str] = []
    for c in checks:
        if _is_metadata(c):
            _add_metadata(c, metadata)
            meta_ids.append(c.id)
            continue
        section, test = _CST_TESTS[c.kind](c)
        cfg.setdefault(section, []).append(test)
        covers[f"{section}:{test['name']}"] = [c.id]
    if metadata:
        cfg["metadataTest"] = metadata
        covers["metadataTest:Metadata Test"] = meta_ids
    return cfg, covers


def _is_metadata(c: Check) -> bool:
    """Labels, env and image config fields go in the one metadataTest (a health check has no field there)."""
    return c.kind in ("labels", "env") or (c.kind == "image_config" and c.spec["name"] != "healthcheck")


def _add_metadata(c: Check, metadata: dict[str, Any]) -> None:
    s = c.spec
    if c.kind == "image_config":
        metadata[_CST_METADATA[s["name"]]] = s["value"]
        return
    if s["regex"]:
        entry = {"key": s["name"], "value": _anchored(s["regex"]), "isRegex": True}
    elif s["value"] is None:
        entry = {"key": s["name"], "value": ".*", "isRegex": True}
    else:
        entry = {"key": s["name"], "value": s["value"]}
    metadata.setdefault("labels" if c.kind == "labels" else "envVars", []).append(entry)


def _cst_binary(c: Check) -> tuple[str, dict[str, Any]]:
    s = c.spec
    if s["version"]:
        return "commandTests", _checker_test(
            c.id, {"check": "binary", "optional": c.optional, "reason": c.reason, **s}
        )
    if c.optional:
        return "commandTests", _sh_test(c.id, f"command -v {_q(s['name'])} || echo 'SKIP: optional, absent'")
    return "commandTests", _sh_test(c.id, f"command -v {_q(s['name'])}")


def _cst_package(c: Check) -> tuple[str, dict[str, Any]]:
    # `dpkg-query -W -f='${Status}'` is what a team would write first, but CST expands ${Status} to
    # nothing (dpkg-query: "show format: may not be empty string"); -s prints the same Status line.
    name = c.spec["name"]
    if c.optional:
        # removed (config-files) or unknown: SKIP; any other state that is not installed still fails
        script = (
            f"dpkg-query -s {_q(name)} 2>/dev/null | grep -E '^Status: ' "
            f"| grep -Ev ' (config-files|not-installed)' || echo 'SKIP: optional, absent'"
        )
        return "commandTests", _sh_test(c.id, script, [f"(?m)^({_DPKG_INSTALLED}|SKIP: optional, absent)$"])
    return "commandTests", {
        "name": c.id,
        "command": "dpkg-query",
        "args": ["-s", name],
        "exitCode": 0,
        "expectedOutput": [f"(?m)^{_DPKG_INSTALLED}$"],
    }


def _cst_checker(check: str) -> Callable[[Check], tuple[str, dict[str, Any]]]:
    """A kind the shared in-container checker judges (versions, imports, shells under a pty)."""

    def test(c: Check) -> tuple[str, dict[str, Any]]:
        spec = {"check": check, "optional": c.optional, "reason": c.reason, **c.spec}
        return "commandTests", _checker_test(c.id, spec)

    return test


def _cst_file(c: Check) -> tuple[str, dict[str, Any]]:
    ((section, test),) = _file_tests(c).items()
    return section, test


def _cst_user(c: Check) -> tuple[str, dict[str, Any]]:
    s = c.spec
    fields = [
        re.escape(s["name"]),
        "[^:]*",
        str(s["uid"]) if s["uid"] is not None else "[^:]*",
        "[^:]*",
        "[^:]*",
        re.escape(s["home"]) if s["home"] else "[^:]*",
        re.escape(s["shell"]) if s["shell"] else "[^:]*",
    ]
    return "commandTests", _sh_test(
        c.id, f"getent passwd {_q(s['name'])}", ["(?m)^" + ":".join(fields) + "$"]
    )


def _cst_group(c: Check) -> tuple[str, dict[str, Any]]:
    s = c.spec
    gid = str(s["gid"]) if s["gid"] is not None else "[^:]*"
    expected = [f"(?m)^{re.escape(s['name'])}:[^:]*:{gid}:"]
    return "commandTests", _sh_test(c.id, f"getent group {_q(s['name'])}", expected)


def _cst_health(c: Check) -> tuple[str, dict[str, Any]]:
    # CST's metadataTest has no HEALTHCHECK field: run the health command itself, as a team would.
    value = c.spec["value"]
    return "commandTests", _sh_test(
        c.id, value if isinstance(value, str) else "/usr/local/bin/devbox-healthcheck"
    )


_CST_TESTS: dict[str, Callable[[Check], tuple[str, dict[str, Any]]]] = {
    "binaries": _cst_binary,
    "packages": _cst_package,
    "python_dists": _cst_checker("dist"),
    "shells": _cst_checker("shell"),
    "files": _cst_file,
    "users": _cst_user,
    "groups": _cst_group,
    "image_config": _cst_health,
}


# --- naive testinfra ------------------------------------------------------------------------------------


def testinfra_cases(checks: list[Check]) -> list[dict[str, Any]]:
    """The JSON the testinfra module parametrizes over (one test per entry, ids = check ids)."""
    cases = []
    for c in checks:
        case = c.to_json()
        case["id"] = c.id
        if c.kind == "shells":
            # A pseudo-terminal is needed to run an interactive shell as a user gets it; testinfra has none.
            case["checker_spec"] = {"check": "shell", "optional": c.optional, "reason": c.reason, **c.spec}
        cases.append(case)
    return cases
