"""Zipped bundles: the same bundle zips to the same bytes; hostile zips are refused, not extracted."""

from __future__ import annotations

import hashlib
import stat
import zipfile

import pytest

from edgekit.bundle.archive import safe_extract, zip_folder
from edgekit.bundle.manifest import verify_bundle
from edgekit.bundle.write import write_bundle
from edgekit.errors import BundleError


@pytest.fixture
def bundle(tmp_path, tiny_tflite):
    """A real bundle folder written by edgekit."""
    path = tmp_path / "bundles" / "tiny-int8"
    write_bundle(
        path, model_bytes=tiny_tflite["int8"], labels=[str(i) for i in range(10)], extra_files={"c/model.h": b"// c\n"},
        name="tiny-int8", target="cpu", quantization="int8", inputs=[], outputs=[], versions={"edgekit": "test"},
        recorded_recipe=None, metrics={},
    )
    return path


def test_zip_is_deterministic_and_verifies(bundle, tmp_path):
    first = zip_folder(bundle, tmp_path / "a.zip")
    (bundle / "labels.txt").touch()  # a new mtime must not change the zip
    second = zip_folder(bundle, tmp_path / "b.zip")
    assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(names) and names[0].startswith("tiny-int8/")
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    manifest = verify_bundle(first)
    assert manifest["name"] == "tiny-int8"


def test_tampered_zip_names_the_zip(bundle, tmp_path):
    (bundle / "labels.txt").write_text("cat\n")
    archive = zip_folder(bundle, tmp_path / "t.zip")
    with pytest.raises(BundleError, match=rf"{archive}: labels.txt does not match its (sha256|size)"):
        verify_bundle(archive)


def test_extra_file_in_zip_is_refused(bundle, tmp_path):
    (bundle / "payload.sh").write_text("echo hi\n")
    with pytest.raises(BundleError, match="files not in the manifest: payload.sh"):
        verify_bundle(zip_folder(bundle, tmp_path / "x.zip"))


def _zip(path, entries):
    """Write a zip from (ZipInfo or name, bytes) pairs, the way an attacker could."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def _symlink(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


@pytest.mark.parametrize(
    "entries, message",
    [
        ([("../evil.txt", b"x")], "would be written outside the bundle"),
        ([("a/../../evil.txt", b"x")], "would be written outside the bundle"),
        ([("/etc/evil.txt", b"x")], "would be written outside the bundle"),
        ([("..\\evil.txt", b"x")], "would be written outside the bundle"),
        ([("C:/evil.txt", b"x")], "would be written outside the bundle"),
        ([_symlink("link", b"/etc/passwd")], "is a symbolic link"),
        ([("a.txt", b"1"), ("./a.txt", b"2")], "appears twice"),
        ([("bomb.bin", bytes(64 * 1024 * 1024))], "refusing a possible zip bomb"),
        ([(f"f{i}", b"") for i in range(1001)], "more than the limit of 1000"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "drive", "symlink", "duplicate", "bomb", "members"],
)
def test_hostile_zips_are_refused_and_write_nothing_outside(tmp_path, entries, message):
    archive = _zip(tmp_path / "hostile.zip", entries)
    target = tmp_path / "x" / "extract"
    target.mkdir(parents=True)
    with pytest.raises(BundleError, match=message):
        safe_extract(archive, target, max_total_bytes=32 * 1024 * 1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.zip", "x"]
    assert not (tmp_path / "x" / "evil.txt").exists()


def test_bomb_limit_counts_real_bytes_not_the_header(tmp_path):
    """A header may claim a small size; the extractor counts what actually decompresses."""
    archive = _zip(tmp_path / "liar.zip", [("big.bin", bytes(4 * 1024 * 1024))])
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")  # uncompressed size in the central directory
    archive.write_bytes(bytes(data))
    with pytest.raises(BundleError):
        safe_extract(archive, tmp_path / "out", max_total_bytes=1024 * 1024)


def test_a_header_declaring_too_much_is_refused_before_anything_is_written(tmp_path):
    """An honest zip bomb says how big it is: refused at once, not after filling the disk."""
    archive = _zip(tmp_path / "bomb.zip", [("a.txt", b"first"), ("big.bin", bytes(1024))])
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last member's central directory entry
    data[central + 24 : central + 28] = (8 * 1024 * 1024).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(BundleError, match="declares 8,388,613 bytes unpacked"):
        safe_extract(archive, target, max_total_bytes=1024 * 1024)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", bytes(range(256)) * 4])
def test_broken_zips_are_bundle_errors(tmp_path, content):
    path = tmp_path / "b.zip"
    path.write_bytes(content)
    with pytest.raises(BundleError):
        verify_bundle(path)


def test_a_zip_without_a_manifest(tmp_path):
    archive = _zip(tmp_path / "plain.zip", [("notes/readme.txt", b"hi")])
    with pytest.raises(BundleError, match="not a bundle"):
        verify_bundle(archive)
