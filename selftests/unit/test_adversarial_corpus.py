"""The adversarial corpus: per check kind, inputs that would be a false green if the mechanism regressed.

Each `selftests/fixtures/adversarial/<section>.yaml` is a list of cases. A case's item goes through the real
loader (a temporary expectations directory holding only that item), its facts are merged over empty
defaults, and `verdict.verify` must give exactly the verdict the case names, with `message` in its text:

    - id: version-prefix-is-not-a-match
      family: version comparison
      item: {name: rg, version: ">=14.0"}     # as written under the kind's section of an expectations file
      facts: {binaries: {rg: {path: /usr/bin/rg, version_output: "ripgrep 14.0.0rc1"}}}
      conditions: {arch: amd64, sets: null}   # optional (this is the default)
      target_kind: image                      # optional (default image)
      image_attrs: {Config: {Labels: {}}}     # optional (default none: a target without an image)
      wait_healthy: {ok: false, seen: "unhealthy"}  # optional: what waiting for `healthy` answers
      verdict: failed                         # passed | failed | skipped | error (the loader refuses it)
      message: "14.0.0rc1"                    # a substring the verdict's message must contain
      xfail: "why"                            # optional: a known false green the probe cannot see yet

Why through the loader and `verify`: a case must break when any layer between the YAML a user writes and the
verdict regresses (a conversion, a default, the optional/absent rule), not only the kind's `evaluate`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from check_facts import EMPTY_FACTS

from devbox_conformance import expectations as exp
from devbox_conformance.kinds import all_kinds, verdict

CORPUS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "adversarial"
# Kinds whose corpus file is written elsewhere and not merged yet (`node` is a kind not merged yet either).
# Empty this set once they are: a kind outside it without a corpus file (a new kind, say) fails
# test_every_kind_has_a_corpus, and so does a name here whose corpus file has arrived.
EXPECTED_TO_COME: set[str] = set()

REQUIRED = ("id", "family", "item", "verdict", "message")
OPTIONAL = ("facts", "conditions", "target_kind", "image_attrs", "wait_healthy", "xfail")
VERDICTS = ("passed", "failed", "skipped", "error")
DEFAULT_CONDITIONS: dict[str, Any] = {"arch": "amd64", "sets": None}


class Malformed(Exception):
    """A corpus file or case that cannot be run as written; str() says which and why."""


def _read(section: str) -> list[Any]:
    path = CORPUS_DIR / f"{section}.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise Malformed(f"{path.name}: cannot read: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, list) or not data:
        raise Malformed(f"{path.name}: expected a non-empty list of cases, got {type(data).__name__}")
    return data


def problem(section: str, index: int, case: Any) -> str | None:
    """What makes one case unrunnable, or None."""
    where = f"{section}.yaml case #{index + 1}"
    if not isinstance(case, dict):
        return f"{where}: expected a mapping, got {type(case).__name__}"
    where += f" ({case.get('id')!r})"
    missing = [k for k in REQUIRED if k not in case]
    if missing:
        return f"{where}: missing {', '.join(missing)}"
    unknown = sorted(set(case) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        known = ", ".join(REQUIRED + OPTIONAL)
        return f"{where}: unknown key(s) {', '.join(map(str, unknown))} (known: {known})"
    if case["verdict"] not in VERDICTS:
        return f"{where}: verdict {case['verdict']!r} is not one of {', '.join(VERDICTS)}"
    if not isinstance(case["item"], dict):
        return f"{where}: item must be a mapping (one item as written under {section}:)"
    for key in ("facts", "conditions", "image_attrs", "wait_healthy"):
        if case.get(key) is not None and not isinstance(case[key], dict):
            return f"{where}: {key} must be a mapping"
    if not isinstance(case["message"], str) or not isinstance(case["id"], str) or not case["id"]:
        return f"{where}: id and message must be strings (id non-empty)"
    if "xfail" in case and not (isinstance(case["xfail"], str) and case["xfail"]):
        return f"{where}: xfail must say why"
    return None


def _cases() -> Iterator[Any]:
    """One pytest param per case; a malformed file or case becomes a param whose test fails saying why."""
    for kind in all_kinds():
        section = kind.section
        if not (CORPUS_DIR / f"{section}.yaml").is_file():
            continue
        try:
            cases = _read(section)
        except Malformed as exc:
            yield pytest.param(section, None, str(exc), id=f"{section}:<file>")
            continue
        seen: set[str] = set()
        for index, case in enumerate(cases):
            bad = problem(section, index, case)
            name = case.get("id") if isinstance(case, dict) and isinstance(case.get("id"), str) else None
            if not bad and name in seen:
                bad = f"{section}.yaml case #{index + 1}: duplicate id {name!r}"
            seen.add(str(name))
            test_id = f"{section}:{name or f'#{index + 1}'}"
            if bad:
                yield pytest.param(section, None, bad, id=test_id)
                continue
            marks = [pytest.mark.xfail(reason=case["xfail"], strict=True)] if case.get("xfail") else []
            yield pytest.param(section, case, None, id=test_id, marks=marks)


def build_item(section: str, raw_item: dict[str, Any], arch: str, tmp_path: Path) -> Any:
    """The item as the loader builds it from a contract that holds only it."""
    directory = tmp_path / "expectations"
    directory.mkdir()
    (directory / "common.yaml").write_text(yaml.safe_dump({section: [raw_item]}, sort_keys=False))
    for overlay in exp.KNOWN_ARCHS:
        (directory / f"{overlay}.yaml").write_text("")
    model = exp.load(directory, arch=arch if arch in exp.KNOWN_ARCHS else "amd64", base_kind="other")
    items = model.items(section)
    assert len(items) == 1, f"the loader built {len(items)} {section} items from one"
    return items[0]


def context(case: dict[str, Any]) -> verdict.Context:
    facts = {**EMPTY_FACTS, **(case.get("facts") or {})}
    conditions = case.get("conditions") or dict(DEFAULT_CONDITIONS)
    if case.get("wait_healthy") is not None:
        # What the run's health wait answered, as the fact the session gathers after the probe.
        answer = case["wait_healthy"]
        facts["container_health"] = {"healthy": bool(answer.get("ok")), "seen": str(answer.get("seen", ""))}
    return verdict.Context(
        facts=facts,
        conditions=conditions,
        target_kind=case.get("target_kind") or "image",
        image_attrs=case.get("image_attrs"),
    )


@pytest.mark.parametrize("section, case, malformed", list(_cases()))
def test_corpus(section: str, case: dict[str, Any] | None, malformed: str | None, tmp_path: Path) -> None:
    if malformed is not None:
        pytest.fail(f"malformed corpus: {malformed}", pytrace=False)
    assert case is not None
    arch = (case.get("conditions") or DEFAULT_CONDITIONS).get("arch") or "amd64"
    label = f"{section}:{case['id']} ({case['family']})"
    if case["verdict"] == "error":
        with pytest.raises(exp.ExpectationsError) as refused:
            build_item(section, case["item"], arch, tmp_path)
        assert case["message"] in str(refused.value), f"{label}: the loader said {str(refused.value)!r}"
        return
    item = build_item(section, case["item"], arch, tmp_path)
    outcome = verdict.verify(section, item, context(case))
    got = f"{outcome.status}: {outcome.message!r}"
    assert outcome.status == case["verdict"], f"{label}: expected {case['verdict']}, got {got}"
    assert case["message"] in outcome.message, f"{label}: message lacks {case['message']!r}; got {got}"


def test_every_kind_has_a_corpus() -> None:
    """Each kind has a corpus file with at least one `failed` case; no file names an unknown kind."""
    sections = {k.section for k in all_kinds()}
    problems = []
    for section in sorted(sections):
        path = CORPUS_DIR / f"{section}.yaml"
        if not path.is_file():
            if section not in EXPECTED_TO_COME:
                problems.append(f"{section}: no {path.name} in selftests/fixtures/adversarial")
            continue
        try:
            cases = _read(section)
        except Malformed as exc:
            problems.append(str(exc))
            continue
        if not any(isinstance(c, dict) and c.get("verdict") == "failed" for c in cases):
            problems.append(f"{section}: {path.name} has no case whose verdict is failed")
    stray = sorted(p.stem for p in CORPUS_DIR.glob("*.yaml") if p.stem not in sections)
    if stray:
        problems.append(f"corpus files for no kind (never run): {', '.join(stray)}")
    arrived = sorted(s for s in EXPECTED_TO_COME if (CORPUS_DIR / f"{s}.yaml").is_file())
    if arrived:
        problems.append(f"EXPECTED_TO_COME still names {', '.join(arrived)}, whose corpus has arrived")
    assert not problems, "\n".join(problems)


def test_malformed_case_is_reported() -> None:
    """The runner's own guard: a bad case is named with what is wrong, never silently skipped."""
    assert problem("env", 0, {"id": "x", "family": "f", "item": {"name": "A"}, "verdict": "green"}) == (
        "env.yaml case #1 ('x'): missing message"
    )
    assert "verdict 'green' is not one of" in (
        problem("env", 0, {"id": "x", "family": "f", "item": {}, "verdict": "green", "message": ""}) or ""
    )
    assert "unknown key(s) fact" in (
        problem(
            "env", 1, {"id": "x", "family": "f", "item": {}, "verdict": "failed", "message": "", "fact": {}}
        )
        or ""
    )
    assert problem("env", 2, ["not", "a", "case"]) == "env.yaml case #3: expected a mapping, got list"
