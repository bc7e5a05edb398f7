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

import difflib
import math
import reprlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jsonschema
import yaml

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

SCHEMA_PATH = Path(__file__).with_name("schema.json")
KNOWN_ARCHS = ("amd64", "arm64")


class ExpectationsError(Exception):
    """Bad expectations input; str() is one line: `file:line: key: what is wrong`.

    Why the cut: a value shown in a message comes from the user's file; a newline in a key or an alias bomb
    in a value would otherwise make a message of many lines or many megabytes.
    """

    def __init__(self, message: str) -> None:
        line = " ".join(str(message).splitlines())
        if len(line) > MAX_MESSAGE:
            line = line[: MAX_MESSAGE - 5] + " ..."
        super().__init__(line)


# The longest message (characters) and the longest value shown in one.
MAX_MESSAGE = 600
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 2
MAX_SHOWN = 120
# Limits on one file's data, checked before the schema (whose own walk is recursive and whose messages
# print whole values): levels of nesting (the contract uses 5), values once aliases are expanded (the
# shipped contract has about 1,100) and the magnitude of an integer (a larger one cannot become a float).
MAX_DEPTH = 32
MAX_VALUES = 200_000
MAX_INT = 2**63 - 1


def shown_value(value: Any) -> str:
    """repr() of a value from the user's file, cut to at most MAX_SHOWN characters at any depth."""
    text = _SHORT.repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


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


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _dotted(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _line_of(node: yaml.Node | None, parts: list[Any], key_line: bool = False) -> int:
    """1-based line of the value at `parts` in a composed YAML tree (of its key when key_line)."""
    if node is None:
        return 1
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    if last and key_line:
                        return k.start_mark.line + 1
                    node = v
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


_TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "mapping",
    type(None): "null",
}


_ENUM_WORDS = {"arch": "arch", "sets": "set", "base": "base kind"}


def _schema_error_text(err: jsonschema.ValidationError) -> tuple[list[Any], str, bool]:
    """(path, message, point at the key) for one schema error."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list((err.schema.get("properties") or {}).keys())
        extra = sorted((k for k in err.instance if k not in allowed), key=repr)
        key = extra[0] if extra else "?"
        near = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (valid keys: {', '.join(allowed)})"
        return [*path, key], f"unknown key {shown_value(key)}{hint}", True
    if err.validator == "type":
        value = err.validator_value
        want = value if isinstance(value, str) else " or ".join(value)
        got = _TYPE_NAMES.get(type(err.instance), type(err.instance).__name__)
        return path, f"wrong type: expected {want}, got {got} ({shown_value(err.instance)})", False
    if err.validator == "enum":
        # A typo in a `when:` condition would otherwise make the item never apply, silently.
        what = next((f"unknown {w}" for k, w in _ENUM_WORDS.items() if k in path), "invalid value")
        choices = ", ".join(map(str, err.validator_value))
        return path, f"{what} {shown_value(err.instance)} (expected one of {choices})", False
    if err.validator == "required":
        return path, err.message.replace("is a required property", "is required"), False
    return path, err.message.splitlines()[0], False


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice; PyYAML would silently keep the last one."""

    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(problem=f"duplicate key {key!r}", problem_mark=again)
        self.key = key
        self.line = again.line + 1
        # "line 3", or with the column when both are on one line (a flow mapping: {a: 1, a: 2})
        self.first_at = f"line {first.line + 1}" + (
            f", column {first.column + 1}" if first.line == again.line else ""
        )


class _UniqueKeys:
    """Mixin for a safe loader: every mapping, at any depth, must name each key once.

    Why: a second top-level `binaries:` (easy to write in a 800-line file) replaced the first list without a
    word, so dozens of items went unchecked. Merge keys (`<<`) are left to PyYAML: overriding a merged key
    is what they are for.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: PyYAML's own check reports it
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


# libyaml's parser when PyYAML was built with it: 10x faster on the ~1,000-line contract, which every
# run (and every xdist worker) reads. The pure-Python one words parse errors the same on every machine.
_BaseFast: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_UniqueKeys, _BaseFast):  # type: ignore[valid-type, misc]
    """The loader every read uses: libyaml's speed when present, duplicate keys refused."""


