"""The Python API (``dsscan.run_scan``, ``open_lake``, ``point``): its public names are pinned, and
each call gives what the matching CLI command gives, errors included."""
from __future__ import annotations

import json
import os
import pydoc
import shutil
import subprocess
import sys

import pytest
from IPython.core.formatters import DisplayFormatter

import dsscan
from conftest import REPO, config_doc, run_cli
from lake.layout import manifest_path
from lake.manifest import Manifest

PUBLIC_NAMES = ["run_scan", "open_lake", "point", "evaluate", "figures", "Lake", "Point", "__version__"]
EXAMPLE_POINT = dict(  # the example of "dsscan point --help"
    kappa_TeV=0.42, eta_d=0.56, eta_u=0.002, eta_c=0.002, eta_t=0.002, g_D=0.29, U_mu4=4.5e-3, m_S_MeV=133, m_nu4_MeV=416
)


def cli_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert run_cli(*argv, "--json") == 0
    return json.loads(capsys.readouterr().out)


def cli_error(capsys, *argv) -> str:
    capsys.readouterr()
    assert run_cli(*argv) == 2
    return capsys.readouterr().err.strip().removeprefix("dsscan: error: ")


def test_public_names_are_pinned_and_listed_by_help():
    assert dsscan.__all__ == PUBLIC_NAMES
    assert dsscan.figures.__all__ == ["figure2", "figure3", "draw", "names", "Figure"]
    assert set(PUBLIC_NAMES) <= set(dir(dsscan))
    text = pydoc.render_doc(dsscan, renderer=pydoc.plaintext)
    for name in ("run_scan", "open_lake", "point", "evaluate", "figures.figure2", "figures.figure3"):
        assert f"{name}(" in text
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dsscan.nope  # noqa: B018


def test_the_api_page_documents_every_public_name():
    text = (REPO / "docs" / "api.md").read_text()
    functions = [n for n in PUBLIC_NAMES if callable(getattr(dsscan, n)) and not isinstance(getattr(dsscan, n), type)]
    assert all(f"## `dsscan.{name}(" in text for name in functions)
    assert all(f"dsscan.figures.{name}(" in text for name in dsscan.figures.__all__ if name != "Figure")
    assert all(f"Figure.{name}" in text for name in vars(dsscan.figures.Figure) if not name.startswith("_"))
    lake_methods = [n for n in vars(dsscan.Lake) if not n.startswith("_")]
    assert all(f"Lake.{name}(" in text for name in lake_methods)
    assert all(f"point.{name}" in text for name in vars(dsscan.Point) if not name.startswith("_"))


