"""The kind declarations: every place that used to list the kinds by hand is derived from them, and the
shipped schema agrees with them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from devbox_conformance import checks, kinds, plugin, probe
from devbox_conformance import expectations as exp
from devbox_conformance.intarget import main as intarget_main
from devbox_conformance.kinds import schema as kind_schema

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "src" / "devbox_conformance" / "schema.json").read_text())
INTARGET = REPO / "src" / "devbox_conformance" / "intarget"
# Fields every item takes (kinds/base.py Item) and the loader's own keys; the schema lists them per kind.
COMMON = {"optional", "reason", "when", "remove", "note"}


def test_the_loader_checks_and_plugin_are_derived_from_the_declarations() -> None:
    declared = kinds.all_kinds()
    assert list(exp.KINDS) == [k.section for k in declared]
    assert exp.KINDS == {k.section: (k.item, k.key) for k in declared}
    assert checks.REGISTRY == {k.section: k.evaluate for k in declared}
    assert plugin.ARGNAMES == {k.argname: k.section for k in declared}


def test_every_kind_has_its_test_function_in_the_contract() -> None:
    for kind in kinds.all_kinds():
        sources = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
        assert f"def {kind.test}({kind.argname}, check):" in sources, kind.section
        assert f'check("{kind.section}", {kind.argname})' in sources, kind.section


def test_every_gatherer_is_a_module_of_the_in_target_package() -> None:
    gatherers = {k.gatherer for k in kinds.all_kinds() if k.gatherer}
    assert gatherers <= {p.stem for p in INTARGET.glob("*.py")}
    # No hand-kept list in the target: the request names the gatherers, derived from the kinds.
    assert not hasattr(intarget_main, "DEFAULT_GATHERERS")


def test_schema_json_is_written_from_the_declarations() -> None:
    # stale: run `python -m devbox_conformance.kinds.schema`
    assert (REPO / "src" / "devbox_conformance" / "schema.json").read_text() == kind_schema.render()
    assert kind_schema.main(["--check"]) == 0


def test_the_schema_has_one_section_and_definition_per_kind_with_the_models_fields() -> None:
    sections = [k for k in SCHEMA["properties"] if k not in ("extends", "remove")]
    assert sections == [k.section for k in kinds.all_kinds()]
    for kind in kinds.all_kinds():
        definition = SCHEMA["$defs"][kind.section]
        assert kind.key in definition["required"], kind.section
        assert definition["properties"]["when"] == {"$ref": "#/$defs/when"}
        group = SCHEMA["properties"][kind.section]["items"]
        assert group["else"] == {"$ref": f"#/$defs/{kind.section}"}
        assert group["then"]["properties"]["items"]["items"] == {"$ref": f"#/$defs/{kind.section}"}
        model = {f.name for f in fields(kind.item)} - {"key", "source"}
        # The YAML names a few fields differently from the model (`import` -> import_name).
        yaml_names = {"import_name": "import"}
        assert {yaml_names.get(n, n) for n in model} | COMMON == set(definition["properties"]), kind.section


def test_the_request_starts_the_long_gatherers_first_and_names_each_once() -> None:
    model = exp.load(REPO / "expectations", "amd64", "standin")
    request = probe.build_request(model)
    assert request["gatherers"][:3] == ["python_dists", "torch_facts", "shells"]
    assert len(request["gatherers"]) == len(set(request["gatherers"]))
    assert request["manifest"] == probe.MANIFEST_PATH
    assert probe.MANIFEST_PATH in [f["path"] for f in request["files"]]


def test_the_shipped_probe_is_one_source_that_needs_no_file_of_this_checkout(tmp_path: Path) -> None:
    # From an empty directory with -I (no site, no PYTHONPATH): only the source carries the package.
    request = {"gatherers": ["env", "accounts"], "users": ["root"], "groups": ["root"]}
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe.PROBE_SOURCE, json.dumps(request)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    facts = json.loads(out.stdout)
    assert facts["users"]["root"]["uid"] == 0 and facts["groups"]["root"]["gid"] == 0
    assert "PATH" in facts["env"] and "binaries" not in facts


def test_the_in_target_package_is_stdlib_only_and_parses_as_python_3_8() -> None:
    # It runs with the target's own python3 (any >= 3.8) and nothing installed beside it.
    for path in sorted(INTARGET.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path), feature_version=(3, 8))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            outside = [n for n in names if n.split(".")[0] not in sys.stdlib_module_names]
            assert not outside, f"{path.name} imports {outside}"
