"""The Kubernetes manifests, validated offline (no API server runs here): every kustomization
rendered by ``kubectl kustomize`` and every ``dsscan k8s render`` output; KubeRay kinds against
the operator's own CRD schemas (``../shared/k8s/crds``), core kinds with kubernetes-validate."""
from __future__ import annotations

import math
import re
import shlex
import shutil
import subprocess
import tomllib

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import REPO, config_doc, run_cli
from dsscan.cli import build_parser
from dsscan.config import load_config, parse_config

# shared/ sits beside the checkout (CI's clone); a git worktree of it sits one level deeper
CRDS = next((p / "shared" / "k8s" / "crds" for p in REPO.parents if (p / "shared" / "k8s" / "crds").is_dir()),
            REPO.parent / "shared" / "k8s" / "crds")
KUSTOMIZATIONS = ("k8s/base", "k8s/raycluster", "k8s/overlays/laptop", "k8s/overlays/cloud")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def strict(schema):
    """A CRD schema that rejects unknown fields, as ``kubectl apply --validate=strict`` does:
    every object that lists its properties gets ``additionalProperties: false``."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def validate():
    crd_schemas = {}
    for path in CRDS.glob("ray.io_*.yaml"):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            crd_schemas[key] = jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))
    assert ("ray.io/v1", "RayJob") in crd_schemas and ("ray.io/v1", "RayCluster") in crd_schemas, f"no KubeRay CRDs in {CRDS}"
    core_version = kubernetes_validate.latest_version()

    def check(document: dict) -> None:
        key = (document["apiVersion"], document["kind"])
        if key in crd_schemas:  # the CRDs embed Kubernetes' whole pod template schema
            crd_schemas[key].validate(document)
        else:
            kubernetes_validate.validate(document, core_version, strict=True)

    return check


def pod_specs(document: dict) -> list[dict]:
    cluster = document["spec"]["rayClusterSpec"] if document["kind"] == "RayJob" else document["spec"]
    return [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]


def kustomize(folder: str) -> list[dict]:
    out = subprocess.run([KUBECTL, "kustomize", str(REPO / folder)], capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def render(capsys, *argv) -> list[dict]:
    assert run_cli("k8s", "render", *argv) == 0
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def by_kind(documents: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in documents}


def dockerfile_ray_version() -> str:
    return re.search(r"^ARG RAY_VERSION=(\S+)$", (REPO / "Dockerfile").read_text(), re.M).group(1)


@pytest.mark.parametrize("folder", KUSTOMIZATIONS)
def test_every_kustomization_renders_valid_manifests(folder, validate):
    documents = kustomize(folder)
    kinds = {d["kind"] for d in documents}
    assert kinds & {"RayJob", "RayCluster"}
    for document in documents:
        validate(document)
        if document["kind"] in ("RayJob", "RayCluster"):
            cluster = document["spec"].get("rayClusterSpec", document["spec"])
            assert cluster["rayVersion"] == dockerfile_ray_version()  # the image's Ray, as KubeRay requires


def test_a_misspelled_field_fails_validation(validate):
    [rayjob] = [d for d in kustomize("k8s/base") if d["kind"] == "RayJob"]
    rayjob["spec"]["shutdownAfterJobFinish"] = True
    with pytest.raises(jsonschema.ValidationError, match="shutdownAfterJobFinish"):
        validate(rayjob)
    del rayjob["spec"]["shutdownAfterJobFinish"]
    validate(rayjob)
    pod_specs(rayjob)[1]["containers"][0]["imagePullPolcy"] = "Always"  # deep in the embedded pod template
    with pytest.raises(jsonschema.ValidationError, match="imagePullPolcy"):
        validate(rayjob)
    [config_map] = [d for d in kustomize("k8s/base") if d["kind"] == "ConfigMap"]
    config_map["data"]["scan.toml"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(config_map)


def test_the_cloud_head_schedules_no_work_and_workers_sit_on_their_pool():
    rayjob = by_kind(kustomize("k8s/overlays/cloud"))["RayJob"]
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    [group] = cluster["workerGroupSpecs"]
    assert group["template"]["spec"]["nodeSelector"]["dsscan-pool"] == "scan"
    assert all(c["image"].startswith("registry.example.com/dsscan:") for pod in pod_specs(rayjob) for c in pod["containers"])


def test_render_embeds_the_resolved_config_and_runs_it_on_the_lake(capsys, validate):
    documents = render(capsys, REPO / "configs" / "datta2024.toml")
    for document in documents:
        validate(document)
    config_map, rayjob = by_kind(documents)["ConfigMap"], by_kind(documents)["RayJob"]
    assert rayjob["metadata"]["name"] == config_map["metadata"]["name"] == "dsscan-datta2024"
    # the config the cluster reads is the one given, resolved: the same scan, on the base's s3 lake
    embedded = parse_config(tomllib.loads(config_map["data"]["scan.toml"]), lake_root="/tmp")
    assert embedded.scan_config() == load_config(REPO / "configs" / "datta2024.toml", lake_root="/tmp").scan_config()
    lake = tomllib.loads(config_map["data"]["scan.toml"])["lake"]["root"]
    assert lake.startswith("s3://")
    assert rayjob["spec"]["entrypoint"] == f"dsscan scan /etc/dsscan/scan.toml --lake {lake} --address auto"
    [volume] = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["volumes"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert rayjob["spec"]["shutdownAfterJobFinishes"] is True


def test_render_options_set_image_workers_lake_and_resume(capsys, validate, write_config):
    config = write_config(config_doc(scan={"name": "Big_Scan.1"}))
    documents = render(capsys, config, "--image", "registry.example.com/dsscan:9", "--workers", "13",
                       "--lake", "s3://bucket/prefix/", "--resume")
    for document in documents:
        validate(document)
    rayjob = by_kind(documents)["RayJob"]
    assert rayjob["metadata"]["name"] == "dsscan-big-scan-1"
    assert rayjob["spec"]["entrypoint"].endswith("--lake s3://bucket/prefix --address auto --workers 13 --resume")
    assert {c["image"] for pod in pod_specs(rayjob) for c in pod["containers"]} == {"registry.example.com/dsscan:9"}
    [group] = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    cpus = int(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
    assert group["maxReplicas"] == math.ceil(13 / cpus)


@pytest.mark.parametrize("lake", ["/tmp/lake", "s3://", "gs://bucket"])
def test_render_refuses_a_lake_the_cluster_cannot_share(capsys, lake):
    assert run_cli("k8s", "render", REPO / "configs" / "demo.toml", "--lake", lake) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsscan: error: --lake: expected s3://bucket") and err.count("\n") == 1


def test_render_refuses_a_file_that_would_not_travel(capsys, write_config, tmp_path):
    copy = tmp_path / "my-constraints.toml"
    copy.write_text((REPO / "dsscan" / "data" / "constraints" / "datta2024.toml").read_text())
    config = write_config(config_doc(scan={"constraints": str(copy)}))
    assert run_cli("k8s", "render", config) == 2
    err = capsys.readouterr().err
    assert "scan.constraints" in err and "does not travel" in err and err.count("\n") == 1


def page_commands() -> list[str]:
    """Every ``dsscan`` command line in docs/kubernetes.md's code blocks, without pipes and redirections."""
    blocks = re.findall(r"```(?:sh|console)\n(.*?)```", (REPO / "docs" / "kubernetes.md").read_text(), re.S)
    lines = [line.split("#")[0] for block in blocks for line in block.splitlines() if line.startswith("dsscan ")]
    return [re.split(r"\s[|>]\s", line)[0].strip() for line in lines]


