"""The upscattering reference (dsscan.physics.scattering): kinematics, the Helm form factor, the cross
sections against DarkNews 0.4.8 (an independent implementation, dev dependency), and the dark-Z'
denominators against the numbers of physics.md section 9."""
from __future__ import annotations

import hashlib
import math
import pathlib
from importlib import resources

import numpy as np
import pytest
from scipy import special

from dsscan.inputs import load_inputs
from dsscan.physics import scattering as sc
from dsscan.physics import scattering_tables as st

CM2 = sc.cm2_in_GeV_minus2()  # 1 cm^2 in GeV^-2
FLUX_DIR = pathlib.Path(str(resources.files("dsscan").joinpath("data/miniboone-flux-2009")))

# physics.md section 9: sigma_Z' x BR(Z' -> ee) at CHARM-II, 1e-40 cm^2, by m_nu4 in GeV
CHARM2_DENOMINATORS = {0.401: 2.7204, 0.413: 2.7132, 0.443: 2.6926, 0.462: 2.6773, 0.514: 2.6260}
CHARM2_QUOTED_REL = 5e-5 / 2.6  # half a unit in the last quoted digit
DARKNEWS_REL = 1e-6  # the tolerance for the cross-checks against DarkNews


# --- data ------------------------------------------------------------------------------------
def test_flux_file_hash_is_the_documented_one():
    digest = hashlib.sha256((FLUX_DIR / "MiniBooNE_FHC.dat").read_bytes()).hexdigest()
    assert digest in (FLUX_DIR / "README.md").read_text()
    assert sc.load_miniboone_flux().sha256 == digest


def test_flux_file_is_darknews_copy():
    pytest.importorskip("DarkNews")
    shipped = resources.files("DarkNews.include.fluxes").joinpath("MiniBooNE_FHC.dat").read_bytes()
    assert (FLUX_DIR / "MiniBooNE_FHC.dat").read_bytes() == shipped


def test_flux_is_the_numu_column():
    flux = sc.load_miniboone_flux()
    assert len(flux.energy) == 200
    assert flux.energy[0] == pytest.approx(0.025) and flux.energy[-1] == pytest.approx(9.975)
    assert np.all(np.diff(flux.energy) == pytest.approx(0.05))
    assert flux.density.max() == pytest.approx(4.584e-10)  # nu_mu peaks at 4.584e-10 /cm^2/POT/GeV near 575 MeV
    assert flux.support_max == pytest.approx(7.175)


# --- Helm form factor and kinematics -----------------------------------------------------------
def test_j1_over_x_matches_scipy_including_small_x():
    x = np.geomspace(1e-8, 50.0, 2001)
    expected = special.spherical_jn(1, x) / x
    assert np.allclose(sc.j1_over_x(x), expected, rtol=1e-12, atol=1e-15)
    assert sc.j1_over_x(1e-3) == pytest.approx(1 / 3, rel=1e-6)  # the float path


def test_helm_form_factor_normalised_with_lewin_smith_radius():
    A = 12.0
    R_n, s = sc.helm_radii(A)
    hbar_c_fm = load_inputs().hbar_c * 1e12  # GeV fm
    c = 1.23 * A ** (1 / 3) - 0.60
    assert R_n * hbar_c_fm == pytest.approx(math.sqrt(c * c + 7 / 3 * math.pi**2 * 0.52**2 - 5 * 0.9**2), rel=1e-12)
    assert sc.helm_form_factor(np.array([1e-14]), A)[0] == pytest.approx(1.0, abs=1e-12)
    q2_zero = sc.helm_first_zero_q2(A)
    assert abs(sc.helm_form_factor(q2_zero, A)) < 1e-12


@pytest.mark.parametrize("E, m_nu4, M", [(0.05, 0.00103, 11.17), (1.0, 0.0011, 0.938), (20.0, 0.00103, 19.28),
                                         (1.0, 0.42, 11.17), (7.0, 1.0, 0.938), (20.0, 0.5, 19.28)])
