"""Write one deployable bundle: model.tflite, labels.txt, manifest.json (plus target extras)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from edgekit.bundle.manifest import MANIFEST_NAME, dumps, make_manifest
from edgekit.output.atomic import staged_directory

__all__ = ["write_bundle"]


def write_bundle(
    destination: str | Path,
    *,
    model_bytes: bytes,
    labels: list[str] | None,
    extra_files: Mapping[str, bytes] | None = None,
    **manifest_fields: Any,
) -> dict[str, Any]:
    """Write the bundle atomically and return its manifest. ``labels`` None (a model that is
    not a classifier) writes no ``labels.txt``. An existing folder is replaced only when it is
    an edgekit bundle holding nothing but its listed files."""
    from edgekit.output.folder import check_bundle_folder

    check_bundle_folder(destination, flag="bundle folder")
    files = {"model.tflite": model_bytes}
    if labels is not None:
        files["labels.txt"] = ("\n".join(labels) + "\n").encode("utf-8")
    files.update(extra_files or {})
    manifest = make_manifest(files=files, labels=list(labels or []), **manifest_fields)
    with staged_directory(destination) as staging:
        for name, data in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (staging / MANIFEST_NAME).write_text(dumps(manifest), encoding="utf-8")
    return manifest
