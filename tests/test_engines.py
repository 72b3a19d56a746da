"""The engines on real clusters, into a local and an s3:// lake: local(1), ray(2) and dask(2) store
identical content; a SIGKILLed worker is replaced and every chunk is still stored exactly once; a
chunk that keeps failing stops the engine with an error naming it after a bounded number of tries.

One local Ray cluster serves the whole module (it takes seconds to start), started after the
AWS_* variables of the test S3 server are set so that its actors inherit them; each Dask test
starts its own LocalCluster through the engine (half a second), so the engine's start-up is tested.
"""
from __future__ import annotations

import logging
import os
import pathlib
import signal

import psutil
import pytest
import ray

from conftest import around_allowed_point, config_doc
from dsscan.config import ScanSpec, dumps_toml, load_config
from lake.catalog import open_catalog
from lake.layout import chunk_file_name, scan_dir
from lake.manifest import COMPLETE, Manifest
from services import make_engine
from services.driver import run_scan
from services.dask_engine import local_cluster_client
from services.engine import MAX_CHUNK_ATTEMPTS, ChunkFailedError, worker_environment

pytestmark = pytest.mark.slow

POINTS, CHUNK = 6_000, 500  # 12 chunks: enough that work remains when a worker is killed


@pytest.fixture(scope="module")
def ray_cluster(s3_module_bucket):
    before = set(psutil.Process().children())
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    daemons = set(psutil.Process().children()) - before  # gcs_server, raylet, ...
    yield
    started = daemons | {child for daemon in daemons if daemon.is_running() for child in daemon.children(recursive=True)}
    ray.shutdown()
    for process in started:  # Ray's agents would linger a minute or two after shutdown
        if process.is_running():
            process.kill()


@pytest.fixture(params=["local", "s3"])
def lake_root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    return f"s3://{request.getfixturevalue('s3_module_bucket')}/{tmp_path.name}"


def scan_spec(folder: pathlib.Path, lake_root: str | None = None) -> ScanSpec:
    """A 12-chunk sobol scan storing every point, its config in ``folder``, its lake ``lake_root``
    (default ``folder/lake``)."""
    doc = config_doc(scan={"name": "engines", "points": POINTS, "chunk_size": CHUNK, "sampler": "sobol"})
    path = folder / "engines.toml"
    path.write_text(dumps_toml(doc))
    return load_config(path, lake_root=lake_root or str(folder / "lake"))


def stored(spec: ScanSpec):
    """Every stored row sorted by point_id, and the number of distinct point_ids."""
    con = open_catalog(spec.lake_root)
    query = f"FROM points WHERE scan = '{spec.name}'"
    table = con.sql(f"SELECT * EXCLUDE (scan) {query} ORDER BY point_id").to_arrow_table()
    return table, con.execute(f"SELECT count(DISTINCT point_id) {query}").fetchone()[0]


def records_without_timing(manifest: Manifest) -> dict:
    return {i: {**vars(r), "seconds": None} for i, r in manifest.chunks.items()}


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    """The scan as the local engine stores it: what every other engine must store."""
    spec = scan_spec(tmp_path_factory.mktemp("local"))
    manifest = run_scan(spec, make_engine("local"))
    table, distinct = stored(spec)
    assert table.num_rows == distinct == manifest.totals()["rows"] > 0
    return spec, manifest, table


