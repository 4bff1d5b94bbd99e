"""Rich progress bars for a sweep: one bar for variants, one for stages, with elapsed time and ETA.

edgekit's log lines keep flowing above the bars: while the bars are live, the ``edgekit``
logger's stream handlers write through rich's stderr proxy instead of the raw stream.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

from edgekit.flows.progress import Progress


class RichProgress(Progress):
    """Use as a context manager around ``sweep(..., progress=...)``."""

    def __init__(self, *, enabled: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bars

        self.bars = Bars(
            TextColumn("{task.description:<40}"),
            BarColumn(bar_width=10),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
            redirect_stderr=True,
        )
        self._variants = self._stages = self._running = None
        self._streams: list[tuple[logging.StreamHandler, object]] = []

    def __enter__(self) -> "RichProgress":
        original = sys.stderr
        self.bars.start()
        for handler in logging.getLogger("edgekit").handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is original:
                self._streams.append((handler, handler.setStream(sys.stderr)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handler, stream in self._streams:
            handler.setStream(stream)
        self.bars.stop()

    def start(self, *, variants: int, finished: int, stages: int, workers: str = "this process") -> None:
        self._variants = self.bars.add_task("variants", total=variants, completed=finished)
        self._stages = self.bars.add_task("stages", total=max(stages, 1), completed=0 if stages else 1)
        if workers != "this process":
            self._running = self.bars.add_task(f"on {workers}"[:40], total=None)

    def running(self, where: dict[str, str]) -> None:
        """One line per run: ``sparsity 0.5 @ 127.0.0.1:40123 | sparsity 0.8 @ ...``."""
        if self._running is None:
            return
        from rich.markup import escape

        from edgekit.terminal import safe_line

        text = " | ".join(f"{name} @ {worker}" for name, worker in sorted(where.items())) or "waiting for a worker"
        self.bars.update(self._running, description=escape(safe_line(text[:120])))

    def advance(self) -> None:
        self.bars.advance(self._stages)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        from rich.markup import escape

        from edgekit.terminal import safe_line

        self.bars.update(self._stages, description=escape(safe_line(f"stage: {name}"[:40])))
        yield
        self.bars.advance(self._stages)

    def variant_done(self, name: str) -> None:
        self.bars.advance(self._variants)
