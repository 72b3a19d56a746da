"""``dsscan bench``: kernel, evaluate and reference throughput side by side (issue: >= 5e6 points/s/core);
with ``--samplers``: allowed points per CPU-second of the uniform and the adaptive sampler, and a
worker's end-to-end rates against the kernel's and pyarrow's (``docs/adaptive.md``)."""
from __future__ import annotations

import argparse
import dataclasses
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
        epilog=(
            "examples:\n  dsscan bench configs/datta2024.toml --points 1000000\n"
            "  dsscan bench --samplers                      # adaptive vs uniform, kappa != 0 and kappa = 0; worker vs kernel\n"
            "  dsscan bench --samplers --uniform-points 50000000 --adaptive-points 5000000\n\n"
            "--samplers runs real scans (local engine, temporary lakes) of the config and of its kappa = 0 variant\n"
            "(kappa fixed 0, eta_d in [0, 2]) with the uniform and the adaptive sampler (the uniform scan in two\n"
            "halves, seeds s and s + 1, before and after the adaptive one, so that a drift of the machine's speed\n"
            "weighs on both), and prints allowed points per CPU-second side by side (goal: adaptive >= 100x\n"
            "uniform), the coverage of the uniform scan's occupied 20x20 bins on the Fig. 2 planes (by all adaptive\n"
            "allowed points, by as many as the uniform scan found drawn by weight and at random, and one half of\n"
            "the uniform scan against the other as the reference of equal counts), a chi2 per weighted 1-D\n"
            "histogram (the adaptive errors from sqrt(sum w^2), then from every round's rows: docs/adaptive.md),\n"
            "each sampler's allowed share of the prior and the effective size of the adaptive weights;\n"
            "then, at the config's chunk size and the default one (and for the kappa = 0 variant at the config's),\n"
            "one worker's points/s with store = allowed+sample against the kernel's (which evaluates every point;\n"
            "the worker screens), and with store = all against pyarrow encoding, writing and durably writing the\n"
            "same tables (goals: >= 80%). Figures measured side by side: load on the machine slows both."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", nargs="?", default="configs/datta2024.toml", help="scan config whose ranges the points come from (default: %(default)s)")
    parser.add_argument("--points", type=int, default=1_000_000, help="batch size for the kernel and evaluate (default: %(default)s)")
    parser.add_argument("--reference-points", type=int, default=300, help="points for the per-point reference (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the best is reported (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    samplers = parser.add_argument_group("--samplers")
    samplers.add_argument("--samplers", action="store_true", help="compare the uniform and the adaptive sampler and a worker with the kernel instead")
    samplers.add_argument("--uniform-points", type=int, default=200_000_000, help="points of each uniform scan, run in two halves (default: %(default)s)")
    samplers.add_argument("--adaptive-points", type=int, default=100_000_000,
                          help="points of each adaptive scan (default: %(default)s: 100 rounds of the default 10^6, enough for the weights to settle)")
    samplers.add_argument("--chunks", type=int, default=5, help="chunks timed for the worker rates (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dsscan.bench import format_report, run_bench

    if args.points < 1 or args.reference_points < 1 or args.repeats < 1:
        raise ValueError("--points, --reference-points and --repeats must be positive")
    spec = load_config(args.config)
    if args.samplers:
        return run_samplers(args, spec)
    result = run_bench(spec, args.config, args.points, args.reference_points, args.repeats)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_report(result))
    return 0


def run_samplers(args: argparse.Namespace, spec) -> int:
    from services.pipeline_bench import format_pipeline, measure_pipeline, pipeline_chunk_sizes
    from services.sampler_bench import compare_samplers, format_comparison, kappa0_variant

    if min(args.uniform_points, args.adaptive_points, args.chunks) < 1:
        raise ValueError("--uniform-points, --adaptive-points and --chunks must be positive")
    results = {}
    scenarios = {"kappa": spec, "kappa0": kappa0_variant(spec)}
    for scenario, base in scenarios.items():
        results[scenario] = compare_samplers(base, scenario, args.uniform_points, args.adaptive_points)
        if not args.json:
            print(format_comparison(results[scenario]), flush=True)
    pipeline = [measure_pipeline(spec, "kappa", size, args.chunks, args.repeats) for size in pipeline_chunk_sizes(spec)]
    pipeline.append(measure_pipeline(scenarios["kappa0"], "kappa0", spec.chunk_size, args.chunks, args.repeats))
    if args.json:
        doc = {name: {**dataclasses.asdict(c), "gain": c.gain} for name, c in results.items()}
        doc["pipeline"] = [rates.as_dict() for rates in pipeline]
        print(json.dumps(doc, indent=2))
    else:
        print(format_pipeline(pipeline))
    return 0
