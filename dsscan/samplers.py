"""Samplers: points of the open unit cube, mapped onto the config's ranges with their priors.

Every sampler is a function of the scan seed and the chunk alone, so any worker can regenerate
any chunk:

- ``uniform``: independent uniform draws, coordinate a of point j being output j * dims + a of a
  SplitMix64 generator keyed by the scan seed (``counter_uniform``): a function of (seed, point_id)
  alone, so a point does not depend on the chunk size, and compiled with the mapping onto the
  ranges: 8 coordinates cost a point about 6 ns, against 19 ns for numpy's Generator.random alone;
- ``sobol``: one scrambled Sobol' sequence for the whole scan (seeded by the scan seed),
  fast-forwarded to the chunk's first point, so the union of the chunks is that one sequence;
- ``lhs``: a Latin hypercube over each chunk, drawn from the chunk's random generator.

(``list`` draws nothing: its points are rows of a file, ``dsscan.points_file``.)

Mapped values lie strictly inside (low, high): a range [0, 0.006] never yields exactly 0.
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from dsscan.config import SOBOL_MAX_POINTS, Ranged
from dsscan.jit import njit

SOBOL_BITS = SOBOL_MAX_POINTS.bit_length() - 1

# SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014,
# the generator of Java's SplittableRandom; it passes TestU01's BigCrush): output j of the generator
# with state ``key`` is mix(key + (j + 1) * GOLDEN_GAMMA), a pure function of j, so any slice of the
# sequence is computed directly and the loop vectorises. A double is the top 53 bits times 2^-53.
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_MULTIPLIERS = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
MIX_SHIFTS = (np.uint64(30), np.uint64(27), np.uint64(31))
DOUBLE_SHIFT, DOUBLE_UNIT = np.uint64(11), 2.0**-53
STREAM_POINTS, STREAM_STORAGE = 0, 1  # the scan's independent counter streams (``stream_key``)


@njit(inline="always")
def _splitmix_bits(state):
    """SplitMix64's 64-bit output for the (already advanced) state."""
    m1, m2 = MIX_MULTIPLIERS
    s1, s2, s3 = MIX_SHIFTS
    z = (state ^ (state >> s1)) * m1
    z = (z ^ (z >> s2)) * m2
    return z ^ (z >> s3)


@njit(inline="always")
def _splitmix_double(state):
    """SplitMix64's output for the (already advanced) state, as a double in [0, 1) (converted
    through int64, exact below 2^53, which vectorises where uint64 does not)."""
    return np.int64(_splitmix_bits(state) >> DOUBLE_SHIFT) * DOUBLE_UNIT


@njit(inline="always")
def _in_range(u, offset, span, log_prior, inside_low, inside_high):
    """offset + span * u (exponentiated for a log prior), clipped into [inside_low, inside_high]."""
    v = offset + span * u
    if log_prior:
        v = math.exp(v)
    return min(max(v, inside_low), inside_high)


@njit(cache=True, nogil=True)
def _splitmix_in_ranges(key, first, stride, offset, span, log_prior, inside_low, inside_high, out):
    """out[a, j] = output first + j * stride + a of SplitMix64 mapped by range a (``_in_range``)."""
    for a in range(out.shape[0]):
        state = key + (first + np.uint64(a) + np.uint64(1)) * GOLDEN_GAMMA
        step = stride * GOLDEN_GAMMA
        o, w, lo, hi = offset[a], span[a], inside_low[a], inside_high[a]
        row = out[a]
        if log_prior[a]:
            for j in range(row.size):
                row[j] = _in_range(_splitmix_double(state), o, w, True, lo, hi)
                state += step
        else:
            for j in range(row.size):
                row[j] = _in_range(_splitmix_double(state), o, w, False, lo, hi)
                state += step


