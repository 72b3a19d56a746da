"""A lake for the explorer's tests: two real scans around paper 001's benchmark points 1 (kappa != 0)
and 6 (kappa = 0), each parameter within +-10 %, every point stored, so that a few percent of the
rows are allowed and both scenarios of Figures 2 and 3 have points."""
from __future__ import annotations

import pathlib

from conftest import config_doc, run_cli
from dsscan.config import dumps_toml

SCENARIO_SCAN_POINTS = 3000  # each; together above lake.figures.MAX_POINTS, so the figures draw densities
BENCHMARK_POINTS = {  # paper 001 Table II, BP1 and BP6 (dsscan/data/benchmarks/benchmarks_2024.csv)
    "bp1-kappa": {"kappa_TeV": 1.22, "eta_d": 0.17, "eta_c": -0.13, "eta_t": 0.0054, "g_D": 2.18,
                  "U_mu4": 4.86e-3, "m_S_MeV": 38, "m_nu4_MeV": 413},
    "bp6-kappa0": {"kappa_TeV": 0.0, "eta_d": 0.88, "eta_c": -0.13, "eta_t": 0.0054, "g_D": 3.06,
                   "U_mu4": 4.73e-3, "m_S_MeV": 24, "m_nu4_MeV": 401},
}
WINDOW = 0.1


def window(value: float) -> dict | float:
    if value == 0:
        return 0.0
    low, high = sorted((value * (1 - WINDOW), value * (1 + WINDOW)))
    return {"range": [low, high]}


def build_scenario_lake(root: pathlib.Path, configs: pathlib.Path, points: int = SCENARIO_SCAN_POINTS) -> pathlib.Path:
    for name, bp in BENCHMARK_POINTS.items():
        doc = config_doc(scan={"name": name, "points": points, "chunk_size": 1000},
                         parameters={k: window(v) for k, v in bp.items()})
        path = configs / f"{name}.toml"
        path.write_text(dumps_toml(doc))
        assert run_cli("scan", path, "--lake", root, "--engine", "local", "--no-progress") == 0
    return root
