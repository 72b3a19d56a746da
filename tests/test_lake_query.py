"""The explorer's queries (lake/query.py) on real lakes: how many points a stored row stands for,
and the head of a scan standing in for it in a density."""
from __future__ import annotations

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from lake.catalog import open_catalog
from lake.query import Binning, Head, Selection, density_head, histograms_2d, pass_fractions, scan_infos

WHOLE_PLANE = (Binning("eta_d", 0, 1, 4, False), Binning("U_mu4", 1e-5, 0.006, 4, True))  # the scans' ranges


def stored(scan_dir, *columns):
    return ds.dataset(sorted(str(f) for f in scan_dir.glob("part-*.parquet")), format="parquet").to_table(columns=list(columns))


def test_a_sampled_rejected_row_counts_as_one_over_the_sample_rate(small_lake):
    con = open_catalog(small_lake)
    rows = stored(small_lake / "scan=sampled", "allowed", "sampled", "pass_KL_pi0nunu")
    rate = con.execute("SELECT sample_rate FROM scans WHERE scan = 'sampled'").fetchone()[0]
    weights = pc.if_else(rows["sampled"], 1 / rate, 1.0)
    (histogram,) = histograms_2d(con, [WHOLE_PLANE], Selection(("sampled",)))
    assert histogram["rows"].sum() == rows.num_rows
    assert histogram["points"].sum() == pytest.approx(pc.sum(weights).as_py())
    (koto,) = pass_fractions(con, Selection(("sampled",)), ["KL_pi0nunu"]).to_dict("records")
    passing = pc.sum(pc.if_else(rows["pass_KL_pi0nunu"], weights, 0.0)).as_py()
    assert koto["rows_passing"] == pc.sum(rows["pass_KL_pi0nunu"]).as_py()
    assert koto["fraction_of_points"] == pytest.approx(passing / pc.sum(weights).as_py())


def test_a_density_reads_the_head_of_a_scan_and_scales_it_to_the_whole(small_lake):
    con = open_catalog(small_lake)
    (small,) = [info for info in scan_infos(con) if info.scan == "small"]  # 600 points in chunks of 250
    head = density_head(con, [small], 300)  # chunks 0 and 1 hold the first 300 rows
    (histogram,) = histograms_2d(con, [WHOLE_PLANE], Selection(("small",)), head)
    assert histogram["rows"].sum() == 2 * small.chunk_size
    assert histogram["points"].sum() == pytest.approx(small.rows)
    assert density_head(con, [small], small.rows) == Head()  # a scan no larger than the head: read whole
