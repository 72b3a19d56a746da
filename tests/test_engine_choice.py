"""``--engine auto`` (the default): small scans in this process, large ones on Ray, at the measured
crossover; an address, --workers or --engine decide instead. The engine is recorded and reported."""
from __future__ import annotations

import json

import pytest

from conftest import config_doc, run_cli
from services import LOCAL_MAX_POINTS, choose_engine


@pytest.mark.parametrize(("store", "limit"), sorted(LOCAL_MAX_POINTS.items()))
def test_auto_runs_up_to_the_crossover_here_and_beyond_it_on_ray(store, limit):
    assert choose_engine("auto", limit, store, None, None)[0] == "local"
    assert choose_engine("auto", limit + 1, store, None, None)[0] == "ray"


@pytest.mark.parametrize(("workers", "address", "engine"), [
    (1, None, "local"), (2, None, "ray"), (None, "ray://head:10001", "ray"), (None, "tcp://scheduler:8786", "dask"),
])
def test_auto_follows_workers_and_addresses(workers, address, engine):
    assert choose_engine("auto", 10, "all", workers, address)[0] == engine


def test_an_engine_asked_for_is_used_whatever_the_size():
    assert choose_engine("dask", 10, "all", None, None) == ("dask", "")


def test_the_chosen_engine_is_recorded_and_reported_in_the_words_of_the_summary(write_config, tmp_path, capsys):
    config = write_config(config_doc())
    assert run_cli("scan", config, "--lake", tmp_path, "--no-progress") == 0
    out = capsys.readouterr().out
    assert f"engine local (auto: 600 points, at most {LOCAL_MAX_POINTS['all']:,} with store = all)" in out
    summary_time = next(line for line in out.splitlines() if line.startswith("time:"))
    assert run_cli("status", "small", "--lake", tmp_path, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["engine"] == "local" and status["wall_seconds"] > 0 and status["worker_seconds"] > 0
    assert run_cli("status", "small", "--lake", tmp_path) == 0
    status_time = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  time"))
    for words in (" s wall-clock (", " points/s), ", " worker-seconds (", " points per worker-second)"):
        assert words in summary_time and words in status_time
