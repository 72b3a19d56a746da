"""Execution engines behind one interface (``services.engine.Engine``).

A task is a chunk index; a result is a ``lake.manifest.ChunkRecord`` (rows, allowed rows,
file, checksum, seconds). ``services.driver.run_scan`` owns the manifest; engines only
evaluate and write chunks, every one with ``services.engine.process_chunk``.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine module imports the kernel's stack; the command line starts without it
    from services.engine import Engine

ENGINES = ("ray", "dask", "local")
AUTO = "auto"  # the default: local for a scan that one core finishes sooner than Ray starts, else ray
DEFAULT_ENGINE = AUTO
RAY_SINGLE_NODE_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # off: every server of a local cluster on 127.0.0.1
# The largest scan ``auto`` runs in this process, per storage policy (docs/cli.md, "Choosing an
# engine"): two Ray workers, whose cluster takes T to start, catch up with one core after
# P = T / (1/r1 - 1/r2) points, for the rates r1 (one core) and r2 (two workers). From `dsscan
# throughput` on this 2-core machine idle (docs/engines.md): allowed+sample r1 = 4.5e6/s,
# r2 = 8.4e6/s, T = 5.4 s -> 5.2e7 points; store = all r1 = 4.2e5/s, r2 = 8.3e5/s, T = 6.4 s ->
# 5.5e6 points. Loaded ~7-fold by other work, real scans of configs/datta2024.toml gave 4e7 and 2e6
# (4e6 points: 2.7 s here, 18.6 s on Ray; store = all, 2e5 points: 2.1 s here, 14.5 s on Ray).
# With more cores Ray catches up sooner, by at most half.
LOCAL_MAX_POINTS = {"all": 5_000_000, "allowed": 50_000_000, "allowed+sample": 50_000_000}


def choose_engine(requested: str, points: int, store: str, workers: int | None, address: str | None) -> tuple[str, str]:
    """The engine to run a scan on and, for ``auto``, why: a cluster address names its kind
    (``tcp://`` is a Dask scheduler), several workers mean Ray, else the scan's size decides."""
    if requested != AUTO:
        return requested, ""
    if address:
        return ("dask" if address.startswith("tcp://") else "ray"), "auto: a cluster address was given"
    if workers is not None:
        return ("local", "auto: one worker") if workers == 1 else ("ray", f"auto: {workers} workers")
    limit = LOCAL_MAX_POINTS[store]
    if points <= limit:
        return "local", f"auto: {points:,} points, at most {limit:,} with store = {store}"
    return "ray", f"auto: {points:,} points, more than {limit:,} with store = {store}"


def make_engine(name: str, workers: int | None = None, address: str | None = None) -> Engine:
    """The engine ``name``; Ray and Dask are imported only when chosen (each takes a while to import)."""
    if workers is not None and workers < 1:
        raise ValueError(f"--workers: expected an integer >= 1, got {workers}")
    if name == "local":
        if (workers or 1) != 1 or address:
            raise ValueError("--engine local runs every chunk in this process: it takes no --workers or --address")
        from services.local import LocalEngine

        return LocalEngine()
    if name == "ray":
        if not address:  # a cluster of its own: loopback only (Ray reads the switch on import)
            os.environ.setdefault(RAY_SINGLE_NODE_SWITCH, "0")
        from services.ray_engine import RayEngine

        return RayEngine(workers, address)
    if name == "dask":
        from services.dask_engine import DaskEngine

        return DaskEngine(workers, address)
    raise ValueError(f"unknown engine {name!r}; expected one of {[AUTO, *ENGINES]}")
