"""The shipped benchmark tables: identical to the project's shared copies and read as the papers state."""
from __future__ import annotations

import pathlib

import pytest

from dsscan.commands.benchmarks import PAPER_000, PAPER_001, load_points, shipped_data_dir

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize("table", [PAPER_000, PAPER_001], ids=lambda t: t.filename)
def test_shipped_copy_is_identical_to_shared_data(table):
    shared = SHARED_DATA / table.filename
    if not shared.is_file():
        pytest.skip(f"{shared} is not present outside the development tree")
    assert (shipped_data_dir() / table.filename).read_bytes() == shared.read_bytes()


def test_paper000_points_read_as_tables_I_and_II():
    """Paper 000 BP2 typed from arXiv:2005.08920 Tables I and II; eta_u is universal for u, c, t."""
    pts = load_points(PAPER_000)
    assert pts.ids == ("1", "2", "3", "4", "5", "6")
    i = pts.ids.index("2")
    expected = dict(kappa_TeV=0.87, eta_u=0.75e-2, eta_c=0.75e-2, eta_t=0.75e-2, eta_d=0.27, g_D=1.9,
                    U_mu4=1.2e-3, m_S_MeV=113, m_nu4_MeV=417)
    assert {n: pts.parameters[n][i] for n in expected} == pytest.approx(expected, rel=1e-12)
    published = dict(BR_S_gg=0.994, BR_S_ee=0.26e-3, BR_S_nunu=0.54e-2, BR_B_KS=2.7e-5, BR_Kp_pipS=0.92e-7,
                     BR_KL_pi0S=4.0e-7)
    assert {c: pts.published[c][i] for c in published} == pytest.approx(published, rel=1e-12)
    assert (pts.parameters["eta_c"] == pts.parameters["eta_u"]).all()
    assert (pts.parameters["eta_t"] == pts.parameters["eta_u"]).all()


def test_paper001_points_read_as_table_II():
    """Paper 001 BP7 typed from arXiv:2310.15136 Table II; eta_u = 0 for every point."""
    pts = load_points(PAPER_001)
    assert pts.ids == ("1", "2", "3", "4", "5", "6", "7")
    i = pts.ids.index("7")
    expected = dict(kappa_TeV=0.0, eta_d=1.40, eta_c=-0.15, eta_t=0.63e-2, g_D=1.82, U_mu4=5.87e-3,
                    m_S_MeV=122, m_nu4_MeV=429, eta_u=0.0)
    assert {n: pts.parameters[n][i] for n in expected} == pytest.approx(expected, rel=1e-12)
    assert (pts.parameters["eta_u"] == 0).all()


def test_a_broken_table_is_an_error_naming_file_and_column(tmp_path):
    text = (shipped_data_dir() / PAPER_001.filename).read_text().replace(",m_S_MeV,", ",mass_S,")
    (tmp_path / PAPER_001.filename).write_text(text)
    with pytest.raises(ValueError, match=r"benchmarks_2024\.csv.*'m_S_MeV'"):
        load_points(PAPER_001, tmp_path)