def test_q2_limits_against_50_digit_arithmetic(E, m_nu4, M):
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        E_, m_, M_ = mpmath.mpf(E), mpmath.mpf(m_nu4), mpmath.mpf(M)
        s = M_**2 + 2 * M_ * E_
        p1 = (s - M_**2) / (2 * mpmath.sqrt(s))
        E3 = (s + m_**2 - M_**2) / (2 * mpmath.sqrt(s))
        p3 = mpmath.sqrt(E3**2 - m_**2)
        exact_lo, exact_hi = float(2 * p1 * (E3 - p3) - m_**2), float(2 * p1 * (E3 + p3) - m_**2)
    lo, hi = sc.q2_limits(E, m_nu4, M)
    assert lo == pytest.approx(exact_lo, rel=1e-13)
    assert hi == pytest.approx(exact_hi, rel=1e-13)


@pytest.mark.parametrize("m_nu4, M", [(0.00103, 11.17), (0.42, 11.17), (1.0, 0.938), (0.5, 19.28)])
def test_minimum_energy_inverts_q2_limits(m_nu4, M):
    E = sc.threshold_energy(m_nu4, M) * np.array([1.0001, 1.1, 2.0, 10.0, 100.0])
    for q2 in sc.q2_limits(E, m_nu4, M):
        assert np.allclose(sc.minimum_energy(q2, m_nu4, M), E, rtol=1e-9)
    assert sc.minimum_energy(sc.q2_limits(E, m_nu4, M)[0] * 0.5, m_nu4, M)[0] > E[0]


def test_nucleon_coupling_with_universal_eta_is_the_higgs_nucleon_coupling():
    """eta_q = 1 for all quarks: C_N = (m_N/v)(2/9 + 7/9 sum_q f_q), the SVZ Higgs-nucleon coupling."""
    inp = load_inputs()
    C_p, C_n = sc.nucleon_couplings(1.0, 1.0, 1.0, 1.0)
    assert C_p == pytest.approx(inp.m_p / inp.v * (2 / 9 + 7 / 9 * (inp.f_u_p + inp.f_d_p + inp.f_s_N)), rel=1e-14)
    assert C_n == pytest.approx(inp.m_n / inp.v * (2 / 9 + 7 / 9 * (inp.f_u_n + inp.f_d_n + inp.f_s_N)), rel=1e-14)


def test_zprime_branching_ratio_is_physics_md_value():
    assert round(sc.zprime_branching_ee(sc.load_scattering_inputs().zprime_U_mu4_sq_miniboone), 5) == 0.99949


# --- cross-checks against DarkNews ------------------------------------------------------------
@pytest.fixture(scope="module")
def darknews():
    dn = pytest.importorskip("DarkNews")
    from DarkNews import amplitudes, model, nuclear_tools, pdg, processes

    return dn, amplitudes, model, nuclear_tools, pdg, processes


def darknews_dsigma_dQ2(darknews, proc_by_helicity, E, Q2, diagram):
    """DarkNews's dsigma/dQ^2 (cm^2/GeV^2) summed over the nu_4 helicities (Dirac nu_4), with the correct
    Mandelstam u = 2M^2 + m^2 - s + Q^2. (DarkNews 0.4.8's UpscatteringProcess.diff_xsec_Q2 writes m
    for m^2 in u, which the scalar amplitude never reads but the vector one does, so it is bypassed.)"""
    amplitudes = darknews[1]
    total = 0.0
    for proc in proc_by_helicity:
        M, m = proc.target.mass, proc.m_ups
        s = M * M + 2 * M * E
        u = 2 * M * M + m * m - s + Q2
        total = total + amplitudes.upscattering_dxsec_dQ2([s, -Q2, u], proc, diagrams=[diagram])
    return total


def darknews_processes(darknews, model_obj, target_obj, regime="coherent"):
    processes, pdg = darknews[5], darknews[4]
    return [processes.UpscatteringProcess(pdg.numu, model_obj.neutrino4, target_obj, regime, model_obj, h)
            for h in ("conserving", "flipping")]


def physical_q2(E, m_nu4, M, n=9):
    lo, hi = sc.q2_limits(E, m_nu4, M)
    return np.geomspace(lo * 1.0001, hi * 0.9999, n)


