"""Figures of the lake as Vega-Lite specs carrying their data, for the app, notebooks and exports.

The panels of paper 001's Figures 2 and 3 (axes, ranges, colours) are data
(``dsscan/data/figures.toml``); the bands and lines of a figure are the constraints of the scan's
own constraint set (``dsscan/data/constraints/``) on a plotted column; titles and units come from
the schema (``dsscan/schema.py``). ``chart`` turns panels into one self-contained spec (named
datasets as DataFrames; ``json_spec`` makes them JSON rows): up to ``MAX_POINTS`` selected rows
every allowed point is drawn; above, each panel is a 2-D histogram computed by DuckDB
(``lake.query.histograms_2d``) with at most ``MAX_POINTS`` of the allowed points on top.
``export`` renders the same spec to PNG, PDF or SVG with vl-convert (no browser).
"""
from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Sequence

import duckdb
import numpy as np
import pandas as pd

from dsscan.commands.benchmarks import PAPER_001, load_points
from dsscan.constraints import Constraint, load_constraint_set
from dsscan.parameters import PARAMETERS
from dsscan.schema import OBSERVABLES
from lake.query import (
    Binning, ColumnRange, Head, Selection, column_ranges, counts, density_head, histograms_2d, sample_rows, scan_infos,
)

MAX_POINTS = 5000  # points drawn per chart; above this many selected rows a panel draws a density
DENSITY_HEAD_ROWS = 1_000_000  # a density bins the first chunks of each scan holding this many rows (lake.query.Head)
BINS = 60  # per axis of a density panel
SAMPLE_SEED = 1  # the points on top of a density are a repeatable sample
LOG_AXIS_DECADES = 3  # an axis of positive values spanning this many decades starts logarithmic
PANEL_SIZE = (260, 220)  # width, height in pixels of one panel
EXPORT_PNG_SCALE = 4  # PNG pixels per CSS pixel: a 3-panel row is ~3300 pixels wide (300 dpi at 11 inches)
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
SCENARIO_TITLES = {"kappa": "κ ≠ 0", "kappa0": "κ = 0"}
UNITS = {p.name: p.unit for p in PARAMETERS} | {name: unit for name, (unit, _) in OBSERVABLES.items()}
DESCRIPTIONS = {p.name: p.description for p in PARAMETERS} | {name: d for name, (_, d) in OBSERVABLES.items()}


@dataclass(frozen=True)
class Axis:
    column: str
    scale: str = "linear"  # or "log"
    domain: tuple[float, float] | None = None  # None: from the data


@dataclass(frozen=True)
class Panel:
    x: Axis
    y: Axis


@dataclass(frozen=True)
class FigureDef:
    name: str
    title: str
    source: str
    columns: int
    draw_bounds: bool
    colors: tuple[tuple[str, str], ...]  # (scenario, colour)
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class FigureBook:
    """Everything of ``figures.toml``: the figures, the symbols of columns and the default colours."""

    figures: dict[str, FigureDef]
    symbols: dict[str, str]
    scenario_colors: tuple[tuple[str, str], ...]


def _axis(doc: dict) -> Axis:
    domain = doc.get("domain")
    return Axis(doc["column"], doc.get("scale", "linear"), tuple(domain) if domain else None)


@functools.cache
def figure_book() -> FigureBook:
    doc = tomllib.loads(resources.files("dsscan").joinpath("data/figures.toml").read_text())
    figures = {
        name: FigureDef(
            name=name, title=f["title"], source=f["source"], columns=f["columns"], draw_bounds=f["draw_bounds"],
            colors=tuple(f["colors"].items()),
            panels=tuple(Panel(_axis(p["x"]), _axis(p["y"])) for p in f["panels"]),
        )
        for name, f in doc["figure"].items()
    }
    return FigureBook(figures, doc["symbols"], tuple(doc["scenario_colors"].items()))


def column_title(column: str) -> str:
    """Axis title of a column: its symbol (or name) and its unit from the schema, e.g. ``m_S [MeV]``."""
    if column.startswith("pass_"):
        return f"{column.removeprefix('pass_')} passed"
    name = figure_book().symbols.get(column, column)
    unit = UNITS.get(column, "1")
    return name if unit == "1" else f"{name} [{unit}]"


