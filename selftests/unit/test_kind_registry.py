"""A kind is found from its module: a new module in the package is a new section everywhere, with no list
to edit (the loader, the schema, the checks, the plugin's parameters, the probe's request)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devbox_conformance import kinds

REPO = Path(__file__).resolve().parents[2]

# A whole kind in one module: its item, its check and its declaration.
NEW_KIND = """
from __future__ import annotations

from dataclasses import dataclass

from devbox_conformance.kinds.verdict import Outcome
from devbox_conformance.kinds.base import Item, Kind


@dataclass(frozen=True, kw_only=True)
class Motd(Item):
    name: str
    text: str


def evaluate(item, ctx):
    found = (ctx.facts.get("motd") or {}).get(item.name)
    if found == item.text:
        return Outcome("passed", "")
    return Outcome("failed", f"expected: {item.text!r}\\nfound:    {found!r}")


KIND = Kind(section="motds", report_order=999, key="name", argname="motd", test="test_motd", item=Motd,
            evaluate=evaluate, schema_fields={"name": {"type": "string"}, "text": {"type": "string"}},
            schema_required=("name", "text"))
"""

CHILD = """
import json, sys
from pathlib import Path
import devbox_conformance.kinds as kinds
kinds.__path__.append(sys.argv[1])  # the new module sits beside the shipped ones, as if it were one
from devbox_conformance import expectations as exp
from devbox_conformance.kinds import verdict
from devbox_conformance.collection import ARGNAMES
from devbox_conformance.kinds import schema
contract = Path(sys.argv[2])
model = exp.load(contract, "amd64", "other")
item = model.items("motds")[0]
ctx = verdict.Context(facts={"motd": {"welcome": "hi"}}, conditions={}, target_kind="local", image_attrs=None)
print(json.dumps({
    "sections": [k.section for k in kinds.all_kinds()],
    "argname": ARGNAMES.get("motd"),
    "schema": "motds" in schema.build()["properties"],
    "item": item.key,
    "verdict": verdict.verify("motds", item, ctx).status,
}))
"""


def test_the_shipped_kinds_are_every_module_but_the_shared_ones() -> None:
    sections = [k.section for k in kinds.all_kinds()]
    assert sections[:3] == ["binaries", "packages", "python_dists"] and sections[-1] == "node"
    assert len(sections) == len(kinds.kind_modules()) == 15
    assert "base" not in kinds.kind_modules() and "_match" not in kinds.kind_modules()


def test_a_new_module_is_a_new_kind_with_nothing_else_edited(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "motds.py").write_text(NEW_KIND)
    contract = tmp_path / "contract"
    contract.mkdir()
    (contract / "common.yaml").write_text("motds:\n  - name: welcome\n    text: hi\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(extra), str(contract)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json  # noqa: PLC0415

    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["sections"][-1] == "motds" and seen["argname"] == "motds" and seen["schema"], seen
    assert seen["item"] == "welcome" and seen["verdict"] == "passed", seen


def test_a_module_without_a_kind_is_refused(tmp_path: Path) -> None:
    """A stray module in the package is an error naming it, not a kind silently missing."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "notakind.py").write_text("X = 1\n")
    code = (
        "import sys, devbox_conformance.kinds as k; k.__path__.append(sys.argv[1])\n"
        "try:\n    k.all_kinds()\nexcept TypeError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run([sys.executable, "-c", code, str(extra)], capture_output=True, text=True, env=env)
    assert "notakind: a kind module must declare KIND = Kind(...)" in out.stdout, out.stdout + out.stderr
