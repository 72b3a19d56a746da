"""Paper 001 (arXiv:2310.15136): its benchmark points against its constraints (physics.md section 7), and
the eta_c ~ -27 eta_t cancellation of its text with the top pole mass."""
from __future__ import annotations

import math
import re
from importlib import resources

import numpy as np
import pytest

from dsscan import evaluate
from dsscan.commands.benchmarks import (
    DEPARTURES,
    PAPER_001,
    TABLES,
    departures,
    evaluate_points,
    judge_with_margin,
    load_points,
    widened,
)
from dsscan.constraints import Constraint, load_constraint_set
from dsscan.inputs import load_inputs, parse_inputs
from dsscan.physics import kernel
from dsscan.physics.ckm import fcnc_coefficients

def excess_beyond_bound(c: Constraint, value: float) -> float:
    """How far ``value`` lies outside the bound, as a fraction of the bound it violates."""
    excess = [(value - c.upper) / abs(c.upper)] if math.isfinite(c.upper) else []
    excess += [(c.lower - value) / abs(c.lower)] if math.isfinite(c.lower) else []
    return max(excess)


def test_every_missed_bound_of_both_papers_is_an_explained_departure():
    """Each bound a published point misses (strictly or within the 10 % rounding margin) has its
    explanation in DEPARTURES, and each explanation names a bound that is still missed."""
    for table in TABLES:
        missed = {(bp, name) for bp, name, _ in departures(evaluate_points(load_points(table), None))}
        explained = {(bp, name) for (paper, bp, name) in DEPARTURES if paper == table.paper}
        assert missed == explained, table.paper


def test_paper001_benchmarks_pass_every_bound_within_the_margin_but_bp7_b_to_kstar():
    """With the top pole mass all seven points pass KOTO outright (with MS-bar 163 GeV BP3 did not);
    only BP7 misses a bound by more than the 10 % rounding margin: B0 -> K*0 nu nu (NP) by 10.5 %."""
    points = load_points(PAPER_001)
    cset = load_constraint_set("datta2024")
    table = evaluate(points.parameters, constraints="datta2024").to_pydict()
    assert all(table["pass_KL_pi0nunu"])
    loose = judge_with_margin(cset, table)
    beyond_margin = {
        (bp, c.name): excess_beyond_bound(c, table[c.observable][i] * c.scale)
        for c in cset.constraints for i, bp in enumerate(points.ids)
        if not loose[f"pass_{c.name}"][i]
    }
    assert beyond_margin.keys() == {("7", "B0_Kst0nunu")}
    # measured 10.5 %: B0 -> K*0 S / B+ -> K+ S = 1.02 (Ball-Zwicky A0) at a point high in the Belle II window
    assert beyond_margin["7", "B0_Kst0nunu"] == pytest.approx(0.105, abs=0.005)


def test_rounding_margin_moves_each_bound_outward_by_ten_percent():
    cset = load_constraint_set("datta2024")
    by_name = {c.name: widened(c) for c in cset.constraints}
    assert by_name["KL_pi0nunu"].upper == pytest.approx(1.1 * 4.9e-9)
    assert by_name["KL_pi0nunu"].lower == -math.inf
    assert (by_name["Bp_Kpnunu"].lower, by_name["Bp_Kpnunu"].upper) == pytest.approx((0.9 * 1.6e-5, 1.1 * 3.0e-5))
    assert by_name["m_nu4"].lower == pytest.approx(360.0)
    assert by_name["m_nu4"].upper == math.inf


# Paper 001: "This is achieved for eta_c ~ -27 eta_t"; with the top pole mass of inputs.toml the
# formula of physics.md section 3 puts Re g_sd = 0 at eta_c/eta_t = -27.2 (MS-bar 163 GeV gave -24.3).
CANCELLATION_RATIO = -27.2
CANCELLATION_TOLERANCE = 0.1  # the third digit of -27.2; the root is the same for every point to 1e-9
SHIPPED_M_T_GEV = 172.57  # PDG 2024 pole mass, the value inputs.toml must hold
OTHER_M_T_GEV = 163.0  # MS-bar m_t(m_t), the value dsscan used before


def random_points(n: int, seed: int) -> dict[str, np.ndarray]:
    """Points over the supported domain, eta_t of both signs, eta_c set later."""
    rng = np.random.default_rng(seed)
    m_S = rng.uniform(1.1, 279, n)
    return {
        "kappa_TeV": rng.uniform(0, 2, n) * (rng.random(n) > 0.3), "eta_d": rng.uniform(0, 2, n),
        "eta_u": rng.uniform(-0.01, 0.01, n),
        "eta_t": rng.choice([-1.0, 1.0], n) * 10 ** rng.uniform(-4, math.log10(0.05), n),
        "g_D": rng.uniform(0.01, 3.5, n), "U_mu4": 10 ** rng.uniform(-6, -1, n),
        "m_S_MeV": m_S, "m_nu4_MeV": rng.uniform(m_S + 1, 1000),
    }


