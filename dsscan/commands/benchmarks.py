"""``dsscan benchmarks``: both papers' benchmark points, published numbers beside dsscan's.

For paper 000 (arXiv:2005.08920) every number of its Table II with dsscan's value and the ratio;
for the points of both papers every constraint's value and status, and the scattering ratios R.
The points ship in ``dsscan/data/benchmarks/`` (see its README); ``--data-dir`` reads another copy.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import pathlib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    import numpy as np

from dsscan.commands.point import (
    FAIL,
    PASS,
    add_constraints_option,
    constraint_status,
    format_number,
    json_row,
    versions,
)
from dsscan.constraints import Constraint, ConstraintSet, load_constraint_set
from dsscan.evaluate import evaluate
from dsscan.parameters import PARAMETER_NAMES

ROUNDING_MARGIN = 0.10  # physics.md section 7: published inputs are rounded to two or three digits
PASS_WITH_MARGIN = "PASS within 10 % margin"

MESON_COLUMNS = ("BR_B_KS", "BR_Kp_pipS", "BR_KL_pi0S")
CONVENTION_NOTE = (
    "Meson BRs use the top pole mass of inputs.toml. K_L -> pi0 S sits below and K+ -> pi+ S above the table\n"
    "because dsscan projects K_L on (Re g_sd)^2 and K+ on |g_sd|^2 with the complex CKM matrix (CP projection:\n"
    "K_L/K+ = 3.7), where the paper evidently treats g_sd as real (its K_L/K+ is 4.3).\n"
    "BR_S_gg at kappa = 0 (BP5, BP6) is ~2x the table: the table's loop-induced photon width is half the\n"
    "complete loop sum dsscan ships, one overall factor 2 (BR_S_gg/BR_S_ee, free of U_mu4, is twice the\n"
    "table's at both points), which no subset of the loops gives. Details of both in docs/physics.md."
)

RECAST_SCATTER = "s R scatters within +-9 % of 1 over the 13 published points (one recast scale s for all, docs/physics.md)"
# Why a benchmark point misses a bound of its own paper's constraint set: (paper, point, constraint).
DEPARTURES = {
    ("000", "2", "miniboone"): RECAST_SCATTER,
    ("000", "4", "miniboone"): RECAST_SCATTER,
    ("001", "3", "miniboone"): RECAST_SCATTER,
    ("001", "7", "B0_Kst0nunu"): (
        "BP7 sits high in the Belle II B+ -> K+ nu nu window and B0 -> K*0 S / B+ -> K+ S = 1.02 with the\n"
        "Ball-Zwicky A0; not the rounding of the inputs (+-2 % here). A0 5 % lower would let it pass; the\n"
        "paper's predictions (its Table III) are not in our copy to tell which (docs/physics.md)"
    ),
}


def universal_up_yukawa(row: Mapping[str, float]) -> dict[str, float]:
    """Paper 000: eta_u is universal for u, c, t."""
    return {"eta_c": row["eta_u"], "eta_t": row["eta_u"]}


def no_up_yukawa(row: Mapping[str, float]) -> dict[str, float]:
    """Paper 001: eta_u = 0."""
    return {"eta_u": 0.0}


@dataclass(frozen=True)
class BenchmarkTable:
    """One paper's published benchmark points and how its columns map onto dsscan's."""

    paper: str
    citation: str
    filename: str
    default_constraints: str
    published: Mapping[str, str]  # published column -> dsscan observable
    implied_parameters: Callable[[Mapping[str, float]], dict[str, float]]


PAPER_000 = BenchmarkTable(
    paper="000",
    citation="Datta, Kamali, Marfatia, PRD 102, 015002 (2020), arXiv:2005.08920, Tables I and II",
    filename="benchmarks_2020.csv",
    default_constraints="datta2020",
    published={
        "BR_S_gg": "BR_S_gg",
        "BR_S_ee": "BR_S_ee",
        "BR_S_nunu": "BR_S_nunu",
        "BR_B_KS": "BR_Bp_KpS",
        "BR_Kp_pipS": "BR_Kp_pipS",
        "BR_KL_pi0S": "BR_KL_pi0S",
    },
    implied_parameters=universal_up_yukawa,
)
PAPER_001 = BenchmarkTable(
    paper="001",
    citation="Datta, Marfatia, Mukherjee, PRD 109, L031701 (2024), arXiv:2310.15136, Table II",
    filename="benchmarks_2024.csv",
    default_constraints="datta2024",
    published={},
    implied_parameters=no_up_yukawa,
)
TABLES = (PAPER_000, PAPER_001)


@dataclass(frozen=True)
class BenchmarkPoints:
    """The points of one table: ids, the nine parameters and the published numbers, as arrays."""

    table: BenchmarkTable
    ids: tuple[str, ...]
    parameters: dict[str, np.ndarray]
    published: dict[str, np.ndarray]


def shipped_data_dir() -> pathlib.Path:
    return pathlib.Path(str(resources.files("dsscan").joinpath("data/benchmarks")))


def load_points(table: BenchmarkTable, data_dir: pathlib.Path | None = None) -> BenchmarkPoints:
    """Read a benchmark CSV (``#`` lines are comments); errors name the file and the column."""
    import numpy as np

    path = (data_dir or shipped_data_dir()) / table.filename
    with open(path, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    if not rows:
        raise ValueError(f"{path}: no benchmark points")
    params: dict[str, list[float]] = {n: [] for n in PARAMETER_NAMES}
    published: dict[str, list[float]] = {c: [] for c in table.published}
    for i, row in enumerate(rows):
        def number(column: str) -> float:
            try:
                return float(row[column])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{path}: row {i + 1} needs a number in column {column!r}") from None

        given = {n: number(n) for n in PARAMETER_NAMES if n in row}
        point = given | table.implied_parameters(given)
        for n in PARAMETER_NAMES:
            if n not in point:
                raise ValueError(f"{path}: missing column {n!r}")
            params[n].append(point[n])
        for c in table.published:
            published[c].append(number(c))
    return BenchmarkPoints(
        table=table,
        ids=tuple(row.get("bp") or str(i + 1) for i, row in enumerate(rows)),
        parameters={n: np.array(v) for n, v in params.items()},
        published={c: np.array(v) for c, v in published.items()},
    )


def widened(c: Constraint, margin: float = ROUNDING_MARGIN) -> Constraint:
    """The constraint with each finite bound moved outward by ``margin`` times its own size."""
    return dataclasses.replace(c, lower=c.lower - margin * abs(c.lower), upper=c.upper + margin * abs(c.upper))


def judge_with_margin(cset: ConstraintSet, columns: Mapping[str, Any], margin: float = ROUNDING_MARGIN) -> dict:
    """``pass_<name>`` and ``allowed`` with every bound widened by ``margin`` (physics.md section 7)."""
    import numpy as np

    loose = dataclasses.replace(cset, constraints=tuple(widened(c, margin) for c in cset.constraints))
    return loose.judge({k: np.asarray(v) for k, v in columns.items()})


def margin_status(c: Constraint, row: Mapping[str, Any], passes_widened: bool) -> str:
    """``constraint_status``, with a strict FAIL that passes the widened bound marked as such."""
    status = constraint_status(c, row)
    return PASS_WITH_MARGIN if status == FAIL and passes_widened else status


@dataclass(frozen=True)
class Evaluated:
    """A table's points evaluated under a constraint set: each point's row and constraint statuses."""

    points: BenchmarkPoints
    cset: ConstraintSet
    rows: list[dict[str, Any]]
    statuses: list[dict[str, str]]


def evaluate_points(points: BenchmarkPoints, constraints: str | None) -> Evaluated:
    name = constraints or points.table.default_constraints
    cset = load_constraint_set(name)
    table = evaluate(points.parameters, constraints=name)
    rows = table.to_pylist()
    loose = judge_with_margin(cset, table.to_pydict())
    statuses = [
        {c.name: margin_status(c, row, bool(loose[f"pass_{c.name}"][i])) for c in cset.constraints}
        for i, row in enumerate(rows)
    ]
    return Evaluated(points, cset, rows, statuses)


MARKS = {PASS: "ok", FAIL: "FAIL", PASS_WITH_MARGIN: "ok*"}


def bound_interval(c: Constraint) -> str:
    """Compact bound: ``< 4.9e-09``, ``> 400``, ``[1.6e-05, 3e-05]``, with ``s x`` when scaled."""
    scale = f"{c.scale:g} x " if c.scale != 1.0 else ""
    if c.kind == "upper":
        return f"{scale}< {c.upper:.3g}"
    if c.kind == "lower":
        return f"{scale}> {c.lower:.3g}"
    return f"{scale}[{c.lower:.3g}, {c.upper:.3g}]"


def format_published(ev: Evaluated) -> list[str]:
    """Published number, dsscan's value and their ratio, for every published number of every point."""
    pts = ev.points
    lines = [f"  {'BP':<3} {'published':<11} {'dsscan observable':<18} {'published':>10} {'dsscan':>11} {'ratio':>7}"]
    for i, bp in enumerate(pts.ids):
        for k, (col, obs) in enumerate(pts.table.published.items()):
            pub, ours = float(pts.published[col][i]), ev.rows[i][obs]
            lines.append(
                f"  {bp if k == 0 else '':<3} {col:<11} {obs:<18} {pub:>10.3g} {ours:>11.4g} {ours / pub:>7.3f}"
            )
    return lines


def format_constraints(ev: Evaluated) -> list[str]:
    """Every constraint (rows) at every point (columns): value x scale and a mark."""
    ids = ev.points.ids
    lines = [f"  {'constraint':<16} {'bound':<22}" + "".join(f" {'BP' + bp:>14}" for bp in ids)]
    for c in ev.cset.constraints:
        cells = []
        for i in range(len(ids)):
            status = ev.statuses[i][c.name]
            value = ev.rows[i][c.observable] * c.scale
            mark = MARKS.get(status, "n/a")
            cells.append(f"{'n/a' if math.isnan(value) else f'{value:.3g} {mark}':>14}")
        lines.append(f"  {c.name:<16} {bound_interval(c):<22}" + "".join(f" {cell}" for cell in cells))
    allowed = ["yes" if row["allowed"] else "no" for row in ev.rows]
    lines.append(f"  {'allowed':<16} {'(dsscan.evaluate)':<22}" + "".join(f" {a:>14}" for a in allowed))
    lines.append(
        "  ok = passes; ok* = fails only within the 10 % rounding margin of physics.md section 7; "
        "n/a = not applicable here or not computed"
    )
    return lines + format_departures(ev)


def departures(ev: Evaluated) -> list[tuple[str, str, str]]:
    """(point, constraint, explanation) for every bound a point misses, strictly or within the margin;
    the explanation is ``DEPARTURES``'s, or empty where there is none."""
    paper = ev.points.table.paper
    return [
        (bp, c.name, DEPARTURES.get((paper, bp, c.name), ""))
        for bp, statuses in zip(ev.points.ids, ev.statuses)
        for c in ev.cset.constraints
        if statuses[c.name] in (FAIL, PASS_WITH_MARGIN)
    ]


def format_departures(ev: Evaluated) -> list[str]:
    """One paragraph per missed bound: why the published point misses it."""
    lines = []
    for bp, name, why in departures(ev):
        text = (why or "no explanation recorded (dsscan.commands.benchmarks.DEPARTURES)").splitlines()
        lines += [f"  BP{bp} {name}: {text[0]}", *(f"    {line}" for line in text[1:])]
    return ["", "Departures from the bounds, explained", *lines] if lines else []


def format_meson_ratios(ev: Evaluated) -> list[str]:
    """The range over the points of dsscan / published for each meson BR of the table."""
    pts = ev.points
    ranges = []
    for col in MESON_COLUMNS:
        obs = pts.table.published[col]
        ratios = [row[obs] / pub for row, pub in zip(ev.rows, pts.published[col])]
        ranges.append(f"{col} {min(ratios):.2f}-{max(ratios):.2f}")
    return ["  dsscan / published over the points: " + ", ".join(ranges)]


def format_scattering(ev: Evaluated) -> list[str]:
    """R_miniboone, s R_miniboone and R_charm2 per point (n/a while not computed)."""
    scales = {c.scale for c in ev.cset.constraints if c.observable == "R_miniboone"}
    s = scales.pop() if len(scales) == 1 else math.nan
    lines = [f"  {'BP':<3} {'R_miniboone':>12} {f's R (s = {s:g})':>16} {'R_charm2':>10}"]
    for bp, row in zip(ev.points.ids, ev.rows):
        R = row["R_miniboone"]
        lines.append(
            f"  {bp:<3} {format_number(R):>12} {format_number(s * R):>16} {format_number(row['R_charm2']):>10}"
        )
    return lines


def format_report(evaluated: list[Evaluated]) -> str:
    lines: list[str] = []
    for ev in evaluated:
        t = ev.points.table
        lines += [f"Paper {t.paper}: {t.citation}", ""]
        if t.published:
            lines += ["Published numbers vs dsscan (ratio = dsscan / published)", *format_published(ev), ""]
            lines += [*format_meson_ratios(ev), *("  " + line for line in CONVENTION_NOTE.splitlines()), ""]
        lines += [f"Constraint set {ev.cset.name} v{ev.cset.version} ({ev.cset.source})", *format_constraints(ev), ""]
        lines += ["Scattering ratios (physics.md section 9)", *format_scattering(ev), ""]
    return "\n".join(lines).rstrip()


def json_report(evaluated: list[Evaluated]) -> dict[str, Any]:
    papers = []
    for ev in evaluated:
        t, pts = ev.points.table, ev.points
        points = []
        for i, bp in enumerate(pts.ids):
            published = {col: float(pts.published[col][i]) for col in t.published}
            points.append({
                "bp": bp,
                "row": json_row(ev.rows[i]),
                "published": published,
                "ratio": {col: ev.rows[i][obs] / published[col] for col, obs in t.published.items()},
                "status": ev.statuses[i],
                "departures": {name: why for b, name, why in departures(ev) if b == bp},
            })
        papers.append({"paper": t.paper, "citation": t.citation, "versions": versions(ev.cset), "points": points})
    return {"rounding_margin": ROUNDING_MARGIN, "papers": papers}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmarks",
        help="both papers' benchmark points: published numbers vs dsscan, constraint status per point",
        description=(
            "Evaluate the published benchmark points of arXiv:2005.08920 and arXiv:2310.15136: every "
            "published number beside dsscan's with their ratio, every constraint's value and status "
            "per point, and the MiniBooNE/CHARM-II ratios."
        ),
    )
    add_constraints_option(parser, default=None)
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument(
        "--data-dir", type=pathlib.Path, default=None, metavar="DIR",
        help="folder holding benchmarks_2020.csv and benchmarks_2024.csv (default: the copies shipped with dsscan)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    evaluated = [evaluate_points(load_points(t, args.data_dir), args.constraints) for t in TABLES]
    if args.json:
        print(json.dumps(json_report(evaluated), indent=2, allow_nan=False))
    else:
        print(format_report(evaluated))
    return 0
