"""Write one chunk as one Parquet file, atomically, and describe it for the manifest.

Parquet settings, measured on the lake's 80-column table (``docs/adaptive.md``, "Writing Parquet"):
LZ4 (LZ4_RAW) with BYTE_STREAM_SPLIT for the floats, dictionaries only for dictionary-typed columns
(``scenario``). The floats barely compress; splitting their bytes into streams lets LZ4 find the
repeats in sign and exponent bytes, so the files come out smaller than with zstd (364 against 374
bytes a row) while writing ~5x faster (1.0e6 against 2e5 rows/s on one loaded core). Dictionaries for
point ids and booleans only cost time. pyarrow's default row-group size (2**20 rows) keeps a chunk in
one row group. DuckDB, Spark >= 3.5 (parquet-mr >= 1.13), Polars and pyarrow read these encodings. Every page carries a CRC32
(``write_page_checksum``), which pyarrow readers verify (``lake.catalog`` on object stores).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.atomic import atomic_write_stream
from lake.layout import chunk_file_name, scan_dir
from lake.storage import LakePath, arrow_location, lake_path

COMPRESSION = "lz4"
FILE_METADATA_KEY = b"dsscan"


@dataclass(frozen=True)
class ChunkFile:
    name: str  # file name inside the scan folder
    rows: int
    sha256: str


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """The lake's Parquet settings for a table of ``schema`` (``pq.write_table`` keywords)."""
    return {
        "compression": COMPRESSION,
        "use_dictionary": [f.name for f in schema if pa.types.is_dictionary(f.type)],
        "use_byte_stream_split": [f.name for f in schema if pa.types.is_floating(f.type)],
        "write_page_checksum": True,
    }


def parquet_bytes(table: pa.Table) -> pa.Buffer:
    """``table`` as a Parquet file with the lake's settings, in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **parquet_options(table.schema))
    return sink.getvalue()


def write_parquet(path: LakePath, table: pa.Table) -> str:
    """Write ``table`` with the lake's settings to ``path``, atomically (``atomic_write_stream``); its sha256."""
    return atomic_write_stream(path, lambda sink: pq.write_table(table, sink, **parquet_options(table.schema)))


def write_chunk(root: str | LakePath, scan: str, index: int, table: pa.Table, metadata: dict[str, Any]) -> ChunkFile:
    """Write ``table`` to ``<root>/scan=<scan>/part-<index>.parquet``; ``metadata`` goes into the
    file's key-value metadata (as JSON under ``dsscan``), field metadata (units) is kept."""
    folder = scan_dir(root, scan)
    folder.mkdir(parents=True, exist_ok=True)
    schema_metadata = {**(table.schema.metadata or {}), FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
    path = folder / chunk_file_name(index)
    return ChunkFile(path.name, table.num_rows, write_parquet(path, table.replace_schema_metadata(schema_metadata)))


def read_file_metadata(path: str | LakePath) -> dict[str, Any]:
    """The ``dsscan`` key-value metadata of a chunk file."""
    return json.loads(read_schema(path).metadata[FILE_METADATA_KEY])


def read_schema(path: str | LakePath) -> pa.Schema:
    """The Arrow schema (with field metadata: units, descriptions) of a chunk file."""
    location, fs = arrow_location(lake_path(path))
    return pq.read_schema(location, filesystem=fs)
