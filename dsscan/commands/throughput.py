"""``dsscan throughput``: end-to-end scan points/s per storage policy, 1 worker against N, side by side."""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict

from dsscan.config import SAMPLED_STORE, SCAN_DEFAULTS, load_config
from services import ENGINES

EPILOG = """\
examples:
  dsscan throughput
  dsscan throughput configs/datta2020.toml --engine dask
  dsscan throughput --points 1000000 --points-all 200000 --json

Every scan is a real one into a temporary lake (deleted afterwards), run as 'dsscan scan --engine E
--workers W' runs it, so the wall time includes the engine's start-up; the rate after start-up is
what a long scan approaches. Each scan runs --repeats times, interleaved with the others, and the
fastest is shown: other load on the machine only ever slows a run down. Goals on a 2-core machine: >= 1e6 points/s with the default storage
policy (allowed+sample) and 2 workers >= 1.8x one worker.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "throughput",
        help="measure end-to-end scan points/s: allowed+sample and all, 1 worker against N",
        description="Run real scans of a config (sample, evaluate, keep, write Parquet, record in the manifest) with "
        "the storage policies allowed+sample and all, on 1 and on N workers, and print their points/s side by side "
        "with the N-to-1 ratios.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", default="configs/datta2024.toml", help="scan config whose ranges and constraint set are used (default: %(default)s)")
    parser.add_argument("--engine", choices=[e for e in ENGINES if e != "local"], default="ray", help="engine to measure (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), metavar="N", help="the many-worker count (default: the CPUs here, %(default)s)")
    parser.add_argument("--points", type=int, default=10_000_000, help=f"points per scan with store = {SAMPLED_STORE} (default: %(default)s)")
    parser.add_argument("--points-all", type=int, default=2_000_000, help="points per scan with store = all: every point is written (default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=SCAN_DEFAULTS["chunk_size"], help="points per chunk (default: the config default, %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every scan; the fastest of each is shown (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.throughput import format_report, measure, speedup

    if min(args.workers, args.points, args.points_all, args.chunk_size, args.repeats) < 1:
        raise ValueError("--workers, --points, --points-all, --chunk-size and --repeats must be positive")
    base = load_config(args.config)
    workers = tuple(sorted({1, args.workers}))
    points = {SAMPLED_STORE: args.points, "all": args.points_all}
    timings = measure(base, args.engine, points, args.chunk_size, workers, args.repeats)
    if args.json:
        ratios = {
            store: dict(zip(("after_start_up", "wall"), speedup(timings, store, workers[-1])))
            for store in (SAMPLED_STORE, "all") if len(workers) > 1
        }
        print(json.dumps({"engine": args.engine, "chunk_size": args.chunk_size, "cpus": os.cpu_count(), "repeats": args.repeats,
                          "scans": [asdict(t) for t in timings], "speedup": ratios}, indent=2))
    else:
        print(format_report(timings, args.engine, args.chunk_size, os.cpu_count(), args.repeats))
    return 0
