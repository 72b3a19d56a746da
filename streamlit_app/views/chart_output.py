"""Showing a chart of ``lake.figures`` on a page: the chart, what it draws, and its exports."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from lake.figures import EXPORT_FORMATS, Chart, export


def describe(chart: Chart, top: str) -> str:
    """One line saying what the chart draws; ``top`` names the points drawn (``allowed points``)."""
    s = chart.summary
    sampled = " (a repeatable random sample)" if s.top_drawn < s.top_rows else ""
    if s.density:
        heads = ", ".join(f"{scan} (first {limit:,} points)" for scan, limit, _ in s.density_head or ())
        return (
            f"{s.rows:,} stored rows, drawn as grey bins (darker: more points of the scan; a rejected row that "
            f"'allowed+sample' kept counts as 1/sample_rate points"
            + (f"; binned from the first chunks of {heads}, scaled to the whole scan" if heads else "")
            + f"), with {s.top_drawn:,} of the {s.top_rows:,} {top} on top{sampled}. "
            "Drag to pan, scroll to zoom, double-click to reset."
        )
    return f"{s.top_drawn:,} {top} of {s.rows:,} stored rows. Drag to pan, scroll to zoom, double-click to reset."


def show_chart(chart: Chart, file_stem: str, spec_for_export: Callable[[], dict], top: str = "allowed points") -> None:
    """The chart, a caption, and PNG / PDF / SVG downloads rendered from the same spec (on click)."""
    if chart.summary.top_rows == 0 and not chart.summary.density:
        st.info(f"no {top} among the {chart.summary.rows:,} stored rows of the chosen scans")
    st.vega_lite_chart(chart.spec, theme=None, width="content")
    st.caption(describe(chart, top))
    for column, (fmt, mime) in zip(st.columns(len(EXPORT_FORMATS) + 3), EXPORT_FORMATS.items()):
        column.download_button(
            f"{fmt.upper()}", data=lambda fmt=fmt: export(spec_for_export(), fmt), file_name=f"{file_stem}.{fmt}",
            mime=mime, key=f"export_{fmt}", on_click="ignore", icon=":material/download:",
        )
