"""Invariants of physics.md section 7, by property-based tests over the whole supported domain.

Points are drawn over the domain of physics.md section 1 (thresholds and edges included) and a little
wider in the couplings than the papers scan. U_mu4 and g_D are drawn down to their domain floors
(``domain_limits``), and m_nu4 down to m_S (1 + 1e-12); ``test_physics_domain`` covers the edges.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsscan import evaluate
from dsscan.inputs import load_inputs, to_natural
from dsscan.parameters import PARAMETER_NAMES, domain_limits
from dsscan.physics import reference
from dsscan.schema import OBSERVABLES

INP = load_inputs()
MEV = to_natural(1.0, "MeV")
LIMITS = domain_limits()
M_S_MIN, M_S_MAX, M_NU4_MAX = LIMITS["m_S_min_MeV"], LIMITS["m_S_max_MeV"], LIMITS["m_nu4_max_MeV"]
TWO_M_MU = 2 * INP.m_mu / MEV

SCATTERING = ("R_miniboone", "R_charm2")  # tested with the scattering code
COMPUTED = tuple(n for n in OBSERVABLES if n not in SCATTERING)
# Columns the kernel takes from precomputed tables (g-2 integral, K -> mu nu S width): 1e-6 relative.
TABULATED = ("delta_a_mu", "delta_a_e", "BR_Kp_munuee_NP")
# Couplings are drawn as 0 or of size >= 1e-30: products of smaller ones fall into subnormal numbers,
# where two correct implementations round differently and no physics is left to test.
SMALLEST_COUPLING = 1e-30
RATES = tuple(n for n in COMPUTED if n.startswith(("BR_", "Gamma_", "ctau_", "dM_")))
S_BRS = ("BR_S_gg", "BR_S_ee", "BR_S_mumu", "BR_S_nunu")
MESON_TWO_BODY = ("BR_Bp_KpS", "BR_B0_Kst0S", "BR_Bp_KstpS", "BR_Kp_pipS", "BR_KL_pi0S", "BR_KS_pi0S")


def up(x: float) -> float:
    return float(np.nextafter(x, math.inf))


def down(x: float) -> float:
    return float(np.nextafter(x, -math.inf))


def log_uniform(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: 10.0**e).filter(lambda x: lo <= x < hi)


M_S = st.one_of(
    st.floats(M_S_MIN, M_S_MAX, exclude_min=True),
    st.sampled_from([up(M_S_MIN), down(TWO_M_MU), TWO_M_MU, up(TWO_M_MU), 30.0, 140.0, M_S_MAX]),
    st.floats(TWO_M_MU * (1 - 1e-6), TWO_M_MU * (1 + 1e-6)),
)


def coupling(low: float, high: float) -> st.SearchStrategy[float]:
    """0, or a value in [low, high] of size >= SMALLEST_COUPLING."""
    return st.one_of(st.just(0.0), st.floats(low, high).filter(lambda x: abs(x) >= SMALLEST_COUPLING))


@st.composite
def points(draw) -> dict[str, float]:
    """One point of the supported domain."""
    m_S = draw(M_S)
    # m_nu4 a rounding step above m_S is test_physics_domain's business (it becomes m_S in GeV)
    nearly_degenerate = m_S * (1 + 1e-12)
    m_nu4 = draw(st.one_of(st.floats(nearly_degenerate, M_NU4_MAX), st.sampled_from([nearly_degenerate, M_NU4_MAX])))
    return dict(
        kappa_TeV=draw(coupling(0.0, 5.0)),
        eta_d=draw(coupling(0.0, 3.0)),
        eta_u=draw(coupling(-2.0, 2.0)),
        eta_c=draw(coupling(-2.0, 2.0)),
        eta_t=draw(coupling(-0.5, 0.5)),
        g_D=draw(st.one_of(log_uniform(LIMITS["g_D_min"], 6.0), st.floats(1e-3, 6.0), st.just(LIMITS["g_D_min"]))),
        U_mu4=draw(st.one_of(
            log_uniform(LIMITS["U_mu4_min"], 1.0), st.floats(1e-6, 1.0, exclude_max=True),
            st.sampled_from([LIMITS["U_mu4_min"], down(1.0)]),
        )),
        m_S_MeV=m_S,
        m_nu4_MeV=m_nu4,
    )


def columns_of(batch: list[dict[str, float]]) -> dict[str, list[float]]:
    return {n: [p[n] for p in batch] for n in PARAMETER_NAMES}


BATCHES = st.lists(points(), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(BATCHES)
def test_evaluate_is_finite_nonnegative_and_normalised(batch):
    table = evaluate(columns_of(batch)).to_pydict()
    for name in COMPUTED:
        values = np.array(table[name])
        assert np.isfinite(values).all(), f"{name} = {values}"
    for name in RATES:
        assert (np.array(table[name]) >= 0).all(), f"{name} = {table[name]}"
    total = sum(np.array(table[n]) for n in S_BRS)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    passes = np.array([table[n] for n in table if n.startswith("pass_")])
    assert table["allowed"] == list(passes.all(axis=0))
    assert table["scenario"] == ["kappa0" if p["kappa_TeV"] == 0 else "kappa" for p in batch]


@settings(max_examples=60, deadline=None)
@given(BATCHES)
def test_reference_and_evaluate_agree(batch):
    """The fast path against the per-point oracle: 1e-10 relative, 1e-6 for the tabulated columns."""
    table = evaluate(columns_of(batch)).to_pydict()
    for i, point in enumerate(batch):
        expected = reference.observables(point)
        for name in COMPUTED:
            rtol = 1e-6 if name in TABULATED else 1e-10
            assert table[name][i] == pytest.approx(expected[name], rel=rtol, abs=0), f"{name} at {point}"


@settings(max_examples=40, deadline=None)
@given(points(), st.floats(1e-2, 1e2))
def test_rates_scale_as_the_square_of_their_coupling(point, factor):
    """eta_c, eta_t -> x: FCNC rates x^2; eta_d -> x: Gamma(S -> ll), one-loop Delta a x^2; g_D -> x: Gamma(nu4) x^2."""
    scaled_up = point | {"eta_c": factor * point["eta_c"], "eta_t": factor * point["eta_t"]}
    scaled_d = point | {"eta_d": factor * point["eta_d"], "kappa_TeV": 0.0}
    factor_D = max(factor, 1 / factor)  # g_D is only scaled up: below its floor the domain refuses it
    scaled_D = point | {"g_D": factor_D * point["g_D"]}
    base_d = point | {"kappa_TeV": 0.0}
    t = evaluate(columns_of([point, scaled_up, base_d, scaled_d, scaled_D])).to_pydict()
    x2 = factor**2
    for name in (*MESON_TWO_BODY, "dM_Bs_NP_inv_ps", "dM_K_NP_inv_s"):
        assert t[name][1] == pytest.approx(x2 * t[name][0], rel=1e-10, abs=0), name
    for name in ("g_bs_re", "g_bs_im", "g_sd_re", "g_sd_im"):
        assert t[name][1] == pytest.approx(factor * t[name][0], rel=1e-10, abs=0), name
    for br in ("BR_S_ee", "BR_S_mumu"):
        assert t["Gamma_S_GeV"][3] * t[br][3] == pytest.approx(x2 * t["Gamma_S_GeV"][2] * t[br][2], rel=1e-10), br
    assert t["delta_a_mu"][3] == pytest.approx(x2 * t["delta_a_mu"][2], rel=1e-10)
    assert t["Gamma_nu4_GeV"][4] == pytest.approx(factor_D**2 * t["Gamma_nu4_GeV"][0], rel=1e-10)


@settings(max_examples=40, deadline=None)
@given(points(), st.floats(1e-2, 1e2))
def test_photon_width_scales_as_kappa_squared_without_yukawas(point, factor):
    """With every eta = 0 the only S-photon coupling is kappa: Gamma(S -> gamma gamma) ~ kappa^2."""
    dark = point | {"eta_d": 0.0, "eta_u": 0.0, "eta_c": 0.0, "eta_t": 0.0}
    t = evaluate(columns_of([dark, dark | {"kappa_TeV": factor * dark["kappa_TeV"]}])).to_pydict()
    gamma_gg = [t["Gamma_S_GeV"][i] * t["BR_S_gg"][i] for i in (0, 1)]
    assert gamma_gg[1] == pytest.approx(factor**2 * gamma_gg[0], rel=1e-10, abs=0)


COUPLING = st.floats(1e-6, 10.0)


@settings(max_examples=60, deadline=None)
@given(y=COUPLING, kappa=COUPLING, g_D=COUPLING, U=st.floats(1e-8, 1.0), factor=st.floats(1e-3, 1e3))
def test_building_block_widths_scale_as_coupling_squared(y, kappa, g_D, U, factor):
    """Gamma(S -> ll) ~ y^2, Gamma(S -> nu nu) ~ g_D^2 and ~ U^4 (coupling g_D U^2), Gamma(nu4 -> nu S) ~ g_D^2,
    Gamma(S -> gamma gamma) ~ kappa^2 with every eta = 0."""
    m_l, m_S, m_nu4 = INP.m_mu, 0.25, 0.5
    no_yukawa = {"d": 0.0, "c": 0.0, "t": 0.0}

    def gamma_gg(k: float) -> float:
        return reference.gamma_S_gg(reference.kappa_eff(k, no_yukawa, m_S**2, INP), m_S)

    pairs = [
        (reference.gamma_S_ll(factor * y, m_l, m_S), reference.gamma_S_ll(y, m_l, m_S)),
        (reference.gamma_S_nunu(factor * g_D, U, m_S), reference.gamma_S_nunu(g_D, U, m_S)),
        (reference.gamma_S_nunu(g_D, factor**0.5 * U, m_S), reference.gamma_S_nunu(g_D, U, m_S)),
        (reference.gamma_nu4_nuS(factor * g_D, U, m_S, m_nu4), reference.gamma_nu4_nuS(g_D, U, m_S, m_nu4)),
        (gamma_gg(factor * kappa), gamma_gg(kappa)),
    ]
    for scaled, base in pairs:
        assert scaled == pytest.approx(factor**2 * base, rel=1e-12)


MASS = st.floats(1e-3, 5.0)
JUST_ABOVE, A_PERCENT_ABOVE = 1 + 1e-9, 1.01


@settings(max_examples=60, deadline=None)
@given(daughter=MASS, m_S=MASS, coupling=st.floats(1e-3, 10.0))
def test_two_body_rates_vanish_at_and_below_threshold(daughter, m_S, coupling):
    """P -> P' S, P -> V S, nu4 -> nu S and S -> l l as functions of the decaying mass: zero at the
    threshold (masses chosen so that it is exact in floating point) and below, > 0 and growing above."""
    rates = {  # name: (width as a function of the decaying particle's mass, threshold)
        "P -> P' S": (lambda M: reference.gamma_P_to_P_S(coupling, 1.0, M, daughter, m_S, 0.1), daughter + m_S),
        "P -> V S": (lambda M: reference.gamma_P_to_V_S(coupling, 1.0, M, daughter, m_S, 0.1), daughter + m_S),
        "nu4 -> nu S": (lambda M: reference.gamma_nu4_nuS(coupling, 0.1, m_S, M), m_S),
        "S -> l+ l-": (lambda M: reference.gamma_S_ll(coupling, daughter, M), 2 * daughter),
    }
    for name, (rate, threshold) in rates.items():
        assert rate(threshold) == 0.0, name
        assert rate(threshold * 0.999) == 0.0, name
        assert 0.0 < rate(threshold * JUST_ABOVE) < rate(threshold * A_PERCENT_ABOVE), name


def test_kmunuS_width_vanishes_at_its_threshold():
    """K+ -> mu+ nu S closes at m_S = m_K - m_mu."""
    end = INP.m_Kp - INP.m_mu
    assert reference.kmunuS_reduced_width(end, INP) == 0.0
    assert 0.0 < reference.kmunuS_reduced_width(end * (1 - 1e-3), INP) < reference.kmunuS_reduced_width(end * 0.9, INP)


@settings(max_examples=30, deadline=None)
@given(points())
def test_S_to_mumu_opens_at_twice_the_muon_mass(point):
    below = point | {"m_S_MeV": TWO_M_MU * (1 - 1e-12), "eta_d": max(point["eta_d"], 0.1)}
    at = below | {"m_S_MeV": TWO_M_MU}
    above = below | {"m_S_MeV": TWO_M_MU * (1 + 1e-4)}
    for p in (below, at, above):
        p["m_nu4_MeV"] = max(p["m_nu4_MeV"], 2 * TWO_M_MU)
    t = evaluate(columns_of([below, at, above])).to_pydict()
    assert t["BR_S_mumu"][0] == 0.0
    assert t["BR_S_mumu"][1] <= 1e-15 * t["BR_S_mumu"][2]  # zero, or one rounding step above threshold
    assert t["BR_S_mumu"][2] > 0.0
