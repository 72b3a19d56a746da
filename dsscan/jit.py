"""numba's ``njit`` for dsscan's compiled loops, cached in ``$NUMBA_CACHE_DIR`` or, when that is not
set, in ``dsscan.caches.numba_cache_dir()``: numba's own default, the ``__pycache__`` beside the
installed sources, is read-only in an image and no place for what a run produces. Imported before
any loop is decorated (numba picks a function's cache directory then), so the command line, the
Python API and every worker share one cache per machine. The variable is set for the whole process
(numba reads no other per-function setting), so other ``cache=True`` functions in it and the
processes it starts cache there too."""
from __future__ import annotations

import os

from numba import njit
from numba.core import config as _numba_config

from dsscan.caches import numba_cache_dir

if not os.environ.get("NUMBA_CACHE_DIR") and not _numba_config.CACHE_DIR:  # nor in .numba_config.yaml
    os.environ["NUMBA_CACHE_DIR"] = str(numba_cache_dir())
    _numba_config.reload_config()  # numba read its environment when it was imported

__all__ = ["njit"]
