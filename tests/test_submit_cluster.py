"""The head pod of a KubeRay cluster, simulated on this machine: a Ray head from ``ray start --head``
with its dashboard (the Jobs API) and two more ``ray start --address`` processes as worker
"nodes", all on 127.0.0.1, an S3 server (moto) as the lake, and ``dsscan submit`` / ``dsscan jobs``
against the dashboard port, as a laptop would use them through ``kubectl port-forward``.

Each scan is checked against an uninterrupted local run of the same config: every chunk once,
the same stored content, after a worker node's raylet is SIGKILLed mid-scan and after
``jobs stop`` followed by ``submit --resume``. Every process started here is stopped by its id."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import time
import uuid

import pytest

from conftest import config_doc
from dsscan.config import dumps_toml, load_config
from dsscan.physics.scattering_tables import cache_dir
from lake.catalog import open_catalog
from lake.layout import manifest_path
from lake.manifest import COMPLETE, INTERRUPTED, Manifest
from processes import DSSCAN, SimulatedCluster, free_port, marked_environment
from services import make_engine
from services.driver import run_scan

pytestmark = pytest.mark.slow

NODES = 3  # the head and two workers, one CPU each
CHUNKS = 90
POINTS_QUERY = "SELECT * EXCLUDE (scan) FROM points ORDER BY point_id"


@pytest.fixture(scope="module")
def cluster(s3_module_bucket):
    marker, env = marked_environment()
    env |= {
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}",  # `dsscan` for the job's entrypoint
        "NUMBA_CACHE_DIR": str(cache_dir() / "numba"),  # the image's ENV: workers load the compiled kernel
        # a cluster as Ray secures it by default; dsscan's Jobs API calls carry the token too
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
    }
    simulated = SimulatedCluster(env, NODES)
    try:
        yield simulated
    finally:
        simulated.stop(marker)


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("config") / "remote.toml"
    path.write_text(dumps_toml(config_doc(scan={
        "name": "remote", "points": CHUNKS * 100_000, "chunk_size": 100_000, "store": "allowed+sample", "sample_rate": 0.002,
    })))
    return path


@pytest.fixture(scope="module")
def local_run(config, tmp_path_factory):
    """What an uninterrupted local run of the config stores."""
    root = tmp_path_factory.mktemp("reference")
    run_scan(load_config(config, lake_root=str(root)), make_engine("local"))
    return open_catalog(root).sql(POINTS_QUERY).to_arrow_table()


def dsscan(cluster: SimulatedCluster, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """A dsscan command on the laptop's side, with the cluster's token."""
    done = subprocess.run([*DSSCAN, *argv], env=cluster.env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert not check or done.returncode == 0, done.stderr
    return done


def submit(config: pathlib.Path, cluster: SimulatedCluster, lake: str, *options: str) -> str:
    done = dsscan(cluster, "submit", str(config), "--address", cluster.dashboard, "--lake", lake, *options)
    return re.match(r"submitted (\S+):", done.stdout).group(1)


def wait_for_job(cluster: SimulatedCluster, job_id: str, timeout: float = 600) -> str:
    """The job's status once it has ended, as ``dsscan jobs status`` tells it."""
    deadline = time.monotonic() + timeout
    while (status := cluster.job_status(job_id)) in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(1)
    shown = dsscan(cluster, "jobs", "status", job_id, "--address", cluster.dashboard).stdout
    assert shown.startswith(f"{job_id}: {status}\nscan:     remote\n"), shown
    return status


def wait_for_chunks(lake: str, scan: str, count: int, timeout: float = 300) -> Manifest:
    """The scan's manifest once it records at least ``count`` chunks."""
    deadline = time.monotonic() + timeout
    while True:
        path = manifest_path(lake, scan)
        try:
            if path.exists() and len((manifest := Manifest.load(path)).chunks) >= count:
                return manifest
        except ValueError:  # moto (not S3) can serve an object while a multipart upload replaces it
            pass
        assert time.monotonic() < deadline, f"{scan}: fewer than {count} chunks recorded in {lake}"
        time.sleep(0.2)


