"""The lake as SQL: an in-memory DuckDB database whose only data are the lake's recorded chunks.

Views: ``points`` (every recorded chunk file of every scan, with the hive partition column
``scan``), ``scans`` (one row per manifest) and ``chunks`` (one row per recorded chunk).
``points`` is a view of DuckDB's ``read_parquet`` over the recorded files of a local lake; on an
object store (``s3://``) it is a ``pyarrow.dataset`` of them registered in DuckDB, so that the lake
is read through pyarrow's filesystem, without DuckDB's httpfs.
After the views exist the connection is locked: DuckDB itself can read no file but the recorded ones and write none,
extensions cannot be installed or loaded, and settings cannot be changed.
``read_only_query`` additionally admits a single SELECT-like statement only.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import duckdb

from lake.layout import SCAN_PARTITION, manifest_paths, scan_dir
from lake.manifest import ChunkRecord, Manifest
from lake.storage import LakePath, arrow_location, lake_path

READ_ONLY_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
_DUCKDB_TYPES = {"int": "BIGINT", "str": "VARCHAR", "float": "DOUBLE"}
# ``chunks`` has the manifest's chunk records with ``index`` renamed ``chunk``, keyed by ``scan``.
CHUNKS_COLUMNS = {"scan": "VARCHAR"} | {
    "chunk" if f.name == "index" else f.name: _DUCKDB_TYPES[f.type] for f in dataclasses.fields(ChunkRecord)
}
SCANS_COLUMNS = {
    "scan": "VARCHAR", "status": "VARCHAR", "points_planned": "BIGINT", "chunks_planned": "BIGINT", "chunks_done": "BIGINT",
    "points": "BIGINT", "outside_domain": "BIGINT", "rows": "BIGINT", "allowed": "BIGINT", "sampled": "BIGINT",
    "seed": "BIGINT", "sampler": "VARCHAR", "store": "VARCHAR", "sample_rate": "DOUBLE", "constraint_set": "VARCHAR",
    "code_version": "VARCHAR", "config": "VARCHAR",
}
LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def load_manifests(root: str | os.PathLike | LakePath) -> list[Manifest]:
    manifests = [Manifest.load(p) for p in manifest_paths(root)]
    if not manifests:
        raise ValueError(
            f"no scans under lake root {str(root)!r} (expected {SCAN_PARTITION}=<name>/manifest.json); "
            "run 'dsscan scan CONFIG' first or pass --lake"
        )
    return manifests


def _create_table(con: duckdb.DuckDBPyConnection, name: str, types: dict[str, str], rows: list[dict]) -> None:
    """Table ``name`` with columns ``types`` (name -> DuckDB type) from ``rows``, passed to DuckDB as one
    list per column: pyarrow's conversion of Python values imports pandas, a second of start-up."""
    columns = ", ".join(f"unnest(${column}::{kind}[]) as {column}" for column, kind in types.items())
    con.execute(f"create table {name} as select {columns}", {column: [row[column] for row in rows] for column in types})


def _scans_rows(manifests: list[Manifest]) -> list[dict]:
    rows = []
    for m in manifests:
        scan = m.config["scan"]
        rows.append({
            "scan": m.scan, "status": m.status, "points_planned": scan["points"],
            "chunks_planned": m.chunks_planned, "chunks_done": len(m.chunks), **m.totals(),
            "seed": scan["seed"], "sampler": scan["sampler"], "store": scan["store"],
            "sample_rate": scan.get("sample_rate"), "constraint_set": m.provenance["constraint_set"]["name"],
            "code_version": m.provenance["code_version"], "config": json.dumps(m.config),
        })
    return rows


def _chunks_rows(manifests: list[Manifest]) -> list[dict]:
    return [dict(zip(CHUNKS_COLUMNS, [m.scan, *dataclasses.astuple(r)])) for m in manifests for r in m.chunks.values()]