def worker_processes(kind: str) -> list[psutil.Process]:
    """This test's worker processes: Ray's ChunkWorker actors or Dask's spawned worker processes."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if (kind == "ray" and command.startswith("ray::ChunkWorker")) or (kind == "dask" and "spawn_main" in command):
            found.append(process)
    return found


def run_and_kill_one_worker(spec: ScanSpec, engine_name: str, **engine_options) -> tuple[Manifest, dict]:
    """Run the scan; when the first chunk is recorded, SIGKILL one worker process (and note the
    environment the workers run with)."""
    seen: dict = {}

    def on_chunk(record) -> None:
        if seen:
            return
        workers = worker_processes(engine_name)
        seen["environments"] = [w.environ() for w in workers]  # as the process started
        busy = [w for w in workers if w.cmdline()[0].endswith(".process")] or workers
        os.kill(busy[0].pid, signal.SIGKILL)
        seen["killed"] = busy[0].pid

    manifest = run_scan(spec, make_engine(engine_name, **engine_options), on_chunk)
    return manifest, seen


def assert_stored_like_the_reference(spec: ScanSpec, manifest: Manifest, local_reference) -> None:
    _, reference_manifest, reference_table = local_reference
    table, distinct = stored(spec)
    assert manifest.status == COMPLETE and sorted(manifest.chunks) == list(range(POINTS // CHUNK))
    assert table.num_rows == distinct == reference_table.num_rows  # no point twice, none missing
    assert table.equals(reference_table)
    assert records_without_timing(manifest) == records_without_timing(reference_manifest)


def test_ray_with_two_actors_stores_what_the_local_engine_stores(ray_cluster, tmp_path, lake_root, local_reference):
    spec = scan_spec(tmp_path, lake_root)
    manifest = run_scan(spec, make_engine("ray", workers=2))
    assert_stored_like_the_reference(spec, manifest, local_reference)
    reference = local_reference[0]
    for index in manifest.chunks:  # the very bytes, since chunk i depends on (seed, i) alone
        name = chunk_file_name(index)
        assert (scan_dir(spec.lake_root, spec.name) / name).read_bytes() == (scan_dir(reference.lake_root, spec.name) / name).read_bytes()


def test_a_killed_ray_actor_is_replaced_and_every_chunk_stored_once(ray_cluster, tmp_path, lake_root, local_reference, caplog):
    with caplog.at_level(logging.WARNING, logger="services.ray_engine"):
        spec = scan_spec(tmp_path, lake_root)
        manifest, seen = run_and_kill_one_worker(spec, "ray", workers=2)
    assert_stored_like_the_reference(spec, manifest, local_reference)
    # The killed actor's chunk (the one it held, or the next one handed to it) was tried again.
    retried = [r for r in caplog.records if "trying it again" in r.getMessage()]
    assert len(retried) == 1 and "2 of 3" in retried[0].getMessage()
    assert seen["killed"] not in [w.pid for w in worker_processes("ray")]
    expected = worker_environment()
    for environment in seen["environments"]:  # one numba thread per actor, one shared kernel cache
        assert {k: environment.get(k) for k in expected} == expected


def test_a_chunk_that_keeps_failing_stops_the_ray_engine_after_bounded_tries(ray_cluster, tmp_path):
    assert_chunk_three_fails_after_bounded_tries(scan_spec(tmp_path), make_engine("ray", workers=2))


def assert_chunk_three_fails_after_bounded_tries(spec: ScanSpec, engine) -> None:
    """A directory in the way of chunk 3's file makes every try of it fail; the others are unharmed."""
    (scan_dir(spec.lake_root, spec.name) / chunk_file_name(3)).mkdir(parents=True)
    recorded = []
    with pytest.raises(ChunkFailedError, match=rf"^chunk 3 failed {MAX_CHUNK_ATTEMPTS} times; last failure: IsADirectoryError"):
        engine.run(spec, range(spec.n_chunks), lambda record: recorded.append(record.index))
    assert 3 not in recorded and len(recorded) == len(set(recorded))


def test_dask_with_two_workers_stores_what_the_local_engine_stores_despite_a_killed_worker(tmp_path, lake_root, local_reference):
    spec = scan_spec(tmp_path, lake_root)
    manifest, seen = run_and_kill_one_worker(spec, "dask", workers=2)
    assert_stored_like_the_reference(spec, manifest, local_reference)


def test_dask_workers_run_one_numba_thread_with_the_shared_kernel_cache():
    def worker_settings() -> tuple:
        import numba

        return {k: os.environ.get(k) for k in worker_environment()}, numba.config.NUMBA_NUM_THREADS

    with local_cluster_client(2) as client:
        settings = client.run(worker_settings)
    assert list(settings.values()) == [(worker_environment(), 1)] * 2


def test_a_chunk_that_keeps_failing_stops_the_dask_engine_after_bounded_tries(tmp_path):
    assert_chunk_three_fails_after_bounded_tries(scan_spec(tmp_path), make_engine("dask", workers=2))


def test_an_adaptive_scan_stores_the_same_bytes_and_proposals_on_ray_as_locally(ray_cluster, tmp_path):
    """In a box where most points are allowed, so that rounds 1 and 2 fit allowed points and carry kernels."""
    doc = config_doc(scan={"name": "adaptive", "points": POINTS, "chunk_size": CHUNK, "sampler": "adaptive", "round_points": 2_000},
                     parameters=around_allowed_point(0.97, 1.03))
    path = tmp_path / "adaptive.toml"
    path.write_text(dumps_toml(doc))
    local = run_scan(load_config(path, lake_root=str(tmp_path / "local")), make_engine("local"))
    spec = load_config(path, lake_root=str(tmp_path / "ray"))
    on_ray = run_scan(spec, make_engine("ray", workers=2))
    assert len(on_ray.rounds) == 3 and on_ray.rounds == local.rounds  # fitted on identical earlier rounds
    assert all(len(on_ray.rounds[r]["proposal"]["kernels"]["means"]) > 0 for r in (1, 2))
    assert records_without_timing(on_ray) == records_without_timing(local)
    for index in on_ray.chunks:
        name = chunk_file_name(index)
        assert (scan_dir(spec.lake_root, spec.name) / name).read_bytes() == (scan_dir(tmp_path / "local", spec.name) / name).read_bytes()
