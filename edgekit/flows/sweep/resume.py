"""A finished sweep variant is reused only when what is on disk still proves it.

A resumed sweep reads ``variants/NAME.json`` and skips the variant. That file and the bundle
beside it may have been edited, replaced or damaged since; reusing them unchecked would put
invented figures (or a path such as ``/etc``) on the Pareto front. The record lives in the
result store every resuming flow shares (``edgekit.flows.results``): it must be well formed,
of this run's key, and name its bundle's manifest (``bundles/NAME/manifest.json``) by sha256.
Then the bundle must verify against that manifest (every file's sha256), the record's row
must name that bundle, every figure the manifest also holds must equal the manifest's, and
the sizes are re-derived from the model file itself. Anything else is measured again, with
one line saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from edgekit.errors import EdgekitError
from edgekit.flows.results import ResultStore, Untrusted

__all__ = ["FOLDER", "finished_variants", "manifest_path", "variant_store"]

FOLDER = "variants"


def variant_store(out_dir: Path) -> ResultStore:
    return ResultStore(out_dir, FOLDER)


def manifest_path(name: str) -> str:
    """Where a variant's record must say its artifact is: its bundle's manifest."""
    return f"bundles/{name}/manifest.json"


def finished_variants(store: ResultStore, names: Sequence[str], keys: Mapping[str, str]) -> dict[str, dict]:
    """The records in ``variants/NAME.json`` that their bundles still prove, by name (the
    others are measured again, with one line saying why)."""
    found = {}
    for name in names:
        result = store.load(name, keys[name], manifest_path(name), lambda result, manifest, name=name: _proven(name, result, manifest.parent))
        if result is not None:
            found[name] = result
    return found


def _proven(name: str, result: Any, bundle: Path) -> dict:
    """The variant's result when its verified bundle proves it; Untrusted says why not."""
    if not isinstance(result.get("artifact"), dict) or not isinstance(result.get("float_model"), dict):
        raise Untrusted("its record holds no 'artifact' and 'float_model' objects")
    row, path = result["artifact"], f"bundles/{name}"
    if row.get("path") != path:
        raise Untrusted(f"its record names the bundle {str(row.get('path'))[:80]!r}, not {path!r}")
    try:
        from edgekit.bundle.manifest import verify_bundle

        manifest = verify_bundle(bundle, signers=None)
        model = (bundle / "model.tflite").read_bytes()
    except (EdgekitError, OSError) as exc:
        raise Untrusted(f"its bundle does not verify ({getattr(exc, 'message', exc)})") from None
    changed = _differences(row, manifest, model)
    if changed:
        raise Untrusted(f"its record's {', '.join(changed[:3])} differ from its bundle's")
    return result


def _differences(row: Mapping, manifest: Mapping, model: bytes) -> list[str]:
    """The record fields the manifest also holds or the model file gives, where they disagree."""
    from edgekit.measure.evaluate import gzip_size

    expected = {
        "name": manifest.get("name"),
        "target": manifest.get("target"),
        "quantization": manifest.get("quantization"),
        "target_report": manifest.get("target_report"),
        **(manifest.get("metrics") or {}),
        "bytes": len(model),
        "gzip_bytes": gzip_size(model),
    }
    return [key for key, value in expected.items() if row.get(key) != value]