# Standard normal deviates by the ziggurat method (Marsaglia & Tsang, J. Stat. Softw. 5 (2000) 8),
# with 256 strips of equal area V under exp(-x^2/2) on x >= 0: strip 0 is the rectangle [0, R] x
# [0, f(R)] with the tail beyond R, strip i >= 1 the rectangle [0, x_i] x [f(x_i), f(x_{i+1})]. A
# strip is chosen, a point drawn uniformly in its rectangle, and kept when it lies under the curve.
# As Doornik (2005, "An improved ziggurat method to generate normal random samples") advises, the
# strip, the sign and the abscissa come from disjoint bits of one output (the low 8, bit 8, the top
# 53), not the same ones. R makes the top strip's area V (to 3e-15 with these tables).
ZIGGURAT_STRIPS = 256
ZIGGURAT_R = 3.6541528853610088  # Marsaglia & Tsang (2000), 256 strips


def _ziggurat_tables(strips: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """(x_i, f(x_i)) for i = 0 ... strips: x_0 = V / f(R) (the base strip's width with its tail),
    x_1 = R, f(x_{i+1}) = f(x_i) + V / x_i, x_strips = 0; f(x) = exp(-x^2 / 2)."""
    f_r = math.exp(-0.5 * r * r)
    area = r * f_r + math.sqrt(0.5 * math.pi) * math.erfc(r / math.sqrt(2.0))
    x = [area / f_r, r]
    for i in range(1, strips - 1):
        x.append(math.sqrt(-2.0 * math.log(math.exp(-0.5 * x[i] * x[i]) + area / x[i])))
    x.append(0.0)
    x = np.array(x)
    return x, np.exp(-0.5 * x * x)


ZIGGURAT_X, ZIGGURAT_F = _ziggurat_tables(ZIGGURAT_STRIPS, ZIGGURAT_R)
STRIP_MASK, SIGN_SHIFT = np.uint64(ZIGGURAT_STRIPS - 1), np.uint64(8)


@njit(cache=True, nogil=True)
def _splitmix_normals(key, x, f, out):
    """Fill ``out`` (contiguous) with standard normals from the SplitMix64 stream ``key``, in order;
    98.8 % of them take one output (about 4 ns a number here, against numpy's 11 in single precision)."""
    flat = out.ravel()
    state = key
    for i in range(flat.size):
        while True:
            state += GOLDEN_GAMMA
            bits = _splitmix_bits(state)
            strip = np.int64(bits & STRIP_MASK)
            value = np.int64(bits >> DOUBLE_SHIFT) * DOUBLE_UNIT * x[strip]
            if value < x[strip + 1]:  # inside the part of the strip wholly under the curve
                break
            if strip == 0:  # the tail beyond R (Marsaglia, Ann. Math. Stat. 35 (1964) 1375)
                while True:
                    state += GOLDEN_GAMMA
                    beyond = -math.log(1.0 - _splitmix_double(state)) / x[1]
                    state += GOLDEN_GAMMA
                    if -2.0 * math.log(1.0 - _splitmix_double(state)) > beyond * beyond:
                        break
                value = x[1] + beyond
                break
            state += GOLDEN_GAMMA  # the strip's overhang: a height drawn in it, against the curve
            if f[strip] + _splitmix_double(state) * (f[strip + 1] - f[strip]) < math.exp(-0.5 * value * value):
                break
        flat[i] = value if (bits >> SIGN_SHIFT) & np.uint64(1) else -value


def splitmix_normals(key: np.uint64, shape: tuple[int, ...]) -> np.ndarray:
    """An array of independent standard normals (float64), a function of the stream ``key`` alone."""
    out = np.empty(shape)
    _splitmix_normals(np.uint64(key), ZIGGURAT_X, ZIGGURAT_F, out)
    return out


@functools.lru_cache(maxsize=64)
def stream_key(seed: int, stream: int) -> np.uint64:
    """The 64-bit state of one of a scan's counter streams, mixed from (seed, stream) by SeedSequence."""
    return np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0]


def counter_uniform(key: np.uint64, first: int, count: int, dims: int = 1) -> np.ndarray:
    """A (count, dims) array whose element [j, a] is output (first + j) * dims + a of the counter
    stream ``key``, a double in [0, 1); stored column by column (Fortran order), so that each
    coordinate is one contiguous array."""
    return _counter_rows(key, first, count, _identity_maps(dims)).T


