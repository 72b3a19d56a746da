"""``dsscan sql QUERY``: read-only SQL (DuckDB) over every scan in the lake, streamed.

The result is never held whole: DuckDB hands it over in Arrow record batches (``to_arrow_reader``)
that are written out one by one, to the terminal (a bounded table, CSV or JSON) or to a file
(Parquet, CSV or JSON by its suffix). DuckDB holds at most ``--memory-limit`` and spills nothing to
disk unless ``--spill-dir``; ``--timeout`` and Ctrl-C interrupt the running query (``DuckDBPyConnection.interrupt``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import sys
import threading
import time
from decimal import Decimal
from typing import Any, Callable

from dsscan.config import LAKE_ROOT_HELP, default_lake_root

FORMATS = ("table", "csv", "json")
OUTPUT_SUFFIXES = (".parquet", ".csv", ".json")
DEFAULT_MAX_ROWS = 40
DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_LIMIT = "2GB"
BATCH_ROWS = 65_536  # rows per Arrow batch: ~30 MB for a full row of the points table
SIGNIFICANT_DIGITS = 4  # of a float in the table format (csv, json and files keep every digit)
SIZE = re.compile(r"\d+(\.\d+)?\s*(B|[KMGT]i?B)", re.IGNORECASE)  # DuckDB's memory_limit syntax
SUPERVISE_INTERVAL_S = 0.05
INTERRUPT_GRACE_S = 30.0  # how long an interrupted DuckDB query may take to stop before dsscan exits without it

EPILOG = f"""\
tables:
  points   every stored point of every scan; the column 'scan' names the scan; 'weight' is its
           importance weight (1 but for sampler = "adaptive"; NULL in lakes written before it)
  scans    one row per scan: status, planned and stored counts, seed, sampler, config (JSON)
  chunks   one row per recorded chunk file: rows, allowed, sha256, seconds

examples:
  dsscan sql "select scan, count(*) as n, sum(allowed::int) as allowed from points group by scan"
  dsscan sql "describe points"
  dsscan sql "select * from scans" --format json
  dsscan sql "select kappa_TeV, BR_Bp_Kpnunu from points where allowed" --format csv > allowed.csv
  dsscan sql "select * from points" --output all.parquet
  dsscan sql "select floor(m_S_MeV / 10) * 10 as m_S, sum(weight) as density from points where allowed group by all order by 1"
  echo "select count(*) from points" | dsscan sql -

Only one SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN statement is run; the lake cannot be
changed, and files outside the lake cannot be read. The table format shows the first --max-rows
rows (floats to {SIGNIFICANT_DIGITS} significant digits) and the total; csv, json and --output keep every
row and digit. Results stream: memory stays bounded whatever their size. A query that needs more
than --memory-limit (nothing spills to disk unless --spill-dir) or runs longer than --timeout is
stopped with one line.

