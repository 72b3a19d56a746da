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

from dsscan.config import SAMPLED_STORE


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


def sample_mask(store: str, sample_rate: float | None, sample_draws: np.ndarray) -> np.ndarray | None:
    """The rows a storage policy keeps whatever their verdicts: None under "all" (it keeps every
    row), none under "allowed", and under "allowed+sample" the random sample, the rows whose uniform
    [0, 1) draw (``sample_draws``, one per row) is below ``sample_rate``. The allowed rows are kept too."""
    if store == "all":
        return None
    if store == "allowed":
        return np.zeros(len(sample_draws), dtype=bool)
    return sample_draws < sample_rate


def sampled_flags(store: str, kept_allowed: np.ndarray) -> np.ndarray:
    """The ``sampled`` flag of the kept rows, given whether each passed: a rejected row that only
    the random sample of store = "allowed+sample" kept."""
    return ~kept_allowed if store == SAMPLED_STORE else np.zeros(len(kept_allowed), dtype=bool)


def with_row_keys(point_ids: np.ndarray, weights: np.ndarray, sampled: np.ndarray, evaluated: pa.Table) -> pa.Table:
    """``point_id`` + ``evaluated``'s columns + ``sampled`` + ``weight``, row for row."""
    table = evaluated.add_column(0, POINT_ID_FIELD, pa.array(point_ids, type=pa.uint64()))
    table = table.append_column(SAMPLED_FIELD, pa.array(sampled))
    return table.append_column(WEIGHT_FIELD, pa.array(weights, type=pa.float64()))
