"""Scan configs: valid ones resolve to the spec the user meant; every malformed one is refused
before any work, with a message naming the key, and the lake is left untouched."""
from __future__ import annotations

import math
import os
import pathlib

import numpy as np
import pytest

from conftest import REPO, config_doc, run_cli, tree_digest
from dsscan.config import (
    ConfigError,
    Fixed,
    Ranged,
    Tied,
    load_config,
    parameter_domains,
    to_toml,
)
from dsscan.parameters import PARAMETER_NAMES, check_domain, domain_limits


def without(doc: dict, table: str, key: str) -> dict:
    del doc[table][key]
    return doc


def file_in_the_way(tmp: pathlib.Path) -> str:
    blocker = tmp / "not-a-directory"
    blocker.write_text("a file where the lake's parent should be")
    return str(blocker / "lake")


# (id, config maker taking tmp_path, the key path the message must name)
MALFORMED = [
    ("unknown top-level table", lambda tmp: config_doc(scna={"name": "x"}), "scna"),
    ("unknown scan key", lambda tmp: config_doc(scan={"chunksize": 10}), "scan.chunksize"),
    ("missing seed", lambda tmp: without(config_doc(), "scan", "seed"), "scan.seed"),
    ("points as a string", lambda tmp: config_doc(scan={"points": "600"}), "scan.points"),
    ("zero points", lambda tmp: config_doc(scan={"points": 0}), "scan.points"),
    ("negative chunk size", lambda tmp: config_doc(scan={"chunk_size": -5}), "scan.chunk_size"),
    ("negative seed", lambda tmp: config_doc(scan={"seed": -1}), "scan.seed"),
    ("boolean seed", lambda tmp: config_doc(scan={"seed": True}), "scan.seed"),
    ("name with a slash", lambda tmp: config_doc(scan={"name": "a/b"}), "scan.name"),
    ("unknown constraint set", lambda tmp: config_doc(scan={"constraints": "datta2099"}), "scan.constraints"),
    ("unknown sampler", lambda tmp: config_doc(scan={"sampler": "mcmc"}), "scan.sampler"),
    ("unknown storage policy", lambda tmp: config_doc(scan={"store": "some"}), "scan.store"),
    ("sample rate above 1", lambda tmp: config_doc(scan={"store": "allowed+sample", "sample_rate": 1.5}), "scan.sample_rate"),
    ("sample rate unused", lambda tmp: config_doc(scan={"store": "all", "sample_rate": 0.1}), "scan.sample_rate"),
    ("sobol beyond 2^32 points", lambda tmp: config_doc(scan={"sampler": "sobol", "points": 2**32 + 1}), "scan.points"),
    ("round not whole chunks", lambda tmp: config_doc(scan={"sampler": "adaptive", "round_points": 300}), "scan.round_points"),
    ("default round not whole chunks", lambda tmp: config_doc(scan={"sampler": "adaptive", "chunk_size": 300_000}), "scan.round_points"),
    ("defensive share under 0.1", lambda tmp: config_doc(scan={"sampler": "adaptive", "round_points": 500, "defensive_share": 0.05}), "scan.defensive_share"),
    ("defensive share above 1", lambda tmp: config_doc(scan={"sampler": "adaptive", "round_points": 500, "defensive_share": 1.5}), "scan.defensive_share"),
    ("defensive share a string", lambda tmp: config_doc(scan={"sampler": "adaptive", "round_points": 500, "defensive_share": "20%"}), "scan.defensive_share"),
    ("round points unused", lambda tmp: config_doc(scan={"sampler": "uniform", "round_points": 500}), "scan.round_points"),
    ("unknown parameter", lambda tmp: config_doc(parameters={"kappa": 1.0}), "parameters.kappa"),
    ("missing parameter", lambda tmp: without(config_doc(), "parameters", "eta_t"), "parameters.eta_t"),
    ("parameter as a string", lambda tmp: config_doc(parameters={"eta_u": "zero"}), "parameters.eta_u"),
    ("parameter not finite", lambda tmp: config_doc(parameters={"eta_u": math.nan}), "parameters.eta_u"),
    ("unknown key in a parameter", lambda tmp: config_doc(parameters={"eta_d": {"range": [0, 1], "step": 0.1}}), "parameters.eta_d.step"),
    ("range of three numbers", lambda tmp: config_doc(parameters={"g_D": {"range": [0, 1, 2]}}), "parameters.g_D.range"),
    ("inverted range", lambda tmp: config_doc(parameters={"eta_d": {"range": [1, 0]}}), "parameters.eta_d.range"),
    ("empty range", lambda tmp: config_doc(parameters={"eta_d": {"range": [0.5, 0.5]}}), "parameters.eta_d.range"),
    ("log prior over 0", lambda tmp: config_doc(parameters={"U_mu4": {"range": [0, 0.006], "prior": "log"}}), "parameters.U_mu4.range"),
    ("unknown prior", lambda tmp: config_doc(parameters={"U_mu4": {"range": [0, 0.006], "prior": "cauchy"}}), "parameters.U_mu4.prior"),
    ("prior without a range", lambda tmp: config_doc(parameters={"U_mu4": {"prior": "log"}}), "parameters.U_mu4.range"),
    ("tie to an unknown parameter", lambda tmp: config_doc(parameters={"eta_c": {"same_as": "eta_x"}}), "parameters.eta_c.same_as"),
    ("tie to itself", lambda tmp: config_doc(parameters={"eta_c": {"same_as": "eta_c"}}), "parameters.eta_c.same_as"),
    ("tie to a tie", lambda tmp: config_doc(parameters={"eta_c": {"same_as": "eta_u"}, "eta_t": {"same_as": "eta_c"}}), "parameters.eta_t.same_as"),
    ("tie with a range", lambda tmp: config_doc(parameters={"eta_c": {"same_as": "eta_u", "range": [0, 1]}}), "parameters.eta_c"),
    ("tie outside the domain", lambda tmp: config_doc(parameters={"eta_d": {"same_as": "eta_c"}}), "parameters.eta_d.same_as"),
    ("mixing range beyond 1", lambda tmp: config_doc(parameters={"U_mu4": {"range": [0, 1.5]}}), "parameters.U_mu4.range"),
    ("mixing range under its floor", lambda tmp: config_doc(parameters={"U_mu4": {"range": [0, 1e-11]}}), "parameters.U_mu4.range"),
    ("fixed coupling g_D = 0", lambda tmp: config_doc(parameters={"g_D": 0.0}), "parameters.g_D"),
    ("negative kappa range", lambda tmp: config_doc(parameters={"kappa_TeV": {"range": [-1, 2]}}), "parameters.kappa_TeV.range"),
    ("m_S below 2 m_e", lambda tmp: config_doc(parameters={"m_S_MeV": {"range": [0.5, 150]}}), "parameters.m_S_MeV.range"),
    ("m_nu4 above the tables", lambda tmp: config_doc(parameters={"m_nu4_MeV": {"range": [400, 1200]}}), "parameters.m_nu4_MeV.range"),
    ("m_S >= m_nu4 everywhere", lambda tmp: config_doc(parameters={"m_S_MeV": {"range": [200, 250]}, "m_nu4_MeV": {"range": [150, 200]}}), "parameters.m_nu4_MeV"),
    ("nothing sampled", lambda tmp: config_doc(parameters={n: 0.5 for n in ("kappa_TeV", "eta_d", "eta_c", "eta_t", "g_D")} | {"U_mu4": 0.001, "m_S_MeV": 100.0, "m_nu4_MeV": 500.0}), "parameters"),
    ("unknown lake key", lambda tmp: config_doc(lake={"path": "x"}), "lake.path"),
    ("lake root not a string", lambda tmp: config_doc(lake={"root": 5}), "lake.root"),
    ("lake root on an unsupported store", lambda tmp: config_doc(lake={"root": "gs://bucket/lake"}), "lake.root"),
    ("lake root under a file", lambda tmp: config_doc(lake={"root": file_in_the_way(tmp)}), "lake.root"),
]


