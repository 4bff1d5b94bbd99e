"""The bundle manifest: what a device needs to run a model correctly, and proof of its files.

``manifest.json`` records every file's sha256 and size (so a tampered bundle is refused), each
input and output with its quantisation and the normalisation to apply to raw inputs, the
labels, the versions that made it, the recipe, the measured metrics and the target's report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path, PurePosixPath
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
    """``manifest.json``'s bytes: a regular file (never through a link), at most 16 MiB."""
    from edgekit.bundle.entries import MAX_MANIFEST_BYTES, read_capped

    bundle = Path(bundle)
    if not bundle.exists():
        raise BundleError(f"{bundle}: no such bundle folder or .zip", hint="check the path")
    data = read_capped(bundle, MANIFEST_NAME, MAX_MANIFEST_BYTES, what="a manifest", hint="this is not a manifest edgekit wrote; rebuild the bundle") if bundle.is_dir() else None
    if data is None:
        raise BundleError(f"{bundle}: not a bundle (no {MANIFEST_NAME})", hint="pass a folder written by 'edgekit build'")
    return data


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
    """``verify_bundle``, and who signed it (None when no signature was checked).

    A folder is first walked without following links: anything in it that is not a regular
    file or a real folder is refused by name before a byte is read (``edgekit.bundle.entries``).
    A signed bundle must also be called by the name its signed manifest gives it (the folder's
    name, or the zip's without ``.zip``): see ``edgekit.bundle.signing.check_bound_name``.
    """
    bundle = Path(bundle)
    if bundle.suffix == ".zip" and bundle.is_file():
        with unzipped_bundle(bundle) as root:
            return _verify_folder(root, signers, name=bundle.stem, called="zip")
    return _verify_folder(bundle, signers, name=bundle.resolve().name if bundle.exists() else bundle.name, called="folder")


def _verify_folder(bundle: Path, signers: Any, *, name: str, called: str) -> tuple[dict[str, Any], str | None]:
    from edgekit.bundle.entries import MAX_SIGNATURE_BYTES, bundle_files, read_capped
    from edgekit.bundle.signing import SIGNATURE_NAME, check_bound_name, check_signature, device_policy

    policy = device_policy() if signers is DEVICE_POLICY else signers
    present = bundle_files(bundle) if bundle.is_dir() else []  # links and special files refused before anything is read
    data = read_manifest_bytes(bundle)
    manifest = parse_manifest(bundle / MANIFEST_NAME, data)
    _verify_files(bundle, manifest, present)
    if policy is None:
        return manifest, None
    hint = "a real SSH signature is well under 2 KB; get the bundle again from its publisher"
    signature = read_capped(bundle, SIGNATURE_NAME, MAX_SIGNATURE_BYTES, what="a signature", hint=hint)
    signer = check_signature(bundle, data, signature, policy)
    check_bound_name(bundle, manifest, name, called=called)
    return manifest, signer


def _verify_files(bundle: Path, manifest: dict[str, Any], present: list[str]) -> None:
    from edgekit.bundle.signing import SIGNATURE_NAME

    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{bundle}: manifest lists no files")
    for name, entry in files.items():
        _verify_file(bundle, name, entry)
    model = manifest.get("model", "model.tflite")
    if not isinstance(model, str) or model not in files:
        raise BundleError(f"{bundle}: manifest key 'model' = {model!r} is not one of its listed files", hint="rebuild the bundle")
    listed = {str(PurePosixPath(name)) for name in files}
    extra = [name for name in present if name not in listed and name not in (MANIFEST_NAME, SIGNATURE_NAME)]
    if extra:
        raise BundleError(f"{bundle}: files not in the manifest: {', '.join(extra)}", hint="remove them or rebuild the bundle")


def _verify_file(bundle: Path, name: str, entry: Any) -> None:
    from edgekit.bundle.entries import open_bundle_file

    relative = Path(name)
    if not name or "\x00" in name or relative.is_absolute() or ".." in relative.parts or relative == Path("."):
        raise BundleError(f"{bundle}: manifest names an unsafe path {name!r}")
    if not isinstance(entry, Mapping) or not isinstance(entry.get("sha256"), str) or type(entry.get("bytes")) is not int:
        raise BundleError(f"{bundle}: manifest entry for {name!r} needs a sha256 string and a bytes count", hint="rebuild the bundle")
    with open_bundle_file(bundle, name) as opened:  # never through a link, never a FIFO
        if opened is None:
            raise BundleError(f"{bundle}: {name} is missing", hint="the bundle is incomplete; copy it again")
        handle, size = opened
        matches = size == entry["bytes"] and _sha256(handle, size) == entry["sha256"]
    if not matches:
        raise BundleError(
            f"{bundle}: {name} does not match its sha256 in the manifest (tampered or corrupted)",
            hint="rebuild or re-copy the bundle",
        )


def _sha256(handle, size: int) -> str:
    """The sha256 of exactly ``size`` bytes read in chunks (a longer file hashes differently)."""
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        if handle.tell() > size:
            break
    return digest.hexdigest()


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
