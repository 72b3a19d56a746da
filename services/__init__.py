"""Execution engines behind one interface (``services.engine.Engine``).

A task is a chunk index; a result is a ``lake.manifest.ChunkRecord`` (rows, allowed rows,
file, checksum, seconds). ``services.driver.run_scan`` owns the manifest; engines only
evaluate and write chunks.
"""
from services.engine import Engine
from services.local import LocalEngine

ENGINES: dict[str, type[Engine]] = {"local": LocalEngine}


def make_engine(name: str) -> Engine:
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}") from None
