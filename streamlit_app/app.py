"""dsscan explorer, first page: any two columns of a scan against each other on log-log axes.

Run with ``streamlit run streamlit_app/app.py -- --lake ./lake``. The points come from a DuckDB
query over the lake (a repeatable sample when there are many), never from loading a scan whole.
"""
from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

from dsscan.config import LAKE_DEFAULTS
from lake.catalog import open_catalog
from lake.query import log_log_sample, numeric_columns, scan_names

MAX_POINTS_SHOWN = 20_000
SAMPLE_SEED = 1
DEFAULT_AXES = ("BR_Bp_Kpnunu", "BR_KL_pi0nunu")  # paper 001 Fig. 3: B+ -> K+ nu nu against K_L -> pi0 nu nu
LAKE_ENV = "DSSCAN_LAKE"


def default_lake_root() -> str:
    """``--lake`` after ``--`` on the streamlit command line, else $DSSCAN_LAKE, else ./lake."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--lake")
    given, _ = parser.parse_known_args(sys.argv[1:])
    return given.lake or os.environ.get(LAKE_ENV, LAKE_DEFAULTS["root"])


def log_log_spec(x: str, y: str) -> dict:
    """Vega-Lite scatter of ``x`` against ``y`` on log axes, coloured by scenario (kappa = 0 or not)."""
    return {
        "mark": {"type": "point", "filled": True, "size": 12, "opacity": 0.6},
        "encoding": {
            "x": {"field": x, "type": "quantitative", "scale": {"type": "log"}},
            "y": {"field": y, "type": "quantitative", "scale": {"type": "log"}},
            "color": {"field": "scenario", "type": "nominal"},
            "tooltip": [{"field": x}, {"field": y}, {"field": "scenario"}, {"field": "allowed"}],
        },
    }


def index_of(options: list[str], wanted: str, fallback: int) -> int:
    return options.index(wanted) if wanted in options else min(fallback, len(options) - 1)


st.set_page_config(page_title="dsscan explorer", layout="wide")
st.title("dsscan explorer")
root = st.sidebar.text_input("Lake root", value=default_lake_root(), key="lake_root")
try:
    con = open_catalog(root)
except ValueError as exc:
    st.error(str(exc))
    st.stop()
scans = scan_names(con)
if not scans:
    st.warning(f"the lake {root!r} has scans but no stored rows yet")
    st.stop()
scan = st.sidebar.selectbox("Scan", scans, key="scan")
allowed_only = st.sidebar.checkbox("allowed points only", key="allowed_only")
columns = numeric_columns(con)
left, right = st.columns(2)
x = left.selectbox("x axis", columns, index=index_of(columns, DEFAULT_AXES[0], 0), key="x")
y = right.selectbox("y axis", columns, index=index_of(columns, DEFAULT_AXES[1], 1), key="y")
frame, total = log_log_sample(con, scan, x, y, allowed_only, MAX_POINTS_SHOWN, SAMPLE_SEED)
if frame.empty:
    st.info(f"no point of {scan!r} has {x} > 0 and {y} > 0" + (" and is allowed" if allowed_only else ""))
else:
    st.vega_lite_chart(frame, log_log_spec(x, y), width="stretch")
    st.caption(f"{len(frame)} of {total} points of scan {scan!r} with {x} > 0 and {y} > 0, drawn by DuckDB")
