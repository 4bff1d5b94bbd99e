"""A real Dask cluster on 127.0.0.1 for the tests: ``dask scheduler`` and two ``dask worker``
processes, each in a session of its own (a test may kill one worker's whole process group),
on free ports, with this checkout importable and legacy Keras selected in their environment."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env() -> dict:
    """The environment of the cluster's processes: with the Dask config the docs give for
    edgekit's workers (``samples/dask/``: no MALLOC_TRIM_THRESHOLD_)."""
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3", DASK_CONFIG=str(REPO / "samples" / "dask"))
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def dask_command() -> list[str]:
    found = Path(sys.executable).with_name("dask")
    return [str(found)] if found.exists() else [shutil.which("dask") or "dask"]


@dataclass
class LocalDask:
    """The scheduler's address and the processes this fixture started (killed by their own ids)."""

    address: str
    logs: Path
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start(self, workers: int = 2) -> "LocalDask":
        port = int(self.address.rpartition(":")[2])
        self.scheduler = self._spawn("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for index in range(workers):
            self.add_worker(f"w{index + 1}")
        self.wait_for(workers)
        return self

    def add_worker(self, name: str) -> None:
        self.workers.append(self._spawn(name, "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--name", name, "--no-dashboard"))

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")
        return subprocess.Popen([*dask_command(), *args], stdout=log, stderr=subprocess.STDOUT, env=worker_env(), start_new_session=True)

    def wait_for(self, workers: int, timeout: float = 60) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            try:
                with Client(self.address, timeout=5) as client:
                    client.wait_for_workers(workers, timeout=max(1, deadline - time.monotonic()))
                    return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise

    def running(self) -> dict[str, list[str]]:
        """{worker name: keys of the edgekit tasks it is processing} (a sweep's or fit's tasks,
        not the warm-ups that load TensorFlow while the driver trains)."""
        from distributed import Client

        with Client(self.address, timeout=5) as client:
            names = {address: info.get("name") for address, info in client.scheduler_info()["workers"].items()}
            return {str(names.get(w, w)): [k for k in keys if "edgekit-" in str(k) and "edgekit-warm-" not in str(k)] for w, keys in client.processing().items()}

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (its nanny and the worker under it)."""
        process = self.workers[int(name.removeprefix("w")) - 1]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
