"""One store of finished results for the flows that resume: sweep variants and fit candidates.

A run writes each finished result as soon as it exists, so Ctrl-C loses nothing and the same
command resumes. A record on disk is only a claim, though: anyone can edit it, and its key is
a plain digest anyone can recompute. So a record is believed only when it proves itself:

- it is a JSON object of this store's format (``{"format": "edgekit-result", "key": ...,
  "source": {"path": ..., "sha256": ...}, "result": {...}}``), no larger than a record can be,
  with finite numbers only;
- it was made with the settings of this run (its ``key``);
- it names the artifact it describes, at the place this run expects (a fit candidate's
  ``.tflite`` beside it, a sweep variant's bundle manifest), a regular file inside the output
  whose sha256 is the one recorded;
- the flow's own check believes its figures: re-derived or re-measured from that artifact
  (fit), or equal to what the verified bundle's manifest holds (sweep).

Anything else is computed again, with one line naming the record and why; a record that is
damaged in any way is a warning, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from edgekit.output.atomic import write_file_atomic

__all__ = ["Found", "RESULT_FORMAT", "ResultStore", "Untrusted", "file_sha256"]

log = logging.getLogger("edgekit")
RESULT_FORMAT = "edgekit-result"
MAX_RECORD_BYTES = 4 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class Untrusted(Exception):
    """A record the flow's check does not believe; the message says why, in a few words."""


@dataclass(frozen=True)
class Found:
    """A record that is well formed, of this run's key, and whose artifact is the one it names."""

    result: dict
    source: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ResultStore:
    """Records in ``ROOT/FOLDER/NAME.json``, each naming an artifact under ``ROOT``."""

    def __init__(self, root: Path, folder: str):
        self.root = Path(root)
        self.folder = self.root / folder
        self.reused: list[str] = []  # the names read back instead of computed

    def record_path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def load(self, name: str, key: str, source: str, check: Callable[[dict, Path], dict]) -> dict | None:
        """The result of ``name``, or None when it must be computed (one line says why, unless
        there is no record). ``source`` is where its artifact must be, relative to the root;
        ``check(result, artifact)`` returns the result to believe or raises Untrusted."""
        path = self.record_path(name)
        if not os.path.lexists(path):
            return None
        try:
            found = self._read(path, key, source)
            if found is None:
                return None
            result = check(found.result, found.source)
        except Untrusted as exc:
            log.warning("%s: %s; computing it again", self._shown(path), exc)
            return None
        self.reused.append(name)
        return result

    def save(self, name: str, key: str, result: dict, source: Path) -> None:
        """Write ``name``'s record (atomically, after its artifact): its presence means finished."""
        relative = Path(source).relative_to(self.root).as_posix()
        record = {"format": RESULT_FORMAT, "key": key, "source": {"path": relative, "sha256": file_sha256(source)}, "result": result}
        self.folder.mkdir(parents=True, exist_ok=True)
        write_file_atomic(self.record_path(name), json.dumps(record, indent=2, allow_nan=False) + "\n")

    def count(self) -> int:
        """How many records are on disk (what an interrupted run keeps)."""
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0

    # --- reading ------------------------------------------------------------------------

    def _read(self, path: Path, key: str, source: str) -> Found | None:
        """The record's result and artifact, None for another run's settings; Untrusted for
        anything malformed or not matching its artifact."""
        record = _parse(path)
        if record.get("format") != RESULT_FORMAT:
            raise Untrusted(f"is not an edgekit result record (format {_short(record.get('format'))})")
        if not isinstance(record.get("key"), str):
            raise Untrusted("has no key")
        if record["key"] != key:
            log.info("%s: measured with other settings; computing it again", self._shown(path))
            return None
        named = record.get("source")
        if not isinstance(named, dict) or not isinstance(named.get("path"), str) or not isinstance(named.get("sha256"), str):
            raise Untrusted("names no artifact (source.path and source.sha256)")
        if named["path"] != source:
            raise Untrusted(f"names the artifact {_short(named['path'])}, not {source!r}")
        if not isinstance(record.get("result"), dict):
            raise Untrusted("has no result object")
        artifact = self._artifact(source)
        if not _SHA256.fullmatch(named["sha256"]) or file_sha256(artifact) != named["sha256"]:
            raise Untrusted(f"its artifact {source} does not match the record's sha256")
        return Found(record["result"], artifact)

    def _artifact(self, source: str) -> Path:
        """The artifact's path: a regular file reached without links, inside the root."""
        path = self.root / source
        real, root = Path(os.path.realpath(path)), Path(os.path.realpath(self.root))
        if real != root / source:
            raise Untrusted(f"its artifact {source} is reached through a link")
        if path.is_symlink() or not path.is_file():
            raise Untrusted(f"its artifact {source} is missing or not a regular file")
        return path

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def _parse(path: Path) -> dict:
    """The record as a JSON object of finite numbers; Untrusted for anything else."""
    if path.is_symlink() or not path.is_file():
        raise Untrusted("is not a regular file")
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise Untrusted(f"is larger than a record can be ({path.stat().st_size:,} bytes)")
    try:
        record = json.loads(path.read_bytes().decode("utf-8"), parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded_int)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Untrusted(f"is not JSON ({_clip(str(exc))})") from None
    except OSError as exc:
        raise Untrusted(f"cannot be read ({exc.strerror or exc})") from None
    if not isinstance(record, dict):
        raise Untrusted(f"is not a JSON object but a {type(record).__name__}")
    return record


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a record may hold")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20:
        raise ValueError(f"{text[:20]}... is out of range")
    return int(text)


def _short(value: Any) -> str:
    return _clip(repr(value))


def _clip(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
