"""The lake as SQL: an in-memory DuckDB database whose only data are the lake's recorded chunks.

Views: ``points`` (every recorded chunk file of every scan, with the hive partition column
``scan``), ``scans`` (one row per scan folder) and ``chunks`` (one row per recorded chunk).
``points`` is a view of DuckDB's ``read_parquet`` over the recorded files of a local lake; on an
object store (``s3://``) it is a ``pyarrow.dataset`` of them registered in DuckDB, so that the lake
is read through pyarrow's filesystem, without DuckDB's httpfs.
After the views exist the connection is locked: DuckDB itself can read no file but the recorded
ones and write none (no temporary directory either, unless a spill directory is given, so nothing
spills to disk), its memory is limited, extensions cannot be installed or loaded, and settings
cannot be changed. ``read_only_query`` additionally admits one read query only: a SELECT (WITH,
FROM, DESCRIBE, SHOW, SUMMARIZE, VALUES) or an EXPLAIN [ANALYZE] of one; DuckDB's EXPLAIN ANALYZE
executes the statement it explains, so the explained statement is parsed and checked as well.
A damaged, tampered or manifest-less scan, or one with a recorded file missing, affects only
itself: it is a row of ``scans`` with status ``damaged`` or ``incomplete``, left out of ``points``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from lake.layout import MANIFEST_NAME, SCAN_PARTITION, folder_scan, scan_folders
from lake.manifest import CHUNK_COUNTS, ChunkRecord, Manifest, ManifestError
from lake.storage import LakePath, arrow_location, lake_path

if TYPE_CHECKING:
    import pyarrow.dataset as ds

DEFAULT_MEMORY_LIMIT = "2GB"  # DuckDB's own default is 80 % of the machine's memory
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
EXPLAIN_ANALYZE = ("ANALYZE", "ANALYSE")
_DUCKDB_TYPES = {"int": "BIGINT", "str": "VARCHAR", "float": "DOUBLE"}
# ``chunks`` has the manifest's chunk records with ``index`` renamed ``chunk``, keyed by ``scan``.
CHUNKS_COLUMNS = {"scan": "VARCHAR"} | {
    "chunk" if f.name == "index" else f.name: _DUCKDB_TYPES[f.type] for f in dataclasses.fields(ChunkRecord)
}
SCANS_COLUMNS = (
    {"scan": "VARCHAR", "status": "VARCHAR", "points_planned": "BIGINT", "chunks_planned": "BIGINT", "chunks_done": "BIGINT"}
    | {name: "BIGINT" for name in CHUNK_COUNTS}
    | {"seed": "BIGINT", "sampler": "VARCHAR", "store": "VARCHAR", "sample_rate": "DOUBLE", "constraint_set": "VARCHAR",
       "code_version": "VARCHAR", "config": "VARCHAR"}
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
    from lake.maintenance import read_manifest, tampered_entries  # pyarrow's stack: not for listing scans

    found = LakeScans()
    for folder in scan_folders(root):
        path = folder / MANIFEST_NAME
        if not path.exists():
            found.incomplete.append(folder_scan(folder))
            continue
        try:
            manifest = read_manifest(path)
            tampered = tampered_entries(manifest)
            if tampered:
                raise ValueError(f"{tampered[0]} ('dsscan lake verify' lists every such entry)")
            found.manifests.append(manifest)
        except ManifestError as exc:
            found.damaged[exc.scan] = str(exc)
        except ValueError as exc:  # tampering: that scan is left out, never read
            found.damaged[folder_scan(folder)] = str(exc)
    if not (found.manifests or found.damaged or found.incomplete):
        raise ValueError(
            f"no scans under lake root {str(root)!r} (expected {SCAN_PARTITION}=<name>/manifest.json); "
            "run 'dsscan scan CONFIG' first or pass --lake"
        )
    return found


def _create_table(con: duckdb.DuckDBPyConnection, name: str, types: dict[str, str], rows: list[dict]) -> None:
    """Table ``name`` with columns ``types`` (name -> DuckDB type) from ``rows`` (a missing key is
    NULL), passed to DuckDB as one list per column: pyarrow's conversion of Python values imports
    pandas, a second of start-up."""
    columns = ", ".join(f"unnest(${column}::{kind}[]) as {column}" for column, kind in types.items())
    con.execute(f"create table {name} as select {columns}", {column: [row.get(column) for row in rows] for column in types})


def _scans_rows(scans: LakeScans) -> list[dict]:
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
    return rows + [{"scan": name, "status": status} for name, status in unusable]


def _chunks_rows(manifests: list[Manifest]) -> list[dict]:
    return [dict(zip(CHUNKS_COLUMNS, [m.scan, *dataclasses.astuple(r)])) for m in manifests for r in m.chunks.values()]


def blame_files(root: str | os.PathLike | LakePath, manifests: list[Manifest], message: str) -> str:
    """For a failed read of the lake's files (``message``): the first recorded file that is missing,
    corrupted or unreadable, and the way back; found by checking every recorded file, which only a
    failed read pays for."""
    from lake.maintenance import REPAIR_HINT, file_problems

    problems = [p for m in manifests for p in file_problems(root, m)]
    if not problems:
        return message
    more = f" (and {len(problems) - 1} more: 'dsscan lake verify' lists them)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}; {REPAIR_HINT}"


def _set_aside_missing(root: LakePath, scans: LakeScans) -> None:
    """Leave out of ``points`` each scan with a recorded file that is missing (a stat per file), naming it."""
    from lake.maintenance import REPAIR_HINT, chunk_path, recorded_files

    for manifest in list(scans.manifests):
        missing = [f for f in recorded_files(manifest) if not chunk_path(root, manifest.scan, f).exists()]
        if missing:
            scans.set_aside(manifest, f"{chunk_path(root, manifest.scan, missing[0])}: recorded but not found"
                            f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}; {REPAIR_HINT}")


def points_dataset(root: str | os.PathLike | LakePath, scans: LakeScans) -> ds.Dataset | None:
    """The recorded files of ``scans``, each once, as one pyarrow dataset with the partition column
    ``scan`` (for an object-store lake); scans whose columns differ (other constraint sets) are unified
    by name, missing values null. A scan with a recorded file that is missing is set aside
    (``LakeScans.set_aside``), the others stay queryable; any other file that cannot be opened is a
    one-line ``ValueError`` naming it."""
    import pyarrow as pa  # here: pyarrow imports pandas, which a local lake's catalog never needs

    root = lake_path(root)
    try:
        return _points_dataset(root, scans.manifests)
    except (OSError, pa.ArrowException):
        pass  # only now look for missing files: a request per recorded file
    _set_aside_missing(root, scans)
    try:
        return _points_dataset(root, scans.manifests)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(blame_files(root, scans.manifests, str(exc).splitlines()[0])) from None


def verifying_parquet() -> ds.ParquetFileFormat:
    """Parquet as pyarrow reads it with every page checked against its CRC32 (``lake.writer`` writes
    one per page): a flipped byte stops the query instead of being read as a number."""
    import pyarrow.dataset as ds

    return ds.ParquetFileFormat(default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True))


def _points_dataset(root: LakePath, manifests: list[Manifest]) -> ds.Dataset | None:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from lake.maintenance import chunk_path, recorded_files
    from lake.writer import read_schema

    files = [chunk_path(root, m.scan, file) for m in manifests for file in recorded_files(m)]  # compacted: many chunks, one file
    if not files:
        return None
    first_of_each_scan = {f.parent: f for f in reversed(files)}.values()
    schema = pa.unify_schemas([read_schema(f) for f in first_of_each_scan])
    schema = schema.append(pa.field(SCAN_PARTITION, pa.string()))
    base, fs = arrow_location(root)
    return ds.dataset(
        [arrow_location(f)[0] for f in files], schema=schema, format=verifying_parquet(), filesystem=fs,
        partitioning=ds.partitioning(pa.schema([(SCAN_PARTITION, pa.string())]), flavor="hive"),
        partition_base_dir=base,
    )


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_local_points_view(con: duckdb.DuckDBPyConnection, root: pathlib.Path, scans: LakeScans) -> None:
    """``points`` over a local lake through DuckDB's own Parquet reader, which streams a result with
    bounded memory; a registered pyarrow dataset is read ahead of a slow consumer without bound
    (``select *`` of 10^6 rows into a Parquet file: 219 MiB peak against 593 MiB, measured). Once
    the connection is locked, DuckDB may read these files and no other (``allowed_paths``)."""
    from lake.maintenance import chunk_path, recorded_files  # here: it imports pyarrow, which listing the scans never needs

    _set_aside_missing(root, scans)
    files = {m.scan: [str(chunk_path(root, m.scan, f).resolve()) for f in recorded_files(m)] for m in scans.manifests}
    options = "union_by_name = true, hive_partitioning = false"
    selects = [
        f"select *, {_quoted(scan)} as {SCAN_PARTITION} from read_parquet([{', '.join(map(_quoted, paths))}], {options})"
        for scan, paths in files.items() if paths
    ]
    if selects:
        con.execute("create view points as " + " union all by name ".join(selects))
        con.execute(f"set allowed_paths = [{', '.join(_quoted(p) for paths in files.values() for p in paths)}]")


def open_catalog(
    root: str | os.PathLike | LakePath, scans: LakeScans | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT,
    spill_directory: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB connection with the views ``points``, ``scans`` and ``chunks`` over ``root``
    (or over ``scans``, read from it before). A query may hold at most ``memory_limit`` (``2GB``,
    ``512MiB``, ...); beyond it, it spills to ``spill_directory`` if given, else fails with DuckDB's
    out-of-memory error. A damaged or manifest-less scan, or one with a missing file, is only a row
    of ``scans`` with status ``damaged`` or ``incomplete``; ``scans.warnings()`` then names each.
    DuckDB draws no progress bar (it would land in a query's output)."""
    if not MEMORY_SIZE.fullmatch(memory_limit.strip()):
        raise ValueError(f"memory limit {memory_limit!r}: expected a size such as 2GB, 512MiB or 1.5GB")
    scans = scans or lake_scans(root)
    settings = {"temp_directory": spill_directory} if spill_directory else {"temp_directory": "", "max_temp_directory_size": "0B"}
    con = duckdb.connect(":memory:", config=settings | {"memory_limit": memory_limit.strip()})
    con.execute("SET enable_progress_bar = false")
    if isinstance(lake_path(root), pathlib.Path):
        _create_local_points_view(con, lake_path(root), scans)
    elif (points := points_dataset(root, scans)) is not None:
        con.register("points", points)
    _create_table(con, "scans", SCANS_COLUMNS, _scans_rows(scans))  # after the points: they may set scans aside
    _create_table(con, "chunks", CHUNKS_COLUMNS, _chunks_rows(scans.manifests))
    for statement in LOCKDOWN:
        con.execute(statement)
    return con


