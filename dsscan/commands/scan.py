"""``dsscan scan CONFIG``: evaluate every point of a scan and store the results in the lake."""
from __future__ import annotations

import argparse
import pathlib
import shlex
import sys
from importlib import resources

from tqdm import tqdm

from dsscan.config import load_config
from lake.layout import scan_dir
from services import ENGINES, make_engine
from services.driver import ensure_new_scan, run_scan

EPILOG = """\
examples:
  dsscan scan configs/demo.toml
  dsscan scan configs/datta2024.toml --lake /data/lake

The config is validated first (see 'dsscan validate'); a mistake stops the scan before anything
is written. Each chunk becomes one Parquet file under <lake>/scan=<name>/, recorded in
<lake>/scan=<name>/manifest.json once complete. Query the results with 'dsscan sql'.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scan",
        help="run a scan and store its points in the lake",
        description="Sample the parameter points of a scan config, evaluate every observable and constraint, "
        "and write the points the storage policy keeps to the Parquet lake.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG", help="scan config file (TOML)")
    parser.add_argument("--engine", choices=sorted(ENGINES), default="local", help="where chunks run (default: local, in this process)")
    parser.add_argument("--lake", metavar="ROOT", help="lake root directory, overriding [lake] root of the config")
    parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    parser.set_defaults(func=run)


def _command(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(pathlib.Path.cwd()))
    except ValueError:
        return str(path)


def _installed_command(name: str) -> str:
    """The path of a console script installed beside this Python (the venv's bin), else its bare name."""
    path = pathlib.Path(sys.executable).with_name(name)
    return _relative(path) if path.exists() else name


def run(args: argparse.Namespace) -> int:
    spec = load_config(args.config, args.lake)
    engine = make_engine(args.engine)
    ensure_new_scan(spec)
    folder = scan_dir(spec.lake_root, spec.name)
    print(f"scan {spec.name!r}: {spec.points} points in {spec.n_chunks} chunks, engine {engine.name}, into {folder}")
    with tqdm(total=spec.points, unit="pt", unit_scale=True, disable=args.no_progress, file=sys.stderr) as bar:
        manifest = run_scan(spec, engine, lambda chunk: bar.update(chunk.points))
    totals = manifest.totals()
    lake = _relative(pathlib.Path(spec.lake_root))
    app = _relative(pathlib.Path(str(resources.files("streamlit_app").joinpath("app.py"))))
    print(
        f"done: {totals['points']} points, {totals['outside_domain']} skipped (outside the supported domain), "
        f"{totals['allowed']} allowed; {totals['rows']} rows stored (store = {spec.store})\n"
        f"results:  {folder}  ({len(manifest.chunks)} Parquet files + manifest.json)\n"
        f"query:    {shlex.quote(_installed_command('dsscan'))} sql \"select count(*) from points where scan = '{spec.name}'\" "
        f"--lake {shlex.quote(lake)}\n"
        f"explore:  {_command(_installed_command('streamlit'), 'run', app, '--', '--lake', lake)}"
    )
    return 0
