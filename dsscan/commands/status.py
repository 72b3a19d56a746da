"""``dsscan status SCAN``: where a scan of the lake stands, from its manifest."""
from __future__ import annotations

import argparse
import json

from dsscan.config import LAKE_ROOT_HELP, default_lake_root
from lake.layout import folder_scan, manifest_path, manifest_paths
from lake.lease import current_holder
from lake.manifest import COMPLETE, RUNNING, Manifest

EPILOG = """\
examples:
  dsscan status demo
  dsscan status datta2024 --lake /data/lake
  dsscan status datta2024 --json

Counts come from the manifest, i.e. from the chunks recorded so far: a chunk whose file is not
recorded does not count. A scan that is not complete continues with 'dsscan scan CONFIG --resume'.
Every recorded file is checked (exists, sha256, row count); a missing or corrupted one is named,
and 'dsscan scan CONFIG --resume --repair' computes its chunks again. A manifest that says
"running" is checked against the scan's lease: if no process holds it, the driver is gone.
"""

STATUS_MEANING = {
    RUNNING: "running, or its driver was killed before it could say otherwise",
    COMPLETE: "complete",
    "interrupted": "interrupted (Ctrl-C)",
    "failed": "stopped by a chunk that kept failing",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status",
        help="summarise a scan of the lake: chunks recorded, rows, allowed points, config, timing",
        description="Summarise one scan from its manifest: status, chunks recorded of planned, points, allowed "
        "points and stored rows so far, the config and provenance it runs with, and the worker time spent.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("scan", metavar="SCAN", help="the scan's name (scan.name of its config)")
    parser.add_argument("--lake", metavar="ROOT", default=default_lake_root(), help=LAKE_ROOT_HELP)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run)


def load_scan(root: str, scan: str) -> Manifest:
    path = manifest_path(root, scan)
    if not path.exists() and path.parent.exists():
        raise ValueError(f"scan {scan!r} has a folder but no manifest (incomplete: its start was cut short); "
                         f"'dsscan lake rm {scan} --yes' removes it, and running the scan again reuses it if it is empty")
    if not path.exists():
        names = [folder_scan(p.parent) for p in manifest_paths(root)]
        held = f"it holds {', '.join(repr(n) for n in names)}" if names else "it holds no scan"
        raise ValueError(f"no scan named {scan!r} under lake root {str(root)!r}; {held}")
    from lake.maintenance import read_manifest  # pyarrow's stack: after the arguments are parsed

    return read_manifest(path)


def timing_text(points: int, wall_seconds: float | None, worker_seconds: float) -> str:
    """Wall-clock points/s and worker-seconds in the same words at the end of a scan and in status."""
    wall = f"{wall_seconds:,.1f} s wall-clock ({points / wall_seconds:,.0f} points/s), " if wall_seconds else ""
    per_worker = f" ({points / worker_seconds:,.0f} points per worker-second)" if worker_seconds else ""
    return f"{wall}{worker_seconds:,.1f} worker-seconds{per_worker}"


def summary(manifest: Manifest, root: str) -> dict:
    """The status of a scan as plain data (what ``--json`` prints), with its files checked and
    the holder of its lease."""
    from lake.maintenance import file_problems

    scan = manifest.config["scan"]
    totals = manifest.totals()
    seconds = sum(r.seconds for r in manifest.chunks.values())
    recorded = len(manifest.chunks)
    free = [name for name, setting in manifest.config["parameters"].items() if isinstance(setting, dict) and "range" in setting]
    return {
        "scan": manifest.scan,
        "status": manifest.status,
        "chunks_planned": manifest.chunks_planned,
        "chunks_recorded": recorded,
        "points_planned": scan["points"],
        **totals,
        "config": {key: scan.get(key) for key in ("seed", "sampler", "chunk_size", "constraints", "store", "sample_rate")}
        | {"free_parameters": free},
        "provenance": manifest.provenance,
        "engine": manifest.environment.get("engine"),
        "wall_seconds": manifest.environment.get("wall_seconds"),
        "worker_seconds": seconds,
        "points_per_worker_second": totals["points"] / seconds if seconds else None,
        "worker_seconds_left": seconds / recorded * (manifest.chunks_planned - recorded) if recorded else None,
        "held_by": holder.describe() if (holder := current_holder(root, manifest.scan)) else None,
        "file_problems": [str(p) for p in file_problems(root, manifest)],
    }


def format_summary(s: dict) -> str:
    config, provenance = s["config"], s["provenance"]
    sample = f", sample_rate {config['sample_rate']}" if config["sample_rate"] is not None else ""
    meaning = STATUS_MEANING.get(s["status"], s["status"])
    if s["status"] == RUNNING:
        meaning = f"running: {s['held_by']}" if s["held_by"] else (
            "stopped: the manifest says running but no process holds the scan (its driver was killed, "
            "or the lake stopped taking writes)")
    lines = [
        f"scan {s['scan']!r}: {meaning}",
        f"  chunks   {s['chunks_recorded']:,} of {s['chunks_planned']:,} recorded",
        f"  points   {s['points']:,} of {s['points_planned']:,} evaluated "
        f"({s['outside_domain']:,} outside the supported domain, skipped)",
        f"  allowed  {s['allowed']:,}",
        f"  stored   {s['rows']:,} rows (store = {config['store']}{sample}; {s['sampled']:,} sampled rejected points)",
        f"  config   seed {config['seed']}, sampler {config['sampler']}, chunk_size {config['chunk_size']:,}, "
        f"constraints {config['constraints']}, free parameters {', '.join(config['free_parameters'])}",
        f"  code     dsscan {provenance['code_version']}, constraint set {provenance['constraint_set']['name']} "
        f"v{provenance['constraint_set']['version']}, inputs v{provenance['inputs']['version']}",
    ]
    if s["worker_seconds"]:
        left = "" if s["worker_seconds_left"] is None or s["status"] == COMPLETE else f"; about {s['worker_seconds_left']:,.1f} worker-seconds left"
        engine = f"; engine {s['engine']}" if s["engine"] else ""
        lines.append(f"  time     {timing_text(s['points'], s['wall_seconds'], s['worker_seconds'])}{left}{engine}")
    lines += [f"  damaged  {problem}" for problem in s["file_problems"]]
    if s["file_problems"]:
        lines.append("  repair   dsscan scan CONFIG --resume --repair   (computes the chunks of these files again)")
    elif s["status"] != COMPLETE:
        lines.append("  resume   dsscan scan CONFIG --resume   (CONFIG: the file the scan was started with)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    result = summary(load_scan(args.lake, args.scan), args.lake)
    print(json.dumps(result, indent=2) if args.json else format_summary(result))
    return 0