@pytest.mark.parametrize("target_name", ["C12", "H1"])
@pytest.mark.parametrize("E", [0.6, 1.0, 3.0, 20.0])
def test_scalar_dsigma_matches_darknews(darknews, target_name, E):
    """physics.md section 9's scalar dsigma/dQ^2 vs DarkNews's Dirac scalar amplitude, with DarkNews's own
    form factor value passed in (its Fourier-Bessel 12C charge form factor, its dipole for H1)."""
    model, nuclear_tools = darknews[2], darknews[3]
    m_nu4, m_S, y, C_p, C_n = 0.43, 0.12, 3e-3, 2.1e-3, 1.7e-3
    bsm = model.GenericHNLModel(m4=m_nu4, mhprime=m_S, s_mu4=y, dprotonS=C_p, dneutronS=C_n, HNLtype="dirac")
    target = nuclear_tools.NuclearTarget(target_name)
    procs = darknews_processes(darknews, bsm, target)
    M, Q2 = target.mass, physical_q2(E, m_nu4, target.mass)
    C = target.Z * C_p + target.N * C_n
    ours = y**2 * C**2 * sc.dsigma_dQ2_scalar(E, Q2, m_nu4, m_S, M, target.F1_EM(Q2)) / CM2
    theirs = darknews_dsigma_dQ2(darknews, procs, E, Q2, "Scalar_SQR")
    assert np.allclose(ours, theirs, rtol=DARKNEWS_REL, atol=0)


def zprime_model(darknews, m_nu4, U_mu4_sq):
    model = darknews[2]
    return model.GenericHNLModel(
        m4=m_nu4, mzprime=sc.load_scattering_inputs().zprime_mass, HNLtype="dirac",
        d_mu4=math.sqrt(sc.zprime_lepton_coupling_sq(U_mu4_sq)),
        dprotonV=math.sqrt(sc.zprime_charge_coupling_sq()), dneutronV=0.0,
    )


@pytest.mark.parametrize("target_name", ["C12", "H1"])
@pytest.mark.parametrize("E", [0.6, 1.0, 3.0])
def test_zprime_dsigma_spin_half_matches_darknews(darknews, target_name, E):
    """The spin-1/2 Z' cross section vs DarkNews's Dirac kinetic-mixing amplitude with F2 = 0 (DarkNews
    has no Pauli term on nuclei; on H1 its dipole F2 is switched off to compare the same physics)."""
    nuclear_tools = darknews[3]
    m_nu4, U2 = 0.42, 9e-7
    target = nuclear_tools.NuclearTarget(target_name)
    target.F2_EM = lambda Q2: 0.0 * Q2
    procs = darknews_processes(darknews, zprime_model(darknews, m_nu4, U2), target)
    M, Q2 = target.mass, physical_q2(E, m_nu4, target.mass)
    couplings = sc.zprime_lepton_coupling_sq(U2) * sc.zprime_charge_coupling_sq() * target.Z**2
    m_V = sc.load_scattering_inputs().zprime_mass
    ours = couplings * sc.dsigma_dQ2_vector_nucleon(E, Q2, m_nu4, m_V, M, target.F1_EM(Q2)) / CM2
    theirs = darknews_dsigma_dQ2(darknews, procs, E, Q2, "KinMix_SQR")
    assert np.allclose(ours, theirs, rtol=DARKNEWS_REL, atol=0)


def glass_like_darknews_target(darknews):
    """A DarkNews nucleus made into CHARM-II's effective glass nucleus: its mass, Z and our Helm form factor."""
    glass = sc.targets()["glass"]
    target = darknews[3].NuclearTarget("Ne20")
    target.mass, target.Z, target.N = glass.mass, glass.protons, glass.neutrons
    target.F1_EM = glass.form_factor
    return target


@pytest.mark.parametrize("m_nu4", [0.401, 0.514, 0.9])
def test_charm2_denominator_matches_darknews_amplitude(darknews, m_nu4):
    """D_CH2 (spin-0 formula, adaptive quadrature) vs DarkNews's amplitude (spin 1/2, F2 = 0) on the same
    glass nucleus and couplings, integrated over the tables' Gauss rule: the spin difference is
    ~m^4/(16 M^2 E^2) < 1e-7 at 20 GeV."""
    s = sc.load_scattering_inputs()
    U2 = s.zprime_U_mu4_charm2**2
    procs = darknews_processes(darknews, zprime_model(darknews, m_nu4, U2), glass_like_darknews_target(darknews))
    q2, w = st.charm2_rule(m_nu4, s.zprime_mass)
    theirs = np.sum(w * darknews_dsigma_dQ2(darknews, procs, s.charm2_E_nu, q2, "KinMix_SQR")) * CM2
    assert sc.denominator_charm2(m_nu4) == pytest.approx(theirs * sc.zprime_branching_ee(U2), rel=DARKNEWS_REL)


