"""The API as a notebook meets it: a fresh interpreter that imports only ``dsscan``, and the example
notebook ``docs/notebook.py`` run from start to end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

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
print(json.dumps({"summary": summary, "count": count[0], "point": found.to_dict(), "report": str(found),
                  "app_imported": "streamlit_app" in sys.modules or "streamlit" in sys.modules}))
"""

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
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TQDM_DISABLE": "1"})


@pytest.mark.slow
def test_a_fresh_interpreter_scans_queries_and_evaluates_with_dsscan_alone(tmp_path):
    doc = config_doc(scan={"name": "fresh"})
    done = run_python("-c", textwrap.dedent(FRESH_SESSION), json.dumps(doc), str(tmp_path / "lake"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    summary = found["summary"]
    assert summary["status"] == "complete" and summary["points"] == doc["scan"]["points"]
    assert found["count"] == summary["rows"] == summary["points"] - summary["outside_domain"] > 0
    assert found["point"]["m_nu4_MeV"] == 413.0 and found["point"]["versions"]["constraint_set"] == "datta2024"
    assert found["report"].splitlines()[-1].startswith("verdict: allowed by" if found["point"]["allowed"] else "verdict: NOT")
    assert not found["app_imported"]


@pytest.mark.slow
def test_the_example_notebook_runs(tmp_path):
    done = run_python(str(REPO / "docs" / "notebook.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "allowed by datta2024" in done.stdout


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
