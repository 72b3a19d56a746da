"""``dsscan lake`` and the query path on a local lake and on an ``s3://`` lake (moto's S3 server on
127.0.0.1): verify finds missing, corrupted and unrecorded files; vacuum, compact and rm; the
app draws a scan from an S3 lake."""
from __future__ import annotations

import json
import uuid

import boto3
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO, S3_ENV, config_doc, run_cli
from dsscan.config import ConfigError, load_config
from lake.catalog import open_catalog
from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import Manifest
from lake.storage import ObjectPath, lake_path

POINTS, CHUNK = 500, 100  # five chunk files

@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    """A new empty bucket; the AWS_* variables point every client at the test server."""
    for name, value in {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture(params=["local", "s3"])
def lake_root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "lake")
    return f"s3://{request.getfixturevalue('s3_bucket')}/lake"


@pytest.fixture
def scanned(lake_root, write_config) -> str:
    """``lake_root`` holding the scan ``small`` of five chunks, every point stored."""
    config = write_config(config_doc(scan={"points": POINTS, "chunk_size": CHUNK}))
    assert run_cli("scan", config, "--engine", "local", "--lake", lake_root, "--no-progress") == 0
    return lake_root


def _sql(root: str, query: str, capsys) -> list[dict]:
    capsys.readouterr()
    assert run_cli("sql", query, "--lake", root, "--format", "json") == 0
    return json.loads(capsys.readouterr().out)


def _lake_cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = run_cli("lake", *argv)
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _points_by_id(root: str) -> list[tuple]:
    return open_catalog(root).execute("SELECT * FROM points ORDER BY point_id").fetchall()


def test_scan_is_queried_and_verifies(scanned, capsys):
    assert _sql(scanned, "select count(*) as n, count(distinct point_id) as ids from points", capsys) == [{"n": POINTS, "ids": POINTS}]
    status, out = _lake_cli(capsys, "verify", "--lake", scanned)
    assert status == 0 and out.strip().endswith("verified 1 scan(s), 5 recorded file(s): OK")
    status, out = _lake_cli(capsys, "ls", "--lake", scanned)
    assert status == 0 and "small" in out and "complete" in out and "5/5" in out
    status, out = _lake_cli(capsys, "info", "small", "--lake", scanned)
    assert status == 0 and "m_S_MeV" in out and "MeV" in out and '"numba"' in out


@pytest.mark.parametrize("lake_root", ["s3"], indirect=True)
def test_s3_root_is_where_the_files_are(scanned):
    folder = scan_dir(scanned, "small")
    assert isinstance(folder, ObjectPath)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*(chunk_file_name(i) for i in range(5)), "manifest.json"])


def test_manifest_records_the_environment(scanned):
    environment = Manifest.load(manifest_path(scanned, "small")).environment
    assert environment["python"] and set(environment["packages"]) >= {"numpy", "numba", "pyarrow", "duckdb"}


def test_verify_names_corrupted_missing_and_unrecorded_files(scanned, capsys):
    folder = scan_dir(scanned, "small")
    corrupted, missing = folder / chunk_file_name(1), folder / chunk_file_name(3)
    data = bytearray(corrupted.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    missing.unlink()
    (folder / chunk_file_name(7)).write_bytes(b"left by a crash")
    status, out = _lake_cli(capsys, "verify", "small", "--lake", scanned)
    assert status == 1
    assert f"corrupted: scan=small/{chunk_file_name(1)}" in out
    assert f"missing: scan=small/{chunk_file_name(3)}" in out
    assert f"garbage: scan=small/{chunk_file_name(7)}" in out
    assert "3 problem(s)" in out


def test_vacuum_deletes_only_unrecorded_files(scanned, capsys):
    garbage = scan_dir(scanned, "small") / chunk_file_name(9)
    garbage.write_bytes(b"left by a crash")
    status, out = _lake_cli(capsys, "vacuum", "small", "--dry-run", "--lake", scanned)
    assert status == 0 and "would delete" in out and garbage.exists()
    status, out = _lake_cli(capsys, "vacuum", "small", "--lake", scanned)
    assert status == 0 and not garbage.exists()
    assert _lake_cli(capsys, "verify", "--lake", scanned)[0] == 0


def test_compact_keeps_the_content_and_verifies(scanned, capsys):
    before = _points_by_id(scanned)
    status, out = _lake_cli(capsys, "compact", "small", "--target-rows", "250", "--lake", scanned)
    assert status == 0 and "5 files -> 3 files" in out
    assert _points_by_id(scanned) == before
    assert sorted(p.name for p in scan_dir(scanned, "small").iterdir()) == [
        "manifest.json", "part-000000-000001.parquet", "part-000002-000003.parquet", chunk_file_name(4)]
    manifest = Manifest.load(manifest_path(scanned, "small"))
    assert sorted(manifest.chunks) == list(range(5)) and manifest.totals()["rows"] == POINTS
    assert _lake_cli(capsys, "verify", "--lake", scanned)[0] == 0
    assert _sql(scanned, "select count(*) as n from chunks", capsys) == [{"n": 5}]


def test_rm_asks_for_yes_then_removes_the_scan(scanned, capsys):
    status, out = _lake_cli(capsys, "rm", "small", "--lake", scanned)
    assert status == 2 and "--yes" in out and manifest_path(scanned, "small").exists()
    status, out = _lake_cli(capsys, "rm", "small", "--yes", "--lake", scanned)
    assert status == 0 and not scan_dir(scanned, "small").exists()
    status, out = _lake_cli(capsys, "ls", "--lake", scanned)
    assert status == 2 and "no scans" in out


def test_running_scan_is_not_compacted_or_vacuumed_without_force(scanned, capsys):
    manifest = Manifest.load(manifest_path(scanned, "small"))
    manifest.status = "running"
    manifest.save(scanned)
    for action in ("compact", "vacuum"):
        status, out = _lake_cli(capsys, action, "small", "--lake", scanned)
        assert status == 2 and "--resume" in out and "--force" in out


def test_missing_bucket_is_refused_naming_the_key(s3_bucket, write_config):
    config = write_config(config_doc())
    with pytest.raises(ConfigError, match="--lake: bucket 'no-such-bucket' does not exist"):
        load_config(config, lake_root="s3://no-such-bucket/lake")
    assert load_config(config, lake_root=f"s3://{s3_bucket}/lake/").lake_root == f"s3://{s3_bucket}/lake"
    assert not lake_path(f"s3://{s3_bucket}/lake").iterdir()  # the write probe left no object behind


@pytest.mark.parametrize("lake_root", ["s3"], indirect=True)
def test_app_draws_a_scan_from_an_s3_lake(scanned, monkeypatch):
    monkeypatch.setenv("DSSCAN_LAKE", scanned)  # the app serves the lake it was started with
    app = AppTest.from_file(str(REPO / "streamlit_app" / "app.py"), default_timeout=60).run()
    assert not app.exception, app.exception
    assert app.sidebar.multiselect(key="scans").options == ["small"]
    assert app.get("vega_lite_chart")
