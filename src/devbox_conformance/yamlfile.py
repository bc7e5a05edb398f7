"""Reading a YAML input (a contract, a waivers file) so that every problem is ONE line naming file and line.

Why a module of its own: the contract loader and the waivers loader read YAML under the same rules (UTF-8,
no duplicate keys, a parse error as `file:line: malformed YAML: ...`, line numbers for any path in the data);
one reader keeps their words identical.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ExpectationsError(Exception):
    """Bad input in a contract or waivers file; str() is one line: `file:line: key: what is wrong`.

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
# Levels of nesting one file may have (the contract uses 5): the pure-Python composer and the schema's walk
# both recurse once per level.
MAX_DEPTH = 32


def shown_value(value: Any) -> str:
    """repr() of a value from the user's file, cut to at most MAX_SHOWN characters at any depth."""
    text = _SHORT.repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def dotted(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def line_of(node: yaml.Node | None, parts: list[Any], key_line: bool = False) -> int:
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


TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "list",
    dict: "mapping",
    type(None): "null",
}


ENUM_WORDS = {"arch": "arch", "sets": "set", "base": "base kind"}


def schema_error_text(err: jsonschema.ValidationError) -> tuple[list[Any], str, bool]:
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
        got = TYPE_NAMES.get(type(err.instance), type(err.instance).__name__)
        return path, f"wrong type: expected {want}, got {got} ({shown_value(err.instance)})", False
    if err.validator == "enum":
        # A typo in a `when:` condition would otherwise make the item never apply, silently.
        what = next((f"unknown {w}" for k, w in ENUM_WORDS.items() if k in path), "invalid value")
        choices = ", ".join(map(str, err.validator_value))
        return path, f"{what} {shown_value(err.instance)} (expected one of {choices})", False
    if err.validator == "required":
        return path, err.message.replace("is a required property", "is required"), False
    return path, err.message.splitlines()[0], False


def schema_check(
    shown: str,
    schema: dict[str, Any],
    data: Any,
    node: yaml.Node | None,
    error: type[ExpectationsError] = ExpectationsError,
    reword: Callable[[jsonschema.ValidationError, list[Any], str], str] | None = None,
) -> None:
    """Raise the schema error nearest the top of the file as one line, or nothing when the data conforms.

    Why the first by line: jsonschema reports errors in its own order; the user reads the file top down, and
    the shortest path at that line is the one that names the key they wrote. `reword` lets a caller say a
    message its own way (the waivers' date pattern).
    """
    located = []
    for err in jsonschema.Draft202012Validator(schema).iter_errors(data):
        parts, msg, key_line = schema_error_text(err)
        if reword is not None:
            msg = reword(err, parts, msg)
        located.append((line_of(node, parts, key_line), parts, msg))
    if located:
        line, parts, msg = min(located, key=lambda e: (e[0], len(e[1])))
        raise error(f"{shown}:{line}: {dotted(parts)}: {msg}")


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


class UniqueKeys:
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


class FastLoader(UniqueKeys, _BaseFast):  # type: ignore[valid-type, misc]
    """The loader every read uses: libyaml's speed when present, duplicate keys refused."""


class PureLoader(UniqueKeys, yaml.SafeLoader):
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


def compose_and_construct(text: str, loader_cls: type[Any]) -> tuple[Any, yaml.Node | None]:
    """One parse giving both the node tree (for line numbers) and the data built from it."""
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def decode(raw: bytes, shown: str, error: type[ExpectationsError] = ExpectationsError) -> str:
    """The file's text; a byte that is not UTF-8 is one line naming its offset (and line) in the file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise error(
            f"{shown}:{line}: not UTF-8: byte 0x{byte} at offset {exc.start} "
            f"({exc.reason}); save the file as UTF-8"
        ) from None


def read(
    path: Path,
    error: type[ExpectationsError] = ExpectationsError,
    fast: type[Any] | None = None,
    pure: type[Any] | None = None,
) -> tuple[Any, yaml.Node | None]:
    """(data, node tree) of one file; every problem is one `error` line naming the file and line.

    `fast` parses (FastLoader by default); on a parse error `pure` parses again (PureLoader by default) so the
    words are the same with or without libyaml. Both are looked up at call time so a test can swap them.
    """
    fast = fast or FastLoader
    pure = pure or PureLoader
    shown = display(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{shown}: cannot read: {exc.strerror or exc}") from None
    text = decode(raw, shown, error)
    try:
        try:
            return compose_and_construct(text, fast)
        except DuplicateKeyError:
            raise
        except yaml.YAMLError:
            return compose_and_construct(text, pure)
    except DuplicateKeyError as exc:
        raise error(f"{shown}:{exc.line}: duplicate key {exc.key!r} (first at {exc.first_at})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{shown}:{line}: malformed YAML: {problem}") from None
    except RecursionError:
        # A deeply nested mapping key (`? [[[[...]]]]`): the constructor recurses too.
        raise error(f"{shown}:1: malformed YAML: nested too deep to read") from None
