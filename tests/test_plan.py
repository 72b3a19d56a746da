"""The plan: chunk i comes from (seed, i) alone, samplers stay inside open ranges, ties hold."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from conftest import config_doc
from dsscan.config import Ranged, load_config
from dsscan.plan import POINT_ID, chunk, chunk_points, chunks
from dsscan.samplers import UNIT_CUBE_SAMPLERS, to_range, unit_cube

SAMPLERS = sorted(UNIT_CUBE_SAMPLERS)


@pytest.fixture
def spec_for(write_config):
    def make(**scan):
        return load_config(write_config(config_doc(scan=scan, parameters={"eta_c": {"same_as": "eta_t"}})))

    return make


def test_chunks_cover_every_point_once(spec_for):
    spec = spec_for(points=600, chunk_size=250)
    parts = chunks(spec)
    assert [(c.index, c.start, c.size) for c in parts] == [(0, 0, 250), (1, 250, 250), (2, 500, 100)]
    ids = np.concatenate([c.point_ids for c in parts])
    assert ids.dtype == np.uint64 and np.array_equal(ids, np.arange(600, dtype=np.uint64))
    with pytest.raises(ValueError, match="outside the plan"):
        chunk(spec, 3)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_a_chunk_depends_on_seed_and_index_alone(sampler, spec_for):
    spec = spec_for(sampler=sampler)
    again = spec_for(sampler=sampler, points=10_000)  # a longer plan with the same chunk size
    first, second = chunk_points(spec, 1), chunk_points(again, 1)
    for name in first:
        assert np.array_equal(first[name], second[name]), name
    other_chunk, other_seed = chunk_points(spec, 0), chunk_points(spec_for(sampler=sampler, seed=8), 1)
    assert not np.array_equal(first["m_S_MeV"], other_chunk["m_S_MeV"])
    assert not np.array_equal(first["m_S_MeV"], other_seed["m_S_MeV"])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_points_lie_inside_their_ranges_and_ties_hold(sampler, spec_for):
    spec = spec_for(sampler=sampler)
    points = chunk_points(spec, 0)
    assert points[POINT_ID].tolist() == list(range(spec.chunk_size))
    for name, setting in spec.parameters.items():
        if isinstance(setting, Ranged):
            assert (points[name] > setting.low).all() and (points[name] < setting.high).all(), name
    assert np.array_equal(points["eta_c"], points["eta_t"])
    assert (points["eta_u"] == 0.0).all()


def test_sobol_chunks_are_slices_of_one_sequence():
    whole = unit_cube("sobol", 3, 0, 600, 11, np.random.default_rng())
    parts = [unit_cube("sobol", 3, start, 200, 11, np.random.default_rng()) for start in (0, 200, 400)]
    assert np.array_equal(whole, np.concatenate(parts))


def test_latin_hypercube_stratifies_each_chunk():
    count = 97
    cube = unit_cube("lhs", 4, 0, count, 1, np.random.default_rng(5))
    for column in cube.T:
        assert sorted(np.floor(column * count).astype(int)) == list(range(count))


def test_log_prior_is_uniform_in_the_logarithm():
    unit = np.random.default_rng(3).random(20_000)
    values = to_range(unit, Ranged(1e-5, 1e-3, "log"))
    below_geometric_mean = np.mean(values < 1e-4)
    assert below_geometric_mean == pytest.approx(0.5, abs=0.02)


@given(
    low=st.floats(-1e3, 1e3, allow_nan=False),
    width=st.floats(1e-9, 1e3),
    unit=st.sampled_from([0.0, 0.5, np.nextafter(1.0, 0.0)]),
    log=st.booleans(),
)
def test_ranges_are_open_even_at_the_cube_edges(low, width, unit, log):
    high = low + width
    assume(high > low and not (log and low <= 0))
    value = to_range(np.array([unit]), Ranged(low, high, "log" if log else "uniform"))[0]
    assert low < value < high
