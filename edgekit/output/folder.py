"""Output safety: edgekit replaces only what it wrote, and one writer writes an output at a time.

An output folder (``build``, ``sweep``) carries a stamp file, ``.edgekit-output``, naming the
entries edgekit wrote into it. A run may write a folder that is missing or empty, or replace a
stamped folder that holds nothing but those entries. Everything else is refused before any
work starts, with one line naming the folder and the way out:

- a folder that is not empty and has no stamp: the user's (``--force`` writes edgekit's
  entries beside its files, replacing none of them);
- a stamped folder holding files edgekit did not write (``--force`` replaces edgekit's entries
  one by one and keeps those files);
- the current folder, the recipe's folder, or a folder holding either (``--force`` again only
  writes edgekit's entries into it; the folder itself is never swapped out);
- a file inside one of edgekit's own folder entries (``bundles/``) that the stamp does not
  name (``edgekit.output.stamp``): a bundle the user copied there, a README, notes beside a
  model. Replacing the entry would delete it, so it is refused with ``--force`` too.

A bundle folder (``convert``'s output) is marked by its own ``manifest.json``: it is replaced
only when every file in it is one the manifest lists.

Paths are resolved first, so an output named through a symbolic link is written where the link
points (the staging folder sits beside the real folder, never stranded beside the link). A
lock file beside the output (``.NAME.lock``, holding the writer's PID, removed when it is done)
keeps a second writer out: it fails at once with a line naming the first one's PID.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from edgekit.errors import BusyError, InputError
from edgekit.output.atomic import replace_directory, staged_directory
from edgekit.output.stamp import BUNDLE_OWN_FILES, STAMP, STAMP_FORMAT, manifest_listed_files, files_under, foreign_inside, owned_inside, read_stamp, write_stamp

__all__ = ["check_bundle_folder", "OutputFolder", "read_stamp", "STAMP"]
_SHOWN = 3  # names listed in a refusal


class OutputFolder:
    """``with OutputFolder(path, kind="build") as output:`` claims ``path`` for this run.

    Entering checks the folder may be written and takes the lock; ``staged()`` then writes the
    whole output (swapped in at the end), or ``open_in_place()`` readies the folder for a
    writer that adds entries as it goes (a sweep). ``layout="bundle"`` claims one bundle folder.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        kind: str,
        force: bool = False,
        protect: Iterable[str | Path] = (),
        flag: str = "--out",
        layout: str = "folder",
        entries: Sequence[str] = (),
    ):
        self.given = Path(path)
        self.path = Path(os.path.realpath(os.path.abspath(path)))
        self.kind, self.force, self.flag, self.layout = kind, force, flag, layout
        self.protect = [Path(os.path.realpath(os.path.abspath(p))) for p in protect]
        self.entries = tuple(entries)  # what an in-place writer may create (merge conflicts)
        self.merge = False
        self._made = False  # open_in_place created the folder: removed again if nothing went in
        self._lock: _Lock | None = None

    def __enter__(self) -> "OutputFolder":
        self._lock = _Lock.take(self.path, flag=self.flag)
        try:
            self.merge = self._check()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc_type is not None and self._made and not _entries(self.path):
            (self.path / STAMP).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.rmdir()
        if self._lock is not None:
            self._lock.release()
        return False

    # --- the checks -------------------------------------------------------------------

    def _check(self) -> bool:
        """Whether this run must merge into the folder instead of replacing it; refusals raise."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.flag} {self.given}: is a file, not a folder", hint="choose a folder name")
        protected = _protected_reason(self.path, self.protect)
        if protected and self.layout == "bundle":
            raise InputError(f"{self.flag} {self.given}: {protected}; edgekit will not replace it", hint="choose another --out")
        if protected and not self.force:
            raise InputError(f"{self.flag} {self.given}: {protected}; edgekit will not replace it", hint=self._hint("write edgekit's entries into it, removing nothing"))
        if self.layout == "bundle":
            check_bundle_folder(self.given, flag=self.flag)
            return False
        present = _entries(self.path)
        stamp = read_stamp(self.path) or earlier_output(self.path, present, self.kind, self.entries)
        if stamp is None and present:
            if not self.force:
                raise InputError(
                    f"{self.flag} {self.given}: is not empty and was not written by edgekit (holds {_names(present)})",
                    hint=self._hint("write edgekit's entries beside its files, replacing none of them"),
                )
            self._refuse_conflicts(present, owned=set())
            return True
        owned = set(stamp["entries"]) if stamp else set()
        if stamp is not None:
            _refuse_foreign_inside(self.path, stamp, f"{self.flag} {self.given}")
        foreign = sorted(present - owned - {STAMP})
        if stamp is not None and stamp.get("kind") != self.kind and not self.force:
            raise InputError(f"{self.flag} {self.given}: holds the output of edgekit {stamp.get('kind')}, not {self.kind}", hint=self._hint("replace only that output's entries"))
        if foreign and not self.force:
            raise InputError(
                f"{self.flag} {self.given}: holds files edgekit did not write ({_names(foreign)})",
                hint=self._hint("replace only edgekit's entries and keep them"),
            )
        if foreign:
            self._refuse_conflicts(present, owned=owned)
        return bool(foreign) or bool(protected)

    def _refuse_conflicts(self, present: set[str], *, owned: set[str]) -> None:
        clash = sorted(name for name in present if name in self.entries and name not in owned)
        if clash:
            raise InputError(
                f"{self.flag} {self.given}: {_names(clash)} exists and was not written by edgekit; --force never replaces it",
                hint="move it away or choose another folder",
            )

    def _hint(self, what: str) -> str:
        return f"choose a new or empty folder, or pass --force to {what}"

    # --- writing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A staging folder for the whole output; on success it becomes the output (or, when
        merging, its entries replace edgekit's entries in the folder)."""
        refuse = f"{self.flag} {self.given}"
        install = (lambda staging, destination: _merge_entries(staging, destination, kind=self.kind, refuse=refuse)) if self.merge else None
        with staged_directory(self.path, install=install) as staging:
            yield staging
            if not self.merge:
                write_stamp(staging, self.kind, _entries(staging), files_under(staging))

    def open_in_place(self) -> Path:
        """Make the folder and stamp it, for a writer that adds entries as it goes."""
        self._made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        stamp = read_stamp(self.path) or earlier_output(self.path, _entries(self.path), self.kind, self.entries)
        owned = set(stamp["entries"]) if stamp else set()
        inside = owned_inside(self.path, stamp) if stamp else set()
        write_stamp(self.path, self.kind, owned | set(self.entries), inside)
        return self.path


