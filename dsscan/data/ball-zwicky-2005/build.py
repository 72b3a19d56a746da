"""Regenerate formfactors.csv: the B->K and B->K* form factors of Ball & Zwicky (2005).

f0^{B->K}(q2)  = r2 / (1 - q2/mfit2)                       hep-ph/0406232, Table 8
A0^{B->K*}(q2) = r1/(1 - q2/m_B^2) + r2/(1 - q2/mfit2)      hep-ph/0412079, Table 8

Run:  python dsscan/data/ball-zwicky-2005/build.py   (writes formfactors.csv beside this file)
"""
from __future__ import annotations

import pathlib

import numpy as np

from dsscan.inputs import load_inputs

Q2_MAX_GeV2 = 0.1  # covers m_S^2 <= (2 m_pi)^2 = 0.078 GeV^2
N_Q2 = 1001


def table() -> np.ndarray:
    inp = load_inputs()
    q2 = np.linspace(0.0, Q2_MAX_GeV2, N_Q2)
    f0 = inp.ff_f0_BK_r2 / (1 - q2 / inp.ff_f0_BK_mfit2)
    A0 = inp.ff_A0_BKst_r1 / (1 - q2 / inp.m_B0**2) + inp.ff_A0_BKst_r2 / (1 - q2 / inp.ff_A0_BKst_mfit2)
    return np.column_stack([q2, f0, A0])


def write(path: pathlib.Path) -> None:
    header = "q2_GeV2,f0_BK,A0_BKst"
    np.savetxt(path, table(), delimiter=",", header=header, comments="", fmt="%.17g")


if __name__ == "__main__":
    write(pathlib.Path(__file__).with_name("formfactors.csv"))
