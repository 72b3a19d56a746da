"""Where things live in a lake (hive-style partitions, one folder per scan), local or ``s3://``.

Every path the lake touches is built here from a checked scan name and a checked chunk-file
name, so no name read from a command line or a manifest can point outside its scan folder.
"""
from __future__ import annotations

import os
import re

from lake.storage import LakePath, lake_path

SCAN_PARTITION = "scan"
MANIFEST_NAME = "manifest.json"
CHUNK_DIGITS = 6
MAX_SCAN_NAME_LENGTH = 100
SCAN_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_SCAN_NAME_LENGTH - 1}}}")
SCAN_NAME_RULE = (f"up to {MAX_SCAN_NAME_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit "
                  f"(it names the lake folder {SCAN_PARTITION}=<name>)")
# part-<chunk>.parquet, or part-<first>-<last>.parquet for a compacted run of chunks
CHUNK_FILE = re.compile(rf"part-(\d{{{CHUNK_DIGITS},}})(?:-(\d{{{CHUNK_DIGITS},}}))?\.parquet")


def is_scan_name(scan: object) -> bool:
    return isinstance(scan, str) and SCAN_NAME.fullmatch(scan) is not None


def check_scan_name(scan: object) -> str:
    """``scan`` if it follows the scan-name rule, else a one-line ValueError."""
    if not is_scan_name(scan):
        raise ValueError(f"scan name {scan!r}: expected {SCAN_NAME_RULE}")
    return scan
COMPACT_TARGET_ROWS = 1_000_000  # rows per merged file (a chunk file at or above it is left alone)


def scan_dir(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return lake_path(root) / f"{SCAN_PARTITION}={check_scan_name(scan)}"


def chunk_file_name(index: int) -> str:
    return f"part-{index:0{CHUNK_DIGITS}d}.parquet"


def merged_file_name(first: int, last: int) -> str:
    """The file of a compacted run of chunks ``first`` ... ``last``."""
    return f"part-{first:0{CHUNK_DIGITS}d}-{last:0{CHUNK_DIGITS}d}.parquet"


def holds_chunk(file: object, index: object) -> bool:
    """Whether ``file`` is a name the lake gives a file holding chunk ``index``: its own
    ``part-<index>.parquet`` or a compacted ``part-<first>-<last>.parquet`` with first <= index <= last."""
    if not isinstance(file, str) or not isinstance(index, int) or isinstance(index, bool):
        return False
    match = CHUNK_FILE.fullmatch(file)
    if match is None:
        return False
    first, last = match.group(1), match.group(2)
    if last is None:
        return file == chunk_file_name(index)
    return file == merged_file_name(int(first), int(last)) and int(first) <= index <= int(last)


def manifest_path(root: str | os.PathLike | LakePath, scan: str) -> LakePath:
    return scan_dir(root, scan) / MANIFEST_NAME


def folder_scan(folder: LakePath) -> str:
    """The scan name a folder ``scan=<name>`` stands for (unchecked)."""
    return folder.name.removeprefix(f"{SCAN_PARTITION}=")


def scan_folders(root: str | os.PathLike | LakePath) -> list[LakePath]:
    """Every ``scan=<name>`` folder under ``root``, with or without a manifest, sorted; folders
    whose name breaks the scan-name rule are no scans of this lake and are skipped."""
    root = lake_path(root)
    if not root.exists():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(f"{SCAN_PARTITION}=") and is_scan_name(folder_scan(p)))


def manifest_paths(root: str | os.PathLike | LakePath) -> list[LakePath]:
    """Every scan manifest under ``root``, sorted by scan folder."""
    return [folder / MANIFEST_NAME for folder in scan_folders(root) if (folder / MANIFEST_NAME).exists()]
