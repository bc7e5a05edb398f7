"""What every item kind shares: the `when:` conditions, the item base class and the kind declaration.

    >>> Kind(section="env", key="name", argname="env_var", test="test_env", item=EnvVar, evaluate=evaluate)

Why a declaration: adding a kind used to touch seven places (the plugin's argnames, the check registry, the
loader's kinds and model fields, the probe request, the in-target main loop, a test module). Now a kind
module declares all of it once and those places are derived from `devbox_conformance.kinds.all_kinds()`:
every module of the package that declares a `KIND`, found on import, with no list of them to keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class When:
    """Conditions on facts of the target; None means "no condition"."""

    arch: tuple[str, ...] | None = None
    cuda: bool | None = None
    gpu: bool | None = None
    sets: tuple[str, ...] | None = None
    base: tuple[str, ...] | None = None

    def unmet(self, cond: Mapping[str, Any]) -> str | None:
        """Why the item does not apply to a target with conditions `cond`, or None when it does.

        `cond` keys: arch (str), cuda (CUDA version or None), gpu (bool), sets (included set names or None
        when unknown), base (str), sets_excluded (name -> reason from the manifest).
        """
        if self.arch is not None and cond.get("arch") not in self.arch:
            return f"when: arch in {list(self.arch)}, but the target is {cond.get('arch')}"
        if self.cuda is not None and bool(cond.get("cuda")) != self.cuda:
            have = (
                f"is CUDA {cond.get('cuda')}" if cond.get("cuda") else "has no CUDA (torch nor CUDA_VERSION)"
            )
            return f"when: cuda is {str(self.cuda).lower()}, but the target {have}"
        if self.gpu is not None and bool(cond.get("gpu")) != self.gpu:
            have = "a GPU visible" if cond.get("gpu") else "no GPU visible"
            return f"when: gpu is {str(self.gpu).lower()}, but the target has {have}"
        if self.sets is not None and cond.get("sets") is not None:
            missing = [s for s in self.sets if s not in cond["sets"]]
            if missing:
                why = (cond.get("sets_excluded") or {}).get(missing[0])
                return f"when: sets {list(self.sets)}, but set {missing[0]} is not in this build" + (
                    f" ({why})" if why else ""
                )
        if self.base is not None and cond.get("base") not in self.base:
            return f"when: base in {list(self.base)}, but the target's base is {cond.get('base')}"
        return None


@dataclass(frozen=True, kw_only=True)
class Item:
    """Fields every item has."""

    # Test id of the item (name, or path for files).
    key: str
    optional: bool = False
    reason: str | None = None
    when: When = field(default_factory=When)
    # "file:line" where the item was last defined (shown in failures).
    source: str = ""
    note: str | None = None


def field_problem(how: str, value: Any) -> str | None:
    """What is wrong with one field the schema cannot judge: `how` is specifier, version or regex."""
    if how == "specifier":
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            return f"invalid version spec {value!r} (PEP 440, e.g. '>=2.30')"
    elif how == "version":
        try:
            Version(value)
        except InvalidVersion:
            return f"invalid version {value!r} (PEP 440, e.g. '4.40')"
    else:
        try:
            re.compile(value)
        except re.error as exc:
            return f"invalid regex {value!r}: {exc}"
    return None


def no_jobs(request: Mapping[str, Any]) -> list[float]:
    """The kind adds no job of its own to the probe (or one too short to count)."""
    return []


def no_request(items: Sequence[Any]) -> dict[str, Any]:
    """The probe gathers nothing for this kind (labels, image config: the engine's inspect answers)."""
    return {}


@dataclass(frozen=True)
class Kind:
    """One item kind, declared once in its module under `devbox_conformance.kinds`."""

    # YAML section, facts kind and report name ("binaries").
    section: str
    # Field that names an item: its test id and merge key ("name"; "path" for files).
    key: str
    # Parameter of the contract's test function ("binary") and the function's name ("test_binary").
    argname: str
    test: str
    # The frozen item model (a dataclass derived from Item).
    item: type[Item]
    # The check: (item, verdict.Context) -> verdict.Outcome.
    evaluate: Callable[[Any, Any], Any]
    # What the probe must gather for this kind's items: request entries (merged into one request).
    request: Callable[[Sequence[Any]], dict[str, Any]] = no_request
    # Seconds each of the kind's probe jobs may take, read from the whole request; the probe's overall limit
    # is derived from them (probe.probe_timeout), so a kind with long jobs raises it by itself.
    job_seconds: Callable[[Mapping[str, Any]], list[float]] = no_jobs
    # In-target gatherer module (devbox_conformance/intarget/<name>.py), None when nothing is gathered there.
    gatherer: str | None = None
    # Fields the schema cannot check: dotted field -> "specifier", "version" or "regex".
    patterns: Mapping[str, str] = field(default_factory=dict)
    # Kind-specific conversions of the raw YAML item into model fields (beyond lists -> tuples).
    convert: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    # Attribute of the merged model (`files_`: `files` is the model's list of files read).
    attr: str = ""
    # Lower runs first in the probe: long gatherers start at once, beside the short ones.
    probe_priority: int = 9
    # Where the kind stands in reports (the results' counts, the model's fields, the schema): lower first.
    report_order: int = 100
    # JSON Schema: the section's description, the kind's own fields (kinds/schema.py adds the fields every
    # item takes and the group form) and the fields required beside the key.
    description: str = ""
    schema_fields: Mapping[str, Any] = field(default_factory=dict)
    schema_required: tuple[str, ...] = ()

    @property
    def model_attr(self) -> str:
        return self.attr or self.section

    def problems(self, raw: Mapping[str, Any]) -> Iterator[tuple[list[str], str]]:
        """(path of the field within the item, what is wrong) for each bad pattern field."""
        for dotted, how in self.patterns.items():
            parts = dotted.split(".")
            value: Any = raw
            for part in parts:
                value = value.get(part) if isinstance(value, Mapping) else None
            if value is None:
                continue
            bad = field_problem(how, value)
            if bad:
                yield parts, bad


# The in-target probe's marker for an item whose gatherer raised (intarget/main.py PROBE_ERROR).
PROBE_ERROR = "probe_error"


def probe_failure(kind: Kind, item: Item, facts: Mapping[str, Any]) -> str | None:
    """Why the probe could not gather this item (one line), or None when it gathered it.

    Why here, for every kind: a gatherer's exception in the target used to end the whole probe; now it
    leaves a marker in the item's facts (`facts[section][key] = {"probe_error": ...}`) or names the gatherer
    in `probe_errors`, and no kind's check must read such facts as an answer.
    """
    errors = facts.get("probe_errors")
    if isinstance(errors, Mapping) and kind.gatherer and errors.get(kind.gatherer):
        return f"the probe's {kind.gatherer} gatherer failed: {errors[kind.gatherer]}"
    of_kind = facts.get(kind.section)
    if isinstance(of_kind, Mapping) and of_kind.get(PROBE_ERROR):
        return f"the probe could not gather {kind.section}: {of_kind[PROBE_ERROR]}"
    found = of_kind.get(item.key) if isinstance(of_kind, Mapping) else None
    if isinstance(found, Mapping) and found.get(PROBE_ERROR):
        return f"the probe could not gather this item: {found[PROBE_ERROR]}"
    return None
