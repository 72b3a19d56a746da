"""``dsscan bench``: kernel, evaluate and reference throughput side by side (issue: >= 5e6 points/s/core)."""
from __future__ import annotations

import argparse
import json

from dsscan.config import load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure points/s of the kernel, evaluate and the reference, side by side",
        description=(
            "Draw points from a scan config and measure, in one run and on one thread: the compiled kernel "
            "(observables + constraint verdicts), dsscan.evaluate (the same plus the Arrow table), the per-point "
            "reference with and without the upscattering integrals, their ratios, the peak memory of a "
            "10^6-point batch, the cold/warm start of a fresh process and the time of a one-point "
            "evaluate once the tables and kernel are loaded."
        ),
        epilog="example: dsscan bench configs/datta2024.toml --points 1000000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", default="configs/datta2024.toml", help="scan config whose ranges the points come from (default: %(default)s)")
    parser.add_argument("--points", type=int, default=1_000_000, help="batch size for the kernel and evaluate (default: %(default)s)")
    parser.add_argument("--reference-points", type=int, default=300, help="points for the per-point reference (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the best is reported (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dsscan.bench import format_report, run_bench

    if args.points < 1 or args.reference_points < 1 or args.repeats < 1:
        raise ValueError("--points, --reference-points and --repeats must be positive")
    spec = load_config(args.config)
    result = run_bench(spec, args.config, args.points, args.reference_points, args.repeats)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_report(result))
    return 0