class _PureLoader(_UniqueKeys, yaml.SafeLoader):
    """Same rules on the pure-Python parser: its error words are the ones tests and users see.

    Its composer recurses once per level of nesting: past MAX_DEPTH it stops with a parse error at the
    line where the too-deep value starts (a file of 1,000 `[` was a RecursionError traceback).
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _compose_and_construct(text: str, loader_cls: type[Any]) -> tuple[Any, yaml.Node | None]:
    """One parse giving both the node tree (for line numbers) and the data built from it."""
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def _decode(raw: bytes, shown: str) -> str:
    """The file's text; a byte that is not UTF-8 is one line naming its offset (and line) in the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ExpectationsError(
            f"{shown}:{line}: not UTF-8: byte 0x{byte} at offset {exc.start} "
            f"({exc.reason}); save the file as UTF-8"
        ) from None


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    shown = _display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ExpectationsError(f"{shown}: cannot read: {exc.strerror or exc}") from None
    text = _decode(raw, shown)
    try:
        try:
            return _compose_and_construct(text, _FastLoader)
        except DuplicateKeyError:
            raise
        except yaml.YAMLError:
            # Report what the pure-Python parser says: the same words with or without libyaml.
            return _compose_and_construct(text, _PureLoader)
    except DuplicateKeyError as exc:
        raise ExpectationsError(
            f"{shown}:{exc.line}: duplicate key {exc.key!r} (first at {exc.first_at})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ExpectationsError(f"{shown}:{line}: malformed YAML: {problem}") from None
    except RecursionError:
        # A deeply nested mapping key (`? [[[[...]]]]`): the constructor recurses too.
        raise ExpectationsError(f"{shown}:1: malformed YAML: nested too deep to read") from None


def _validate(path: Path, data: Any, node: yaml.Node | None) -> dict[str, Any]:
    shown = _display(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExpectationsError(
            f"{shown}:1: (top level): wrong type: expected a mapping of item kinds, "
            f"got {_TYPE_NAMES.get(type(data), type(data).__name__)}"
        )
    bad = _bad_value(data)
    if bad is not None:
        parts, problem, key_line = bad
        raise ExpectationsError(f"{shown}:{_line_of(node, parts, key_line)}: {_dotted(parts)}: {problem}")
    _refuse_nested_groups(shown, data, node)
    validator = jsonschema.Draft202012Validator(_schema())
    errors = list(validator.iter_errors(data))
    if errors:
        located = []
        for err in errors:
            parts, msg, key_line = _schema_error_text(err)
            located.append((_line_of(node, parts, key_line), parts, msg))
        line, parts, msg = min(located, key=lambda e: (e[0], len(e[1])))
        raise ExpectationsError(f"{shown}:{line}: {_dotted(parts)}: {msg}")
    # Checks the schema cannot express: duplicate keys, version specifiers, regexes.
    for kind, (_cls, keyname) in KINDS.items():
        seen: dict[str, list[Any]] = {}
        for at, raw in entries(data, kind):
            key = raw[keyname]
            where = f"{shown}:{_line_of(node, at)}: {_dotted(at)}"
            if key in seen:
                raise ExpectationsError(
                    f"{where}.{keyname}: duplicate item {key!r} (first at {_dotted(seen[key])})"
                )
            seen[key] = at
            for parts, bad in get(kind).problems(raw):
                line = _line_of(node, [*at, *parts])
                raise ExpectationsError(f"{shown}:{line}: {_dotted([*at, *parts])}: {bad}")
    return data


def _scalar_problem(value: Any) -> str | None:
    """What no field may hold: a NUL byte (no path, argv or name can carry one), a number that is not
    finite (`.nan`, `.inf`: a NaN passes every `maximum`) or an integer too large for a float."""
    if isinstance(value, str) and "\0" in value:
        return f"NUL byte in {shown_value(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"not a finite number ({value})"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return f"number too large ({len(str(abs(value)))} digits)"
    return None


def _children(value: Any) -> Iterator[tuple[Any, Any, bool]]:
    """(key or index, child, whether the key itself is to be judged) of a container."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v, True
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield i, v, False


def _bad_value(data: Any) -> tuple[list[Any], str, bool] | None:
    """(path, problem, point at the key) of the first value no schema field may hold, else None.

    One walk, without recursion, that visits each object once however often aliases repeat it: NUL bytes
    in keys and strings, numbers that are not finite or too large, nesting deeper than MAX_DEPTH, a value
    that contains itself (`&a [*a]`) and more than MAX_VALUES values once aliases are expanded (a "billion
    laughs" document is a few lines and a billion values; the schema's messages print the values whole).
    """
    sizes: dict[int, int] = {}
    active = {id(data)}
    # Frames: [container, its path, its children, its expanded size so far].
    frames: list[list[Any]] = [[data, [], _children(data), 1]]
    while frames:
        frame = frames[-1]
        step = next(frame[2], None)
        if step is None:
            frames.pop()
            active.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[3]
            if frames:
                frames[-1][3] += frame[3]
            continue
        key, child, judge_key = step
        path = [*frame[1], key]
        problem = _scalar_problem(key) if judge_key else None
        if problem:
            return path, f"key: {problem}", True
        if isinstance(child, (dict, list, tuple, set, frozenset)):
            if id(child) in active:
                return path, "an alias refers to a value that holds it (a recursive value)", False
            if id(child) not in sizes:
                if len(path) > MAX_DEPTH:
                    return path, f"nested more than {MAX_DEPTH} levels deep", False
                active.add(id(child))
                frames.append([child, path, _children(child), 1])
                continue
            frame[3] += sizes[id(child)]
        else:
            frame[3] += 1
            problem = _scalar_problem(child)
            if problem:
                return path, problem, False
        if frame[3] > MAX_VALUES:
            return (
                path,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias repeated "
                "inside aliases?); write the values out",
                False,
            )
    return None


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
                    line = _line_of(node, path, key_line=True)
                    raise ExpectationsError(
                        f"{shown}:{line}: {_dotted(path)}: "
                        f"groups do not nest (give these items the outer group's `when:` "
                        f"keys in a group of their own)"
                    )


# The contract this package ships (the checkout's expectations/, carried in the wheel).
SHIPPED_DIR = Path(__file__).resolve().parent / "default_expectations"
# `extends:` names the shipped contract with this word; anything else is a directory path.
SHIPPED_NAME = "gpu-devbox"
# Shipped profiles beside the image contract (`extends: gpu-node`, `--expectations=gpu-node`).
PROFILES_DIR = SHIPPED_DIR / "profiles"
_MAX_EXTENDS_DEPTH = 8


def shipped(name: str) -> Path | None:
    """The shipped contract (`gpu-devbox`) or a shipped profile (`gpu-node`) by name, else None."""
    if name == SHIPPED_NAME:
        return SHIPPED_DIR
    if name and "/" not in name and (PROFILES_DIR / name / "common.yaml").is_file():
        return PROFILES_DIR / name
    return None


def profile_names() -> list[str]:
    return sorted(p.parent.name for p in PROFILES_DIR.glob("*/common.yaml"))


def extends_of(directory: Path) -> Path | None:
    """The directory `common.yaml` of `directory` extends (`extends: gpu-devbox` or a path), if any.

    Why only common.yaml: one place says what a contract builds on, so the arch and base overlays of both
    directories apply in a fixed order (the base's first, then the extending directory's).
    """
    common = directory / "common.yaml"
    data, node = _read(common)
    if not isinstance(data, dict) or "extends" not in data:
        return None
    value = data["extends"]
    line = _line_of(node, ["extends"])
    if not isinstance(value, str) or not value.strip():
        raise ExpectationsError(
            f"{_display(common)}:{line}: extends: expected '{SHIPPED_NAME}', a shipped profile "
            f"({', '.join(profile_names())}) or a directory path, got {value!r}"
        )
    target = shipped(value.strip()) or (directory / value.strip()).resolve()
    if not (target / "common.yaml").is_file():
        raise ExpectationsError(f"{_display(common)}:{line}: extends: {value!r}: no common.yaml in {target}")
    return target


def overlay_files(directory: Path, arch: str, base_kind: str, _depth: int = 0) -> list[Path]:
    """The files merged for (arch, base_kind), in order; raises when a required one is missing.

    A directory that `extends:` another contributes its files after that contract's. A directory needs the
    overlay of `arch` when it has any `<arch>.yaml` (or is the shipped contract); with none it is
    arch-neutral (an extending one's arch overlays are then the extended contract's).
    """
    common = directory / "common.yaml"
    if not directory.is_dir():
        raise ExpectationsError(f"{_display(directory)}: expectations directory not found")
    if not common.is_file():
        raise ExpectationsError(f"{_display(common)}: not found (every expectations directory needs one)")
    parent = extends_of(directory)
    if parent is not None and _depth >= _MAX_EXTENDS_DEPTH:
        raise ExpectationsError(
            f"{_display(common)}:1: extends: more than {_MAX_EXTENDS_DEPTH} levels (a cycle?)"
        )
    inherited = overlay_files(parent, arch, base_kind, _depth + 1) if parent is not None else []
    arch_file = directory / f"{arch}.yaml"
    files = [*inherited, common]
    # waivers.yaml lives beside the contract (the suite and devbox-node-check find it there): not an overlay.
    have = sorted(p.stem for p in directory.glob("*.yaml") if p.stem not in ("common", "waivers"))
    if arch_file.is_file():
        files.append(arch_file)
    elif have or (parent is None and directory.resolve() == SHIPPED_DIR):
        # A contract that describes arches must describe this one, whether or not it extends another (a
        # snapshot has only the overlay of the arch it was taken on, and must not judge another); one with
        # no overlay at all (a team's arch-neutral common.yaml) is the same on every arch. The shipped
        # contract always has them.
        raise ExpectationsError(
            f"{_display(arch_file)}: no overlay for arch {arch!r} (overlays: {', '.join(have) or 'none'})"
        )
    base_file = directory / "bases" / f"{base_kind}.yaml"
    if base_file.is_file():
        files.append(base_file)
    return files


def load(directory: Path | str, arch: str, base_kind: str) -> Expectations:
    """Read, validate and merge the expectations for one target."""
    directory = Path(directory)
    merged: dict[str, dict[str, tuple[dict[str, Any], str]]] = {kind: {} for kind in KINDS}
    files = overlay_files(directory, arch, base_kind)
    for path in files:
        data, node = _read(path)
        data = _validate(path, data, node)
        shown = _display(path)
        if "extends" in data and path.name != "common.yaml":
            # Only common.yaml says what a contract builds on (extends_of); here it would be ignored.
            raise ExpectationsError(
                f"{shown}:{_line_of(node, ['extends'], True)}: extends: only common.yaml may extend a "
                f"contract (an arch or base overlay cannot); move it to common.yaml"
            )
        _remove_everywhere(shown, data, node, merged)
        for kind, (_cls, keyname) in KINDS.items():
            for at, raw in entries(data, kind):
                key = raw[keyname]
                source = f"{shown}:{_line_of(node, at)}"
                if raw.get("remove"):
                    if key not in merged[kind]:
                        raise ExpectationsError(
                            f"{source}: {_dotted(at)}: remove: no earlier item {key!r} to remove"
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
        arch=arch, base_kind=base_kind, files=tuple(_display(p) for p in files), by_kind=built
    )
    if model.count() == 0:
        raise ExpectationsError(
            f"{_display(files[0])}:1: (top level): empty expectations: no item to check "
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
                f"{shown}:{_line_of(node, ['remove', i])}: remove[{i}]: no earlier item {key!r} "
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