def cancellation_ratios(points: dict[str, np.ndarray]) -> np.ndarray:
    """eta_c/eta_t at which dsscan.evaluate's g_sd_re vanishes, per point, by bisection on [-40, -15]."""
    def g_sd_re(ratio: np.ndarray) -> np.ndarray:
        return evaluate(points | {"eta_c": ratio * points["eta_t"]}).column("g_sd_re").to_numpy()

    n = len(points["eta_t"])
    lo, hi = np.full(n, -40.0), np.full(n, -15.0)
    sign_lo = np.sign(g_sd_re(lo))
    assert (sign_lo != np.sign(g_sd_re(hi))).all(), "Re g_sd must change sign between -40 and -15"
    for _ in range(40):
        mid = (lo + hi) / 2
        same = np.sign(g_sd_re(mid)) == sign_lo
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return (lo + hi) / 2


def test_re_g_sd_vanishes_at_eta_c_of_minus_27_2_eta_t_whatever_the_other_parameters():
    ratios = cancellation_ratios(random_points(64, seed=27))
    assert ratios == pytest.approx(CANCELLATION_RATIO, abs=CANCELLATION_TOLERANCE)
    assert np.ptp(ratios) < 1e-9  # g_sd is linear in (eta_t, eta_c) and depends on nothing else


def test_at_the_cancellation_K_L_to_pi0_S_vanishes_and_B_to_K_S_barely_moves():
    """The large eta_c does not affect g_bs significantly (paper 001): x_c suppresses the charm term."""
    point = {k: v[:1] for k, v in random_points(1, seed=5).items()}
    root = cancellation_ratios(point)
    at_root = evaluate(point | {"eta_c": root * point["eta_t"]}).to_pydict()
    no_charm = evaluate(point | {"eta_c": 0 * point["eta_t"]}).to_pydict()
    assert at_root["BR_KL_pi0S"][0] < 1e-12 * no_charm["BR_KL_pi0S"][0]
    assert at_root["BR_Bp_KpS"][0] == pytest.approx(no_charm["BR_Bp_KpS"][0], rel=0.02)


def inputs_with_top_mass(m_t_GeV: float):
    """The shipped inputs file with its m_t entry changed, parsed as dsscan parses the file."""
    text = resources.files("dsscan").joinpath("data/inputs.toml").read_text()
    changed, count = re.subn(r"(\[m_t\]\nvalue = )[0-9.]+", rf"\g<1>{m_t_GeV!r}", text)
    assert count == 1
    return parse_inputs(changed.encode())


def test_inputs_hold_the_top_pole_mass():
    assert load_inputs().m_t == SHIPPED_M_T_GEV
    assert "pole" in load_inputs().sources["m_t"]


def test_the_cancellation_ratio_scales_as_the_top_mass_squared():
    """Re g_sd = m_t^2 [eta_t Re(V_ts V_td*) + eta_c (m_c^2/m_t^2) Re(V_cs V_cd*)] (physics.md section 3)
    vanishes at eta_c/eta_t = -(m_t^2/m_c^2) Re(V_ts V_td*)/Re(V_cs V_cd*): the ratio goes as m_t^2,
    all else fixed. Checked on the coefficients the kernel is built from, at two top masses."""
    def ratio(m_t_GeV: float) -> float:
        C = fcnc_coefficients(inputs_with_top_mass(m_t_GeV))
        return -C["C_sd_t"].real / C["C_sd_c"].real

    assert ratio(SHIPPED_M_T_GEV) == pytest.approx(CANCELLATION_RATIO, abs=CANCELLATION_TOLERANCE)
    assert ratio(OTHER_M_T_GEV) / ratio(SHIPPED_M_T_GEV) == pytest.approx((OTHER_M_T_GEV / SHIPPED_M_T_GEV) ** 2, rel=1e-12)


@pytest.fixture
def kernel_with_other_top_mass(monkeypatch):
    """dsscan.evaluate with inputs whose m_t is OTHER_M_T_GEV (the kernel's cached constants rebuilt,
    and rebuilt again from the shipped inputs afterwards)."""
    monkeypatch.setattr(kernel, "load_inputs", lambda: inputs_with_top_mass(OTHER_M_T_GEV))
    kernel.kernel_constants.cache_clear()
    kernel.kernel_tables.cache_clear()
    yield
    monkeypatch.undo()
    kernel.kernel_constants.cache_clear()
    kernel.kernel_tables.cache_clear()


def test_the_compiled_kernel_takes_the_top_mass_from_the_inputs(kernel_with_other_top_mass):
    """m_t reaches the kernel as an argument, so neither numba's disk cache of the compiled kernel nor
    any table cache can hold an old value: another m_t in the inputs moves the root as m_t^2."""
    ratios = cancellation_ratios(random_points(8, seed=163))
    expected = CANCELLATION_RATIO * (OTHER_M_T_GEV / SHIPPED_M_T_GEV) ** 2  # -24.3
    assert ratios == pytest.approx(expected, abs=CANCELLATION_TOLERANCE)


def test_decay_lifetimes_match_the_paper_text():
    """Paper 001: S has "a very short lifetime, O(0.1) ps" (constraint 6), and nu4, width ~ |U_mu4|^2,
    lives much shorter than S, width ~ |U_mu4|^4."""
    table = evaluate(load_points(PAPER_001).parameters).to_pydict()
    c_mm_per_ps = 0.299792458
    for ctau_S, ctau_nu4 in zip(table["ctau_S_mm"], table["ctau_nu4_mm"]):
        assert 0.01 < ctau_S / c_mm_per_ps < 1.0
        assert ctau_nu4 < 1e-3 * ctau_S
