"""The nine parameters of a model point (physics.md section 1) and the supported domain.

Users give kappa in TeV^-1 and masses in MeV; ``to_kernel_units`` converts once to GeV.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsscan.inputs import load_inputs, to_natural


@dataclass(frozen=True)
class Parameter:
    name: str
    unit: str
    description: str


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("kappa_TeV", "TeV^-1", "S-photon-photon coupling kappa (L = -kappa/4 S F F)"),
    Parameter("eta_d", "1", "Yukawa scale of S to d, s, b and to e, mu, tau"),
    Parameter("eta_u", "1", "Yukawa scale of S to the u quark"),
    Parameter("eta_c", "1", "Yukawa scale of S to the c quark"),
    Parameter("eta_t", "1", "Yukawa scale of S to the t quark"),
    Parameter("g_D", "1", "S coupling to the sterile Dirac neutrino nu_D"),
    Parameter("U_mu4", "1", "active-sterile mixing |U_mu4| (U_e4 = U_tau4 = 0)"),
    Parameter("m_S_MeV", "MeV", "scalar mass"),
    Parameter("m_nu4_MeV", "MeV", "sterile (Dirac) neutrino mass"),
)
PARAMETER_NAMES: tuple[str, ...] = tuple(p.name for p in PARAMETERS)


def domain_limits() -> dict[str, float]:
    """Edges of the supported domain in user units (MeV), derived from the physics inputs."""
    inp = load_inputs()
    per_MeV = to_natural(1.0, "MeV")
    return {
        "m_S_min_MeV": 2 * inp.m_e / per_MeV,
        "m_S_max_MeV": 2 * inp.m_pip / per_MeV,
        "m_nu4_max_MeV": inp.m_nu4_max / per_MeV,
        "U_mu4_min": inp.U_mu4_min,
        "g_D_min": inp.g_D_min,
    }


def domain_conditions(points: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray, str]]:
    """Each condition of the supported domain as (parameter, mask of the points breaking it, what
    is expected), in the order ``check_domain`` reports them."""
    lim = domain_limits()
    conditions = [(name, ~np.isfinite(points[name]), "a finite number") for name in PARAMETER_NAMES]
    u, m_S, m4 = points["U_mu4"], points["m_S_MeV"], points["m_nu4_MeV"]
    MeV = to_natural(1.0, "MeV")  # m_S < m_nu4 compared in GeV, the units the kernel computes in
    conditions += [
        ("kappa_TeV", points["kappa_TeV"] < 0, "kappa_TeV >= 0"),
        ("eta_d", points["eta_d"] < 0, "eta_d >= 0"),
        ("g_D", points["g_D"] < lim["g_D_min"], f"g_D >= {lim['g_D_min']:g} (S and nu4 must decay)"),
        ("U_mu4", (u < lim["U_mu4_min"]) | (u >= 1), f"{lim['U_mu4_min']:g} <= U_mu4 < 1"),
        (
            "m_S_MeV", (m_S <= lim["m_S_min_MeV"]) | (m_S > lim["m_S_max_MeV"]),
            f"2 m_e = {lim['m_S_min_MeV']:.6g} < m_S_MeV <= 2 m_pi = {lim['m_S_max_MeV']:.6g}",
        ),
        (
            "m_nu4_MeV", (m4 * MeV <= m_S * MeV) | (m4 > lim["m_nu4_max_MeV"]),
            f"m_S_MeV < m_nu4_MeV <= {lim['m_nu4_max_MeV']:.6g}",
        ),
    ]
    return conditions


def inside_domain(points: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of the points inside the supported domain (those ``check_domain`` accepts)."""
    return ~np.logical_or.reduce([bad for _, bad, _ in domain_conditions(points)])


def check_domain(points: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming the first parameter and value outside the supported domain."""
    for name, bad, expected in domain_conditions(points):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} = {float(points[name][i])!r} (point {i}) is outside the supported domain: expected {expected}"
            )
