"""Figure 3 of paper 001: B⁺ → K⁺νν̄ against kaon and B branching fractions, κ ≠ 0 blue and κ = 0 green,
with the measurements and bounds of the scans' constraint sets."""
from streamlit_app.views.paper_figure import render_figure


def render() -> None:
    render_figure("figure3")
