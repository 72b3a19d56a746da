"""Points outside the supported domain (physics.md section 1) are a ValueError naming parameter and value."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dsscan import evaluate
from dsscan.schema import OBSERVABLES

GOOD = dict(kappa_TeV=0.42, eta_d=0.56, eta_u=0.002, eta_c=0.002, eta_t=0.002, g_D=0.29, U_mu4=4.5e-3,
            m_S_MeV=133.0, m_nu4_MeV=416.0)
TWO_M_E_MEV = 2 * 0.51099895  # PDG 2024

OUTSIDE = [  # (parameter reported, changes to GOOD)
    ("m_nu4_MeV", dict(m_S_MeV=200.0, m_nu4_MeV=200.0)),  # m_S >= m_nu4
    ("m_nu4_MeV", dict(m_S_MeV=250.0, m_nu4_MeV=200.0)),
    ("m_S_MeV", dict(m_S_MeV=TWO_M_E_MEV)),  # m_S <= 2 m_e
    ("m_S_MeV", dict(m_S_MeV=0.5)),
    ("m_S_MeV", dict(m_S_MeV=300.0)),  # above 2 m_pi
    ("m_nu4_MeV", dict(m_nu4_MeV=1000.5)),
    ("U_mu4", dict(U_mu4=1.0)),
    ("U_mu4", dict(U_mu4=0.0)),
    ("U_mu4", dict(U_mu4=-1e-3)),
    ("g_D", dict(g_D=0.0)),
    ("g_D", dict(g_D=-0.3)),
    ("kappa_TeV", dict(kappa_TeV=-0.1)),
    ("eta_d", dict(eta_d=-0.2)),
    ("eta_c", dict(eta_c=math.nan)),
    ("m_S_MeV", dict(m_S_MeV=math.inf)),
    ("kappa_TeV", dict(kappa_TeV=-math.inf)),
]


def batch(*changes: dict) -> dict[str, list[float]]:
    """GOOD followed by one point per change, as columns."""
    rows = [GOOD] + [GOOD | c for c in changes]
    return {n: [r[n] for r in rows] for n in GOOD}


@pytest.mark.parametrize(("name", "change"), OUTSIDE, ids=[f"{n}={c[n]}" for n, c in OUTSIDE])
def test_outside_the_domain_is_a_value_error_naming_parameter_and_value(name, change):
    with pytest.raises(ValueError) as info:
        evaluate(batch(change))
    message = str(info.value)
    assert name in message
    value = change[name]
    assert any(text in message for text in (repr(value), f"{value:g}", str(value))), message


def test_missing_parameter_is_named():
    points = batch()
    del points["g_D"]
    with pytest.raises(ValueError, match="g_D"):
        evaluate(points)


def test_unequal_lengths_are_an_error():
    points = batch() | {"U_mu4": [4.5e-3, 1e-3]}
    with pytest.raises(ValueError, match="length"):
        evaluate(points)


def test_unknown_constraint_set_is_an_error():
    with pytest.raises(ValueError, match="no_such_set"):
        evaluate(batch(), constraints="no_such_set")


def test_domain_edges_themselves_are_supported():
    """2 m_pi and m_nu4 = 1000 MeV are inside; evaluate returns finite numbers there."""
    table = evaluate(batch(dict(m_S_MeV=2 * 139.57039, m_nu4_MeV=1000.0))).to_pydict()
    computed = [n for n in OBSERVABLES if n not in ("R_miniboone", "R_charm2")]
    assert all(np.isfinite(table[n]).all() for n in computed)


def finite_or_value_error(change: dict) -> None:
    """What physics.md section 1 promises: finite observables, or a ValueError naming a parameter."""
    try:
        table = evaluate(batch(change)).to_pydict()
    except ValueError as exc:
        assert any(n in str(exc) for n in GOOD), exc
        return
    computed = [n for n in OBSERVABLES if n not in ("R_miniboone", "R_charm2")]
    assert all(np.isfinite(table[n]).all() for n in computed), {n: table[n][1] for n in computed}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            dict(m_S_MeV=250.96875, m_nu4_MeV=float(np.nextafter(250.96875, 1e3))), id="m_nu4-one-ulp-above-m_S"
        ),
        pytest.param(dict(U_mu4=1e-170), id="U_mu4=1e-170"),
        pytest.param(dict(g_D=1e-170), id="g_D=1e-170"),
        pytest.param(
            dict(U_mu4=1e-80, kappa_TeV=0.0, eta_d=0.0, eta_u=0.0, eta_c=0.0, eta_t=0.0), id="only-S->nunu-U_mu4=1e-80"
        ),
    ],
)
def test_tiny_widths_are_finite_or_refused_by_name(change):
    """Points at the underflow edges: each gives finite observables or a ValueError naming a parameter."""
    finite_or_value_error(change)


def test_every_domain_code_names_a_condition():
    from dsscan.parameters import CODE_M_NU4, domain_conditions

    assert len(domain_conditions()) == CODE_M_NU4  # codes 1 .. CODE_M_NU4, one per condition


def test_inside_domain_refuses_arrays_of_unequal_length():
    from dsscan.parameters import inside_domain

    points = {n: np.asarray(v, dtype=float) for n, v in batch({"g_D": 0.3}).items()} | {"U_mu4": np.array([4.5e-3])}
    with pytest.raises(ValueError, match="length"):
        inside_domain(points)
