"""Write one chunk as one Parquet file, atomically, and describe it for the manifest."""
from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake.atomic import atomic_write, sha256_of
from lake.layout import chunk_file_name, scan_dir

COMPRESSION = "zstd"
FILE_METADATA_KEY = b"dsscan"


@dataclass(frozen=True)
class ChunkFile:
    name: str  # file name inside the scan folder
    rows: int
    sha256: str


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """Dictionary-encode everything but floats: floats barely repeat, and plain encoding writes faster."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def write_chunk(root: str, scan: str, index: int, table: pa.Table, metadata: dict[str, Any]) -> ChunkFile:
    """Write ``table`` to ``<root>/scan=<scan>/part-<index>.parquet``; ``metadata`` goes into the
    file's key-value metadata (as JSON under ``dsscan``), field metadata (units) is kept."""
    folder = scan_dir(root, scan)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / chunk_file_name(index)
    schema_metadata = {**(table.schema.metadata or {}), FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
    table = table.replace_schema_metadata(schema_metadata)

    def write(temp: pathlib.Path) -> None:
        pq.write_table(table, temp, compression=COMPRESSION, use_dictionary=_dictionary_columns(table.schema))

    atomic_write(path, write)
    return ChunkFile(path.name, table.num_rows, sha256_of(path))


def read_file_metadata(path: str | pathlib.Path) -> dict[str, Any]:
    """The ``dsscan`` key-value metadata of a chunk file."""
    return json.loads(pq.read_schema(path).metadata[FILE_METADATA_KEY])