def test_the_api_names_import_no_engine_database_or_app():
    probe = (
        "import sys, dsscan; dsscan.run_scan, dsscan.open_lake, dsscan.point, dsscan.figures\n"
        "print(sorted(m for m in ('duckdb', 'ray', 'dask', 'streamlit', 'services', 'lake') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["[]"]


def test_lake_sql_scans_status_and_points_agree_with_the_cli(small_lake, capsys):
    lake = dsscan.open_lake(small_lake)
    manifest = Manifest.load(manifest_path(small_lake, "small"))
    assert lake.sql("select count(*) from points where scan = 'small'").fetchall() == [(manifest.totals()["rows"],)]
    assert lake.sql("select * from points where scan = 'small'").arrow().read_all().num_rows == manifest.totals()["rows"]
    assert lake.scan_names() == ["sampled", "small"]
    assert list(lake.scans().df()["scan"]) == ["sampled", "small"]
    assert lake.status("small") == cli_json(capsys, "status", "small", "--lake", small_lake)
    sampled = lake.sql("select count(*) from points where scan = 'sampled' and sampled").fetchall()[0][0]
    kept = lake.points("sampled", ["eta_t", "eta_c"], where="sampled").df()
    assert list(kept.columns) == ["eta_t", "eta_c"] and len(kept) == sampled > 0
    assert lake.points("sampled").df()["scan"].unique().tolist() == ["sampled"]


def test_open_lake_defaults_to_the_clis_lake(small_lake, monkeypatch, capsys):
    monkeypatch.setenv("DSSCAN_LAKE", str(small_lake))
    assert dsscan.open_lake().root == str(small_lake)
    assert dsscan.open_lake().status("small") == cli_json(capsys, "status", "small")


def test_lake_errors_are_the_clis_one_line_errors(small_lake, tmp_path, capsys):
    lake = dsscan.open_lake(small_lake)
    for query in ("delete from points", "select nope from points"):
        with pytest.raises(ValueError) as raised:
            lake.sql(query)
        assert str(raised.value) == cli_error(capsys, "sql", query, "--lake", small_lake)
    with pytest.raises(ValueError) as raised:
        lake.status("missing")
    assert str(raised.value) == cli_error(capsys, "status", "missing", "--lake", small_lake)
    with pytest.raises(ValueError, match="no scan named 'missing'.*it holds sampled, small"):
        lake.points("missing")
    with pytest.raises(ValueError) as raised:
        dsscan.open_lake(tmp_path)
    assert str(raised.value) == cli_error(capsys, "sql", "select 1", "--lake", tmp_path)


def test_point_is_what_dsscan_point_prints(capsys):
    found = dsscan.point(**EXAMPLE_POINT)
    argv = ["point", *(f"{name}={value}" for name, value in EXAMPLE_POINT.items())]
    assert found.to_dict() == cli_json(capsys, *argv)
    capsys.readouterr()
    assert run_cli(*argv) == 0
    assert str(found) + "\n" == capsys.readouterr().out
    assert found.verdict == "NOT allowed by datta2024: fails Bp_Kpnunu" and not found.allowed
    assert repr(found) == f"<dsscan point: {found.verdict}>"
    assert DisplayFormatter().format(found)[0]["text/plain"] == str(found)  # a notebook cell shows the report
    assert found["m_S_MeV"] == 133.0


@pytest.mark.parametrize(
    "change, named",
    [({"kappa": 1.0}, "unknown parameter 'kappa'"), ({"m_S_MeV": "heavy"}, "'m_S_MeV': expected a number"),
     ({"U_mu4": None}, "missing parameters U_mu4"), ({"m_S_MeV": 500.0}, "m_S_MeV")],
    ids=["unknown", "not a number", "missing", "outside the domain"],
)
def test_point_errors_are_the_clis(change, named, capsys):
    parameters = {n: v for n, v in (EXAMPLE_POINT | change).items() if v is not None}
    with pytest.raises(ValueError, match=named) as raised:
        dsscan.point(**parameters)
    assert str(raised.value) == cli_error(capsys, "point", *(f"{n}={v}" for n, v in parameters.items()))


def test_run_scan_stores_what_the_cli_scan_stores(write_config, tmp_path, capsys):
    doc = config_doc(scan={"name": "api"})
    found = dsscan.run_scan(doc, engine="local", lake=tmp_path / "api")
    assert run_cli("scan", write_config(doc), "--engine", "local", "--lake", tmp_path / "cli", "--no-progress") == 0
    via_cli = Manifest.load(manifest_path(tmp_path / "cli", "api"))
    via_api = Manifest.load(manifest_path(tmp_path / "api", "api"))
    assert {i: c.sha256 for i, c in via_api.chunks.items()} == {i: c.sha256 for i, c in via_cli.chunks.items()}
    assert found == cli_json(capsys, "status", "api", "--lake", tmp_path / "api") | {"lake": str(tmp_path / "api")}
    assert found["status"] == "complete" and found["points"] == doc["scan"]["points"]
    resumed = dsscan.run_scan(write_config(doc), engine="local", lake=tmp_path / "api", resume=True)
    assert resumed["chunks_recorded"] == found["chunks_recorded"]


@pytest.mark.slow
def test_run_scan_compiles_into_the_workers_cache_not_the_package(write_config, tmp_path):
    """Without NUMBA_CACHE_DIR, numba would cache beside the package's sources; run_scan, like the
    command line, compiles into the cache its workers load from (DSSCAN_CACHE_DIR/numba here)."""
    import time

    from dsscan.physics import scattering_tables as st

    st.load_tables()  # the tables, copied so that the child does not build them again
    (tmp_path / "cache").mkdir()
    shutil.copy(st.table_path(), tmp_path / "cache" / st.table_path().name)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(DSSCAN_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=os.pathsep.join(sys.path), TQDM_DISABLE="1")
    started = time.time()
    script = f"import dsscan; dsscan.run_scan({str(write_config(config_doc()))!r}, engine='local', lake={str(tmp_path / 'lake')!r})"
    subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, timeout=900)
    indexed = {p.name.split(".")[0] for p in (tmp_path / "cache" / "numba").rglob("*.nbi")}
    assert {"kernel", "samplers", "parameters"} <= indexed  # every module's loops, not only those compiled last
    in_package = [p for p in (REPO / "dsscan").rglob("*.nb[ic]") if p.stat().st_mtime >= started]
    assert in_package == []


