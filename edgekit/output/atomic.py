"""All-or-nothing output: build in a staging folder beside the destination, then rename.

Ctrl-C, a crash or a kill leaves either the previous output or the new one, never a mix;
the staging folder is removed on any failure. On Linux an existing destination is swapped
with the staging folder in one ``renameat2(RENAME_EXCHANGE)`` call, so even a kill between
two renames cannot leave the destination missing. Staging folders carry their process id
(``.NAME.partial-PID-xxxx``); one left by a killed process is removed by the next run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import glob
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

__all__ = ["check_writable", "remove_stale_staging", "replace_directory", "staged_directory", "write_file_atomic"]

# Staging folders this process has open. An interrupt can land on the very first instruction
# of ``__exit__``, before it holds interrupts back; the folder is then removed at exit instead.
_OPEN_STAGING: set[Path] = set()


@atexit.register
def _remove_open_staging() -> None:
    for folder in list(_OPEN_STAGING):
        shutil.rmtree(folder, ignore_errors=True)
    _OPEN_STAGING.clear()


class staged_directory:
    """``with staged_directory(dest) as staging:`` yields an empty staging folder; on success it
    replaces ``dest`` (or ``install(staging, dest)`` puts it in place), on any failure or
    interrupt it is removed.

    A class rather than a generator so that cleanup starts the moment the block ends: an
    interrupt landing between a generator's body and its resumption would strand the folder.
    Creating, swapping and removing run with Ctrl-C/SIGTERM held back until they finish.
    """

    def __init__(self, destination: str | Path, *, install=None):
        self.destination = Path(destination)
        if self.destination.is_symlink():  # swapping would replace the link and strand the staging folder
            from edgekit.errors import InputError

            raise InputError(f"{self.destination}: is a symbolic link; edgekit writes only into real folders", hint="give the folder it points to")
        self.install = install or replace_directory  # (staging, destination): puts the new output in place
        self.staging = self.destination.parent / f".{self.destination.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> Path:
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(self.destination)
        try:
            with deferred_interrupts():
                _OPEN_STAGING.add(self.staging)
                self.staging.mkdir(mode=0o755)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        return self.staging

    def __exit__(self, exc_type, exc, traceback) -> bool:
        try:
            with deferred_interrupts():
                if exc_type is None:
                    self.install(self.staging, self.destination)
                shutil.rmtree(self.staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        finally:
            _OPEN_STAGING.discard(self.staging)
        return False


@contextlib.contextmanager
def deferred_interrupts(signals=(signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back during a short critical step, then deliver them.

    Only the main thread can change handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    held = [sig for sig in signals if signal.getsignal(sig) is not None]  # None: a C handler we cannot restore
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(received):
            signal.raise_signal(sig)


def remove_stale_staging(destination: Path) -> list[Path]:
    """Delete staging folders for ``destination`` left by processes that no longer run.

    A retired previous output (``.NAME.old-PID-...``) is put back first if the destination
    is missing, which only the non-Linux two-rename swap can leave behind.
    """
    removed = []
    for kind in ("partial", "old"):
        for folder in destination.parent.glob(f".{glob.escape(destination.name)}.{kind}-*"):
            if not folder.is_dir() or folder.is_symlink() or _owner_alive(folder.name, kind):
                continue
            if kind == "old" and not destination.exists() and (folder / "previous").is_dir():
                os.replace(folder / "previous", destination)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _owner_alive(name: str, kind: str) -> bool:
    """Whether the process whose id is in a staging folder's name still runs."""
    pid_text = name.rpartition(f".{kind}-")[2].partition("-")[0]
    if not pid_text.isdigit():
        return True  # not one of ours (or from an older edgekit): leave it alone
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def replace_directory(source: Path, destination: Path) -> None:
    """Move ``source`` to ``destination``, swapping out an existing folder safely."""
    if not destination.exists():
        os.replace(source, destination)
        return
    if _exchange(source, destination):
        shutil.rmtree(source, ignore_errors=True)  # now holds the previous output
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-{os.getpid()}-", dir=destination.parent))
    os.replace(destination, retired / "previous")
    try:
        os.replace(source, destination)
    except BaseException:
        os.replace(retired / "previous", destination)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False where that is unavailable."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or a file system without it
        return False
    raise OSError(error, os.strerror(error), str(b))


def check_writable(path: str | Path, *, what: str, is_file: bool = False) -> None:
    """Refuse now an output path that could not be written later (a parent is a file, or
    read-only), instead of after minutes of training or measuring. An output folder's
    missing parents are created when it is written; a single file's folder must exist."""
    from edgekit.errors import InputError

    parent = Path(os.path.abspath(path)).parent
    if is_file and not parent.exists():
        raise InputError(f"{what} {path}: the folder {parent} does not exist", hint="create it first, or choose another path")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{what} {path}: {parent} is a file, not a folder", hint="choose another output path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path}: cannot write in {parent} (permission denied)", hint="choose another output path")


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
