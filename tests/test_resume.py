"""Stopping and resuming: a SIGKILLed driver, Ctrl-C and a failing chunk all leave a scan that
``--resume`` finishes with every chunk exactly once and the content of an uninterrupted run; a
resume with another config is refused.

The killed and interrupted drivers are real ``dsscan scan`` processes, each in its own session so
that everything they started (a Ray cluster, Dask workers) can be found and ended afterwards.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import config_doc, run_cli
from processes import DSSCAN, descendants, end_processes_of, marked_environment
from dsscan.config import dumps_toml, load_config
from lake.catalog import open_catalog
from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import COMPLETE, FAILED, INTERRUPTED, RUNNING, Manifest
from services import make_engine
from services.driver import LakeWriteError, run_scan, saved_chunks

CHUNKS, CHUNK = 40, 4_000
STOP_AFTER = 4  # recorded chunks before the driver is stopped


@pytest.fixture
def config(tmp_path):
    doc = config_doc(scan={"name": "stopped", "points": CHUNKS * CHUNK, "chunk_size": CHUNK})
    path = tmp_path / "stopped.toml"
    path.write_text(dumps_toml(doc))
    return path


def stored(lake):
    con = open_catalog(lake)
    table = con.sql("SELECT * EXCLUDE (scan) FROM points ORDER BY point_id").to_arrow_table()
    return table, con.execute("SELECT count(DISTINCT point_id) FROM points").fetchone()[0]


def assert_complete_and_like_an_uninterrupted_run(config, lake, reference_lake) -> None:
    manifest = Manifest.load(manifest_path(lake, "stopped"))
    assert manifest.status == COMPLETE and sorted(manifest.chunks) == list(range(CHUNKS))
    run_scan(load_config(config, lake_root=str(reference_lake)), make_engine("local"))
    table, distinct = stored(lake)
    reference, _ = stored(reference_lake)
    assert table.num_rows == distinct == reference.num_rows == manifest.totals()["rows"]  # none twice, none missing
    assert table.equals(reference)


def test_the_saved_chunk_count_includes_one_stopped_before_the_callers_count_saw_it(config, tmp_path):
    """What the CLI's and ``dsscan.run_scan``'s messages report after Ctrl-C: the saved manifest's
    chunks, which include one recorded just before the caller's callback, interrupted, counted it."""
    spec = load_config(config, lake_root=str(tmp_path / "lake"))
    assert saved_chunks(spec) == 0  # stopped before its first save
    seen = []

    def stop_at_the_third(record) -> None:
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(record.index)

    with pytest.raises(KeyboardInterrupt):
        run_scan(spec, make_engine("local"), stop_at_the_third)
    assert len(seen) == 2 and saved_chunks(spec) == 3


def start_driver(config, lake, *options: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [*DSSCAN, "scan", str(config), "--lake", str(lake), "--no-progress", *options],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )


def wait_for_recorded_chunks(lake, driver: subprocess.Popen, count: int) -> None:
    path = manifest_path(lake, "stopped")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert driver.poll() is None, driver.communicate()
        try:
            if len(json.loads(path.read_text())["chunks"]) >= count:
                return
        except (OSError, json.JSONDecodeError):  # not written yet
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{count} chunks were not recorded in time")


@pytest.fixture(params=["local", "s3"])
def lake_root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    return f"s3://{request.getfixturevalue('s3_module_bucket')}/{tmp_path.name}"


@pytest.mark.slow
def test_a_sigkilled_ray_driver_is_resumed_to_every_chunk_exactly_once(config, tmp_path, lake_root):
    lake, (marker, env) = lake_root, marked_environment()
    driver, family = start_driver(config, lake, "--workers", "2", env=env), []  # the default engine: ray
    try:
        wait_for_recorded_chunks(lake, driver, STOP_AFTER)
        family = descendants(driver.pid)
        driver.kill()
        driver.wait()
    finally:
        end_processes_of(marker, family)
    killed = Manifest.load(manifest_path(lake, "stopped"))
    assert killed.status == RUNNING and STOP_AFTER <= len(killed.chunks) < CHUNKS

    resumed = start_driver(config, lake, "--workers", "2", "--resume", env=env)
    out, err = resumed.communicate(timeout=300)
    end_processes_of(marker)
    assert resumed.returncode == 0, err
    assert f"resuming ({len(killed.chunks)} of {CHUNKS} chunks recorded)" in out
    assert_complete_and_like_an_uninterrupted_run(config, lake, tmp_path / "reference")


