"""Merge the per-set records into ``/etc/devbox/build-manifest.json`` (stdlib only).

Example (the last layer of the Dockerfile)::

    python3 -B write_manifest.py --base-name nvcr.io/nvidia/pytorch:25.11-py3 --arch amd64

The schema is the one in docs/ARCHITECTURE.md: identity, ``base`` (name, digest, kind), one entry per
set (``included: false`` with the reason when the set was switched off) and the state of each optional
feature.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import devbox_sets as ds

NGC_PREFIX = "nvcr.io/nvidia/pytorch"
STANDIN_PREFIX = "gpu-devbox-base:"


def base_kind(base_name: str, declared: str) -> str:
    """``ngc``, ``standin`` or ``other``; an explicit BASE_KIND wins over the name."""
    if declared and declared != "auto":
        if declared not in {"ngc", "standin", "other"}:
            raise SystemExit(f"BASE_KIND must be ngc, standin, other or auto, not {declared!r}")
        return declared
    if base_name.startswith(NGC_PREFIX):
        return "ngc"
    if base_name.startswith(STANDIN_PREFIX):
        return "standin"
    return "other"


def merge(records_dir: Path) -> tuple[dict[str, object], dict[str, object]]:
    sets: dict[str, object] = {}
    features: dict[str, object] = {}
    names = list(ds.SET_ORDER) + sorted(
        p.stem for p in records_dir.glob("*.json") if p.stem not in ds.SET_ORDER
    )
    for name in names:
        path = records_dir / f"{name}.json"
        if not path.is_file():
            sets[name] = {"included": False, "reason": "no build record (the set's layer did not run)"}
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        features.update(record.pop("features", {}))
        sets[name] = record
    for feature, owner in ds.FEATURE_SETS.items():
        if feature not in features:
            owner_record = sets.get(owner, {})
            why = (
                owner_record.get("reason", "not recorded")
                if isinstance(owner_record, dict)
                else "not recorded"
            )
            features[feature] = {"state": "skipped", "reason": f"set {owner} not included ({why})"}
    # Features in a fixed order (the one of FEATURE_SETS), then any others.
    ordered = {name: features[name] for name in ds.FEATURE_SETS if name in features}
    ordered.update({name: state for name, state in features.items() if name not in ordered})
    return sets, ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records-dir", type=Path, default=Path("/etc/devbox/sets"))
    parser.add_argument("--output", type=Path, default=Path("/etc/devbox/build-manifest.json"))
    parser.add_argument("--image-ref", default="")
    parser.add_argument("--vcs-ref", default="")
    parser.add_argument("--build-date", default="")
    parser.add_argument("--arch", required=True)
    parser.add_argument("--base-name", required=True)
    parser.add_argument("--base-digest", default="")
    parser.add_argument("--base-kind", default="auto")
    args = parser.parse_args(argv)

    sets, features = merge(args.records_dir)
    manifest = {
        "schema_version": 1,
        "image_ref": args.image_ref or "unknown",
        "vcs_ref": args.vcs_ref or "unknown",
        "build_date": args.build_date or "unknown",
        "arch": args.arch,
        "base": {
            "name": args.base_name,
            "digest": args.base_digest or None,
            "kind": base_kind(args.base_name, args.base_kind),
        },
        "sets": sets,
        "features": features,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"devbox: wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
