"""A scan to run on a remote Ray cluster (``dsscan submit``, ``dsscan k8s render``): its config,
validated here, and the ``dsscan scan`` command that runs it there.

The config is checked on this machine before anything is sent, except the lake: the driver on the
cluster checks that, as it may reach an object store (an in-cluster MinIO, a bucket only the
cluster's role may write) that this machine cannot. The lake must be an object store, since the
cluster's nodes write chunk files that the driver then records; and the config must name nothing
on this machine's disk (a constraint-set copy, a points file), since such a path does not travel."""
from __future__ import annotations

import dataclasses
import pathlib
import re
import tempfile
import tomllib

from dsscan.config import ScanSpec, load_config, to_toml
from lake.storage import S3_SCHEME, is_object_store

CONFIG_FILE = "scan.toml"  # the config's name beside the driver (a job's working_dir, a ConfigMap key)
DNS_LABEL_LENGTH = 40  # KubeRay derives longer names (cluster, head service) from a RayJob's name


@dataclasses.dataclass(frozen=True)
class RemoteScan:
    spec: ScanSpec  # lake_root is the object store the cluster writes to
    config_path: pathlib.Path  # the file on this machine

    @property
    def config_toml(self) -> str:
        """The resolved config (defaults filled in, the lake set) that travels to the cluster."""
        return to_toml(self.spec)

    @property
    def kubernetes_name(self) -> str:
        """``dsscan-<scan name>`` as a DNS label: what the RayJob and its ConfigMap are called."""
        label = re.sub(r"[^a-z0-9-]+", "-", f"dsscan-{self.spec.name}".lower())
        return label[:DNS_LABEL_LENGTH].strip("-")

    def scan_command(self, config: str, workers: int | None = None, resume: bool = False) -> list[str]:
        """``dsscan scan`` for the driver on the cluster: the config at ``config``, joining the
        cluster the driver runs in (``--address auto``: a Ray job's driver finds it in RAY_ADDRESS)."""
        words = ["dsscan", "scan", config, "--lake", self.spec.lake_root, "--address", "auto"]
        if workers is not None:
            words += ["--workers", str(workers)]
        return words + (["--resume"] if resume else [])


def remote_scan(config: str | pathlib.Path, lake: str | None, default_lake: str | None = None) -> RemoteScan:
    """Validate ``config`` for a run on a cluster writing to ``lake`` (else the config's
    ``[lake] root`` if it is an object store, else ``default_lake``)."""
    path = pathlib.Path(config)
    # every key but the lake, which this machine may not reach: checked against a local stand-in
    spec = load_config(path, lake_root=tempfile.gettempdir())
    configured = tomllib.loads(path.read_text()).get("lake", {}).get("root")
    root = lake or (configured if is_object_store(configured) else default_lake)
    key = "--lake" if lake else f"{path}: lake.root"
    if not root:
        raise ValueError(f"{key}: a cluster writes to an object store; give --lake {S3_SCHEME}bucket/prefix")
    if not is_object_store(root) or not root[len(S3_SCHEME):].split("/")[0]:
        raise ValueError(
            f"{key}: expected {S3_SCHEME}bucket or {S3_SCHEME}bucket/prefix, got {root!r}: the cluster's nodes "
            "write to one object store, not to a directory of their own"
        )
    for field, value in (("scan.constraints", spec.constraints), ("scan.points_file", spec.points_file)):
        if value is not None and pathlib.Path(value).is_absolute():
            raise ValueError(
                f"{path}: {field}: {value!r} is a file on this machine, which does not travel to the cluster; "
                "use a shipped constraint set and a drawn sampler, or bake the file into the image"
            )
    return RemoteScan(dataclasses.replace(spec, lake_root=root.rstrip("/")), path)
