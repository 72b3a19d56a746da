"""The explorer in headless Chromium against a real ``streamlit run`` on a lake of two real scans:
what each chart draws is counted in the page's SVG and checked against DuckDB reading the Parquet
files directly; widgets, saved URLs, exports and the listening sockets are checked as a user would."""
from __future__ import annotations

import duckdb
import psutil
import pytest

from app_browser import VIEWPORT, app_server, chromium, mark_counts, wait_for_chart
from lake.figures import BINS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(scenario_lake):
    with app_server(scenario_lake) as started:
        yield started


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    yield context.new_page()
    context.close()


def in_lake(lake, query: str) -> int:
    """``query`` over every chunk file of the lake as table ``p``, read by DuckDB itself."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{lake}/scan=*/part-*.parquet', hive_partitioning = true)")
    return con.execute(query).fetchone()[0]


def test_the_app_listens_on_127_0_0_1_only(server):
    _, pid = server
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    listening = [c.laddr for p in processes for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert listening and {address.ip for address in listening} == {"127.0.0.1"}


def test_figure_views_draw_what_the_lake_holds(server, page, scenario_lake):
    url, _ = server
    allowed = in_lake(scenario_lake, "SELECT count(*) FROM p WHERE allowed")
    page.goto(f"{url}/figure2")
    wait_for_chart(page)
    assert mark_counts(page, "points") == [allowed] * 5
    # the eta_t - eta_c panel's bins: 60 x 60 over the paper's ranges [0, 0.02] x [-0.5, 0]
    bins = in_lake(scenario_lake, f"SELECT count(DISTINCT (floor(eta_t / 0.02 * {BINS}), floor((eta_c + 0.5) / 0.5 * {BINS}))) FROM p")
    assert mark_counts(page, "density")[0] == bins
    assert page.get_by_text("Deploy").count() == 0  # toolbarMode = "viewer" (.streamlit/config.toml)
    page.goto(url)  # Figure 3 is the first page
    wait_for_chart(page)
    assert mark_counts(page, "points") == [allowed] * 3
    assert page.locator("svg").get_by_text("BR(B⁺ → K⁺ νν̄)").count() >= 3  # physics axis titles


def test_a_widget_redraws_the_chart_and_its_url_reopens_it(server, page, scenario_lake):
    url, _ = server
    page.goto(f"{url}/explore?scans=bp1-kappa")
    wait_for_chart(page)
    rows = in_lake(scenario_lake, "SELECT count(*) FROM p WHERE scan = 'bp1-kappa'")
    assert mark_counts(page, "points") == [rows]  # one scan, 3000 rows: every point, no density
    assert page.locator("svg").get_by_text("η_d").count() == 0
    box = page.get_by_role("combobox", name="x axis")
    box.click()
    box.fill("eta_d")
    page.keyboard.press("Enter")
    page.locator("svg").get_by_text("η_d").first.wait_for(timeout=60_000)
    wait_for_chart(page)
    assert "x=eta_d" in page.url
    saved = page.url
    page.goto("about:blank")
    page.goto(saved)
    page.locator("svg").get_by_text("η_d").first.wait_for(timeout=60_000)
    assert mark_counts(page, "points") == [rows]
    page.goto(f"{url}/explore?x=eta_d&y=eta_c&slice=eta_d&range_eta_d=0.16&range_eta_d=0.18")
    wait_for_chart(page)
    sliced = in_lake(scenario_lake, "SELECT count(*) FROM p WHERE eta_d BETWEEN 0.16 AND 0.18")
    page.wait_for_function(f"() => document.querySelector('svg g.p0_points_marks')?.children.length === {sliced}")


@pytest.mark.parametrize("label, magic", [("PNG", b"\x89PNG\r\n\x1a\n"), ("PDF", b"%PDF-")])
def test_export_buttons_return_files_that_open(server, page, label, magic):
    url, _ = server
    page.goto(url)
    wait_for_chart(page)
    with page.expect_download(timeout=120_000) as download:
        page.get_by_role("button", name=label, exact=True).click()
    content = download.value.path().read_bytes()
    assert content.startswith(magic) and len(content) > 10_000
    assert download.value.suggested_filename == f"figure3.{label.lower()}"
