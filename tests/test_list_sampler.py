"""sampler = "list": the points of a CSV or Parquet file, chunk i being rows i*chunk_size ...; the
file's parameter columns replace those parameters' settings, its checksum pins the scan."""
from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, config_doc, run_cli
from dsscan.config import ConfigError, Listed, load_config, to_toml
from dsscan.plan import POINT_ID, chunk_points
from dsscan.points_file import file_sha256

BENCHMARKS_2024 = REPO / "dsscan" / "data" / "benchmarks" / "benchmarks_2024.csv"  # comment lines, a label column
COLUMNS = ("kappa_TeV", "eta_d", "eta_c", "eta_t", "g_D", "U_mu4", "m_S_MeV", "m_nu4_MeV")


def list_doc(points_file, **scan) -> dict:
    """The base config with sampler = "list": eta_u fixed, every other parameter from the file."""
    doc = config_doc()
    del doc["scan"]["points"]
    doc["scan"] |= {"name": "listed", "sampler": "list", "points_file": str(points_file), **scan}
    for name in COLUMNS:
        del doc["parameters"][name]
    return doc


def grid_file(tmp_path, rows: int = 23, suffix: str = ".parquet"):
    """A file of ``rows`` points inside the domain, and its columns."""
    line = np.linspace(0.0, 1.0, rows)
    columns = {
        "kappa_TeV": 2 * line, "eta_d": 0.5 + 0 * line, "eta_c": -0.2 + 0 * line, "eta_t": 0.01 + 0 * line,
        "g_D": 1 + line, "U_mu4": 1e-3 + 0 * line, "m_S_MeV": 20 + 100 * line, "m_nu4_MeV": 500 + 0 * line,
    }
    path = tmp_path / f"grid{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.table({"label": [f"p{i}" for i in range(rows)], **columns}), path)
    else:
        path.write_text("# a grid\n" + ",".join(columns) + "\n" + "\n".join(",".join(repr(float(c[i])) for c in columns.values()) for i in range(rows)))
    return path, columns


def test_the_benchmark_points_csv_is_a_list_scan_whose_resolved_config_reads_back(write_config):
    spec = load_config(write_config(list_doc(BENCHMARKS_2024, chunk_size=5)))
    assert (spec.points, spec.n_chunks, spec.free_parameters) == (7, 2, ())
    assert spec.points_sha256 == file_sha256(BENCHMARKS_2024)
    assert all(isinstance(spec.parameters[n], Listed) for n in COLUMNS)
    assert load_config(write_config(to_toml(spec))) == spec
    last = chunk_points(spec, 1)
    assert last[POINT_ID].tolist() == [5, 6] and last["m_S_MeV"].tolist() == [24.0, 122.0] and (last["eta_u"] == 0).all()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunk_i_is_rows_i_times_chunk_size_with_ties_and_fixed_values(suffix, write_config, tmp_path):
    path, columns = grid_file(tmp_path, suffix=suffix)
    doc = list_doc(path, chunk_size=10, points=21)
    doc["parameters"]["eta_u"] = {"same_as": "eta_t"}
    spec = load_config(write_config(doc))
    assert (spec.points, spec.n_chunks) == (21, 3)
    points = [chunk_points(spec, i) for i in range(spec.n_chunks)]
    assert np.concatenate([p[POINT_ID] for p in points]).tolist() == list(range(21))
    for name in COLUMNS:
        assert np.array_equal(np.concatenate([p[name] for p in points]), columns[name][:21]), name
    assert all(np.array_equal(p["eta_u"], p["eta_t"]) for p in points)


def test_a_list_scan_stores_the_listed_points(write_config, tmp_path, capsys):
    path, columns = grid_file(tmp_path)
    config = write_config(list_doc(path, chunk_size=10))
    assert run_cli("scan", config, "--lake", tmp_path / "lake", "--engine", "local", "--no-progress") == 0
    capsys.readouterr()
    assert run_cli("sql", "select point_id, m_S_MeV, g_D from points order by point_id", "--lake", tmp_path / "lake", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["point_id"] for r in rows] == list(range(23))
    assert [r["m_S_MeV"] for r in rows] == pytest.approx(columns["m_S_MeV"].tolist(), rel=1e-15)
    assert [r["g_D"] for r in rows] == pytest.approx(columns["g_D"].tolist(), rel=1e-15)


def test_a_points_file_changed_after_planning_fails_its_chunks(write_config, tmp_path):
    path, _ = grid_file(tmp_path)
    spec = load_config(write_config(list_doc(path, chunk_size=10)))
    grid_file(tmp_path, rows=24)
    with pytest.raises(ValueError, match="changed since the scan was planned"):
        chunk_points(spec, 0)


def _edit(doc, **changes):
    for where, value in changes.items():
        table, key = where.split("__")
        if value is None:
            del doc[table][key]
        else:
            doc[table][key] = value
    return doc


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (lambda doc, path: _edit(doc, scan__sampler="uniform", scan__points=10), "scan.points_file", "only used with sampler = 'list'"),
        (lambda doc, path: _edit(doc, scan__points_file=None), "scan.points_file", "missing"),
        (lambda doc, path: _edit(doc, scan__points_file=str(path.with_suffix(".txt"))), "scan.points_file", "expected a .csv or .parquet file"),
        (lambda doc, path: _edit(doc, scan__points_file=str(path.with_name("nope.csv"))), "scan.points_file", "no such file"),
        (lambda doc, path: _edit(doc, scan__points=24), "scan.points", "lists 23 points, fewer than the 24 asked for"),
        (lambda doc, path: _edit(doc, scan__points_sha256="0" * 64), "scan.points_sha256", "the file changed"),
        (lambda doc, path: _edit(doc, parameters__g_D=1.0), "parameters.g_D", "a column of scan.points_file gives it already"),
        (lambda doc, path: _edit(doc, parameters__eta_u={"range": [0, 1]}), "parameters.eta_u.range", "draws nothing"),
        (lambda doc, path: _edit(doc, parameters__eta_u=None), "parameters.eta_u", "or a column eta_u in scan.points_file"),
    ],
    ids=["not a list", "no file", "not csv or parquet", "absent", "too many points", "pinned checksum", "given twice",
         "a range", "a parameter nowhere"],
)
def test_list_mistakes_name_the_key(edit, key, message, write_config, tmp_path):
    path, _ = grid_file(tmp_path)
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(edit(list_doc(path), path)))
    assert refused.value.key.endswith(key) and message in str(refused.value)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [("m_S_MeV", 300.0, "column m_S_MeV spans [20, 300], which is outside the supported domain"),
     ("g_D", float("nan"), "column g_D row 22 is nan, not a finite number")],
)
def test_listed_values_are_checked_before_any_work(column, value, message, write_config, tmp_path):
    path, columns = grid_file(tmp_path)
    columns[column][-1] = value
    pq.write_table(pa.table(columns), path)
    with pytest.raises(ConfigError, match=f"scan.points_file: .*{re.escape(message)}"):
        load_config(write_config(list_doc(path)))

