"""Where the lake lives: --lake, else [lake] root, else $DSSCAN_LAKE, else ./dsscan-lake; never inside
an importable package (``./lake`` of a clone is the ``lake`` package itself)."""
from __future__ import annotations

import pathlib

import pytest

from conftest import REPO, config_doc, run_cli
from dsscan.config import LAKE_ENV, load_config


@pytest.fixture
def no_lake_env(monkeypatch):
    monkeypatch.delenv(LAKE_ENV, raising=False)


def test_default_lake_is_dsscan_lake_in_the_working_directory(write_config, tmp_path, monkeypatch, no_lake_env):
    monkeypatch.chdir(tmp_path)
    assert load_config(write_config(config_doc())).lake_root == str(tmp_path / "dsscan-lake")


def test_dsscan_lake_names_the_lake_of_every_directory(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv(LAKE_ENV, str(tmp_path / "shared"))
    assert load_config(write_config(config_doc())).lake_root == str(tmp_path / "shared")
    # a config's own root and --lake still win, in that order
    own = write_config(config_doc(lake={"root": str(tmp_path / "own")}))
    assert load_config(own).lake_root == str(tmp_path / "own")
    assert load_config(own, lake_root=str(tmp_path / "given")).lake_root == str(tmp_path / "given")


def test_the_shipped_configs_follow_the_default(tmp_path, monkeypatch, no_lake_env):
    monkeypatch.chdir(tmp_path)
    for config in sorted((REPO / "configs").glob("*.toml")):
        assert load_config(config).lake_root == str(tmp_path / "dsscan-lake"), config.name


@pytest.mark.parametrize("inside", ["lake", "lake/deeper/still", "dsscan/data"])
def test_a_lake_inside_a_source_package_is_refused_in_one_line(inside, write_config, capsys, no_lake_env):
    root = REPO / inside
    config = write_config(config_doc())
    assert run_cli("validate", config, "--lake", root) == 2
    package = next(p for p in (root, *root.parents) if (p / "__init__.py").is_file())
    assert capsys.readouterr().err == (
        f"dsscan: error: {config}: --lake: {str(root)!r} is inside the Python package {str(package)!r}; put the lake "
        f"outside source packages, e.g. --lake ./dsscan-lake or $DSSCAN_LAKE\n")
    assert not (REPO / "lake" / "deeper").exists()


def test_running_in_a_clone_with_the_old_default_is_refused(write_config, monkeypatch, capsys, no_lake_env):
    """The configs once said root = "./lake": from a clone's top folder that is the lake package."""
    monkeypatch.chdir(REPO)
    config = write_config(config_doc(lake={"root": "./lake"}))
    assert run_cli("scan", config, "--engine", "local") == 2
    assert "lake.root: " in capsys.readouterr().err
    assert not list(pathlib.Path(REPO / "lake").glob("scan=*"))
