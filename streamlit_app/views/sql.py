"""SQL: one read-only query over the same locked catalog as ``dsscan sql`` (``lake.catalog``).

The page shows the first ``ROW_CAP`` rows with the result's total; the downloads hold those rows
(``dsscan sql QUERY --format csv`` writes a whole result).
"""
from __future__ import annotations

import io

import streamlit as st

from lake.query import QueryResult, capped_query
from streamlit_app.context import lake_view, run_query

ROW_CAP = 1000
EXAMPLE = "SELECT scan, scenario, count(*) AS rows, count(*) FILTER (allowed) AS allowed\nFROM points GROUP BY ALL ORDER BY ALL"


@st.cache_data(show_spinner="Running the query…", max_entries=32)
def result_of(root: str, state: str, query: str) -> QueryResult:
    return run_query(root, state, capped_query, query, ROW_CAP)


def render() -> None:
    st.subheader("Read-only SQL")
    st.caption("Tables: points (every stored row; column scan), scans (one row per scan), chunks (one row per "
               "chunk file). One SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN; nothing can be written.")
    view = lake_view()
    query = st.text_area("query (Ctrl+Enter runs it)", EXAMPLE, height=120, key="q", bind="query-params")
    try:
        result = result_of(view.root, view.state, query)
    except ValueError as exc:
        st.error(str(exc))
        return
    shown = len(result.frame)
    st.caption(f"{result.total:,} rows" + (f", the first {shown:,} shown" if shown < result.total else ""))
    st.dataframe(result.frame, hide_index=True, width="stretch")
    parquet = io.BytesIO()
    result.frame.to_parquet(parquet, index=False)
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("CSV", result.frame.to_csv(index=False), "query.csv", "text/csv", key="csv", on_click="ignore")
    right.download_button("Parquet", parquet.getvalue(), "query.parquet", "application/vnd.apache.parquet",
                          key="parquet", on_click="ignore")
