"""``dsscan k8s render CONFIG``: the Kubernetes manifests (a KubeRay RayJob and its ConfigMap) of one scan."""
from __future__ import annotations

import argparse
import sys

EPILOG = """\
examples:
  dsscan k8s render configs/datta2024.toml | kubectl apply -f -
  dsscan k8s render configs/datta2024.toml --image registry.example.com/dsscan:0.8.0 \\
      --workers 64 --lake s3://my-bucket/lake > datta2024-rayjob.yaml
  dsscan k8s render configs/datta2024.toml --resume | kubectl apply -f -   # after a failure or a stop

The manifests are k8s/base's (read and patched, the comments there explain every field): a
ConfigMap holding the config, resolved and validated here, and a RayJob that creates a Ray
cluster, runs 'dsscan scan' on it with the lake at --lake, and deletes the cluster when the scan
ends. The lake defaults to [lake] root of the config if that is s3://..., else to k8s/base's.
The pods read the lake's credentials from the Secret dsscan-s3 (docs/kubernetes.md).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "k8s",
        help="print the Kubernetes manifests (KubeRay RayJob + ConfigMap) that run a scan",
        description="Kubernetes (KubeRay) manifests for scans.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    render = actions.add_parser(
        "render",
        help="print a RayJob and its ConfigMap for one scan config, for 'kubectl apply -f -'",
        description="Print the RayJob and ConfigMap that run one scan config on a Kubernetes cluster with "
        "the KubeRay operator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    render.add_argument("config", metavar="CONFIG", help="scan config file (TOML)")
    render.add_argument("--image", metavar="IMAGE", help="the dsscan image the pods run (default: k8s/base's)")
    render.add_argument(
        "--workers", type=int, metavar="N",
        help="chunk workers (one CPU each): the worker group may grow until each has a CPU (default: the "
        "CPUs the cluster has when the scan starts)",
    )
    render.add_argument("--lake", metavar="s3://BUCKET/PREFIX", help="the lake the cluster writes to")
    render.add_argument("--resume", action="store_true", help="continue the scan of this config instead of starting it")
    render.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.manifests import base_entrypoint, render, to_yaml
    from services.remote import remote_scan

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers: expected an integer >= 1, got {args.workers}")
    scan = remote_scan(args.config, args.lake, default_lake=base_entrypoint()[1])
    documents = render(scan, args.image, args.workers, args.resume)
    spec = scan.spec
    sys.stdout.write(to_yaml(documents, f"scan {spec.name!r} ({spec.points} points) into {spec.lake_root}, from {args.config} "
                                        "and k8s/base by 'dsscan k8s render'\napply with: kubectl apply -f -"))
    return 0
