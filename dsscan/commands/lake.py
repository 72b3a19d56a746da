"""``dsscan lake ls|info|verify|compact|vacuum|rm``: look after the scans in a lake (local or s3://).

Each action imports the lake modules it uses (pyarrow, DuckDB) itself, so that the parser loads none."""
from __future__ import annotations

import argparse
import json

import sys

from dsscan.config import LAKE_ROOT_HELP, default_lake_root
from lake.layout import COMPACT_TARGET_ROWS, manifest_path, scan_dir
from lake.lease import scan_lease

EPILOG = """\
examples:
  dsscan lake ls
  dsscan lake info demo
  dsscan lake verify               # every scan; exit status 1 if any file is missing, corrupted,
                                   # unreadable or not recorded (garbage), or a manifest entry names
                                   # a file that is not its scan's own chunk file (tampering)
  dsscan lake compact demo         # merge small chunk files; content and point_id unchanged
  dsscan lake vacuum demo --dry-run
  dsscan lake rm demo --yes
  dsscan lake ls --lake s3://bucket/lake   # endpoint and region from AWS_ENDPOINT_URL, AWS_DEFAULT_REGION

The manifest (scan=<name>/manifest.json) is the truth: a chunk counts only once it is recorded.
SCAN follows the scan-name rule of scan.name; no command reads or deletes anything outside
<lake>/scan=<name>/, whatever a manifest says.
compact, vacuum and rm take the scan's lease (scan=<name>/lease.json): while a scan, --resume or
another of them works on a scan, they are refused with one line naming the holder. A damaged
manifest affects only its own scan: ls and verify name its file, rm removes it.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lake", help="list, inspect, verify, compact, vacuum or remove scans in the lake",
        description="Look after the scans stored in a lake (a local directory or s3://bucket/prefix).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    lake_option = argparse.ArgumentParser(add_help=False)
    lake_option.add_argument("--lake", metavar="ROOT", default=default_lake_root(), help=LAKE_ROOT_HELP)
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument("--force", action="store_true", help="act even if the manifest says the scan is running")

    def add(name: str, func, help: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        action = actions.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                    parents=[lake_option, *parents])
        action.set_defaults(func=func)
        return action

    add("ls", run_ls, "list the scans with their status, chunks and rows")
    add("info", run_info, "show a scan's manifest summary, provenance, environment and schema with units") \
        .add_argument("scan", metavar="SCAN")
    add("verify", run_verify, "check every recorded file (exists, sha256, row count) and report unrecorded files") \
        .add_argument("scan", metavar="SCAN", nargs="?", help="one scan (default: every scan)")
    compact = add("compact", run_compact, "merge a finished scan's small chunk files into larger ones", force)
    compact.add_argument("scan", metavar="SCAN")
    compact.add_argument("--target-rows", type=int, default=COMPACT_TARGET_ROWS, metavar="N",
                         help="rows per merged file (default: %(default)s)")
    vacuum = add("vacuum", run_vacuum, "delete the files of a scan that its manifest does not record", force)
    vacuum.add_argument("scan", metavar="SCAN")
    vacuum.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    remove = add("rm", run_rm, "remove a scan and all its files")
    remove.add_argument("scan", metavar="SCAN")
    remove.add_argument("--yes", action="store_true", help="confirm the removal")


def run_ls(args: argparse.Namespace) -> int:
    from lake.catalog import lake_scans

    scans = lake_scans(args.lake)
    print(f"{'scan':<24} {'status':<11} {'chunks':>13} {'rows':>12} {'allowed':>10}")
    for m in scans.manifests:
        totals = m.totals()
        print(f"{m.scan:<24} {m.status:<11} {f'{len(m.chunks)}/{m.chunks_planned}':>13} {totals['rows']:>12} {totals['allowed']:>10}")
    for name in scans.damaged:
        print(f"{name:<24} damaged (manifest unreadable)")
    for name in scans.incomplete:
        print(f"{name:<24} incomplete (no manifest)")
    for warning in scans.warnings():
        print(f"dsscan: warning: {warning}", file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from lake.maintenance import chunk_path, load_scan, recorded_files
    from lake.writer import read_schema

    manifest = load_scan(args.lake, args.scan)
    files = recorded_files(manifest)
    scan = manifest.config["scan"]
    print(f"scan {manifest.scan!r} in {scan_dir(args.lake, manifest.scan)}")
    print(f"  status {manifest.status}; {len(manifest.chunks)} of {manifest.chunks_planned} chunks recorded in {len(files)} files")
    print("  " + ", ".join(f"{k} {v}" for k, v in manifest.totals().items()))
    print(f"  seed {scan['seed']}, sampler {scan['sampler']}, store {scan['store']}, constraints {scan['constraints']}")
    print("provenance: " + json.dumps(manifest.provenance, sort_keys=True))
    print("environment: " + json.dumps(manifest.environment, sort_keys=True))
    if files:
        print("schema (column, type, unit, description):")
        for field in read_schema(chunk_path(args.lake, manifest.scan, next(iter(files)))):
            meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
            print(f"  {field.name:<24} {str(field.type):<12} {meta.get('unit', ''):<10} {meta.get('description', '')}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from lake.catalog import lake_scans
    from lake.maintenance import load_scan, valid_files, verify_scan

    if args.scan is not None:
        manifests, unusable = [load_scan(args.lake, args.scan)], []
    else:
        scans = lake_scans(args.lake)
        manifests, unusable = scans.manifests, scans.warnings()
    problems = [str(p) for m in manifests for p in verify_scan(args.lake, m)] + unusable
    for problem in problems:
        print(problem)
    files = sum(len(valid_files(m)) for m in manifests)
    verdict = f"{len(problems)} problem(s)" if problems else "OK"
    print(f"verified {len(manifests)} scan(s), {files} recorded file(s): {verdict}")
    return 1 if problems else 0


def run_compact(args: argparse.Namespace) -> int:
    from lake.maintenance import compact_scan, load_scan, recorded_files, refuse_running

    load_scan(args.lake, args.scan)  # refuses a scan that is not there before its lease is taken
    with scan_lease(args.lake, args.scan, args.command_line):
        manifest = load_scan(args.lake, args.scan)
        refuse_running(manifest, "compact", args.force)
        before = len(recorded_files(manifest))
        written = compact_scan(args.lake, manifest, args.target_rows)
    print(f"scan {args.scan!r}: {before} files -> {len(recorded_files(manifest))} files ({len(written)} written)")
    return 0


def run_vacuum(args: argparse.Namespace) -> int:
    from lake.maintenance import load_scan, refuse_running, vacuum_scan

    load_scan(args.lake, args.scan)
    with scan_lease(args.lake, args.scan, args.command_line):
        manifest = load_scan(args.lake, args.scan)
        refuse_running(manifest, "vacuum", args.force)
        garbage = vacuum_scan(args.lake, manifest, args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for path in garbage:
        print(f"{verb} {path}")
    print(f"scan {args.scan!r}: {verb} {len(garbage)} unrecorded file(s)")
    return 0


def _rm_summary(root: str, scan: str) -> str:
    """What ``lake rm`` would remove, also for a scan whose manifest is damaged or missing."""
    folder = scan_dir(root, scan)
    if not folder.exists():
        raise FileNotFoundError(f"the lake {str(root)!r} holds no scan named {scan!r} (no {folder})")
    if not manifest_path(root, scan).exists():
        return f"scan {scan!r} (incomplete: no manifest)"
    from lake.maintenance import load_scan

    try:
        manifest = load_scan(root, scan)
    except ValueError:
        return f"scan {scan!r} (damaged manifest)"
    return f"scan {scan!r} ({len(manifest.chunks)} chunks, {manifest.totals()['rows']} rows)"


def run_rm(args: argparse.Namespace) -> int:
    from lake.maintenance import is_linked_scan, remove_scan

    what = _rm_summary(args.lake, args.scan)
    if not args.yes:
        raise ValueError(f"this would remove {what} from {scan_dir(args.lake, args.scan)}; pass --yes to confirm")
    if is_linked_scan(args.lake, args.scan):  # no lease: it would be taken where the link points
        remove_scan(args.lake, args.scan)
    else:
        with scan_lease(args.lake, args.scan, args.command_line) as lease:
            lease.stop_renewing()
            remove_scan(args.lake, args.scan)
    print(f"removed {what}")
    return 0