def _refuse_foreign_inside(path: Path, stamp: dict, named: str) -> None:
    """A user's file inside an entry edgekit replaces whole (``bundles/``) is refused,
    ``--force`` or not: replacing the entry would delete it."""
    inside = foreign_inside(path, stamp)
    if inside:
        raise InputError(
            f"{named}: holds files edgekit did not write inside {inside[0].split('/')[0]}/ ({_names(inside)}); edgekit replaces that folder and will not delete them, --force neither",
            hint="move them out of the folder, or choose another --out",
        )


def _protected_reason(path: Path, protect: Sequence[Path]) -> str | None:
    """Why ``path`` may not be swapped out whole, or None: it is (or holds) the current folder
    or the recipe's folder."""
    cwd = Path(os.path.realpath(os.getcwd()))
    for place, what in ((cwd, "the current folder"), *((p, "the recipe's folder") for p in protect)):
        if place == path:
            return f"is {what}"
        if place.is_relative_to(path):
            return f"holds {what} ({place})"
    return None


def _merge_entries(staging: Path, destination: Path, *, kind: str, refuse: str) -> None:
    """Move the new entries into the folder one by one; remove edgekit's old ones. Runs with
    interrupts held back; a name edgekit does not own is never replaced (``refuse`` names the
    folder in that refusal)."""
    new, new_files = _entries(staging), files_under(staging)
    stamp = read_stamp(destination)
    old = set(stamp["entries"]) if stamp else set()
    old_files = {f for f in owned_inside(destination, stamp) if f.split("/", 1)[0] not in new} if stamp else set()
    clash = sorted(name for name in new & _entries(destination) if name not in old)
    if clash:
        raise InputError(f"{refuse}: {_names(clash)} exists and was not written by edgekit; --force never replaces it", hint="move it away and run again")
    write_stamp(destination, kind, new | old, old_files | new_files)  # a kill from here on leaves only edgekit's names listed
    for name in sorted(new):
        target = destination / name
        if (staging / name).is_dir() and target.is_dir() and not target.is_symlink():
            replace_directory(staging / name, target)
        else:
            _remove(target)
            os.replace(staging / name, target)
    for name in sorted(old - new):
        _remove(destination / name)
    write_stamp(destination, kind, new, new_files)


