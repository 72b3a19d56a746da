"""Where things live in a lake (hive-style partitions, one folder per scan), local or ``s3://``."""
from __future__ import annotations

import os

from lake.storage import LakePath, lake_path

SCAN_PARTITION = "scan"
MANIFEST_NAME = "manifest.json"
CHUNK_DIGITS = 6
COMPACT_TARGET_ROWS = 1_000_000  # rows per merged file (a chunk file at or above it is left alone)


def scan_dir(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return lake_path(root) / f"{SCAN_PARTITION}={scan}"


def chunk_file_name(index: int) -> str:
    return f"part-{index:0{CHUNK_DIGITS}d}.parquet"


def manifest_path(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return scan_dir(root, scan) / MANIFEST_NAME


def manifest_paths(root: str | os.PathLike | LakePath) -> list[LakePath]:
    """Every scan manifest under ``root``, sorted by scan folder."""
    root = lake_path(root)
    if not root.exists():
        return []
    folders = sorted(p for p in root.iterdir() if p.name.startswith(f"{SCAN_PARTITION}="))
    return [folder / MANIFEST_NAME for folder in folders if (folder / MANIFEST_NAME).exists()]
