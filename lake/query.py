"""Every query the explorer asks of the catalog (``lake.catalog``); the heavy lifting stays in DuckDB.

Nothing here loads a scan whole: counts, ranges and 2-D histograms are aggregated by DuckDB and
only samples of at most a few thousand rows come back. Each stored row stands for
``point_weight_sql`` points of its scan: 1 for a row of a scan that keeps every point or an
allowed row, ``1 / sample_rate`` for a rejected row that ``store = "allowed+sample"`` kept, times
the row's ``weight`` column where the lake has one (importance sampling).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from lake.catalog import read_only_query
from lake.layout import manifest_paths
from lake.storage import LakePath

NUMERIC_TYPES = ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "UBIGINT")
WEIGHT_COLUMN = "weight"  # importance weight of a row, 1 where the column is absent
MANIFEST_COUNTS = {"allowed": "allowed", "true": "rows"}  # row conditions the scans table counts
SCENARIO_OF_FIXED_KAPPA = {True: "kappa0", False: "kappa"}  # schema.SCENARIOS: kappa_TeV == 0 or not


def identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def number(value: float) -> str:
    """A float as a DOUBLE literal (a bare 0.0003 would be a DECIMAL, which overflows in products)."""
    return f"{float(value)!r}::DOUBLE"


@dataclass(frozen=True)
class ScanInfo:
    """One scan of the lake as the app sees it, from the ``scans`` table (no data read)."""

    scan: str
    rows: int
    allowed: int
    store: str
    sample_rate: float | None
    constraint_set: str
    scenarios: tuple[str, ...]  # from the config: kappa_TeV fixed at 0 -> kappa0 only
    sampler: str
    chunk_size: int


def _scenarios(config: dict) -> tuple[str, ...]:
    kappa = config["parameters"].get("kappa_TeV")
    if isinstance(kappa, (int, float)):
        return (SCENARIO_OF_FIXED_KAPPA[kappa == 0],)
    if isinstance(kappa, dict) and "range" in kappa:
        # the samplers draw inside the open range: kappa = 0 is never drawn
        return ("kappa",)
    return ("kappa", "kappa0")  # tied to another parameter or listed in a file: either


def scan_infos(con: duckdb.DuckDBPyConnection) -> list[ScanInfo]:
    rows = con.execute(
        "SELECT scan, rows, allowed, store, sample_rate, constraint_set, config FROM scans WHERE rows > 0 ORDER BY scan"
    ).fetchall()
    infos = []
    for scan, rows_, allowed, store, rate, constraint_set, config in rows:
        config = json.loads(config)
        infos.append(ScanInfo(scan, rows_, allowed, store, rate, constraint_set, _scenarios(config),
                              config["scan"]["sampler"], config["scan"]["chunk_size"]))
    return infos


def numeric_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The numeric columns of ``points`` (parameters and observables), in schema order."""
    described = con.execute("DESCRIBE points").fetchall()
    return [name for name, type_, *_ in described if type_ in NUMERIC_TYPES and name != "point_id"]


def pass_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The stored verdict columns ``pass_<constraint>`` of ``points``, in schema order."""
    return [row[0] for row in con.execute("DESCRIBE points").fetchall() if row[0].startswith("pass_")]


def _per_scan(values: Mapping[str, float]) -> str:
    """SQL: the value of each row's scan (1.0 for a scan not listed)."""
    if not values:
        return "1.0"
    return f"(CASE scan {' '.join(f'WHEN {literal(k)} THEN {number(v)}' for k, v in values.items())} ELSE 1.0 END)"


