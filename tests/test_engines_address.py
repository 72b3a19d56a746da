"""--address joins a cluster that is already running, a Ray head from ``ray start`` and a Dask
scheduler, stores what the local engine stores, and leaves the cluster running."""
from __future__ import annotations

import pathlib
import subprocess
import tempfile
import uuid

import pytest
from distributed import Client, LocalCluster

from conftest import config_doc
from dsscan.config import dumps_toml, load_config
from lake.catalog import open_catalog
from processes import DSSCAN, RAY, descendants, end_processes_of, free_port, marked_environment, wait_for_port
from services import make_engine
from services.dask_engine import LOCAL_ANY_PORT
from services.driver import run_scan

pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "joined.toml"
    path.write_text(dumps_toml(config_doc(scan={"name": "joined", "points": 4_000, "chunk_size": 500})))
    return path


def stored_like_a_local_run(config, lake, tmp_path) -> bool:
    run_scan(load_config(config, lake_root=str(tmp_path / "reference")), make_engine("local"))
    query = "SELECT * EXCLUDE (scan) FROM points ORDER BY point_id"
    return open_catalog(lake).sql(query).to_arrow_table().equals(open_catalog(tmp_path / "reference").sql(query).to_arrow_table())


def test_ray_joins_a_running_cluster_and_leaves_it_running(config, tmp_path):
    port, (marker, env) = free_port(), marked_environment()
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}  # a cluster as Ray secures it by default
    head = subprocess.Popen(
        [RAY, "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--block"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for_port(port, head)
        scan = subprocess.run(
            [*DSSCAN, "scan", str(config), "--lake", str(tmp_path / "lake"), "--address", f"127.0.0.1:{port}", "--no-progress"],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        )
        assert scan.returncode == 0, scan.stderr
        assert "engine ray" in scan.stdout
        assert head.poll() is None  # the cluster it joined is still up
    finally:
        family = descendants(head.pid)
        head.kill()
        end_processes_of(marker, family)
        forget_the_head(port)
    assert stored_like_a_local_run(config, tmp_path / "lake", tmp_path)


def forget_the_head(port: int) -> None:
    """Remove the address file `ray start` leaves for ray.init() to find (`ray stop` would remove it)."""
    address_file = pathlib.Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    if address_file.exists() and address_file.read_text().strip().endswith(f":{port}"):
        address_file.unlink()


def test_dask_joins_a_running_scheduler_and_leaves_its_workers(config, tmp_path):
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=LOCAL_ANY_PORT) as cluster, Client(cluster) as client:
        spec = load_config(config, lake_root=str(tmp_path / "lake"))
        run_scan(spec, make_engine("dask", address=cluster.scheduler_address))
        assert len(client.scheduler_info()["workers"]) == 2
    assert stored_like_a_local_run(config, tmp_path / "lake", tmp_path)
