"""The Kubernetes manifests of one scan (``dsscan k8s render``), made from the kustomize base in
``k8s/base`` of the checkout: its ConfigMap and RayJob are read as YAML and patched (names, the
config, the entrypoint, the image, the worker group's size), so the files stay the one copy."""
from __future__ import annotations

import math
import pathlib
import shlex

import yaml

from services.remote import CONFIG_FILE, RemoteScan

BASE = pathlib.Path(__file__).resolve().parents[1] / "k8s" / "base"
RAYJOB_FILE, CONFIG_MAP_FILE = "rayjob.yaml", "scan-config.yaml"


def _read(name: str) -> dict:
    path = BASE / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; 'dsscan k8s render' reads the manifests of a dsscan checkout's k8s/base")
    return yaml.safe_load(path.read_text())


def base_entrypoint() -> tuple[str, str]:
    """The config path (where the ConfigMap's ``scan.toml`` is mounted) and the ``--lake`` of the
    base RayJob's entrypoint."""
    words = shlex.split(_read(RAYJOB_FILE)["spec"]["entrypoint"])
    return words[2], words[words.index("--lake") + 1]


def _cpus(container: dict) -> int:
    """A container's CPU limit as whole CPUs, what Ray takes as the pod's num-cpus."""
    cpu = str(container["resources"]["limits"]["cpu"])
    return max(1, int(cpu[:-1]) // 1000) if cpu.endswith("m") else int(float(cpu))


def render(scan: RemoteScan, image: str | None = None, workers: int | None = None, resume: bool = False) -> list[dict]:
    """The ConfigMap holding the resolved config and the RayJob that scans it, ready to apply."""
    config_map, rayjob = _read(CONFIG_MAP_FILE), _read(RAYJOB_FILE)
    base_name = config_map["metadata"]["name"]
    config_map["metadata"]["name"] = rayjob["metadata"]["name"] = scan.kubernetes_name
    config_map["data"] = {CONFIG_FILE: scan.config_toml}

    mounted, _ = base_entrypoint()
    rayjob["spec"]["entrypoint"] = shlex.join(scan.scan_command(mounted, workers, resume))
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        for volume in pod.get("volumes", []):
            if volume.get("configMap", {}).get("name") == base_name:
                volume["configMap"]["name"] = scan.kubernetes_name
        if image:
            for container in pod["containers"]:
                container["image"] = image
    if workers is not None:  # the autoscaler may grow the worker group until every actor has a CPU
        group = cluster["workerGroupSpecs"][0]
        group["maxReplicas"] = max(group["minReplicas"], math.ceil(workers / _cpus(group["template"]["spec"]["containers"][0])))
        group["replicas"] = min(group["replicas"], group["maxReplicas"])
    return [config_map, rayjob]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the config) as literal blocks, as a person would write them."""


_Dumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)
)


def to_yaml(documents: list[dict], header: str) -> str:
    return "\n".join(f"# {line}" for line in header.splitlines()) + "\n" + yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=200
    )
