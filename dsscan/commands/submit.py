"""``dsscan submit CONFIG --address http://HEAD:8265``: run a scan on a running Ray cluster as a Ray job."""
from __future__ import annotations

import argparse
import os
import shlex

EPILOG = """\
examples:
  dsscan submit configs/datta2024.toml --address http://127.0.0.1:8265 --lake s3://my-bucket/lake
  dsscan submit configs/datta2024.toml --address http://127.0.0.1:8265 --lake s3://my-bucket/lake --resume

The config is validated here first; the resolved config travels with the job (its working_dir)
and the cluster's image supplies the code. The driver runs 'dsscan scan' on the head and the
cluster's nodes write the chunks to the object store, which must be one the cluster can reach with
its own credentials (on Kubernetes: the dsscan-s3 Secret; see docs/kubernetes.md). For a KubeRay
cluster in Kubernetes, reach the dashboard with
  kubectl port-forward service/HEAD-SERVICE 8265:8265
Then follow the job with 'dsscan jobs logs ID --follow'; 'dsscan jobs stop ID' stops it with the
finished chunks recorded, and the same submit with --resume continues it.
"""


def add_address_option(parser: argparse.ArgumentParser) -> None:
    """``--address``, shared by submit and jobs: the Ray dashboard, default $RAY_ADDRESS."""
    parser.add_argument(
        "--address", metavar="URL", default=os.environ.get("RAY_ADDRESS"),
        help="the Ray cluster's dashboard, http://HEAD:8265 (default: $RAY_ADDRESS)",
    )


def require_address(args: argparse.Namespace) -> str:
    if not args.address:
        raise ValueError("--address: give the Ray dashboard's address (http://HEAD:8265) or set RAY_ADDRESS")
    return args.address


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="run a scan on a running Ray cluster (a Ray job), writing to an s3:// lake",
        description="Validate a scan config and submit it to a running Ray cluster through the Ray Jobs API; "
        "print the job id and the commands that follow, stop and resume it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG", help="scan config file (TOML)")
    add_address_option(parser)
    parser.add_argument("--lake", metavar="s3://BUCKET/PREFIX", help="the lake, overriding [lake] root of the config")
    parser.add_argument(
        "--workers", type=int, metavar="N",
        help="chunk workers, one CPU each (default: every CPU of the cluster when the job starts; "
        "more than that makes an autoscaling cluster grow)",
    )
    parser.add_argument("--resume", action="store_true", help="continue a stopped scan of this config")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services import jobs
    from services.remote import remote_scan

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers: expected an integer >= 1, got {args.workers}")
    address = require_address(args)
    scan = remote_scan(args.config, args.lake)
    job_id = jobs.submit(jobs.connect(address), scan, args.workers, args.resume)
    spec = scan.spec
    dsscan = f"dsscan jobs {{}} {job_id} --address {shlex.quote(address)}"
    print(
        f"submitted {job_id}: scan {spec.name!r} ({spec.points} points in {spec.n_chunks} chunks) into {spec.lake_root}\n"
        f"follow:   {dsscan.format('logs')} --follow\n"
        f"status:   {dsscan.format('status')}\n"
        f"stop:     {dsscan.format('stop')}\n"
        f"query:    dsscan sql \"select count(*) from points where scan = '{spec.name}'\" --lake {shlex.quote(spec.lake_root)}"
    )
    return 0