def test_every_dsscan_command_of_the_kubernetes_page_parses_and_every_render_validates(capsys, validate, monkeypatch):
    """The page's renders run here; its submit, jobs, status and sql commands are the forms
    tests/test_submit_cluster.py runs against the simulated cluster."""
    commands = page_commands()
    assert len(commands) >= 10
    monkeypatch.chdir(REPO)
    for command in commands:
        words = shlex.split(command)[1:]
        build_parser().parse_args(words)  # argparse exits on anything it does not know
        if words[:2] == ["k8s", "render"]:
            for document in render(capsys, *words[2:]):
                validate(document)
        else:
            assert words[0] in ("submit", "jobs", "status", "sql", "app"), command


def test_submit_refuses_a_local_lake_and_a_missing_address_before_contacting_a_cluster(capsys, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = REPO / "configs" / "datta2024.toml"  # [lake] root = "./lake": a directory of one machine
    assert run_cli("submit", config, "--address", "http://127.0.0.1:9") == 2  # nothing listens on port 9
    err = capsys.readouterr().err
    assert err == f"dsscan: error: {config}: lake.root: a cluster writes to an object store; give --lake s3://bucket/prefix\n"
    assert run_cli("submit", config, "--lake", "s3://bucket/lake") == 2
    assert capsys.readouterr().err == (
        "dsscan: error: --address: give the Ray dashboard's address (http://HEAD:8265) or set RAY_ADDRESS\n")
