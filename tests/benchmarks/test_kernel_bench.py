"""pytest-benchmark twins of ``dsscan bench`` (run with --benchmark-enable to get timings).

In the normal suite (--benchmark-disable) each runs once, so the benchmarked code stays tested.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

import dsscan
from dsscan.bench import sample_points
from dsscan.config import load_config
from dsscan.physics.reference import evaluate_reference


BATCH = 200_000
REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def points():
    return sample_points(load_config(REPO / "configs" / "datta2024.toml"), BATCH)


def test_bench_evaluate_with_verdicts(benchmark, points):
    table = benchmark(dsscan.evaluate, points, "datta2024")
    assert table.num_rows == BATCH
    assert table.column("allowed").null_count == 0


def test_bench_reference_without_scattering(benchmark, points):
    few = {k: v[:50] for k, v in points.items()}
    out = benchmark(evaluate_reference, few)
    assert np.all(np.isfinite(out["BR_Bp_Kpnunu"]))
