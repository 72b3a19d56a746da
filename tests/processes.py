"""Tests that run dsscan (or a cluster) as real processes: each gets ``MARKER=<uuid>`` in its
environment, which every process it starts inherits (a Ray cluster's daemons, Dask workers), so
they can all be found by it and ended by their ids afterwards, and nothing else is touched."""
from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import uuid

import psutil

MARKER = "DSSCAN_TEST_RUN"
DSSCAN = [sys.executable, "-m", "dsscan.cli"]


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
