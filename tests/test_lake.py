"""The lake: storage policies, atomic chunk files with their metadata, manifests, and a catalog
that reads only recorded files and cannot write or reach outside the lake."""
from __future__ import annotations

import hashlib
import json
import os
import shutil

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lake.atomic
from conftest import SMALL_SCAN_POINTS, tree_digest
from lake.catalog import open_catalog, read_only_query
from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import COMPLETE, Manifest
from lake.rows import sample_mask, sampled_flags, with_row_keys
from lake.writer import read_file_metadata, write_chunk

ROWS = 2_000


def evaluated_table(allowed_every: int) -> pa.Table:
    """A stand-in for evaluate()'s output: what the storage policy reads is ``allowed``."""
    allowed = np.arange(ROWS) % allowed_every == 0
    x = pa.field("x", pa.float64(), nullable=False, metadata={"unit": "MeV", "description": "a mass"})
    return pa.table({"x": np.linspace(1.0, 2.0, ROWS), "allowed": allowed}).cast(
        pa.schema([x, pa.field("allowed", pa.bool_(), nullable=False)])
    )


def stored(evaluated: pa.Table, store: str, rate: float | None, draws: np.ndarray) -> pa.Table:
    """What a chunk stores of ``evaluated`` under a policy, the way ``process_chunk`` applies it:
    the allowed rows and the policy's ``sample_mask``, keyed with ``sampled_flags``."""
    allowed = evaluated.column("allowed").to_numpy(zero_copy_only=False)
    mask = sample_mask(store, rate, draws)
    rows = np.arange(ROWS) if mask is None else np.flatnonzero(allowed | mask)
    return with_row_keys(rows.astype(np.uint64), np.ones(len(rows)), sampled_flags(store, allowed[rows]), evaluated.take(rows))


