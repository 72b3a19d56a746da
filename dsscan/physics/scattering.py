"""Neutrino-nucleus upscattering nu_mu + target -> nu_4 + target: the slow, readable reference.

This is the oracle for the MiniBooNE and CHARM-II ratios (physics.md sections 5 and 9): every
cross section is integrated over Q^2 (and over the BNB flux) with adaptive quadrature, one mass
point at a time. The fast path (``dsscan.physics.scattering_tables``) tabulates the same unit-coupling
integrals on a grid and is tested against the functions here.

Natural units: GeV for energies and masses, cross sections in GeV^-2 (lengths in the inputs are mm,
so an area in mm^2 is sigma[GeV^-2] * hbar_c^2). Inputs come from ``dsscan/data/scattering.toml``
(the recipe's numbers, each cited), ``dsscan/data/inputs.toml`` (masses, v, sigma terms) and the flux
file ``dsscan/data/miniboone-flux-2009/MiniBooNE_FHC.dat``.

Papers: "000" = Datta, Kamali, Marfatia, arXiv:2005.08920; "001" = Datta, Marfatia, Mukherjee,
arXiv:2310.15136.
"""
from __future__ import annotations

import functools
import hashlib
import io
import math
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import numpy as np

from dsscan.inputs import Inputs, load_inputs, parse_inputs, to_natural

PI = math.pi
FLUX_FILE = "data/miniboone-flux-2009/MiniBooNE_FHC.dat"
FLUX_NUMU_COLUMN = 2  # columns: E, nu_e, nu_mu, nu_tau, nubar_e, nubar_mu, nubar_tau (see the folder's README)
QUAD_EPSREL = 1e-8  # relative tolerance of every adaptive quadrature in this module


@functools.cache
def load_scattering_inputs() -> Inputs:
    """The recast recipe's inputs (``dsscan/data/scattering.toml``), parsed like ``inputs.toml``."""
    return parse_inputs(resources.files("dsscan").joinpath("data/scattering.toml").read_bytes())


def cm2_in_GeV_minus2() -> float:
    """1 cm^2 in GeV^-2: 100 mm^2 / (hbar c)^2 with hbar c in GeV mm, i.e. 1 / 0.3893794e-27."""
    return to_natural(1.0, "cm^2") / load_inputs().hbar_c ** 2


