"""The head pod of a KubeRay cluster, simulated on this machine: a Ray head from ``ray start --head``
with its dashboard (the Jobs API) and two more ``ray start --address`` processes as worker
"nodes", all on 127.0.0.1, an S3 server (moto) as the lake, and ``dsscan submit`` / ``dsscan jobs``
against the dashboard port, as a laptop would use them through ``kubectl port-forward``.

Each scan is checked against an uninterrupted local run of the same config: every chunk once,
the same stored content, after a worker node's raylet is SIGKILLed mid-scan and after
``jobs stop`` followed by ``submit --resume``. Every process started here is stopped by its id."""
from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import psutil
import pytest

from conftest import config_doc
from dsscan.config import dumps_toml, load_config
from dsscan.physics.scattering_tables import cache_dir
from lake.catalog import open_catalog
from lake.layout import manifest_path
from lake.manifest import COMPLETE, INTERRUPTED, Manifest
from processes import DSSCAN, descendants, end_processes_of, free_port, marked_environment, wait_for_port
from services import make_engine
from services.driver import run_scan

pytestmark = pytest.mark.slow

RAY = str(pathlib.Path(sys.executable).with_name("ray"))
NODES = 3  # the head and two workers, one CPU each
CHUNKS = 90
POINTS_QUERY = "SELECT * EXCLUDE (scan) FROM points ORDER BY point_id"


class SimulatedCluster:
    """``ray start`` processes (``--block``, so each is ours to stop) forming one cluster."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.temp_dirs: list[str] = []
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self.head = self._start("--head", "--port", str(self.gcs_port), "--dashboard-host", "127.0.0.1",
                                "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(free_port()))
        self.workers: list[subprocess.Popen] = []
        wait_for_port(self.gcs_port, self.head)
        self.workers = [self._start("--address", f"127.0.0.1:{self.gcs_port}") for _ in range(NODES - 1)]
        wait_for_port(self.dashboard_port, self.head)
        self._wait_for_nodes(NODES)

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, *options: str) -> subprocess.Popen:
        # a short temp dir of its own per node: Ray's socket paths must fit in 107 bytes, and the
        # address file `ray start` writes must not be the shared /tmp/ray one other clusters use
        self.temp_dirs.append(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        ports = {f"--{name}": str(free_port()) for name in (
            "node-manager-port", "object-manager-port", "metrics-export-port", "runtime-env-agent-port",
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port")}
        return subprocess.Popen(
            [RAY, "start", *options, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--temp-dir", self.temp_dirs[-1],
             *[word for item in ports.items() for word in item], "--disable-usage-stats", "--block"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )

    def _wait_for_nodes(self, count: int) -> None:
        deadline = time.monotonic() + 180
        while self.alive_nodes() < count:
            assert time.monotonic() < deadline, f"{self.alive_nodes()} of {count} Ray nodes came up"
            assert all(p.poll() is None for p in [self.head, *self.workers]), "a ray start exited"
            time.sleep(0.5)

    def _get(self, path: str):
        request = urllib.request.Request(f"{self.dashboard}{path}", headers={"Authorization": f"Bearer {self.env['RAY_AUTH_TOKEN']}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def alive_nodes(self) -> int:
        try:
            summary = self._get("/nodes?view=summary")["data"]["summary"]
        except (OSError, ValueError, KeyError):
            return 0
        return sum(1 for node in summary if node.get("raylet", {}).get("state") == "ALIVE")

    def job_status(self, job_id: str) -> str:
        """Straight from the Jobs API (polling with ``dsscan jobs status`` would cost a process start each time)."""
        return self._get(f"/api/jobs/{job_id}")["status"]

    def kill_worker_node(self, worker: subprocess.Popen) -> None:
        """SIGKILL a worker node's raylet, as a node's loss would end it."""
        [raylet] = [p for p in descendants(worker.pid) if p.name() == "raylet"]
        raylet.send_signal(signal.SIGKILL)

    def stop(self, marker: str) -> None:
        family = [p for popen in [self.head, *self.workers] for p in descendants(popen.pid)]
        for popen in [*self.workers, self.head]:
            popen.kill()
        end_processes_of(marker, [*family, *(psutil.Process(p.pid) for p in [self.head, *self.workers] if p.poll() is None)])


@pytest.fixture(scope="module")
def cluster(s3_module_bucket):
    marker, env = marked_environment()
    env |= {
        "PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}",  # `dsscan` for the job's entrypoint
        "NUMBA_CACHE_DIR": str(cache_dir() / "numba"),  # the image's ENV: workers load the compiled kernel
        # a cluster as Ray secures it by default; dsscan's Jobs API calls carry the token too
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex,
    }
    simulated = SimulatedCluster(env)
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
    wait_for_chunks(lake, "remote", 1)
    stopped = dsscan(cluster, "jobs", "stop", job_id, "--address", cluster.dashboard)
    assert stopped.stdout.startswith(f"{job_id}: STOPPED"), stopped.stdout
    assert "--resume" in stopped.stdout
    manifest = Manifest.load(manifest_path(lake, "remote"))
    assert manifest.status == INTERRUPTED and len(manifest.chunks) < CHUNKS  # SIGTERM ended it as Ctrl-C would
    logs = dsscan(cluster, "jobs", "logs", job_id, "--address", cluster.dashboard).stdout
    assert "interrupted:" in logs and "Traceback" not in logs, logs

    resumed = submit(config, cluster, lake, "--resume")
    assert wait_for_job(cluster, resumed) == "SUCCEEDED"
    assert_like_the_local_run(lake, local_run)


def test_jobs_commands_explain_a_wrong_address_or_id_in_one_line(cluster):
    wrong_scheme = dsscan(cluster, "jobs", "list", "--address", f"127.0.0.1:{cluster.dashboard_port}", check=False)
    assert wrong_scheme.returncode == 2 and wrong_scheme.stderr.startswith("dsscan: error: --address: expected")
    unknown = dsscan(cluster, "jobs", "status", "no-such-job", "--address", cluster.dashboard, check=False)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "no-such-job" in unknown.stderr, unknown.stderr
    closed = dsscan(cluster, "jobs", "list", "--address", f"http://127.0.0.1:{free_port()}", check=False)
    assert closed.returncode == 2 and closed.stderr.startswith("dsscan: error: --address: no Ray dashboard answers"), closed.stderr
