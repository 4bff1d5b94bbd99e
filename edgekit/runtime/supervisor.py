"""Run a device command (``predict``, ``bench``) in a child process that cannot take edgekit down.

A model from elsewhere is untrusted input to native code: it can loop forever inside one
``invoke()`` (where no signal handler runs, so SIGTERM and Ctrl-C are ignored), allocate
gigabytes behind a small declared shape, or crash LiteRT outright. So the CLI process only
parses the command line and supervises; the same command runs again in a child that:

- dies with its parent (``PR_SET_PDEATHSIG``), so no interpreter is ever left running;
- marks each interpreter call in shared memory (:mod:`edgekit.runtime.watch`); the parent kills
  it when one call outlasts the limit (``--invoke-timeout``, ``EDGEKIT_INVOKE_TIMEOUT``,
  default 60 s) — per call, so a long ``bench`` of a fast model is never cut short;
- caps its data memory at what each model's declared tensors need plus headroom
  (:func:`edgekit.runtime.limits.cap_model_memory`), not only the process-wide budget.

SIGTERM or Ctrl-C here reaches the child (SIGTERM, then SIGKILL if it is stuck in native code).
Whatever the child prints is its own; when it dies by a signal, times out or is killed here,
this process prints the one ``error:`` line, naming the model the child was running.

Build-time evaluation (``build``, ``convert``, ``sweep``, ``fit``, ``analyze``) stays in one
process: the models it runs are the ones edgekit converted from the user's own Keras model a
moment earlier, not files from elsewhere, and a child per evaluation would double their cost.
"""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from edgekit.errors import ModelError
from edgekit.runtime import watch

__all__ = ["die_with_parent", "ENV_CHILD", "run_supervised", "stop_child"]

ENV_CHILD = watch.ENV_SLOT  # set in the child: the command runs itself instead of supervising
_POLL_S = 0.05
_GRACE_S = 0.5  # after SIGTERM, how long a child gets to say "interrupted" before SIGKILL
_PR_SET_PDEATHSIG = 1


def run_supervised(argv: Sequence[str], default_timeout: float = watch.DEFAULT_TIMEOUT_S) -> int:
    """Run ``edgekit ARGV`` in a watched child; its exit status, or raise the one error.

    Raises KeyboardInterrupt (after the child is gone) when SIGTERM or Ctrl-C arrives, and
    :class:`ModelError` when the child ran past the limit or died by a signal.
    """
    with tempfile.NamedTemporaryFile(prefix="edgekit-watch-", dir=_shared_dir()) as handle:
        handle.write(bytes(watch.SLOT_SIZE))
        handle.flush()
        shared = mmap.mmap(handle.fileno(), watch.SLOT_SIZE, access=mmap.ACCESS_READ)
        child = _start(argv, handle.name)
        try:
            return _wait(child, shared, int(default_timeout * 1e9))
        except KeyboardInterrupt:
            # stuck in native code it cannot hear the signal: no grace; in Python it says so itself
            if stop_child(child, grace=0.0 if watch.read_slot(shared).started_ns else _GRACE_S):
                return child.returncode
            raise
        except BaseException:
            stop_child(child)
            raise
        finally:
            shared.close()


def _start(argv: Sequence[str], slot_path: str) -> subprocess.Popen:
    env = dict(os.environ, **{ENV_CHILD: slot_path}, PYTHONPATH=_child_pythonpath())
    preexec = die_with_parent if os.name == "posix" else None  # single-threaded here: safe
    return subprocess.Popen([sys.executable, "-m", "edgekit", *argv], env=env, preexec_fn=preexec)  # noqa: PLW1509


def _wait(child: subprocess.Popen, shared: mmap.mmap, default_limit_ns: int) -> int:
    while True:
        try:
            code = child.wait(timeout=_POLL_S)
        except subprocess.TimeoutExpired:
            state = watch.read_slot(shared)
            if state.overdue(time.monotonic_ns(), default_limit_ns):
                child.kill()
                child.wait()
                raise _timed_out(state, default_limit_ns) from None
            continue
        if code < 0:
            raise _died(watch.read_slot(shared), code)
        return code


def stop_child(child: subprocess.Popen, grace: float = _GRACE_S) -> bool:
    """SIGTERM, ``grace`` seconds to finish in Python, then SIGKILL; waits until it is gone.

    True when the child exited by itself (it was in Python and handled the signal)."""
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=grace or 0.01)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
            child.kill()
            child.wait()
            raise
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode >= 0


def die_with_parent() -> None:
    """In a child before exec (``preexec_fn``): the kernel sends SIGKILL when the parent dies
    (Linux), so a child stuck in native code is never left running after edgekit is killed.

    ``prctl`` is looked up before the fork (:func:`_prctl`): between fork and exec only that
    call runs, no ``dlopen`` that could wait on a lock another thread held.
    """
    prctl = _PRCTL[0] if _PRCTL else None
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = [_prctl()]


def _timed_out(state: watch.SlotState, default_limit_ns: int) -> ModelError:
    limit = (state.limit_ns or default_limit_ns) / 1e9
    return ModelError(
        f"{state.label or 'the model'}: still {state.what} after {limit:g} s; edgekit stopped it",
        hint=f"a model from elsewhere may loop forever (a WHILE whose condition never becomes false); if it is only slow and you trust it, raise --invoke-timeout or {watch.ENV_TIMEOUT}",
    )


def _died(state: watch.SlotState, code: int) -> ModelError:
    name = _signal_name(-code)
    where = f"while {state.what}" if state.started_ns else "outside an interpreter call"
    if -code == signal.SIGKILL:
        cause = f"was killed ({name}) {where}, most likely by the system for using too much memory"
        hint = "the model needs more memory than this machine has; give it less input, or run it on a bigger machine"
    else:
        cause = f"crashed the interpreter ({name}) {where}"
        hint = "the model is damaged or built to crash LiteRT; edgekit itself is unaffected: export the model again, or report it if edgekit made it"
    return ModelError(f"{state.label or 'the model'}: {cause}", hint=hint)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _shared_dir() -> str | None:
    """Memory-backed /dev/shm where there is one: the slot never touches a disk."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _child_pythonpath() -> str:
    """The child imports the same edgekit as this process (the folder above the package)."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