@pytest.mark.parametrize(
    "doc, options",
    [
        (config_doc(scan={"points": 0}), {}),
        (config_doc(parameters={"m_S_MeV": {"range": [10, 150], "prior": "flat"}}), {}),
        (config_doc(), {"workers": 2}),
    ],
    ids=["scan.points", "prior", "workers"],
)
def test_run_scan_errors_are_the_clis(doc, options, write_config, tmp_path, capsys):
    path = write_config(doc)
    with pytest.raises(ValueError) as raised:
        dsscan.run_scan(path, engine="local", lake=tmp_path, **options)
    cli_options = [word for name, value in options.items() for word in (f"--{name}", value)]
    assert str(raised.value) == cli_error(capsys, "scan", path, "--engine", "local", "--lake", tmp_path, *cli_options)
    assert not any(tmp_path.glob("scan=*"))
    with pytest.raises(ValueError, match="scan.points: expected an integer >= 1"):
        dsscan.run_scan(config_doc(scan={"points": 0}), lake=tmp_path)  # a dict: the key path, no file name


def test_run_scan_refuses_a_scan_the_lake_holds(small_lake, capsys, write_config):
    path = write_config(config_doc())
    with pytest.raises(ValueError) as raised:
        dsscan.run_scan(path, engine="local", lake=small_lake)
    assert str(raised.value) == cli_error(capsys, "scan", path, "--engine", "local", "--lake", small_lake)


def test_figures_are_the_apps_figures_of_every_scan_and_its_constraint_set(small_lake):
    from lake.catalog import open_catalog
    from lake.figures import figure_book, figure_chart, json_spec
    from lake.query import Selection

    assert dsscan.figures.names() == ["figure2", "figure3"]
    for name in ("figure2", "figure3"):
        drawn = getattr(dsscan.figures, name)(small_lake)
        app = figure_chart(open_catalog(small_lake), figure_book().figures[name], Selection(("sampled", "small")), ("datta2024",))
        assert drawn.spec == json_spec(app.spec) and drawn.summary == app.summary
        json.dumps(drawn.spec)  # plain JSON, as a notebook front end receives it
    marked = dsscan.figures.figure2(small_lake, mark_benchmarks=True)
    app = figure_chart(open_catalog(small_lake), figure_book().figures["figure2"], Selection(("sampled", "small")), ("datta2024",),
                       mark_benchmarks=True)
    assert marked.spec == json_spec(app.spec) != drawn.spec
    one = dsscan.figures.figure3(dsscan.open_lake(small_lake), scans=["sampled"])
    assert one.summary.rows == dsscan.open_lake(small_lake).status("sampled")["rows"]


def test_a_figure_saves_and_shows_itself_in_jupyter(small_lake, tmp_path):
    """SVG here; PNG and PDF, slower to render, in the notebook test. IPython's formatter gives
    what a notebook front end receives for a cell's value."""
    figure = dsscan.figures.figure3(small_lake)
    assert figure.save(tmp_path / "figure3.SVG").read_text().startswith("<svg")
    shown, _ = DisplayFormatter().format(figure)
    assert shown[dsscan.figures.VEGA_LITE_MIME] == figure.spec
    assert shown["image/svg+xml"].startswith("<svg") and shown["text/plain"] == repr(figure)
    with pytest.raises(ValueError, match=r"figure3.jpg: cannot save a figure as .jpg; use one of .png, .pdf, .svg"):
        figure.save(tmp_path / "figure3.jpg")


def test_figure_errors_name_what_exists(small_lake):
    with pytest.raises(ValueError, match="no figure named 'figure4'; the figures are figure2, figure3"):
        dsscan.figures.draw("figure4", small_lake)
    with pytest.raises(ValueError, match="no stored rows of scan 'missing'.*the scans with stored rows are sampled, small"):
        dsscan.figures.figure2(small_lake, scans=["missing"])
