"""The overhead of the Ray Jobs path: one scan submitted with ``dsscan submit`` to a simulated
cluster of two one-CPU nodes (a head and a worker, ``ray start`` on 127.0.0.1), against the same
scan run by ``dsscan scan --workers 2`` on the same two cores, both into an S3 lake (moto).
Prints the points/s each driver reports and the wall time seen from the laptop's side (submit to
SUCCEEDED, against the scan command's run); asserts no timing. docs/kubernetes.md sizes a
cloud scan from these numbers."""
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
from dsscan.config import dumps_toml
from dsscan.physics.scattering_tables import cache_dir
from processes import DSSCAN, SimulatedCluster, marked_environment

CHUNKS, CHUNK = 40, 200_000  # the default chunk size
RATE = re.compile(r"time: +[\d.,]+ s wall-clock \(([\d,]+) points/s\)")  # the summary's wall-clock rate
REPEATS = 2


@pytest.mark.slow
def test_points_per_second_submitted_against_scanned_on_the_same_cores(tmp_path, s3_module_bucket):
    config = tmp_path / "bench.toml"
    config.write_text(dumps_toml(config_doc(scan={
        "name": "bench", "points": CHUNKS * CHUNK, "chunk_size": CHUNK, "store": "allowed+sample", "sample_rate": 0.01,
    })))
    marker, env = marked_environment()
    env |= {"PATH": f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
            "NUMBA_CACHE_DIR": str(cache_dir() / "numba"), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": uuid.uuid4().hex}

    cluster = SimulatedCluster(env, nodes=2)
    scans, jobs = [], []  # (driver's points/s, wall s), alternating so that the machine's load hits both alike
    try:
        for repeat in range(REPEATS):
            started = time.perf_counter()
            scanned = subprocess.run([*DSSCAN, "scan", str(config), "--lake", f"s3://{s3_module_bucket}/scanned-{repeat}",
                                      "--workers", "2", "--no-progress"], env=env, capture_output=True, text=True, timeout=900)
            assert scanned.returncode == 0, scanned.stderr
            scans.append((driver_rate(scanned.stdout), time.perf_counter() - started))

            started = time.perf_counter()
            submitted = subprocess.run([*DSSCAN, "submit", str(config), "--address", cluster.dashboard,
                                        "--lake", f"s3://{s3_module_bucket}/submitted-{repeat}"],
                                       env=env, capture_output=True, text=True, timeout=300)
            assert submitted.returncode == 0, submitted.stderr
            job_id = re.match(r"submitted (\S+):", submitted.stdout).group(1)
            while (status := cluster.job_status(job_id)) in ("PENDING", "RUNNING"):
                time.sleep(0.5)
            wall = time.perf_counter() - started
            logs = subprocess.run([*DSSCAN, "jobs", "logs", job_id, "--address", cluster.dashboard],
                                  env=env, capture_output=True, text=True, timeout=300).stdout
            assert status == "SUCCEEDED", logs
            jobs.append((driver_rate(logs), wall))
    finally:
        cluster.stop(marker)

    (scan_rate, scan_wall), (job_rate, job_wall) = max(scans), max(jobs)
    print(f"\n{CHUNKS * CHUNK:,} points, 2 cores, s3 lake (moto), best of {REPEATS}\n"
          f"dsscan scan --workers 2:   {scan_rate:12,.0f} points/s in the driver, {scan_wall:6.1f} s wall\n"
          f"dsscan submit (2 nodes):   {job_rate:12,.0f} points/s in the driver, {job_wall:6.1f} s wall (submit to SUCCEEDED)\n"
          f"submitted / scanned:       {job_rate / scan_rate:12.2f} (driver's points/s)\n"
          f"all runs (points/s, s):    scan {scans}, submit {jobs}")


def driver_rate(output: str) -> float:
    """The points/s the scan's driver reports (engine start-up included)."""
    return float(RATE.search(output).group(1).replace(",", ""))
