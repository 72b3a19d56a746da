"""``dsscan sql QUERY``: read-only SQL (DuckDB) over every scan in the lake."""
from __future__ import annotations

import argparse
import sys

import duckdb

from dsscan.config import LAKE_DEFAULTS
from lake.catalog import blame_files, lake_scans, open_catalog, read_only_query

FORMATS = ("table", "csv", "json")
POINTS_READ_FAILED = "registered as 'points' failed"  # DuckDB's words when reading the points dataset raised
EPILOG = """\
tables:
  points   every stored point of every scan; the column 'scan' names the scan
  scans    one row per scan: status, planned and stored counts, seed, sampler, config (JSON)
  chunks   one row per recorded chunk file: rows, allowed, sha256, seconds

examples:
  dsscan sql "select scan, count(*) as n, sum(allowed::int) as allowed from points group by scan"
  dsscan sql "describe points"
  dsscan sql "select * from scans" --format json
  dsscan sql "select kappa_TeV, BR_Bp_Kpnunu from points where allowed" --format csv > allowed.csv
  echo "select count(*) from points" | dsscan sql -

Only one SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN statement is run; the lake cannot be
changed, and files outside the lake cannot be read.

A scan whose manifest is damaged (or missing) is left out with a warning naming it; the others
are queried. Every page read is checked against its CRC32: a damaged file stops the query with
one line naming it ('dsscan scan CONFIG --resume --repair' computes its chunks again).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sql",
        help="query the lake with read-only SQL (DuckDB)",
        description="Run one read-only SQL query (DuckDB dialect) over the lake's tables points, scans and chunks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("query", metavar="QUERY", help="the SQL query, or - to read it from standard input")
    parser.add_argument("--lake", metavar="ROOT", default=LAKE_DEFAULTS["root"], help="lake root directory (default: %(default)s)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    query = sys.stdin.read() if args.query == "-" else args.query
    scans = lake_scans(args.lake)
    con = open_catalog(args.lake, scans)
    for warning in scans.warnings():
        print(f"dsscan: warning: {warning}; it is left out of the query", file=sys.stderr)
    try:
        frame = read_only_query(con, query).df()
    except duckdb.Error as exc:
        raise ValueError(_failure(args.lake, scans.manifests, exc)) from None
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", double_precision=15))
    elif frame.empty:
        print(" ".join(frame.columns) + "\n(0 rows)")
    else:
        print(frame.to_string(index=False))
    return 0


def _failure(root: str, manifests: list, exc: duckdb.Error) -> str:
    """One line on a failed query, naming the damaged file when reading the lake's files failed."""
    message = str(exc).splitlines()[0]
    return blame_files(root, manifests, message) if POINTS_READ_FAILED in message else message
