"""One-dimensional kernel tables of quantities that cost a quadrature per point in the reference.

- ``g2_loop``: the one-loop g-2 integral I(r) of paper 000 eq. (9) on a grid uniform in ln r,
  covering r = m_S^2/m_l^2 for l = e and mu over the whole supported m_S range.
- ``kmunuS``: Gamma(K+ -> mu+ nu S) / (G_F^2 |V_us|^2 f_K^2 y_mu^2) on a grid uniform in m_S from
  the NA48/2 m_ee threshold to 2 m_pi.

Both are shipped as ``dsscan/data/kernel-tables/*.npz`` (built by ``build.py`` there, which calls
``build_g2_loop`` / ``build_kmunuS`` below); each file records the hash of the inputs it was built from,
and ``tests/test_kernel.py`` recomputes random nodes with the reference quadrature. Linear
interpolation on these grids errs by < 1e-7 relative.
"""
from __future__ import annotations

import functools
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources

import numpy as np

from dsscan.inputs import Inputs, load_inputs, subset_sha256
from dsscan.parameters import domain_limits
from dsscan.physics.reference import g2_one_loop_integral, kmunuS_reduced_width

G2_LOOP_NODES = 40001
KMUNUS_NODES = 4001
# The physics inputs each table depends on: a change to any of them invalidates the table.
TABLE_INPUTS = {
    "g2_loop": ("m_e", "m_mu", "m_pip"),
    "kmunuS": ("m_Kp", "m_mu", "m_pip", "NA48_mee_min"),
}


@dataclass(frozen=True)
class UniformTable:
    """Values on the uniform grid x_min + k dx, k = 0 .. len(values) - 1."""

    x_min: float
    dx: float
    values: np.ndarray
    inputs_sha256: str

    @property
    def x_max(self) -> float:
        return self.x_min + self.dx * (len(self.values) - 1)

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """Linear interpolation (the numpy twin of the kernel's ``_interp_uniform``)."""
        grid = self.x_min + self.dx * np.arange(len(self.values))
        return np.interp(x, grid, self.values)


def g2_loop_grid(inp: Inputs) -> tuple[float, float]:
    """ln r range needed: r = (m_S/m_l)^2 for l = mu at the lowest m_S and l = e at the highest."""
    lim = domain_limits()
    m_S_min, m_S_max = lim["m_S_min_MeV"] * 1e-3, lim["m_S_max_MeV"] * 1e-3
    return 2 * math.log(m_S_min / inp.m_mu), 2 * math.log(m_S_max / inp.m_e)


def build_g2_loop(workers: int = 2) -> UniformTable:
    inp = load_inputs()
    lo, hi = g2_loop_grid(inp)
    ln_r = np.linspace(lo, hi, G2_LOOP_NODES)
    with ProcessPoolExecutor(workers) as pool:
        values = np.fromiter(pool.map(g2_one_loop_integral, np.exp(ln_r), chunksize=500), float)
    return UniformTable(lo, (hi - lo) / (G2_LOOP_NODES - 1), values, subset_sha256(TABLE_INPUTS["g2_loop"]))


def _kmunuS_at(m_S: float) -> float:
    return kmunuS_reduced_width(m_S, load_inputs())


def build_kmunuS(workers: int = 2) -> UniformTable:
    inp = load_inputs()
    lo, hi = inp.NA48_mee_min, 2 * inp.m_pip
    m_S = np.linspace(lo, hi, KMUNUS_NODES)
    with ProcessPoolExecutor(workers) as pool:
        values = np.fromiter(pool.map(_kmunuS_at, m_S, chunksize=20), float)
    return UniformTable(lo, (hi - lo) / (KMUNUS_NODES - 1), values, subset_sha256(TABLE_INPUTS["kmunuS"]))


def save(table: UniformTable, path) -> None:
    np.savez(path, x_min=table.x_min, dx=table.dx, values=table.values, inputs_sha256=table.inputs_sha256)


@functools.cache
def load(name: str) -> UniformTable:
    """A shipped table (``g2_loop`` or ``kmunuS``); refuses one built from other inputs."""
    ref = resources.files("dsscan").joinpath(f"data/kernel-tables/{name}.npz")
    with resources.as_file(ref) as path, np.load(path) as f:
        table = UniformTable(float(f["x_min"]), float(f["dx"]), np.ascontiguousarray(f["values"]), str(f["inputs_sha256"]))
    if table.inputs_sha256 != subset_sha256(TABLE_INPUTS[name]):
        raise ValueError(
            f"kernel table {name!r} was built from other physics inputs; rebuild it with "
            "'python dsscan/data/kernel-tables/build.py'"
        )
    return table
