"""Where dsscan keeps what it builds once per machine: the upscattering tables and numba's compiled
loops (never inside the installed package, which may be read-only and is no place for a run's output)."""
from __future__ import annotations

import os
import pathlib


def cache_dir() -> pathlib.Path:
    """``$DSSCAN_CACHE_DIR``, else ``~/.cache/dsscan``."""
    return pathlib.Path(os.environ.get("DSSCAN_CACHE_DIR") or pathlib.Path.home() / ".cache" / "dsscan")


def numba_cache_dir() -> pathlib.Path:
    """Where this machine's compiled loops go unless ``NUMBA_CACHE_DIR`` says otherwise."""
    return cache_dir() / "numba"
