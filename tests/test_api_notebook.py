"""The API as a notebook meets it: a fresh interpreter that imports only ``dsscan``, and the example
notebook ``docs/notebook.py`` run from start to end."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import tomllib

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, config_doc

# A fresh interpreter: a small scan into a temporary lake, SQL over it, one point. It prints what it
# found as JSON; the test compares those numbers with each other and with the config.
FRESH_SESSION = """
import json, sys
import dsscan

config = json.loads(sys.argv[1])
summary = dsscan.run_scan(config, engine="local", lake=sys.argv[2])
lake = dsscan.open_lake(sys.argv[2])
(count,) = lake.sql("select count(*) from points").fetchall()
found = dsscan.point(kappa_TeV=1.22, eta_d=0.17, eta_u=0.0, eta_c=-0.13, eta_t=0.0054, g_D=2.18, U_mu4=4.86e-3,
                     m_S_MeV=38, m_nu4_MeV=413)
figure = dsscan.figures.figure3(lake)
figure.save(sys.argv[3])
print(json.dumps({"summary": summary, "count": count[0], "point": found.to_dict(), "report": str(found),
                  "figure_rows": figure.summary.rows,
                  "app_imported": "streamlit_app" in sys.modules or "streamlit" in sys.modules}))
"""
FIGURES = tomllib.loads((REPO / "dsscan" / "data" / "figures.toml").read_text())["figure"]
HUE_TOLERANCE = 8  # of 256 around the hue circle
PNG_SCALE = 4  # pixels per point of an exported PNG (lake.figures.EXPORT_PNG_SCALE)
LEGEND_SYMBOL_PIXELS = 100 * PNG_SCALE**2  # Vega-Lite's legend symbols have an area of 100 square points
POINT_PIXELS = 50  # at least, of a drawn point (a disc of 14 square points, ~220 pixels)

# Interrupted (a notebook's "interrupt kernel" is SIGINT), then resumed, in one session.
INTERRUPTED_SESSION = """
import json, sys
import dsscan

config = json.loads(sys.argv[1])
try:
    dsscan.run_scan(config, engine="local", lake=sys.argv[2])
except KeyboardInterrupt as exc:
    print(json.dumps({"notes": exc.__notes__, "status": dsscan.open_lake(sys.argv[2]).status(config["scan"]["name"])}))
print(json.dumps(dsscan.run_scan(config, engine="local", lake=sys.argv[2], resume=True)))
"""
CHUNKS, STOP_AFTER = 12, 2


def run_python(*argv: str, cwd) -> subprocess.CompletedProcess:
    """Python in ``cwd``, whose temporary files (the notebook's lake) go there too."""
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TQDM_DISABLE": "1", "TMPDIR": str(cwd)})


@pytest.mark.slow
def test_a_fresh_interpreter_scans_queries_and_evaluates_with_dsscan_alone(tmp_path):
    doc = config_doc(scan={"name": "fresh"})
    png = tmp_path / "figure3.png"
    done = run_python("-c", textwrap.dedent(FRESH_SESSION), json.dumps(doc), str(tmp_path / "lake"), str(png), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    summary = found["summary"]
    assert summary["status"] == "complete" and summary["points"] == doc["scan"]["points"]
    assert found["count"] == summary["rows"] == summary["points"] - summary["outside_domain"] > 0
    assert found["point"]["m_nu4_MeV"] == 413.0 and found["point"]["versions"]["constraint_set"] == "datta2024"
    assert found["report"].splitlines()[-1].startswith("verdict: allowed by" if found["point"]["allowed"] else "verdict: NOT")
    assert not found["app_imported"]
    assert found["figure_rows"] == found["count"]
    image = Image.open(png)
    assert image.format == "PNG" and min(image.size) > 100 and len(image.getcolors(maxcolors=1 << 20)) > 2


def coloured_pixels(path, colour: str) -> int:
    """Pixels of a PNG with the hue of ``colour`` (which a point keeps over white, grey bins or a
    pale band) and clearly coloured."""
    hsv = np.asarray(Image.open(path).convert("HSV"), dtype=float)
    hue = np.asarray(Image.new("RGB", (1, 1), colour).convert("HSV"), dtype=float)[0, 0, 0]
    off = np.abs((hsv[..., 0] - hue + 128) % 256 - 128)  # PIL's hue runs 0-255 round the circle
    return int(np.count_nonzero((off < HUE_TOLERANCE) & (hsv[..., 1] > 80)))


@pytest.mark.slow
def test_the_example_notebook_runs_and_draws_both_figures(tmp_path):
    done = run_python(str(REPO / "docs" / "notebook.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("dsscan-notebook-*/scan=*/manifest.json"))) == 2
    allowed = {name: int(n) for name, n in re.findall(r"^([\w-]+): \d+ points, (\d+) allowed", done.stdout, re.MULTILINE)}
    assert list(allowed) == ["bp1-kappa", "bp6-kappa0"] and min(allowed.values()) > 0
    assert "allowed by datta2024" in done.stdout
    total = sum(allowed.values())
    assert f"<dsscan figure3: {total} of {total} allowed points drawn" in done.stdout
    assert (tmp_path / "figure3.pdf").read_bytes().startswith(b"%PDF-")
    for name, figure in FIGURES.items():  # both scenarios' points in each panel, beyond the legend's symbols
        for colour in figure["colors"].values():
            assert coloured_pixels(tmp_path / f"{name}.png", colour) > LEGEND_SYMBOL_PIXELS + POINT_PIXELS * len(figure["panels"])


@pytest.mark.slow
def test_an_interrupted_run_scan_says_how_far_it_got_and_resumes(tmp_path):
    doc = config_doc(scan={"name": "stopped", "points": CHUNKS * 2_000, "chunk_size": 2_000})
    manifest = tmp_path / "lake" / "scan=stopped" / "manifest.json"
    session = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(INTERRUPTED_SESSION), json.dumps(doc), str(tmp_path / "lake")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TQDM_DISABLE": "1"},
    )
    deadline = time.monotonic() + 300
    while not (manifest.exists() and len(json.loads(manifest.read_text() or "{}").get("chunks", [])) >= STOP_AFTER):
        assert session.poll() is None and time.monotonic() < deadline, session.communicate()
        time.sleep(0.02)
    session.send_signal(signal.SIGINT)
    out, err = session.communicate(timeout=300)
    assert session.returncode == 0, err
    stopped, resumed = (json.loads(line) for line in out.splitlines())
    assert stopped["status"]["status"] == "interrupted" and STOP_AFTER <= stopped["status"]["chunks_recorded"] < CHUNKS
    assert stopped["notes"] == [f"{stopped['status']['chunks_recorded']} of {CHUNKS} chunks of scan 'stopped' are recorded; "
                                "run_scan(..., resume=True) continues it"]
    assert resumed["status"] == "complete" and resumed["chunks_recorded"] == CHUNKS and resumed["points"] == CHUNKS * 2_000