A scan whose manifest is damaged (or missing) is left out with a warning naming it; the others
are queried. A damaged file stops the query with one line naming it ('dsscan scan CONFIG
--resume --repair' computes its chunks again).
"""


def memory_size(text: str) -> str:
    """``--memory-limit``: a size as DuckDB writes it (``2GB``, ``512MiB``)."""
    if not SIZE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected a size such as 2GB or 512MiB, got {text!r}")
    return text.strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sql",
        help="query the lake with read-only SQL (DuckDB)",
        description="Run one read-only SQL query (DuckDB dialect) over the lake's tables points, scans and chunks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("query", metavar="QUERY", help="the SQL query, or - to read it from standard input")
    parser.add_argument("--lake", metavar="ROOT", default=default_lake_root(), help=LAKE_ROOT_HELP)
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format on the terminal (default: %(default)s)")
    parser.add_argument("--output", metavar="FILE", type=pathlib.Path,
                        help="write every row to FILE instead, as it streams: .parquet, .csv or .json")
    parser.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, metavar="N",
                        help="rows the table format shows; the total is counted anyway (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help="stop the query (and its output) after this long; 0 for no limit (default: %(default)g)")
    parser.add_argument("--memory-limit", type=memory_size, default=DEFAULT_MEMORY_LIMIT, metavar="SIZE",
                        help="most memory the query may hold (default: %(default)s)")
    parser.add_argument("--spill-dir", metavar="DIR", type=pathlib.Path,
                        help="let a query that needs more than --memory-limit spill to files in DIR (default: it stops)")
    parser.set_defaults(func=run)


# --- writers: one Arrow batch at a time --------------------------------------------------------

def plain(value: Any) -> Any:
    """A value as JSON has it: NaN as null, an exact decimal (DuckDB's HUGEINT sums) as int or float."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def cell(value: Any) -> str:
    """A value as the table shows it: floats to SIGNIFICANT_DIGITS digits, integers and decimals exact."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


class TableWriter:
    """Keeps the first ``max_rows`` rows and counts the rest; prints an aligned table at the end."""

    def __init__(self, schema, stream, max_rows: int):
        import pyarrow.types as pat

        self.names = schema.names
        self.numeric = [pat.is_integer(f.type) or pat.is_floating(f.type) or pat.is_decimal(f.type) for f in schema]
        self.stream, self.max_rows = stream, max_rows
        self.rows: list[list[str]] = []
        self.total = 0

    def write(self, batch) -> None:
        wanted = self.max_rows - len(self.rows)
        if wanted > 0:
            columns = batch.slice(0, wanted).to_pydict().values()
            self.rows += [[cell(v) for v in row] for row in zip(*columns)]
        self.total += batch.num_rows

    def close(self) -> None:
        table = [self.names, *self.rows]
        widths = [max(len(row[j]) for row in table) for j in range(len(self.names))]
        for row in table:
            cells = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, self.numeric))
            self.stream.write("  ".join(cells).rstrip() + "\n")
        shown = f", the first {len(self.rows)} shown (--max-rows N for more, --output FILE for all)" if self.total > len(self.rows) else ""
        self.stream.write(f"({self.total:,} row{'s' if self.total != 1 else ''}{shown})\n")


class JsonWriter:
    """A JSON array of row objects, written row by row."""

    def __init__(self, schema, stream):
        self.stream = stream
        self.total = 0

    def write(self, batch) -> None:
        for row in batch.to_pylist():
            self.stream.write(("[\n" if self.total == 0 else ",\n") + json.dumps({k: plain(v) for k, v in row.items()}, default=str))
            self.total += 1

    def close(self) -> None:
        self.stream.write("[]\n" if self.total == 0 else "\n]\n")


class ArrowWriter:
    """Batches into pyarrow's CSV or Parquet writer."""

    def __init__(self, writer):
        self.writer = writer
        self.total = 0

    def write(self, batch) -> None:
        self.writer.write_batch(batch)
        self.total += batch.num_rows

    def close(self) -> None:
        self.writer.close()


def csv_writer(schema, sink) -> ArrowWriter:
    import pyarrow.csv as pcsv

    return ArrowWriter(pcsv.CSVWriter(sink, schema))


def parquet_writer(schema, sink) -> ArrowWriter:
    import pyarrow.parquet as pq

    return ArrowWriter(pq.ParquetWriter(sink, schema))


def stream_to_terminal(reader, args: argparse.Namespace, stop: threading.Event) -> None:
    sys.stdout.flush()
    if args.format == "csv":
        writer = csv_writer(reader.schema, sys.stdout.buffer)
    elif args.format == "json":
        writer = JsonWriter(reader.schema, sys.stdout)
    else:
        writer = TableWriter(reader.schema, sys.stdout, args.max_rows)
    copy_batches(reader, writer, stop)
    sys.stdout.flush()


def stream_to_file(reader, path: pathlib.Path, stop: threading.Event) -> int:
    """Write every row to ``path`` (a ``.partial`` file renamed when complete); the rows written."""
    partial = path.with_name(path.name + ".partial")
    try:
        if path.suffix == ".parquet":
            copy_batches(reader, writer := parquet_writer(reader.schema, str(partial)), stop)
        elif path.suffix == ".csv":
            copy_batches(reader, writer := csv_writer(reader.schema, str(partial)), stop)
        else:
            with open(partial, "w") as stream:
                copy_batches(reader, writer := JsonWriter(reader.schema, stream), stop)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return writer.total


def copy_batches(reader, writer, stop: threading.Event) -> None:
    for batch in reader:
        if stop.is_set():
            raise QueryStopped
        writer.write(batch)
    writer.close()


# --- running the query under its limits ---------------------------------------------------------

class QueryStopped(Exception):
    """The supervisor asked the query to stop (timeout or Ctrl-C)."""


def supervised(con, work: Callable[[threading.Event], Any], timeout: float) -> Any:
    """Run ``work`` in a thread while this (main) thread, which alone receives Ctrl-C, watches the
    clock; on timeout or Ctrl-C it interrupts DuckDB and tells ``work`` to stop between batches."""
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(stop)
        except BaseException as exc:  # noqa: BLE001 -- handed to the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="dsscan-sql", daemon=True)
    deadline = time.monotonic() + timeout if timeout > 0 else math.inf
    thread.start()
    try:
        while thread.is_alive():
            thread.join(SUPERVISE_INTERVAL_S)
            if time.monotonic() > deadline and not stop.is_set():
                stop.set()
                con.interrupt()
    except KeyboardInterrupt:
        stop.set()
        con.interrupt()
        # DuckDB stops at its next check. The interrupted query's result stays pending on the
        # connection (its reader is referenced from the exception), and destroying it in the
        # interpreter's teardown aborts the process (SIGABRT, "exception not rethrown"): so once the
        # query's thread has ended (or the grace is over), leave without that teardown. A read-only
        # query has nothing else to clean up; a --output file's .partial was removed by its thread.
        thread.join(INTERRUPT_GRACE_S)
        sys.stdout.flush()
        sys.stderr.write("dsscan: interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    if "error" not in outcome:
        return outcome["value"]
    if stop.is_set():
        raise ValueError(f"the query ran longer than --timeout {timeout:g} s and was stopped; narrow it or raise --timeout")
    raise outcome["error"]


def run(args: argparse.Namespace) -> int:
    import duckdb

    from lake.catalog import lake_scans, open_catalog, read_only_query

    if args.max_rows < 0:
        raise ValueError(f"--max-rows must be 0 or more, got {args.max_rows}")
    if args.output is not None and args.output.suffix not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output {str(args.output)!r}: expected a file name ending in {', '.join(OUTPUT_SUFFIXES)}")
    query = sys.stdin.read() if args.query == "-" else args.query
    if args.spill_dir is not None and not args.spill_dir.is_dir():
        raise ValueError(f"--spill-dir {str(args.spill_dir)!r}: no such directory")
    spill = str(args.spill_dir.resolve()) if args.spill_dir else None
    scans = lake_scans(args.lake)
    con = open_catalog(args.lake, scans, memory_limit=args.memory_limit, spill_directory=spill)
    for warning in scans.warnings():
        print(f"dsscan: warning: {warning}; it is left out of the query", file=sys.stderr)

    def work(stop: threading.Event) -> int | None:
        reader = read_only_query(con, query).to_arrow_reader(BATCH_ROWS)
        if args.output is not None:
            return stream_to_file(reader, args.output, stop)
        stream_to_terminal(reader, args, stop)
        return None

    try:
        written = supervised(con, work, args.timeout)
    except (duckdb.OutOfMemoryException, MemoryError):
        spilled = f", spilling to {args.spill_dir}" if args.spill_dir else " (nothing spills to disk without --spill-dir)"
        raise ValueError(f"the query needs more memory than --memory-limit {args.memory_limit}{spilled}; "
                         "select fewer columns or rows, aggregate, or raise --memory-limit") from None
    except duckdb.Error as exc:
        raise ValueError(_failure(args.lake, scans.manifests, exc)) from None
    if written is not None:
        print(f"wrote {written:,} rows to {args.output}", file=sys.stderr)
    return 0


def _failure(root: str, manifests: list, exc: Exception) -> str:
    """One line on a failed query; where reading the lake's files failed (not the query's own
    mistake), the damaged file it names, found by checking the recorded files."""
    import duckdb

    from lake.catalog import blame_files

    message = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.CatalogException) and not manifests:
        return f"{message} (no scan of the lake is readable: see the warnings above)"
    query_mistakes = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
    return message if isinstance(exc, query_mistakes) else blame_files(root, manifests, message)
