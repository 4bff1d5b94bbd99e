"""A finished sweep variant is reused only when what is on disk still proves it.

A resumed sweep reads ``variants/NAME.json`` and skips the variant. That file and the bundle
beside it may have been edited, replaced or damaged since; reusing them unchecked would put
invented figures (or a path such as ``/etc``) on the Pareto front. So the record must name
its own bundle (``bundles/NAME``), the bundle must verify against its manifest (every file's
sha256), the record must carry the sha256 of that manifest, and every figure in the record
that the manifest also holds must equal the manifest's. Anything else is measured again,
with one line saying why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekit.errors import EdgekitError

__all__ = ["MANIFEST_DIGEST", "finished_variants", "manifest_digest", "reuse_problem"]

log = logging.getLogger("edgekit")
MANIFEST_DIGEST = "manifest_sha256"


def finished_variants(out_dir: Path, names: Sequence[str], keys: Mapping[str, str]) -> dict[str, dict]:
    """The records in ``variants/NAME.json`` that their bundles still prove, by name (the
    others are measured again, with one line saying why)."""
    found = {}
    for name in names:
        path = out_dir / "variants" / f"{name}.json"
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            record = None
        problem = reuse_problem(out_dir, name, record, keys[name]) if record is not None else "its record is not JSON"
        if problem is None:
            found[name] = record
        else:
            log.info("%s: %s; measuring it again", name, problem)
    return found


def manifest_digest(bundle: Path) -> str:
    return hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()


def reuse_problem(out_dir: Path, name: str, record: Any, key: str) -> str | None:
    """Why the record of variant ``name`` cannot be reused, or None when it can."""
    if not isinstance(record, dict) or not isinstance(record.get("artifact"), dict):
        return "its record is not an object with an 'artifact'"
    if record.get("key") != key:
        return "measured with other settings"
    row, path = record["artifact"], f"bundles/{name}"
    if row.get("path") != path:
        return f"its record names the bundle {str(row.get('path'))[:80]!r}, not {path!r}"
    bundle = out_dir / path
    try:
        from edgekit.bundle.manifest import verify_bundle

        manifest = verify_bundle(bundle, signers=None)
        digest = manifest_digest(bundle)
    except (EdgekitError, OSError) as exc:
        return f"its bundle does not verify ({getattr(exc, 'message', exc)})"
    if record.get(MANIFEST_DIGEST) != digest:
        return "its record does not match its bundle's manifest (sha256)"
    changed = _differences(row, manifest)
    if changed:
        return f"its record's {', '.join(changed[:3])} differ from its bundle's manifest"
    return None


def _differences(row: Mapping, manifest: Mapping) -> list[str]:
    """The record fields the manifest also holds, where the two disagree."""
    expected = {
        "name": manifest.get("name"),
        "target": manifest.get("target"),
        "quantization": manifest.get("quantization"),
        "target_report": manifest.get("target_report"),
        **(manifest.get("metrics") or {}),
    }
    return [key for key, value in expected.items() if row.get(key) != value]
