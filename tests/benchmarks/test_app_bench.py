"""The explorer on a 10⁷-row lake: server time of the first page and of view changes, and end to end
in headless Chromium. Prints the measurements; asserts no time (run with ``-s`` to see them).

The lake is one real scan (``configs/demo.toml``'s paper-001 ranges, ``store = "all"``) of
``BENCH_POINTS`` points, so every one of the 10⁷ points is a stored row of the real schema.
Server time is Streamlit's script run under ``AppTest`` with empty caches (first page) and with
the lake's catalog open (a view change); a DuckDB query of the same data is timed alongside.
"""
from __future__ import annotations

import os
import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_browser import VIEWPORT, app_server, chromium, wait_for_chart
from conftest import REPO, config_doc, run_cli
from dsscan.config import dumps_toml
from lake.catalog import open_catalog
from lake.figures import figure_book, figure_chart
from lake.query import Selection

pytestmark = pytest.mark.slow

BENCH_POINTS = 10_000_000
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def big_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("big-lake")
    config = tmp_path_factory.mktemp("config") / "big.toml"
    config.write_text(dumps_toml(config_doc(scan={"name": "big", "points": BENCH_POINTS, "chunk_size": 500_000})))
    assert run_cli("scan", config, "--lake", root, "--engine", "local", "--no-progress") == 0
    return root


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def view(name: str) -> AppTest:
    return AppTest.from_string(f"from streamlit_app.views import {name}\n{name}.render()", default_timeout=RUN_TIMEOUT_S)


def test_app_times_on_ten_million_rows(big_lake, small_lake, monkeypatch):
    monkeypatch.setenv("DSSCAN_LAKE", str(small_lake))
    AppTest.from_file(str(REPO / "streamlit_app" / "app.py"), default_timeout=RUN_TIMEOUT_S).run()  # imports
    monkeypatch.setenv("DSSCAN_LAKE", str(big_lake))
    st.cache_data.clear()
    st.cache_resource.clear()
    times = {}
    app = AppTest.from_file(str(REPO / "streamlit_app" / "app.py"), default_timeout=RUN_TIMEOUT_S)
    times["first page (Figure 3), empty caches"], _ = timed(app.run)
    assert not app.exception, app.exception
    times["first page again (cached)"], _ = timed(AppTest.from_file(str(REPO / "streamlit_app" / "app.py"),
                                                                    default_timeout=RUN_TIMEOUT_S).run)
    times["Figure 2, catalog open"], _ = timed(view("figure2").run)
    explore = view("explore")
    times["Explore, first visit"], _ = timed(explore.run)
    times["Explore: y axis changed"], _ = timed(explore.selectbox(key="y").set_value("BR_Kp_pipnunu").run)
    start_scale = explore.radio(key="xscale").value
    other_scale = next(s for s in explore.radio(key="xscale").options if s != start_scale)
    times[f"Explore: x scale {start_scale} -> {other_scale}"], _ = timed(explore.radio(key="xscale").set_value(other_scale).run)
    times["Explore: back to a seen view (cached)"], _ = timed(explore.radio(key="xscale").set_value(start_scale).run)
    assert not explore.exception, explore.exception

    con = open_catalog(big_lake)
    figure3 = figure_book().figures["figure3"]
    times["lake.figures.figure_chart(Figure 3) alone"], chart = timed(
        lambda: figure_chart(con, figure3, Selection(("big",)), ("datta2024",)))
    times["DuckDB: count(*) over 2 columns of every row"], _ = timed(
        lambda: con.execute("SELECT count(*) FROM points WHERE BR_Bp_Kpnunu > 0 AND BR_KL_pi0nunu > 0").fetchall())
    assert chart.summary.rows == BENCH_POINTS

    with app_server(big_lake) as (url, _), chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        times["browser: first page drawn (server caches empty)"], _ = timed(lambda: (page.goto(url), wait_for_chart(page)))
        page.goto(f"{url}/explore")
        wait_for_chart(page)
        box = page.get_by_role("combobox", name="y axis")

        def change_y():
            box.click()
            box.fill("BR_B0_Kst0nunu")
            page.keyboard.press("Enter")
            page.locator("svg").get_by_text("BR(B⁰ → K*⁰ νν̄)").first.wait_for(timeout=RUN_TIMEOUT_S * 1000)
            wait_for_chart(page)

        times["browser: Explore y axis changed, chart redrawn"], _ = timed(change_y)

    print(f"\nexplorer on {BENCH_POINTS:,} stored rows (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    for label, seconds in times.items():
        print(f"  {label:<55} {seconds:6.2f} s")
