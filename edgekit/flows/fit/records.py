"""A fit's finished results on disk: ``candidates/NAME.json`` and the artifact it describes,
``candidates/NAME.tflite``, one pair per estimate or rung.

A result is written as soon as it is finished, keyed by everything it depends on, so Ctrl-C
keeps what finished and the same command resumes without training it again. The record is
never believed on its word (``edgekit.flows.results``): it must name its artifact by sha256,
and every figure that decides anything (accuracy, flash, RAM, whether it fits) is re-measured
from that artifact before it is used; a record whose figures differ says so in one line and
the artifact's figures are used. A record that is damaged, of other settings, or whose
artifact is gone is computed again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping

from edgekit import interrupts
from edgekit.errors import EdgekitError, RunError
from edgekit.flows.results import ResultStore, Untrusted
from edgekit.output.atomic import write_file_atomic

__all__ = ["Records"]

log = logging.getLogger("edgekit")
FOLDER = "candidates"


class Records:
    """Finished results by name, believed only as far as their artifacts prove them."""

    def __init__(self, out_dir: Path):
        self.store = ResultStore(out_dir, FOLDER)
        self.folder = self.store.folder

    @property
    def reused(self) -> list[str]:
        """The names whose result came from an artifact on disk instead of training."""
        return self.store.reused

    def cached(self, name: str, key: str, compute: Callable[[], tuple[dict, bytes]], rederive: Callable[[bytes], dict]) -> dict:
        """``name``'s result: re-derived (``rederive(model_bytes)``) from the artifact a matching
        record names, else ``compute()`` -> (result, the artifact's model bytes), written."""
        found = self.recorded(name, key, rederive)
        if found is not None:
            return found
        interrupts.check()  # nothing new starts after a Ctrl-C, even one TensorFlow swallowed
        made = compute()
        interrupts.check()
        return self.accept(name, key, made, rederive, check=False)

    def recorded(self, name: str, key: str, rederive: Callable[[bytes], dict]) -> dict | None:
        """The result a matching record's artifact proves (re-derived from it), else None."""
        check = lambda recorded, artifact: _believed(name, recorded, artifact, rederive)  # noqa: E731
        return self.store.load(name, key, f"{FOLDER}/{name}.tflite", check)

    def accept(self, name: str, key: str, made: tuple[dict, bytes], rederive: Callable[[bytes], dict], *, check: bool) -> dict:
        """Write ``made`` (result, artifact bytes) as ``name``'s record; ``check``: a result that
        came from elsewhere (a Dask worker) is then read back like a resumed record, its
        figures re-derived from the artifact, before it is believed."""
        result, model_bytes = made
        self.folder.mkdir(parents=True, exist_ok=True)
        artifact = self.folder / f"{name}.tflite"
        write_file_atomic(artifact, model_bytes)
        self.store.save(name, key, result, artifact)
        if not check:
            return result
        believed = self.recorded(name, key, rederive)
        if believed is None:
            raise RunError(f"{FOLDER}/{name}: a worker's result does not check out against its artifact")
        self.store.reused.remove(name)  # computed by this run, not reused
        return believed

    def count(self) -> int:
        """How many results are on disk (what an interrupted run keeps)."""
        return self.store.count()


# The figures that decide a candidate's fate, as (label, path into the result).
DECIDING = (("accuracy", ("val_accuracy",)), ("flash", ("figures", "flash")), ("RAM", ("figures", "ram")), ("verdict", ("fits",)))


def _believed(name: str, recorded: Mapping, artifact: Path, rederive: Callable[[bytes], dict]) -> dict:
    """The result re-measured from the artifact; one line when the record said otherwise."""
    try:
        result = rederive(artifact.read_bytes())
    except EdgekitError as exc:
        raise Untrusted(f"its artifact does not measure ({exc.message})") from None
    changed = [label for label, path in DECIDING if _at(recorded, path) != _at(result, path)]
    missed = lambda r: sorted(str(m.get("figure")) for m in r.get("misses") or [] if isinstance(m, dict))  # noqa: E731
    if not isinstance(recorded.get("misses", []), list) or missed(recorded) != missed(result):
        changed.append("budget misses")
    if changed:
        log.warning("%s/%s.json: the record's %s differ from its artifact's, re-measured; using the artifact's", FOLDER, name, ", ".join(changed))
    return result


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, Mapping) else None
    return value
