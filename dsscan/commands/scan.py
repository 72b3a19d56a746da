"""``dsscan scan CONFIG``: evaluate every point of a scan and store the results in the lake."""
from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shlex
import sys
import threading
import time

from dsscan.config import ScanSpec, load_config
from lake.layout import scan_dir
from lake.manifest import ChunkRecord, Manifest
from lake.storage import is_object_store
from dsscan.commands.status import timing_text
from services import AUTO, DEFAULT_ENGINE, ENGINES, choose_engine, make_engine

EPILOG = """\
examples:
  dsscan scan configs/demo.toml
  dsscan scan configs/datta2024.toml --lake /data/lake --workers 2
  dsscan scan configs/datta2024.toml --engine ray --address ray://head:10001
  dsscan scan configs/datta2024.toml --engine dask --address tcp://scheduler:8786
  dsscan scan configs/datta2024.toml --resume      # continue a killed or interrupted scan
  dsscan scan configs/datta2024.toml --resume --repair   # ... and recompute chunks whose files are
                                                         # missing or corrupted (see 'dsscan status')

The config is validated first (see 'dsscan validate'); a mistake stops the scan before anything
is written. Each chunk becomes one Parquet file under <lake>/scan=<name>/, recorded in
<lake>/scan=<name>/manifest.json once complete: a chunk counts exactly once. Ctrl-C stops the
scan with the finished chunks recorded; --resume redoes only the unrecorded ones. Query the
results with 'dsscan sql'; 'dsscan status NAME' summarises a scan.
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
    parser.add_argument(
        "--engine", choices=(AUTO, *ENGINES), default=DEFAULT_ENGINE,
        help="where chunks run: ray (actors), dask (distributed workers), local (this process) or auto (default: "
        "local for a scan one core finishes before a Ray cluster starts, else ray; see docs/cli.md)",
    )
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="worker processes, one core each (default: every core here, or every CPU of the --address cluster)",
    )
    parser.add_argument(
        "--address", metavar="ADDRESS",
        help="join a running cluster: a Ray address (auto, ray://host:10001) or a Dask scheduler (tcp://host:8786); "
        "default: start a local one for this scan",
    )
    parser.add_argument("--resume", action="store_true", help="continue a stopped scan of this config: redo only the chunks its manifest does not record")
    parser.add_argument("--repair", action="store_true",
                        help="with --resume: first forget the recorded chunks whose files are missing, corrupted or "
                        "unreadable, so they are computed again")
    parser.add_argument("--lake", metavar="ROOT", help="lake root directory, overriding [lake] root of the config")
    parser.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    parser.set_defaults(func=run)


# CPU time of building the upscattering tables (`dsscan tables build --force --workers 2`: 14.6 s
# of CPU, 59 s of wall on a machine loaded 7-fold), for the estimate the first scan prints.
TABLE_BUILD_CPU_SECONDS = 15


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


def _resume_command(args: argparse.Namespace) -> str:
    """This command line with --resume: what continues the scan."""
    words = [_installed_command("dsscan"), "scan", str(args.config)]
    for option in ("engine", "workers", "address", "lake"):
        value = getattr(args, option)
        if value is not None and not (option == "engine" and value == DEFAULT_ENGINE):
            words += [f"--{option}", str(value)]
    return _command(*words, "--resume")


class Progress:
    """The progress bar: chunks done of planned (with ETA), points/s of this run, allowed points so far.
    Where stderr is no terminal (a log file: a Ray job's, a pod's) the same bar is written as one
    line every ``LOG_INTERVAL_SECONDS``, as tqdm's redrawing would otherwise pile up in the log."""

    LOG_INTERVAL_SECONDS = 10

    def __init__(self, recorded: int, planned: int, allowed: int, disable: bool):
        from tqdm import tqdm

        terminal = sys.stderr.isatty()
        self.bar = tqdm(
            total=planned, initial=recorded, unit="chunk", disable=disable, dynamic_ncols=terminal,
            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} chunks [{elapsed}<{remaining}{postfix}]",
            **({"file": sys.stderr} if terminal else
               {"file": _LinePerUpdate(sys.stderr), "ncols": 80, "mininterval": self.LOG_INTERVAL_SECONDS}),
        )
        self.recorded = recorded
        self.allowed = allowed
        self.points = 0
        self.worker_seconds = 0.0
        self.started = time.perf_counter()

    def __call__(self, chunk: ChunkRecord) -> None:
        self.recorded += 1
        self.allowed += chunk.allowed
        self.points += chunk.points
        self.worker_seconds += chunk.seconds
        self.bar.set_postfix_str(f"{self.points_per_second:,.0f} points/s, {self.allowed:,} allowed", refresh=False)
        self.bar.update(1)

    @property
    def points_per_second(self) -> float:
        return self.points / max(time.perf_counter() - self.started, 1e-9)

    def close(self) -> None:
        self.bar.close()


