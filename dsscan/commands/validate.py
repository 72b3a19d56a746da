"""``dsscan validate CONFIG``: check a scan config and print it resolved; runs and writes nothing."""
from __future__ import annotations

import argparse

from dsscan.config import load_config, to_toml
from lake.layout import scan_dir

EPILOG = """\
examples:
  dsscan validate configs/demo.toml
  dsscan validate configs/datta2024.toml --lake /data/lake

The resolved config is printed as TOML with every default filled in, so it can be saved and
run as it is. A mistake is reported as one line naming the key, e.g.
  dsscan: error: my.toml: parameters.U_mu4.range: log prior needs a range above 0, got [0, 0.006]
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check a scan config and print the resolved spec",
        description="Check a scan config (TOML) the way 'dsscan scan' does before it starts, and print it "
        "resolved. Nothing is evaluated and nothing is written.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG", help="scan config file (TOML)")
    parser.add_argument("--lake", metavar="ROOT", help="lake root directory, overriding [lake] root of the config")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = load_config(args.config, args.lake)
    free = ", ".join(spec.free_parameters)
    print(f"# {args.config} is valid: {spec.points} points in {spec.n_chunks} chunks of at most {spec.chunk_size}")
    print(f"# sampled parameters: {free}")
    print(f"# results would go to {scan_dir(spec.lake_root, spec.name)}")
    print(to_toml(spec))
    return 0
