"""Scans as Ray jobs: submitted to a running Ray cluster through the Ray Jobs API (the dashboard's
HTTP endpoint, ``http://HEAD:8265``), the path a KubeRay RayJob's submitter takes too, then
listed, followed and stopped.

The job's ``working_dir`` holds only the resolved config (``scan.toml``); the code comes from the
cluster's image. Its entrypoint is ``dsscan scan scan.toml --lake s3://... --address auto``, so the
driver runs on the head and records chunks in the lake's manifest exactly as a local scan does.
Stopping a job sends its driver SIGTERM, which a scan handles as Ctrl-C: the manifest is left
``interrupted`` and ``submit --resume`` continues it.
"""
from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import shlex
import tempfile
import time
import uuid
from typing import Callable, Iterator

from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from services.remote import CONFIG_FILE, RemoteScan

SCAN_KEY, LAKE_KEY, CONFIG_KEY = "dsscan_scan", "dsscan_lake", "dsscan_config"  # job metadata
STOP_TIMEOUT_SECONDS = 120  # Ray SIGKILLs a driver RAY_JOB_STOP_WAIT_TIME_S after SIGTERM (3 s; 60 s in k8s/)
POLL_SECONDS = 0.5


def connect(address: str) -> JobSubmissionClient:
    """A client of the Jobs API at ``address`` (``http://HEAD:8265``), or a one-line ValueError."""
    if not address.startswith(("http://", "https://")):
        raise ValueError(f"--address: expected the Ray dashboard's address, http://HEAD:8265, got {address!r}")
    try:
        return JobSubmissionClient(address)
    except ConnectionError as exc:
        raise ValueError(f"--address: no Ray dashboard answers at {address} ({str(exc).splitlines()[0]})") from None


def _request(call: Callable, *args):
    """A Jobs API call whose failure (an unknown job id, a refused request) is a one-line ValueError."""
    try:
        return call(*args)
    except RuntimeError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def submit(client: JobSubmissionClient, scan: RemoteScan, workers: int | None, resume: bool) -> str:
    """Submit ``scan``; returns the job's submission id (``dsscan-<scan>-<8 hex digits>``)."""
    with tempfile.TemporaryDirectory(prefix="dsscan-job-") as folder:
        (pathlib.Path(folder) / CONFIG_FILE).write_text(scan.config_toml)
        return _request(lambda: client.submit_job(
            entrypoint=shlex.join(scan.scan_command(CONFIG_FILE, workers, resume)),
            submission_id=f"dsscan-{scan.spec.name}-{uuid.uuid4().hex[:8]}",
            runtime_env={"working_dir": folder},
            metadata={SCAN_KEY: scan.spec.name, LAKE_KEY: scan.spec.lake_root, CONFIG_KEY: str(scan.config_path)},
        ))


@dataclasses.dataclass(frozen=True)
class Job:
    """What ``jobs list`` and ``jobs status`` show of one job."""

    id: str
    status: str
    scan: str
    lake: str
    config: str
    started: str
    message: str

    @classmethod
    def of(cls, details: JobDetails) -> "Job":
        metadata = details.metadata or {}
        started = details.start_time and time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(details.start_time / 1000))
        return cls(
            id=details.submission_id or details.job_id or "-", status=str(details.status),
            scan=metadata.get(SCAN_KEY, "-"), lake=metadata.get(LAKE_KEY, "-"), config=metadata.get(CONFIG_KEY, ""),
            started=started or "-", message=(details.message or "").strip(),
        )


def list_jobs(client: JobSubmissionClient) -> list[Job]:
    """Every job submitted to the cluster, oldest first."""
    jobs = [j for j in _request(client.list_jobs) if j.submission_id]
    return [Job.of(j) for j in sorted(jobs, key=lambda j: j.start_time or 0)]


def job(client: JobSubmissionClient, job_id: str) -> Job:
    return Job.of(_request(client.get_job_info, job_id))


def logs(client: JobSubmissionClient, job_id: str) -> str:
    return _request(client.get_job_logs, job_id)


def follow_logs(client: JobSubmissionClient, job_id: str) -> Iterator[str]:
    """The job's log as it grows, until the job ends."""
    job(client, job_id)  # an unknown id is one line here, not a websocket error
    stream = client.tail_job_logs(job_id)
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(anext(stream))
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(stream.aclose())
        loop.close()


def stop(client: JobSubmissionClient, job_id: str) -> Job:
    """Stop the job and wait until it has ended (its driver records what is done and exits)."""
    _request(client.stop_job, job_id)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while not JobStatus(_request(client.get_job_status, job_id)).is_terminal():
        if time.monotonic() > deadline:
            raise ValueError(f"job {job_id} was asked to stop {STOP_TIMEOUT_SECONDS} s ago and is still running")
        time.sleep(POLL_SECONDS)
    return job(client, job_id)
