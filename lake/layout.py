"""Where things live in a lake (hive-style partitions, one folder per scan)."""
from __future__ import annotations

import pathlib

SCAN_PARTITION = "scan"
MANIFEST_NAME = "manifest.json"
CHUNK_DIGITS = 6


def scan_dir(root: str | pathlib.Path, scan: str) -> pathlib.Path:
    return pathlib.Path(root) / f"{SCAN_PARTITION}={scan}"


def chunk_file_name(index: int) -> str:
    return f"part-{index:0{CHUNK_DIGITS}d}.parquet"


def manifest_path(root: str | pathlib.Path, scan: str) -> pathlib.Path:
    return scan_dir(root, scan) / MANIFEST_NAME


def manifest_paths(root: str | pathlib.Path) -> list[pathlib.Path]:
    """Every scan manifest under ``root``, sorted by scan folder."""
    return sorted(pathlib.Path(root).glob(f"{SCAN_PARTITION}=*/{MANIFEST_NAME}"))
