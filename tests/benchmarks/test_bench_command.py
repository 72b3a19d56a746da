"""`dsscan bench` as a user runs it: every figure present, measured, and consistent with the others."""
from __future__ import annotations

import json
import math
import pathlib

import pytest

from conftest import run_cli

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dsscan_bench_prints_every_measurement_as_json(capsys):
    config = REPO / "configs" / "datta2024.toml"
    assert run_cli("bench", config, "--points", "20000", "--reference-points", "20", "--repeats", "1", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("kernel_points_per_s", "evaluate_points_per_s", "reference_points_per_s",
                "reference_with_scattering_points_per_s", "speedup_vs_reference", "speedup_vs_reference_with_scattering",
                "peak_rss_MiB_for_1e6_batch", "cold_start_s", "warm_start_s", "warm_one_point_ms"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["points"] == 20000 and result["reference_points"] == 20
    # (no timing is compared: a test must not depend on how loaded the machine is)


@pytest.mark.slow
def test_dsscan_bench_report_names_each_figure_with_its_unit(capsys):
    config = REPO / "configs" / "datta2024.toml"
    assert run_cli("bench", config, "--points", "5000", "--reference-points", "5", "--repeats", "1") == 0
    report = capsys.readouterr().out
    for label, unit in (("kernel (observables + verdicts, 1 thread)", "points/s"), ("evaluate / reference", "x"),
                        ("peak RSS growth for a 10^6-point batch", "MiB"), ("cold start", " s"),
                        ("dsscan.evaluate of 1 point", "ms")):
        line = next(line for line in report.splitlines() if line.startswith(label))
        assert line.rstrip().endswith(unit), line
