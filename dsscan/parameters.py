"""The nine parameters of a model point (physics.md section 1) and the supported domain.

Users give kappa in TeV^-1 and masses in MeV; ``to_kernel_units`` converts once to GeV.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where arrays are handled: the command line names parameters without it
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
        "coupling_max": inp.coupling_max,
    }


# Codes of the domain conditions after the nine finiteness checks (codes 1 .. 9), in the order of
# ``domain_conditions``; 0 is inside the domain.
CODE_KAPPA, CODE_ETA_D, CODE_ETA_U, CODE_ETA_C, CODE_ETA_T, CODE_G_D, CODE_U_MU4, CODE_M_S, CODE_M_NU4 = range(
    len(PARAMETER_NAMES) + 1, len(PARAMETER_NAMES) + 10)


def domain_conditions() -> tuple[tuple[str, str], ...]:
    """The conditions of the supported domain as (parameter, what is expected), in the order
    ``domain_codes`` numbers them (from 1) and ``check_domain`` reports them."""
    lim = domain_limits()
    cap = f"{lim['coupling_max']:g} (where every observable is finite)"
    return tuple((name, "a finite number") for name in PARAMETER_NAMES) + (
        ("kappa_TeV", f"0 <= kappa_TeV <= {cap}"),
        ("eta_d", f"0 <= eta_d <= {cap}"),
        ("eta_u", f"|eta_u| <= {cap}"),
        ("eta_c", f"|eta_c| <= {cap}"),
        ("eta_t", f"|eta_t| <= {cap}"),
        ("g_D", f"{lim['g_D_min']:g} <= g_D (S and nu4 must decay) <= {cap}"),
        ("U_mu4", f"{lim['U_mu4_min']:g} <= U_mu4 < 1"),
        ("m_S_MeV", f"2 m_e = {lim['m_S_min_MeV']:.6g} < m_S_MeV <= 2 m_pi = {lim['m_S_max_MeV']:.6g}"),
        ("m_nu4_MeV", f"m_S_MeV < m_nu4_MeV <= {lim['m_nu4_max_MeV']:.6g}"),
    )


def readonly_float64(arrays) -> tuple[np.ndarray, ...]:
    """Contiguous float64 read-only views (copies only where needed): one numba type for all, whichever
    of them came writable from numpy and which read-only from Arrow."""
    import numpy as np

    views = []
    for a in arrays:
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.flags.c_contiguous and a.flags.aligned):
            a = np.require(a, np.float64, ["C", "A"])  # np.require alone costs a batch ~20 us
        view = a.view()
        view.flags.writeable = False
        views.append(view)
    return tuple(views)


def _domain_codes(params, coupling_max, g_D_min, U_mu4_min, m_S_min, m_S_max, m_nu4_max, MeV, codes):
    """codes[i] = 0 inside the domain, else 1 + the index of the first condition of
    ``domain_conditions`` that point i breaks (params: the nine arrays in PARAMETER_NAMES order).
    The conditions are applied last to first, each overwriting the code where it breaks, so the first
    broken one wins without a branch and the loop vectorises."""
    kappa, eta_d, eta_u, eta_c, eta_t = params[0], params[1], params[2], params[3], params[4]
    g_D, U, m_S, m4 = params[5], params[6], params[7], params[8]
    for i in range(codes.shape[0]):
        code = 0
        code = CODE_M_NU4 if (m4[i] * MeV <= m_S[i] * MeV) | (m4[i] > m_nu4_max) else code  # in GeV, the kernel's units
        code = CODE_M_S if (m_S[i] <= m_S_min) | (m_S[i] > m_S_max) else code
        code = CODE_U_MU4 if (U[i] < U_mu4_min) | (U[i] >= 1) else code
        code = CODE_G_D if (g_D[i] < g_D_min) | (g_D[i] > coupling_max) else code
        code = CODE_ETA_T if abs(eta_t[i]) > coupling_max else code
        code = CODE_ETA_C if abs(eta_c[i]) > coupling_max else code
        code = CODE_ETA_U if abs(eta_u[i]) > coupling_max else code
        code = CODE_ETA_D if (eta_d[i] < 0) | (eta_d[i] > coupling_max) else code
        code = CODE_KAPPA if (kappa[i] < 0) | (kappa[i] > coupling_max) else code
        for j in range(len(params) - 1, -1, -1):
            code = 1 + j if not math.isfinite(params[j][i]) else code
        codes[i] = code


@functools.cache
def _compiled_domain_codes():
    """``_domain_codes`` compiled by numba (from its disk cache once built), on first use: importing
    numba costs a command that evaluates nothing a third of a second."""
    from dsscan.jit import njit

    return njit(cache=True, nogil=True, error_model="numpy")(_domain_codes)


def domain_codes(points: dict[str, np.ndarray]) -> np.ndarray:
    """int8 per point: 0 inside the supported domain, else 1 + the first broken condition's index."""
    lim = _domain_limits()
    params = readonly_float64(points[name] for name in PARAMETER_NAMES)
    lengths = {name: len(a) for name, a in zip(PARAMETER_NAMES, params)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"parameter arrays differ in length: {lengths}")
    import numpy as np

    codes = np.empty(len(params[0]), dtype=np.int8)
    _compiled_domain_codes()(params, *lim, codes)
    return codes


@functools.cache
def _domain_limits() -> tuple[float, ...]:
    """``_domain_codes``'s limits, in its argument order, computed once per process."""
    lim = domain_limits()
    return (lim["coupling_max"], lim["g_D_min"], lim["U_mu4_min"], lim["m_S_min_MeV"], lim["m_S_max_MeV"],
            lim["m_nu4_max_MeV"], to_natural(1.0, "MeV"))


def inside_domain(points: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of the points inside the supported domain (those ``check_domain`` accepts)."""
    return domain_codes(points) == 0


def check_domain(points: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming the first point outside the supported domain, the first condition
    it breaks, and the value."""
    codes = domain_codes(points)
    if codes.any():
        i = int(codes.nonzero()[0][0])
        name, expected = domain_conditions()[codes[i] - 1]
        raise ValueError(
            f"{name} = {float(points[name][i])!r} (point {i}) is outside the supported domain: expected {expected}"
        )
