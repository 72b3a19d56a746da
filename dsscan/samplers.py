"""Samplers: points of the open unit cube, mapped onto the config's ranges with their priors.

Every sampler is a function of the scan seed and the chunk alone, so any worker can regenerate
any chunk:

- ``uniform``: independent uniform draws from the chunk's own random generator;
- ``sobol``: one scrambled Sobol' sequence for the whole scan (seeded by the scan seed),
  fast-forwarded to the chunk's first point, so the union of the chunks is that one sequence;
- ``lhs``: a Latin hypercube over each chunk, drawn from the chunk's random generator.

(``list`` draws nothing: its points are rows of a file, ``dsscan.points_file``.)

Mapped values lie strictly inside (low, high): a range [0, 0.006] never yields exactly 0.
"""
from __future__ import annotations

import warnings

import numpy as np

from dsscan.config import SOBOL_MAX_POINTS, Ranged

SOBOL_BITS = SOBOL_MAX_POINTS.bit_length() - 1


def _uniform(dims: int, start: int, count: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    return rng.random((count, dims))


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


def to_range(unit: np.ndarray, setting: Ranged) -> np.ndarray:
    """Map [0, 1) onto the open interval (low, high) with the setting's prior."""
    if setting.prior == "log":
        log_low, log_high = np.log(setting.low), np.log(setting.high)
        values = np.exp(log_low + (log_high - log_low) * unit)
    else:
        values = setting.low + (setting.high - setting.low) * unit
    inside_low = np.nextafter(setting.low, setting.high)
    inside_high = np.nextafter(setting.high, setting.low)
    return np.clip(values, inside_low, inside_high)
