"""The loader, on any YAML document: a model, or ExpectationsError whose message is one bounded line naming
the file and line. Never another exception, never unbounded time.

Documents are drawn near the schema (real section and field names, the item shapes it expects) so that the
examples reach the kinds' conversions, and far from it (odd keys, NUL bytes, NaN, huge numbers, deep
nesting, aliases, raw text).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devbox_conformance import expectations as exp
from devbox_conformance.kinds import all_kinds
from devbox_conformance.kinds.schema import COMMON_FIELDS

SECTIONS = [k.section for k in all_kinds()]
FIELDS = sorted({name for k in all_kinds() for name in k.schema_fields} | set(COMMON_FIELDS))
WHEN_KEYS = ["arch", "cuda", "gpu", "sets", "base"]
WORDS = ["amd64", "arm64", "bash", "sh", "setuid", "secrets", "/etc", "/usr/bin/*", ">=1.0", "4.40", "^a.*"]

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

text = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from("ab/\0\n *[]$'\"\\:-="), max_size=8),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(text, st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)
field_values = st.one_of(scalars, st.lists(st.one_of(text, numbers), max_size=3), values)
when = st.dictionaries(st.sampled_from(WHEN_KEYS), st.one_of(st.booleans(), st.lists(text, max_size=2)))
item = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), text), st.one_of(field_values, when), min_size=1, max_size=6
)
group = st.fixed_dictionaries({"when": when, "items": st.lists(item, max_size=3)})
section = st.lists(st.one_of(item, group, values), max_size=4)
document = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(SECTIONS), st.just("extends"), text), section, max_size=4),
    values,
)


def _deep(depth: int) -> str:
    return "binaries: " + "[" * depth + "]" * depth + "\n"


def _bomb(levels: int) -> str:
    lol = '&a0 ["lol","lol","lol"]'
    more = [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return f"binaries:\n  - name: [{', '.join([lol, *more])}]\n"


raw_text = st.one_of(
    st.integers(min_value=1, max_value=3000).map(_deep),
    st.integers(min_value=1, max_value=12).map(_bomb),
    st.text(alphabet=st.sampled_from("[]{}:,-&*!|>'\"\n #\t\0ab1.~"), max_size=80),
    st.just("binaries:\n  - &r {name: x, note: [*r]}\n"),
    st.just("a: !!binary aGVsbG8=\nb: !!set {x}\nc: 2001-12-14\n"),
)


def _check(text_: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "common.yaml").write_text(text_, encoding="utf-8", errors="surrogatepass")
        (root / "amd64.yaml").write_text("")
        try:
            model = exp.load(root, "amd64", "standin")
        except exp.ExpectationsError as err:
            message = str(err)
            assert "\n" not in message and len(message) <= exp.MAX_MESSAGE, message
            assert re.match(rf"{re.escape(str(root))}/(common|amd64)\.yaml:\d+: ", message), message
        else:
            assert model.count() > 0


@SETTINGS
@given(document)
def test_any_document_is_a_model_or_one_line_naming_file_and_line(data: Any) -> None:
    _check(yaml.safe_dump(data, allow_unicode=True))


@SETTINGS
@given(raw_text)
def test_any_text_is_a_model_or_one_line_naming_file_and_line(text_: str) -> None:
    _check(text_)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["name", "note", "package"]), text), min_size=1, max_size=3))
def test_a_valid_item_with_odd_text_still_loads_or_names_its_line(fields: list[tuple[str, str]]) -> None:
    body = {"binaries": [{"name": "rg", **dict(fields)}]}
    _check(yaml.safe_dump(body, allow_unicode=True))