@dataclass(frozen=True)
class Head:
    """The first chunks of some scans (``point_id < limit``) standing in for the whole scan in a
    density: for samplers whose chunks are independent draws over the whole parameter space
    (uniform, sobol, lhs), a row of the head counts ``factor`` times (the scan's recorded points
    over those of its head). Other scans are read whole. ``point_id < limit`` is a plain comparison,
    pushed down to the Parquet row groups, so the rest of the scan is not even decoded."""

    limits: tuple[tuple[str, int, float], ...] = ()  # (scan, point_id limit, factor)

    def condition(self) -> str:
        if not self.limits:
            return "true"
        heads = " OR ".join(f"(scan = {literal(scan)} AND point_id < {limit})" for scan, limit, _ in self.limits)
        return f"{heads} OR scan NOT IN ({', '.join(literal(scan) for scan, _, _ in self.limits)})"

    def factors(self) -> dict[str, float]:
        return {scan: factor for scan, _, factor in self.limits}


HEAD_SAMPLERS = ("uniform", "sobol", "lhs")  # every chunk an independent draw over the whole space


def density_head(con: duckdb.DuckDBPyConnection, scans: Sequence[ScanInfo], rows: int) -> Head:
    """For every scan of more than ``rows`` stored rows drawn by a ``HEAD_SAMPLERS`` sampler, its
    first recorded chunks holding at least ``rows`` rows."""
    limits = []
    for info in scans:
        if info.sampler not in HEAD_SAMPLERS or info.rows <= rows:
            continue
        recorded = con.execute("SELECT chunk, points, rows FROM chunks WHERE scan = ? ORDER BY chunk", [info.scan]).fetchall()
        total_points = sum(points for _, points, _ in recorded)
        head_points = head_rows = 0
        for index, points, stored in recorded:
            head_points, head_rows = head_points + points, head_rows + stored
            if head_rows >= rows:
                limits.append((info.scan, (index + 1) * info.chunk_size, total_points / head_points))
                break
    return Head(tuple(limits))


def point_weight_sql(con: duckdb.DuckDBPyConnection, head: Head = Head()) -> str:
    """How many points of its scan one stored row stands for, as SQL (the one place this is decided):
    1 / sample_rate for a ``sampled`` row (a rejected row ``allowed+sample`` kept), else 1; times
    the ``head`` factor of its scan, times the row's ``weight`` where the lake has that column."""
    rates = dict(con.execute("SELECT scan, 1.0 / sample_rate FROM scans WHERE sample_rate IS NOT NULL").fetchall())
    weight = f"(CASE WHEN sampled THEN {_per_scan(rates)} ELSE 1.0 END)" if rates else "1.0"
    if head.limits:
        weight = f"{weight} * {_per_scan(head.factors())}"
    described = {row[0] for row in con.execute("DESCRIBE points").fetchall()}
    if WEIGHT_COLUMN in described:
        weight = f"{weight} * coalesce({identifier(WEIGHT_COLUMN)}, 1.0)"
    return weight


@dataclass(frozen=True)
class Selection:
    """Which stored rows a view shows: some scans, each parameter within a closed range."""

    scans: tuple[str, ...]
    ranges: tuple[tuple[str, float, float], ...] = ()

    def where(self, *conditions: str) -> tuple[str, list]:
        """A SQL condition (with ``?`` parameters) for the selection and extra ``conditions``."""
        parts = [f"scan IN ({', '.join('?' for _ in self.scans)})" if self.scans else "false"]
        params: list = list(self.scans)
        for column, low, high in self.ranges:
            parts.append(f"{identifier(column)} BETWEEN ? AND ?")
            params += [low, high]
        parts += [f"({c})" for c in conditions]
        return " AND ".join(parts), params


@dataclass(frozen=True)
class ColumnRange:
    low: float | None  # None: no finite value
    high: float | None
    low_positive: float | None  # smallest value > 0, for a log axis


