"""Checkpoints of the long stages, one policy for ``edgekit build`` and ``edgekit sweep``.

Training and compression are what take minutes; each one's result is saved
(``edgekit.flows.model_cache``) as soon as it exists, keyed by everything it depends on, so a re-run
after Ctrl-C, a kill or a crash, or another sweep variant needing the same model, starts from
there. Seeds are reset before compression, so a resumed run writes the same bytes as an
uninterrupted one.

The policy:

- the trained float model is checkpointed when the recipe trains (``float`` entries); the
  compressed models after the compression steps ran (``compressed`` entries: the stripped
  float model, and the QAT model when it loads back — TF-MOT saves cluster-preserving QAT
  models but cannot load them, so such an entry holds the float side only);
- an entry is used only when it holds every model the run needs;
- none under ``train.strategy = "multi_worker"``: every worker must train alike (the flow
  says so with ``enabled=False``);
- a build keeps its checkpoints in ``OUT.cache`` beside the output (never inside it: the
  output is swapped in whole) and, after success, only the latest ones; a sweep keeps all of
  its entries in its ``cache/`` folder, for the next variant and the next run.

Not checkpointed within a stage (per epoch): a restarted ``fit`` would shuffle the remaining
epochs differently, and resumed runs must stay byte-identical.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from edgekit.compression.run import Compressed
from edgekit.flows.model_cache import CacheEntry, ModelCache

log = logging.getLogger("edgekit")
__all__ = ["CheckpointKey", "Checkpoints", "default_cache_dir"]
QAT_FILE = "qat.h5"  # .keras loses TF-MOT's quantizer variables


def default_cache_dir(out_dir: Path) -> Path:
    """``OUT.cache`` beside ``OUT``."""
    out_dir = Path(os.path.abspath(out_dir))
    return out_dir.with_name(out_dir.name + ".cache")


@dataclass(frozen=True)
class CheckpointKey:
    """What a checkpoint is filed under, and what its note records about how it was made
    (``edgekit.flows.from_recipe`` makes both from the recipe: its sections, files, versions)."""

    key: str
    note: Mapping[str, Any]


class Checkpoints:
    """Loads or computes each long stage, saving what it computes.

    ``folder`` None means no checkpoints; ``fresh`` computes everything again and replaces
    them; ``tidy`` removes, after a successful run, the entries this run did not use.
    """

    def __init__(self, folder: Path | None, *, fresh: bool = False, trust: bool = False, tidy: bool = False):
        self.cache = ModelCache(Path(folder), trust=trust) if folder is not None else None
        self.fresh = fresh
        self.tidy = tidy
        self.used: list[Path] = []
        self.reused: list[str] = []

    @classmethod
    def for_build(cls, out_dir: Path, *, cache: str | Path | bool | None = None, fresh: bool = False, trust: bool = False, enabled: bool = True) -> "Checkpoints":
        """``cache``: a folder, None for ``OUT.cache`` (holding only the latest build's
        entries), or False for none; ``enabled`` False: none either."""
        if cache is False or not enabled:
            return cls(None, fresh=fresh)
        own_folder = cache is None or cache is True
        return cls(default_cache_dir(out_dir) if own_folder else Path(cache), fresh=fresh, trust=trust, tidy=own_folder)

    @classmethod
    def for_sweep(cls, folder: Path, *, enabled: bool = True) -> "Checkpoints":
        return cls(folder if enabled else None)

    @property
    def folder(self) -> Path | None:
        return None if self.cache is None else self.cache.folder

    def path(self, kind: str, key: str) -> Path | None:
        return None if self.cache is None else self.cache.path(kind, key)

    def float_model(self, key: CheckpointKey, model, train: Callable[[Any], None]):
        """The trained float model: the checkpoint's, else ``model`` after ``train(model)``."""
        entry = self._load("float", key.key)
        if entry is not None:
            log.info("float model: reusing checkpoint %s, trained in %s s; skipping training", entry.path, entry.note.get("train_s", "?"))
            return entry.models["model"]
        started = time.perf_counter()
        train(model)
        note = {"train_s": round(time.perf_counter() - started, 1), **_described(key)}
        self._save("float", key.key, {"model.keras": model}, note)
        return model

    def compressed(
        self, key: CheckpointKey, compute: Callable[[], tuple[dict | None, Compressed]], *, needs_qat: bool
    ) -> tuple[dict | None, Compressed]:
        """(sensitivity analysis or None, compressed models): the checkpoint's, else ``compute()``'s.

        ``needs_qat`` False lets an entry without its QAT model serve artifacts made from the
        float side.
        """
        entry = self._load("compressed", key.key, expect=("float",))
        if entry is not None and (not needs_qat or not entry.note.get("dropped")):
            log.info("compressed model: reusing checkpoint %s, computed in %s s; skipping compression", entry.path, entry.note.get("compress_s", "?"))
            note = entry.note
            compressed = Compressed(entry.models["float"], entry.models.get("qat"), note.get("compression", {}), tuple(note.get("qat_steps", ())))
            return note.get("sensitivity"), compressed
        started = time.perf_counter()
        sensitivity, compressed = compute()
        models = {"float.keras": compressed.float_model}
        if compressed.qat_model is not None:
            models[QAT_FILE] = compressed.qat_model
        note = {
            "compress_s": round(time.perf_counter() - started, 1),
            "compression": dict(compressed.report),
            "qat_steps": list(compressed.qat_steps),
            "sensitivity": sensitivity,
            **_described(key),
        }
        self._save("compressed", key.key, models, note, optional=(QAT_FILE,))
        return sensitivity, compressed

    def summary(self) -> dict:
        """For the report: where checkpoints live and which stages were reused, not computed."""
        return {"folder": None if self.folder is None else str(self.folder), "reused": list(self.reused), "fresh": self.fresh}

    @contextlib.contextmanager
    def kept_on_interrupt(self) -> Iterator[None]:
        """Say what a failed or interrupted run leaves for the next one (a fix of, say, a
        target's budget keeps the trained model); after success, tidy up."""
        try:
            yield
        except KeyboardInterrupt:
            if self.used:
                log.warning("interrupted: checkpoints kept in %s; run the same command to resume from them", self.folder)
            raise
        except Exception:
            if self.used:
                log.warning("checkpoints kept in %s: a re-run of this recipe resumes from them", self.folder)
            raise
        if self.cache is not None and self.tidy:
            self.cache.remove_except(self.used)

    def _load(self, kind: str, key: str, expect: tuple[str, ...] = ("model",)) -> CacheEntry | None:
        if self.cache is None or self.fresh:
            return None
        entry = self.cache.load(kind, key, expect=expect)
        if entry is not None:
            self.used.append(entry.path)
            self.reused.append(kind)
        return entry

    def _save(self, kind: str, key: str, models: dict[str, Any], note: dict, *, optional: tuple[str, ...] = ()) -> None:
        if self.cache is None:
            return
        path = self.cache.save(kind, key, models, note, optional=optional)
        if path is not None:
            self.used.append(path)
            log.info("%s model: checkpoint saved in %s", kind, path)


def _described(key: CheckpointKey) -> dict:
    """The key's note with the time the entry was written."""
    return {**key.note, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
