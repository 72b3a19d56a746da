"""Shared fixtures: small scan configs written as real TOML files, and real lakes built by real scans."""
from __future__ import annotations

import copy
import hashlib
import pathlib
import sys
import uuid

import boto3
import pytest

from dsscan.cli import main
from dsscan.config import dumps_toml
from processes import free_port

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL_SCAN_POINTS = 600
SMALL_SCAN_CHUNK = 250
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

# The paper-001 (2024) parameter space, a few hundred points, every point stored.
BASE_CONFIG = {
    "scan": {
        "name": "small", "seed": 7, "points": SMALL_SCAN_POINTS, "chunk_size": SMALL_SCAN_CHUNK,
        "constraints": "datta2024", "sampler": "uniform", "store": "all",
    },
    "parameters": {
        "kappa_TeV": {"range": [0, 2]},
        "eta_d": {"range": [0, 1]},
        "eta_u": 0.0,
        "eta_c": {"range": [-0.5, 0]},
        "eta_t": {"range": [0, 0.02]},
        "g_D": {"range": [0, 3.5]},
        "U_mu4": {"range": [1e-5, 0.006], "prior": "log"},
        "m_S_MeV": {"range": [10, 150]},
        "m_nu4_MeV": {"range": [400, 700]},
    },
}


def config_doc(scan: dict | None = None, parameters: dict | None = None, **tables: dict) -> dict:
    """``BASE_CONFIG`` with ``scan`` and ``parameters`` entries updated and extra tables added."""
    doc = copy.deepcopy(BASE_CONFIG)
    doc["scan"].update(scan or {})
    doc["parameters"].update(parameters or {})
    doc.update(tables)
    return doc


ALLOWED_POINT = {"kappa_TeV": 0.571, "eta_d": 0.297, "eta_c": -0.1918, "eta_t": 0.00641, "g_D": 2.364, "U_mu4": 0.00423,
                 "m_S_MeV": 109.1, "m_nu4_MeV": 549.8}  # an allowed point of a uniform scan of the 2024 config


def around_allowed_point(low: float, high: float) -> dict:
    """Parameter ranges from ``low`` to ``high`` times each value of ``ALLOWED_POINT``: a box where
    many points are allowed, so that an adaptive scan's fits are on allowed points."""
    return {name: {"range": sorted([low * value, high * value])} for name, value in ALLOWED_POINT.items()}


@pytest.fixture
def write_config(tmp_path: pathlib.Path):
    """Write a config document (or raw TOML text) to a file and return its path."""
    counter = iter(range(1_000_000))

    def write(doc: dict | str, name: str | None = None) -> pathlib.Path:
        path = tmp_path / (name or f"config-{next(counter)}.toml")
        path.write_text(doc if isinstance(doc, str) else dumps_toml(doc))
        return path

    return write


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible server (moto) in this process, on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_module_bucket(s3_endpoint):
    """A new bucket, with the AWS_* variables pointing at the test server for the whole module, so
    that the processes its tests start (a Ray cluster, Dask workers, a dsscan driver) inherit them."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint}.items():
            env.setenv(name, value)
        bucket = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
        yield bucket


@pytest.fixture(autouse=True)
def keep_the_main_module():
    """Streamlit's AppTest leaves the app script as ``sys.modules['__main__']``; processes started
    by spawn (Dask's workers) would run it again, so every test ends with the module it began with."""
    main_module = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main_module


def run_cli(*argv: str) -> int:
    return main([str(a) for a in argv])


def tree_digest(root: pathlib.Path) -> dict[str, str]:
    """Every file under ``root`` with the sha256 of its bytes: equal digests, untouched tree."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A lake holding two real scans: ``small`` (store = all) and ``sampled`` (allowed+sample)."""
    root = tmp_path_factory.mktemp("lake")
    configs = tmp_path_factory.mktemp("configs")
    docs = {
        "small": config_doc(),
        "sampled": config_doc(scan={"name": "sampled", "store": "allowed+sample", "sample_rate": 0.1}),
    }
    for name, doc in docs.items():
        path = configs / f"{name}.toml"
        path.write_text(dumps_toml(doc))
        assert run_cli("scan", path, "--lake", root, "--engine", "local", "--no-progress") == 0
    return root


@pytest.fixture(scope="session")
def scenario_lake(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Two real scans near paper 001's benchmark points, kappa != 0 and kappa = 0 (tests/app_lake.py)."""
    from app_lake import build_scenario_lake

    return build_scenario_lake(tmp_path_factory.mktemp("scenario-lake"), tmp_path_factory.mktemp("configs"))
