"""The plan: chunk i comes from (seed, i) alone, samplers stay inside open ranges, ties hold."""
from __future__ import annotations

import math

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


def splitmix64_bits(key: int, j: int) -> int:
    """Output j of SplitMix64 with state ``key``, in Python integers (Steele, Lea, Flood 2014; the
    constants of Java's SplittableRandom): the reference of the compiled loops."""
    mask = 2**64 - 1
    z = (key + (j + 1) * 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def splitmix64(key: int, j: int) -> float:
    """Output j of SplitMix64 as a double in [0, 1): its top 53 bits times 2^-53."""
    return (splitmix64_bits(key, j) >> 11) / 2**53


def test_uniform_sampler_is_splitmix64_of_the_point_id():
    from dsscan.samplers import STREAM_POINTS, stream_key

    dims, start, count = 5, 1_000_003, 40
    cube = unit_cube("uniform", dims, start, count, 2024, np.random.default_rng())
    key = int(stream_key(2024, STREAM_POINTS))
    expected = [[splitmix64(key, (start + i) * dims + a) for a in range(dims)] for i in range(count)]
    assert cube.tolist() == expected


def test_uniform_points_do_not_depend_on_the_chunk_size(spec_for):
    small, large = spec_for(chunk_size=250, points=1000), spec_for(chunk_size=1000, points=1000)
    whole = chunk_points(large, 0)
    for index in range(4):
        part = chunk_points(small, index)
        for name, column in part.items():
            np.testing.assert_array_equal(column, whole[name][index * 250 : (index + 1) * 250], err_msg=name)


def test_uniform_sampler_draws_and_maps_in_one_pass_as_to_range_of_the_unit_cube():
    from dsscan.samplers import uniform_in_ranges

    settings = [Ranged(0.0, 2.0), Ranged(1e-5, 1e-1, "log"), Ranged(-0.5, 0.0), Ranged(10.0, 150.0)]
    mapped = uniform_in_ranges(7, 123, 5000, settings)
    cube = unit_cube("uniform", len(settings), 123, 5000, 7, np.random.default_rng())
    for column, setting in enumerate(settings):
        np.testing.assert_array_equal(mapped[column], to_range(cube[:, column], setting))


def test_uniform_sampler_is_uniform_and_its_coordinates_independent():
    """Kolmogorov-Smirnov per coordinate and the correlation of neighbouring coordinates and points
    on 10^6 points: SplitMix64 passes BigCrush, so these only catch a wrong constant or shift."""
    from scipy.stats import kstest

    cube = unit_cube("uniform", 4, 0, 250_000, 99, np.random.default_rng())
    for column in cube.T:
        assert kstest(column, "uniform").pvalue > 1e-4
    flat = np.ascontiguousarray(cube).ravel()
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 5 / np.sqrt(len(flat))
    assert abs(np.corrcoef(cube[:-1, 0], cube[1:, 0])[0, 1]) < 5 / np.sqrt(len(cube))


def test_storage_draws_are_a_stream_of_their_own_keyed_by_point_id(spec_for):
    from dsscan.plan import storage_draws
    from dsscan.samplers import STREAM_STORAGE, stream_key

    spec = spec_for(chunk_size=250, points=1000)
    key = int(stream_key(spec.seed, STREAM_STORAGE))
    draws = storage_draws(spec, 300, 7)
    assert draws.tolist() == [splitmix64(key, 300 + i) for i in range(7)]
    assert not np.array_equal(draws, unit_cube("uniform", 1, 300, 7, spec.seed, np.random.default_rng())[:, 0])


def ziggurat_reference(key: int, count: int) -> list[float]:
    """Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5 (2000) 8) written out plainly on the outputs
    of ``splitmix64_bits``: the strip from the low 8 bits, the sign from bit 8, the abscissa from the
    top 53; the tail beyond R by Marsaglia's (1964) method."""
    from dsscan.samplers import ZIGGURAT_F as f, ZIGGURAT_X as x

    values, j = [], 0
    while len(values) < count:
        bits = splitmix64_bits(key, j)
        j += 1
        strip, sign = bits & 255, -1.0 if (bits >> 8) & 1 == 0 else 1.0
        value = (bits >> 11) / 2**53 * x[strip]
        if value >= x[strip + 1]:
            if strip == 0:
                while True:
                    beyond = -math.log(1.0 - splitmix64(key, j)) / x[1]
                    height = -2.0 * math.log(1.0 - splitmix64(key, j + 1))
                    j += 2
                    if height > beyond * beyond:
                        break
                value = x[1] + beyond
            else:
                height = f[strip] + splitmix64(key, j) * (f[strip + 1] - f[strip])
                j += 1
                if height >= math.exp(-0.5 * value * value):
                    continue  # outside the curve: a new strip and abscissa
        values.append(sign * value)
    return values


def test_normals_are_the_ziggurat_on_splitmix64():
    """The compiled generator against the plain reference, over 20,000 normals: about 240 of them
    go through a strip's overhang, and some through the tail (the only way beyond R)."""
    from dsscan.samplers import ZIGGURAT_R, splitmix_normals

    key = 0x1234_5678_9ABC_DEF0
    drawn = splitmix_normals(np.uint64(key), (4, 5000))
    np.testing.assert_allclose(drawn.ravel(), ziggurat_reference(key, 20_000), rtol=1e-15, atol=0)
    assert np.count_nonzero(np.abs(drawn) > ZIGGURAT_R) >= 2


def test_ziggurat_strips_have_equal_areas():
    """Every strip (a rectangle x_i by f(x_{i+1}) - f(x_i); the base one, x_0 by f(R), with the tail
    beyond R) has the same area, the last one up to f(0) = 1 included: R closes the recursion."""
    from scipy.stats import norm

    from dsscan.samplers import ZIGGURAT_F as f, ZIGGURAT_X as x

    area = x[1] * f[1] + np.sqrt(2 * np.pi) * norm.sf(x[1])
    assert x[0] * f[1] == pytest.approx(area, rel=1e-14)
    np.testing.assert_allclose(x[1:-1] * (f[2:] - f[1:-1]), area, rtol=1e-12)


def test_normals_follow_the_normal_distribution():
    """Counts of 10^7 normals in 200 bins of [-5, 5] and the two tails against Phi (chi^2), and the
    share beyond R, where the tail method takes over; a wrong table, strip or sign bit fails these."""
    from scipy.stats import chi2, norm

    from dsscan.samplers import ZIGGURAT_R, splitmix_normals

    drawn = splitmix_normals(np.uint64(2024), (10_000_000,))
    edges = np.concatenate([[-np.inf], np.linspace(-5, 5, 201), [np.inf]])
    expected = np.diff(norm.cdf(edges)) * drawn.size
    observed = np.histogram(drawn, edges)[0]
    statistic = ((observed - expected) ** 2 / expected).sum()
    assert chi2.sf(statistic, len(edges) - 2) > 1e-4
    beyond = np.count_nonzero(np.abs(drawn) > ZIGGURAT_R)
    expected_beyond = 2 * norm.sf(ZIGGURAT_R) * drawn.size
    assert abs(beyond - expected_beyond) < 5 * np.sqrt(expected_beyond)
    assert abs(drawn.mean()) < 5 / np.sqrt(drawn.size)
