"""Checkpoints of trained Keras models, keyed by a hash of everything that made them.

Training and fine-tuning take minutes; a re-run that would compute the same model loads it
instead (``build`` after an interrupt, ``sweep`` for its float and pruned models). The cache
takes keys, it does not make them: ``edgekit.flows.from_recipe`` hashes the recipe sections a
model depends on, the contents of the files they name (:func:`path_digest`) and the installed
package versions, so editing any of them trains again and nothing stale is reused.

An entry is a folder ``KIND-KEY/``: the model files plus ``note.json`` (their sha256 and what
made them). It is written into a staging folder and renamed into place (``edgekit.output.atomic``),
so a kill mid-write leaves no entry, only a staging folder the next save removes. An entry
whose files do not match their sha256, or do not load, is computed again with a warning.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping

from edgekit.errors import EdgekitError, ModelError
from edgekit.output.atomic import remove_stale_staging, staged_directory

__all__ = ["CacheEntry", "digest", "load_model_bytes", "ModelCache", "model_bytes", "path_digest"]

log = logging.getLogger("edgekit")

NOTE = "note.json"
_ENTRY_NAME = re.compile(r"[a-z]+-[0-9a-f]{16}")  # KIND-KEY; staging folders start with "."
# Modules besides Keras' that cached models name: TF-MOT's QAT layers, which run no stored code.
_CACHED_MODULES = ("tensorflow_model_optimization",)


def digest(data: Any) -> str:
    """A short, stable hash of plain data (sorted-key JSON)."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def path_digest(path: Path) -> str:
    """Contents for a file; names, sizes and times for a folder (image folders can be large)."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    if path.is_dir():
        entries = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*") if p.is_file())
        return digest(entries)
    return "missing"


@dataclass
class CacheEntry:
    """A loaded entry: its models by name (``model.keras`` -> ``"model"``) and its note."""

    path: Path
    models: dict[str, Any]
    note: dict


class ModelCache:
    """Trained Keras models on disk, one folder per key.

    Entries are read under the same rule as model files: code in them (a Lambda layer) needs
    ``trust``, since a cache folder may have come with a downloaded project.
    """

    def __init__(self, folder: Path, *, trust: bool = False):
        self.folder = Path(folder)
        self.trust = trust

    def path(self, kind: str, key: str) -> Path:
        return self.folder / f"{kind}-{key}"

    def load(self, kind: str, key: str, *, expect: Collection[str] = ("model",)) -> CacheEntry | None:
        """The entry, or None when there is none or it cannot be used (with a warning).

        ``expect``: the models it must hold.
        """
        path = self.path(kind, key)
        if not path.is_dir():
            return None
        try:
            if path.is_symlink():
                raise ModelError("the entry is a symbolic link, not a folder this cache wrote")
            note = json.loads((path / NOTE).read_text(encoding="utf-8"))
            models = {Path(name).stem: self._load_model(path, name, sha256) for name, sha256 in note["files"].items()}
            if set(expect) - set(models):
                raise ModelError(f"it holds {sorted(models)}, not {sorted(expect)}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EdgekitError) as exc:
            reason = exc.message if isinstance(exc, EdgekitError) else f"{type(exc).__name__}: {exc}"
            log.warning("checkpoint %s cannot be used (%s); computing it again", path, reason)
            return None
        return CacheEntry(path, models, note)

    def _load_model(self, entry: Path, name: str, sha256: str):
        from edgekit.models.load import load_model_file
        from edgekit.models.scan import check_model_safe

        path = entry_file(entry, name)
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            raise ModelError(f"{path.name} does not match the sha256 recorded when it was written")
        if not self.trust:
            check_model_safe(path, trusted_modules=_CACHED_MODULES)
        return load_model_file(path, trust=True)

    def save(self, kind: str, key: str, models: Mapping[str, Any], note: Mapping[str, Any], *, optional: Collection[str] = ()) -> Path | None:
        """Write ``{file name: model}`` (``.keras``, or ``.h5`` for QAT models, which ``.keras``
        cannot restore) as one entry, all or nothing. A model Keras cannot save is a warning,
        not a failure: the run goes on without its checkpoint. A model named in ``optional``
        that does not load back is left out (``note["dropped"]`` says why) instead of the entry."""
        path = self.path(kind, key)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_staging()
        try:
            with staged_directory(path) as staging:
                dropped = _save_models(models, staging, optional)
                files = {name: hashlib.sha256((staging / name).read_bytes()).hexdigest() for name in models if name not in dropped}
                written = {**note, "files": files, **({"dropped": dropped} if dropped else {})}
                (staging / NOTE).write_text(json.dumps(written, indent=2, default=str) + "\n", encoding="utf-8")
        except _NotRestorable as exc:
            log.info("not checkpointing %s: %s", path.name, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - Keras raises anything from NotImplementedError to h5py's errors
            log.warning("could not checkpoint %s (%s: %s); a re-run will compute it again", path, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            return None
        return path

    def remove_except(self, keep: Collection[Path]) -> None:
        """Delete the entries not in ``keep`` (a build's own cache holds its latest checkpoints)."""
        if not self.folder.is_dir():
            return
        for entry in self.folder.iterdir():
            if entry.is_dir() and _ENTRY_NAME.fullmatch(entry.name) and entry not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    def _remove_stale_staging(self) -> None:
        """Staging folders of saves that were killed, for any key."""
        for folder in self.folder.glob(".*.partial-*"):
            remove_stale_staging(self.folder / folder.name[1:].rpartition(".partial-")[0])


_MODEL_FILES = ("model.keras", "float.keras", "qat.h5")  # what save() writes


def entry_file(entry: Path, name: Any) -> Path:
    """A file an entry's note names: one of the names this cache writes, a regular file in the
    entry itself. A note naming ``../../model.keras`` (or a symbolic link) would load a model
    from elsewhere into the next build."""
    if name not in _MODEL_FILES:
        raise ModelError(f"its note names {str(name)[:80]!r}, not one of the files a checkpoint holds ({', '.join(_MODEL_FILES)})")
    path = entry / name
    if path.is_symlink() or not path.is_file():
        raise ModelError(f"{name} is not a regular file in the entry")
    return path


class _NotRestorable(Exception):
    """A saved model Keras cannot load again: keeping it would only cost a warning next run."""


def _check_reloads(path: Path) -> None:
    """Load a just-saved QAT model once. TF-MOT's cluster-preserving QAT wrappers (CQAT, PCQAT)
    save to ``.h5`` but do not load back (their quantizers create weights lazily)."""
    from edgekit.models.load import load_model_file

    try:
        load_model_file(path, trust=True)
    except (EdgekitError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = exc.message if isinstance(exc, EdgekitError) else f"{type(exc).__name__}: {exc}"
        raise _NotRestorable(f"{path.name} does not load back ({reason.splitlines()[0][:200]}); a re-run will compute it again") from exc


def _save_models(models: Mapping[str, Any], folder: Path, optional: Collection[str]) -> dict[str, str]:
    """Save each model into ``folder``; {name: why} of the optional ones that do not load back."""
    dropped = {}
    for name, model in models.items():
        _save_model(model, folder / name)
        if not name.endswith(".h5"):  # plain .keras models always load back; QAT .h5 may not
            continue
        try:
            _check_reloads(folder / name)
        except _NotRestorable as exc:
            if name not in optional:
                raise
            (folder / name).unlink()
            dropped[name] = str(exc)
    return dropped


def _save_model(model, path: Path) -> None:
    with warnings.catch_warnings():  # .h5 is chosen on purpose, for QAT models (see save)
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file", category=UserWarning)
        model.save(path)


def model_bytes(model) -> bytes:
    """A model as ``.keras`` bytes, the form checkpoints keep and load back: how a trained
    model travels to Dask workers (``edgekit.distributed``)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgekit-model-") as folder:
        path = Path(folder) / "model.keras"
        _save_model(model, path)
        return path.read_bytes()


@functools.lru_cache(maxsize=2)
def load_model_bytes(data: bytes):
    """The model ``model_bytes`` made, loaded once per process (a worker's tasks share it;
    compression works on a copy). The bytes come from this run's own driver."""
    import tempfile

    from edgekit.models.load import load_model_file

    with tempfile.TemporaryDirectory(prefix="edgekit-model-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return load_model_file(path, trust=True)