# --- targets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A scattering centre: a whole nucleus (coherent, Helm form factor, spin 0) or a free nucleon
    (point-like, spin 1/2, no form factor: physics.md section 9). ``protons``/``neutrons`` give the
    scalar coupling C = Z C_p + (A - Z) C_n (paper 000 eq. 15) and the electric charge Z."""

    name: str
    mass: float  # GeV
    protons: float
    neutrons: float
    is_nucleus: bool

    @property
    def mass_number(self) -> float:
        return self.protons + self.neutrons

    def form_factor(self, Q2):
        """F(Q^2): Helm for a nucleus, 1 for a nucleon."""
        if self.is_nucleus:
            return helm_form_factor(Q2, self.mass_number)
        return np.ones_like(Q2)

    def q2_scales(self) -> tuple[float, ...]:
        """Where F changes shape (the Helm first zero); none for a nucleon."""
        return (helm_first_zero_q2(self.mass_number),) if self.is_nucleus else ()

    def scalar_coupling(self, C_p: float, C_n: float) -> float:
        """C_N = Z C_p + (A - Z) C_n (paper 000 eq. 15)."""
        return self.protons * C_p + self.neutrons * C_n


@functools.cache
def targets() -> dict[str, Target]:
    """The four targets of the recipe: 12C, p and n of MiniBooNE's CH2, and CHARM-II's glass nucleus."""
    inp, recipe = load_inputs(), load_scattering_inputs()
    glass_neutrons = recipe.charm2_A - recipe.charm2_Z
    return {
        "C12": Target("C12", recipe.m_C12, recipe.Z_C12, recipe.A_C12 - recipe.Z_C12, True),
        "p": Target("p", inp.m_p, 1.0, 0.0, False),
        "n": Target("n", inp.m_n, 0.0, 1.0, False),
        "glass": Target("glass", recipe.charm2_A * recipe.atomic_mass_unit, recipe.charm2_Z, glass_neutrons, True),
    }


def miniboone_multiplicities() -> dict[str, float]:
    """Scattering centres per CH2 unit: coherent 12C once, 8 protons and 6 neutrons (physics.md section 9)."""
    recipe = load_scattering_inputs()
    return {"C12": 1.0, "p": recipe.miniboone_protons_per_CH2, "n": recipe.miniboone_neutrons_per_CH2}


@functools.cache
def helm_radii(mass_number: float) -> tuple[float, float]:
    """(R_n, s) of the Helm form factor in GeV^-1: R_n^2 = c^2 + 7 pi^2 a^2 / 3 - 5 s^2,
    c = 1.23 A^(1/3) - 0.60 fm, a = 0.52 fm, s = 0.9 fm (Lewin & Smith, Astropart. Phys. 6 (1996) 87,
    section 4.3), converted from fm with hbar c."""
    recipe, hbar_c = load_scattering_inputs(), load_inputs().hbar_c
    c = recipe.helm_c_slope * mass_number ** (1 / 3) - recipe.helm_c_offset
    R_n = math.sqrt(c * c + 7 * PI**2 * recipe.helm_a**2 / 3 - 5 * recipe.helm_s**2)
    return R_n / hbar_c, recipe.helm_s / hbar_c


J1_SERIES_BELOW = 0.05  # below this x, sin x - x cos x cancels and j1(x)/x uses its Taylor series


def j1_over_x(x):
    """Spherical Bessel j1(x)/x = (sin x - x cos x)/x^3; below x = 0.05, where the difference cancels,
    its Taylor series 1/3 - x^2/30 + x^4/840 - x^6/45360 (truncation < 1e-17). Takes a float (the
    quadrature path: scipy's spherical_jn costs ~70 us per scalar call) or an array."""

    def series(x):
        x2 = x * x
        return 1 / 3 - x2 * (1 / 30 - x2 * (1 / 840 - x2 / 45360))

    def exact(x):
        return (np.sin(x) - x * np.cos(x)) / (x * x * x)

    if isinstance(x, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x < J1_SERIES_BELOW, series(x), exact(x))
    return series(x) if x < J1_SERIES_BELOW else exact(x)


def helm_form_factor(Q2, mass_number: float):
    """Helm form factor F(q) = 3 j1(q R_n)/(q R_n) exp(-q^2 s^2 / 2), q = sqrt(Q^2) in GeV
    (Lewin & Smith eq. 4.7; Helm, Phys. Rev. 104 (1956) 1466, paper 000 ref. [45])."""
    R_n, s = helm_radii(mass_number)
    return 3 * j1_over_x(np.sqrt(Q2) * R_n) * np.exp(-Q2 * s * s / 2)


@functools.cache
def helm_first_zero_q2(mass_number: float) -> float:
    """Q^2 of the first zero of F, where j1(q R_n) = 0: a break point for the quadrature."""
    from scipy import optimize, special  # the reference quadrature's: `dsscan tables path` starts without scipy

    x0 = optimize.brentq(lambda x: special.spherical_jn(1, x), PI, 1.5 * PI, xtol=1e-15)
    return (x0 / helm_radii(mass_number)[0]) ** 2


# --- kinematics of nu(E) + target(M, at rest) -> nu_4(m) + target ------------------------------
def threshold_energy(m_nu4: float, M: float) -> float:
    """E_th = m_nu4 + m_nu4^2 / (2 M) (physics.md section 9)."""
    return m_nu4 + m_nu4 * m_nu4 / (2 * M)


def q2_limits(E, m_nu4: float, M: float):
    """(Q^2_min, Q^2_max) at neutrino energy E >= E_th (physics.md section 9).

    s = M^2 + 2ME, p1 = (s - M^2)/(2 sqrt s), E3 = (s + m^2 - M^2)/(2 sqrt s), p3 = sqrt(E3^2 - m^2),
    Q^2_max = 2 p1 (E3 + p3) - m^2. For Q^2_min = 2 p1 (E3 - p3) - m^2 physics.md writes
    2 p1 m^2/(E3 + p3) - m^2, which still subtracts m^2 from a nearly equal number (Q^2_min ~ m^4/4E^2
    for m << E). With a = 2 p1 - E3 = (s - M^2 - m^2)/(2 sqrt s) and a^2 - p3^2 = m^2 M^2 / s,
    Q^2_min = m^2 (a - p3)/(E3 + p3) = m^4 M^2 / (s (a + p3)(E3 + p3)), free of cancellations.
    """
    m2 = m_nu4 * m_nu4
    s = M * M + 2 * M * E
    rs = np.sqrt(s)
    p1 = (s - M * M) / (2 * rs)
    E3 = (s + m2 - M * M) / (2 * rs)
    p3 = np.sqrt(np.maximum(E3 * E3 - m2, 0.0))
    a = (s - M * M - m2) / (2 * rs)
    return m2 * m2 * M * M / (s * (a + p3) * (E3 + p3)), 2 * p1 * (E3 + p3) - m2


def minimum_energy(Q2, m_nu4: float, M: float):
    """The lowest neutrino energy at which momentum transfer Q^2 is reachable (inverse of ``q2_limits``).

    With recoil T = Q^2/(2M) and recoil momentum p_N = sqrt(T^2 + Q^2), momentum conservation needs
    p3 >= |E - p_N| with p3^2 = (E - T)^2 - m^2, i.e. 2E (p_N - T) >= m^2 + Q^2:
    E_min = (m^2 + Q^2)(p_N + T) / (2 Q^2). Q^2 is physical at E iff E >= E_min(Q^2).
    """
    T = Q2 / (2 * M)
    return (m_nu4 * m_nu4 + Q2) * (np.sqrt(T * T + Q2) + T) / (2 * Q2)


# --- differential cross sections at unit couplings (GeV^-4) ------------------------------------
def scalar_q2_shape(Q2, m_nu4: float, M: float, F):
    """E^2 (m_S^2 + Q^2)^2 dsigma/dQ^2 of scalar exchange at unit couplings: (4M^2 + Q^2)(m^2 + Q^2) F^2 / (64 pi M^2).
    Independent of E and m_S, which is what makes the tables cheap (``scattering_tables``)."""
    return (4 * M * M + Q2) * (m_nu4 * m_nu4 + Q2) * F * F / (64 * PI * M * M)


def dsigma_dQ2_scalar(E, Q2, m_nu4: float, m_S: float, M: float, F):
    """Scalar exchange, lepton coupling y = 1 and target coupling C = 1 (GeV^-4):

    dsigma/dQ^2 = (4M^2 + Q^2)(m^2 + Q^2) F^2 / (64 pi M^2 E^2 (m_S^2 + Q^2)^2),
    paper 000 eq. (17) with Q^2 = 2MT (physics.md section 9); multiply by y^2 C^2.
    """
    return scalar_q2_shape(Q2, m_nu4, M, F) / (E * E * (m_S * m_S + Q2) ** 2)


def dsigma_dQ2_vector_nucleus(E, Q2, m_nu4: float, m_V: float, M: float, F):
    """Vector exchange on a spin-0 nucleus, lepton coupling g_l = 1 and nucleus coupling g_h = 1 (GeV^-4):

    dsigma/dQ^2 = [4 (k1.Pt)^2 - (4M^2 + Q^2)(m^2 + Q^2)] F^2 / (64 pi M^2 E^2 (Q^2 + m_V^2)^2),
    Pt = P + P', k1.Pt = 2ME - (m^2 + Q^2)/2 (physics.md section 9, which calls this k1.P): the chiral
    lepton tensor 2[k1 k3 + k3 k1 - g k1.k3] contracted with Pt Pt, using k3.Pt = k1.Pt.
    Multiply by g_l^2 g_h^2 (g_h = e eps Z for a kinetically mixed Z').
    """
    k1_Pt = 2 * M * E - (m_nu4 * m_nu4 + Q2) / 2
    bracket = 4 * k1_Pt * k1_Pt - (4 * M * M + Q2) * (m_nu4 * m_nu4 + Q2)
    return bracket * F * F / (64 * PI * M * M * E * E * (Q2 + m_V * m_V) ** 2)


def dsigma_dQ2_vector_nucleon(E, Q2, m_nu4: float, m_V: float, M: float, F1):
    """Vector exchange on a spin-1/2 target with Dirac form factor F1 (no Pauli term), unit couplings.

    The spin-averaged hadron tensor (1/2) Tr[(P'+M) g^mu (P+M) g^nu] = Pt^mu Pt^nu - q^mu q^nu - g^munu Q^2
    adds (2Q^2 - m^2)(m^2 + Q^2) to the spin-0 bracket of ``dsigma_dQ2_vector_nucleus``:
    bracket = 4 (k1.Pt)^2 - (4M^2 + m^2 - Q^2)(m^2 + Q^2). This is DarkNews 0.4.8's Dirac
    kinetic-mixing amplitude (amplitudes.py, Lmunu_Hmunu_KinMix_SQR) with F2 = 0, summed over the nu_4
    helicities; on a heavy nucleus the two brackets differ by ~m^4 / (16 M^2 E^2).
    """
    k1_Pt = 2 * M * E - (m_nu4 * m_nu4 + Q2) / 2
    bracket = 4 * k1_Pt * k1_Pt - (4 * M * M + m_nu4 * m_nu4 - Q2) * (m_nu4 * m_nu4 + Q2)
    return bracket * F1 * F1 / (64 * PI * M * M * E * E * (Q2 + m_V * m_V) ** 2)


# --- the BNB flux ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Flux:
    """nu_mu flux at bin centres, linearly interpolated, zero outside the first and last centre."""

    energy: np.ndarray  # GeV, bin centres
    density: np.ndarray  # nu / cm^2 / POT / GeV (the normalisation cancels in every average)
    sha256: str

    def __call__(self, E):
        return np.interp(E, self.energy, self.density, left=0.0, right=0.0)

    @property
    def integral(self) -> float:
        """Integral of the interpolant: the trapezoid rule over the bin centres is exact."""
        return float(np.trapezoid(self.density, self.energy))

    @property
    def support_max(self) -> float:
        """Highest energy with non-zero flux: the centre after the last non-zero bin."""
        last = int(np.flatnonzero(self.density)[-1])
        return float(self.energy[min(last + 1, len(self.energy) - 1)])


@functools.cache
def load_miniboone_flux() -> Flux:
    """BNB nu_mu flux in neutrino mode, MiniBooNE PRD 79, 072002 (2009), as shipped by DarkNews 0.4.8."""
    raw = resources.files("dsscan").joinpath(FLUX_FILE).read_bytes()
    table = np.loadtxt(io.BytesIO(raw))
    return Flux(
        energy=np.ascontiguousarray(table[:, 0]),
        density=np.ascontiguousarray(table[:, FLUX_NUMU_COLUMN]),
        sha256=hashlib.sha256(raw).hexdigest(),
    )


# --- adaptive quadrature: the oracle ---------------------------------------------------------
def integrate_over_q2(dsigma_dQ2: Callable[[float], float], E: float, m_nu4: float, M: float,
                      scales: tuple[float, ...] = ()) -> float:
    """sigma(E) = integral of dsigma/dQ^2 over [Q^2_min(E), Q^2_max(E)], adaptive (QUADPACK) in ln Q^2.

    ``scales`` are Q^2 values where the integrand changes shape (m_S^2, m^2, the form-factor scale);
    those inside the range become break points.
    """
    from scipy import integrate

    if E <= threshold_energy(m_nu4, M):
        return 0.0
    lo, hi = (math.log(x) for x in q2_limits(E, m_nu4, M))
    if not hi > lo:
        return 0.0
    points = sorted(math.log(q) for q in scales if lo < math.log(q) < hi)

    def integrand(ln_q2: float) -> float:
        Q2 = math.exp(ln_q2)
        return Q2 * dsigma_dQ2(Q2)

    value, _ = integrate.quad(integrand, lo, hi, points=points or None, epsabs=0.0, epsrel=QUAD_EPSREL, limit=400)
    return value


def flux_average(sigma_of_E: Callable[[float], float], E_threshold: float, flux: Flux) -> float:
    """<sigma> = int Phi sigma dE / int Phi dE, adaptive on each interval between flux bin centres
    (the interpolated flux is linear there, so each piece is smooth apart from the threshold)."""
    from scipy import integrate

    total = 0.0
    for E_lo, E_hi in zip(flux.energy[:-1], flux.energy[1:]):
        a = max(float(E_lo), E_threshold)
        if a >= E_hi:
            continue
        value, _ = integrate.quad(lambda E: float(flux(E)) * sigma_of_E(E), a, float(E_hi),
                                  epsabs=0.0, epsrel=QUAD_EPSREL, limit=200)
        total += value
    return total / flux.integral


# --- unit-coupling integrals I_target(m_S, m_nu4), GeV^-2 ------------------------------------
UNIT_INTEGRALS = ("MB_C12", "MB_p", "MB_n", "CH2")  # the tables' names: MiniBooNE targets, CHARM-II glass


def scalar_cross_section(target: Target, E: float, m_S: float, m_nu4: float) -> float:
    """sigma(E) of scalar upscattering on ``target`` at unit couplings (y = C = 1), GeV^-2."""
    M = target.mass
    return integrate_over_q2(
        lambda Q2: dsigma_dQ2_scalar(E, Q2, m_nu4, m_S, M, target.form_factor(Q2)),
        E, m_nu4, M, scales=(m_S * m_S, m_nu4 * m_nu4) + target.q2_scales(),
    )


def scalar_integral_miniboone(target: Target, m_S: float, m_nu4: float) -> float:
    """I_target = <sigma> over the BNB nu_mu flux at unit couplings, GeV^-2 (physics.md section 9)."""
    return flux_average(lambda E: scalar_cross_section(target, E, m_S, m_nu4),
                        threshold_energy(m_nu4, target.mass), load_miniboone_flux())


def scalar_integral_charm2(m_S: float, m_nu4: float) -> float:
    """I_glass = sigma(E = 20 GeV) on CHARM-II's effective glass nucleus at unit couplings, GeV^-2."""
    return scalar_cross_section(targets()["glass"], load_scattering_inputs().charm2_E_nu, m_S, m_nu4)


def unit_integrals(m_S: float, m_nu4: float) -> dict[str, float]:
    """All four I's of ``UNIT_INTEGRALS`` at one mass point (GeV), by adaptive quadrature."""
    t = targets()
    return {
        "MB_C12": scalar_integral_miniboone(t["C12"], m_S, m_nu4),
        "MB_p": scalar_integral_miniboone(t["p"], m_S, m_nu4),
        "MB_n": scalar_integral_miniboone(t["n"], m_S, m_nu4),
        "CH2": scalar_integral_charm2(m_S, m_nu4),
    }


# --- the dark-Z' denominators ------------------------------------------------------------------
def zprime_lepton_coupling_sq(U_mu4_sq: float) -> float:
    """g_l^2 of the nu_mu - N - Z' vertex: 4 pi alpha_D |U_mu4|^2 |U_D4|^4 with |U_D4|^2 = 1 - |U_mu4|^2
    (the Z' couples to nu_D = sum_i U_Di nu_i; the same mixing factor as the scalar's y)."""
    alpha_D = load_scattering_inputs().zprime_alpha_D
    return 4 * PI * alpha_D * U_mu4_sq * (1 - U_mu4_sq) ** 2


def zprime_charge_coupling_sq() -> float:
    """(e eps)^2 = 4 pi alpha eps^2 per unit charge; alpha(0) only defines eps and cancels here."""
    return 4 * PI * load_scattering_inputs().zprime_alpha_eps2


def zprime_branching_ee(U_mu4_sq: float) -> float:
    """BR(Z' -> e+e-) of the benchmark Z', which also decays to nu_mu nubar_mu (m_N > m_Z' closes Z' -> nu N):

    Gamma(ee) = (alpha eps^2 / 3) m_Z' (1 + 2 r) sqrt(1 - 4 r), r = m_e^2/m_Z'^2;
    Gamma(nu nubar) = alpha_D |U_mu4|^4 m_Z' / 6 (coupling g_D |U_mu4|^2 to one left-handed flavour).
    Gives 0.99949 at |U_mu4|^2 = 9e-7 (physics.md section 9).
    """
    recipe, m_e = load_scattering_inputs(), load_inputs().m_e
    m = recipe.zprime_mass
    r = (m_e / m) ** 2
    gamma_ee = recipe.zprime_alpha_eps2 * m / 3 * (1 + 2 * r) * math.sqrt(1 - 4 * r)
    gamma_nunu = recipe.zprime_alpha_D * U_mu4_sq**2 * m / 6
    return gamma_ee / (gamma_ee + gamma_nunu)


def zprime_cross_section(target: Target, E: float, m_N: float, U_mu4_sq: float) -> float:
    """sigma(E) of nu_mu + target -> N + target through the kinetically mixed Z', GeV^-2:
    spin-0 formula with F = Helm on a nucleus, spin-1/2 Dirac point particle on a proton,
    couplings g_l^2 (e eps Z)^2."""
    M, m_V = target.mass, load_scattering_inputs().zprime_mass
    dsigma = dsigma_dQ2_vector_nucleus if target.is_nucleus else dsigma_dQ2_vector_nucleon
    couplings = zprime_lepton_coupling_sq(U_mu4_sq) * zprime_charge_coupling_sq() * target.protons**2
    return couplings * integrate_over_q2(
        lambda Q2: dsigma(E, Q2, m_N, m_V, M, target.form_factor(Q2)),
        E, m_N, M, scales=(m_V * m_V, m_N * m_N) + target.q2_scales(),
    )


def denominator_charm2(m_nu4: float) -> float:
    """D_CH2(m_nu4) = sigma_Z'(20 GeV, glass) BR(Z' -> ee) at |U_mu4| = 1e-4 and m_N = m_nu4, GeV^-2
    (paper 001 eq. 8). Below m_nu4 = m_Z' the Z' model's signal (N -> nu Z') does not exist and the
    number is a formal continuation; the recast is meant for m_nu4 > 400 MeV."""
    recipe = load_scattering_inputs()
    U2 = recipe.zprime_U_mu4_charm2**2
    return zprime_cross_section(targets()["glass"], recipe.charm2_E_nu, m_nu4, U2) * zprime_branching_ee(U2)


def denominator_miniboone_recomputed() -> float:
    """D_MB from the Z' formulas: <sigma_Z'> per CH2 (coherent 12C + the 8 protons, neutrons carry no
    charge) over the BNB flux, times BR(Z' -> ee), GeV^-2. A check of the shipped ``D_miniboone``."""
    recipe, t, flux = load_scattering_inputs(), targets(), load_miniboone_flux()
    m_N, U2 = recipe.zprime_m_N_miniboone, recipe.zprime_U_mu4_sq_miniboone
    per_CH2 = 0.0
    for name in ("C12", "p"):
        target = t[name]
        per_CH2 += miniboone_multiplicities()[name] * flux_average(
            lambda E: zprime_cross_section(target, E, m_N, U2), threshold_energy(m_N, target.mass), flux)
    return per_CH2 * zprime_branching_ee(U2)


def denominator_miniboone() -> float:
    """The shipped D_MB (``scattering.toml`` D_miniboone, 3.8305e-40 cm^2) in GeV^-2."""
    return load_scattering_inputs().D_miniboone / load_inputs().hbar_c ** 2


# --- couplings and the ratios ------------------------------------------------------------------
def nucleon_couplings(eta_u: float, eta_d: float, eta_c: float, eta_t: float) -> tuple[float, float]:
    """(C_p, C_n) = (m_N / v) [eta_u f_u + eta_d (f_d + f_s) + (eta_c + eta_d + eta_t) f_Q],
    f_Q = (2/27)(1 - f_u - f_d - f_s), eta_b = eta_d (paper 000 eq. 16 with heavy quarks through the
    gluon, Shifman-Vainshtein-Zakharov; physics.md section 9)."""
    inp = load_inputs()

    def coupling(m: float, f_u: float, f_d: float) -> float:
        f_Q = 2 / 27 * (1 - f_u - f_d - inp.f_s_N)
        return m / inp.v * (eta_u * f_u + eta_d * (f_d + inp.f_s_N) + (eta_c + eta_d + eta_t) * f_Q)

    return coupling(inp.m_p, inp.f_u_p, inp.f_d_p), coupling(inp.m_n, inp.f_u_n, inp.f_d_n)


def lepton_coupling(g_D: float, U_mu4: float) -> float:
    """y = g_D |U_mu4| |U_D4|^2 = g_D |U_mu4| (1 - |U_mu4|^2), the S nubar_4 nu_mu vertex (paper 000 section IV)."""
    return g_D * U_mu4 * (1 - U_mu4 * U_mu4)


def ratios(y: float, BR_vis: float, C_p: float, C_n: float, I: dict[str, float],
           D_MB: float, D_CH2: float) -> tuple[float, float]:
    """(R_MB, R_CH2) = y^2 BR_vis sum_t (multiplicity C_t^2 I_t) / D (physics.md section 9):
    R_MB sums 12C (C = 6 C_p + 6 C_n), 8 protons and 6 neutrons over D_MB; R_CH2 uses the glass
    nucleus (C = 11 C_p + 9.7 C_n) over D_CH2(m_nu4). I and D in the same units."""
    t = targets()
    numerator_MB = sum(
        mult * t[name].scalar_coupling(C_p, C_n) ** 2 * I[f"MB_{name}"]
        for name, mult in miniboone_multiplicities().items()
    )
    numerator_CH2 = t["glass"].scalar_coupling(C_p, C_n) ** 2 * I["CH2"]
    scale = y * y * BR_vis
    return scale * numerator_MB / D_MB, scale * numerator_CH2 / D_CH2


def scattering_observables(point: dict[str, float]) -> dict[str, float]:
    """``R_miniboone`` and ``R_charm2`` of one point in user units (MeV), by direct integration.

    BR_vis = BR(S -> ee) + BR(S -> gamma gamma) from ``dsscan.physics.reference.observables``
    (paper 001 eqs. 7-8); D_MB is the shipped value, D_CH2 is computed at the point's m_nu4.
    """
    from dsscan.physics.reference import observables

    per_MeV = to_natural(1.0, "MeV")
    m_S, m_nu4 = point["m_S_MeV"] * per_MeV, point["m_nu4_MeV"] * per_MeV
    obs = observables(point)
    C_p, C_n = nucleon_couplings(point["eta_u"], point["eta_d"], point["eta_c"], point["eta_t"])
    R_MB, R_CH2 = ratios(
        lepton_coupling(point["g_D"], point["U_mu4"]), obs["BR_S_ee"] + obs["BR_S_gg"], C_p, C_n,
        unit_integrals(m_S, m_nu4), denominator_miniboone(), denominator_charm2(m_nu4),
    )
    return {"R_miniboone": R_MB, "R_charm2": R_CH2}
