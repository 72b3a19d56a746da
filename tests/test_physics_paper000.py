"""Paper 000 (arXiv:2005.08920) Table II reproduced within measured tolerances, and which loop sum its
BR(S -> gamma gamma) at kappa = 0 corresponds to."""
from __future__ import annotations

import csv
import decimal
import math

import numpy as np
import pytest

from dsscan import evaluate
from dsscan.commands.benchmarks import PAPER_000, load_points, shipped_data_dir
from dsscan.inputs import load_inputs, to_natural
from dsscan.parameters import PARAMETER_NAMES
from dsscan.physics import reference

# The S branching fractions: measured 0.93-1.08 of the table (BP2's BR_S_nunu aside, see U_MU4_ROUNDING).
# U_mu4 is published to two digits and enters Gamma(S -> nu nu) to the fourth power: 2.5e-3 carries
# +-8 % there, and at kappa = 0 Gamma(S -> nu nu) is nearly all of Gamma_S, so every S BR moves by that.
S_BR_TOLERANCE = 0.10
# BR(S -> gamma gamma) at kappa = 0: measured 1.84 and 2.13 x the table. The table's loop-induced width
# is half the complete loop sum we ship (test_table2_photon_width_at_kappa0_is_half_the_complete_loop_sum);
# the spread around 2 is the +-8 % that the U_mu4 rounding puts into Gamma_S.
KAPPA0_GG_WINDOW = (1.7, 2.3)
# The meson BRs with the top pole mass, measured over the six points: B -> K S 1.00-1.05 (the spread is
# the two-digit rounding of eta_u, +-5 % in the rate, and of the published BR, +-3 %); K+ -> pi+ S
# 1.04-1.10 and K_L -> pi0 S 0.89-0.95: the paper treats g_sd as real, dsscan projects K_L on (Re g_sd)^2
# (K_L/K+ = 3.7 against the paper's 4.3, test_kl_to_kplus_ratio_is_the_cp_projection_value), which
# moves K_L down by 0.86 relative to K+. Each window is the measured range widened by that rounding.
MESON_BR_WINDOWS = {"BR_B_KS": (0.95, 1.10), "BR_Kp_pipS": (0.98, 1.15), "BR_KL_pi0S": (0.85, 1.00)}
S_BRS = ("BR_S_gg", "BR_S_ee", "BR_S_nunu")

POINTS = load_points(PAPER_000)



