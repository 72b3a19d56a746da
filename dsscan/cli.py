"""The ``dsscan`` command line: one subcommand per module in ``dsscan.commands``.

Each command module defines ``register(subparsers)`` which adds its parser and sets
``func=run`` (``run(args) -> int``). Errors a user can fix are raised as ``ValueError`` /
``FileNotFoundError`` and printed as one line, exit status 2. Ctrl-C and SIGTERM stop any
command the same way, exit status 130 (``dsscan.interrupt``).
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from dsscan import __version__
from dsscan.interrupt import sigterm_as_ctrl_c

COMMANDS = (
    "point",
    "benchmarks",
    "validate", "scan", "status", "sql", "lake",
    "bench", "throughput", "tables",
    "submit", "jobs", "k8s",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dsscan",
        description=(
            "Scan the light-scalar / sterile-neutrino dark-sector model of Datta et al. (2020, 2024): "
            "evaluate rare B and K decays, g-2 and MiniBooNE/CHARM-II upscattering at every parameter "
            "point, judge them against a constraint set, and store the results in a Parquet lake."
        ),
        epilog="Run 'dsscan COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"dsscan {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"dsscan.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["dsscan", *map(str, sys.argv[1:] if argv is None else argv)])  # as leases show it
    sigterm_as_ctrl_c()
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"dsscan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dsscan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
