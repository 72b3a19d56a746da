"""The engine interface, and the work of one chunk that every engine runs wherever it likes."""
from __future__ import annotations

import os
import socket
import time
import urllib.parse
from typing import Callable, Iterable, Protocol

import numpy as np

import dsscan
from dsscan.caches import numba_cache_dir
from dsscan.config import Ranged, ScanSpec
from dsscan.constraints import load_constraint_set
from dsscan.evaluate import EvaluatedRows, evaluate, evaluate_rows
from dsscan.inputs import load_inputs
from dsscan.parameters import PARAMETER_NAMES, inside_domain
from dsscan.physics.scattering_tables import load_tables
from dsscan.plan import POINT_ID, chunk_batches, storage_draws
from dsscan.samplers import uniform_in_ranges
from lake.manifest import ChunkRecord
from lake.rows import sample_mask, sampled_flags, with_row_keys
from lake.writer import write_chunk

MAX_CHUNK_ATTEMPTS = 3  # tries per chunk, whether its worker died or it raised
KERNEL_BATCH_POINTS = 1 << 16  # points per kernel call within a chunk: its inputs and kept rows stay ~25 MB
CONNECT_TIMEOUT_SECONDS = 10  # for a cluster's address to accept a connection before a scan starts


class ChunkFailedError(RuntimeError):
    """A chunk failed on every one of its ``MAX_CHUNK_ATTEMPTS`` tries."""

    def __init__(self, index: int, cause: str):
        super().__init__(f"chunk {index} failed {MAX_CHUNK_ATTEMPTS} times; last failure: {cause}")
        self.index = index


class Engine(Protocol):
    name: str

    def check_reachable(self) -> None:
        """Raise a one-line ``ValueError`` if the cluster this engine would join cannot be reached
        (``check_address``); called before the scan touches the lake."""

    def run(self, spec: ScanSpec, indices: Iterable[int], on_done: Callable[[ChunkRecord], None]) -> None:
        """Process every chunk in ``indices`` (``process_chunk``), calling ``on_done`` with each
        result in the driver's process as soon as its file is complete, in any order. A chunk is
        tried at most ``MAX_CHUNK_ATTEMPTS`` times, then ``ChunkFailedError`` is raised."""


def check_address(address: str, default_port: int, what: str) -> None:
    """Open and close a TCP connection to the host and port of ``address`` (``host:port`` or
    ``scheme://host:port``) within ``CONNECT_TIMEOUT_SECONDS``, else a one-line ``ValueError``:
    a cluster that is not there fails the scan in seconds, not after the client's own retries."""
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port or default_port
    except ValueError:
        host = None
    if not host:
        raise ValueError(f"--address: expected host:port or scheme://host:port for the {what}, got {address!r}")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"--address {address}: the {what} at {host}:{port} does not answer ({reason}, waited up to "
            f"{CONNECT_TIMEOUT_SECONDS} s); start the cluster or correct --address. Nothing was written."
        ) from None


def worker_environment(on_this_machine: bool = True) -> dict[str, str]:
    """Environment for worker processes: one numba and OpenMP thread each (a worker is one core;
    numba ignores Ray's OMP_NUM_THREADS) and one kernel cache that every worker on a node reuses.
    The cache is this machine's ``NUMBA_CACHE_DIR`` (default ``dsscan.caches.numba_cache_dir()``);
    workers elsewhere get it only when it is set to another directory, since this machine's home
    may not exist there (they use their own machine's default, ``dsscan.jit``)."""
    environment = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    default = str(numba_cache_dir())
    chosen = os.environ.get("NUMBA_CACHE_DIR") or default
    if on_this_machine or chosen != default:
        environment["NUMBA_CACHE_DIR"] = chosen
    return environment


def cache_tables() -> None:
    """Build the upscattering tables into the cache here, once, rather than in every new worker."""
    load_tables()


