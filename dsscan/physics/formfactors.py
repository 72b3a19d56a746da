"""The B->K and B->K* form-factor table (data folder ball-zwicky-2005), loaded once."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class FormFactorTable:
    """f0^{B->K} and A0^{B->K*} on a uniform q^2 grid (GeV^2), linearly interpolated."""

    q2_GeV2: np.ndarray
    f0_BK: np.ndarray
    A0_BKst: np.ndarray

    def at(self, q2: float) -> tuple[float, float]:
        return (
            float(np.interp(q2, self.q2_GeV2, self.f0_BK)),
            float(np.interp(q2, self.q2_GeV2, self.A0_BKst)),
        )


@functools.cache
def load_formfactors() -> FormFactorTable:
    path = resources.files("dsscan").joinpath("data/ball-zwicky-2005/formfactors.csv")
    with resources.as_file(path) as p:
        data = np.loadtxt(p, delimiter=",", skiprows=1)
    q2 = np.ascontiguousarray(data[:, 0])
    step = np.diff(q2)
    if not np.allclose(step, step[0], rtol=1e-9):
        raise ValueError(f"{path}: the q2 grid must be uniform")
    return FormFactorTable(q2, np.ascontiguousarray(data[:, 1]), np.ascontiguousarray(data[:, 2]))