def column_help(column: str) -> str:
    return DESCRIPTIONS.get(column, column)


def number_format(scale: str) -> str:
    """d3 format of values on an axis of this scale: 3-4 significant digits."""
    return ".3~e" if scale == "log" else ".4~g"


def auto_scale(low: float | None, high: float | None) -> str:
    """``log`` for positive values spanning at least ``LOG_AXIS_DECADES`` decades, else ``linear``:
    a column with a value <= 0 is never put on a log axis."""
    if low is None or high is None or low <= 0:
        return "linear"
    return "log" if math.log10(high / low) >= LOG_AXIS_DECADES else "linear"


@dataclass(frozen=True)
class Colouring:
    """What colours the points: ``scenario``, a boolean column (``allowed``, ``pass_<c>``) or a numeric column."""

    kind: str  # "scenario", "verdict" or "column"
    column: str = "scenario"
    colors: tuple[tuple[str, str], ...] = ()  # scenario colours


@dataclass(frozen=True)
class Bound:
    """A constraint drawn on a panel: ``lower <= value <= upper`` on the ``axis`` (x or y) column."""

    axis: str
    lower: float
    upper: float
    label: str


def constraint_bounds(constraint_sets: Sequence[str], panel: Panel) -> list[Bound]:
    """The constraints of the sets that bound a panel's column itself (no scale, no condition)."""
    bounds = []
    for set_name in dict.fromkeys(constraint_sets):
        try:
            constraints: Sequence[Constraint] = load_constraint_set(set_name).constraints
        except ValueError:  # a user's set file no longer at its path: nothing to draw
            continue
        for c in constraints:
            for axis_name, axis in (("x", panel.x), ("y", panel.y)):
                if c.observable == axis.column and c.scale == 1.0 and not c.applies_above:
                    bounds.append(Bound(axis_name, c.lower, c.upper, f"{c.name} ({set_name}): {c.measurement}"))
    return bounds


@functools.cache
def paper_benchmarks() -> pd.DataFrame:
    """Paper 001's benchmark points (Table II, ``dsscan/data/benchmarks/benchmarks_2024.csv``) with
    every observable, evaluated by ``dsscan.evaluate`` against the paper's set ``datta2024``."""
    from dsscan.evaluate import evaluate  # here: loading the kernel takes a second, only when marks are asked

    points = load_points(PAPER_001)
    frame = evaluate(points.parameters, PAPER_001.default_constraints).to_pandas()
    frame.insert(0, "benchmark", [f"BP{i}" for i in points.ids])
    return frame


def _benchmark_layers(marked: pd.DataFrame, panel: Panel, scales: dict[str, str]) -> list[dict]:
    """The benchmark points of a panel as black diamonds with their names."""
    values = _records(marked[["benchmark", panel.x.column, panel.y.column]])
    encoding = {"x": _position(panel.x), "y": _position(panel.y)}
    return [
        {"data": {"values": values}, "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 70,
                                              "color": "black", "clip": True},
         "encoding": encoding | {"tooltip": [{"field": "benchmark", "title": "paper 001"},
                                             *_tooltip([panel.x.column, panel.y.column], scales)]}},
        {"data": {"values": values}, "mark": {"type": "text", "dx": 12, "align": "left", "fontSize": 10, "clip": True},
         "encoding": encoding | {"text": {"field": "benchmark"}}},
    ]


@dataclass
class ChartSummary:
    """What a chart draws: for the page's caption and for tests."""

    rows: int  # selected rows
    density: bool  # panels are 2-D histograms
    top_rows: int  # rows matching the top layer's condition
    top_drawn: int  # of those, drawn (a sample when more than MAX_POINTS)
    bins: list[int] = field(default_factory=list)  # non-empty bins per panel
    density_head: tuple | None = None  # (scan, point_id limit, factor) of the scans whose head the density bins


