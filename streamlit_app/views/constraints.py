"""Constraints: what each constraint removes, and the region allowed with some of them dropped.

Everything is computed from the stored verdict columns ``pass_<constraint>`` of the rows the
storage policy kept; the fractions of all scanned points weight a rejected row that
``store = "allowed+sample"`` kept by 1/sample_rate (``lake.query.point_weight_sql``).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from lake.figures import Axis, Chart, Colouring, Panel, chart, figure_book
from lake.query import Selection, allowed_without, counts, pass_fractions
from streamlit_app.context import lake_view, run_query
from streamlit_app.views.chart_output import show_chart
from streamlit_app.views.explore import columns_of

FIRST_PANEL = figure_book().figures["figure3"].panels[0]  # the default plane: Fig. 3's first panel


@st.cache_data(show_spinner="Counting verdicts…", max_entries=32)
def fractions(root: str, state: str, scans: tuple[str, ...], constraints: tuple[str, ...]) -> pd.DataFrame:
    return run_query(root, state, pass_fractions, Selection(scans), constraints)


@st.cache_data(show_spinner="Querying the lake…", max_entries=64)
def relaxed_spec(root: str, state: str, x: str, y: str, scans: tuple[str, ...], condition: str,
                 constraint_sets: tuple[str, ...]) -> tuple[Chart, int]:
    def build(con):
        axes = {a.column: a for a in (FIRST_PANEL.x, FIRST_PANEL.y)}
        panel = Panel(axes.get(x, Axis(x)), axes.get(y, Axis(y)))
        return chart(con, [panel], Selection(scans), Colouring("verdict", "allowed"), top_condition=condition,
                     constraint_sets=constraint_sets, title="allowed with the chosen constraints dropped")
    return run_query(root, state, build), run_query(root, state, counts, Selection(scans), "allowed")[1]


def render() -> None:
    st.subheader("What each constraint removes")
    view = lake_view()
    numeric, verdicts = columns_of(view.root, view.state)
    constraints = tuple(v.removeprefix("pass_") for v in verdicts)
    st.info(
        "These are the rows the storage policy kept: every point of a store = 'all' scan, the allowed points "
        "plus a sample_rate sample of the rest for 'allowed+sample', only the allowed ones for 'allowed'. "
        "'fraction of points' weights each kept rejected row by 1/sample_rate to estimate the whole scan."
    )
    table = fractions(view.root, view.state, view.selection.scans, constraints)
    st.dataframe(
        table, hide_index=True, width="stretch",
        column_config={"fraction_of_points": st.column_config.ProgressColumn("fraction of points passing", format="%.4f",
                                                                              min_value=0.0, max_value=1.0)},
    )
    dropped = st.multiselect("Drop constraints", constraints, key="drop", bind="query-params")
    left, right = st.columns(2)
    x = left.selectbox("x axis", numeric, index=numeric.index(FIRST_PANEL.x.column), key="cx", bind="query-params")
    y = right.selectbox("y axis", numeric, index=numeric.index(FIRST_PANEL.y.column), key="cy", bind="query-params")
    condition = allowed_without(constraints, dropped)
    key = (view.root, view.state, x, y, view.selection.scans, condition, view.constraint_sets)
    relaxed, allowed = relaxed_spec(*key)
    st.metric("allowed rows with the chosen constraints dropped", f"{relaxed.summary.top_rows:,}",
              delta=f"{relaxed.summary.top_rows - allowed:+,} against all constraints", delta_color="off")
    show_chart(relaxed, "allowed-relaxed", lambda: relaxed_spec(*key)[0].spec,
               top="points allowed without the dropped constraints (green: allowed by all)")
