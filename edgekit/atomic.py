"""All-or-nothing output: build in a staging folder beside the destination, then rename.

Ctrl-C, a crash or a kill leaves either the previous output or the new one, never a mix;
the staging folder is removed on any failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def staged_directory(destination: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``destination``."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.partial-", dir=destination.parent))
    _chmod_like_mkdir(staging)
    try:
        yield staging
        replace_directory(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _chmod_like_mkdir(path: Path) -> None:
    """mkdtemp makes 0700 folders; a bundle should get the usual permissions (0777 & ~umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def replace_directory(source: Path, destination: Path) -> None:
    """Move ``source`` to ``destination``, swapping out an existing folder safely."""
    if not destination.exists():
        os.replace(source, destination)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
    os.replace(destination, retired / "previous")
    try:
        os.replace(source, destination)
    except BaseException:
        os.replace(retired / "previous", destination)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def write_file_atomic(path: str | Path, data: bytes | str) -> None:
    """Write a single file via a temporary sibling and ``os.replace``."""
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes 0600; a report should read like any file
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
