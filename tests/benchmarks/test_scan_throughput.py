"""``dsscan throughput`` runs its real scans and reports every measurement (no timing is asserted:
the numbers belong in the README, measured by the command itself)."""
from __future__ import annotations

import json

import pytest

from conftest import REPO, run_cli


@pytest.mark.slow
def test_throughput_reports_both_policies_on_one_and_two_workers(capsys):
    argv = ("throughput", REPO / "configs" / "datta2024.toml", "--engine", "dask", "--workers", "2",
            "--points", "40000", "--points-all", "30000", "--chunk-size", "10000", "--repeats", "1")
    assert run_cli(*argv, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    scans = {(s["store"], s["workers"]): s for s in report["scans"]}
    assert sorted(scans) == [("all", 1), ("all", 2), ("allowed+sample", 1), ("allowed+sample", 2)]
    assert all(s["rows"] == 30_000 for (store, _), s in scans.items() if store == "all")
    assert scans[("allowed+sample", 1)]["rows"] == scans[("allowed+sample", 2)]["rows"] < 40_000
    assert all(s["points_per_s_after_start_up"] > 0 for s in scans.values())
    assert set(report["speedup"]) == {"allowed+sample", "all"}
