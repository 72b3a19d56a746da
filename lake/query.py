"""Queries the explorer app asks of the catalog; the heavy lifting stays in DuckDB."""
from __future__ import annotations

import duckdb
import pandas as pd

NUMERIC_TYPES = ("DOUBLE", "FLOAT", "BIGINT", "INTEGER", "UBIGINT")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scan_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("SELECT scan FROM scans WHERE rows > 0 ORDER BY scan").fetchall()]


def numeric_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The numeric columns of ``points`` (parameters and observables), in schema order."""
    described = con.execute("DESCRIBE points").fetchall()
    return [name for name, type_, *_ in described if type_ in NUMERIC_TYPES and name != "point_id"]


def log_log_sample(
    con: duckdb.DuckDBPyConnection, scan: str, x: str, y: str, allowed_only: bool, limit: int, seed: int
) -> tuple[pd.DataFrame, int]:
    """Up to ``limit`` rows (a repeatable random sample) of ``x``, ``y``, ``scenario`` and ``allowed``
    of one scan where both columns are positive, and how many such rows there are."""
    where = f"scan = ? AND {_identifier(x)} > 0 AND {_identifier(y)} > 0" + (" AND allowed" if allowed_only else "")
    selected = f"SELECT {_identifier(x)}, {_identifier(y)}, scenario, allowed FROM points WHERE {where}"
    total = con.execute(f"SELECT count(*) FROM ({selected})", [scan]).fetchone()[0]
    frame = con.execute(
        f"SELECT * FROM ({selected}) USING SAMPLE reservoir({int(limit)} ROWS) REPEATABLE ({int(seed)})", [scan]
    ).df()
    return frame, total
