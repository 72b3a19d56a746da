"""What checking a lake's files costs a query: the reason ``dsscan sql`` verifies page CRC32s and
not every file's sha256 (docs/reliability.md, "Faults and the way back").

``python tests/benchmarks/test_checksum_bench.py`` writes 40 chunks of 50 000 evaluated points
(store = all, the lake's Parquet settings, page checksums on) and prints, side by side:

- sha256 of every recorded file (what ``lake verify`` and ``status`` do),
- the Figure-3 histogram query and a full read of every column, with and without page-CRC checks.

Under pytest (slow) the same code runs on two small chunks, so it stays tested.
"""
from __future__ import annotations

import pathlib
import sys
import tempfile
import time

import duckdb
import pyarrow as pa
import pytest
import pyarrow.dataset as ds

from lake.atomic import sha256_of
from lake.catalog import verifying_parquet
from lake.writer import write_chunk
from test_lake_format_bench import FIGURE_3, real_tables

FULL_READ = "SELECT * FROM points"


def _seconds(query: str, dataset: ds.Dataset, repeats: int) -> tuple[float, pa.Table]:
    """Best of ``repeats`` runs of ``query`` over ``dataset`` registered as ``points``."""
    con = duckdb.connect()
    con.register("points", dataset)
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = con.sql(query).to_arrow_table()
        best = min(best, time.perf_counter() - started)
    return best, result


def measure(chunks: int, rows: int, repeats: int) -> dict[str, float]:
    table = real_tables((rows,))[0]
    with tempfile.TemporaryDirectory() as root:
        files = [pathlib.Path(root) / "scan=bench" / write_chunk(root, "bench", i, table, {"chunk": i}).name
                 for i in range(chunks)]
        started = time.perf_counter()
        for path in files:
            sha256_of(path)
        report = {"MB": sum(p.stat().st_size for p in files) / 1e6, "sha256 of every file": time.perf_counter() - started}
        for name, query in (("figure 3", FIGURE_3), ("full read", FULL_READ)):
            plain, plain_result = _seconds(query, ds.dataset([str(p) for p in files], format="parquet"), repeats)
            checked, checked_result = _seconds(query, ds.dataset([str(p) for p in files], format=verifying_parquet()), repeats)
            assert checked_result.sort_by([(c, "ascending") for c in checked_result.column_names[:3]]).equals(
                plain_result.sort_by([(c, "ascending") for c in plain_result.column_names[:3]]))
            report |= {f"{name}, unchecked": plain, f"{name}, page CRCs checked": checked}
    return report


@pytest.mark.slow  # evaluating its points loads the kernel and tables: seconds
def test_checksum_costs_run_and_agree():
    report = measure(chunks=2, rows=1_000, repeats=1)
    assert report["sha256 of every file"] > 0


if __name__ == "__main__":
    chunks, rows = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (40, 50_000)
    report = measure(chunks, rows, repeats=3)
    print(f"{chunks} files, {chunks * rows:,} rows, {report.pop('MB'):.0f} MB")
    sha = report["sha256 of every file"]
    for name, seconds in report.items():
        print(f"  {name:<32} {seconds * 1e3:8.0f} ms   ({seconds / sha:5.2f} x sha256 of every file)")
