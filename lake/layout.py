"""Where things live in a lake (hive-style partitions, one folder per scan), local or ``s3://``."""
from __future__ import annotations

import os

from lake.storage import LakePath, lake_path

SCAN_PARTITION = "scan"
MANIFEST_NAME = "manifest.json"
CHUNK_DIGITS = 6


def scan_dir(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return lake_path(root) / f"{SCAN_PARTITION}={scan}"


def chunk_file_name(index: int) -> str:
    return f"part-{index:0{CHUNK_DIGITS}d}.parquet"


def manifest_path(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return scan_dir(root, scan) / MANIFEST_NAME


def scan_folders(root: str | os.PathLike | LakePath) -> list[LakePath]:
    """Every ``scan=<name>`` folder under ``root``, with or without a manifest, sorted."""
    root = lake_path(root)
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(f"{SCAN_PARTITION}="))


def scan_name(folder: LakePath) -> str:
    return folder.name.split("=", 1)[1]


def manifest_paths(root: str | os.PathLike | LakePath) -> list[LakePath]:
    """Every scan manifest under ``root``, sorted by scan folder."""
    return [folder / MANIFEST_NAME for folder in scan_folders(root) if (folder / MANIFEST_NAME).exists()]