def assert_like_the_local_run(lake: str, local_run) -> None:
    manifest = Manifest.load(manifest_path(lake, "remote"))
    assert manifest.status == COMPLETE and sorted(manifest.chunks) == list(range(CHUNKS))
    stored = open_catalog(lake).sql(POINTS_QUERY).to_arrow_table()
    assert stored.num_rows == sum(chunk.rows for chunk in manifest.chunks.values())
    assert stored.equals(local_run)


def test_a_submitted_scan_loses_no_chunk_to_a_lost_node(cluster, config, s3_module_bucket, local_run):
    lake = f"s3://{s3_module_bucket}/node-lost"
    job_id = submit(config, cluster, lake)
    assert job_id.startswith("dsscan-remote-")
    wait_for_chunks(lake, "remote", 1)
    cluster.kill_worker_node(cluster.workers[0])
    assert cluster.job_status(job_id) == "RUNNING"  # the node was lost mid-scan
    assert wait_for_job(cluster, job_id) == "SUCCEEDED"
    assert_like_the_local_run(lake, local_run)

    logs = dsscan(cluster, "jobs", "logs", job_id, "--address", cluster.dashboard).stdout
    assert re.search(rf"\b\d+/{CHUNKS} chunks\b", logs), logs  # progress lines
    assert re.search(r"chunk \d+ failed \(.*\); trying it again", logs), logs  # the lost node's chunk, done elsewhere
    assert f"done: {CHUNKS * 100_000} points" in logs
    listed = dsscan(cluster, "jobs", "list", "--address", cluster.dashboard).stdout
    assert re.search(rf"^{job_id}\s+SUCCEEDED\s+remote\s", listed, re.M), listed


def test_a_stopped_job_resumes_to_the_content_of_an_uninterrupted_run(cluster, config, s3_module_bucket, local_run):
    lake = f"s3://{s3_module_bucket}/stopped"
    job_id = submit(config, cluster, lake, "--workers", "1")  # one worker: the scan outlasts the start of `jobs stop`
    follower = subprocess.Popen([*DSSCAN, "jobs", "logs", job_id, "--follow", "--address", cluster.dashboard],
                                env=cluster.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_chunks(lake, "remote", 1)
    stopped = dsscan(cluster, "jobs", "stop", job_id, "--address", cluster.dashboard)
    assert stopped.stdout.startswith(f"{job_id}: STOPPED"), stopped.stdout
    assert f"dsscan submit {config} --address {cluster.dashboard} --lake {lake} --resume" in stopped.stdout
    manifest = Manifest.load(manifest_path(lake, "remote"))
    assert manifest.status == INTERRUPTED and len(manifest.chunks) < CHUNKS  # SIGTERM ended it as Ctrl-C would
    followed, error = follower.communicate(timeout=120)  # --follow ends with the job
    assert follower.returncode == 0, error
    assert f"interrupted: {len(manifest.chunks)} of {CHUNKS} chunks recorded" in followed and "Traceback" not in followed, followed

    resumed = submit(config, cluster, lake, "--resume")
    assert wait_for_job(cluster, resumed) == "SUCCEEDED"
    assert_like_the_local_run(lake, local_run)
    # read from the laptop's side, as docs/kubernetes.md shows
    assert "complete" in dsscan(cluster, "status", "remote", "--lake", lake).stdout
    counted = dsscan(cluster, "sql", "select count(*) from points where scan = 'remote'", "--lake", lake).stdout
    assert str(local_run.num_rows) in counted, counted


def test_jobs_commands_explain_a_wrong_address_or_id_in_one_line(cluster):
    wrong_scheme = dsscan(cluster, "jobs", "list", "--address", f"127.0.0.1:{cluster.dashboard_port}", check=False)
    assert wrong_scheme.returncode == 2 and wrong_scheme.stderr.startswith("dsscan: error: --address: expected")
    unknown = dsscan(cluster, "jobs", "status", "no-such-job", "--address", cluster.dashboard, check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "no-such-job" in unknown.stderr, unknown.stderr
    closed = dsscan(cluster, "jobs", "list", "--address", f"http://127.0.0.1:{free_port()}", check=False)
    assert closed.returncode == 2 and closed.stderr.startswith("dsscan: error: --address: no Ray dashboard answers"), closed.stderr
