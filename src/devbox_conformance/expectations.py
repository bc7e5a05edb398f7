"""Expectations: YAML files -> one validated, frozen model.

    >>> model = load(Path("expectations"), arch="amd64", base_kind="standin")
    >>> [b.name for b in model.binaries][:3]
    ['git', 'rg', 'fd']

Files, in order: `common.yaml`, `<arch>.yaml`, `bases/<base_kind>.yaml` — after the files of the contract
`common.yaml` `extends:` (`gpu-devbox`, the shipped one, or a directory). Items merge by kind and key (`name`,
or `path` for files); a later file replaces the fields it gives; `remove: true` drops the item. In a kind's
list, `{when: {...}, items: [...]}` is a group whose items share that `when` (see `entries`). Every bad
input raises `ExpectationsError` whose message is ONE line naming file, line and key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

# Which files make a contract, and how one is read, have modules of their own; their names stay here too.
from devbox_conformance.arch import SUPPORTED as SUPPORTED_ARCHS
from devbox_conformance.contract_sources import (  # noqa: F401
    PROFILES_DIR,
    SHIPPED_DIR,
    SHIPPED_NAME,
    extends_of,
    overlay_files,
    profile_names,
    shipped,
)

# The item kinds, declared one module each under devbox_conformance.kinds; the model is derived from them.
from devbox_conformance.kinds import all_kinds, get
from devbox_conformance.kinds import schema as kind_schema
from devbox_conformance.kinds.base import Item, When  # noqa: F401
from devbox_conformance.kinds.binaries import Binary  # noqa: F401
from devbox_conformance.kinds.env import EnvVar  # noqa: F401
from devbox_conformance.kinds.files import File  # noqa: F401
from devbox_conformance.kinds.groups import Group  # noqa: F401
from devbox_conformance.kinds.image_config import ImageConfig  # noqa: F401
from devbox_conformance.kinds.labels import Label  # noqa: F401
from devbox_conformance.kinds.packages import Package  # noqa: F401
from devbox_conformance.kinds.python_dists import PythonDist  # noqa: F401
from devbox_conformance.kinds.shells import DEFAULT_GREETING, Shell  # noqa: F401
from devbox_conformance.kinds.users import User  # noqa: F401
from devbox_conformance.value_limits import bad_value
from devbox_conformance.yamlfile import (  # noqa: F401
    MAX_MESSAGE,
    TYPE_NAMES,
    DuplicateKeyError,
    ExpectationsError,
    display,
    dotted,
    line_of,
    read,
    schema_check,
    schema_error_text,
    shown_value,
)

SCHEMA_PATH = Path(__file__).with_name("schema.json")
KNOWN_ARCHS = SUPPORTED_ARCHS


# YAML section -> (model class, key field). The order is the report order.
KINDS: dict[str, tuple[type[Item], str]] = {k.section: (k.item, k.key) for k in all_kinds()}
# YAML section -> attribute of the model holding its items (`files_`: `files` lists the files read).
_ATTRS = {k.section: k.model_attr for k in all_kinds()}


@dataclass(frozen=True)
class Expectations:
    """The merged contract for one target: one tuple of items per kind, by section.

    `model.binaries` (and `model.files_` for files) reads one kind's items, as `items("binaries")` does.
    """

    arch: str
    base_kind: str
    # Files read, in merge order.
    files: tuple[str, ...]
    # Kind section -> its items, in report order.
    by_kind: Mapping[str, tuple[Item, ...]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> tuple[Item, ...]:
        # Only called for names that are not fields; dunder lookups (pickle, copy) must not recurse.
        if name.startswith("__"):
            raise AttributeError(name)
        by_kind = self.__dict__.get("by_kind") or {}
        for section, attr in _ATTRS.items():
            if attr == name:
                return tuple(by_kind.get(section, ()))
        raise AttributeError(name)

    def items(self, kind: str) -> tuple[Item, ...]:
        return tuple(self.by_kind.get(kind, ()))

    def all_items(self) -> Iterator[tuple[str, Item]]:
        for kind in KINDS:
            for item in self.items(kind):
                yield kind, item

    def count(self) -> int:
        return sum(1 for _ in self.all_items())


def _schema() -> dict[str, Any]:
    """Built from the kind declarations; schema.json (SCHEMA_PATH) is the same text, written for editors."""
    return kind_schema.build()


def _schema() -> dict[str, Any]:
    """Built from the kind declarations; schema.json (SCHEMA_PATH) is the same text, written for editors."""
    return kind_schema.build()


def _validate(path: Path, data: Any, node: yaml.Node | None) -> dict[str, Any]:
    shown = display(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExpectationsError(
            f"{shown}:1: (top level): wrong type: expected a mapping of item kinds, "
            f"got {TYPE_NAMES.get(type(data), type(data).__name__)}"
        )
    bad = bad_value(data)
    if bad is not None:
        parts, problem, key_line = bad
        raise ExpectationsError(f"{shown}:{line_of(node, parts, key_line)}: {dotted(parts)}: {problem}")
    _refuse_nested_groups(shown, data, node)
    schema_check(shown, _schema(), data, node)
    # Checks the schema cannot express: duplicate keys, version specifiers, regexes.
    for kind, (_cls, keyname) in KINDS.items():
        seen: dict[str, list[Any]] = {}
        for at, raw in entries(data, kind):
            key = raw[keyname]
            where = f"{shown}:{line_of(node, at)}: {dotted(at)}"
            if key in seen:
                raise ExpectationsError(
                    f"{where}.{keyname}: duplicate item {key!r} (first at {dotted(seen[key])})"
                )
            seen[key] = at
            for parts, bad in get(kind).problems(raw):
                line = line_of(node, [*at, *parts])
                raise ExpectationsError(f"{shown}:{line}: {dotted([*at, *parts])}: {bad}")
    return data


def entries(data: Mapping[str, Any], kind: str) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """(path in the file, item) for each item of KIND in one validated file, groups flattened.

    A group `{when: {...}, items: [...]}` saves repeating one condition on a run of items (a package set's
    `when: {sets: [...]}`); each of its items gets the group's `when` with the item's own keys added or
    replacing the group's. The path still points into the group (`binaries[3].items[0]`), so messages and
    `source` name the line the item is on.

        >>> [p for p, _ in entries({"env": [{"when": {"gpu": True}, "items": [{"name": "A"}]}]}, "env")]
        [['env', 0, 'items', 0]]
    """
    for i, raw in enumerate(data.get(kind) or []):
        if "items" not in raw:
            yield [kind, i], raw
            continue
        for j, item in enumerate(raw["items"]):
            yield [kind, i, "items", j], {**item, "when": {**raw["when"], **(item.get("when") or {})}}


def _refuse_nested_groups(shown: str, data: Mapping[str, Any], node: yaml.Node | None) -> None:
    """A group inside a group: the schema alone would only say "'name' is required", which misleads."""
    for kind, entries_ in data.items():
        for i, entry in enumerate(entries_ if isinstance(entries_, list) else []):
            inner = entry.get("items") if isinstance(entry, dict) else None
            for j, item in enumerate(inner if isinstance(inner, list) else []):
                if isinstance(item, dict) and "items" in item:
                    path = [kind, i, "items", j, "items"]
                    line = line_of(node, path, key_line=True)
                    raise ExpectationsError(
                        f"{shown}:{line}: {dotted(path)}: "
                        f"groups do not nest (give these items the outer group's `when:` "
                        f"keys in a group of their own)"
                    )


def load(directory: Path | str, arch: str, base_kind: str) -> Expectations:
    """Read, validate and merge the expectations for one target."""
    directory = Path(directory)
    merged: dict[str, dict[str, tuple[dict[str, Any], str]]] = {kind: {} for kind in KINDS}
    files = overlay_files(directory, arch, base_kind)
    for path in files:
        data, node = read(path)
        data = _validate(path, data, node)
        shown = display(path)
        if "extends" in data and path.name != "common.yaml":
            # Only common.yaml says what a contract builds on (extends_of); here it would be ignored.
            raise ExpectationsError(
                f"{shown}:{line_of(node, ['extends'], True)}: extends: only common.yaml may extend a "
                f"contract (an arch or base overlay cannot); move it to common.yaml"
            )
        _remove_everywhere(shown, data, node, merged)
        for kind, (_cls, keyname) in KINDS.items():
            for at, raw in entries(data, kind):
                key = raw[keyname]
                source = f"{shown}:{line_of(node, at)}"
                if raw.get("remove"):
                    if key not in merged[kind]:
                        raise ExpectationsError(
                            f"{source}: {dotted(at)}: remove: no earlier item {key!r} to remove"
                        )
                    del merged[kind][key]
                    continue
                base = dict(merged[kind][key][0]) if key in merged[kind] else {}
                base.update(raw)
                merged[kind][key] = (base, source)
    built = {
        kind: tuple(_build(kind, raw, source) for raw, source in items.values())
        for kind, items in merged.items()
    }
    model = Expectations(
        arch=arch, base_kind=base_kind, files=tuple(display(p) for p in files), by_kind=built
    )
    if model.count() == 0:
        raise ExpectationsError(
            f"{display(files[0])}:1: (top level): empty expectations: no item to check "
            f"in {', '.join(model.files)}"
        )
    return model


def _remove_everywhere(
    shown: str, data: Mapping[str, Any], node: yaml.Node | None, merged: dict[str, dict[str, Any]]
) -> None:
    """Top-level `remove: [nvtop]`: drop that key from every kind an earlier file defined it in.

    Why: one tool is checked in several kinds (`binaries` and `packages` for an apt tool); a team that drops
    it should write one line, not find the second test failing. A name no earlier item has is an error, so
    a typo never leaves the item checked while the file seems to drop it.
    """
    for i, key in enumerate(data.get("remove") or []):
        hit = [kind for kind, items in merged.items() if key in items]
        if not hit:
            raise ExpectationsError(
                f"{shown}:{line_of(node, ['remove', i])}: remove[{i}]: no earlier item {key!r} "
                f"in any kind to remove"
            )
        for kind in hit:
            del merged[kind][key]


def _build(kind: str, raw: dict[str, Any], source: str) -> Item:
    """One model item from its merged YAML: generic fields here, the kind's conversions from its module."""
    decl = get(kind)
    names = {f.name for f in fields(decl.item)}
    kwargs: dict[str, Any] = {"key": raw[decl.key], "source": source}
    for name, value in raw.items():
        if name == "when":
            conditions: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
            kwargs["when"] = When(**conditions)
        elif name in names:
            kwargs[name] = tuple(value) if isinstance(value, list) else value
    if decl.convert is not None:
        try:
            kwargs.update(decl.convert(raw))
        except ValueError as exc:  # a rule on the merged item (e.g. commands: exactly one of run/argv)
            raise ExpectationsError(f"{source}: {kind}[{raw[decl.key]}]: {exc}") from None
    return decl.item(**kwargs)
