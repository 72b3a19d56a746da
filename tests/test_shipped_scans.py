"""The shipped quickstart demo and the 2024 kappa = 0 scan store what their comments promise."""
from __future__ import annotations

import pathlib
import re

import pytest

from dsscan.cli import main
from dsscan.commands.benchmarks import PAPER_001, load_points
from dsscan.config import load_config
from lake.catalog import open_catalog

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
DEMO_MIN_ALLOWED = 50  # per scenario: enough for the app's "allowed only" view to show the paper's shapes


@pytest.mark.slow
def test_the_two_demo_configs_store_allowed_points_of_both_scenarios(tmp_path, capsys):
    """The quickstart line runs configs/demo.toml and configs/demo-kappa0.toml into one lake."""
    for name in ("demo.toml", "demo-kappa0.toml"):
        assert main(["scan", str(CONFIGS / name), "--engine", "local", "--lake", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    rows = open_catalog(tmp_path).sql(
        "select scan, scenario, count(*) from points where allowed group by all order by all").fetchall()
    assert [(scan, scenario) for scan, scenario, _ in rows] == [("demo", "kappa"), ("demo-kappa0", "kappa0")]
    assert all(n >= DEMO_MIN_ALLOWED for *_, n in rows), rows


def test_the_paper001_kappa0_benchmarks_lie_in_the_kappa0_box_and_bp7_outside_the_paper_text_box():
    """Paper 001's kappa = 0 points (BP6, BP7) are inside datta2024-kappa0.toml's box; BP7's eta_d = 1.4
    is outside the eta_d <= 1 of the paper's text (datta2024.toml), the reason for the wider box."""
    points = load_points(PAPER_001)
    kappa0 = [i for i, k in enumerate(points.parameters["kappa_TeV"]) if k == 0]
    assert [points.ids[i] for i in kappa0] == ["6", "7"]

    def inside(config: str, i: int) -> bool:
        spec = load_config(CONFIGS / config)
        return all(lo <= points.parameters[n][i] <= hi for n, (lo, hi) in ((n, s.bounds()) for n, s in spec.parameters.items()))

    assert all(inside("datta2024-kappa0.toml", i) for i in kappa0)
    assert not inside("datta2024.toml", points.ids.index("7"))


def test_the_kappa0_scan_stores_scenario_kappa0(tmp_path, capsys):
    """A 4000-point run of datta2024-kappa0.toml, every point stored: the lake's scenario is 'kappa0'."""
    text = (CONFIGS / "datta2024-kappa0.toml").read_text()
    for key, value in (("points", "4000"), ("chunk_size", "2000"), ("store", '"all"'), ("sample_rate", None)):
        text = re.sub(rf"(?m)^{key} = .*\n", "" if value is None else f"{key} = {value}\n", text)
    config = tmp_path / "kappa0.toml"
    config.write_text(text)
    assert main(["scan", str(config), "--engine", "local", "--lake", str(tmp_path / "lake"), "--no-progress"]) == 0
    capsys.readouterr()
    rows = open_catalog(tmp_path / "lake").sql("select scan, scenario, count(*) from points group by all").fetchall()
    assert rows == [("datta2024-kappa0", "kappa0", 4000)]
