"""The ``dsscan`` command line: one subcommand per module in ``dsscan.commands``.

Each command module defines ``register(subparsers)`` which adds its parser and sets
``func=run`` (``run(args) -> int``). Errors a user can fix are raised as ``ValueError`` /
``FileNotFoundError`` and printed as one line, exit status 2. Command modules import only what
their parser needs; numba, Ray, Dask, scipy, pandas and the like are imported inside ``run``, so
that ``dsscan --help`` and the commands that evaluate nothing start at once. Ctrl-C and SIGTERM stop any
command the same way, exit status 130 (``dsscan.interrupt``).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import shlex
import sys

from dsscan.interrupt import sigterm_as_ctrl_c

COMMANDS = (
    "point",
    "benchmarks",
    "validate", "scan", "status", "sql", "lake",
    "bench", "throughput", "tables",
    "submit", "jobs", "k8s",
    "app",
)


class ShowVersion(argparse.Action):
    """``--version``, with the version read only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="show dsscan's version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import dsscan

        print(f"dsscan {dsscan.__version__}")
        parser.exit()


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
    parser.add_argument("--version", action=ShowVersion)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"dsscan.commands.{name}").register(sub)
    return parser


def closed_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` is the reader of our output having gone (``dsscan sql ... | head -1``)."""
    return isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and (exc.errno == errno.EPIPE or "Broken pipe" in str(exc)))


def end_quietly_on_closed_pipe() -> int:
    """The reader took what it wanted: point stdout at /dev/null so that flushing it at exit does
    not fail again, and end with success, as ``head`` expects of a writer."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def main(argv: list[str] | None = None) -> int:
    sigterm_as_ctrl_c()
    try:
        args = build_parser().parse_args(argv)
        args.command_line = shlex.join(["dsscan", *map(str, sys.argv[1:] if argv is None else argv)])  # as leases show it
        status = int(args.func(args) or 0)
        sys.stdout.flush()
        return status
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"dsscan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dsscan: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if closed_pipe(exc):
            return end_quietly_on_closed_pipe()
        raise


if __name__ == "__main__":
    sys.exit(main())
