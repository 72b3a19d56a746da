"""The explorer's pages, run by Streamlit's own test harness against real lakes; expected numbers
come from reading the Parquet files with pyarrow and numpy, not from the app's queries."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from lake.figures import BINS, figure_book
from streamlit_app.context import lake_roots

RUN_TIMEOUT_S = 120  # the first run imports DuckDB, pyarrow and the views
# Paper 001 Table I as the shipped set datta2024 holds it: Belle II B+ -> K+ nu nu (2.3 +- 0.7) 1e-5,
# KOTO BR(K_L -> pi0 nu nu) < 4.9e-9.
BELLE2_WINDOW = (1.6e-5, 3.0e-5)
KOTO_BOUND = 4.9e-9


def page(view: str, lake, monkeypatch, **query) -> AppTest:
    """One view of the app (as ``st.navigation`` runs it) on ``lake``, opened with URL ``query``."""
    monkeypatch.setenv("DSSCAN_LAKE", str(lake))
    app = AppTest.from_string(f"from streamlit_app.views import {view}\n{view}.render()", default_timeout=RUN_TIMEOUT_S)
    for key, value in query.items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def drawn(app: AppTest) -> tuple[dict, dict[str, pa.Table]]:
    """The Vega-Lite spec of the page's one chart and its named datasets."""
    (chart,) = app.get("vega_lite_chart")
    datasets = {d.name: pa.ipc.open_stream(d.data.data).read_all() for d in chart.proto.datasets}
    return json.loads(chart.proto.spec), datasets


def stored(lake, *columns: str) -> pa.Table:
    """Every stored row of the lake, read straight from the chunk files."""
    files = sorted(str(f) for f in lake.rglob("part-*.parquet"))
    return ds.dataset(files, format="parquet").to_table(columns=list(columns) or None)


def layers(spec: dict, suffix: str) -> list[dict]:
    return [layer for panel in spec["concat"] for layer in panel["layer"] if layer.get("name", "").endswith(suffix)]


def test_figure2_draws_every_allowed_point_over_a_density_of_both_scans(scenario_lake, monkeypatch):
    app = page("figure2", scenario_lake, monkeypatch)
    spec, data = drawn(app)
    rows = stored(scenario_lake, "allowed", "scenario", "eta_t", "eta_c")
    allowed = rows.filter(rows["allowed"])
    assert data["points"].num_rows == allowed.num_rows > 0
    assert set(data["points"]["scenario"].to_pylist()) == {"kappa", "kappa0"}
    figure = figure_book().figures["figure2"]
    assert [(p["layer"][-1]["encoding"]["x"]["field"], p["layer"][-1]["encoding"]["y"]["field"]) for p in spec["concat"]] \
        == [(p.x.column, p.y.column) for p in figure.panels]
    # 6000 stored rows are more than a chart draws: each panel is a 2-D histogram; the first one
    # (eta_t over [0, 0.02], eta_c over [-0.5, 0]) against numpy's
    counts, _, _ = np.histogram2d(rows["eta_t"].to_numpy(), rows["eta_c"].to_numpy(), bins=BINS,
                                  range=[[0, 0.02], [-0.5, 0]])
    density = data["density_0"]
    assert density.num_rows == np.count_nonzero(counts)
    assert sorted(density["rows"].to_pylist()) == sorted(counts[counts > 0].astype(int).tolist())
    colours = layers(spec, "_points")[0]["encoding"]["color"]["scale"]
    assert dict(zip(colours["domain"], colours["range"])) == dict(figure.colors)
    assert not app.warning  # both scenarios present
    assert [b.proto.label for b in app.get("download_button")] == ["PNG", "PDF", "SVG"]


