"""Where a sweep or fit runs: in this process, on ``--workers N`` local processes, or on the
Dask cluster at ``--scheduler`` (or the recipe's ``[distributed] scheduler``).

Checked before anything is imported or trained: the worker count against this machine's
available memory (about 1.5 GiB per TensorFlow worker), and the scheduler's address against
the TLS rule (``edgekit.distributed.address``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from edgekit.distributed.address import Connection, TlsFiles, decide
from edgekit.errors import InputError

__all__ = ["GIB_PER_WORKER", "Placement", "available_memory", "check_workers", "placement"]

GIB_PER_WORKER = 1.5  # measured: 1.6 GB peak RSS per worker on the sample sweep (model, data, converters)


@dataclass(frozen=True)
class Placement:
    """``workers`` local processes, or the cluster at ``connection``; neither: this process.
    ``threads``: TensorFlow's threads per task (the same in every process)."""

    workers: int | None = None
    connection: Connection | None = None
    threads: int = 1

    @property
    def distributed(self) -> bool:
        return self.workers is not None or self.connection is not None

    def describe(self) -> str:
        if self.connection is not None:
            return f"the Dask cluster at {self.connection.address}"
        return f"{self.workers} local Dask worker(s)" if self.workers else "this process"


def placement(
    *, workers: int | None, scheduler: str | None, tls: tuple[str | None, str | None, str | None] = (None, None, None),
    insecure: bool = False, recipe_scheduler: str | None = None, threads: int = 1,
) -> Placement:  # fmt: skip
    """The run's placement from the flags (which win) and the recipe's ``[distributed]`` table."""
    if workers is not None and scheduler is not None:
        raise InputError(f"--workers {workers} and --scheduler {scheduler}: give one", hint="--workers starts a cluster on this machine; --scheduler uses one that is running")
    if workers is not None:
        if insecure or any(tls):
            raise InputError(f"--workers {workers} starts its own cluster on 127.0.0.1: --tls-*/--insecure do not apply", hint="leave them out, or use --scheduler")
        check_workers(workers)
        return Placement(workers=workers, threads=threads)
    address = scheduler or recipe_scheduler
    files = _tls_files(tls)
    if address is None:
        if files is not None or insecure:
            raise InputError("--tls-*/--insecure given without a scheduler", hint="add --scheduler tls://HOST:PORT, or leave them out")
        return Placement(threads=threads)
    flag = "--scheduler" if scheduler else "[distributed] scheduler"
    return Placement(connection=decide(address, tls=files, insecure=insecure, flag=flag), threads=threads)


def check_workers(workers: int) -> None:
    """At least one worker, and no more than this machine's available memory holds."""
    if workers < 1:
        raise InputError(f"--workers {workers}: at least 1 worker", hint="e.g. --workers 2; leave it out to run in this process")
    available = available_memory()
    if available is not None and workers * GIB_PER_WORKER > available / 2**30:
        most = max(1, int(available / 2**30 / GIB_PER_WORKER))
        raise InputError(
            f"--workers {workers}: each TensorFlow worker needs about {GIB_PER_WORKER:g} GiB and this machine has {available / 2**30:.1f} GiB available",
            hint=f"use --workers {most} or fewer",
        )


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux's MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _tls_files(tls: tuple[str | None, str | None, str | None]) -> TlsFiles | None:
    ca, cert, key = tls
    if ca is None and cert is None and key is None:
        return None
    missing = [flag for flag, value in zip(("--tls-ca", "--tls-cert", "--tls-key"), tls) if value is None]
    if missing:
        raise InputError(f"TLS needs --tls-ca, --tls-cert and --tls-key; missing {', '.join(missing)}", hint="give all three PEM files")
    return TlsFiles(str(ca), str(cert), str(key))
