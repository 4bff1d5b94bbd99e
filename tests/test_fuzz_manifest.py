"""Property-based fuzzing of the bundle reader: random, mutated and hostile manifests, files and zips.

Whatever is in the folder or the zip, ``read_manifest``/``verify_bundle`` either accept it or
raise edgekit's own error; nothing else may escape, and nothing is written outside.
"""

from __future__ import annotations

import json
import tempfile
import warnings
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgekit.bundle.manifest import MANIFEST_NAME, file_entry, read_manifest, verify_bundle
from edgekit.errors import EdgekitError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=16
)
names = st.sampled_from(
    ["model.tflite", "labels.txt", MANIFEST_NAME, "", ".", "..", "../x", "/etc/passwd", "a/../../b", "sub/f.bin",
     "x" * 300, "nul\x00byte", "sub", "c:/win"]
) | st.text(max_size=12)
entries = json_values | st.fixed_dictionaries({"sha256": st.text(max_size=64) | scalars, "bytes": st.integers() | scalars})
FILES = {"model.tflite": b"\x1c\x00\x00\x00TFL3model", "labels.txt": b"0\n1\n"}


def valid_manifest() -> dict:
    return {"format": "edgekit-bundle", "format_version": 1, "name": "b", "files": {k: file_entry(v) for k, v in FILES.items()}}


def check(folder: Path) -> None:
    """The property: accepted, or an EdgekitError; never another exception."""
    try:
        read_manifest(folder)
        verify_bundle(folder)
    except EdgekitError:
        pass


def write_bundle(folder: Path, manifest_text: str | bytes, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    raw = manifest_text.encode("utf-8", "surrogatepass") if isinstance(manifest_text, str) else manifest_text
    (folder / MANIFEST_NAME).write_bytes(raw)


@FUZZ
@given(manifest=json_values)
def test_any_json_manifest(manifest):
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), json.dumps(manifest), FILES)
        check(Path(folder))


@FUZZ
@given(files=st.dictionaries(names, entries, max_size=5), extra=st.dictionaries(st.sampled_from(["x.bin", "sub/y"]), st.binary(max_size=8), max_size=2))
def test_manifest_shaped_with_hostile_file_entries(files, extra):
    manifest = {**valid_manifest(), "files": files}
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), json.dumps(manifest), {**FILES, **extra})
        check(Path(folder))


@FUZZ
@given(data=st.data())
def test_mutated_valid_manifest(data):
    text = bytearray(json.dumps(valid_manifest(), indent=2).encode())
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(text) - 1))
        text[position] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), bytes(text), FILES)
        check(Path(folder))


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_manifest(raw):
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), raw, FILES)
        check(Path(folder))


def test_deeply_nested_manifest():
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), "[" * 100_000 + "]" * 100_000, FILES)
        check(Path(folder))


@FUZZ
@given(members=st.lists(st.tuples(names, st.binary(max_size=64)), max_size=6), manifest=st.booleans())
def test_random_zips(members, manifest):
    """Zips with hostile member names: refused or verified, and nothing lands outside."""
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        archive = root / "b.zip"
        with zipfile.ZipFile(archive, "w") as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate names are part of the point
            if manifest:
                handle.writestr(f"b/{MANIFEST_NAME}", json.dumps(valid_manifest()))
            for name, payload in members:
                handle.writestr(zipfile.ZipInfo(name), payload)  # any name, as a hostile tool would write
        check(archive)
        assert sorted(p.name for p in root.iterdir()) == ["b.zip"]


def test_name_longer_than_the_file_system_allows():
    """A 300-byte name makes even lstat() fail (ENAMETOOLONG): a missing file, not an OSError."""
    import pytest

    from edgekit.errors import BundleError

    manifest = {**valid_manifest(), "files": {**valid_manifest()["files"], "x" * 300: {"sha256": "", "bytes": 0}}}
    with tempfile.TemporaryDirectory() as folder:
        write_bundle(Path(folder), json.dumps(manifest), FILES)
        with pytest.raises(BundleError, match="is missing"):
            verify_bundle(Path(folder))