def published_rounding(column: str) -> list[float]:
    """Relative half-unit of the last published digit of ``column`` per point (1.2e-3 -> 0.05/1.2)."""
    with open(shipped_data_dir() / PAPER_000.filename, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    half_units = []
    for row in rows:
        exact = decimal.Decimal(row[column])
        half_units.append(float(decimal.Decimal(5).scaleb(exact.as_tuple().exponent - 1) / exact))
    return half_units


# Gamma(S -> nu nu) ~ U_mu4^4, so the rounding of the published U_mu4 alone moves BR(S -> nu nu) by
# 4 x its relative half-unit: +-17 % for BP2's 1.2e-3, the very reason section 7 gives for its 15 %.
# Where that rounding exceeds 15 % it is the tolerance (BP2 comes out 15.1 % above the table).
U_MU4_ROUNDING = published_rounding("U_mu4")


def case(i: int, column: str):
    return pytest.param(i, column, id=f"BP{POINTS.ids[i]}-{column}")


CASES = [case(i, column) for i in range(len(POINTS.ids)) for column in PAPER_000.published]


@pytest.fixture(scope="module")
def table2():
    return evaluate(POINTS.parameters, constraints="datta2020").to_pydict()


def allowed_ratio(i: int, column: str) -> tuple[float, float]:
    if column == "BR_S_gg" and POINTS.parameters["kappa_TeV"][i] == 0:
        return KAPPA0_GG_WINDOW
    if column in MESON_BR_WINDOWS:
        return MESON_BR_WINDOWS[column]
    tolerance = S_BR_TOLERANCE
    if column == "BR_S_nunu":
        tolerance = max(tolerance, 4 * U_MU4_ROUNDING[i])
    return 1 - tolerance, 1 + tolerance


@pytest.mark.parametrize(("i", "column"), CASES)
def test_paper000_table2(table2, i, column):
    ours = table2[PAPER_000.published[column]][i]
    published = POINTS.published[column][i]
    low, high = allowed_ratio(i, column)
    assert low <= ours / published <= high, f"dsscan {ours:.4g} vs published {published:.3g}"


def test_kl_to_kplus_ratio_is_the_cp_projection_value(table2):
    """physics.md section 7: with universal real eta, K_L/K+ = 3.7 (CP projection), where paper 000 has 4.3.
    Measured 3.684-3.689: (Re g_sd)^2/|g_sd|^2 is the same at every point (eta_c = eta_t), only the phase
    space moves with m_S."""
    ours = np.array(table2["BR_KL_pi0S"]) / np.array(table2["BR_Kp_pipS"])
    published = POINTS.published["BR_KL_pi0S"] / POINTS.published["BR_Kp_pipS"]
    assert ours == pytest.approx(3.686, abs=0.005)
    assert published == pytest.approx(4.3, abs=0.1)


# --- BR(S -> gamma gamma) at kappa = 0: which loops does Table II's value correspond to? ---------
# At kappa = 0 (BP5, BP6) S -> gamma gamma comes from the fermion loops alone (physics.md section 2).
# Gamma(S -> gamma gamma)/Gamma(S -> e e) = BR_S_gg/BR_S_ee is free of g_D and U_mu4 (whose rounding
# moves each BR by +-8 %), so it tells which loop sum the table used. Each fermion: its mass (an
# input), the coupling that scales its Yukawa (paper 000: eta_d for d-type quarks and leptons, eta_u
# for all up-type quarks) and N_c Q^2.
FERMIONS = {
    "e": ("m_e", "eta_d", 1.0), "mu": ("m_mu", "eta_d", 1.0), "tau": ("m_tau", "eta_d", 1.0),
    "d": ("m_d", "eta_d", 1 / 3), "s": ("m_s", "eta_d", 1 / 3), "b": ("m_b", "eta_d", 1 / 3),
    "c": ("m_c", "eta_u", 4 / 3), "t": ("m_t", "eta_u", 4 / 3),
}
SHIPPED_LOOPS = ("e", "mu", "tau", "c", "b", "t")  # physics.md section 2: leptons and heavy quarks
ALTERNATIVE_LOOPS = {
    "leptons only": ("e", "mu", "tau"),
    "heavy quarks only": ("c", "b", "t"),
    "top only": ("t",),
    "without the muon": ("e", "tau", "c", "b", "t"),
    "without the tau": ("e", "mu", "c", "b", "t"),
    "heavy fermions only (tau, c, b, t)": ("tau", "c", "b", "t"),
    "with the d and s quark loops": ("e", "mu", "tau", "d", "s", "c", "b", "t"),
}
# Other conventions: A_1/2 normalised to 1 for a heavy fermion (x 3/4 in amplitude), and half the
# rate (1/sqrt2 in amplitude), the one that reproduces the table.
NORMALISED_TO_ONE, HALF_THE_RATE = 3 / 4, 1 / math.sqrt(2)
KAPPA0_POINTS = [i for i in range(len(POINTS.ids)) if POINTS.parameters["kappa_TeV"][i] == 0]


def photon_over_ee_width(i: int, loops: tuple[str, ...], amplitude_factor: float = 1.0) -> float:
    """Gamma(S -> gamma gamma)/Gamma(S -> e e) at point i for kappa = 0 and the given fermion loops:
    kappa_eff = -alpha/(2 pi v) sum_f eta_f N_c Q_f^2 A_1/2(m_S^2/4 m_f^2) (physics.md section 2)."""
    inp = load_inputs()
    p = {name: POINTS.parameters[name][i] for name in PARAMETER_NAMES}
    m_S = p["m_S_MeV"] * to_natural(1.0, "MeV")
    loop = sum(
        p[eta] * weight * reference.loop_A_half(m_S**2 / (4 * inp.values[mass] ** 2))
        for mass, eta, weight in (FERMIONS[f] for f in loops)
    )
    kappa_eff = amplitude_factor * inp.alpha_em / (2 * math.pi * inp.v) * loop
    return reference.gamma_S_gg(kappa_eff, m_S) / reference.gamma_S_ll(p["eta_d"] * inp.m_e / inp.v, inp.m_e, m_S)


def table2_photon_over_ee(i: int) -> float:
    return POINTS.published["BR_S_gg"][i] / POINTS.published["BR_S_ee"][i]


def rounding_envelope(i: int) -> float:
    """Relative uncertainty of the table's ratio from the published digits: BR_S_gg, BR_S_ee, and m_S
    (the width ratio goes as m_S^2); eta_d cancels and eta_u's loops are 10^-3 of the rest."""
    return GG_ROUNDING[i] + EE_ROUNDING[i] + 2 * M_S_ROUNDING[i]


GG_ROUNDING, EE_ROUNDING, M_S_ROUNDING = (published_rounding(c) for c in ("BR_S_gg", "BR_S_ee", "m_S_MeV"))


@pytest.mark.parametrize("i", KAPPA0_POINTS, ids=lambda i: f"BP{POINTS.ids[i]}")
def test_shipped_photon_width_at_kappa0_is_the_complete_loop_sum(table2, i):
    ours = table2["BR_S_gg"][i] / table2["BR_S_ee"][i]
    assert ours == pytest.approx(photon_over_ee_width(i, SHIPPED_LOOPS), rel=1e-9)


@pytest.mark.parametrize("i", KAPPA0_POINTS, ids=lambda i: f"BP{POINTS.ids[i]}")
def test_table2_photon_width_at_kappa0_is_half_the_complete_loop_sum(i):
    """Measured: the table is 0.506 (BP5) and 0.505 (BP6) of the complete sum, 1.2 % and 1.0 % from 1/2,
    inside the 2.2 % and 2.6 % that the published digits allow."""
    halved = photon_over_ee_width(i, SHIPPED_LOOPS, HALF_THE_RATE)
    assert table2_photon_over_ee(i) == pytest.approx(halved, rel=rounding_envelope(i))


@pytest.mark.parametrize("i", KAPPA0_POINTS, ids=lambda i: f"BP{POINTS.ids[i]}")
def test_no_other_set_of_loops_or_normalisation_reproduces_table2(i):
    """Each alternative misses the table by more than twice the rounding envelope (measured: the
    nearest, A_1/2 normalised to 1, by 11 %; leptons only by 47 %; the d and s loops added by 161 %)."""
    alternatives = {name: photon_over_ee_width(i, loops) for name, loops in ALTERNATIVE_LOOPS.items()}
    alternatives["A_1/2 normalised to 1"] = photon_over_ee_width(i, SHIPPED_LOOPS, NORMALISED_TO_ONE)
    table = table2_photon_over_ee(i)
    close = {name: x / table for name, x in alternatives.items() if abs(x / table - 1) < 2 * rounding_envelope(i)}
    assert not close