def points_dataset(root: str | os.PathLike | LakePath, manifests: list[Manifest]) -> ds.Dataset | None:
    """The recorded files of ``manifests``, each once, as one dataset with the partition column ``scan``;
    scans whose columns differ (other constraint sets) are unified by name, missing values null."""
    import pyarrow as pa  # here: pyarrow imports pandas, which a local lake's catalog never needs
    import pyarrow.dataset as ds

    from lake.maintenance import recorded_files
    from lake.writer import read_schema

    root = lake_path(root)
    files = [scan_dir(root, m.scan) / file for m in manifests for file in recorded_files(m)]  # compacted: many chunks, one file
    if not files:
        return None
    first_of_each_scan = {f.parent: f for f in reversed(files)}.values()
    schema = pa.unify_schemas([read_schema(f) for f in first_of_each_scan])
    schema = schema.append(pa.field(SCAN_PARTITION, pa.string()))
    base, fs = arrow_location(root)
    return ds.dataset(
        [arrow_location(f)[0] for f in files], schema=schema, format="parquet", filesystem=fs,
        partitioning=ds.partitioning(pa.schema([(SCAN_PARTITION, pa.string())]), flavor="hive"),
        partition_base_dir=base,
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_local_points_view(con: duckdb.DuckDBPyConnection, root: pathlib.Path, manifests: list[Manifest]) -> None:
    """``points`` over a local lake through DuckDB's own Parquet reader, which streams a result with
    bounded memory; a registered pyarrow dataset is read ahead of a slow consumer without bound
    (``select *`` of 10^6 rows into a Parquet file: 219 MiB peak against 593 MiB, measured). Once
    the connection is locked, DuckDB may read these files and no other (``allowed_paths``)."""
    from lake.maintenance import recorded_files  # here: it imports pyarrow, which listing the scans never needs

    files = {m.scan: [str((scan_dir(root, m.scan) / f).resolve()) for f in recorded_files(m)] for m in manifests}
    options = "union_by_name = true, hive_partitioning = false"
    selects = [
        f"select *, {_quoted(scan)} as {SCAN_PARTITION} from read_parquet([{', '.join(map(_quoted, paths))}], {options})"
        for scan, paths in files.items() if paths
    ]
    if selects:
        con.execute("create view points as " + " union all by name ".join(selects))
        con.execute(f"set allowed_paths = [{', '.join(_quoted(p) for paths in files.values() for p in paths)}]")


def open_catalog(
    root: str | os.PathLike | LakePath, memory_limit: str | None = None, spill_directory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB connection with the views ``points``, ``scans`` and ``chunks`` over ``root``.
    A query may hold at most ``memory_limit`` (DuckDB's size syntax, e.g. ``2GB``; default: DuckDB's,
    80 % of RAM); beyond it, it spills to ``spill_directory`` if given, else fails with
    OutOfMemoryException. DuckDB draws no progress bar (it would land in a query's output)."""
    manifests = load_manifests(root)
    settings = {"temp_directory": spill_directory} if spill_directory else {"temp_directory": "", "max_temp_directory_size": "0B"}
    con = duckdb.connect(":memory:", config=settings | ({"memory_limit": memory_limit} if memory_limit else {}))
    con.execute("SET enable_progress_bar = false")
    _create_table(con, "scans", SCANS_COLUMNS, _scans_rows(manifests))
    _create_table(con, "chunks", CHUNKS_COLUMNS, _chunks_rows(manifests))
    if isinstance(lake_path(root), pathlib.Path):
        _create_local_points_view(con, lake_path(root), manifests)
    elif (points := points_dataset(root, manifests)) is not None:
        con.register("points", points)
    for statement in LOCKDOWN:
        con.execute(statement)
    return con


def read_only_query(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation:
    """Run one SELECT / WITH / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN statement; refuse anything else."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ValueError(f"cannot parse the query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ValueError(f"expected exactly one statement, got {len(statements)}")
    kind = statements[0].type
    if kind not in READ_ONLY_STATEMENTS:
        raise ValueError(f"the lake is read-only: only SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN are allowed, got {kind.name}")
    return con.sql(query)
