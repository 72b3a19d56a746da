"""The kernel's vectorisable exp and log against glibc (via numpy) and against 50-digit values."""
from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from dsscan.physics.kernel import exp_simd, log_simd


# Compiled like the kernel (error_model="numpy", unsigned indices), so that these loops vectorise and
# the tests see the SIMD code; not cached, since a cache would keep an inlined old exp_simd/log_simd.
@njit(error_model="numpy")
def _exp_all(x, out):
    for i in range(np.uint64(0), np.uint64(x.shape[0])):  # a vectorised loop, as in the kernel
        out[i] = exp_simd(x[i])


@njit(error_model="numpy")
def _log_all(x, out):
    for i in range(np.uint64(0), np.uint64(x.shape[0])):
        out[i] = log_simd(x[i])


def ulps(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) / np.spacing(np.abs(expected))


def test_exp_is_within_one_ulp_of_libm_over_its_range():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-707, 707, 200_000), rng.uniform(-1, 1, 100_000), [0.0, 1e-300, -1e-300, 0.5 * math.log(2)]])
    out = np.empty_like(x)
    _exp_all(x, out)
    assert ulps(out, np.exp(x)).max() <= 1.0


def test_log_is_within_one_ulp_of_libm_for_positive_normal_floats():
    rng = np.random.default_rng(2)
    x = np.concatenate([
        10.0 ** rng.uniform(-307, 308, 200_000),
        1 + rng.uniform(-1e-3, 1e-3, 100_000),  # near 1, where ln x is small
        [1.0, 2.0, math.sqrt(2), math.sqrt(2) * (1 + 2**-52), 2.2250738585072014e-308, 1.7976931348623157e308],
    ])
    out = np.empty_like(x)
    _log_all(x, out)
    expected = np.log(x)
    nonzero = expected != 0
    assert ulps(out[nonzero], expected[nonzero]).max() <= 1.0
    assert np.all(out[~nonzero] == 0.0)


@pytest.mark.parametrize("seed", [3, 4])
def test_exp_and_log_against_50_digit_values(seed):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rng = np.random.default_rng(seed)
    x = rng.uniform(-100, 20, 500)
    y = 10.0 ** rng.uniform(-10, 3, 500)
    exp_out, log_out = np.empty_like(x), np.empty_like(y)
    _exp_all(x, exp_out)
    _log_all(y, log_out)
    exact_exp = np.array([float(mpmath.exp(mpmath.mpf(float(v)))) for v in x])
    exact_log = np.array([float(mpmath.log(mpmath.mpf(float(v)))) for v in y])
    assert ulps(exp_out, exact_exp).max() <= 1.0
    assert ulps(log_out, exact_log).max() <= 1.0


@njit(error_model="numpy")
def _exp_log_one(x):
    return exp_simd(x), log_simd(x)


def test_simd_lanes_and_scalar_calls_give_the_same_bits():
    x = np.random.default_rng(6).uniform(0.001, 50.0, 4099)
    exp_out, log_out = np.empty_like(x), np.empty_like(x)
    _exp_all(x, exp_out)
    _log_all(x, log_out)
    scalar = np.array([_exp_log_one(v) for v in x])
    np.testing.assert_array_equal(exp_out.view(np.uint64), scalar[:, 0].view(np.uint64))
    np.testing.assert_array_equal(log_out.view(np.uint64), scalar[:, 1].view(np.uint64))


def test_the_test_loops_are_vectorised():
    """Otherwise the tests above would check only the scalar code."""
    x = np.ones(64)
    _exp_all(x, np.empty_like(x))
    _log_all(x, np.empty_like(x))
    for loop in (_exp_all, _log_all):
        assert "vector.body" in "\n".join(loop.inspect_llvm().values()), loop  # LLVM's vectorised loop
