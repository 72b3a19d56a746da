"""End to end through the CLI: a scan writes Parquet and a manifest that SQL agrees with, and the
same config and seed store the same bytes."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import SMALL_SCAN_POINTS, config_doc, run_cli
from dsscan.config import load_config
from dsscan.parameters import PARAMETER_NAMES, check_domain, inside_domain
from dsscan.plan import POINT_ID, chunk_points, chunks
from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import Manifest
from lake.writer import read_file_metadata

ACCEPTANCE_POINTS = 100_000
ACCEPTANCE_CHUNK = 25_000


def sql_json(capsys, lake, query: str) -> list[dict]:
    capsys.readouterr()
    assert run_cli("sql", query, "--lake", lake, "--format", "json") == 0
    return json.loads(capsys.readouterr().out)


def scan(write_config, lake, **scan_keys) -> Manifest:
    doc = config_doc(scan=scan_keys)
    assert run_cli("scan", write_config(doc), "--lake", lake, "--engine", "local", "--no-progress") == 0
    return Manifest.load(manifest_path(lake, doc["scan"]["name"]))


def test_sql_count_agrees_with_the_manifest(small_lake, capsys):
    manifest = Manifest.load(manifest_path(small_lake, "small"))
    rows = sql_json(capsys, small_lake, "select count(*) as n from points where scan = 'small'")
    assert rows == [{"n": manifest.totals()["rows"]}]
    assert manifest.totals()["points"] == SMALL_SCAN_POINTS
    assert manifest.totals()["rows"] == SMALL_SCAN_POINTS - manifest.totals()["outside_domain"]


def test_same_config_and_seed_store_identical_bytes(write_config, tmp_path):
    first = scan(write_config, tmp_path / "one", name="twice")
    second = scan(write_config, tmp_path / "two", name="twice")
    for index in first.chunks:
        name = chunk_file_name(index)
        assert (scan_dir(tmp_path / "one", "twice") / name).read_bytes() == (scan_dir(tmp_path / "two", "twice") / name).read_bytes()
    timing_free = lambda m: {i: {**vars(r), "seconds": None} for i, r in m.chunks.items()}  # noqa: E731
    assert timing_free(first) == timing_free(second)
    assert (first.config, first.provenance) == (second.config, second.provenance)


@pytest.mark.parametrize("sampler", ["sobol", "lhs"])
def test_quasi_random_samplers_scan_end_to_end(sampler, write_config, tmp_path, capsys):
    manifest = scan(write_config, tmp_path, name=sampler, sampler=sampler)
    rows = sql_json(capsys, tmp_path, f"select count(distinct point_id) as n from points where scan = '{sampler}'")
    assert rows == [{"n": manifest.totals()["rows"]}]


def test_allowed_plus_sample_stores_allowed_and_flagged_sample(small_lake, capsys):
    manifest = Manifest.load(manifest_path(small_lake, "sampled"))
    totals = manifest.totals()
    assert totals["rows"] == totals["allowed"] + totals["sampled"] > 0
    rows = sql_json(capsys, small_lake, "select count(*) as n from points where scan = 'sampled' and not allowed and not sampled")
    assert rows == [{"n": 0}]


@pytest.mark.parametrize(
    "ranges",
    [{"m_nu4_MeV": {"range": [20, 200]}}, {"U_mu4": {"range": [0, 1e-9]}}],
    ids=["m_S above m_nu4", "U_mu4 under its floor"],
)
def test_points_outside_the_domain_are_skipped_and_counted(ranges, write_config, tmp_path, capsys):
    path = write_config(config_doc(scan={"name": "edge"}, parameters=ranges))
    assert run_cli("scan", path, "--lake", tmp_path, "--engine", "local", "--no-progress") == 0
    totals = Manifest.load(manifest_path(tmp_path, "edge")).totals()
    assert 0 < totals["outside_domain"] < totals["points"]
    spec = load_config(path, lake_root=str(tmp_path))
    planned = [chunk_points(spec, c.index) for c in chunks(spec)]
    for points in planned:
        outside = ~inside_domain(points)
        for i in np.flatnonzero(outside):
            with pytest.raises(ValueError, match="outside the supported domain"):
                check_domain({n: points[n][i : i + 1] for n in PARAMETER_NAMES})
    inside = [int(i) for p in planned for i in p[POINT_ID][inside_domain(p)]]
    stored = sql_json(capsys, tmp_path, "select point_id from points order by point_id")
    assert [row["point_id"] for row in stored] == inside
    assert len(inside) == totals["points"] - totals["outside_domain"]


def test_chunk_files_carry_units_and_scan_metadata(small_lake):
    path = scan_dir(small_lake, "small") / chunk_file_name(0)
    metadata = read_file_metadata(path)
    assert metadata["scan"] == "small" and metadata["chunk"] == 0
    assert metadata["config"]["scan"]["seed"] == 7 and "constraint_set" in metadata
    schema = pq.read_schema(path)
    assert schema.field("m_S_MeV").metadata[b"unit"] == b"MeV"
    assert schema.names[0] == "point_id" and set(PARAMETER_NAMES) <= set(schema.names)


def test_scan_reports_where_the_results_are_and_how_to_open_the_app(write_config, tmp_path, capsys):
    assert run_cli("scan", write_config(config_doc(scan={"name": "told"})), "--lake", tmp_path, "--engine", "local", "--no-progress") == 0
    out = capsys.readouterr().out
    assert f"results:  {scan_dir(tmp_path, 'told')}" in out
    assert f"sql \"select count(*) from points where scan = 'told'\" --lake {tmp_path}" in out
    assert f"app --lake {tmp_path}" in out


@pytest.mark.slow
def test_acceptance_scan_of_1e5_points(write_config, tmp_path, capsys):
    """The issue's acceptance scan: 10^5 points, the default storage policy, SQL agrees."""
    doc = config_doc(scan={"name": "belle2024-demo", "points": ACCEPTANCE_POINTS, "chunk_size": ACCEPTANCE_CHUNK,
                           "store": "allowed+sample", "sample_rate": 0.01})
    assert run_cli("scan", write_config(doc), "--lake", tmp_path, "--engine", "local", "--no-progress") == 0
    manifest = Manifest.load(manifest_path(tmp_path, "belle2024-demo"))
    assert manifest.totals()["points"] == ACCEPTANCE_POINTS and len(manifest.chunks) == ACCEPTANCE_POINTS // ACCEPTANCE_CHUNK
    rows = sql_json(capsys, tmp_path, "select count(*) as n, count(distinct point_id) as ids from points")
    assert rows == [{"n": manifest.totals()["rows"], "ids": manifest.totals()["rows"]}]
    sample = manifest.totals()["sampled"] / (ACCEPTANCE_POINTS - manifest.totals()["allowed"])
    assert sample == pytest.approx(0.01, rel=0.2)


