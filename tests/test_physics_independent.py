"""The reference's analytic pieces against independent computations: an explicit Dirac trace, the
Dalitz-plot area, a closed form of the g-2 loop integral, and the Feynman-parameter form of A_1/2."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from dsscan.inputs import load_inputs
from dsscan.physics import reference

INP = load_inputs()

# --- K+ -> mu+ nu S: spin-summed |M|^2 from 4x4 Dirac matrices -------------------------------
PAULI = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
ZERO2, ONE2, ONE4 = np.zeros((2, 2)), np.eye(2), np.eye(4)
GAMMA0 = np.block([[ONE2, ZERO2], [ZERO2, -ONE2]]).astype(complex)  # Dirac representation
GAMMA = [np.block([[ZERO2, s], [-s, ZERO2]]).astype(complex) for s in PAULI]
GAMMA5 = 1j * GAMMA0 @ GAMMA[0] @ GAMMA[1] @ GAMMA[2]


def slash(p: np.ndarray) -> np.ndarray:
    """gamma^mu p_mu with metric (+, -, -, -)."""
    return GAMMA0 * p[0] - sum(g * c for g, c in zip(GAMMA, p[1:]))


def minkowski(a: np.ndarray, b: np.ndarray) -> float:
    return a[0] * b[0] - a[1:] @ b[1:]


def two_body(M: float, m1: float, m2: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Momenta of M -> m1 m2 at rest, in a random direction."""
    p = math.sqrt((M * M - (m1 + m2) ** 2) * (M * M - (m1 - m2) ** 2)) / (2 * M)
    cos, phi = rng.uniform(-1, 1), rng.uniform(0, 2 * math.pi)
    n = np.array([math.sqrt(1 - cos * cos) * math.cos(phi), math.sqrt(1 - cos * cos) * math.sin(phi), cos])
    return np.array([math.hypot(p, m1), *(p * n)]), np.array([math.hypot(p, m2), *(-p * n)])


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    b2 = beta @ beta
    g = 1 / math.sqrt(1 - b2)
    bp = beta @ p[1:]
    return np.array([g * (p[0] + bp), *(p[1:] + ((g - 1) * bp / b2 + g * p[0]) * beta)])


@pytest.mark.parametrize("m_S", [0.011, 0.140, 0.2791])
def test_kmunuS_squared_amplitude_is_the_dirac_trace(m_S):
    """sum |M|^2 = (G_F^2/2) |V_us f_K y|^2 Tr[p_nu pK (1-g5) X (1+g5) pK] / D^2, X = (-Q+m)(p_mu-m)(-Q+m)."""
    m_K, m_mu = INP.m_Kp, INP.m_mu
    rng = np.random.default_rng(20240215)
    for _ in range(20):
        s1 = rng.uniform((m_mu + m_S) ** 2, m_K**2)
        p_muS, p_nu = two_body(m_K, math.sqrt(s1), 0.0, rng)
        mu_rest, k_rest = two_body(math.sqrt(s1), m_mu, m_S, rng)
        beta = p_muS[1:] / p_muS[0]
        p_mu, k = boost(mu_rest, beta), boost(k_rest, beta)
        p_K, Q = p_mu + k + p_nu, p_mu + k
        assert minkowski(p_K, p_K) == pytest.approx(m_K**2, rel=1e-12)
        propagator = -slash(Q) + m_mu * ONE4
        X = propagator @ (slash(p_mu) - m_mu * ONE4) @ propagator
        trace = np.trace(slash(p_nu) @ slash(p_K) @ (ONE4 - GAMMA5) @ X @ (ONE4 + GAMMA5) @ slash(p_K))
        assert abs(trace.imag) < 1e-12 * abs(trace.real)
        expected = trace.real / 2 / (minkowski(Q, Q) - m_mu**2) ** 2
        s2 = minkowski(p_nu + k, p_nu + k)
        assert reference.kmunuS_squared_amplitude(s1, s2, m_K, m_mu, m_S) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("m_S", [0.140, 0.2791])
def test_kmunuS_phase_space_is_the_dalitz_area(monkeypatch, m_S):
    """With |M|^2 = 1 the width is the Dalitz area / (256 pi^3 m_K^3); the area is the integral over s1 of
    lambda^1/2(m_K^2, s1, 0) lambda^1/2(s1, m_mu^2, m_S^2) / s1 (PDG kinematics review, eq. 49.22)."""
    monkeypatch.setattr(reference, "kmunuS_squared_amplitude", lambda *args: 1.0)
    m_K, m_mu = INP.m_Kp, INP.m_mu
    area, _ = integrate.quad(
        lambda s1: (m_K**2 - s1) * math.sqrt(reference.kallen(s1, m_mu**2, m_S**2)) / s1,
        (m_mu + m_S) ** 2, m_K**2, epsrel=1e-12,
    )
    assert reference.kmunuS_reduced_width(m_S, INP) == pytest.approx(area / (256 * math.pi**3 * m_K**3), rel=1e-8)


