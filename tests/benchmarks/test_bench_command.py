"""`dsscan bench` as a user runs it: every figure present, measured, and consistent with the others."""
from __future__ import annotations

import json
import math
import pathlib

import pytest

from conftest import config_doc, run_cli

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


@pytest.mark.slow
def test_dsscan_bench_samplers_measures_both_samplers_and_the_worker_side_by_side(write_config, capsys):
    config = write_config(config_doc(scan={"sampler": "adaptive", "chunk_size": 2_000, "round_points": 4_000}))
    assert run_cli("bench", config, "--samplers", "--uniform-points", "8000", "--adaptive-points", "12000",
                   "--chunks", "1", "--repeats", "1", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    for scenario in ("kappa", "kappa0"):
        adaptive = result[scenario]["adaptive"]
        assert adaptive["points"] == 12000 and adaptive["cpu_s"] > 0 and result[scenario]["uniform"]["points"] == 8000
        pairs = {"eta_t-eta_c", "m_S_MeV-m_nu4_MeV", "eta_d-eta_c", "g_D-U_mu4"} | ({"kappa_TeV-eta_d"} if scenario == "kappa" else set())
        assert set(result[scenario]["coverage_all"]) == pairs
        assert all(0 <= share <= 1 for share in result[scenario]["coverage_all"].values())
    assert "kappa_TeV" in result["kappa"]["chi2"] and "kappa_TeV" not in result["kappa0"]["chi2"]  # fixed at 0
    for scenario in ("kappa", "kappa0"):  # each parameter's chi2 with the cross-round errors too
        assert result[scenario]["chi2_cross_round"].keys() == result[scenario]["chi2"].keys()
        assert all(math.isfinite(chi2) and chi2 >= 0 for chi2, _ in result[scenario]["chi2_cross_round"].values())
    # the config's chunk size and the default one, then the kappa = 0 variant at the config's
    assert [(rates["scenario"], rates["chunk_size"]) for rates in result["pipeline"]] == [
        ("kappa", 2_000), ("kappa", 200_000), ("kappa0", 2_000)]
    for rates in result["pipeline"]:
        for key in ("worker_sampled_points_per_s", "kernel_points_per_s", "worker_all_points_per_s", "pyarrow_rows_per_s",
                    "pyarrow_file_rows_per_s", "pyarrow_durable_rows_per_s", "worker_over_kernel", "all_over_pyarrow"):
            assert math.isfinite(rates[key]) and rates[key] > 0, key
