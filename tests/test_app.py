"""The explorer's first page, run by Streamlit's own test harness against a real lake."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from lake.catalog import open_catalog

APP = str(REPO / "streamlit_app" / "app.py")
RUN_TIMEOUT_S = 60  # the first run imports DuckDB and pyarrow


def chart_spec(app: AppTest) -> tuple[dict, pa.Table]:
    """The Vega-Lite spec of the page's one chart and the data it was given."""
    (chart,) = app.get("vega_lite_chart")
    return json.loads(chart.proto.spec), pa.ipc.open_stream(chart.proto.data.data).read_all()


@pytest.fixture
def app_on(small_lake):
    def start(lake) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
        app.text_input(key="lake_root").set_value(str(lake)).run()
        assert not app.exception, app.exception
        return app

    return start


def test_page_plots_two_columns_of_a_scan_on_log_axes(app_on, small_lake):
    app = app_on(small_lake)
    assert app.selectbox(key="scan").options == ["sampled", "small"]
    app.selectbox(key="scan").set_value("small").run()
    spec, data = chart_spec(app)
    assert spec["encoding"]["x"]["field"] == "BR_Bp_Kpnunu" and spec["encoding"]["y"]["field"] == "BR_KL_pi0nunu"
    assert spec["encoding"]["x"]["scale"]["type"] == spec["encoding"]["y"]["scale"]["type"] == "log"
    in_lake = open_catalog(small_lake).execute(
        "SELECT count(*) FROM points WHERE scan = 'small' AND BR_Bp_Kpnunu > 0 AND BR_KL_pi0nunu > 0"
    ).fetchone()[0]
    assert data.num_rows == in_lake > 0
    assert data.column_names[:2] == ["BR_Bp_Kpnunu", "BR_KL_pi0nunu"]
    assert app.caption[0].value.startswith(f"{in_lake} of {in_lake} points of scan 'small'")


def test_choosing_columns_redraws_from_a_new_query(app_on, small_lake):
    app = app_on(small_lake)
    app.selectbox(key="x").set_value("m_S_MeV").run()
    app.selectbox(key="y").set_value("BR_S_gg").run()
    spec, data = chart_spec(app)
    assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("m_S_MeV", "BR_S_gg")
    assert data.column_names[:2] == ["m_S_MeV", "BR_S_gg"] and data.num_rows > 0


def test_page_explains_a_lake_without_scans(app_on, tmp_path):
    app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT_S).run()
    app.text_input(key="lake_root").set_value(str(tmp_path)).run()
    assert not app.exception
    assert "no scans under lake root" in app.error[0].value
    assert not app.get("vega_lite_chart")