def kernel_is_cached() -> bool:
    """Whether numba's disk cache (``NUMBA_CACHE_DIR``) holds the kernels compiled from the current
    source: numba's own index check, which drops an index written for another version of the file."""
    from dsscan.physics.kernel import batch_kernel, kept_kernel, screen_kernel

    try:
        return all(bool(kernel._cache._cache_file._load_index()) for kernel in (batch_kernel, kept_kernel, screen_kernel))
    except (AttributeError, OSError):  # numba's internals moved: assume it has to compile
        return False


def warm_up(constraints: str) -> None:
    """Load the tables, the compiled kernels and the compiled uniform sampler into this process
    (compiling into the cache once)."""
    empty = {name: np.empty(0) for name in PARAMETER_NAMES}
    evaluate(empty, constraints)
    evaluate_rows(empty, load_constraint_set(constraints), np.empty(0, dtype=bool))
    uniform_in_ranges(0, 0, 0, [Ranged(0.0, 1.0)])  # the storage draws run the same compiled loop


def provenance(spec: ScanSpec) -> dict:
    """What the stored numbers depend on besides the config: code, inputs and constraint set."""
    inputs, cset = load_inputs(), load_constraint_set(spec.constraints)
    return {
        "code_version": dsscan.__version__,
        "inputs": {"version": inputs.version, "sha256": inputs.sha256},
        "constraint_set": {"name": cset.name, "version": cset.version, "sha256": cset.sha256},
    }


def process_chunk(spec: ScanSpec, index: int) -> ChunkRecord:
    """Sample chunk ``index``, evaluate it, keep what the storage policy keeps, write its file.

    Under store = "allowed" or "allowed+sample" the chunk goes through the kernel
    ``KERNEL_BATCH_POINTS`` points at a time (drawn batch by batch by the uniform sampler) and the
    kernel copies out only the kept points (``dsscan.evaluate.evaluate_rows``): a worker's memory
    does not grow with the chunk size, and chunks can be large enough that a file's fixed costs
    (Parquet's per-column encoders, fsync) are small against the kernel's."""
    started = time.perf_counter()
    cset = load_constraint_set(spec.constraints)
    batch_points = spec.chunk_size if spec.store == "all" else KERNEL_BATCH_POINTS
    parts, ids, weights, flags = [], [], [], []
    points = outside = allowed = 0
    for batch, batch_weights in chunk_batches(spec, index, batch_points):
        draws = storage_draws(spec, int(batch[POINT_ID][0]), len(batch[POINT_ID]))
        inside = inside_domain(batch)
        points += len(inside)
        positions = np.arange(len(inside))  # of the evaluated points in the batch
        if not inside.all():  # rare: the ranges of most scans lie inside the domain, and nothing is copied
            outside += int(np.count_nonzero(~inside))
            positions = np.flatnonzero(inside)
            batch, draws = {name: column[inside] for name, column in batch.items()}, draws[inside]
        rows, part, passed = evaluate_rows({n: batch[n] for n in PARAMETER_NAMES}, cset,
                                           sample_mask(spec.store, spec.sample_rate, draws))
        parts.append(part)
        ids.append(batch[POINT_ID] if rows is None else batch[POINT_ID][rows])
        weights.append(batch_weights.at(positions if rows is None else positions[rows]))  # of the kept points only
        flags.append(sampled_flags(spec.store, part.verdicts[-1]))
        allowed += passed
    flags = np.concatenate(flags)
    table = with_row_keys(np.concatenate(ids), np.concatenate(weights), flags, EvaluatedRows.concatenate(parts).table(cset))
    metadata = {"scan": spec.name, "chunk": index, "config": spec.scan_config(), **provenance(spec)}
    written = write_chunk(spec.lake_root, spec.name, index, table, metadata)
    return ChunkRecord(
        index=index,
        file=written.name,
        points=points,
        outside_domain=outside,
        rows=written.rows,
        allowed=allowed,
        sampled=int(np.count_nonzero(flags)),
        sha256=written.sha256,
        seconds=time.perf_counter() - started,
    )
