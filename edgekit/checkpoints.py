"""The build's checkpoints: the trained float model and the compressed models.

Training and compression are the long stages of ``edgekit build``; each one's result is saved
(``edgekit.model_cache``) as soon as it exists, so a re-run of the same recipe after Ctrl-C,
a kill or a crash starts from there. The cache lives beside the output folder
(``OUT.cache/``), never inside it: the output is swapped in whole at the end. Seeds are reset
before compression, so a resumed build writes the same bytes as an uninterrupted one.

Not checkpointed within a stage (per epoch): a restarted ``fit`` would shuffle the remaining
epochs differently, and resumed builds must stay byte-identical.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from edgekit.compression.run import Compressed
from edgekit.model_cache import ModelCache, compression_key, float_model_key
from edgekit.recipe import Recipe

log = logging.getLogger("edgekit")


def default_cache_dir(out_dir: Path) -> Path:
    """``OUT.cache`` beside ``OUT``."""
    out_dir = Path(os.path.abspath(out_dir))
    return out_dir.with_name(out_dir.name + ".cache")


class BuildCheckpoints:
    """Loads or computes each long stage, saving what it computes.

    ``cache``: a folder, None for ``OUT.cache`` (which then keeps only the latest build's
    entries), or False for no checkpoints. ``fresh`` computes everything again and replaces
    the checkpoints.
    """

    def __init__(self, recipe: Recipe, out_dir: Path, *, cache: str | Path | bool | None = None, fresh: bool = False, trust: bool = False):
        self.recipe = recipe
        self.fresh = fresh
        self.own_folder = cache is None or cache is True
        self.cache = None
        if recipe.train.strategy == "multi_worker" and cache is not False:
            log.info("no checkpoints under train.strategy multi_worker: every worker must train alike")
        elif cache is not False:
            self.cache = ModelCache(default_cache_dir(out_dir) if self.own_folder else Path(cache), trust=trust)
        self.float_key = float_model_key(recipe)
        self.used: list[Path] = []
        self.reused: list[str] = []

    def float_model(self, model, train: Callable[[Any], None]):
        """The trained float model: the checkpoint's, else ``model`` after ``train(model)``."""
        if not self.recipe.train.enabled:
            return model
        entry = self._load("float", self.float_key)
        if entry is not None:
            log.info("float model: reusing checkpoint %s, trained in %s s; skipping training", entry.path, entry.note.get("train_s", "?"))
            return entry.models["model"]
        started = time.perf_counter()
        train(model)
        seconds = round(time.perf_counter() - started, 1)
        self._save("float", self.float_key, {"model.keras": model}, {"train_s": seconds, **self._describe("model", "data", "train")})
        return model

    def compressed(self, compute: Callable[[], tuple[dict | None, Compressed]], *, needed: bool) -> tuple[dict | None, Compressed]:
        """(sensitivity analysis or None, compressed models): the checkpoint's, else ``compute()``'s.

        ``needed`` is False when the recipe asks for no compression: nothing worth keeping.
        """
        if not needed:
            return compute()
        key = compression_key(self.recipe, self.float_key)
        entry = self._load("compressed", key, expect=("float",))
        if entry is not None:
            log.info("compressed model: reusing checkpoint %s, computed in %s s; skipping compression", entry.path, entry.note.get("compress_s", "?"))
            compressed = Compressed(entry.models["float"], entry.models.get("qat"), entry.note.get("compression", {}))
            return entry.note.get("sensitivity"), compressed
        started = time.perf_counter()
        sensitivity, compressed = compute()
        seconds = round(time.perf_counter() - started, 1)
        models = {"float.keras": compressed.float_model}
        if compressed.qat_model is not None:
            models["qat.h5"] = compressed.qat_model  # .keras loses TF-MOT's quantizer variables
        note = {"compress_s": seconds, "compression": compressed.report, "sensitivity": sensitivity}
        self._save("compressed", key, models, {**note, **self._describe("distill", "prune", "cluster", "quantize", "analyze")})
        return sensitivity, compressed

    def summary(self) -> dict:
        """For the report: where checkpoints live and which stages were reused, not computed."""
        folder = str(self.cache.folder) if self.cache is not None else None
        return {"folder": folder, "reused": list(self.reused), "fresh": self.fresh}

    @contextlib.contextmanager
    def kept_on_interrupt(self) -> Iterator[None]:
        """Say what a failed or interrupted build leaves for the next run (a fix of, say, a
        target's budget keeps the trained model); after success, tidy up."""
        try:
            yield
        except KeyboardInterrupt:
            if self.used:
                log.warning("interrupted: checkpoints kept in %s; run the same command to resume from them", self.cache.folder)
            raise
        except Exception:
            if self.used:
                log.warning("checkpoints kept in %s: a re-run of this recipe resumes from them", self.cache.folder)
            raise
        if self.cache is not None and self.own_folder:
            self.cache.remove_except(self.used)

    def _load(self, kind: str, key: str, expect: tuple[str, ...] = ("model",)):
        if self.cache is None or self.fresh:
            return None
        entry = self.cache.load(kind, key, expect=expect)
        if entry is not None:
            self.used.append(entry.path)
            self.reused.append(kind)
        return entry

    def _save(self, kind: str, key: str, models: dict[str, Any], note: dict) -> None:
        if self.cache is None:
            return
        path = self.cache.save(kind, key, models, note)
        if path is not None:
            self.used.append(path)
            log.info("%s model: checkpoint saved in %s", kind, path)

    def _describe(self, *sections: str) -> dict:
        raw = self.recipe.to_dict()
        return {"recipe": self.recipe.name, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "sections": {name: raw[name] for name in sections}}
