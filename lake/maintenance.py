"""Checking and tidying a scan's files against its manifest: verify, compact, vacuum, remove.

The manifest is the truth: a recorded file must exist, match its sha256 and read with its row
count; any other file in the scan folder is garbage (a chunk written but never recorded, e.g.
by a driver that was killed). Compaction writes merged files first and switches the manifest to
them in one atomic save, so a crash at any point leaves a readable scan plus, at worst, garbage.
Several chunk records may then name one file; readers open each file once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from itertools import groupby

import pyarrow as pa
import pyarrow.parquet as pq

from lake.atomic import atomic_write, sha256_of
from lake.layout import CHUNK_DIGITS, COMPACT_TARGET_ROWS, MANIFEST_NAME, manifest_path, scan_dir
from lake.manifest import RUNNING, ChunkRecord, Manifest
from lake.storage import LakePath, arrow_location, remove_tree
from lake.writer import FILE_METADATA_KEY, parquet_bytes, read_file_metadata

MISSING, CORRUPTED, UNREADABLE, GARBAGE = "missing", "corrupted", "unreadable", "garbage"


@dataclass(frozen=True)
class Problem:
    scan: str
    file: str
    kind: str  # MISSING, CORRUPTED, UNREADABLE or GARBAGE
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: scan={self.scan}/{self.file}: {self.detail}"


def load_scan(root: str | LakePath, scan: str) -> Manifest:
    path = manifest_path(root, scan)
    if not path.exists():
        raise FileNotFoundError(f"the lake {str(root)!r} holds no scan named {scan!r} (no {path})")
    return Manifest.load(path)


def recorded_files(manifest: Manifest) -> dict[str, list[ChunkRecord]]:
    """Each recorded file with the chunk records it holds, in chunk order."""
    records = sorted(manifest.chunks.values(), key=lambda r: r.index)
    return {file: list(group) for file, group in groupby(records, key=lambda r: r.file)}


def garbage_files(root: str | LakePath, manifest: Manifest) -> list[LakePath]:
    """Files in the scan folder that are neither the manifest nor recorded in it."""
    keep = set(recorded_files(manifest)) | {MANIFEST_NAME}
    return sorted(p for p in scan_dir(root, manifest.scan).iterdir() if p.name not in keep)


def _read_table(path: LakePath) -> pa.Table:
    location, fs = arrow_location(path)
    return pq.read_table(location, filesystem=fs)


def _read_rows(path: LakePath) -> int:
    location, fs = arrow_location(path)
    with fs.open_input_file(location) as handle:
        return sum(batch.num_rows for batch in pq.ParquetFile(handle).iter_batches())


def verify_scan(root: str | LakePath, manifest: Manifest) -> list[Problem]:
    """Every problem of one scan's files: missing, corrupted, unreadable, garbage."""
    problems = []
    for file, records in recorded_files(manifest).items():
        path = scan_dir(root, manifest.scan) / file
        expected_rows, expected_sha = sum(r.rows for r in records), records[0].sha256
        chunks = f"chunk {records[0].index}" if len(records) == 1 else f"chunks {records[0].index}-{records[-1].index}"
        if not path.exists():
            problems.append(Problem(manifest.scan, file, MISSING, f"recorded for {chunks}, not found"))
            continue
        if sha256_of(path) != expected_sha:
            problems.append(Problem(manifest.scan, file, CORRUPTED, f"sha256 differs from the one recorded for {chunks}"))
            continue
        try:
            rows = _read_rows(path)
        except (OSError, pa.ArrowException) as exc:
            problems.append(Problem(manifest.scan, file, UNREADABLE, str(exc).splitlines()[0]))
            continue
        if rows != expected_rows:
            problems.append(Problem(manifest.scan, file, UNREADABLE, f"{rows} rows, {expected_rows} recorded"))
    for path in garbage_files(root, manifest):
        problems.append(Problem(manifest.scan, path.name, GARBAGE, "not recorded in the manifest (left by a crash?); "
                                "'dsscan lake vacuum' deletes it"))
    return problems


def refuse_running(manifest: Manifest, action: str, force: bool) -> None:
    """Maintenance that rewrites files must not race a driver still recording chunks."""
    if manifest.status == RUNNING and not force:
        raise ValueError(
            f"scan {manifest.scan!r} is running (or its driver was killed): finish it with "
            f"'dsscan scan --resume' first, or pass --force to {action} it anyway"
        )


def vacuum_scan(root: str | LakePath, manifest: Manifest, dry_run: bool) -> list[LakePath]:
    """Delete (unless ``dry_run``) the scan's garbage files; the ones deleted or to delete."""
    garbage = garbage_files(root, manifest)
    if not dry_run:
        for path in garbage:
            path.unlink(missing_ok=True)
    return garbage


def _merge_groups(manifest: Manifest, target_rows: int) -> list[list[str]]:
    """Runs of consecutive small files whose rows add up to at most ``target_rows``, two or more each."""
    groups, current, rows = [], [], 0
    for file, records in recorded_files(manifest).items():
        file_rows = sum(r.rows for r in records)
        if current and rows + file_rows > target_rows:
            groups.append(current)
            current, rows = [], 0
        if file_rows < target_rows:
            current.append(file)
            rows += file_rows
    groups.append(current)
    return [g for g in groups if len(g) > 1]


def compact_scan(root: str | LakePath, manifest: Manifest, target_rows: int = COMPACT_TARGET_ROWS) -> list[str]:
    """Merge runs of small chunk files into files of up to ``target_rows`` rows, switch the
    manifest to them in one save, then delete the merged-away files; the new file names."""
    folder = scan_dir(root, manifest.scan)
    by_file = recorded_files(manifest)
    written = {}
    for group in _merge_groups(manifest, target_rows):
        records = [r for file in group for r in by_file[file]]
        tables = [_read_table(folder / file) for file in group]
        metadata = read_file_metadata(folder / group[0])
        metadata.pop("chunk", None)
        metadata["chunks"] = [r.index for r in records]
        merged = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
        merged = merged.replace_schema_metadata({**(merged.schema.metadata or {}),
                                                 FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
        name = f"part-{records[0].index:0{CHUNK_DIGITS}d}-{records[-1].index:0{CHUNK_DIGITS}d}.parquet"
        data = parquet_bytes(merged)
        atomic_write(folder / name, data)
        written[name] = group
        for record in records:
            manifest.record(dataclasses.replace(record, file=name, sha256=hashlib.sha256(data).hexdigest()))
    if written:
        manifest.save(root)
        for group in written.values():
            for file in group:
                (folder / file).unlink(missing_ok=True)
    return sorted(written)


def remove_scan(root: str | LakePath, scan: str) -> None:
    remove_tree(scan_dir(root, scan))
