"""Checking and tidying a scan's files against its manifest: verify, compact, vacuum, remove.

The manifest is the truth: a recorded file must exist, match its sha256 and read with its row
count; any other file in the scan folder is garbage (a chunk written but never recorded, e.g.
by a driver that was killed). Compaction writes merged files first and switches the manifest to
them in one atomic save, so a crash at any point leaves a readable scan plus, at worst, garbage.
Several chunk records may then name one file; readers open each file once.

A manifest whose chunk entry names anything but a chunk file of its own scan holding that chunk
(``../../x.parquet``, an absolute path, another chunk's file), or which names another scan than
its folder's, has been tampered with: ``verify`` reports it, and nothing reads, rewrites or
deletes the files such an entry names. Local symbolic links are not followed.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from dataclasses import dataclass
from itertools import groupby
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from lake.atomic import sha256_of
from lake.layout import COMPACT_TARGET_ROWS, MANIFEST_NAME, chunk_file_name, folder_scan, holds_chunk, manifest_path, merged_file_name, scan_dir
from lake.lease import LEASE_NAME
from lake.manifest import RUNNING, ChunkRecord, Manifest
from lake.storage import LakePath, arrow_location, remove_tree
from lake.writer import FILE_METADATA_KEY, read_file_metadata, write_parquet

MISSING, CORRUPTED, UNREADABLE, GARBAGE = "missing", "corrupted", "unreadable", "garbage"
TAMPERED = "tampering"
REPAIR_HINT = "'dsscan scan CONFIG --resume --repair' computes its chunks again"  # for missing, corrupted, unreadable


@dataclass(frozen=True)
class Problem:
    scan: str
    file: str
    kind: str  # MISSING, CORRUPTED, UNREADABLE, GARBAGE or TAMPERED
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: scan={self.scan}/{self.file}: {self.detail}"


def read_manifest(path: LakePath) -> Manifest:
    """The manifest at ``<root>/scan=<name>/manifest.json``, refused if it names another scan or its
    scan folder is a local symbolic link (reading, compacting or vacuuming would act where it points)."""
    if _is_local_link(path.parent):
        raise ValueError(f"{path.parent}: {TAMPERED}: the scan folder is a symbolic link, not a folder of the lake; "
                         "nothing reads it ('dsscan lake rm' removes the link)")
    manifest = Manifest.load(path)
    if manifest.scan != folder_scan(path.parent):
        raise ValueError(f"{path}: {TAMPERED}: the manifest names scan {manifest.scan!r}, not the scan of its folder; "
                         "nothing reads it ('dsscan lake rm' removes the folder)")
    return manifest


def existing_manifest_path(root: str | LakePath, scan: str) -> LakePath:
    path = manifest_path(root, scan)
    if not path.exists():
        incomplete = " (its folder has no manifest: 'dsscan lake rm' removes it)" if path.parent.exists() else ""
        raise FileNotFoundError(f"the lake {str(root)!r} holds no scan named {scan!r} (no {path}){incomplete}")
    return path


def load_scan(root: str | LakePath, scan: str) -> Manifest:
    return read_manifest(existing_manifest_path(root, scan))


def tampered_entries(manifest: Manifest) -> list[Problem]:
    """Chunk records whose ``file`` is not a chunk file of this scan that holds the chunk."""
    def problem(record: ChunkRecord) -> Problem:
        own = chunk_file_name(record.index) if isinstance(record.index, int) else "a chunk file"
        return Problem(manifest.scan, MANIFEST_NAME, TAMPERED,
                       f"chunk {record.index!r} records the file {record.file!r}, which is not {own} of this scan "
                       "nor a compacted file holding it; nothing reads or deletes it")

    return [problem(r) for r in manifest.chunks.values() if not holds_chunk(r.file, r.index)]


LINK_DETAIL = "a symbolic link (it could lead out of the lake), not a file the lake wrote; nothing reads it"


def _is_local_link(path: LakePath) -> bool:
    return isinstance(path, pathlib.Path) and path.is_symlink()


def chunk_path(root: str | LakePath, scan: str, file: str) -> LakePath:
    """A recorded chunk file; a ValueError if it is a local symbolic link."""
    path = scan_dir(root, scan) / file
    if _is_local_link(path):
        raise ValueError(str(Problem(scan, file, TAMPERED, LINK_DETAIL)))
    return path


def _by_file(records: list[ChunkRecord]) -> dict[str, list[ChunkRecord]]:
    records = sorted(records, key=lambda r: r.index)
    return {file: list(group) for file, group in groupby(records, key=lambda r: r.file)}


def valid_files(manifest: Manifest) -> dict[str, list[ChunkRecord]]:
    """``recorded_files`` without the tampered entries: what ``verify`` checks."""
    return _by_file([r for r in manifest.chunks.values() if holds_chunk(r.file, r.index)])


def recorded_files(manifest: Manifest) -> dict[str, list[ChunkRecord]]:
    """Each recorded file with the chunk records it holds, in chunk order; a ValueError naming the
    manifest and the entry if one was tampered with (see ``tampered_entries``)."""
    tampered = tampered_entries(manifest)
    if tampered:
        raise ValueError(f"{tampered[0]} ('dsscan lake verify' lists every such entry)")
    return _by_file(list(manifest.chunks.values()))


def _unrecorded(root: str | LakePath, manifest: Manifest, recorded: Iterable[str]) -> list[LakePath]:
    """Files (or links) in the scan folder other than ``recorded`` and the manifest; a folder in it
    is no file of the lake and is neither read nor deleted."""
    keep = set(recorded) | {MANIFEST_NAME, LEASE_NAME}
    return sorted(p for p in scan_dir(root, manifest.scan).iterdir()
                  if p.name not in keep and (p.is_file() or _is_local_link(p)))


def garbage_files(root: str | LakePath, manifest: Manifest) -> list[LakePath]:
    """Files in the scan folder that are neither the manifest (or the lease) nor recorded in it."""
    return _unrecorded(root, manifest, recorded_files(manifest))


def _read_table(path: LakePath) -> pa.Table:
    location, fs = arrow_location(path)
    return pq.read_table(location, filesystem=fs)


def _read_rows(path: LakePath) -> int:
    location, fs = arrow_location(path)
    with fs.open_input_file(location) as handle:
        return sum(batch.num_rows for batch in pq.ParquetFile(handle).iter_batches())


def verify_scan(root: str | LakePath, manifest: Manifest) -> list[Problem]:
    """Every problem of one scan's files: tampered entries, missing, corrupted, unreadable, garbage."""
    problems = tampered_entries(manifest) + file_problems(root, manifest)
    for path in _unrecorded(root, manifest, valid_files(manifest)):
        problems.append(Problem(manifest.scan, path.name, GARBAGE, "not recorded in the manifest (left by a crash?); "
                                "'dsscan lake vacuum' deletes it"))
    return problems