@pytest.mark.parametrize("make, key", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_config_is_refused_naming_the_key(make, key, write_config, tmp_path):
    path = write_config(make(tmp_path))
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert refused.value.key == f"{path}: {key}"
    assert str(refused.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize("make, key", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_scan_of_malformed_config_leaves_the_lake_untouched(make, key, write_config, tmp_path, small_lake, capsys):
    doc = make(tmp_path)
    lake_override = [] if "lake" in doc else ["--lake", small_lake]
    before = tree_digest(small_lake)
    assert run_cli("scan", write_config(doc), *lake_override, "--no-progress") == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f": {key}: " in error
    assert tree_digest(small_lake) == before


def test_invalid_toml_is_refused_naming_the_file(write_config, capsys):
    path = write_config("[scan\nname = 1")
    assert run_cli("validate", path) == 2
    assert f"{path}: not valid TOML" in capsys.readouterr().err


def test_unknown_key_suggests_the_near_one(write_config):
    with pytest.raises(ConfigError, match="did you mean 'chunk_size'"):
        load_config(write_config(config_doc(scan={"chunksize": 10})))


def test_scan_name_taken_refuses_before_writing(write_config, small_lake, capsys):
    before = tree_digest(small_lake)
    assert run_cli("scan", write_config(config_doc()), "--lake", small_lake, "--no-progress") == 2
    assert "scan.name: the lake" in capsys.readouterr().err
    assert tree_digest(small_lake) == before


def test_valid_config_resolves_defaults_ties_and_paths(write_config, tmp_path):
    doc = config_doc(
        scan={"store": "allowed+sample"},
        parameters={"eta_u": {"range": [0, 0.01]}, "eta_c": {"same_as": "eta_u"}, "eta_t": {"same_as": "eta_u"}},
        lake={"root": "relative-lake"},
    )
    del doc["scan"]["sampler"]
    spec = load_config(write_config(doc))
    assert (spec.sampler, spec.store, spec.sample_rate, spec.chunk_size) == ("uniform", "allowed+sample", 0.01, 250)
    assert spec.parameters["eta_c"] == Tied("eta_u") and spec.parameters["eta_u"] == Ranged(0.0, 0.01, "uniform")
    assert spec.parameters["U_mu4"] == Ranged(1e-5, 0.006, "log")
    assert spec.free_parameters == ("kappa_TeV", "eta_d", "eta_u", "g_D", "U_mu4", "m_S_MeV", "m_nu4_MeV")
    assert list(spec.parameters) == list(PARAMETER_NAMES)
    assert spec.lake_root == str(pathlib.Path.cwd() / "relative-lake")
    assert spec.n_chunks == 3


def test_lake_override_wins_over_the_config(write_config, tmp_path):
    spec = load_config(write_config(config_doc(lake={"root": "elsewhere"})), lake_root=str(tmp_path / "mine"))
    assert spec.lake_root == str(tmp_path / "mine")


def test_users_constraint_set_is_accepted_by_absolute_path(write_config, tmp_path):
    copy = tmp_path / "my_set.toml"
    copy.write_bytes((REPO / "dsscan/data/constraints/datta2024.toml").read_bytes())
    spec = load_config(write_config(config_doc(scan={"constraints": str(copy)})))
    assert spec.constraints == str(copy.resolve())


def test_resolved_config_reads_back_to_the_same_spec(write_config):
    spec = load_config(write_config(config_doc(parameters={"eta_c": {"same_as": "eta_u"}})))
    assert load_config(write_config(to_toml(spec))) == spec


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path, tmp_path):
    assert load_config(path, lake_root=str(tmp_path)).points > 0


@pytest.mark.parametrize("name", PARAMETER_NAMES)
def test_config_domains_agree_with_check_domain(name):
    """The config's per-parameter domains and dsscan.parameters.check_domain draw the same edges."""
    inside = {"kappa_TeV": 1.0, "eta_d": 0.5, "eta_u": 0.0, "eta_c": -0.1, "eta_t": 0.01, "g_D": 1.0,
              "U_mu4": 1e-3, "m_S_MeV": 100.0, "m_nu4_MeV": domain_limits()["m_nu4_max_MeV"]}
    domain = parameter_domains()[name]
    # m_nu4_MeV's lower edge is m_S_MeV, checked across the two parameters instead.
    edges = [domain.high] if name == "m_nu4_MeV" else [e for e in (domain.low, domain.high) if math.isfinite(e)]
    for edge in edges:
        for value in (np.nextafter(edge, -math.inf), edge, np.nextafter(edge, math.inf)):
            point = {n: np.array([v]) for n, v in inside.items()}
            point[name] = np.array([value])
            try:
                check_domain(point)
                accepted = True
            except ValueError:
                accepted = False
            assert accepted == domain.contains(value), (name, value)


def test_fixed_values_and_ranges_map_to_settings(write_config):
    spec = load_config(write_config(config_doc(parameters={"eta_u": 0})))
    assert spec.parameters["eta_u"] == Fixed(0.0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any directory")
def test_read_only_lake_parent_is_refused(write_config, tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="lake.root: cannot write to"):
        load_config(write_config(config_doc(lake={"root": str(parent / "lake")})))
