"""Table format and Parquet settings for the lake, measured on the real schema.

``python tests/benchmarks/test_lake_format_bench.py`` prints, for 200 chunks of 1000-50000
evaluated points each:

- the current lake (one Parquet file per chunk + the driver's JSON manifest) against Delta Lake
  (``deltalake``, one append commit per chunk keyed by an application transaction ``(scan, chunk)``),
  with one writer and with two writer processes; per-chunk commit cost, rows/s, and the cost of a
  Figure-3 2-D histogram in DuckDB over a registered pyarrow dataset of each;
- Parquet write rows/s and file size for each compression, float dictionaries on or off, and
  row-group size.

Under pytest the same code runs on a few small chunks, so it stays tested.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import pathlib
import statistics
import sys
import tempfile
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import ColumnProperties, CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake

import dsscan
from dsscan.bench import sample_points
from dsscan.config import load_config
from dsscan.parameters import PARAMETER_NAMES, inside_domain
from lake.manifest import ChunkRecord, Manifest
from lake.rows import with_row_keys
from lake.writer import write_chunk
from services.engine import provenance

REPO = pathlib.Path(__file__).resolve().parents[2]
CHUNK_ROWS = (1_000, 5_000, 20_000, 50_000)
SCAN = "bench"
SMALL_COMMITS = 20  # one-row chunks appended after the scan: what a commit alone costs
# Delta written as the lake writes Parquet (zstd, no dictionaries), so only the table format differs
DELTA_WRITER = WriterProperties(compression="ZSTD", default_column_properties=ColumnProperties(dictionary_enabled=False))
FIGURE_3 = """
SELECT scenario, floor(log10(BR_Bp_Kpnunu) * 20) AS bx, floor(log10(BR_KL_pi0nunu) * 20) AS by, count(*) AS n
FROM points WHERE BR_Bp_Kpnunu > 0 AND BR_KL_pi0nunu > 0 GROUP BY ALL
"""


def real_tables(sizes: tuple[int, ...]) -> list[pa.Table]:
    """Evaluated, stored (store = all) tables of the paper-001 ranges, one per size."""
    spec = load_config(REPO / "configs" / "datta2024.toml")
    points = sample_points(spec, 2 * max(sizes))
    inside = inside_domain(points)
    params = {n: points[n][inside][: max(sizes)] for n in PARAMETER_NAMES}
    evaluated = dsscan.evaluate(params, spec.constraints)
    ids = np.arange(evaluated.num_rows, dtype=np.uint64)
    full = with_row_keys(ids, np.ones(len(ids)), np.zeros(len(ids), dtype=bool), evaluated)
    return [full.slice(0, n) for n in sizes]


def chunk_table(tables: list[pa.Table], index: int) -> pa.Table:
    """Chunk ``index``: a table of the cycle with point ids offset so that they stay unique."""
    table = tables[index % len(tables)]
    ids = pa.array(np.arange(table.num_rows, dtype=np.uint64) + index * 100_000)
    return table.set_column(0, table.schema.field("point_id"), ids)


def parquet_chunk(root: str, index: int, tables: list[pa.Table]) -> tuple[ChunkRecord, float]:
    """Write chunk ``index`` as the lake does; the record and the seconds the file took."""
    started = time.perf_counter()
    written = write_chunk(root, SCAN, index, chunk_table(tables, index), {"scan": SCAN, "chunk": index})
    seconds = time.perf_counter() - started
    record = ChunkRecord(index, written.name, written.rows, 0, written.rows, 0, 0, written.sha256, seconds)
    return record, seconds


def run_parquet_manifest(root: str, n_chunks: int, tables: list[pa.Table], workers: int) -> dict:
    """Workers write chunk files; this process (the driver) records each in the manifest."""
    spec = load_config(REPO / "configs" / "datta2024.toml")  # a manifest as a scan writes it, readable by Manifest.load
    manifest = Manifest(scan=SCAN, config=spec.scan_config(), provenance=provenance(spec),
                        chunks_planned=n_chunks + SMALL_COMMITS)
    pathlib.Path(root, f"scan={SCAN}").mkdir(parents=True)
    commits = []
    started = time.perf_counter()
    if workers == 1:
        results = (parquet_chunk(root, i, tables) for i in range(n_chunks))
    else:
        pool = writer_pool(workers, tables)
        started = time.perf_counter()
        results = pool.imap_unordered(_parquet_chunk_in_worker, [(root, i) for i in range(n_chunks)])
    for record, _ in results:
        t = time.perf_counter()
        manifest.record(record)
        manifest.save(root)
        commits.append(time.perf_counter() - t)
    total = time.perf_counter() - started
    if workers > 1:
        pool.close()
        pool.join()
    one_row = [table.slice(0, 1) for table in tables]
    small = []
    for index in range(n_chunks, n_chunks + SMALL_COMMITS):
        t = time.perf_counter()
        manifest.record(parquet_chunk(root, index, one_row)[0])
        manifest.save(root)
        small.append(time.perf_counter() - t)
    return {"seconds": total, "commits": commits, "small": small}


def delta_append(uri: str, index: int, tables: list[pa.Table]) -> tuple[bool, float, float]:
    """Append chunk ``index`` unless its application transaction is already committed;
    (written, seconds of the whole append, seconds of the idempotency check)."""
    app_id = f"dsscan/{SCAN}/chunk={index}"
    started = time.perf_counter()
    try:
        done = DeltaTable(uri).transaction_version(app_id) is not None
    except Exception:  # noqa: BLE001 - no table yet: the first append creates it
        done = False
    checked = time.perf_counter() - started
    if not done:
        write_deltalake(
            uri, chunk_table(tables, index), mode="append", writer_properties=DELTA_WRITER,
            commit_properties=CommitProperties(app_transactions=[Transaction(app_id, 1)], max_commit_retries=100),
        )
    return not done, time.perf_counter() - started, checked


def run_delta(uri: str, n_chunks: int, tables: list[pa.Table], workers: int) -> dict:
    delta_append(uri, 0, tables)  # creates the table, as a scan's start would
    started = time.perf_counter()
    if workers == 1:
        results = [delta_append(uri, i, tables) for i in range(1, n_chunks)]
    else:
        with writer_pool(workers, tables) as pool:
            started = time.perf_counter()
            results = pool.map(_delta_append_in_worker, [(uri, i) for i in range(1, n_chunks)], chunksize=1)
    total = time.perf_counter() - started
    retried = delta_append(uri, n_chunks // 2, tables)
    assert not retried[0], "a retried chunk must not be appended twice"
    one_row = [table.slice(0, 1) for table in tables]
    small = [delta_append(uri, i, one_row)[1] for i in range(n_chunks, n_chunks + SMALL_COMMITS)]
    return {"seconds": total, "commits": [r[1] for r in results], "small": small}


_WORKER_TABLES: list[pa.Table] = []


def writer_pool(workers: int, tables: list[pa.Table]) -> multiprocessing.pool.Pool:
    """Spawned (not forked: delta-rs's runtime threads do not survive a fork) workers holding ``tables``."""
    pool = multiprocessing.get_context("spawn").Pool(workers, _hold_tables, (tables,))
    pool.map(time.sleep, [0.2] * workers, chunksize=1)  # every worker started before the clock starts
    return pool


def _hold_tables(tables: list[pa.Table]) -> None:
    _WORKER_TABLES[:] = tables


def _parquet_chunk_in_worker(job: tuple[str, int]) -> tuple[ChunkRecord, float]:
    return parquet_chunk(job[0], job[1], _WORKER_TABLES)


def _delta_append_in_worker(job: tuple[str, int]) -> tuple[bool, float, float]:
    return delta_append(job[0], job[1], _WORKER_TABLES)


def figure_3_seconds(dataset: ds.Dataset, repeats: int = 5) -> float:
    """Median seconds of the Figure-3 histogram over ``dataset`` registered in DuckDB as ``points``."""
    con = duckdb.connect()
    con.register("points", dataset)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        con.execute(FIGURE_3).fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compare_formats(n_chunks: int, sizes: tuple[int, ...] = CHUNK_ROWS) -> list[dict]:
    """One row per (format, writers): rows/s; the driver's manifest update or the writer's whole Delta
    append per chunk (median, and median of the last 20); a one-row chunk's write and commit; query."""
    tables = real_tables(sizes)
    rows = sum(chunk_table(tables, i).num_rows for i in range(n_chunks))
    all_rows = rows + SMALL_COMMITS
    report = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            run = run_parquet_manifest(tmp, n_chunks, tables, workers)
            manifest = Manifest.load(pathlib.Path(tmp, f"scan={SCAN}", "manifest.json"))
            files = [str(pathlib.Path(tmp, f"scan={SCAN}", r.file)) for r in manifest.chunks.values()]
            query = figure_3_seconds(ds.dataset(files, format="parquet"))
            report.append(_summary("parquet+manifest", workers, rows, run, query, len(manifest.chunks) - SMALL_COMMITS))
        with tempfile.TemporaryDirectory() as tmp:
            uri = str(pathlib.Path(tmp, "delta"))
            run = run_delta(uri, n_chunks, tables, workers)
            table = DeltaTable(uri)
            committed = sum(table.transaction_version(f"dsscan/{SCAN}/chunk={i}") == 1 for i in range(n_chunks))
            assert table.to_pyarrow_dataset().count_rows() == all_rows
            query = figure_3_seconds(table.to_pyarrow_dataset())
            report.append(_summary("delta", workers, rows, run, query, committed))
    return report


def _summary(name: str, workers: int, rows: int, run: dict, query: float, chunks: int) -> dict:
    commits = run["commits"]
    return {
        "format": name, "writers": workers, "chunks": chunks, "rows": rows,
        "rows_per_s": rows / run["seconds"],
        "record_ms_median": 1e3 * statistics.median(commits),
        "record_ms_last20": 1e3 * statistics.median(commits[-20:]),
        "one_row_chunk_ms": 1e3 * statistics.median(run["small"]),
        "figure3_ms": 1e3 * query,
    }


PARQUET_SETTINGS = {
    "zstd, no float dictionary (current)": {"compression": "zstd", "float_dictionary": False},
    "zstd, dictionary everywhere": {"compression": "zstd", "float_dictionary": True},
    "snappy, no float dictionary": {"compression": "snappy", "float_dictionary": False},
    "none, no float dictionary": {"compression": "none", "float_dictionary": False},
    "lz4, no float dictionary": {"compression": "lz4", "float_dictionary": False},
    "zstd, no float dictionary, 16k-row groups": {"compression": "zstd", "float_dictionary": False, "row_group_size": 16_384},
}


def parquet_settings(table: pa.Table, repeats: int = 3) -> list[dict]:
    """Write rows/s (best of ``repeats``) and bytes per row of ``table`` under each setting."""
    report = []
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp, "t.parquet")
        for name, setting in PARQUET_SETTINGS.items():
            dictionary = True if setting["float_dictionary"] else [f.name for f in table.schema if not pa.types.is_floating(f.type)]
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                pq.write_table(table, path, compression=setting["compression"], use_dictionary=dictionary,
                               row_group_size=setting.get("row_group_size"))
                best = min(best, time.perf_counter() - started)
            report.append({"setting": name, "rows_per_s": table.num_rows / best, "bytes_per_row": path.stat().st_size / table.num_rows})
    return report


def test_formats_compare_on_a_few_chunks():
    report = compare_formats(n_chunks=6, sizes=(500, 1_500))
    assert [(r["format"], r["writers"], r["chunks"]) for r in report] == [
        ("parquet+manifest", 1, 6), ("delta", 1, 6), ("parquet+manifest", 2, 6), ("delta", 2, 6)]


def test_parquet_settings_all_write():
    report = parquet_settings(real_tables((2_000,))[0], repeats=1)
    assert len(report) == len(PARQUET_SETTINGS) and all(r["rows_per_s"] > 0 for r in report)


def _print(rows: list[dict]) -> None:
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row.values()))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"{os.cpu_count()} CPUs, chunks of {CHUNK_ROWS} rows cycled, {n} chunks")
    _print(compare_formats(n))
    print()
    _print(parquet_settings(real_tables((50_000,))[0]))
