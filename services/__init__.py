"""Execution engines behind one interface (``services.engine.Engine``).

A task is a chunk index; a result is a ``lake.manifest.ChunkRecord`` (rows, allowed rows,
file, checksum, seconds). ``services.driver.run_scan`` owns the manifest; engines only
evaluate and write chunks, every one with ``services.engine.process_chunk``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine module imports the kernel's stack; the command line starts without it
    from services.engine import Engine

ENGINES = ("ray", "dask", "local")
DEFAULT_ENGINE = "ray"


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
        from services.ray_engine import RayEngine

        return RayEngine(workers, address)
    if name == "dask":
        from services.dask_engine import DaskEngine

        return DaskEngine(workers, address)
    raise ValueError(f"unknown engine {name!r}; expected one of {list(ENGINES)}")
