"""Write one chunk as one Parquet file, atomically, and describe it for the manifest.

Parquet settings, measured by ``tests/benchmarks/test_lake_format_bench.py`` (README, "The lake"):
zstd without dictionaries for float columns; floats barely repeat, and dictionary-encoding them
made writes about 4x slower and files larger. pyarrow's default row-group size (2**20 rows) keeps
a chunk in one row group; smaller groups wrote slower. Every page carries a CRC32
(``write_page_checksum``), which readers verify on every page they read (``lake.catalog``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.atomic import atomic_write
from lake.layout import chunk_file_name, scan_dir
from lake.storage import LakePath, arrow_location, lake_path

COMPRESSION = "zstd"
FILE_METADATA_KEY = b"dsscan"


@dataclass(frozen=True)
class ChunkFile:
    name: str  # file name inside the scan folder
    rows: int
    sha256: str


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Dictionary-encode everything but floats."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as a Parquet file with the lake's settings, in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=COMPRESSION, use_dictionary=_dictionary_columns(table.schema),
                   write_page_checksum=True)
    return sink.getvalue().to_pybytes()


def write_chunk(root: str | LakePath, scan: str, index: int, table: pa.Table, metadata: dict[str, Any]) -> ChunkFile:
    """Write ``table`` to ``<root>/scan=<scan>/part-<index>.parquet``; ``metadata`` goes into the
    file's key-value metadata (as JSON under ``dsscan``), field metadata (units) is kept."""
    folder = scan_dir(root, scan)
    folder.mkdir(parents=True, exist_ok=True)
    schema_metadata = {**(table.schema.metadata or {}), FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
    data = parquet_bytes(table.replace_schema_metadata(schema_metadata))
    path = folder / chunk_file_name(index)
    atomic_write(path, data)
    return ChunkFile(path.name, table.num_rows, hashlib.sha256(data).hexdigest())


def read_file_metadata(path: str | LakePath) -> dict[str, Any]:
    """The ``dsscan`` key-value metadata of a chunk file."""
    return json.loads(read_schema(path).metadata[FILE_METADATA_KEY])


def read_schema(path: str | LakePath) -> pa.Schema:
    """The Arrow schema (with field metadata: units, descriptions) of a chunk file."""
    location, fs = arrow_location(lake_path(path))
    return pq.read_schema(location, filesystem=fs)
