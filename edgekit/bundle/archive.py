"""Zipped bundles: a deterministic writer and an extractor that is safe on hostile archives.

A bundle travels as one ``.zip`` to a phone build or a Raspberry Pi. Writing it with fixed
timestamps, permissions and member order makes the same bundle give the same bytes.
Extracting a zip from elsewhere must not write outside the target folder (absolute names,
``..``, symlinks), nor fill the disk (a zip bomb): an archive whose header declares too much
is refused before anything is written, and since a header can lie, sizes are also counted as
bytes are actually decompressed.
"""

from __future__ import annotations

import contextlib
import io
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from edgekit.bundle.entries import MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES
from edgekit.errors import BundleError
from edgekit.output.atomic import write_file_atomic

__all__ = ["extract_bundle", "safe_extract", "zip_folder"]

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can store
MAX_TOTAL_BYTES = 2 * 1024**3  # all members together, uncompressed
MAX_MEMBERS = 1000
_CHUNK = 1 << 20


def zip_folder(folder: str | Path, destination: str | Path, *, root: str | None = None) -> Path:
    """Write ``folder``'s files into ``destination`` under ``root/`` (default: the folder's name)."""
    folder, destination = Path(folder), Path(destination)
    root = folder.name if root is None else root
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"{root}/{path.relative_to(folder).as_posix()}", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3  # unix, so the permissions above are read back
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    write_file_atomic(destination, buffer.getvalue())
    return destination