def test_figure3_draws_the_constraint_sets_bands_and_bounds(scenario_lake, monkeypatch):
    spec, data = drawn(page("figure3", scenario_lake, monkeypatch))
    first = spec["concat"][0]["layer"]
    bands = [layer["data"]["values"] for layer in first if layer["mark"]["type"] == "rect" and "values" in layer["data"]]
    rules = [layer["data"]["values"] for layer in first if layer["mark"]["type"] == "rule"]
    assert [(v["lower"], v["upper"]) for v in bands[0]] == [pytest.approx(BELLE2_WINDOW)]
    assert [v["value"] for v in rules[0]] == [pytest.approx(KOTO_BOUND)]
    x = first[-1]["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["title"] == "BR(B⁺ → K⁺ νν̄)"
    assert data["points"].num_rows == pc.sum(stored(scenario_lake, "allowed")["allowed"]).as_py()


def test_a_lake_without_one_scenario_says_which_is_missing(scenario_lake, monkeypatch):
    app = page("figure2", scenario_lake, monkeypatch, scans="bp1-kappa")
    assert "κ = 0" in app.warning[0].value
    _, data = drawn(app)
    assert set(data["points"]["scenario"].to_pylist()) == {"kappa"}


def test_explore_offers_log_only_for_positive_columns_and_redraws_on_change(scenario_lake, monkeypatch):
    app = page("explore", scenario_lake, monkeypatch, scans="bp1-kappa")
    spec, data = drawn(app)
    rows = stored(scenario_lake / "scan=bp1-kappa", "allowed")
    # one scan, 3000 rows: every row is drawn, no density
    assert data["points"].num_rows == rows.num_rows and "density_0" not in data
    app.selectbox(key="x").set_value("eta_c").run()  # eta_c < 0 everywhere
    assert app.radio(key="xscale").options == ["linear"]
    spec, _ = drawn(app)
    assert spec["concat"][0]["layer"][-1]["encoding"]["x"]["scale"]["type"] == "linear"
    assert app.radio(key="yscale").options == ["linear", "log"]
    app.radio(key="yscale").set_value("linear").run()
    spec, _ = drawn(app)
    assert spec["concat"][0]["layer"][-1]["encoding"]["y"]["scale"]["type"] == "linear"
    app.selectbox(key="colour").set_value("pass_KL_pi0nunu").run()
    spec, _ = drawn(app)
    assert spec["concat"][0]["layer"][-1]["encoding"]["color"]["field"] == "pass_KL_pi0nunu"


def test_explore_slices_a_parameter_from_the_url(scenario_lake, monkeypatch):
    table = stored(scenario_lake, "eta_d")
    low, high = 0.16, 0.18
    inside = pc.sum(pc.and_(pc.greater_equal(table["eta_d"], low), pc.less_equal(table["eta_d"], high))).as_py()
    app = page("explore", scenario_lake, monkeypatch, slice="eta_d", range_eta_d=[str(low), str(high)])
    assert app.slider(key="range_eta_d").value == (low, high)
    _, data = drawn(app)
    assert 0 < data["points"].num_rows == inside < table.num_rows


def test_constraints_page_counts_what_dropping_a_constraint_lets_through(scenario_lake, monkeypatch):
    rows = stored(scenario_lake)
    verdicts = [c for c in rows.column_names if c.startswith("pass_")]
    kept = [c for c in verdicts if c != "pass_Bp_Kpnunu"]
    expected = np.logical_and.reduce([rows[c].to_numpy(zero_copy_only=False) for c in kept]).sum()
    app = page("constraints", scenario_lake, monkeypatch, drop="Bp_Kpnunu")
    assert app.metric[0].value == f"{expected:,}"
    table = app.dataframe[0].value
    koto = table[(table["constraint"] == "KL_pi0nunu") & (table["scan"] == "bp1-kappa")].iloc[0]
    bp1 = stored(scenario_lake / "scan=bp1-kappa", "pass_KL_pi0nunu")
    assert koto["rows_passing"] == pc.sum(bp1["pass_KL_pi0nunu"]).as_py()
    assert koto["fraction_of_points"] == pytest.approx(koto["rows_passing"] / bp1.num_rows)  # store = all: weight 1
    assert "storage policy kept" in app.info[0].value


def test_sql_page_caps_the_rows_and_refuses_writes(scenario_lake, monkeypatch):
    app = page("sql", scenario_lake, monkeypatch, q="SELECT point_id FROM points")
    assert app.caption[1].value == "6,000 rows, the first 1,000 shown"
    assert len(app.dataframe[0].value) == 1000
    assert [b.proto.label for b in app.get("download_button")] == ["CSV", "Parquet"]
    app.text_area(key="q").set_value("DROP TABLE scans").run()
    assert "read-only" in app.error[0].value


@pytest.mark.parametrize("damage", ["empty", "truncated manifest"])
def test_a_lake_that_cannot_be_read_gets_a_clear_page(tmp_path, scenario_lake, monkeypatch, damage):
    if damage == "truncated manifest":
        scan = tmp_path / "scan=broken"
        scan.mkdir()
        (scan / "manifest.json").write_text('{"scan": "bro')
    app = page("figure3", tmp_path, monkeypatch)
    assert str(tmp_path) in app.error[0].value
    assert not app.get("vega_lite_chart")


def test_the_lake_comes_from_the_command_line_or_the_environment(monkeypatch):
    monkeypatch.setenv("DSSCAN_LAKE", "/from/env")
    assert lake_roots(["--lake", "a", "--lake", "b"]) == ["a", "b"]
    assert lake_roots([]) == ["/from/env"]


def test_figure2_marks_the_papers_benchmark_points_when_asked(scenario_lake, monkeypatch):
    spec, _ = drawn(page("figure2", scenario_lake, monkeypatch, bp="true"))
    diamonds = [layer for layer in spec["concat"][0]["layer"] if layer["mark"].get("shape") == "diamond"]
    (marks,) = [layer["data"]["values"] for layer in diamonds]
    # paper 001 Table II: eta_t x 10^2 and eta_c of BP1 ... BP7
    assert [(m["benchmark"], m["eta_t"], m["eta_c"]) for m in marks] == [
        ("BP1", 0.0054, -0.13), ("BP2", 0.0104, -0.28), ("BP3", 0.0084, -0.24), ("BP4", 0.0058, -0.14),
        ("BP5", 0.0131, -0.34), ("BP6", 0.0054, -0.13), ("BP7", 0.0063, -0.15),
    ]


def test_a_chunk_file_lost_after_the_scan_ends_the_page_in_one_line(tmp_path, scenario_lake, monkeypatch):
    lake = tmp_path / "lake"
    shutil.copytree(scenario_lake, lake)
    (lake / "scan=bp1-kappa" / "part-000002.parquet").unlink()
    monkeypatch.setenv("DSSCAN_LAKE", str(lake))
    app = AppTest.from_file(str(REPO / "streamlit_app" / "app.py"), default_timeout=RUN_TIMEOUT_S).run()
    assert not app.exception, app.exception
    assert app.error[0].value.startswith("cannot read the lake")
