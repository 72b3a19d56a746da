"""Figure 2 of paper 001: allowed regions in parameter planes, κ ≠ 0 red and κ = 0 cyan."""
from streamlit_app.views.paper_figure import render_figure


def render() -> None:
    render_figure("figure2")