def safe_extract(
    archive_path: str | Path,
    destination: str | Path,
    *,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> list[Path]:
    """Extract every regular file of a zip into ``destination``; refuse anything unsafe."""
    archive_path, destination = Path(archive_path), Path(destination)
    with _opened(archive_path, max_members) as (archive, members):
        names = [_safe_name(archive_path, member) for member in members]
        declared = sum(member.file_size for member in members)
        if declared > max_total_bytes:  # refused before a byte is written; liars are caught below
            raise BundleError(f"{archive_path}: declares {declared:,} bytes unpacked, more than the limit of {max_total_bytes:,}; refusing a possible zip bomb")
        budget = _Budget(archive_path, max_total_bytes)
        return [_extract_one(archive, member, destination / name, budget) for member, name in zip(members, names) if name is not None]


@contextlib.contextmanager
def _opened(archive_path: Path, max_members: int) -> Iterator[tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]]:
    """The open archive and its members, at most ``max_members``; a zip that cannot be read
    or extracted is one BundleError naming it."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = archive.infolist()
            if len(members) > max_members:
                raise BundleError(f"{archive_path}: {len(members)} members, more than the limit of {max_members}")
            yield archive, members
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as exc:
        raise BundleError(f"{archive_path}: not a readable zip ({exc})", hint="copy the bundle again") from None
    except OSError as exc:
        raise BundleError(f"{archive_path}: cannot read or extract the zip ({exc})") from None


def extract_bundle(
    archive_path: str | Path,
    destination: str | Path,
    *,
    parse: Callable[[str, bytes], dict],
    manifest_name: str = "manifest.json",
    signature_name: str = "manifest.json.sig",
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Path:
    """Extract a zipped bundle manifest first; return the bundle folder inside ``destination``.

    The manifest is read (size-capped) and checked with ``parse(label, bytes)`` before
    anything is written; then every member must be a file the manifest lists (or the manifest
    and its signature), declaring exactly the size listed, and only those are extracted, each
    stopped at its declared size. A bundle with an extra member, or a member larger than
    listed, writes nothing.
    """
    archive_path, destination = Path(archive_path), Path(destination)
    with _opened(archive_path, MAX_MEMBERS) as (archive, members):
        files = {str(name): m for m, name in ((m, _safe_name(archive_path, m)) for m in members) if name is not None}
        prefix = _bundle_prefix(archive_path, files, manifest_name)
        manifest_member = files[prefix + manifest_name]
        manifest = parse(f"{archive_path}: {prefix}{manifest_name}", _read_capped(archive, manifest_member, MAX_MANIFEST_BYTES, archive_path))
        sizes = _listed_sizes(archive_path, manifest)
        allowed = {prefix + name: size for name, size in sizes.items()}
        allowed[prefix + manifest_name] = manifest_member.file_size
        if prefix + signature_name in files:
            allowed[prefix + signature_name] = len(_read_capped(archive, files[prefix + signature_name], MAX_SIGNATURE_BYTES, archive_path))
        _check_members(archive_path, files, allowed, {prefix + name for name in sizes}, prefix, max_total_bytes)
        budget = _Budget(archive_path, max_total_bytes)
        for name, member in files.items():
            _extract_one(archive, member, destination / name, budget, limit=allowed[name])
    return destination / prefix if prefix else destination


def _bundle_prefix(archive_path: Path, files: dict, manifest_name: str) -> str:
    """"" when the manifest is at the top, else "FOLDER/" of the one folder holding it."""
    if manifest_name in files:
        return ""
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and f"{next(iter(tops))}/{manifest_name}" in files:
        return f"{next(iter(tops))}/"
    raise BundleError(f"{archive_path}: not a bundle (no {manifest_name} at its top or in its one folder)", hint="zip a folder written by 'edgekit build'")


def _read_capped(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, archive_path: Path) -> bytes:
    if member.file_size > limit:
        raise BundleError(f"{archive_path}: {member.filename} declares {member.file_size:,} bytes, more than it may ({limit:,})")
    with archive.open(member) as source:
        data = source.read(limit + 1)
    if len(data) > limit:
        raise BundleError(f"{archive_path}: {member.filename} unpacks to more than {limit:,} bytes; refusing a possible zip bomb")
    return data


def _listed_sizes(archive_path: Path, manifest: dict) -> dict[str, int]:
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{archive_path}: manifest lists no files")
    sizes = {}
    for name, entry in files.items():
        size = entry.get("bytes") if isinstance(entry, dict) else None
        if type(size) is not int or size < 0:
            raise BundleError(f"{archive_path}: manifest entry for {name!r} needs a sha256 string and a bytes count", hint="rebuild the bundle")
        sizes[str(PurePosixPath(str(name)))] = size
    return sizes


def _check_members(archive_path: Path, files: dict, allowed: dict, listed: set, prefix: str, max_total_bytes: int) -> None:
    """Before a byte is written: only listed members, each declaring its listed size."""
    extra = sorted(name.removeprefix(prefix) for name in files if name not in allowed)
    if extra:
        raise BundleError(f"{archive_path}: files not in the manifest: {', '.join(extra[:5])}", hint="remove them or rebuild the bundle")
    for name, member in files.items():
        if member.file_size != allowed[name]:
            raise BundleError(
                f"{archive_path}: {name.removeprefix(prefix)} does not match its size in the manifest "
                f"({member.file_size:,} bytes, listed {allowed[name]:,}; tampered or corrupted)",
                hint="rebuild or re-copy the bundle",
            )
    declared = sum(allowed[name] for name in files if name in listed)
    if declared > max_total_bytes:
        raise BundleError(f"{archive_path}: declares {declared:,} bytes unpacked, more than the limit of {max_total_bytes:,}; refusing a possible zip bomb")


def _safe_name(archive_path: Path, member: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for a folder entry; unsafe names raise."""
    name = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleError(f"{archive_path}: member {name!r} is a symbolic link; bundles contain only files")
    if member.flag_bits & 0x1:
        raise BundleError(f"{archive_path}: member {name!r} is encrypted")
    path = PurePosixPath(name.replace("\\", "/"))
    if "\x00" in name or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise BundleError(f"{archive_path}: member {name!r} would be written outside the bundle")
    if name.endswith("/") or stat.S_ISDIR(mode):
        return None
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # zips from Windows or writestr() carry no type
        raise BundleError(f"{archive_path}: member {name!r} is not a regular file")
    if not path.parts or path == PurePosixPath("."):
        raise BundleError(f"{archive_path}: member {name!r} has an empty name")
    return path


class _Budget:
    """Counts bytes as they are decompressed; a zip bomb stops at the limit."""

    def __init__(self, archive_path: Path, limit: int):
        self.archive_path, self.limit, self.used = archive_path, limit, 0

    def spend(self, count: int, name: str) -> None:
        self.used += count
        if self.used > self.limit:
            raise BundleError(
                f"{self.archive_path}: unpacks to more than {self.limit:,} bytes (at member {name!r}); refusing a possible zip bomb"
            )


def _extract_one(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: _Budget, *, limit: int | None = None) -> Path:
    """One member, counted against the budget and, when given, stopped past ``limit`` bytes."""
    if target.exists():
        raise BundleError(f"{budget.archive_path}: member {member.filename!r} appears twice")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(member) as source, open(target, "xb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if limit is not None and written > limit:
                raise BundleError(f"{budget.archive_path}: member {member.filename!r} unpacks to more than the {limit:,} bytes it declares; refusing a possible zip bomb")
            budget.spend(len(chunk), member.filename)
            sink.write(chunk)
    return target