# --- one-loop g-2 integral ---------------------------------------------------------------------
def g2_integral_closed_form(r: float) -> float:
    """I(r) = int_0^1 x^2 (2-x) / (x^2 - r x + r) dx (x = 1 - z) integrated by hand, at 50 digits:
    polynomial division leaves 3/2 - r + (a/2) ln(1/r) + c J, a = r(3-r), c = -r(2-r) + a r/2,
    J = int_0^1 dx / (x^2 - r x + r)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(50):
        r = mp.mpf(r)
        a = r * (3 - r)
        c = -r * (2 - r) + a * r / 2
        if r < 4:
            q = mp.sqrt(4 * r - r * r)
            J = 2 / q * (mp.atan((2 - r) / q) + mp.atan(r / q))
        elif r > 4:
            d = mp.sqrt(r * r - 4 * r)
            x_plus, x_minus = (r + d) / 2, (r - d) / 2
            J = (mp.log((x_plus - 1) / (x_minus - 1)) - mp.log(x_plus / x_minus)) / (x_plus - x_minus)
        else:
            J = mp.mpf(1) / 2
        return float(mp.mpf(3) / 2 - r + a / 2 * mp.log(1 / r) + c * J)


# m_S/m_l over the domain: muon 0.0097 ... 2.64, electron 1.0 ... 546
@pytest.mark.parametrize("r", [1e-8, 9.4e-5, 0.01, 0.5, 1.0, 3.99, 4.0, 4.01, 7.0, 100.0, 1e4, 2.98e5])
def test_g2_integral_matches_its_closed_form(r):
    assert reference.g2_one_loop_integral(r) == pytest.approx(g2_integral_closed_form(r), rel=1e-11)


def test_g2_integral_limits():
    """Light scalar: I -> 3/2 (the approach goes as sqrt(r); 1e-8 is below the domain's smallest r, 9.4e-5).
    Heavy scalar: I -> (ln r - 7/6) / r (Leveille 1978), at the electron's largest r in the domain."""
    assert reference.g2_one_loop_integral(1e-8) == pytest.approx(1.5, rel=1e-3)
    r = 2.98e5
    assert reference.g2_one_loop_integral(r) == pytest.approx((math.log(r) - 7 / 6) / r, rel=1e-4)


# --- A_1/2 fermion loop --------------------------------------------------------------------------
def A_half_feynman(tau: float) -> complex:
    """A_1/2 = 4 int dx dy (1 - 4xy) / (1 - 4 tau xy - i0) over the triangle; the y integral done by hand:
    A = 2/tau - (1 - 1/tau)/tau int_0^1 Log(1 - 4 tau x(1-x) - i0) dx / x, whose imaginary part, where
    the argument is negative (x- < x < x+), is pi (1 - 1/tau)/tau ln(x+/x-)."""
    def log_abs(x: float) -> float:
        return math.log(abs(1 - 4 * tau * x * (1 - x))) / x if x > 0 else -4 * tau

    imag = 0.0
    points = None
    if tau > 1:
        root = math.sqrt(1 - 1 / tau)
        x_minus, x_plus = 1 / (2 * tau * (1 + root)), (1 + root) / 2  # x- without cancellation
        points = [x_minus, x_plus]
        imag = math.pi * (1 - 1 / tau) / tau * math.log(x_plus / x_minus)
    integral, _ = integrate.quad(log_abs, 0, 1, points=points, epsabs=0, epsrel=1e-13, limit=500)
    return complex(2 / tau - (1 - 1 / tau) / tau * integral, imag)


@pytest.mark.parametrize("tau", [1e-2, 0.3, 0.9, 0.999, 1.001, 1.5, 10.0, 1e3, 1e5])
def test_A_half_matches_its_feynman_parameter_form(tau):
    assert reference.loop_A_half(tau) == pytest.approx(A_half_feynman(tau), rel=1e-9)


def test_A_half_limits_and_continuity():
    """4/3 for a heavy fermion; continuous at the threshold tau = 1 (value 2) and at the switch to the
    Taylor series at tau = 1e-3."""
    assert reference.loop_A_half(0.0) == 4 / 3
    assert reference.loop_A_half(1e-9) == pytest.approx(4 / 3, rel=1e-9)
    assert reference.loop_A_half(1.0) == pytest.approx(2.0, rel=1e-15)
    for eps in (1e-12, 1e-9):
        assert reference.loop_A_half(1 - eps) == pytest.approx(2.0, abs=1e-4)
        assert reference.loop_A_half(1 + eps) == pytest.approx(2.0, abs=1e-4)
    switch = 1e-3
    below, at = reference.loop_A_half(float(np.nextafter(switch, 0))), reference.loop_A_half(switch)
    assert below == pytest.approx(at, rel=1e-12)
    assert reference.loop_A_half(0.999e-3) == pytest.approx(A_half_feynman(0.999e-3), rel=1e-9)
