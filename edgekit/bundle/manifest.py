"""The bundle manifest: what a device needs to run a model correctly, and proof of its files.

``manifest.json`` records every file's sha256 and size (so a tampered bundle is refused), each
input and output with its quantisation and the normalisation to apply to raw inputs, the
labels, the versions that made it, the recipe, the measured metrics and the target's report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from edgekit.errors import BundleError, EdgekitError

__all__ = [
    "DEVICE_POLICY",
    "dumps",
    "file_entry",
    "make_manifest",
    "MANIFEST_NAME",
    "parse_manifest",
    "read_manifest",
    "unzipped_bundle",
    "verify_bundle",
    "verify_signed_bundle",
]

FORMAT = "edgekit-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


def file_entry(data: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def make_manifest(
    *,
    name: str,
    target: str,
    quantization: str,
    files: Mapping[str, bytes],
    inputs: list[dict],
    outputs: list[dict],
    labels: list[str],
    versions: Mapping[str, str | None],
    metrics: Mapping[str, Any],
    recorded_recipe: Mapping[str, Any] | None = None,
    target_report: Mapping[str, Any] | None = None,
    task: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest dict; ``files`` maps bundle-relative names to their bytes,
    ``recorded_recipe`` is the recipe that made the artifact, as plain data (None: none)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "target": target,
        "quantization": quantization,
        "model": "model.tflite",
        "files": {path: file_entry(data) for path, data in sorted(files.items())},
        "inputs": inputs,
        "outputs": outputs,
        "labels": list(labels),
        "task": dict(task) if task is not None else None,
        "versions": dict(versions),
        "recipe": dict(recorded_recipe) if recorded_recipe is not None else None,
        "metrics": dict(metrics),
        "target_report": dict(target_report) if target_report is not None else None,
    }


def dumps(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False) + "\n"


def read_manifest(bundle: str | Path) -> dict[str, Any]:
    """Load and sanity-check a bundle's manifest (not its files: see ``verify_bundle``)."""
    return parse_manifest(Path(bundle) / MANIFEST_NAME, read_manifest_bytes(bundle))


def read_manifest_bytes(bundle: str | Path) -> bytes:
    path = Path(bundle) / MANIFEST_NAME
    if not Path(bundle).exists():
        raise BundleError(f"{bundle}: no such bundle folder or .zip", hint="check the path")
    if not path.is_file():
        raise BundleError(f"{bundle}: not a bundle (no {MANIFEST_NAME})", hint="pass a folder written by 'edgekit build'")
    return path.read_bytes()