class _LinePerUpdate:
    """A stream for tqdm that ends each redraw with a newline instead of starting it with a ``\\r``."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def _ticking(what: str, disable: bool):
    """A line on stderr counting the seconds of a step that reports no progress of its own."""
    from tqdm import tqdm

    with tqdm(desc=what, bar_format="{desc}: {elapsed}", disable=disable, file=sys.stderr) as bar:
        done = threading.Event()

        def tick() -> None:
            while not done.wait(1.0):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()


def prepare_this_machine(constraints: str, quiet: bool) -> None:
    """On a machine's first scan, build the upscattering tables and compile the kernel here, once,
    saying so with their progress, before any chunk: later scans and this machine's workers load
    both from the caches (``DSSCAN_CACHE_DIR``, ``NUMBA_CACHE_DIR``)."""
    from tqdm import tqdm

    from dsscan.physics import scattering_tables as st
    from services.engine import kernel_is_cached, warm_up
    if not st.up_to_date():
        cores = os.cpu_count() or 1
        print(f"building the upscattering tables (first run only, ~{TABLE_BUILD_CPU_SECONDS / cores:.0f} s on {cores} "
              f"cores) into {st.cache_dir()}", flush=True)
        with tqdm(unit="block", disable=quiet, file=sys.stderr, desc="tables") as bar:

            def advance(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            tables = st.build_tables(progress=advance)
        with contextlib.suppress(OSError):  # an unwritable cache: the workers build their own
            st.save_tables(tables, st.table_path())
    if not kernel_is_cached():
        print("compiling the kernel (first run only)", flush=True)
        with _ticking("kernel", quiet):
            warm_up(constraints)


def run(args: argparse.Namespace) -> int:
    from services.driver import LakeWriteError, damaged_chunks, ensure_new_scan, run_scan, saved_chunks, stopped_scan  # the kernel's stack: not for --help
    from services.engine import ChunkFailedError

    spec = load_config(args.config, args.lake)
    engine_name, why = choose_engine(args.engine, spec.points, spec.store, args.workers, args.address)
    engine = make_engine(engine_name, args.workers, args.address)
    if args.repair and not args.resume:
        raise ValueError("--repair: only with --resume (it repairs a scan the lake holds)")
    if args.resume:
        manifest = stopped_scan(spec)
        damaged = damaged_chunks(spec, manifest) if args.repair else []
        recorded = {i: r for i, r in manifest.chunks.items() if i not in damaged}
        verb = f"resuming ({len(recorded)} of {spec.n_chunks} chunks recorded" + (
            f"; {len(damaged)} with missing or corrupted files to compute again)" if args.repair else ")")
    else:
        ensure_new_scan(spec)
        recorded, verb = {}, "scan"
    folder = scan_dir(spec.lake_root, spec.name)
    chosen = f"{engine.name} ({why})" if why else engine.name
    print(f"{verb} {spec.name!r}: {spec.points} points in {spec.n_chunks} chunks, engine {chosen}, into {folder}", flush=True)
    if not args.address:  # a remote cluster's workers have caches of their own
        prepare_this_machine(spec.constraints, args.no_progress)
    progress = Progress(len(recorded), spec.n_chunks, sum(c.allowed for c in recorded.values()), args.no_progress)
    try:
        manifest = run_scan(spec, engine, progress, resume=args.resume, repair=args.repair, command=args.command_line)
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: {saved_chunks(spec)} of {spec.n_chunks} chunks recorded; continue with:\n  {_resume_command(args)}",
              file=sys.stderr)
        return 130
    except (ChunkFailedError, LakeWriteError) as exc:
        progress.close()
        print(f"dsscan: error: {exc}\nthe {saved_chunks(spec)} chunks recorded are kept; after fixing the cause, continue with:\n"
              f"  {_resume_command(args)}", file=sys.stderr)
        return 1
    progress.close()
    _print_summary(spec, manifest, progress)
    return 0


def _print_summary(spec: ScanSpec, manifest: Manifest, progress: Progress) -> None:
    totals = manifest.totals()
    folder = scan_dir(spec.lake_root, spec.name)
    lake = spec.lake_root if is_object_store(spec.lake_root) else _relative(pathlib.Path(spec.lake_root))
    elapsed = time.perf_counter() - progress.started
    print(
        f"done: {totals['points']} points, {totals['outside_domain']} skipped (outside the supported domain), "
        f"{totals['allowed']} allowed; {totals['rows']} rows stored (store = {spec.store})\n"
        f"time:     {timing_text(progress.points, elapsed, progress.worker_seconds)} for the {progress.points:,} points "
        f"of this run on engine {manifest.environment['engine']}, its start-up included\n"
        f"results:  {folder}  ({len(manifest.chunks)} Parquet files + manifest.json)\n"
        f"query:    {shlex.quote(_installed_command('dsscan'))} sql \"select count(*) from points where scan = '{spec.name}'\" "
        f"--lake {shlex.quote(lake)}\n"
        f"explore:  {_command(_installed_command('dsscan'), 'app', '--lake', lake)}"
    )
