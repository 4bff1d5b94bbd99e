"""Run one child process and measure it: exit code, wall seconds, its own peak RSS."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_measured(argv: list[str], log: Path, *, timeout: float = 1800) -> tuple[int, float, float, str, str]:
    """(exit code, wall seconds, peak RSS in MB, stdout, stderr) of ``argv``. The child is reaped
    with wait4, so the RSS is this child's own, not the largest of all children so far."""
    log.mkdir(parents=True, exist_ok=True)
    with open(log / "stdout", "w+") as out, open(log / "stderr", "w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=child_env())
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        _, status, usage = os.wait4(process.pid, 0)
        watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        seconds = round(time.perf_counter() - started, 2)
        out.seek(0)
        err.seek(0)
        return process.returncode, seconds, round(usage.ru_maxrss / 1024), out.read(), err.read()


def child_env() -> dict:
    """This checkout importable, TensorFlow quiet."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
