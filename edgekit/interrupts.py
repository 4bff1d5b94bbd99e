"""Ctrl-C and SIGTERM, told apart from the errors they cause.

An interrupt that lands inside TensorFlow's function tracing can unwind as another exception
(TF's stack-trace mapper asserts "Concurrent access?" when a KeyboardInterrupt passes through
it). The handlers installed here record that an interrupt came, so the CLI and the flows treat
whatever unwinds after it as the interrupt it is: exit 130 and the interrupt's message, not a
traceback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

__all__ = ["check", "install", "is_interrupt", "on_interrupt"]

_received: list[int] = []


def install() -> None:
    """Ctrl-C and ``kill``/``timeout`` (SIGTERM) raise KeyboardInterrupt, and are remembered.

    A SIGINT that is ignored (a background job inherits SIGINT ignored) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt


def interrupted() -> bool:
    """Whether an interrupt arrived in this process."""
    return bool(_received)


def check() -> None:
    """Raise the interrupt again if one arrived and was swallowed on its way out.

    Python ignores an exception raised in a weak-reference callback or a ``__del__``
    ("Exception ignored in ..."), and TensorFlow runs many; a Ctrl-C landing there would be
    lost. The flows call this between units of work (each stage, each training batch, each
    candidate), so such an interrupt still stops the run at the next one.
    """
    if _received:
        raise KeyboardInterrupt


def is_interrupt(exc: BaseException) -> bool:
    """``exc`` is an interrupt, or what an interrupt turned into on its way out."""
    return isinstance(exc, KeyboardInterrupt) or (interrupted() and not isinstance(exc, SystemExit))


@contextlib.contextmanager
def on_interrupt(say: Callable[[], None]) -> Iterator[None]:
    """Call ``say`` (what was kept, how to go on) when an interrupt, or what it became inside
    TensorFlow, unwinds through the block, then let it on as KeyboardInterrupt; other errors
    pass untouched."""
    try:
        yield
    except KeyboardInterrupt:
        say()
        raise
    except Exception as exc:
        if not is_interrupt(exc):
            raise
        say()
        raise KeyboardInterrupt from exc
