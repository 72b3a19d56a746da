"""What a chunk stores: the evaluated points its storage policy keeps, keyed by ``point_id``.

Policies (``scan.store``): ``all`` keeps every point; ``allowed`` keeps the allowed points;
``allowed+sample`` keeps every allowed point plus a fixed-rate random sample of the rest,
flagged ``sampled`` (weight 1/sample_rate when counting rejected points).

Every row carries its importance ``weight`` (prior density / proposal density of the sampler that
drew it; 1 but for sampler = "adaptive"): ``sum(weight)`` over a region, divided by the scan's
points, estimates the region's share of the prior, as a count over a uniform scan does.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

def _field(name: str, type_: pa.DataType, description: str) -> pa.Field:
    return pa.field(name, type_, nullable=False, metadata={"unit": "1", "description": description})


POINT_ID_FIELD = _field("point_id", pa.uint64(), "position of the point in the scan's plan: chunk * chunk_size + row")
SAMPLED_FIELD = _field(
    "sampled", pa.bool_(),
    "a rejected point kept in the random sample of store = 'allowed+sample' "
    "(weight 1/sample_rate); false for allowed points and under the other policies",
)
WEIGHT_FIELD = _field(
    "weight", pa.float64(),
    "importance weight, prior density / proposal density (1 but for sampler = 'adaptive'): "
    "sum(weight) / points estimates a prior fraction; a sampled row stands for 1/sample_rate times as many",
)


def kept_rows(allowed: np.ndarray, store: str, sample_rate: float | None,
              sample_draws: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
    """The rows a chunk's storage policy keeps (indices, or None for every row) and the ``sampled``
    flag of each kept row; ``sample_draws`` are a uniform [0, 1) draw per row, and a rejected row is
    sampled where its draw is below ``sample_rate`` (store = "allowed+sample")."""
    if store == "all":
        return None, np.zeros(len(allowed), dtype=bool)
    if store == "allowed":
        return np.flatnonzero(allowed), np.zeros(np.count_nonzero(allowed), dtype=bool)
    rows = np.flatnonzero(allowed | (sample_draws < sample_rate))
    return rows, ~allowed[rows]


def with_row_keys(point_ids: np.ndarray, weights: np.ndarray, sampled: np.ndarray, evaluated: pa.Table) -> pa.Table:
    """``point_id`` + ``evaluated``'s columns + ``sampled`` + ``weight``, row for row."""
    table = evaluated.add_column(0, POINT_ID_FIELD, pa.array(point_ids, type=pa.uint64()))
    table = table.append_column(SAMPLED_FIELD, pa.array(sampled))
    return table.append_column(WEIGHT_FIELD, pa.array(weights, type=pa.float64()))


def stored_rows(
    point_ids: np.ndarray, weights: np.ndarray, evaluated: pa.Table, store: str, sample_rate: float | None,
    sample_draws: np.ndarray | None,
) -> pa.Table:
    """The rows of ``evaluated`` the policy keeps (``kept_rows``), keyed (``with_row_keys``)."""
    rows, sampled = kept_rows(evaluated.column("allowed").to_numpy(zero_copy_only=False), store, sample_rate, sample_draws)
    if rows is not None:
        evaluated, point_ids, weights = evaluated.take(rows), point_ids[rows], weights[rows]
    return with_row_keys(point_ids, weights, sampled, evaluated)
