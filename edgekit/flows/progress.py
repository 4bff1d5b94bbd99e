"""What a long flow (``sweep``, ``fit``) reports while it runs, as one small interface.

The flows call it; the command line passes a rich progress bar
(``edgekit.commands._progress.RichProgress``), Python callers get this silent base.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["Progress"]


class Progress:
    """Variants (or candidates) and stages of a run; this base shows nothing."""

    def start(self, *, variants: int, finished: int, stages: int, workers: str = "this process") -> None:
        pass

    def running(self, where: dict[str, str]) -> None:
        """Which tasks run now, and on which worker (``{"sparsity 0.5": "127.0.0.1:40123"}``)."""

    def advance(self) -> None:
        """One task finished (the stages bar)."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield

    def variant_done(self, name: str) -> None:
        pass