def file_problems(root: str | LakePath, manifest: Manifest) -> list[Problem]:
    """The scan's recorded files (tampered entries left out) that are missing, corrupted (sha256) or unreadable."""
    problems = []
    for file, records in valid_files(manifest).items():
        path = scan_dir(root, manifest.scan) / file
        if _is_local_link(path):
            problems.append(Problem(manifest.scan, file, TAMPERED, LINK_DETAIL))
            continue
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
        tables = [_read_table(chunk_path(root, manifest.scan, file)) for file in group]
        metadata = read_file_metadata(chunk_path(root, manifest.scan, group[0]))
        metadata.pop("chunk", None)
        metadata["chunks"] = [r.index for r in records]
        merged = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
        merged = merged.replace_schema_metadata({**(merged.schema.metadata or {}),
                                                 FILE_METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()})
        name = merged_file_name(records[0].index, records[-1].index)
        sha256 = write_parquet(folder / name, merged)
        written[name] = group
        for record in records:
            manifest.record(dataclasses.replace(record, file=name, sha256=sha256))
    if written:
        manifest.save(root)
        for group in written.values():
            for file in group:
                (folder / file).unlink(missing_ok=True)
    return sorted(written)


def is_linked_scan(root: str | LakePath, scan: str) -> bool:
    """Whether the scan folder is a local symbolic link (tampering: nothing of the lake is there)."""
    return _is_local_link(scan_dir(root, scan))


def remove_scan(root: str | LakePath, scan: str) -> None:
    remove_tree(scan_dir(root, scan))