@pytest.mark.parametrize("store", ["allowed+sample", "allowed", "all"])
def test_a_chunk_stores_what_the_policy_keeps_of_the_full_evaluation(store, write_config, tmp_path):
    """The scan's path (kernel batches, only kept points copied out) against the plain one:
    ``dsscan.evaluate`` of the chunk's points, then the policy applied to the whole table."""
    import dsscan
    from dsscan.plan import storage_draws
    from lake.rows import sample_mask

    doc = config_doc(scan={"name": "policy", "store": store, "points": 150_000, "chunk_size": 150_000,
                           "sample_rate": 0.05 if store == "allowed+sample" else None},
                     parameters={"eta_c": {"range": [-0.3, -0.1]}, "eta_t": {"range": [0.004, 0.012]}})
    doc["scan"] = {k: v for k, v in doc["scan"].items() if v is not None}
    spec = load_config(write_config(doc), lake_root=str(tmp_path))
    assert run_cli("scan", write_config(doc), "--lake", tmp_path, "--engine", "local", "--no-progress") == 0
    stored = pq.read_table(scan_dir(tmp_path, "policy") / chunk_file_name(0))
    points = chunk_points(spec, 0)
    inside = inside_domain(points)
    full = dsscan.evaluate({n: points[n][inside] for n in PARAMETER_NAMES}, spec.constraints)
    allowed = full.column("allowed").to_numpy(zero_copy_only=False)
    mask = sample_mask(store, spec.sample_rate, storage_draws(spec, 0, spec.chunk_size)[inside])
    rows = np.arange(full.num_rows) if mask is None else np.flatnonzero(allowed | mask)
    assert allowed.any() and stored.num_rows == len(rows) > 0
    assert stored.drop_columns(["point_id", "sampled", "weight"]).equals(full.take(rows))
    np.testing.assert_array_equal(stored.column("point_id").to_numpy(), points[POINT_ID][inside][rows])
