"""``dsscan tables build|path``: the precomputed MiniBooNE / CHARM-II upscattering tables.

The tables (``dsscan.physics.scattering_tables``) are built on first use anyway; this command builds
them ahead of time (e.g. in a container image or before a cluster scan) and tells where they live.
"""
from __future__ import annotations

import argparse
import json
import os
import time

EPILOG = """\
examples:
  dsscan tables build                 # build into $DSSCAN_CACHE_DIR (default ~/.cache/dsscan) unless up to date
  dsscan tables build --force --workers 2
  dsscan tables path                  # where the tables for the current inputs are (or will be)

The file name carries a hash of everything the tables depend on (the BNB flux file, the inputs,
the grid and the builder's version), so changing an input builds a new file instead of reusing
a stale one.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tables",
        help="build or locate the MiniBooNE / CHARM-II upscattering tables",
        description="Build (or locate) the unit-coupling upscattering integrals on the (m_S, m_nu4) grid "
        "that the fast evaluation interpolates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=("build", "path"), help="build the tables, or print their path")
    parser.add_argument("--cache-dir", metavar="DIR", help="cache directory, overriding $DSSCAN_CACHE_DIR")
    parser.add_argument("--force", action="store_true", help="rebuild even if an up-to-date file exists")
    parser.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dsscan.physics import scattering_tables as st  # scipy: only when the tables are wanted

    if args.cache_dir:
        os.environ["DSSCAN_CACHE_DIR"] = args.cache_dir
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    path = st.table_path()
    result = {"path": str(path), "key": st.table_key(st.DEFAULT_GRID), "exists": path.exists()}
    if args.action == "build":
        if st.up_to_date() and not args.force:
            result["built"] = False
        else:
            start = time.perf_counter()
            st.save_tables(st.build_tables(workers=args.workers), path)
            result.update(built=True, build_seconds=round(time.perf_counter() - start, 2), exists=True)
    if args.json:
        print(json.dumps(result))
    elif args.action == "path":
        print(path)
    elif result["built"]:
        print(f"built {path} in {result['build_seconds']} s")
    else:
        print(f"up to date: {path} (use --force to rebuild)")
    return 0
