"""How long the upscattering tables take to build from scratch (issue #4: minutes, not hours, on 2 cores).

Run with timings:  pytest tests/benchmarks/test_tables_build.py --benchmark-enable -s
In the normal suite (--benchmark-disable) it builds once and prints the wall time it measured.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from dsscan.physics import scattering_tables as st

WORKERS = 2


@pytest.mark.slow
def test_bench_tables_build_from_scratch(benchmark, tmp_path):
    def build_and_save():
        start = time.perf_counter()
        tables = st.build_tables(workers=WORKERS)
        st.save_tables(tables, tmp_path / "tables.npz")
        return tables, time.perf_counter() - start

    tables, seconds = benchmark.pedantic(build_and_save, rounds=1, iterations=1)
    grid = st.DEFAULT_GRID
    print(f"\nscattering tables {grid.n_mS} x {grid.n_mnu4} x {len(st.TABLE_NAMES)} built from scratch "
          f"with {WORKERS} workers in {seconds:.1f} s")
    assert all(np.isfinite(getattr(tables, name)).all() for name in st.TABLE_NAMES)
