"""The lake as SQL: an in-memory DuckDB database whose only data are the lake's recorded chunks.

Views: ``points`` (every recorded chunk file of every scan, with the hive partition column
``scan``), ``scans`` (one row per manifest) and ``chunks`` (one row per recorded chunk).
``points`` is a ``pyarrow.dataset`` over the recorded files registered in DuckDB, so a lake on
an object store (``s3://``) is read through pyarrow's filesystem, without DuckDB's httpfs.
After the views exist the connection is locked: DuckDB itself can read or write no file,
extensions cannot be installed or loaded, and settings cannot be changed.
``read_only_query`` additionally admits a single SELECT-like statement only.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from lake.layout import MANIFEST_NAME, SCAN_PARTITION, scan_dir, scan_folders, scan_name
from lake.manifest import CHUNK_COUNTS, ChunkRecord, Manifest, ManifestError
from lake.maintenance import REPAIR_HINT, file_problems, recorded_files
from lake.storage import LakePath, arrow_location, lake_path
from lake.writer import read_schema

READ_ONLY_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
_ARROW_TYPES = {"int": pa.int64(), "str": pa.string(), "float": pa.float64()}
# ``chunks`` has the manifest's chunk records with ``index`` renamed ``chunk``, keyed by ``scan``.
CHUNKS_SCHEMA = pa.schema(
    [("scan", pa.string())]
    + [("chunk" if f.name == "index" else f.name, _ARROW_TYPES[f.type]) for f in dataclasses.fields(ChunkRecord)]
)
SCANS_SCHEMA = pa.schema(
    [("scan", pa.string()), ("status", pa.string()), ("points_planned", pa.int64()), ("chunks_planned", pa.int64()),
     ("chunks_done", pa.int64())]
    + [(name, pa.int64()) for name in CHUNK_COUNTS]
    + [("seed", pa.int64()), ("sampler", pa.string()), ("store", pa.string()), ("sample_rate", pa.float64()),
       ("constraint_set", pa.string()), ("code_version", pa.string()), ("config", pa.string())]
)
# Every page read is checked against its CRC32 (lake.writer writes one per page): a flipped byte
# stops the query instead of being read as a number.
VERIFYING_PARQUET = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)
LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


DAMAGED, INCOMPLETE = "damaged", "incomplete"  # ``scans.status`` of a scan without a usable manifest


@dataclass
class LakeScans:
    """Every scan folder of a lake: the readable manifests, the damaged ones (one line each, naming
    the file), and folders without a manifest (a start that crashed before writing one)."""

    manifests: list[Manifest] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # scan -> what is wrong, naming the file
    incomplete: list[str] = field(default_factory=list)

    def set_aside(self, manifest: Manifest, why: str) -> None:
        """Leave a scan whose files cannot all be read out of queries, like a damaged one."""
        self.manifests.remove(manifest)
        self.damaged[manifest.scan] = why

    def warnings(self) -> list[str]:
        """One line per scan left out of queries."""
        return list(self.damaged.values()) + [
            f"scan {name!r} has a folder but no manifest (its start was cut short); "
            f"'dsscan lake rm {name} --yes' removes it" for name in self.incomplete
        ]


def lake_scans(root: str | os.PathLike | LakePath) -> LakeScans:
    """Read every manifest under ``root``; one that is damaged affects only its own scan."""
    found = LakeScans()
    for folder in scan_folders(root):
        path = folder / MANIFEST_NAME
        if not path.exists():
            found.incomplete.append(scan_name(folder))
            continue
        try:
            found.manifests.append(Manifest.load(path))
        except ManifestError as exc:
            found.damaged[exc.scan] = str(exc)
    if not (found.manifests or found.damaged or found.incomplete):
        raise ValueError(
            f"no scans under lake root {str(root)!r} (expected {SCAN_PARTITION}=<name>/manifest.json); "
            "run 'dsscan scan CONFIG' first or pass --lake"
        )
    return found


def load_manifests(root: str | os.PathLike | LakePath) -> list[Manifest]:
    """The readable manifests under ``root`` (see ``lake_scans`` for the damaged and incomplete ones)."""
    return lake_scans(root).manifests


def _scans_table(scans: LakeScans) -> pa.Table:
    rows = []
    for m in scans.manifests:
        scan = m.config["scan"]
        rows.append({
            "scan": m.scan, "status": m.status, "points_planned": scan["points"],
            "chunks_planned": m.chunks_planned, "chunks_done": len(m.chunks), **m.totals(),
            "seed": scan["seed"], "sampler": scan["sampler"], "store": scan["store"],
            "sample_rate": scan.get("sample_rate"), "constraint_set": m.provenance["constraint_set"]["name"],
            "code_version": m.provenance["code_version"], "config": json.dumps(m.config),
        })
    unusable = [(name, DAMAGED) for name in scans.damaged] + [(name, INCOMPLETE) for name in scans.incomplete]
    rows += [{"scan": name, "status": status} for name, status in unusable]
    return pa.Table.from_pylist(rows, schema=SCANS_SCHEMA)


def _chunks_table(manifests: list[Manifest]) -> pa.Table:
    rows = [[m.scan, *dataclasses.astuple(r)] for m in manifests for r in m.chunks.values()]
    return pa.Table.from_pylist([dict(zip(CHUNKS_SCHEMA.names, row)) for row in rows], schema=CHUNKS_SCHEMA)


def blame_files(root: str | os.PathLike | LakePath, manifests: list[Manifest], message: str) -> str:
    """For a failed read of the lake's files (``message``): the first recorded file that is missing,
    corrupted or unreadable, and the way back; found by checking every recorded file, which only a
    failed read pays for."""
    problems = [p for m in manifests for p in file_problems(root, m)]
    if not problems:
        return message
    more = f" (and {len(problems) - 1} more: 'dsscan lake verify' lists them)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}; {REPAIR_HINT}"


def points_dataset(root: str | os.PathLike | LakePath, scans: LakeScans) -> ds.Dataset | None:
    """The recorded files of ``scans``, each once, as one dataset with the partition column ``scan``;
    scans whose columns differ (other constraint sets) are unified by name, missing values null.
    A scan with a recorded file that is missing is set aside (``LakeScans.set_aside``), the others
    stay queryable; any other file that cannot be opened is a one-line ``ValueError`` naming it."""
    root = lake_path(root)
    try:
        return _points_dataset(root, scans.manifests)
    except (OSError, pa.ArrowException):
        pass  # only now look for missing files: a stat per recorded file
    for manifest in list(scans.manifests):
        missing = [f for f in recorded_files(manifest) if not (scan_dir(root, manifest.scan) / f).exists()]
        if missing:
            scans.set_aside(manifest, f"{scan_dir(root, manifest.scan) / missing[0]}: recorded but not found"
                            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; {REPAIR_HINT}")
    try:
        return _points_dataset(root, scans.manifests)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(blame_files(root, scans.manifests, str(exc).splitlines()[0])) from None


def _points_dataset(root: LakePath, manifests: list[Manifest]) -> ds.Dataset | None:
    files = [scan_dir(root, m.scan) / file for m in manifests for file in recorded_files(m)]  # compacted: many chunks, one file
    if not files:
        return None
    first_of_each_scan = {f.parent: f for f in reversed(files)}.values()
    schema = pa.unify_schemas([read_schema(f) for f in first_of_each_scan])
    schema = schema.append(pa.field(SCAN_PARTITION, pa.string()))
    base, fs = arrow_location(root)
    return ds.dataset(
        [arrow_location(f)[0] for f in files], schema=schema, format=VERIFYING_PARQUET, filesystem=fs,
        partitioning=ds.partitioning(pa.schema([(SCAN_PARTITION, pa.string())]), flavor="hive"),
        partition_base_dir=base,
    )


def open_catalog(root: str | os.PathLike | LakePath, scans: LakeScans | None = None) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB connection with the views ``points``, ``scans`` and ``chunks`` over ``root``
    (or over ``scans``, read from it before). A damaged or manifest-less scan, or one with a missing
    file, is only a row of ``scans`` with status ``damaged`` or ``incomplete``; ``scans.warnings()``
    then names each."""
    scans = scans or lake_scans(root)
    points = points_dataset(root, scans)
    con = duckdb.connect(":memory:")
    con.from_arrow(_scans_table(scans)).create("scans")
    con.from_arrow(_chunks_table(scans.manifests)).create("chunks")
    if points is not None:
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
