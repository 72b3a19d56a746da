"""Tests that run dsscan (or a cluster) as real processes: each gets ``MARKER=<uuid>`` in its
environment, which every process it starts inherits (a Ray cluster's daemons, Dask workers), so
they can all be found by it and ended by their ids afterwards, and nothing else is touched."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import psutil

from services import RAY_SINGLE_NODE_SWITCH

MARKER = "DSSCAN_TEST_RUN"
DSSCAN = [sys.executable, "-m", "dsscan.cli"]
RAY = str(pathlib.Path(sys.executable).with_name("ray"))


def marked_environment() -> tuple[str, dict[str, str]]:
    """A new marker and this process's environment carrying it."""
    marker = uuid.uuid4().hex
    return marker, {**os.environ, MARKER: marker}


def descendants(pid: int) -> list[psutil.Process]:
    """Every process ``pid`` started, directly or not. Collect them while it lives: once it dies
    they are re-parented, and some of Ray's rename themselves over their environment."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def end_processes_of(marker: str, known: list[psutil.Process] = ()) -> None:
    """SIGKILL the ``known`` processes and every process carrying ``marker``, until none is left
    (Ray's agents outlive a killed driver, and a raylet that is not dead yet starts new ones)."""
    deadline = time.monotonic() + 30
    while left := [p for p in known if _alive(p)] + [p for p in psutil.process_iter() if _marked(p, marker)]:
        assert time.monotonic() < deadline, f"processes outlive SIGKILL: {left}"
        for process in left:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _marked(process: psutil.Process, marker: str) -> bool:
    """Whether ``process`` carries ``marker``, read from /proc: Ray's agents rename themselves over
    the start of their environment block, which psutil's ``environ()`` then reads as empty."""
    try:
        block = pathlib.Path(f"/proc/{process.pid}/environ").read_bytes()
        return f"{MARKER}={marker}".encode() in block.split(b"\0") and process.status() != psutil.STATUS_ZOMBIE
    except (OSError, psutil.Error):
        return False


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now (never a fixed one: other clusters run beside)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    """Until something listens on ``port`` of 127.0.0.1, while ``process`` (which should open it) lives."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[:3]} exited"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


class SimulatedCluster:
    """A Ray cluster of ``nodes`` ``ray start`` processes of one CPU each on 127.0.0.1 (``--block``,
    so each is ours to stop): a head with its dashboard (the Jobs API) and worker "nodes", as a
    KubeRay cluster's pods would be. ``env`` (with a marker, RAY_AUTH_TOKEN) is every node's."""

    def __init__(self, env: dict[str, str], nodes: int):
        # without Ray's single-node switch, which a local scan run in this process may have set
        # (services.make_engine): with it a worker node refuses to join
        self.env = {k: v for k, v in env.items() if k != RAY_SINGLE_NODE_SWITCH}
        self.temp_dirs: list[str] = []
        self.gcs_port, self.dashboard_port = free_port(), free_port()
        self.head = self._start("--head", "--port", str(self.gcs_port), "--dashboard-host", "127.0.0.1",
                                "--dashboard-port", str(self.dashboard_port), "--ray-client-server-port", str(free_port()))
        self.workers: list[subprocess.Popen] = []
        wait_for_port(self.gcs_port, self.head)
        self.workers = [self._start("--address", f"127.0.0.1:{self.gcs_port}") for _ in range(nodes - 1)]
        wait_for_port(self.dashboard_port, self.head)
        self._wait_for_nodes(nodes)

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