def parse_manifest(path: str | Path, data: bytes) -> dict[str, Any]:
    """A manifest's bytes as a checked dict; ``path`` names it in errors."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{path}: manifest is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: not an edgekit manifest (format field missing or wrong)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path}: manifest format version {manifest.get('format_version')!r} is not supported",
            hint=f"this edgekit reads version {FORMAT_VERSION}; upgrade edgekit or rebuild the bundle",
        )
    return manifest


DEVICE_POLICY = "device"  # verify_bundle's default: signatures as the device requires them


def verify_bundle(bundle: str | Path, *, signers: Any = DEVICE_POLICY) -> dict[str, Any]:
    """Check every listed file's size and sha256, that no unlisted file is present, and, when
    ``signers`` (or the device's own policy) asks for one, the publisher's signature.

    ``bundle`` is a bundle folder or a ``.zip`` of one (extracted safely to a temporary folder).
    """
    return verify_signed_bundle(bundle, signers=signers)[0]


def verify_signed_bundle(bundle: str | Path, *, signers: Any = DEVICE_POLICY) -> tuple[dict[str, Any], str | None]:
    """``verify_bundle``, and who signed it (None when no signature was checked)."""
    from edgekit.bundle.signing import SIGNATURE_NAME, check_signature, device_policy

    bundle = Path(bundle)
    if bundle.suffix == ".zip" and bundle.is_file():
        with unzipped_bundle(bundle) as root:
            return verify_signed_bundle(root, signers=signers)
    policy = device_policy() if signers is DEVICE_POLICY else signers
    data = read_manifest_bytes(bundle)
    manifest = parse_manifest(bundle / MANIFEST_NAME, data)
    _verify_files(bundle, manifest)
    if policy is None:
        return manifest, None
    signature = bundle / SIGNATURE_NAME
    if signature.is_symlink():
        raise BundleError(f"{bundle}: {SIGNATURE_NAME} is a symbolic link; bundles contain only regular files", hint="copy the bundle again")
    return manifest, check_signature(bundle, data, signature.read_bytes() if signature.is_file() else None, policy)


def _verify_files(bundle: Path, manifest: dict[str, Any]) -> None:
    from edgekit.bundle.signing import SIGNATURE_NAME

    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{bundle}: manifest lists no files")
    for name, entry in files.items():
        _verify_file(bundle, name, entry)
    model = manifest.get("model", "model.tflite")
    if not isinstance(model, str) or model not in files:
        raise BundleError(f"{bundle}: manifest key 'model' = {model!r} is not one of its listed files", hint="rebuild the bundle")
    extra = sorted(
        str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file() and str(p.relative_to(bundle)) not in files
    )
    extra = [name for name in extra if name not in (MANIFEST_NAME, SIGNATURE_NAME)]
    if extra:
        raise BundleError(f"{bundle}: files not in the manifest: {', '.join(extra)}", hint="remove them or rebuild the bundle")


def _verify_file(bundle: Path, name: str, entry: Any) -> None:
    relative = Path(name)
    if not name or "\x00" in name or relative.is_absolute() or ".." in relative.parts or relative == Path("."):
        raise BundleError(f"{bundle}: manifest names an unsafe path {name!r}")
    if not isinstance(entry, Mapping) or not isinstance(entry.get("sha256"), str) or type(entry.get("bytes")) is not int:
        raise BundleError(f"{bundle}: manifest entry for {name!r} needs a sha256 string and a bytes count", hint="rebuild the bundle")
    path = bundle / relative
    try:  # a name the file system cannot hold (over 255 bytes) fails even lstat()
        if path.is_symlink():
            raise BundleError(f"{bundle}: {name} is a symbolic link; bundles contain only regular files", hint="copy the bundle again")
        data = path.read_bytes() if path.is_file() else None
    except OSError:
        data = None
    if data is None:
        raise BundleError(f"{bundle}: {name} is missing", hint="the bundle is incomplete; copy it again")
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BundleError(
            f"{bundle}: {name} does not match its sha256 in the manifest (tampered or corrupted)",
            hint="rebuild or re-copy the bundle",
        )


def verify_zipped_bundle(archive: Path, *, signers: Any = DEVICE_POLICY) -> dict[str, Any]:
    """Extract a zipped bundle safely and verify it; errors name the zip, not the temp folder."""
    with unzipped_bundle(archive) as root:
        return verify_bundle(root, signers=signers)


@contextlib.contextmanager
def unzipped_bundle(archive: Path) -> Iterator[Path]:
    """The bundle folder of a safely extracted zip, removed afterwards.

    An edgekit error raised inside names the zip instead of the temporary folder.
    """
    import shutil
    import tempfile

    from edgekit.bundle.archive import extract_bundle

    scratch = Path(tempfile.mkdtemp(prefix="edgekit-unzip-"))
    try:
        from edgekit.bundle.signing import SIGNATURE_NAME

        root = extract_bundle(archive, scratch, parse=parse_manifest, manifest_name=MANIFEST_NAME, signature_name=SIGNATURE_NAME)
        try:
            yield root
        except EdgekitError as exc:
            raise type(exc)(exc.message.replace(str(root), str(archive)), hint=exc.hint) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