def _statement_types(query: str) -> list[duckdb.StatementType]:
    try:
        return [s.type for s in duckdb.extract_statements(query)]
    except duckdb.Error as exc:
        raise ValueError(f"cannot parse the query: {str(exc).splitlines()[0]}") from None


def _explained_candidates(query: str) -> list[str]:
    """What an EXPLAIN statement may explain: the text after ``EXPLAIN [ANALYZE]``, and after a
    following parenthesised option list (``EXPLAIN (ANALYZE, FORMAT json) ...``) if there is one.
    DuckDB's tokenizer finds the words, so comments between them do not hide them."""
    tokens = duckdb.tokenize(query)
    ends = [start for start, _ in tokens[1:]] + [len(query)]
    words = [(start, query[start:end].strip()) for (start, kind), end in zip(tokens, ends) if kind != duckdb.token_type.comment]
    starts, words = [start for start, _ in words], [word for _, word in words]
    position = 1  # words[0] is EXPLAIN
    while position < len(words) and words[position].upper() in EXPLAIN_ANALYZE:
        position += 1
    candidates = [query[starts[position]:]] if position < len(words) else []
    if position < len(words) and words[position] == "(":
        depth = 0
        for after, word in enumerate(words[position:], start=position + 1):
            depth += word.count("(") - word.count(")")
            if depth == 0:
                candidates += [query[starts[after]:]] if after < len(words) else []
                break
    return candidates


def check_read_only(query: str) -> None:
    """A one-line ValueError unless ``query`` is a single read query (see the module docstring)."""
    types = _statement_types(query)
    if len(types) != 1:
        raise ValueError(f"expected exactly one statement, got {len(types)}")
    if types[0] == duckdb.StatementType.SELECT:
        return
    allowed = "only SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN of one of them are allowed"
    if types[0] != duckdb.StatementType.EXPLAIN:
        raise ValueError(f"the lake is read-only: {allowed}, got {types[0].name}")
    explained = []
    for candidate in _explained_candidates(query):
        try:
            explained.append(_statement_types(candidate))
        except ValueError:
            continue  # not where the explained statement starts
    if not explained or any(kinds != [duckdb.StatementType.SELECT] for kinds in explained):
        kind = next((k[0].name for k in explained if k and k != [duckdb.StatementType.SELECT]), "a statement it cannot read")
        raise ValueError(f"the lake is read-only: {allowed}; this EXPLAIN explains {kind}")


def read_only_query(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation:
    """Run one read query (``check_read_only``); refuse anything else."""
    check_read_only(query)
    return con.sql(query)
