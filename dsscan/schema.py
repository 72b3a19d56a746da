"""Canonical column names, units and descriptions (physics.md section 8): a stable interface.

The same names are used by ``dsscan.evaluate``, the CLI's JSON output and the lake's Parquet
schema, where unit and description travel as field metadata.
"""
from __future__ import annotations

import functools

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

from dsscan.parameters import PARAMETERS

# name -> (unit, description) for every computed observable, in output order.
OBSERVABLES: dict[str, tuple[str, str]] = {
    "Gamma_S_GeV": ("GeV", "total width of S"),
    "BR_S_gg": ("1", "BR(S -> gamma gamma)"),
    "BR_S_ee": ("1", "BR(S -> e+ e-)"),
    "BR_S_mumu": ("1", "BR(S -> mu+ mu-)"),
    "BR_S_nunu": ("1", "BR(S -> nu nubar), three light neutrinos"),
    "ctau_S_mm": ("mm", "rest-frame decay length of S"),
    "Gamma_nu4_GeV": ("GeV", "width of nu4 -> nu S"),
    "ctau_nu4_mm": ("mm", "rest-frame decay length of nu4"),
    "g_bs_re": ("1", "Re g_bs, L = g_bs sbar P_R b S"),
    "g_bs_im": ("1", "Im g_bs"),
    "g_sd_re": ("1", "Re g_sd, L = g_sd dbar P_R s S"),
    "g_sd_im": ("1", "Im g_sd"),
    "BR_Bp_KpS": ("1", "BR(B+ -> K+ S)"),
    "BR_B0_Kst0S": ("1", "BR(B0 -> K*0 S)"),
    "BR_Bp_KstpS": ("1", "BR(B+ -> K*+ S)"),
    "BR_Kp_pipS": ("1", "BR(K+ -> pi+ S)"),
    "BR_KL_pi0S": ("1", "BR(K_L -> pi0 S)"),
    "BR_KS_pi0S": ("1", "BR(K_S -> pi0 S)"),
    "BR_Bp_Kpnunu": ("1", "BR(B+ -> K+ nu nubar), SM + NP"),
    "BR_B0_Kst0nunu": ("1", "BR(B0 -> K*0 nu nubar), SM + NP"),
    "BR_Bp_Kstpnunu": ("1", "BR(B+ -> K*+ nu nubar), SM + NP"),
    "BR_B0_Kst0ee_lowq2": ("1", "BR(B0 -> K*0 e+ e-) for 30 < m_ee < 1000 MeV, SM + NP"),
    "BR_Kp_pipnunu": ("1", "BR(K+ -> pi+ nu nubar), SM + NP"),
    "BR_KL_pi0nunu": ("1", "BR(K_L -> pi0 nu nubar), SM + NP"),
    "BR_KL_pi0ee": ("1", "BR(K_L -> pi0 e+ e-), SM + NP"),
    "BR_Bs_mumu": ("1", "BR(B_s -> mu+ mu-), SM + NP"),
    "BR_B0_Kst0nunu_NP": ("1", "BR(B0 -> K*0 S) BR(S -> nu nubar)"),
    "BR_Bp_Kstpnunu_NP": ("1", "BR(B+ -> K*+ S) BR(S -> nu nubar)"),
    "BR_Kp_pipnunu_NP": ("1", "BR(K+ -> pi+ S) BR(S -> nu nubar)"),
    "BR_KL_pi0gg_NP": ("1", "BR(K_L -> pi0 S) BR(S -> gamma gamma)"),
    "BR_KS_pi0gg_NP": ("1", "BR(K_S -> pi0 S) BR(S -> gamma gamma)"),
    "BR_Kp_pipgg_NP": ("1", "BR(K+ -> pi+ S) BR(S -> gamma gamma)"),
    "BR_B_Kgg_NP": ("1", "BR(B+ -> K+ S) BR(S -> gamma gamma)"),
    "BR_B_Kstgg_NP": ("1", "BR(B0 -> K*0 S) BR(S -> gamma gamma)"),
    "BR_Bs_gg_NP": ("1", "BR(B_s -> gamma gamma) through off-shell S"),
    "BR_Bs_nunu_NP": ("1", "BR(B_s -> nu nubar) through off-shell S"),
    "BR_Kp_munuee_NP": ("1", "BR(K+ -> mu+ nu S) BR(S -> e+ e-) for m_ee = m_S >= 140 MeV"),
    "dM_Bs_NP_inv_ps": ("ps^-1", "Delta M_Bs from tree-level S exchange"),
    "dM_K_NP_inv_s": ("s^-1", "Delta M_K from tree-level S exchange"),
    "delta_a_mu": ("1", "Delta a_mu = Delta (g-2)_mu / 2, one loop + Barr-Zee"),
    "delta_a_e": ("1", "Delta a_e, one loop + Barr-Zee"),
    "R_miniboone": ("1", "MiniBooNE signal / dark-Z' benchmark signal (paper 001 eq. 7), before the recast scale"),
    "R_charm2": ("1", "CHARM-II sigma_S BR_vis / sigma_Z' BR(Z' -> ee) at 20 GeV (paper 001 eq. 8)"),
}


SCENARIO_NAMES = ("kappa0", "kappa")  # dictionary of the `scenario` column: index = (kappa != 0)


def _field(name: str, type_: pa.DataType, unit: str, description: str) -> pa.Field:
    import pyarrow as pa

    return pa.field(name, type_, nullable=False, metadata={"unit": unit, "description": description})


@functools.lru_cache(maxsize=64)
def arrow_schema(constraint_names: tuple[str, ...], constraint_set: str) -> pa.Schema:
    """Schema of ``evaluate``'s output: parameters, observables, verdicts, ``allowed``, ``scenario``
    (built once per constraint set: a warm ``evaluate`` of a few points should not rebuild it)."""
    import pyarrow as pa  # here: the observables' names and units are read without pyarrow

    fields = [_field(p.name, pa.float64(), p.unit, p.description) for p in PARAMETERS]
    fields += [_field(n, pa.float64(), u, d) for n, (u, d) in OBSERVABLES.items()]
    fields += [
        _field(f"pass_{c}", pa.bool_(), "1", f"constraint {c!r} of set {constraint_set!r} passed")
        for c in constraint_names
    ]
    fields.append(_field("allowed", pa.bool_(), "1", f"all constraints of {constraint_set!r} passed"))
    fields.append(
        _field("scenario", pa.dictionary(pa.int8(), pa.string()), "1", "'kappa0' where kappa_TeV = 0, else 'kappa'")
    )
    return pa.schema(fields)