def counts(con: duckdb.DuckDBPyConnection, selection: Selection, condition: str) -> tuple[int, int]:
    """Selected rows and how many of them meet ``condition``: from the manifests' counts for whole
    scans and a condition they count (``allowed``, ``true``), else in one pass."""
    if not selection.ranges and condition in MANIFEST_COUNTS:
        placeholders = ", ".join("?" for _ in selection.scans) or "NULL"
        rows, meeting = con.execute(
            f"SELECT coalesce(sum(rows), 0), coalesce(sum({MANIFEST_COUNTS[condition]}), 0) FROM scans "
            f"WHERE scan IN ({placeholders})", list(selection.scans),
        ).fetchone()
        return int(rows), int(meeting)
    where, params = selection.where()
    rows, meeting = con.execute(f"SELECT count(*), count(*) FILTER ({condition}) FROM points WHERE {where}", params).fetchone()
    return rows, meeting


def column_ranges(
    con: duckdb.DuckDBPyConnection, columns: Sequence[str], selection: Selection, head: Head = Head()
) -> dict[str, ColumnRange]:
    """Each column's finite minimum, maximum and smallest positive value over the selected rows of
    the scans' ``head``, in one pass."""
    columns = list(dict.fromkeys(columns))
    if not columns:
        return {}
    aggregates = []
    for c in columns:
        q = identifier(c)
        finite = f"isfinite({q})"
        aggregates += [f"min({q}) FILTER ({finite})", f"max({q}) FILTER ({finite})", f"min({q}) FILTER ({finite} AND {q} > 0)"]
    where, params = selection.where(head.condition())
    row = con.execute(f"SELECT {', '.join(aggregates)} FROM points WHERE {where}", params).fetchone()
    return {c: ColumnRange(*row[3 * i:3 * i + 3]) for i, c in enumerate(columns)}


def sample_rows(
    con: duckdb.DuckDBPyConnection, columns: Sequence[str], selection: Selection, limit: int, seed: int,
    condition: str, matching: int,
) -> pd.DataFrame:
    """Up to ``limit`` of the ``matching`` rows of the selection meeting ``condition`` (all of them, or a
    repeatable random sample when there are more), ``columns`` only."""
    where, params = selection.where(condition)
    selected = ", ".join(identifier(c) for c in dict.fromkeys(columns))
    query = f"SELECT {selected} FROM points WHERE {where}"
    if matching > limit:
        query = f"SELECT * FROM ({query}) USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE ({int(seed)})"
    return con.execute(query, params).df()


@dataclass(frozen=True)
class Binning:
    """Equal-width bins of one axis over [low, high], in the value or (``log``) in its logarithm."""

    column: str
    low: float
    high: float
    bins: int
    log: bool

    def index_sql(self) -> str:
        """The bin index of a row as SQL; NULL outside [low, high] (and for values <= 0 on a log axis)."""
        v = identifier(self.column)
        if self.log:
            v, low, high = f"ln({v})", math.log(self.low), math.log(self.high)
            guard = f"{identifier(self.column)} > 0 AND "
        else:
            low, high, guard = self.low, self.high, ""
        width = (high - low) or 1.0
        return (
            f"CASE WHEN {guard}{identifier(self.column)} BETWEEN {number(self.low)} AND {number(self.high)} "
            f"THEN least(floor(({v} - {number(low)}) / {number(width)} * {self.bins}), {self.bins - 1})::INTEGER END"
        )

    def edges(self) -> np.ndarray:
        if self.log:
            return np.geomspace(self.low, self.high, self.bins + 1)
        return np.linspace(self.low, self.high, self.bins + 1)