def _counter_rows(key: np.uint64, first: int, count: int, maps: tuple[np.ndarray, ...]) -> np.ndarray:
    """Row a, point j: output (first + j) * d + a of the counter stream ``key`` mapped by range a of
    ``maps`` (``_range_maps``; d = the number of ranges)."""
    dims = np.uint64(len(maps[0]))
    out = np.empty((len(maps[0]), count))
    _splitmix_in_ranges(np.uint64(key), np.uint64(first) * dims, dims, *maps, out)
    return out


@functools.lru_cache(maxsize=16)
def _identity_maps(dims: int) -> tuple[np.ndarray, ...]:
    """Range maps that leave [0, 1) as it is: 0 + 1 u, unclipped."""
    return np.zeros(dims), np.ones(dims), np.zeros(dims, dtype=np.bool_), np.full(dims, -np.inf), np.full(dims, np.inf)


def _uniform(dims: int, start: int, count: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    return counter_uniform(stream_key(seed, STREAM_POINTS), start, count, dims)


def _sobol(dims: int, start: int, count: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.stats import qmc  # here: importing scipy.stats takes a worker a second

    engine = qmc.Sobol(dims, scramble=True, bits=SOBOL_BITS, rng=seed)
    if start:  # scipy's fast_forward(0) raises instead of doing nothing
        engine.fast_forward(start)
    with warnings.catch_warnings():
        # A chunk is a slice of one long sequence; its balance is that of the whole scan.
        warnings.filterwarnings("ignore", message="The balance properties of Sobol", category=UserWarning)
        return engine.random(count)


def _lhs(dims: int, start: int, count: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.LatinHypercube(dims, rng=rng).random(count)


UNIT_CUBE_SAMPLERS = {"uniform": _uniform, "sobol": _sobol, "lhs": _lhs}


def unit_cube(sampler: str, dims: int, start: int, count: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points of [0, 1)^dims: the points ``start`` ... ``start + count - 1`` of a scan."""
    return UNIT_CUBE_SAMPLERS[sampler](dims, start, count, seed, rng)


@njit(cache=True, nogil=True)
def _to_range(unit, offset, span, log_prior, inside_low, inside_high, out):
    for i in range(unit.shape[0]):
        out[i] = _in_range(unit[i], offset, span, log_prior, inside_low, inside_high)


def _range_map(setting: Ranged) -> tuple[float, float, bool, float, float]:
    """(offset, span, log prior, lowest, highest value) that map [0, 1) onto the open (low, high)."""
    log_prior = setting.prior == "log"
    low, high = (math.log(setting.low), math.log(setting.high)) if log_prior else (setting.low, setting.high)
    return low, high - low, log_prior, math.nextafter(setting.low, setting.high), math.nextafter(setting.high, setting.low)


@functools.lru_cache(maxsize=64)
def _range_maps(settings: tuple[Ranged, ...]) -> tuple[np.ndarray, ...]:
    """``_range_map`` of each setting, as five arrays (one per quantity), computed once per scan."""
    return tuple(np.array(column) for column in zip(*map(_range_map, settings)))


def to_range(unit: np.ndarray, setting: Ranged) -> np.ndarray:
    """Map [0, 1) onto the open interval (low, high) with the setting's prior (a column of a
    unit-cube sample, strided or not, in one compiled pass)."""
    out = np.empty(len(unit))
    _to_range(np.asarray(unit, dtype=np.float64), *_range_map(setting), out)
    return out


def uniform_in_ranges(seed: int, start: int, count: int, settings: list[Ranged]) -> np.ndarray:
    """The uniform sampler's points ``start`` ... ``start + count - 1`` mapped onto ``settings``
    (the free parameters in order), one row per parameter: ``to_range`` of ``unit_cube("uniform", ...)``
    bit for bit, in one compiled pass without the unit-cube array."""
    return _counter_rows(stream_key(seed, STREAM_POINTS), start, count, _range_maps(tuple(settings)))
