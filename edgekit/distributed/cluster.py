"""Tasks on Dask: a ``LocalCluster`` on 127.0.0.1 (``--workers N``) or an existing scheduler.

Each task is one Dask future, retried once on an error (``retries=1``); a worker that dies
mid-task has its task moved to another worker by the scheduler. A task that still cannot
finish is reported by name (:class:`Lost`), never dropped. While tasks run, the progress
shows which ones run on which worker. Ctrl-C cancels what has not finished and closes the
client (and the local cluster); what finished is already the driver's.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from edgekit._compat import is_verbose, require
from edgekit.distributed.executor import InProcess, Outcome, Task, run_task, warm_worker
from edgekit.distributed.settings import Placement
from edgekit.errors import ToolError

__all__ = ["DaskExecutor", "Lost", "opened"]

log = logging.getLogger("edgekit")
INSTALL_HINT = "pip install 'edgekit-tflite[distributed]'"
CONNECT_TIMEOUT_S = 20
# Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
# dynamic mmap threshold: every tensor above 128 KiB is then a fresh mmap, page-faulted in and
# unmapped again. Measured on the sample's sparsity-0.5 task: 54.6 s on such a worker (19.8 s
# of it in the kernel) against 35.4 s in the driver; 38.1 s on a worker started without it.
LOCAL_WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class Lost(Exception):
    """A task no worker could finish (its worker died too often, or it kept failing)."""

    def __init__(self, name: str, why: str):
        super().__init__(f"{name}: {why}")
        self.name, self.why = name, why


class DaskExecutor:
    """The distributed path: a client on the placement's cluster; ``run`` yields outcomes as they finish."""

    def __init__(self, placement: Placement, progress=None):
        require("distributed", "--workers and --scheduler need Dask's distributed package", hint=INSTALL_HINT)
        self.placement, self.progress, self.threads = placement, progress, placement.threads
        self.cluster = None
        self._warming: list = []  # warm-up futures, cancelled on close
        self.client = self._connect()
        self.name = placement.describe()

    def _connect(self):
        from distributed import Client

        _quiet_dask_in_the_driver()
        conn = self.placement.connection
        try:
            if conn is None:
                import dask
                from distributed import LocalCluster

                with dask.config.set(LOCAL_WORKER_CONFIG):
                    self.cluster = LocalCluster(
                        n_workers=self.placement.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR,
                    )  # fmt: skip
                return Client(self.cluster, set_as_default=False)
            client = Client(conn.address, security=_security(conn), timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
            return client
        except (OSError, TimeoutError) as exc:
            self.close()
            where = conn.address if conn else "127.0.0.1"
            raise ToolError(f"cannot reach a Dask scheduler with workers at {where}: {str(exc)[:160]}", hint="start it (dask scheduler; dask worker ADDRESS) or check the address") from None

    def warm(self, modules: Sequence[str]) -> list:
        """Start loading TensorFlow and ``modules`` on every worker there is now, without
        waiting (the flows call this before their float training, which the driver runs
        alone); the warm-ups' futures. One that fails is dropped: the first real task meets
        (and reports) the same error."""
        started = []
        for address in self.client.scheduler_info().get("workers", {}):
            key = f"edgekit-warm-{len(self._warming)}-{address}"  # one per call: Dask merges futures of one key
            started.append(self.client.submit(warm_worker, self.threads, tuple(modules), key=key, workers=[address], allow_other_workers=False, pure=False))
            self._warming.append(started[-1])
        return started

    def run(self, tasks: Iterable[Task], shared: Any) -> Iterator[Outcome | Lost]:
        """Each task's Outcome as it finishes (or Lost, naming it); cancels the rest on exit."""
        import time

        from distributed import as_completed

        tasks = list(tasks)
        sent = self.client.scatter(shared, broadcast=True, hash=False)
        futures = {self.client.submit(run_task, t, sent, self.threads, key=f"edgekit-{i}-{t.name}", retries=1, pure=False): t.name for i, t in enumerate(tasks)}
        with self.client.as_current():
            finished = as_completed(futures)
        try:
            while not finished.is_empty():
                with self.client.as_current():
                    batch = finished.next_batch(block=False)
                if not batch:
                    self._show_running(futures)
                    if self._abandoned():
                        yield from (Lost(name, f"no worker left on the cluster for {_no_worker_s():g} s") for f, name in futures.items() if not f.done())
                        return
                    time.sleep(0.5)
                for future in batch:
                    yield self._outcome(future, futures[future])
        finally:
            for future in futures:
                future.cancel()

    def _outcome(self, future, name: str) -> Outcome | Lost:
        from distributed import KilledWorker

        try:
            return future.result()
        except _cancelled() as exc:
            return Lost(name, f"the cluster dropped it, with the worker that held its inputs ({str(exc)[:120]})")
        except KilledWorker as exc:
            return Lost(name, f"its worker died while running it, {_tries()} times ({str(exc)[:120]})")
        except (OSError, TimeoutError) as exc:
            return Lost(name, f"the cluster lost it ({type(exc).__name__}: {str(exc)[:120]})")

    def _abandoned(self) -> bool:
        """True once the cluster has had no worker for ``edgekit.no-worker-timeout`` seconds
        (Dask config; env DASK_EDGEKIT__NO_WORKER_TIMEOUT): its tasks would wait forever."""
        import time

        if self.client.nthreads():
            self._workerless_since = None
            return False
        self._workerless_since = getattr(self, "_workerless_since", None) or time.monotonic()
        return time.monotonic() - self._workerless_since > _no_worker_s()

    def _show_running(self, futures: dict) -> None:
        if self.progress is None:
            return
        keys = {f.key: name for f, name in futures.items() if not f.done()}
        where = {keys[key]: _short(worker) for worker, running in self.client.processing().items() for key in running if key in keys}
        self.progress.running(where)

    def close(self) -> None:
        for future in self._warming:
            future.cancel()
        for part in (getattr(self, "client", None), self.cluster):
            if part is not None:
                try:
                    part.close()
                except Exception as exc:  # noqa: BLE001 - closing must not hide the run's own error
                    log.debug("closing %s: %s", part, exc)


@contextmanager
def opened(placement, progress=None) -> Iterator[Any]:
    """The executor for ``placement`` (in-process, or Dask), closed on the way out."""
    if placement.distributed:
        executor = DaskExecutor(placement, progress)
        log.info("running the tasks on %s (TensorFlow threads per task: %d)", executor.name, placement.threads)
    else:
        executor = InProcess(placement.threads, progress)
    try:
        yield executor
    finally:
        executor.close()


def _quiet_dask_in_the_driver() -> None:
    """Dask's scheduler and client log at INFO (a line per worker, a traceback when the client
    closes its comm). Nothing shows them until something calls ``logging.basicConfig``, and
    absl does on TensorFlow's first log line (loading a SavedModel): then every one of them
    reached the user's terminal. edgekit's own lines say what a run needs; ``--verbose``
    lets Dask's through."""
    if not is_verbose():
        logging.getLogger("distributed").setLevel(logging.ERROR)


def _security(conn):
    if conn.tls is None:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=conn.tls.ca, tls_client_cert=conn.tls.cert, tls_client_key=conn.tls.key, require_encryption=True)


def _cancelled() -> tuple[type[BaseException], ...]:
    """What a future raises when the scheduler forgot it (its scattered inputs died with the
    only workers holding them)."""
    from concurrent.futures import CancelledError

    try:
        from distributed.client import FutureCancelledError
    except ImportError:  # pragma: no cover - older distributed
        return (CancelledError,)
    return (FutureCancelledError, CancelledError)


def _no_worker_s() -> float:
    import dask

    return float(dask.config.get("edgekit.no-worker-timeout", 60))


def _tries() -> str:
    import dask

    return str(dask.config.get("distributed.scheduler.allowed-failures", 3) + 1)


def _short(worker: str) -> str:
    return worker.rpartition("//")[2]