# --- stamps, bundles --------------------------------------------------------------------


def earlier_output(folder: Path, present: set[str], kind: str, entries: Sequence[str]) -> dict | None:
    """An output written by an edgekit from before stamps, as its stamp would say: nothing but
    this kind's entries, and a report.json that is an edgekit report."""
    if not present or not present <= set(entries) or "report.json" not in present:
        return None
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(report, dict) or "artifacts" not in report or "float_model" not in report:
        return None
    return {"format": STAMP_FORMAT, "kind": kind, "entries": sorted(present)}


def check_bundle_folder(path: str | Path, *, flag: str = "--out") -> None:
    """Refuse to replace ``path`` unless it is missing, empty, or a bundle whose manifest lists
    every file in it: a bundle is marked by its own manifest."""
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"{flag}: {path} is a symbolic link; edgekit will not write a bundle through it", hint="remove the link or choose another --out")
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag}: {path} exists and is a file, not a bundle folder", hint="move it away or choose another --out")
    present = _entries(path)
    if not present:
        return
    listed = manifest_listed_files(path)
    if listed is None:
        raise InputError(f"{flag}: {path} exists and is not an edgekit bundle (holds {_names(present)})", hint="move it away or choose another --out")
    foreign = sorted(_files(path) - listed - set(BUNDLE_OWN_FILES))
    if foreign:
        raise InputError(f"{flag}: the bundle {path} holds files its manifest does not list ({_names(foreign)})", hint="move them away or choose another --out")


def _entries(folder: Path) -> set[str]:
    try:
        return {entry.name for entry in folder.iterdir()} - {STAMP}
    except FileNotFoundError:
        return set()
    except NotADirectoryError:
        return set()


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def _names(names: Iterable[str]) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


# --- one writer per output --------------------------------------------------------------


class _Lock:
    """An exclusive ``flock`` on ``.NAME.lock`` beside the output, holding this PID.

    The file is removed on release; a writer that locked a file someone removed in between
    (its inode no longer the path's) tries again, so two writers never both hold it.
    """

    def __init__(self, path: Path, fd: int, made: list[Path]):
        self.path, self.fd, self.made = path, fd, made

    @classmethod
    def take(cls, output: Path, *, flag: str) -> "_Lock":
        lock_path = output.parent / f".{output.name}.lock"
        made = _make_parents(output.parent)
        try:
            return cls._take(output, lock_path, flag, made)
        except BaseException:
            _remove_empty(made)
            raise

    @classmethod
    def _take(cls, output: Path, lock_path: Path, flag: str, made: list[Path]) -> "_Lock":
        for _ in range(100):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise BusyError(
                    f"{flag} {output}: another edgekit process (PID {holder or '?'}) is writing it",
                    hint="wait for it to finish, or choose another folder",
                ) from None
            if _same_file(fd, lock_path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return cls(lock_path, fd, made)
            os.close(fd)
        raise BusyError(f"{flag} {output}: could not take its lock {lock_path}")

    def release(self) -> None:
        """Remove the lock file, and the folders made for it if nothing else went into them."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)
        _remove_empty(self.made)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty: the run wrote its output there
            return


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path, follow_symlinks=False).st_ino
    except FileNotFoundError:
        return False


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
