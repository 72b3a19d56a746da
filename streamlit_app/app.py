"""dsscan explorer: paper 001's Figures 3 and 2 (system.md's order), free exploration, constraints and SQL over a lake.

Run from the repository (its ``.streamlit/config.toml`` binds 127.0.0.1 and collects no statistics):
``streamlit run streamlit_app/app.py -- --lake ROOT`` (or set ``DSSCAN_LAKE``). Each page is a module
of ``streamlit_app/views``; their queries and charts live in ``lake/query.py`` and ``lake/figures.py``.
"""
import streamlit as st

from streamlit_app.context import guarded
from streamlit_app.views import constraints, explore, figure2, figure3, sql

st.set_page_config(page_title="dsscan explorer", layout="wide")
st.navigation([
    st.Page(guarded(figure3.render), title="Figure 3: branching fractions", url_path="figure3", default=True),
    st.Page(guarded(figure2.render), title="Figure 2: allowed regions", url_path="figure2"),
    st.Page(guarded(explore.render), title="Explore", url_path="explore"),
    st.Page(guarded(constraints.render), title="Constraints", url_path="constraints"),
    st.Page(guarded(sql.render), title="SQL", url_path="sql"),
]).run()
