"""Explore: any two columns of the chosen scans against each other, coloured and sliced at will.

Each axis starts linear or logarithmic from the data (``lake.figures.auto_scale``; a column with a
value <= 0 is offered linear only) and can be switched. Points are coloured by scenario, by
``allowed``, by one constraint's verdict or by a column; range sliders slice any parameter.
"""
from __future__ import annotations

import streamlit as st

from dsscan.parameters import PARAMETER_NAMES
from lake.figures import (
    Axis, Chart, Colouring, Panel, TopRows, auto_scale, chart, column_help, column_title, data_ranges, drawn_columns,
    figure_book, top_rows,
)
from lake.query import ColumnRange, Selection, numeric_columns, pass_columns
from streamlit_app.context import lake_view, run_query
from streamlit_app.views.chart_output import show_chart

DEFAULT_AXES = ("BR_Bp_Kpnunu", "BR_KL_pi0nunu")  # paper 001 Fig. 3, first panel
SCALES = ("linear", "log")


@st.cache_data(show_spinner=False, max_entries=16)
def columns_of(root: str, state: str) -> tuple[list[str], list[str]]:
    return run_query(root, state, numeric_columns), run_query(root, state, pass_columns)


@st.cache_data(show_spinner="Reading the column's range…", max_entries=256)
def range_of(root: str, state: str, scans: tuple[str, ...], column: str) -> ColumnRange:
    return run_query(root, state, data_ranges, (column,), Selection(scans))[column]


@st.cache_data(show_spinner="Reading the points…", max_entries=32)
def explore_points(root: str, state: str, columns: tuple[str, ...], selection: Selection) -> TopRows:
    """The points drawn, cached apart from the chart: an axis scale change reuses them."""
    return run_query(root, state, top_rows, columns, selection, "allowed", True)


@st.cache_data(show_spinner="Querying the lake…", max_entries=64)
def explore_spec(root: str, state: str, panel: Panel, selection: Selection, colour: str,
                 constraint_sets: tuple[str, ...]) -> Chart:
    top = explore_points(root, state, tuple(drawn_columns([panel], colouring(colour))), selection)
    return run_query(root, state, lambda con: chart(
        con, [panel], selection, colouring(colour), top=top, constraint_sets=constraint_sets,
        title=f"{column_title(panel.y.column)} against {column_title(panel.x.column)}",
    ))


def colouring(choice: str) -> Colouring:
    if choice == "scenario":
        return Colouring("scenario", colors=figure_book().scenario_colors)
    if choice == "allowed" or choice.startswith("pass_"):
        return Colouring("verdict", choice)
    return Colouring("column", choice)


def axis_scale(label: str, key: str, r: ColumnRange) -> str:
    options = SCALES if r.low is not None and r.low > 0 else SCALES[:1]
    default = auto_scale(r.low, r.high)
    return st.radio(label, options, index=options.index(default), key=key, horizontal=True, bind="query-params",
                    help=None if len(options) > 1 else "the column has values <= 0: linear only")


def render() -> None:
    st.subheader("Explore any two columns")
    view = lake_view()
    numeric, verdicts = columns_of(view.root, view.state)
    left, middle, right = st.columns(3)
    x = left.selectbox("x axis", numeric, index=numeric.index(DEFAULT_AXES[0]), key="x", bind="query-params")
    y = middle.selectbox("y axis", numeric, index=numeric.index(DEFAULT_AXES[1]), key="y", bind="query-params")
    colour = right.selectbox("colour by", ["scenario", "allowed", *verdicts, *numeric], key="colour",
                             bind="query-params")
    left.caption(f"{column_title(x)}: {column_help(x)}")
    middle.caption(f"{column_title(y)}: {column_help(y)}")
    parameters = [p for p in PARAMETER_NAMES if p in numeric]
    sliced_names = st.sidebar.multiselect("Slice parameters", parameters, key="slice", bind="query-params")
    sliced = {}
    for p in sliced_names:
        r = range_of(view.root, view.state, view.selection.scans, p)
        if r.low is None or r.high is None or r.high <= r.low:
            continue
        sliced[p] = st.sidebar.slider(column_title(p), r.low, r.high, (r.low, r.high), key=f"range_{p}",
                                      bind="query-params", format="%.4g", help=column_help(p))
    x_scale = axis_scale("x scale", "xscale", range_of(view.root, view.state, view.selection.scans, x))
    y_scale = axis_scale("y scale", "yscale", range_of(view.root, view.state, view.selection.scans, y))
    panel = Panel(Axis(x, x_scale, sliced.get(x)), Axis(y, y_scale, sliced.get(y)))  # else from the data
    selection = Selection(view.selection.scans, tuple((p, lo, hi) for p, (lo, hi) in sliced.items()))
    key = (view.root, view.state, panel, selection, colour, view.constraint_sets)
    show_chart(explore_spec(*key), f"{y}-vs-{x}", lambda: explore_spec(*key).spec)