@pytest.mark.slow
def test_ctrl_c_leaves_an_interrupted_scan_that_resumes(config, tmp_path):
    lake, (marker, env) = tmp_path / "lake", marked_environment()
    driver = start_driver(config, lake, "--engine", "dask", "--workers", "2", env=env)
    try:
        wait_for_recorded_chunks(lake, driver, STOP_AFTER)
        os.killpg(driver.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
        out, err = driver.communicate(timeout=60)
    finally:
        end_processes_of(marker)
    interrupted = Manifest.load(manifest_path(lake, "stopped"))
    assert driver.returncode == 130
    assert interrupted.status == INTERRUPTED and len(interrupted.chunks) < CHUNKS
    assert f"interrupted: {len(interrupted.chunks)} of {CHUNKS} chunks recorded; continue with:" in err
    assert "Traceback" not in err
    resume_command = err.strip().splitlines()[-1].split()
    assert resume_command[1:] == ["scan", str(config), "--engine", "dask", "--workers", "2", "--lake", str(lake), "--resume"]

    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume") == 0
    assert_complete_and_like_an_uninterrupted_run(config, lake, tmp_path / "reference")


def test_a_failing_chunk_leaves_a_failed_scan_that_resumes_once_fixed(config, tmp_path, capsys):
    lake = tmp_path / "lake"
    blocker = scan_dir(lake, "stopped") / chunk_file_name(2)

    def block_chunk_two(record) -> None:  # once the scan has claimed its folder
        blocker.mkdir(exist_ok=True)

    with pytest.raises(LakeWriteError, match="Is a directory.*the manifest says failed"):
        run_scan(load_config(config, lake_root=str(lake)), make_engine("local"), block_chunk_two)
    failed = Manifest.load(manifest_path(lake, "stopped"))
    assert failed.status == FAILED and sorted(failed.chunks) == [0, 1]
    capsys.readouterr()
    assert run_cli("status", "stopped", "--lake", lake) == 0
    shown = capsys.readouterr().out
    assert "scan 'stopped': stopped by a chunk that kept failing" in shown and f"2 of {CHUNKS} recorded" in shown
    assert "dsscan scan CONFIG --resume" in shown
    assert run_cli("status", "stopped", "--lake", lake, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["status"], status["chunks_recorded"], status["points"]) == (FAILED, 2, 2 * CHUNK)
    assert status["rows"] == sum(r.rows for r in failed.chunks.values()) and status["worker_seconds_left"] > 0
    blocker.rmdir()
    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume") == 0
    assert_complete_and_like_an_uninterrupted_run(config, lake, tmp_path / "reference")
    capsys.readouterr()
    assert run_cli("status", "stopped", "--lake", lake) == 0
    assert capsys.readouterr().out.startswith("scan 'stopped': complete\n")


def test_status_of_a_scan_the_lake_does_not_hold_names_the_ones_it_does(small_lake, capsys):
    assert run_cli("status", "nope", "--lake", small_lake) == 2
    assert capsys.readouterr().err.strip() == (
        f"dsscan: error: no scan named 'nope' under lake root {str(small_lake)!r}; it holds 'sampled', 'small'"
    )


def test_resume_refuses_another_config_and_a_scan_that_does_not_exist(config, tmp_path, capsys):
    lake = tmp_path / "lake"
    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume") == 2
    assert "holds no scan named 'stopped'; run without --resume" in capsys.readouterr().err
    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress") == 0
    other = tmp_path / "other.toml"
    other.write_text(dumps_toml(config_doc(scan={"name": "stopped", "points": CHUNKS * CHUNK, "chunk_size": CHUNK, "seed": 8})))
    before = manifest_path(lake, "stopped").read_bytes()
    assert run_cli("scan", other, "--lake", lake, "--engine", "local", "--no-progress", "--resume") == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "dsscan: error: --resume: scan 'stopped' was started with another config (scan.seed differ); "
        "resume it with the config it was started with"
    )
    assert manifest_path(lake, "stopped").read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["ray", "dask", "local"])
def test_sigterm_stops_a_scan_as_ctrl_c_does(engine, config, tmp_path):
    """`kill`, `ray job stop` and Kubernetes send the driver SIGTERM alone: the Ray driver used to
    die by SIGABRT with a C++ stack dump, its manifest left 'running'."""
    lake, (marker, env) = tmp_path / "lake", marked_environment()
    driver = start_driver(config, lake, "--engine", engine, *(["--workers", "2"] if engine != "local" else []), env=env)
    try:
        wait_for_recorded_chunks(lake, driver, STOP_AFTER)
        driver.terminate()
        out, err = driver.communicate(timeout=60)
    finally:
        end_processes_of(marker)
    interrupted = Manifest.load(manifest_path(lake, "stopped"))
    assert driver.returncode == 130, err
    assert interrupted.status == INTERRUPTED and len(interrupted.chunks) < CHUNKS
    assert f"interrupted: {len(interrupted.chunks)} of {CHUNKS} chunks recorded; continue with:" in err
    assert "Traceback" not in err and "SIGABRT" not in err and "*** " not in err, err

    assert run_cli("scan", config, "--lake", lake, "--engine", "local", "--no-progress", "--resume") == 0
    assert_complete_and_like_an_uninterrupted_run(config, lake, tmp_path / "reference")


def test_a_sigterm_whose_interrupt_a_finalizer_swallowed_still_stops_the_scan(config, tmp_path, monkeypatch):
    """Python ignores an exception raised while a finalizer runs (dask's Future.__del__ is one), so
    the SIGTERM handler also records the signal and the driver raises it at the next chunk."""
    import dsscan.interrupt

    monkeypatch.setattr(dsscan.interrupt, "_received", ["SIGTERM"])  # as if the handler's raise was swallowed
    spec = load_config(config, lake_root=str(tmp_path))
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        run_scan(spec, make_engine("local"))
    stopped = Manifest.load(manifest_path(tmp_path, spec.name))
    assert stopped.status == INTERRUPTED and len(stopped.chunks) == 1  # the chunk that finished is kept


def test_a_sigterm_that_lands_in_a_finalizer_is_not_printed_and_is_raised_again(tmp_path):
    """The case itself, in a fresh interpreter: SIGTERM delivered while a ``__del__`` runs."""
    script = (
        "import gc, os, signal\n"
        "from dsscan import interrupt\n"
        "interrupt.sigterm_as_ctrl_c()\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        sum(range(10000))\n"
        "item = Finalized(); del item; gc.collect()\n"
        "print('went on')\n"
        "interrupt.raise_if_stopped()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout == "went on\n"  # the finalizer swallowed the first KeyboardInterrupt
    assert "Exception ignored" not in done.stderr and done.stderr.rstrip().endswith("KeyboardInterrupt: signal SIGTERM")