@pytest.mark.slow
def test_miniboone_denominator_matches_darknews_amplitude(darknews):
    """D_MB recomputed (spin-0 12C + spin-1/2 point protons, adaptive) vs the same recipe with DarkNews's
    Dirac kinetic-mixing amplitude (12C treated as spin 1/2) over the flux: they differ only by the
    12C spin, (2Q^2 - m^2)(m^2 + Q^2) in the bracket: 6e-6 of the total at BNB energies."""
    s, flux = sc.load_scattering_inputs(), sc.load_miniboone_flux()
    m_N, U2 = s.zprime_m_N_miniboone, s.zprime_U_mu4_sq_miniboone
    bsm = zprime_model(darknews, m_N, U2)
    c12 = darknews[3].NuclearTarget("C12")
    c12.mass, c12.F1_EM = sc.targets()["C12"].mass, sc.targets()["C12"].form_factor
    h1 = darknews[3].NuclearTarget("H1")
    h1.mass, h1.F1_EM, h1.F2_EM = load_inputs().m_p, (lambda Q2: np.ones_like(Q2)), (lambda Q2: 0.0 * Q2)
    x, wx = np.polynomial.legendre.leggauss(6)
    per_CH2 = 0.0
    for target, multiplicity in ((c12, 1.0), (h1, s.miniboone_protons_per_CH2)):
        procs = darknews_processes(darknews, bsm, target)
        E_th = sc.threshold_energy(m_N, target.mass)
        for a, b in zip(flux.energy[:-1], flux.energy[1:]):
            a = max(a, E_th)
            if a >= b:
                continue
            for E, wE in zip(a + (b - a) * (x + 1) / 2, (b - a) / 2 * wx):
                q2, w = st.log_q2_rule(*sc.q2_limits(E, m_N, target.mass), [s.zprime_mass**2, m_N**2])
                sigma = np.sum(w * darknews_dsigma_dQ2(darknews, procs, E, q2, "KinMix_SQR")) * CM2
                per_CH2 += multiplicity * wE * flux(E) * sigma / flux.integral
    theirs = per_CH2 * sc.zprime_branching_ee(U2)
    assert sc.denominator_miniboone_recomputed() == pytest.approx(theirs, rel=2e-5)


# --- the denominators against physics.md section 9 -----------------------------------------------
@pytest.mark.parametrize("m_nu4, expected", CHARM2_DENOMINATORS.items())
def test_charm2_denominators_reproduce_physics_md(m_nu4, expected):
    assert sc.denominator_charm2(m_nu4) / CM2 == pytest.approx(expected * 1e-40, rel=CHARM2_QUOTED_REL)
    assert st.charm2_denominator(m_nu4) == pytest.approx(sc.denominator_charm2(m_nu4), rel=1e-9)


@pytest.mark.slow
def test_miniboone_denominator_recomputed_against_shipped_value():
    """Recompute D_MB with this recipe's conventions and compare with the shipped 3.8305e-40 cm^2.

    The recipe (Helm 12C as a spin-0 nucleus, 8 point-like Dirac protons, g_h = e eps Z, the same
    conventions that reproduce the five CHARM-II denominators to 1e-5) gives 3.778e-40 cm^2, 1.4 %
    below the shipped number. Variants tried, with the DarkNews amplitude, none reproduce 3.832e-40
    for <sigma_Z'>: DarkNews's Fourier-Bessel 12C and dipole F1, F2 protons give 3.706 (3.849 with
    DarkNews 0.4.8's own Z' couplings, whose g_weak != e/s_W makes them 1.9 % larger); Helm with a
    point proton carrying its anomalous moment, 3.812; a restricted 0.1-9 GeV flux, +2 %. So the
    shipped value is kept (R uses it), and the recomputation is held to the 2 % that separates these
    conventions.
    """
    recomputed = sc.denominator_miniboone_recomputed() / CM2
    shipped = sc.denominator_miniboone() / CM2
    print(f"\nD_MB recomputed {recomputed:.5e} cm^2, shipped {shipped:.5e} cm^2, ratio {recomputed / shipped:.4f}")
    assert recomputed == pytest.approx(shipped, rel=0.02)
