"""The stamp, ``.edgekit-output``: what edgekit wrote into an output folder, down to the file.

``entries`` names the folder's top-level entries edgekit wrote. A run replaces those entries
whole, so for the folders among them that hold a user's kind of thing (``bundles/``: a user
copies a signed bundle there, or adds a README or a NOTES.txt beside a model) the stamp also
names, in ``files``, every file edgekit wrote inside them (``bundles/NAME/model.tflite``, ...).
A file there that the stamp does not name is the user's: the run is refused before any work
rather than delete it.

A stamp without ``files`` was written by an edgekit from before this list; inside its
``bundles/`` edgekit's own files are told by their manifests: a bundle folder holding only the
files its manifest lists (and ``NAME.zip`` beside it) is edgekit's, anything else is not.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Iterable

from edgekit.errors import InputError
from edgekit.output.atomic import write_file_atomic

__all__ = [
    "BUNDLE_OWN_FILES",
    "NESTED",
    "STAMP",
    "STAMP_FORMAT",
    "manifest_listed_files",
    "claim_files",
    "claim_tree",
    "files_under",
    "foreign_inside",
    "owned_inside",
    "read_stamp",
    "remove_owned",
    "write_stamp",
]

STAMP = ".edgekit-output"
STAMP_FORMAT = "edgekit-output"
NESTED = ("bundles",)  # entries whose files the stamp names one by one
BUNDLE_OWN_FILES = ("manifest.json", "manifest.json.sig")


def read_stamp(folder: Path) -> dict | None:
    """The folder's stamp, or None when it has none (or one that is not edgekit's)."""
    path = Path(folder) / STAMP
    try:
        if path.is_symlink() or not path.is_file():
            return None
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != STAMP_FORMAT or not isinstance(stamp.get("entries"), list):
        return None
    if not all(isinstance(name, str) and _plain_name(name) for name in stamp["entries"]):
        return None
    files = stamp.get("files")
    if files is not None and not (isinstance(files, list) and all(isinstance(f, str) and _inside_path(f) for f in files)):
        return None
    return stamp


def write_stamp(folder: Path, kind: str, entries: Iterable[str], files: Iterable[str] = ()) -> None:
    """Stamp ``folder``: its top-level ``entries`` and the ``files`` inside the nested ones."""
    from edgekit._version import __version__

    names = sorted(set(entries) - {STAMP})
    inside = sorted(f for f in set(files) if f.split("/", 1)[0] in names)
    stamp = {"format": STAMP_FORMAT, "kind": kind, "entries": names, "files": inside, "edgekit": __version__}
    write_file_atomic(Path(folder) / STAMP, json.dumps(stamp, indent=2) + "\n")


def files_under(folder: Path, entries: Iterable[str] = NESTED) -> set[str]:
    """Every non-folder path under ``folder/ENTRY`` (links and special files included),
    relative to ``folder``, for the nested ``entries``."""
    found = set()
    for entry in entries:
        top = Path(folder) / entry
        if top.is_symlink() or not top.is_dir():
            continue
        for root, dirs, names in os.walk(top):
            here = Path(root)
            for name in names + [d for d in dirs if (here / d).is_symlink()]:
                found.add((here / name).relative_to(folder).as_posix())
    return found


def owned_inside(folder: Path, stamp: dict) -> set[str]:
    """The files inside the stamped nested entries that edgekit wrote: the stamp's list, or
    for a stamp from before that list, what the bundles' manifests account for."""
    if isinstance(stamp.get("files"), list):
        return set(stamp["files"])
    owned: set[str] = set()
    for entry in set(NESTED) & set(stamp["entries"]):
        owned |= _legacy_bundles(Path(folder), entry)
    return owned


def foreign_inside(folder: Path, stamp: dict) -> list[str]:
    """The files inside the stamped nested entries (``bundles/``) that edgekit did not write."""
    nested = [e for e in NESTED if e in stamp["entries"]]
    return sorted(files_under(folder, nested) - owned_inside(folder, stamp))


def claim_tree(folder: Path, relative: str) -> None:
    """Claim every file under ``folder/relative`` (a bundle just written)."""
    claim_files(folder, files_under(folder, [relative]))


def claim_files(folder: Path, paths: Iterable[str]) -> None:
    """Add ``paths`` (relative to the stamped ``folder``) to what its stamp says edgekit wrote;
    an in-place writer (fit, sweep) claims each bundle as soon as it is written."""
    stamp = read_stamp(folder)
    if stamp is None:
        return
    kept = {f for f in owned_inside(folder, stamp) | set(paths) if os.path.lexists(Path(folder) / f)}  # a replaced bundle's old files go
    write_stamp(folder, stamp.get("kind", ""), stamp["entries"], kept)


def remove_owned(folder: Path, relative: str) -> None:
    """Remove ``folder/relative`` (a bundle edgekit wrote) when every file in it is one the
    stamp names; a file it does not name is the user's, and the removal is refused."""
    stamp = read_stamp(folder) or {"entries": [], "files": []}
    target = Path(folder) / relative
    present = {p for p in files_under(folder, [relative.split("/", 1)[0]]) if p == relative or p.startswith(relative + "/")}
    foreign = sorted(present - owned_inside(folder, stamp))
    if foreign:
        raise InputError(f"{folder}: {foreign[0]} was not written by edgekit; edgekit will not remove it", hint="move it away or choose another --out")
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if "files" in stamp and stamp["entries"]:
        kept = {f for f in stamp["files"] if f not in present}
        write_stamp(folder, stamp.get("kind", ""), stamp["entries"], kept)


def manifest_listed_files(folder: Path) -> set[str] | None:
    """The files a bundle folder's manifest lists, or None when it has no edgekit manifest.

    Read through the bundle format's own opener (no links, capped size), so a linked or huge
    ``manifest.json`` in an output folder counts as not edgekit's rather than being followed.
    """
    from edgekit.bundle.entries import MAX_MANIFEST_BYTES, read_capped
    from edgekit.errors import BundleError

    try:
        data = read_capped(folder, "manifest.json", MAX_MANIFEST_BYTES, what="a manifest", hint="")
        manifest = json.loads(data.decode("utf-8")) if data is not None else None
    except (BundleError, OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != "edgekit-bundle" or not isinstance(manifest.get("files"), dict):
        return None
    return {str(name) for name in manifest["files"]}


def _legacy_bundles(folder: Path, entry: str) -> set[str]:
    """In an output from before ``files``: the bundle folders' manifest-listed files and
    their ``NAME.zip``s."""
    owned: set[str] = set()
    top = folder / entry
    if top.is_symlink() or not top.is_dir():
        return owned
    for child in top.iterdir():
        listed = manifest_listed_files(child) if child.is_dir() and not child.is_symlink() else None
        if listed is not None:
            owned |= {f"{entry}/{child.name}/{name}" for name in (*listed, *BUNDLE_OWN_FILES)}
    for child in top.iterdir():
        if child.name.endswith(".zip") and f"{entry}/{child.name[:-4]}/manifest.json" in owned:
            owned.add(f"{entry}/{child.name}")
    return owned


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def _inside_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and all(_plain_name(p) for p in parts) and "\\" not in path
