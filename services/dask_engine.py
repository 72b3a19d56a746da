"""The Dask engine: ``process_chunk`` as ``dask.distributed`` tasks on workers warmed by a plugin.

A task is a chunk index, a result a ``ChunkRecord``. The scheduler reruns the chunk of a worker
that died on another worker (a local cluster's nanny restarts the dead one) and ``retries`` reruns
a chunk that raised; both are bounded by ``MAX_CHUNK_ATTEMPTS``, then the scan stops with
``ChunkFailedError``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections import Counter
from typing import Callable, Iterable, Iterator

import dask
from distributed import Client, Future, LocalCluster, WorkerPlugin, as_completed

from dsscan.config import ScanSpec
from lake.manifest import ChunkRecord
from services.engine import (
    CONNECT_TIMEOUT_SECONDS, MAX_CHUNK_ATTEMPTS, ChunkFailedError, cache_tables, check_address, process_chunk, warm_up, worker_environment,
)

# The scheduler's HTTP server (its dashboard when bokeh is installed): on this machine only, on a
# free port. Without an address it still takes 8787, and falls back with a warning when that is busy.
LOCAL_ANY_PORT = "127.0.0.1:0"
SCHEDULER_PORT = 8786  # dask's default scheduler port
IN_FLIGHT_PER_WORKER = 2  # chunks handed to the scheduler per worker: enough to keep every worker busy


class KernelWarmUp(WorkerPlugin):
    """Loads the tables and the compiled kernel on every worker, including ones started later."""

    name = "dsscan-kernel-warm-up"

    def __init__(self, constraints: str):
        self.constraints = constraints

    def setup(self, worker) -> None:
        warm_up(self.constraints)


class DriverHandlesCtrlC(WorkerPlugin):
    """Ctrl-C in a terminal reaches the worker processes of a local cluster too; the driver stops
    them itself, so they ignore it rather than die with a traceback each."""

    name = "dsscan-driver-handles-ctrl-c"

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskEngine:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes, or the scheduler at ``address``."""

    name = "dask"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.workers = workers
        self.address = address

    def check_reachable(self) -> None:
        if self.address:
            check_address(self.address, SCHEDULER_PORT, "Dask scheduler")

    def run(self, spec: ScanSpec, indices: Iterable[int], on_done: Callable[[ChunkRecord], None]) -> None:
        pending = list(indices)[::-1]  # popped from the end: ascending chunk order
        if not pending:
            return
        with self._client() as client:
            client.register_plugin(KernelWarmUp(spec.constraints))
            workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
            chunk_of: dict[Future, int] = {}

            cancelled: Counter[int] = Counter()

            def submit() -> Future:
                index = pending.pop()
                future = client.submit(process_chunk, spec, index, pure=False, retries=MAX_CHUNK_ATTEMPTS - 1)
                chunk_of[future] = index
                return future

            done = as_completed([submit() for _ in range(min(len(pending), IN_FLIGHT_PER_WORKER * workers))])
            for future in done:
                index = chunk_of.pop(future)
                if future.status == "cancelled":  # the scheduler dropped it (e.g. while a killed worker was replaced)
                    cancelled[index] += 1
                    if cancelled[index] >= MAX_CHUNK_ATTEMPTS:
                        raise ChunkFailedError(index, f"cancelled {MAX_CHUNK_ATTEMPTS} times by the Dask scheduler")
                    pending.append(index)
                    done.add(submit())
                    continue
                if future.status != "finished":
                    exc = future.exception()
                    raise ChunkFailedError(index, f"{type(exc).__name__}: {exc}".splitlines()[0]) from exc
                if pending:
                    done.add(submit())
                on_done(future.result())

    @contextlib.contextmanager
    def _client(self) -> Iterator[Client]:
        if self.address:
            try:
                client = Client(self.address, timeout=CONNECT_TIMEOUT_SECONDS)
            except OSError as exc:  # check_reachable passed, yet it is no Dask scheduler that answers
                raise ValueError(f"--address {self.address}: cannot join the Dask scheduler: {str(exc).splitlines()[0]}") from None
            with client:
                yield client
        else:
            with local_cluster_client(self.workers or os.cpu_count()) as client:
                yield client


@contextlib.contextmanager
def local_cluster_client(workers: int) -> Iterator[Client]:
    """A client of a new ``LocalCluster`` of ``workers`` single-threaded worker processes with
    ``worker_environment()``, closed on exit."""
    cache_tables()  # once here, not once per worker
    # A worker's death counts against the chunks it held; the scheduler runs in this process.
    with dask.config.set({"distributed.scheduler.allowed-failures": MAX_CHUNK_ATTEMPTS - 1}), LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True,
        # Quiet even on errors: a chunk's failure reaches the driver through its future, and closing
        # the cluster on Ctrl-C can make a worker's last heartbeat log a traceback.
        dashboard_address=LOCAL_ANY_PORT, env=worker_environment(), silence_logs=logging.CRITICAL,
    ) as cluster, Client(cluster) as client:
        client.register_plugin(DriverHandlesCtrlC())
        yield client
