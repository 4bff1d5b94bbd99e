"""What a bundle folder may hold: regular files and real folders, nothing else.

Every command that opens a bundle (``verify``, ``predict``, ``bench``, ``sign``, ``deploy``)
reads or copies the files inside it. A symbolic link makes a listed name read a file outside
the bundle (and ``scp -r``, which ``deploy`` copies with, follows it: the file it points to
would be uploaded); a link to a folder does the same for every file under it; a FIFO blocks
its reader forever; a device or a socket is not data. So a bundle folder is walked first,
without following any link (``os.scandir`` with ``follow_symlinks=False``), and anything
that is not a regular file or a real folder is refused by name before a byte is read.

Files are then opened one path component at a time with ``O_NOFOLLOW`` (and without
blocking), so a link or FIFO put in after the walk is refused too rather than followed.
Sizes are checked from ``fstat`` before reading: a manifest or a signature larger than any
real one is refused without reading it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from edgekit.errors import BundleError

__all__ = ["bundle_files", "entry_kind", "MAX_ENTRIES", "MAX_MANIFEST_BYTES", "MAX_SIGNATURE_BYTES", "open_bundle_file", "read_capped"]

MAX_ENTRIES = 1000  # files and folders in one bundle; a zipped bundle has the same member limit
MAX_MANIFEST_BYTES = 16 * 1024**2
MAX_SIGNATURE_BYTES = 64 * 1024  # an SSH signature is a few hundred bytes; RSA-16384 well under 4 KiB

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def entry_kind(mode: int) -> str:
    """What a file-system entry is, in words (for the error that refuses it)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def bundle_files(bundle: str | Path) -> list[str]:
    """Every regular file under the bundle folder, as sorted POSIX names relative to it.

    Raises a BundleError naming the first entry that is neither a regular file nor a real
    folder (a link is never followed, so a linked folder's contents are never listed), or
    when the folder holds more than ``MAX_ENTRIES`` entries.
    """
    bundle = Path(bundle)
    files: list[str] = []
    pending, seen = [PurePosixPath()], 0
    while pending:
        relative = pending.pop()
        for entry in _scan(bundle, relative):
            seen += 1
            if seen > MAX_ENTRIES:
                raise BundleError(f"{bundle}: holds more than {MAX_ENTRIES} files and folders", hint="a bundle holds a model and a few files; is this the right folder?")
            name = relative / entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif entry.is_file(follow_symlinks=False):
                files.append(str(name))
            else:
                raise _refused(bundle, str(name), entry.stat(follow_symlinks=False).st_mode, entry.path)
    return sorted(files)


def _scan(bundle: Path, relative: PurePosixPath) -> list[os.DirEntry]:
    try:
        with os.scandir(bundle / relative) as entries:
            return list(entries)
    except OSError as exc:
        raise BundleError(f"{bundle}: cannot read {str(relative) if relative.parts else 'the folder'} ({exc.strerror})", hint="check its permissions") from None


def _refused(bundle: Path, name: str, mode: int, path: str | os.PathLike) -> BundleError:
    kind = entry_kind(mode)
    if stat.S_ISLNK(mode):
        with contextlib.suppress(OSError):
            kind += f" (to {os.readlink(path)[:200]})"
    return BundleError(
        f"{bundle}: {name} is {kind}; bundles contain only regular files and folders",
        hint="copy the bundle again from its publisher, as plain files",
    )


@contextlib.contextmanager
def open_bundle_file(bundle: str | Path, name: str) -> Iterator[tuple[BinaryIO, int] | None]:
    """``(file, size)`` of the regular file ``bundle/name``, opened without following a link
    in any component of ``name``; None when it does not exist. A link, FIFO, device or
    socket met on the way raises a BundleError naming it."""
    bundle = Path(bundle)
    try:
        fd = _open_below(bundle, PurePosixPath(name).parts)
    except OSError:  # missing, a name the file system cannot hold, no permission: as good as missing
        yield None
        return
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _refused(bundle, name, info.st_mode, bundle / name)
        yield handle, info.st_size


def _open_below(bundle: Path, parts: tuple[str, ...]) -> int:
    """A read-only descriptor of ``bundle/parts...``, each component opened with O_NOFOLLOW;
    a component that is a link raises a BundleError naming it."""
    folder = os.open(bundle, os.O_RDONLY | _DIRECTORY)
    try:
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | (_NONBLOCK if last else _DIRECTORY)
            try:
                inner = os.open(part, flags, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):  # O_NOFOLLOW's answer to a link
                    _refuse_link(bundle, folder, parts[: depth + 1])
                raise
            if last:
                return inner
            os.close(folder)
            folder = inner
        raise FileNotFoundError(bundle)
    finally:
        os.close(folder)


def _refuse_link(bundle: Path, folder: int, parts: tuple[str, ...]) -> None:
    with contextlib.suppress(OSError):
        mode = os.lstat(parts[-1], dir_fd=folder).st_mode
        if stat.S_ISLNK(mode):
            raise _refused(bundle, "/".join(parts), mode, bundle.joinpath(*parts))


def read_capped(bundle: str | Path, name: str, limit: int, *, what: str, hint: str) -> bytes | None:
    """The bytes of ``bundle/name`` (None when missing), refused unread past ``limit`` bytes."""
    with open_bundle_file(bundle, name) as opened:
        if opened is None:
            return None
        handle, size = opened
        data = handle.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise BundleError(f"{bundle}: {name} is {max(size, len(data)):,} bytes, more than {what} can be ({limit:,})", hint=hint)
    return data
