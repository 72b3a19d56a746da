"""``dsscan jobs list|status|logs|stop``: follow the scans submitted to a Ray cluster."""
from __future__ import annotations

import argparse
import shlex
import sys

from dsscan.commands.submit import add_address_option, require_address

EPILOG = """\
examples:
  dsscan jobs list --address http://127.0.0.1:8265
  dsscan jobs status dsscan-datta2024-1a2b3c4d --address http://127.0.0.1:8265
  dsscan jobs logs dsscan-datta2024-1a2b3c4d --follow --address http://127.0.0.1:8265
  dsscan jobs stop dsscan-datta2024-1a2b3c4d --address http://127.0.0.1:8265

A job's log is its driver's output: the scan's start line, a progress line every few seconds,
and its summary. Stopping a job stops its scan as Ctrl-C would: the chunks finished so far stay
recorded in the lake's manifest (status 'interrupted'), and 'dsscan submit CONFIG --resume'
redoes only the others. 'dsscan status SCAN --lake s3://...' reads the manifest itself.
"""

ACTIONS = ("list", "status", "logs", "stop")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs",
        help="list, follow or stop the scans submitted to a Ray cluster",
        description="List the jobs of a Ray cluster, or show the status, the log or stop one of them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=ACTIONS, help="what to do: list every job, or status/logs/stop of JOB_ID")
    parser.add_argument("job_id", nargs="?", metavar="JOB_ID", help="the id 'dsscan submit' printed (not for list)")
    add_address_option(parser)
    parser.add_argument("--follow", action="store_true", help="logs: keep printing until the job ends")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services import jobs

    if (args.action == "list") != (args.job_id is None):
        raise ValueError(f"jobs {args.action}: " + ("takes no JOB_ID" if args.job_id else "give the JOB_ID 'dsscan submit' printed"))
    if args.follow and args.action != "logs":
        raise ValueError("--follow goes with 'jobs logs'")
    client = jobs.connect(require_address(args))
    if args.action == "list":
        _print_table(jobs.list_jobs(client))
    elif args.action == "status":
        job = jobs.job(client, args.job_id)
        print(f"{job.id}: {job.status}\nscan:     {job.scan}\nlake:     {job.lake}\nstarted:  {job.started}\n"
              f"message:  {job.message}")
    elif args.action == "logs" and args.follow:
        for text in jobs.follow_logs(client, args.job_id):
            sys.stdout.write(text)
            sys.stdout.flush()
    elif args.action == "logs":
        sys.stdout.write(jobs.logs(client, args.job_id))
    else:
        job = jobs.stop(client, args.job_id)
        print(f"{job.id}: {job.status}")
        if job.status == "STOPPED" and job.config:
            print(f"continue with:\n  dsscan submit {shlex.quote(job.config)} --address {shlex.quote(args.address)} "
                  f"--lake {shlex.quote(job.lake)} --resume")
    return 0


def _print_table(found: list) -> None:
    if not found:
        print("no jobs")
        return
    rows = [("JOB_ID", "STATUS", "SCAN", "STARTED", "LAKE")] + [(j.id, j.status, j.scan, j.started, j.lake) for j in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
