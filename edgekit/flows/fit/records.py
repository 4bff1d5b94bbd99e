"""A fit's finished results on disk: ``candidates/NAME.json``, one per estimate or rung.

A result is written (atomically) as soon as it is finished, keyed by everything it depends
on, so Ctrl-C keeps what finished and the same command resumes without computing it again; a
record whose key does not match (another recipe, target or budget) is computed again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from edgekit import interrupts
from edgekit.output.atomic import write_file_atomic

__all__ = ["Records"]


class Records:
    """Finished results by name, read back when their key matches."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.reused: list[str] = []  # the names read back instead of computed

    def cached(self, name: str, key: str, compute: Callable[[], dict]) -> dict:
        """A finished result from ``NAME.json`` when its key matches, else computed and written there."""
        path = self.folder / f"{name}.json"
        try:
            found = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        except (ValueError, UnicodeDecodeError):
            found = None
        if isinstance(found, dict) and found.get("key") == key:
            self.reused.append(name)
            return found["result"]
        interrupts.check()  # nothing new starts after a Ctrl-C, even one TensorFlow swallowed
        result = compute()
        interrupts.check()
        self.folder.mkdir(parents=True, exist_ok=True)
        write_file_atomic(path, json.dumps({"key": key, "result": result}, indent=2) + "\n")
        return result

    def count(self) -> int:
        """How many results are on disk (what an interrupted run keeps)."""
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0
