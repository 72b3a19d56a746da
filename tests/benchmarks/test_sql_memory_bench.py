"""Peak memory of ``dsscan sql "select * from points" --output all.parquet`` on a 10^7-row lake (goal:
under 1 GiB), the child's ``ru_maxrss`` beside the result's size in memory. Run with ``-s``:

    python -m pytest tests/benchmarks/test_sql_memory_bench.py -s -m slow

The lake is one real 10^5-point chunk (store = "all") hard-linked as 100 chunks (tests/lakes.py)."""
from __future__ import annotations

import os
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import config_doc, run_cli
from lakes import replicated_scan, run_measuring_peak_rss
from processes import DSSCAN

CHUNK_POINTS, COPIES = 100_000, 100


@pytest.mark.slow
def test_select_star_of_ten_million_rows_into_parquet(write_config, tmp_path):
    config = write_config(config_doc(scan={"name": "big", "points": CHUNK_POINTS, "chunk_size": CHUNK_POINTS}))
    assert run_cli("scan", config, "--lake", tmp_path / "one", "--engine", "local", "--no-progress") == 0
    rows = replicated_scan(tmp_path / "one", "big", tmp_path / "lake", COPIES)
    result_MiB = pq.read_table(next((tmp_path / "lake" / "scan=big").iterdir())).nbytes * COPIES / 2**20
    started = time.perf_counter()
    status, peak_MiB = run_measuring_peak_rss(
        [*DSSCAN, "sql", "select * from points", "--lake", str(tmp_path / "lake"), "--output", str(tmp_path / "all.parquet")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    seconds = time.perf_counter() - started
    assert status == 0 and pq.ParquetFile(tmp_path / "all.parquet").metadata.num_rows == rows
    print(f"\nselect * of {rows:,} rows into Parquet: peak RSS {peak_MiB:,.0f} MiB for a {result_MiB:,.0f} MiB result "
          f"({peak_MiB / result_MiB:.3f} of it), {seconds:.0f} s")
