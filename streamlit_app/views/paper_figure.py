"""A figure of paper 001 as ``dsscan/data/figures.toml`` defines it, over the chosen scans."""
from __future__ import annotations

import streamlit as st

from lake.figures import Chart, figure_book, figure_chart
from lake.query import Selection
from streamlit_app.context import lake_view, missing_scenarios, run_query
from streamlit_app.views.chart_output import show_chart


@st.cache_data(show_spinner="Querying the lake…", max_entries=64)
def figure_spec(root: str, state: str, name: str, scans: tuple[str, ...], constraint_sets: tuple[str, ...],
                marks: bool) -> Chart:
    return run_query(root, state, figure_chart, figure_book().figures[name], Selection(scans), constraint_sets, marks)


def render_figure(name: str) -> None:
    figure = figure_book().figures[name]
    st.subheader(figure.title)
    st.caption(f"As {figure.source}. Allowed points of the chosen scans; bands and lines: the scans' constraint sets.")
    view = lake_view()
    missing = missing_scenarios(view)
    if missing:
        st.warning(
            f"none of the chosen scans has {' or '.join(missing)}: the figure compares κ ≠ 0 with κ = 0, so scan "
            "the missing scenario too (a config with kappa_TeV = 0.0, or a kappa_TeV range)"
        )
    marks = st.toggle("Mark paper 001's benchmark points (Table II)", key="bp", bind="query-params",
                      help="evaluated by dsscan.evaluate against datta2024; their inputs are rounded as published")
    key = (view.root, view.state, name, view.selection.scans, view.constraint_sets, marks)
    show_chart(figure_spec(*key), name, lambda: figure_spec(*key).spec)
