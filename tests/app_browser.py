"""The explorer as a user meets it: ``streamlit run`` as a real process on a free port of 127.0.0.1,
driven by Debian's Chromium through Playwright (never ``playwright install``: no download).

Charts are drawn as SVG (``lake.figures`` asks vega-embed for it), so the marks of panel ``i`` are
the children of ``g.p<i>_points_marks`` (points) and ``g.p<i>_density_marks`` (density bins).

Run as a script to make the documentation's screenshots from a lake holding a real scan:
``python tests/app_browser.py LAKE docs/img`` writes ``figure2.png`` and ``figure3.png``.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
import tempfile
import sys
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 120
VIEWPORT = {"width": 1500, "height": 1000}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def app_server(*lakes: pathlib.Path):
    """The app as the docs start it, ``dsscan app --lake ...``, from a folder outside the repository
    (so no .streamlit/config.toml helps), serving ``lakes``; yields (url, pid) and stops it by pid."""
    port = free_port()
    lake_args = [arg for lake in lakes for arg in ("--lake", str(lake))]
    process = subprocess.Popen(
        [sys.executable, "-m", "dsscan.cli", "app", "--port", str(port), *lake_args],
        cwd=tempfile.gettempdir(), env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, f"streamlit exited with {process.returncode}"
            assert time.monotonic() < deadline, f"streamlit did not answer on {url} within {START_TIMEOUT_S} s"
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            time.sleep(0.3)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def mark_counts(page, kind: str) -> list[int]:
    """Per panel, the marks drawn of ``kind`` (``points`` or ``density``)."""
    return page.evaluate(
        """kind => Array.from(document.querySelectorAll(`svg g.role-mark`))
               .filter(g => /^p\\d+_/.test(g.classList[2] || '') && g.classList[2].endsWith(`_${kind}_marks`))
               .map(g => g.children.length)""",
        kind,
    )


def wait_for_chart(page, timeout_s: float = 120) -> None:
    """Until a chart's points layer is in the page and no query is running."""
    page.wait_for_selector("svg g.p0_points_marks", state="attached", timeout=timeout_s * 1000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_s * 1000)


def screenshot_figures(lake: pathlib.Path, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """figure2.png and figure3.png of the app's first two views on ``lake``."""
    written = []
    with app_server(lake) as (url, _), chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        for name, path in (("figure3", ""), ("figure2", "figure2")):
            page.goto(f"{url}/{path}")
            wait_for_chart(page)
            target = out_dir / f"{name}.png"
            page.locator("[data-testid=stMain]").screenshot(path=target)
            written.append(target)
    return written


if __name__ == "__main__":
    for written in screenshot_figures(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])):
        print(written)
