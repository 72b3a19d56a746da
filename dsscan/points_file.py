"""An explicit list of points (``sampler = "list"``): a CSV or Parquet file whose columns named like
parameters hold their values, one point per row; other columns (a label, published numbers) are
ignored. CSV lines starting with ``#`` are comments. Chunk i of the scan is rows i*chunk_size ...
"""
from __future__ import annotations

import functools
import hashlib
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from dsscan.parameters import PARAMETER_NAMES

SUFFIXES = (".csv", ".parquet")


def file_sha256(path: str | pathlib.Path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def read_points_file(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """The parameter columns of a points file as float64 arrays; ValueError says what is wrong."""
    import numpy as np
    import pandas as pd  # here, not at the top: only a list scan reads a points file
    import pyarrow.parquet as pq

    path = pathlib.Path(path)
    if path.suffix not in SUFFIXES:
        raise ValueError(f"expected a {' or '.join(SUFFIXES)} file, got {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"no such file {str(path)!r}")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, comment="#")
            columns = {name: frame[name] for name in PARAMETER_NAMES if name in frame.columns}
        else:
            table = pq.read_table(path, columns=[n for n in PARAMETER_NAMES if n in pq.read_schema(path).names])
            columns = {name: table.column(name).to_pandas() for name in table.column_names}
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc}") from None
    if not columns:
        raise ValueError(f"{str(path)!r} has no column named like a parameter ({', '.join(PARAMETER_NAMES)})")
    values = {}
    for name, column in columns.items():
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if len(bad):
            raise ValueError(f"{str(path)!r}: column {name} row {bad[0]} is {column.iloc[bad[0]]}, not a finite number")
        values[name] = numbers
    if not len(next(iter(values.values()))):
        raise ValueError(f"{str(path)!r} has no rows")
    return values


@functools.lru_cache(maxsize=2)
def _verified(path: str, sha256: str) -> dict[str, np.ndarray]:
    if file_sha256(path) != sha256:
        raise ValueError(f"points_file {path!r} changed since the scan was planned (sha256 differs); start a new scan")
    return read_points_file(path)


def listed_rows(path: str, sha256: str, start: int, count: int) -> dict[str, np.ndarray]:
    """Rows ``start`` ... ``start + count - 1`` of the parameter columns, read once per process and
    only if the file still has the checksum the scan was planned with."""
    return {name: column[start : start + count] for name, column in _verified(path, sha256).items()}