@dataclass
class Chart:
    spec: dict  # Vega-Lite; its named datasets are DataFrames (Streamlit sends them as Arrow), see json_spec
    summary: ChartSummary


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: NaN and infinities become null, categories strings."""
    frame = frame.copy()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(str)
        elif pd.api.types.is_float_dtype(frame[c]):
            frame[c] = frame[c].where(np.isfinite(frame[c]), None).astype(object)
    return frame.to_dict(orient="records")


def _position(axis: Axis) -> dict:
    encoding = {
        "field": axis.column, "type": "quantitative", "title": column_title(axis.column),
        "scale": {"type": axis.scale, "domain": list(axis.domain), "nice": False, "zero": False},
        "axis": {"grid": False},
    }
    if axis.scale == "log":
        encoding["axis"] |= {"format": ".0e", "tickCount": 5}
    return encoding


def _colour_encoding(colouring: Colouring, scale: str) -> dict:
    if colouring.kind == "scenario":
        scenarios = [s for s, _ in colouring.colors]
        labels = " : ".join(f"datum.value === '{s}' ? '{SCENARIO_TITLES.get(s, s)}'" for s in scenarios)
        return {
            "field": "scenario", "type": "nominal", "title": "scenario",
            "scale": {"domain": scenarios, "range": [c for _, c in colouring.colors]},
            "legend": {"labelExpr": f"{labels} : datum.label"},
        }
    if colouring.kind == "verdict":
        return {"field": colouring.column, "type": "nominal", "title": column_title(colouring.column),
                "scale": {"domain": [True, False], "range": ["#1a9850", "#d73027"]}}
    return {"field": colouring.column, "type": "quantitative", "title": column_title(colouring.column),
            "scale": {"type": scale, "scheme": "viridis"}}


def _tooltip(columns: Sequence[str], scales: dict[str, str]) -> list[dict]:
    tips = []
    for c in dict.fromkeys(columns):
        tip = {"field": c, "title": column_title(c)}
        if c in scales:
            tip |= {"type": "quantitative", "format": number_format(scales[c])}
        tips.append(tip)
    return tips


def _bound_layers(bounds: Sequence[Bound], panel: Panel) -> list[dict]:
    layers = []
    for axis_name in ("x", "y"):
        axis = panel.x if axis_name == "x" else panel.y
        bands = [b for b in bounds if b.axis == axis_name and math.isfinite(b.lower) and math.isfinite(b.upper)]
        lines = [
            {"value": b.upper if math.isfinite(b.upper) else b.lower, "label": b.label}
            for b in bounds if b.axis == axis_name and not (math.isfinite(b.lower) and math.isfinite(b.upper))
        ]
        scale = {"type": axis.scale, "domain": list(axis.domain), "nice": False, "zero": False}
        title = column_title(axis.column)
        if bands:
            layers.append({
                "data": {"values": [{"lower": b.lower, "upper": b.upper, "label": b.label} for b in bands]},
                "mark": {"type": "rect", "color": "#f0c000", "opacity": 0.25, "clip": True},
                "encoding": {
                    axis_name: {"field": "lower", "type": "quantitative", "scale": scale, "title": title},
                    f"{axis_name}2": {"field": "upper"},
                    "tooltip": [{"field": "label", "title": "measurement"}],
                },
            })
        if lines:
            layers.append({
                "data": {"values": lines},
                "mark": {"type": "rule", "color": "#555555", "strokeDash": [6, 3], "strokeWidth": 1.5, "clip": True},
                "encoding": {
                    axis_name: {"field": "value", "type": "quantitative", "scale": scale, "title": title},
                    "tooltip": [{"field": "label", "title": "bound"}],
                },
            })
    return layers


def _resolved(axis: Axis, ranges: dict[str, ColumnRange], points: pd.DataFrame) -> Axis:
    """The axis with a domain: its own, else the data's (a log axis over the positive values),
    widened to the points drawn."""
    if axis.domain is not None:
        return axis
    log = axis.scale == "log"
    r, drawn = ranges[axis.column], points[axis.column].to_numpy(float)
    drawn = drawn[np.isfinite(drawn) & (drawn > 0 if log else True)]
    values = [v for v in (r.low_positive if log else r.low, r.high) if v is not None and (v > 0 or not log)]
    values += [drawn.min(), drawn.max()] if drawn.size else []
    if not values:  # no finite (positive) value: an empty axis
        return Axis(axis.column, axis.scale, (1.0, 10.0) if log else (0.0, 1.0))
    low, high = float(min(values)), float(max(values))
    if high <= low:
        high = low * 10 if log else low + 1
    return Axis(axis.column, axis.scale, (low, high))


def data_ranges(con: duckdb.DuckDBPyConnection, columns: Sequence[str], selection: Selection) -> dict[str, ColumnRange]:
    """The columns' ranges over the selection, read from the scans' density heads (``lake.query.Head``)."""
    chosen = [info for info in scan_infos(con) if info.scan in selection.scans]
    return column_ranges(con, columns, selection, density_head(con, chosen, DENSITY_HEAD_ROWS))


@dataclass
class TopRows:
    """The rows a chart draws as points (a sample of at most ``MAX_POINTS``), and the counts that
    decide whether its panels are densities."""

    rows: int  # selected rows
    matching: int  # of those, drawn or sampled from
    density: bool  # more selected rows than a chart draws
    points: pd.DataFrame


def drawn_columns(panels: Sequence[Panel], colouring: Colouring) -> list[str]:
    return list(dict.fromkeys([a.column for p in panels for a in (p.x, p.y)] + [colouring.column, "scenario", "scan"]))


def top_rows(
    con: duckdb.DuckDBPyConnection, columns: Sequence[str], selection: Selection, top_condition: str = "allowed",
    every_point_when_few: bool = False,
) -> TopRows:
    """Up to ``MAX_POINTS`` selected rows: those matching ``top_condition`` (or all, with
    ``every_point_when_few``); above, a repeatable sample of ``MAX_POINTS`` of those matching it."""
    rows, matching = counts(con, selection, top_condition)
    density = rows > MAX_POINTS
    condition, matching = ("true", rows) if every_point_when_few and not density else (top_condition, matching)
    points = sample_rows(con, columns, selection, MAX_POINTS, SAMPLE_SEED, condition, matching)
    return TopRows(rows, matching, density, points)


def chart(
    con: duckdb.DuckDBPyConnection,
    panels: Sequence[Panel],
    selection: Selection,
    colouring: Colouring,
    *,
    top_condition: str = "allowed",
    every_point_when_few: bool = False,
    constraint_sets: Sequence[str] = (),
    marked: pd.DataFrame | None = None,
    title: str | None = None,
    columns: int = 1,
    top: TopRows | None = None,
) -> Chart:
    """One Vega-Lite spec (data inline) drawing ``panels`` of the selected rows.

    Up to ``MAX_POINTS`` selected rows: the rows matching ``top_condition`` are drawn as points
    (or every row, with ``every_point_when_few``). Above: each panel is a 2-D histogram of all
    selected rows (grey, darker with more points) and at most ``MAX_POINTS`` of the rows matching
    ``top_condition`` are drawn on top. Bounds of ``constraint_sets`` on a plotted column are drawn,
    and the rows of ``marked`` (``paper_benchmarks``) as named diamonds. ``top``: the result of
    ``top_rows`` for these panels, when the caller has it already (it does not depend on the scales).
    """
    colour_column = colouring.column
    top = top or top_rows(con, drawn_columns(panels, colouring), selection, top_condition, every_point_when_few)
    points, density = top.points, top.density
    chosen = [info for info in scan_infos(con) if info.scan in selection.scans]
    head = density_head(con, chosen, DENSITY_HEAD_ROWS) if density else Head()
    open_columns = [a.column for p in panels for a in (p.x, p.y) if a.domain is None]
    ranges = column_ranges(con, open_columns + ([colour_column] if colouring.kind == "column" else []), selection, head)
    panels = [Panel(_resolved(p.x, ranges, points), _resolved(p.y, ranges, points)) for p in panels]
    scales = {a.column: a.scale for p in panels for a in (p.x, p.y)}
    colour_scale = auto_scale(ranges[colour_column].low, ranges[colour_column].high) if colouring.kind == "column" else ""
    if colouring.kind == "column":
        scales.setdefault(colour_column, colour_scale)
    datasets: dict[str, pd.DataFrame] = {"points": points}
    histograms = (
        histograms_2d(con, [(_binning(p.x), _binning(p.y)) for p in panels], selection, head) if density else []
    )
    summary = ChartSummary(rows=top.rows, density=density, top_rows=top.matching, top_drawn=len(points),
                           density_head=head.limits or None)
    panel_specs = []
    for i, panel in enumerate(panels):
        layers = []
        if density:
            datasets[f"density_{i}"] = histograms[i]
            summary.bins.append(len(histograms[i]))
            layers.append(_density_layer(i, panel))
        layers += _bound_layers(constraint_bounds(constraint_sets, panel), panel)
        layers.append({
            "name": f"p{i}_points",
            "data": {"name": "points"},
            "params": [{"name": f"zoom{i}", "select": "interval", "bind": "scales"}],
            "mark": {"type": "circle", "size": 14, "opacity": 0.8, "clip": True},
            "encoding": {
                "x": _position(panel.x), "y": _position(panel.y),
                "color": _colour_encoding(colouring, colour_scale) | ({} if i == 0 else {"legend": None}),
                "tooltip": _tooltip([panel.x.column, panel.y.column, colour_column, "scan"], scales),
            },
        })
        if marked is not None:
            layers += _benchmark_layers(marked, panel, scales)
        panel_specs.append({
            "width": PANEL_SIZE[0], "height": PANEL_SIZE[1], "layer": layers,
            "resolve": {"scale": {"color": "independent"}},
        })
    spec = {
        "$schema": VEGA_LITE_SCHEMA,
        "datasets": datasets,
        "concat": panel_specs,
        "columns": columns,
        "config": {"font": "DejaVu Sans", "axis": {"titleFontSize": 13, "labelFontSize": 11}, "legend": {"orient": "right"}},
        # explicit SVG: the marks are then elements of the page (the browser test counts them)
        "usermeta": {"embedOptions": {"renderer": "svg"}},
    }
    if title:
        spec["title"] = title
    return Chart(spec, summary)


def _binning(axis: Axis) -> Binning:
    return Binning(axis.column, axis.domain[0], axis.domain[1], BINS, axis.scale == "log")


def _density_layer(i: int, panel: Panel) -> dict:
    def position(axis: Axis, lo: str) -> dict:
        return _position(axis) | {"field": lo}

    return {
        "name": f"p{i}_density",
        "data": {"name": f"density_{i}"},
        "mark": {"type": "rect", "clip": True},
        "encoding": {
            "x": position(panel.x, "x0"), "x2": {"field": "x1"},
            "y": position(panel.y, "y0"), "y2": {"field": "y1"},
            "color": {"field": "points", "type": "quantitative", "legend": None,
                      "scale": {"type": "log", "range": ["#f4f4f4", "#a8a8a8"]}},
            "tooltip": [{"field": "rows", "title": "stored rows"},
                        {"field": "points", "title": "points of the scan", "format": ".3~s"}],
        },
    }


def figure_chart(
    con: duckdb.DuckDBPyConnection, figure: FigureDef, selection: Selection, constraint_sets: Sequence[str],
    mark_benchmarks: bool = False,
) -> Chart:
    """A paper figure (``figures.toml``) of the selected scans: allowed points coloured by scenario,
    optionally with paper 001's benchmark points marked."""
    return chart(
        con, figure.panels, selection, Colouring("scenario", colors=figure.colors),
        constraint_sets=constraint_sets if figure.draw_bounds else (), columns=figure.columns,
        marked=paper_benchmarks() if mark_benchmarks else None,
    )


EXPORT_FORMATS = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}


def json_spec(spec: dict) -> dict:
    """The spec with its datasets as JSON rows: for Vega-Lite anywhere (vl-convert, a notebook, a file)."""
    datasets = {name: _records(frame) for name, frame in spec["datasets"].items()}
    return {k: v for k, v in spec.items() if k != "usermeta"} | {"datasets": datasets}


def export(spec: dict, fmt: str) -> bytes:
    """The chart as a publication file: PNG at ``EXPORT_PNG_SCALE`` pixels per point, or vector PDF/SVG."""
    import vl_convert

    spec = json_spec(spec)
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=EXPORT_PNG_SCALE)
    if fmt == "pdf":
        return vl_convert.vegalite_to_pdf(spec)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode()
    raise ValueError(f"unknown export format {fmt!r}: expected one of {sorted(EXPORT_FORMATS)}")
