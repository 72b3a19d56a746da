"""The Ray engine: a supervised pool of actors, each holding the tables and the compiled kernel once.

A task is a chunk index, a result a ``ChunkRecord``. ``ray.util.ActorPool`` can be wedged by one
dead actor (ray#50313), so the pool is supervised here instead: the driver waits on the
in-flight calls with ``ray.wait``; an actor whose process died is killed and replaced and its
chunk goes back in the queue; a chunk that raised goes back too; after ``MAX_CHUNK_ATTEMPTS``
tries of one chunk the scan stops with ``ChunkFailedError``. A replacement gets chunks only once
it is ready: when a whole node is lost its CPUs are gone, and a chunk queued on a replacement
that can never be placed would wait for ever.

A local cluster listens on 127.0.0.1 only (docs/reliability.md): Ray gives a new node the
machine's routable address and binds its servers (GCS, raylet, object manager, workers, dashboard
and runtime-env agents, metrics export) to it or to every interface, unless its multi-node
switch ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is off (its default on Windows and macOS): then the
node address is 127.0.0.1 and every server binds to the loopback interface. Ray reads the switch
once, on import, so ``services.make_engine`` sets it before importing this module, and only for a
cluster of the scan's own: a driver that joins one (``--address``) must be reachable from the other
nodes, so it keeps Ray's defaults.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter, deque
from typing import Callable, Iterable, Iterator

import ray  # services.make_engine sets the single-node switch first when this process starts its own cluster
from ray.exceptions import RayActorError, RayError, RayTaskError

from dsscan.config import ScanSpec
from dsscan.interrupt import sigterm_as_ctrl_c
from lake.manifest import ChunkRecord
from services.engine import (
    MAX_CHUNK_ATTEMPTS, ChunkFailedError, cache_tables, check_address, process_chunk, warm_up, worker_environment,
)

logger = logging.getLogger(__name__)
RAY_ADDRESS_WORDS = ("auto", "local")  # addresses ray.init resolves itself
RAY_GCS_PORT, RAY_CLIENT_PORT = 6379, 10001  # Ray's defaults for `ray start --head` and its client server


@ray.remote(num_cpus=1, max_restarts=0)  # the supervisor replaces dead actors itself
class ChunkWorker:
    """One core: tables and kernel loaded once in ``__init__``, then one chunk per call (the spec
    comes with each call, through the object store: an adaptive round's carries its proposal)."""

    def __init__(self, constraints: str):
        warm_up(constraints)

    def process(self, spec: ScanSpec, index: int) -> ChunkRecord:
        return process_chunk(spec, index)


def _failure(exc: Exception) -> str:
    """One line on why a chunk failed."""
    if isinstance(exc, RayTaskError) and exc.cause is not None:
        return f"{type(exc.cause).__name__}: {exc.cause}".splitlines()[0]
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


class RayEngine:
    """``ray.init`` starts a local cluster of ``workers`` CPUs, or joins the cluster at ``address``
    (then ``workers`` defaults to the cluster's CPUs). A cluster this engine started, it stops;
    one already running in this process (``ray.is_initialized()``) it uses and leaves running."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.workers = workers
        self.address = address
        self._kept: list | None = None  # actors that live on between runs, inside a session

    def check_reachable(self) -> None:
        """A cluster address (``host:port`` of its GCS, or ``ray://host:port`` of its client server)
        must accept a connection; ``auto`` is left to Ray, which fails at once when it finds none."""
        if self.address and self.address not in RAY_ADDRESS_WORDS:
            default = RAY_CLIENT_PORT if self.address.startswith("ray://") else RAY_GCS_PORT
            check_address(self.address, default, "Ray cluster")

    def run(self, spec: ScanSpec, indices: Iterable[int], on_done: Callable[[ChunkRecord], None]) -> None:
        pending = deque(indices)
        if not pending:
            return
        started_here = not ray.is_initialized()
        if started_here:
            self._start()
        try:
            self._supervise(spec, pending, on_done)
        finally:
            if started_here:
                ray.shutdown()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One cluster for several ``run`` calls (the rounds of an adaptive scan): started here
        unless one is running, and stopped on exit if it was."""
        started_here = not ray.is_initialized()
        if started_here:
            self._start()
        self._kept = []
        try:
            yield
        finally:
            for actor in self._kept:
                ray.kill(actor)
            self._kept = None
            if started_here:
                ray.shutdown()

    def _start(self) -> None:
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.address:
            try:
                ray.init(address=self.address, **quiet)
            except ConnectionError as exc:  # check_reachable passed, yet it is no Ray cluster that answers
                raise ValueError(f"--address {self.address}: cannot join the Ray cluster: {str(exc).splitlines()[0]}") from None
        else:
            cache_tables()  # once here, not once per actor
            # "local": a new cluster, even where `ray start` left one that ray.init() would join
            ray.init(address="local", num_cpus=self.workers or os.cpu_count(), include_dashboard=False, **quiet)
        sigterm_as_ctrl_c()  # ray.init replaced it with a sys.exit that leaves the manifest 'running'

    def _supervise(self, spec: ScanSpec, pending: deque[int], on_done: Callable[[ChunkRecord], None]) -> None:
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        environment = worker_environment(on_this_machine=not self.address)
        new_worker = ChunkWorker.options(runtime_env={"env_vars": environment}).remote
        actors = self._kept if self._kept is not None else []
        actors += [new_worker(spec.constraints) for _ in range(min(workers, len(pending)) - len(actors))]
        spec_ref = ray.put(spec)
        idle = list(actors)
        running: dict[ray.ObjectRef, tuple[int, ray.actor.ActorHandle]] = {}
        starting: dict[ray.ObjectRef, ray.actor.ActorHandle] = {}  # replacements, idle once placed and ready
        failures: Counter[int] = Counter()

        def retry(index: int, exc: Exception) -> None:
            failures[index] += 1
            if failures[index] >= MAX_CHUNK_ATTEMPTS:
                raise ChunkFailedError(index, _failure(exc)) from exc
            logger.warning("chunk %d failed (%s); trying it again (%d of %d)",
                           index, _failure(exc), failures[index] + 1, MAX_CHUNK_ATTEMPTS)
            pending.appendleft(index)

        def dispatch() -> None:
            while pending and idle:
                actor = idle.pop()
                index = pending.popleft()
                running[actor.process.remote(spec_ref, index)] = (index, actor)

        def replace(actor: ray.actor.ActorHandle) -> None:
            ray.kill(actor)
            actors.remove(actor)
            actors.append(new_worker(spec.constraints))
            starting[actors[-1].__ray_ready__.remote()] = actors[-1]

        try:
            while pending or running:
                dispatch()
                if not (running or starting):
                    raise ChunkFailedError(pending[0], "no worker could be started on the cluster")
                [ref], _ = ray.wait([*running, *starting], num_returns=1)
                if ref in starting:
                    actor = starting.pop(ref)
                    try:
                        ray.get(ref)
                    except RayError:  # died before it was ready: the scan goes on with the others
                        actors.remove(actor)
                    else:
                        idle.append(actor)
                    continue
                index, actor = running.pop(ref)
                try:
                    record = ray.get(ref)
                except RayActorError as exc:  # the process (or its node) died: a fresh actor takes its place
                    replace(actor)
                    retry(index, exc)
                except RayError as exc:  # the chunk raised (RayTaskError) or Ray lost its result; the actor lives
                    idle.append(actor)
                    retry(index, exc)
                else:
                    idle.append(actor)
                    dispatch()  # the actor works on while the driver records
                    on_done(record)
        finally:
            if self._kept is None:  # inside a session the actors serve the next run too
                for actor in actors:
                    ray.kill(actor)