@pytest.mark.parametrize("store, expected_rows", [("all", ROWS), ("allowed", ROWS // 10)])
def test_policies_all_and_allowed(store, expected_rows):
    table = stored(evaluated_table(10), store, None, np.random.default_rng(0).random(ROWS))
    assert table.num_rows == expected_rows
    assert table.column_names == ["point_id", "x", "allowed", "sampled", "weight"]
    assert not pa.compute.any(table.column("sampled")).as_py()


def test_policy_allowed_plus_sample_keeps_every_allowed_point_and_flags_the_sample():
    rate = 0.1
    draws = np.random.default_rng(0).random(ROWS)
    table = stored(evaluated_table(10), "allowed+sample", rate, draws)
    allowed = table.column("allowed").to_numpy(zero_copy_only=False)
    sampled = table.column("sampled").to_numpy(zero_copy_only=False)
    assert allowed.sum() == ROWS // 10
    assert not (allowed & sampled).any() and (allowed | sampled).all()
    rejected = ROWS - ROWS // 10
    assert sampled.sum() == pytest.approx(rate * rejected, rel=0.25)
    ids = table.column("point_id").to_numpy()
    assert (draws[ids[sampled]] < rate).all()  # the sample is the rows whose draw is below the rate


def test_chunk_file_is_complete_with_units_metadata_and_encoding(tmp_path):
    table = stored(evaluated_table(3), "all", None, np.random.default_rng(0).random(ROWS))
    written = write_chunk(str(tmp_path), "s", 4, table, {"scan": "s", "chunk": 4})
    path = scan_dir(tmp_path, "s") / chunk_file_name(4)
    assert written.name == "part-000004.parquet" and written.rows == ROWS
    assert sorted(p.name for p in path.parent.iterdir()) == [written.name]  # no temporary file left behind
    back = pq.read_table(path)
    assert back.equals(table)
    assert back.schema.field("x").metadata == {b"unit": b"MeV", b"description": b"a mass"}
    assert read_file_metadata(path) == {"scan": "s", "chunk": 4}
    column_chunk = pq.ParquetFile(path).metadata.row_group(0)
    by_name = {column_chunk.column(i).path_in_schema: column_chunk.column(i) for i in range(column_chunk.num_columns)}
    assert duckdb.sql(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall() == [("LZ4_RAW",)]
    assert "BYTE_STREAM_SPLIT" in by_name["x"].encodings and not any("DICTIONARY" in e for e in by_name["x"].encodings)
    by_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{path}', hive_partitioning = false)").to_arrow_table()
    assert by_duckdb.to_pydict() == table.to_pydict()  # DuckDB's own reader decodes LZ4_RAW and BYTE_STREAM_SPLIT


def test_streamed_file_is_hashed_and_flushed_while_written(tmp_path, monkeypatch, capfd):
    """The sha256 comes from a second thread fed piece by piece, with early flushes between pieces:
    it must still be the digest of the bytes on disk; a failing producer, or a failure in that
    thread (a flush that fails, or none to call), fails the write and leaves the old file."""
    monkeypatch.setattr(lake.atomic, "WRITEBACK_BYTES", 1000)  # an early flush after every few pieces
    monkeypatch.setattr(lake.atomic, "STREAM_BUFFER_BYTES", 512)
    flushes = []
    monkeypatch.setattr(lake.atomic, "_flush_to_disk", lambda fd: flushes.append(os.fstat(fd).st_size))
    pieces = [bytes([i]) * (300 + i) for i in range(50)]
    target = tmp_path / "f.bin"
    digest = lake.atomic.atomic_write_stream(target, lambda sink: [sink.write(piece) for piece in pieces])
    assert target.read_bytes() == b"".join(pieces) and digest == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert len(flushes) >= 10 and flushes == sorted(flushes)  # flushed while the file grew

    def fail_half_way(sink):
        sink.write(b"partial")
        raise RuntimeError("encoder failed")

    def failing_flush(fd):
        raise OSError(5, "Input/output error")

    def no_flush(fd):
        raise AttributeError("module 'os' has no attribute 'fdatasync'")

    with pytest.raises(RuntimeError, match="encoder failed"):
        lake.atomic.atomic_write_stream(target, fail_half_way)
    for flush, error in ((failing_flush, OSError), (no_flush, AttributeError)):
        monkeypatch.setattr(lake.atomic, "_flush_to_disk", flush)
        with pytest.raises(error):
            lake.atomic.atomic_write_stream(target, lambda sink: [sink.write(piece) for piece in pieces])
    assert target.read_bytes() == b"".join(pieces) and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    assert "Error ignored" not in capfd.readouterr().err  # nothing left for Arrow to flush at exit


def test_manifest_round_trips(small_lake):
    manifest = Manifest.load(manifest_path(small_lake, "small"))
    assert manifest.status == COMPLETE and len(manifest.chunks) == manifest.chunks_planned
    assert manifest.totals()["points"] == SMALL_SCAN_POINTS
    assert Manifest.load(manifest_path(small_lake, "small")).to_json() == manifest.to_json()
    assert {"code_version", "inputs", "constraint_set"} <= set(manifest.provenance)
    assert manifest.config["scan"]["seed"] == 7


def test_catalog_views_agree_with_the_manifests(small_lake):
    con = open_catalog(small_lake)
    for name in ("small", "sampled"):
        manifest = Manifest.load(manifest_path(small_lake, name))
        stored = con.execute("SELECT count(*), count(DISTINCT point_id) FROM points WHERE scan = ?", [name]).fetchone()
        assert stored == (manifest.totals()["rows"],) * 2
        assert con.execute("SELECT rows, chunks_done, status FROM scans WHERE scan = ?", [name]).fetchone() == (
            manifest.totals()["rows"], manifest.chunks_planned, COMPLETE,
        )
        assert con.execute("SELECT count(*) FROM chunks WHERE scan = ?", [name]).fetchone()[0] == manifest.chunks_planned


def test_catalog_reads_only_recorded_files(small_lake, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(small_lake, lake)
    folder = scan_dir(lake, "small")
    shutil.copy(folder / chunk_file_name(0), folder / chunk_file_name(99))  # as if left by a crash
    before = open_catalog(small_lake).execute("SELECT count(*) FROM points").fetchone()
    assert open_catalog(lake).execute("SELECT count(*) FROM points").fetchone() == before


def test_catalog_of_an_empty_lake_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="no scans under lake root .* run 'dsscan scan CONFIG'"):
        open_catalog(tmp_path)


REFUSED_BY_STATEMENT = [
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO scans SELECT * FROM scans",
    "DELETE FROM scans",
    "DROP VIEW points",
    "COPY (SELECT * FROM points) TO '{lake}/scan=small/part-000000.parquet'",
    "ATTACH '{lake}/other.duckdb'",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SELECT 1; SELECT 2",
]
REFUSED_BY_DUCKDB = [
    "SELECT * FROM read_csv('{outside}/secret.csv')",
    "SELECT * FROM read_text('{outside}/secret.csv')",
    "SELECT * FROM glob('{outside}/*')",
]


@pytest.mark.parametrize("query", REFUSED_BY_STATEMENT + REFUSED_BY_DUCKDB)
def test_catalog_cannot_write_or_reach_outside_the_lake(query, small_lake, tmp_path):
    (tmp_path / "secret.csv").write_text("a,b\n1,2\n")
    before = tree_digest(small_lake)
    con = open_catalog(small_lake)
    with pytest.raises((ValueError, duckdb.Error)):
        read_only_query(con, query.format(lake=small_lake, outside=tmp_path)).fetchall()
    assert tree_digest(small_lake) == before


@pytest.mark.parametrize("query", ["WITH n AS (SELECT count(*) AS c FROM points) SELECT c FROM n", "DESCRIBE points",
                                   "SHOW TABLES", "SUMMARIZE scans", "EXPLAIN SELECT * FROM points"])
def test_catalog_answers_read_only_statements(query, small_lake):
    assert read_only_query(open_catalog(small_lake), query).fetchall()


def test_scans_view_carries_the_config(small_lake):
    config = open_catalog(small_lake).execute("SELECT config FROM scans WHERE scan = 'sampled'").fetchone()[0]
    assert json.loads(config)["scan"]["sample_rate"] == 0.1