def histograms_2d(
    con: duckdb.DuckDBPyConnection, axes: Sequence[tuple[Binning, Binning]], selection: Selection, head: Head = Head()
) -> list[pd.DataFrame]:
    """One weighted 2-D histogram per (x, y) binning pair, all from one pass over the data
    (GROUPING SETS) over the ``head`` of each scan: per pair, the non-empty bins as x0, x1, y0, y1
    (edges), rows and points (the rows weighted by ``point_weight_sql``)."""
    if not axes:
        return []
    where, params = selection.where(head.condition())
    inner = [f"{b.index_sql()} AS b{i}_{axis}" for i, pair in enumerate(axes) for axis, b in zip("xy", pair)]
    inner.append(f"{point_weight_sql(con, head)} AS w")
    sets = ", ".join(f"(b{i}_x, b{i}_y)" for i in range(len(axes)))
    groups = ", ".join(f"b{i}_x, b{i}_y" for i in range(len(axes)))
    # GROUPING(...) is 0 for exactly the columns of the set a row belongs to
    which = " ".join(f"WHEN GROUPING(b{i}_x, b{i}_y) = 0 THEN {i}" for i in range(len(axes)))
    frame = con.execute(
        f"SELECT CASE {which} END AS pair, {groups}, count(*) AS rows, sum(w) AS points "
        f"FROM (SELECT {', '.join(inner)} FROM points WHERE {where}) GROUP BY GROUPING SETS ({sets})",
        params,
    ).df()
    out = []
    for i, (bx, by) in enumerate(axes):
        part = frame[frame["pair"] == i].dropna(subset=[f"b{i}_x", f"b{i}_y"])
        ix, iy = part[f"b{i}_x"].to_numpy(int), part[f"b{i}_y"].to_numpy(int)
        ex, ey = bx.edges(), by.edges()
        out.append(pd.DataFrame({
            "x0": ex[ix], "x1": ex[ix + 1], "y0": ey[iy], "y1": ey[iy + 1],
            "rows": part["rows"].to_numpy(int), "points": part["points"].to_numpy(float),
        }))
    return out


def pass_fractions(con: duckdb.DuckDBPyConnection, selection: Selection, constraints: Sequence[str]) -> pd.DataFrame:
    """Per scan and constraint: stored rows, rows passing it, and the fraction of the scan's points
    passing it (the rows weighted by ``point_weight_sql``)."""
    if not constraints:
        return pd.DataFrame(columns=["scan", "constraint", "rows", "rows_passing", "fraction_of_points"])
    where, params = selection.where()
    weight = point_weight_sql(con)
    per = ", ".join(
        f"count(*) FILTER ({identifier('pass_' + c)}) AS {identifier('n_' + c)}, "
        f"sum({weight}) FILTER ({identifier('pass_' + c)}) / sum({weight}) AS {identifier('f_' + c)}"
        for c in constraints
    )
    wide = con.execute(f"SELECT scan, count(*) AS rows, {per} FROM points WHERE {where} GROUP BY scan ORDER BY scan", params).df()
    return pd.DataFrame([
        {"scan": r["scan"], "constraint": c, "rows": int(r["rows"]), "rows_passing": int(r[f"n_{c}"]),
         "fraction_of_points": float(r[f"f_{c}"])}
        for _, r in wide.iterrows() for c in constraints
    ])


def allowed_without(constraints: Sequence[str], dropped: Sequence[str]) -> str:
    """SQL: the row passes every constraint of ``constraints`` except the ``dropped`` ones."""
    kept = [identifier(f"pass_{c}") for c in constraints if c not in set(dropped)]
    return " AND ".join(kept) if kept else "true"


@dataclass(frozen=True)
class QueryResult:
    frame: pd.DataFrame  # at most the cap's rows
    total: int  # rows of the whole result


def capped_query(con: duckdb.DuckDBPyConnection, query: str, cap: int) -> QueryResult:
    """A read-only query (``lake.catalog.read_only_query``): its first ``cap`` rows and its row count."""
    try:
        relation = read_only_query(con, query)
        total = relation.aggregate("count(*)").fetchall()[0][0]
        return QueryResult(relation.limit(cap).df(), total)
    except duckdb.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def lake_state(root: str | os.PathLike | LakePath) -> str:
    """A short fingerprint of the lake's manifests: a cache key that changes when any scan does."""
    digest = hashlib.sha256()
    for path in manifest_paths(root):
        digest.update(str(path).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
