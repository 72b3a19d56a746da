"""``dsscan sql QUERY``: read-only SQL (DuckDB) over every scan in the lake."""
from __future__ import annotations

import argparse
import sys

import duckdb

from dsscan.config import LAKE_DEFAULTS
from lake.catalog import open_catalog, read_only_query

FORMATS = ("table", "csv", "json")
EPILOG = """\
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
  dsscan sql "select floor(m_S_MeV / 10) * 10 as m_S, sum(weight) as density from points where allowed group by all order by 1"
  echo "select count(*) from points" | dsscan sql -

Only one SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN statement is run; the lake cannot be
changed, and files outside the lake cannot be read.
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
    con = open_catalog(args.lake)
    try:
        frame = read_only_query(con, query).df()
    except duckdb.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        print(frame.to_json(orient="records", double_precision=15))
    elif frame.empty:
        print(" ".join(frame.columns) + "\n(0 rows)")
    else:
        print(frame.to_string(index=False))
    return 0
