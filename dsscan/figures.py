"""The paper figures the explorer app draws, drawn from a lake in a notebook or a script.

``figure2(lake)`` and ``figure3(lake)`` are paper 001's Figures 2 and 3 as the app's Figure 2 and
Figure 3 pages draw them: the same definitions (``dsscan/data/figures.toml``) turned into the same
Vega-Lite spec by the same function (``lake.figures.figure_chart``), exported to files by the same
converter (vl-convert, no browser). A ``Figure`` shows itself in Jupyter and saves PNG, PDF or SVG.
"""
from __future__ import annotations

import functools
import os
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from dsscan.api import Lake
    from lake.figures import Chart, ChartSummary

__all__ = ["figure2", "figure3", "draw", "names", "Figure"]
VEGA_LITE_MIME = "application/vnd.vegalite.v5+json"


@dataclass(frozen=True, eq=False)
class Figure:
    """A drawn figure: ``spec`` is its Vega-Lite spec with the data inline as JSON rows, ``summary``
    what it draws (``rows`` selected, ``top_rows`` allowed points among them, ``top_drawn`` drawn,
    ``density``: panels are 2-D histograms because there are many rows). In Jupyter it displays
    itself (interactive Vega-Lite where the front end renders it, else the SVG)."""

    name: str
    title: str
    source: str  # the figure of the paper it reproduces
    chart: Chart  # as the app holds it: datasets as DataFrames

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        from lake.figures import json_spec

        return json_spec(self.chart.spec)

    @property
    def summary(self) -> ChartSummary:
        return self.chart.summary

    def __repr__(self) -> str:
        s = self.summary
        return (f"<dsscan {self.name}: {s.top_drawn:,} of {s.top_rows:,} allowed points drawn, "
                f"of {s.rows:,} stored rows{', over density bins' if s.density else ''}>")

    def to_bytes(self, fmt: str) -> bytes:
        """The figure as a ``png`` (high resolution), ``pdf`` or ``svg`` file's bytes."""
        from lake.figures import export

        return export(self.chart.spec, fmt)

    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the figure to ``path``; its suffix (.png, .pdf or .svg) chooses the format."""
        from lake.figures import EXPORT_FORMATS

        path = pathlib.Path(path)
        fmt = path.suffix.lower().removeprefix(".")
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"{path}: cannot save a figure as {path.suffix or 'a file without suffix'}; "
                             f"use one of {', '.join('.' + f for f in EXPORT_FORMATS)}")
        path.write_bytes(self.to_bytes(fmt))
        return path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """Jupyter: the Vega-Lite spec (JupyterLab, Notebook 7 and VS Code draw it interactively), the
        SVG for front ends that cannot (nbconvert, GitHub), and the summary as text."""
        return {VEGA_LITE_MIME: self.spec, "image/svg+xml": self.to_bytes("svg").decode(), "text/plain": repr(self)}


def names() -> list[str]:
    """The figures ``draw`` knows (those of ``dsscan/data/figures.toml``)."""
    from lake.figures import figure_book

    return list(figure_book().figures)


def draw(
    name: str, lake: Lake | str | os.PathLike | None = None, scans: Sequence[str] | None = None,
    mark_benchmarks: bool = False,
) -> Figure:
    """Figure ``name`` of ``names()`` drawn from ``lake`` (a ``Lake`` from ``dsscan.open_lake``, or
    a lake root; default: the default lake) for ``scans`` (default: every scan with stored rows),
    with the bounds of those scans' constraint sets where the figure draws bounds, and with
    ``mark_benchmarks`` paper 001's benchmark points (Table II) marked, as the app's checkbox does."""
    from dsscan.api import Lake, open_lake
    from lake.figures import figure_book, figure_chart
    from lake.query import Selection, scan_infos

    figures = figure_book().figures
    if name not in figures:
        raise ValueError(f"no figure named {name!r}; the figures are {', '.join(figures)}")
    lake = lake if isinstance(lake, Lake) else open_lake(lake)
    stored = {info.scan: info for info in scan_infos(lake.connection)}
    chosen = list(stored) if scans is None else list(scans)
    if not chosen:
        raise ValueError(f"no scan with stored rows to draw under lake root {lake.root!r}")
    unknown = [s for s in chosen if s not in stored]
    if unknown:
        raise ValueError(f"no stored rows of scan {', '.join(map(repr, unknown))} under lake root {lake.root!r}; "
                         f"the scans with stored rows are {', '.join(stored) or 'none'}")
    constraint_sets = tuple(dict.fromkeys(stored[s].constraint_set for s in chosen))
    definition = figures[name]
    chart = figure_chart(lake.connection, definition, Selection(tuple(chosen)), constraint_sets, mark_benchmarks)
    return Figure(name, definition.title, definition.source, chart)


def figure2(
    lake: Lake | str | os.PathLike | None = None, scans: Sequence[str] | None = None, mark_benchmarks: bool = False
) -> Figure:
    """Paper 001's Figure 2 (allowed regions in planes of two parameters, κ ≠ 0 and κ = 0) as the
    app's Figure 2 page draws it; the arguments as in ``draw``."""
    return draw("figure2", lake, scans, mark_benchmarks)


def figure3(
    lake: Lake | str | os.PathLike | None = None, scans: Sequence[str] | None = None, mark_benchmarks: bool = False
) -> Figure:
    """Paper 001's Figure 3 (branching fractions of kaon and B decays of the allowed points, κ ≠ 0 and
    κ = 0, with the constraint sets' measurements and bounds) as the app's Figure 3 page draws it;
    the arguments as in ``draw``."""
    return draw("figure3", lake, scans, mark_benchmarks)
