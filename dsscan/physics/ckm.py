"""The CKM matrix in the standard parametrisation, built from the Wolfenstein inputs.

PDG 2024 CKM review, eqs. (12.3)-(12.5): s12 = lambda, s23 = A lambda^2,
s13 e^{i delta} = A lambda^3 (rhobar + i etabar) sqrt(1 - A^2 lambda^4)
                  / (sqrt(1 - lambda^2) [1 - A^2 lambda^4 (rhobar + i etabar)]),
which is unitary to all orders in lambda.
"""
from __future__ import annotations

import math

import numpy as np

from dsscan.inputs import Inputs


def ckm_matrix(inp: Inputs) -> np.ndarray:
    """3x3 complex CKM matrix, rows (u, c, t), columns (d, s, b)."""
    lam, A, rho, eta = inp.ckm_lambda, inp.ckm_A, inp.ckm_rhobar, inp.ckm_etabar
    s12 = lam
    s23 = A * lam**2
    zbar = complex(rho, eta)
    s13e = A * lam**3 * zbar * math.sqrt(1 - A**2 * lam**4) / (
        math.sqrt(1 - lam**2) * (1 - A**2 * lam**4 * zbar)
    )
    s13 = abs(s13e)
    phase = s13e / s13  # e^{i delta}
    c12, c23, c13 = (math.sqrt(1 - s**2) for s in (s12, s23, s13))
    return np.array(
        [
            [c12 * c13, s12 * c13, s13 * phase.conjugate()],
            [-s12 * c23 - c12 * s23 * s13 * phase, c12 * c23 - s12 * s23 * s13 * phase, s23 * c13],
            [s12 * s23 - c12 * c23 * s13 * phase, -c12 * s23 - s12 * c23 * s13 * phase, c23 * c13],
        ],
        dtype=complex,
    )


def fcnc_coefficients(inp: Inputs) -> dict[str, complex]:
    """Coefficients with g_bs = eta_t C_bs_t + eta_c C_bs_c and g_sd = eta_t C_sd_t + eta_c C_sd_c.

    Paper 001 (arXiv:2310.15136) eqs. (5)-(6), with the 1/v restored in g_sd (physics.md section 3):
      g_bs = 3 sqrt2 G_F m_t^2 m_b / (16 pi^2 v) (eta_t V_tb V_ts* + eta_c x_c V_cb V_cs*)
      g_sd = 3 sqrt2 G_F m_t^2 m_s / (16 pi^2 v) (eta_t V_ts V_td* + eta_c x_c V_cs V_cd*)
    with x_c = m_c^2 / m_t^2: m_c = m_c(m_c) (MS-bar) and m_t the pole mass, both from inputs.toml; the
    cancellation Re g_sd = 0 sits at eta_c/eta_t = -(m_t^2/m_c^2) Re(V_ts V_td*)/Re(V_cs V_cd*) = -27.2.
    """
    V = ckm_matrix(inp)
    c, t = 1, 2
    d, s, b = 0, 1, 2
    x_c = inp.m_c**2 / inp.m_t**2
    common = 3 * math.sqrt(2) * inp.G_F * inp.m_t**2 / (16 * math.pi**2 * inp.v)
    return {
        "C_bs_t": common * inp.m_b * V[t, b] * V[t, s].conjugate(),
        "C_bs_c": common * inp.m_b * x_c * V[c, b] * V[c, s].conjugate(),
        "C_sd_t": common * inp.m_s * V[t, s] * V[t, d].conjugate(),
        "C_sd_c": common * inp.m_s * x_c * V[c, s] * V[c, d].conjugate(),
        "V_us_abs": abs(V[0, s]),
    }

