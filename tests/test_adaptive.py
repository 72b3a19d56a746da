"""The adaptive sampler: exact weights (weighted counts estimate analytic prior fractions), the
defensive share, rounds recorded in the manifest, resume mid-round, and its config."""
from __future__ import annotations

import json
import math
import pathlib
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import around_allowed_point, config_doc, run_cli
from dsscan import adaptive
from dsscan.config import load_config, to_toml
from dsscan.plan import WEIGHT, chunk_points
from lake.catalog import open_catalog
from lake.layout import chunk_file_name, manifest_path, scan_dir
from lake.manifest import COMPLETE, INTERRUPTED, Manifest
from lake.writer import read_schema
from services import make_engine
from services.driver import run_scan

CHUNK, ROUND, POINTS = 1_000, 2_000, 6_000  # three rounds of two chunks
SHARE = 0.2


def blob_proposal(dims: int = 3, centre: float = 0.3, width: float = 0.05) -> dict:
    """A proposal fitted to a Gaussian blob of points around ``centre`` in the unit cube."""
    rng = np.random.default_rng(1)
    unit = np.clip(rng.normal(centre, width, size=(500, dims)), 1e-6, 1 - 1e-6)
    return adaptive.fit(unit, np.ones(len(unit)), SHARE, np.random.default_rng(2), "blob")


def weighted_share(inside: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """sum(w 1_region) / n and its standard error."""
    terms = np.where(inside, weight, 0.0)
    return terms.mean(), terms.std(ddof=1) / math.sqrt(len(terms))


def drawn_with_weights(proposal: dict, dims: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's unit-cube points and every one's weight."""
    drawn = adaptive.draw_points(proposal, dims, count, rng)
    return drawn.unit, drawn.weights(np.arange(count))


def test_the_weights_of_some_rows_are_the_bits_of_those_rows_among_all():
    """A scan computes weights for the rows it stores only: a row's weight must not depend on which
    other rows are computed with it (blocks, SIMD lanes)."""
    drawn = adaptive.draw_points(blob_proposal(), 3, 10_000, np.random.default_rng(8))
    every = drawn.weights(np.arange(10_000))
    rows = np.flatnonzero(np.random.default_rng(9).random(10_000) < 0.03)
    np.testing.assert_array_equal(drawn.weights(rows).view(np.uint64), every[rows].view(np.uint64))
    assert len(np.unique(every[rows])) > len(rows) // 2


@pytest.mark.parametrize("box, volume", [
    ((0.25, 0.35), 0.1**3),  # where the proposal crowds its points
    ((0.6, 1.0), 0.4**3),  # where only the defensive prior share reaches
    ((0.0, 0.5), 0.5**3),  # across both
])
def test_weighted_counts_estimate_a_box_prior_volume(box, volume):
    unit, weight = drawn_with_weights(blob_proposal(), 3, 50_000, np.random.default_rng(3))
    inside = ((unit > box[0]) & (unit < box[1])).all(axis=1)
    estimate, error = weighted_share(inside, weight)
    assert abs(estimate - volume) < 4 * error, (estimate, volume, error)
    assert inside.mean() != pytest.approx(volume, rel=0.3) or box == (0.0, 0.5)  # unweighted counts would not


def test_a_defensive_share_of_every_chunk_comes_from_the_prior_and_bounds_the_weights():
    count = 50_000
    unit, weight = drawn_with_weights(blob_proposal(), 3, count, np.random.default_rng(4))
    from_prior = math.ceil(SHARE * count)
    assert weight.max() <= 1 / (from_prior / count)
    far = ((unit > 0.6) & (unit < 1.0)).all(axis=1)  # the proposal's Gaussians leave this box to the prior
    expected = from_prior * 0.4**3
    assert abs(far.sum() - expected) < 5 * math.sqrt(expected)
    assert far[from_prior:].sum() < 0.01 * expected


def test_the_proposal_is_json_numbers_and_draws_the_same_bits_from_them():
    import json

    proposal = blob_proposal()
    again = json.loads(json.dumps(proposal))
    first = drawn_with_weights(proposal, 3, 1_000, np.random.default_rng(5))
    second = drawn_with_weights(again, 3, 1_000, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))


def test_every_weight_is_the_prior_over_the_proposal_density_computed_independently():
    """The compiled weights against scipy: q(u) = c + (1 - c) g(u), g the Gaussian mixture's density
    in z = logit(u) times |dz/du| = 1 / prod u (1 - u), for points from both parts of a chunk."""
    from scipy.special import logit
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(6)
    fitted = adaptive.fit(rng.beta(2, 5, size=(3_000, 4)), rng.random(3_000), 0.2, rng, "allowed points")
    proposal = adaptive.Proposal(fitted)
    count = 20_000
    unit, weight = drawn_with_weights(fitted, 4, count, np.random.default_rng(7))
    share = proposal.prior_rows(count) / count
    z = logit(unit)
    g = sum(pi * multivariate_normal(mu, L @ L.T).pdf(z) for pi, mu, L in zip(proposal.mixture, proposal.means, proposal.cholesky))
    g /= np.prod(unit * (1 - unit), axis=1)
    np.testing.assert_allclose(weight, 1 / (share + (1 - share) * g), rtol=1e-12)


def with_kernels(proposal: dict, unit: np.ndarray) -> dict:
    """``proposal`` with the kernels and probes a tally of the allowed points ``unit`` gives on plane (0, 1)."""
    tally = adaptive.BinTally(((0, 1),), unit.shape[1])
    tally.add(unit)
    return proposal | {"kernels": tally.kernels(), "probes": tally.probes()}


def test_the_weights_with_kernels_are_the_prior_over_the_proposal_density_computed_independently():
    """With kernels and probes, g = (1 - s - t) (the fitted mixture) + s (the kernels, equal parts)
    + t (the probes, equal parts), each kernel or probe a Gaussian in z = logit(u) with a diagonal
    covariance: the compiled weights against scipy, for points drawn from every part of the chunk;
    where only the kernels and probes draw, weighted counts estimate the prior volume."""
    from scipy.special import logit
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(16)
    fitted = adaptive.fit(rng.beta(2, 5, size=(3_000, 4)), rng.random(3_000), 0.2, rng, "allowed points")
    proposal_doc = with_kernels(fitted, rng.beta(6, 1, size=(200, 4)))
    kernels, probes = proposal_doc["kernels"], proposal_doc["probes"]
    assert 0 < len(kernels["means"]) <= adaptive.MAX_KERNELS and kernels["share"] == adaptive.KERNEL_SHARE
    assert 0 < len(probes["means"]) <= adaptive.MAX_PROBES and probes["share"] == adaptive.PROBE_SHARE
    count = 40_000
    unit, weight = drawn_with_weights(proposal_doc, 4, count, np.random.default_rng(17))
    share = adaptive.Proposal(proposal_doc).prior_rows(count) / count
    z = logit(unit)
    fitted_g = sum(pi * multivariate_normal(mu, L @ L.T).pdf(z)
                   for pi, mu, L in zip(fitted["mixture"], np.array(fitted["means"]), np.array(fitted["cholesky"])))
    kernel_g, probe_g = (np.mean([multivariate_normal(mu, np.diag(np.square(sd))).pdf(z) for mu, sd in zip(group["means"], group["scales"])], axis=0)
                         for group in (kernels, probes))
    g = ((1 - kernels["share"] - probes["share"]) * fitted_g / sum(fitted["mixture"]) + kernels["share"] * kernel_g
         + probes["share"] * probe_g) / np.prod(unit * (1 - unit), axis=1)
    np.testing.assert_allclose(weight, 1 / (share + (1 - share) * g), rtol=1e-12)
    corner = (unit > 0.8).all(axis=1)  # where the kernels are and the fitted mixture is not: the draws follow q there
    estimate, error = weighted_share(corner, weight)
    assert abs(estimate - 0.2**4) < 4 * error and corner.mean() > 5 * 0.2**4  # unweighted counts would not


def test_cross_round_weights_estimate_the_variance_of_a_weighted_count_from_every_rounds_rows():
    """Over scans of three rounds (the prior, a broad and a narrow proposal) of unequal size, in a
    region the narrow one covers thinly: sum w w̄ (``cross_round_weights``) averages to
    sum_s n_s E_prior[1_R / q_s], computed from a large uniform sample, and sum w w̄ - S^2 / N to the
    variance of the weighted count S = sum w over the scans; sum w^2 averages to the same second
    moment too, but a typical scan's falls short where the narrow round seldom draws."""
    rng = np.random.default_rng(21)
    broad = adaptive.fit(rng.beta(2, 8, size=(2_000, 2)), np.ones(2_000), 0.2, rng, "allowed points")
    narrow = adaptive.fit(rng.beta(30, 10, size=(2_000, 2)), np.ones(2_000), 0.1, rng, "allowed points")
    proposals, points = [None, broad, narrow], [300, 600, 3_000]
    region = lambda unit: ((unit > 0.15) & (unit < 0.18)).all(axis=1)  # noqa: E731  where the broad one is dense
    uniform = rng.random((2_000_000, 2))
    moment = sum(n * np.mean(region(uniform) * w) for n, w in zip(points, adaptive.round_weights(uniform, proposals)))
    counts, cross, squares = [], [], []
    for _ in range(400):
        drawn = [drawn_with_weights(doc, 2, n, rng) for doc, n in zip(proposals, points)]
        unit, weight = np.concatenate([u for u, _ in drawn]), np.concatenate([w for _, w in drawn])
        inside = region(unit)
        counts.append(weight[inside].sum())
        cross.append((weight * adaptive.cross_round_weights(unit, proposals, points))[inside].sum())
        squares.append((weight[inside] ** 2).sum())
    counts, cross, squares = map(np.array, (counts, cross, squares))
    assert abs(cross.mean() - moment) < 4 * cross.std() / math.sqrt(len(cross))
    assert abs(squares.mean() - moment) < 4 * squares.std() / math.sqrt(len(squares))
    variance = cross - counts**2 / sum(points)
    tolerance = 4 * math.sqrt(2 / len(counts)) + 4 * variance.std() / math.sqrt(len(variance)) / counts.var()
    assert abs(variance.mean() / counts.var(ddof=1) - 1) < tolerance
    assert np.median(cross) > 3 * np.median(squares)  # a typical scan's own-round estimate falls short


def test_the_tally_counts_each_bin_and_keeps_the_first_point_found_in_it():
    """``BinTally`` against histograms, over two additions: counts per bin of each plane, the first
    row (in the order added) of every occupied bin, and its rows furthest toward each side."""
    rng = np.random.default_rng(18)
    first, second = rng.beta(0.5, 2.0, size=(3_000, 3)), rng.beta(0.5, 2.0, size=(2_000, 3))
    planes = ((0, 1), (2, 0))
    tally = adaptive.BinTally(planes, 3)
    tally.add(first)
    tally.add(second)
    both = np.concatenate([first, second])
    edges = np.linspace(0, 1, adaptive.FLATTEN_BINS + 1)
    for plane, (a, b) in enumerate(planes):
        counts = np.histogram2d(both[:, a], both[:, b], bins=[edges, edges])[0].astype(np.int64).ravel()
        np.testing.assert_array_equal(tally.counts[plane], counts)
        for cell in np.flatnonzero(counts)[::7]:
            i, j = divmod(cell, adaptive.FLATTEN_BINS)
            inside = np.flatnonzero((np.digitize(both[:, a], edges) - 1 == i) & (np.digitize(both[:, b], edges) - 1 == j))
            np.testing.assert_array_equal(tally.first[plane, cell], both[inside[0]])
            for side, (axis, step) in enumerate(adaptive.SIDES):  # the points furthest toward each side
                coordinate = both[inside, (a, b)[axis]]
                furthest = inside[np.argmin(coordinate) if step < 0 else np.argmax(coordinate)]
                np.testing.assert_array_equal(tally.edges[plane, cell, side], both[furthest])
        assert np.isnan(tally.first[plane, counts == 0]).all() and np.isnan(tally.edges[plane, counts == 0]).all()


def test_kernels_sit_on_the_rarest_bins_first_points_and_stop_when_no_bin_is_rare():
    """``BinTally.kernels``: one kernel per occupied bin below RARE_TARGET points, the rarest first,
    at most MAX_KERNELS, a point first in two rare bins once; standard deviations of KERNEL_WIDTH in
    unit coordinates (capped in logit ones); none once every occupied bin holds RARE_TARGET points."""
    from scipy.special import expit

    rng = np.random.default_rng(19)
    crowd = np.repeat([[0.5, 0.5], [0.52, 0.47], [0.45, 0.55]], 1_000, axis=0)  # three bins far above the target
    rare = np.array([[0.02, 0.97], [0.93, 0.11], [0.93, 0.12], [0.81, 0.31], [0.81, 0.31], [0.93, 0.13]])
    tally = adaptive.BinTally(((0, 1), (1, 0)), 2)
    tally.add(np.concatenate([crowd, rare]))
    kernels = tally.kernels()
    centres = expit(np.array(kernels["means"]))
    assert len(centres) == 3  # the transposed plane's rare bins hold the same first points
    assert [tuple(np.round(c, 12)) for c in centres[:3]] == [(0.02, 0.97), (0.81, 0.31), (0.93, 0.11)]  # 1, 2, 3 points
    np.testing.assert_allclose(np.array(kernels["scales"]),
                               np.minimum(adaptive.KERNEL_WIDTH / (centres * (1 - centres)), adaptive.MAX_KERNEL_SCALE), rtol=1e-9)
    many = adaptive.BinTally(((0, 1),), 2)
    many.add(rng.random((400, 2)))  # about 250 occupied bins, each of a few points
    assert len(many.kernels()["means"]) == adaptive.MAX_KERNELS
    full = adaptive.BinTally(((0, 1),), 2)
    full.add(np.repeat(rng.random((5, 2)), adaptive.RARE_TARGET, axis=0))
    assert full.kernels() is None


def test_probes_sit_at_the_points_furthest_toward_empty_bins_while_those_points_move():
    """``BinTally.probes``: for an occupied block of bins, one probe per empty bin beside it along an
    axis (none beyond the plane's edge, none between occupied bins), at the block's point furthest
    toward it; after ``PROBE_ROUNDS`` rounds in which that point has not moved, none; a further point
    found toward one side brings that side's probes back."""
    from scipy.special import expit

    rng = np.random.default_rng(20)
    width = 1 / adaptive.FLATTEN_BINS
    block = rng.uniform(0, 3 * width, size=(2_000, 2))  # bins 0-2 x 0-2 of the plane: an L of 3 + 3 empty bins beside it
    tally = adaptive.BinTally(((0, 1),), 2)
    tally.add(block)
    centres = expit(np.array(tally.probes()["means"]))
    assert len(centres) == 6
    bins = (block * adaptive.FLATTEN_BINS).astype(int)
    for row in range(3):
        in_row = block[bins[:, 0] == row]  # toward higher u_b: the point of highest u_b in bin (row, 2)
        edge = in_row[bins[bins[:, 0] == row, 1] == 2]
        assert any(np.allclose(c, edge[np.argmax(edge[:, 1])], rtol=1e-12) for c in centres)
    for _ in range(adaptive.PROBE_ROUNDS - 1):
        tally.add(np.empty((0, 2)))
    assert tally.probes() is not None
    tally.add(block[:10])  # the PROBE_ROUNDS-th round with nothing further out
    assert tally.probes() is None
    further = np.array([[2.9 * width, 2.999 * width]])  # a new point of highest u_b in bin (2, 2)
    tally.add(further)
    np.testing.assert_allclose(expit(np.array(tally.probes()["means"])), further, rtol=1e-12)


def test_thinning_keeps_every_heavy_row_and_its_weighted_sums_stay_unbiased():
    """``adaptive.thin`` against tau found by bisection: a row with w >= tau is kept in every draw,
    the others with probability w / tau; the kept count is ``size`` on average and the kept weights
    sum to the total on average."""
    rng = np.random.default_rng(11)
    weight = rng.lognormal(0.0, 3.0, size=20_000)
    size = 500
    low, high = 0.0, weight.sum()
    for _ in range(200):  # sum min(1, w / tau) = size
        tau = 0.5 * (low + high)
        low, high = (tau, high) if np.minimum(1.0, weight / tau).sum() > size else (low, tau)
    heavy = np.flatnonzero(weight >= high)
    assert 10 < len(heavy) < size
    counts, sums = [], []
    for _ in range(400):
        kept, kept_weight = adaptive.thin(weight, size, rng)
        assert np.isin(heavy, kept).all()
        np.testing.assert_allclose(kept_weight, np.maximum(weight[kept], high), rtol=1e-9)
        counts.append(len(kept))
        sums.append(kept_weight.sum())
    assert abs(np.mean(counts) - size) < 4 * np.std(counts) / math.sqrt(len(counts))
    assert abs(np.mean(sums) - weight.sum()) < 4 * np.std(sums) / math.sqrt(len(sums))
    assert np.std(sums) > 0  # the light rows were thinned, not all kept


def test_balance_weights_over_rounds_estimate_prior_volumes_with_less_spread_than_each_rounds_own():
    """Rows of three rounds (the prior, then two proposals around different centres), weighed by the
    mean of the three densities: weighted counts over all rows estimate a box's prior volume, no
    weight exceeds 3 (the prior's round bounds the mean density below by 1/3), and the weights'
    effective size exceeds that of each row's own round's weight."""
    rounds = [None, blob_proposal(centre=0.3), blob_proposal(centre=0.45)]
    count = 30_000
    parts = [drawn_with_weights(doc, 3, count, np.random.default_rng(20 + i)) if doc else
             (np.random.default_rng(20).random((count, 3)), np.ones(count)) for i, doc in enumerate(rounds)]
    unit = np.concatenate([p[0] for p in parts])
    own = np.concatenate([p[1] for p in parts])
    weight = adaptive.balance_weights(unit, rounds)
    assert weight.max() <= 3.0
    for box, volume in [((0.25, 0.35), 0.1**3), ((0.35, 0.5), 0.15**3), ((0.6, 1.0), 0.4**3)]:
        inside = ((unit > box[0]) & (unit < box[1])).all(axis=1)
        estimate, error = weighted_share(inside, weight)
        assert abs(estimate - volume) < 4 * error, (box, estimate, volume, error)
    assert adaptive.effective_size(weight) > 1.5 * adaptive.effective_size(own)


@pytest.fixture
def adaptive_config(write_config):
    doc = config_doc(scan={"name": "adaptive", "points": POINTS, "chunk_size": CHUNK, "sampler": "adaptive",
                           "round_points": ROUND, "defensive_share": SHARE})
    return write_config(doc)


@pytest.fixture
def kernels_config(write_config):
    """Four rounds of two chunks in a box around an allowed point, where most points are allowed: the
    fits from round 2 on are on allowed points and carry kernels."""
    return write_config(config_doc(scan={"name": "kernels", "points": 4 * ROUND, "chunk_size": CHUNK, "sampler": "adaptive",
                                         "round_points": ROUND, "defensive_share": SHARE, "store": "allowed"},
                                   parameters=around_allowed_point(0.5, 1.5)))


def stored(lake) -> tuple:
    con = open_catalog(lake)
    return con.sql("SELECT * EXCLUDE (scan) FROM points ORDER BY point_id").to_arrow_table()


def test_an_adaptive_scan_records_its_rounds_and_weighted_counts_estimate_prior_fractions(adaptive_config, tmp_path):
    spec = load_config(adaptive_config, lake_root=str(tmp_path))
    manifest = run_scan(spec, make_engine("local"))
    assert manifest.status == COMPLETE
    assert [r["round"] for r in manifest.rounds] == [0, 1, 2] and manifest.rounds[0]["proposal"] is None
    assert all(r["proposal"]["defensive_share"] == SHARE for r in manifest.rounds[1:])
    table = stored(tmp_path)
    assert read_schema(scan_dir(tmp_path, "adaptive") / chunk_file_name(0)).field(WEIGHT).metadata[b"unit"] == b"1"
    weight = table.column(WEIGHT).to_numpy()
    first_round = table.column("point_id").to_numpy() < ROUND
    assert (weight[first_round] == 1).all() and (weight[~first_round] != 1).any()
    # m_S_MeV uniform on [10, 150], eta_t on [0, 0.02]: the box m_S < 50, eta_t > 0.01 holds 2/7 * 1/2 of the prior
    box = (table.column("m_S_MeV").to_numpy() < 50) & (table.column("eta_t").to_numpy() > 0.01)
    estimate, error = weighted_share(box, weight)
    assert abs(estimate - 40 / 140 * 0.5) < 4 * error


def test_a_stored_rows_weight_is_its_planned_weight_when_only_some_rows_are_stored(write_config, tmp_path, monkeypatch):
    """Weights are computed for the stored rows only (allowed, sampled), batch by batch within a chunk
    (batches of 300 here), after the domain check drops points (m_S >= m_nu4 here): each stored row's
    weight is the bits ``chunk_points`` plans for it."""
    import dataclasses

    from services import engine

    monkeypatch.setattr(engine, "KERNEL_BATCH_POINTS", 300)

    doc = config_doc(scan={"name": "some", "points": POINTS, "chunk_size": CHUNK, "sampler": "adaptive", "round_points": ROUND,
                           "defensive_share": SHARE, "store": "allowed+sample", "sample_rate": 0.3},
                     parameters={"m_nu4_MeV": {"range": [100, 700]}})
    spec = load_config(write_config(doc), lake_root=str(tmp_path))
    manifest = run_scan(spec, make_engine("local"))
    assert manifest.totals()["outside_domain"] > 0 and 0 < manifest.totals()["rows"] < POINTS // 2
    table = stored(tmp_path)
    planned_weight = {}
    for index in range(spec.n_chunks):
        planned = chunk_points(dataclasses.replace(spec, proposal=manifest.rounds[spec.round_of(index)]), index)
        planned_weight.update(zip(planned["point_id"].tolist(), planned[WEIGHT].view(np.uint64).tolist()))
    stored_weight = table.column(WEIGHT).to_numpy().view(np.uint64)
    assert (stored_weight != np.float64(1).view(np.uint64)).sum() > 100
    assert stored_weight.tolist() == [planned_weight[i] for i in table.column("point_id").to_pylist()]
    again = Manifest.load(manifest_path(tmp_path, "some"))  # the rounds read back as they were written
    assert again.rounds == manifest.rounds and again.to_json() == manifest.to_json()


def test_a_fit_reads_the_rows_of_its_window_of_rounds_weighed_across_them(write_config, tmp_path, monkeypatch):
    """``EarlierRows.window``: the stored rows of the rounds asked for and no others (a sampled rejected
    row standing for 1 / sample_rate rows), weighed by the balance heuristic over those rounds'
    proposals; with only the allowed rows, the allowed ones of those rounds, each round's thinned to
    about ``FIT_ROWS_PER_ROUND`` (in a box around an allowed point, where most points are allowed)."""
    from services.rounds import EarlierRows

    doc = config_doc(scan={"name": "window", "points": POINTS, "chunk_size": CHUNK, "sampler": "adaptive", "round_points": ROUND,
                           "defensive_share": SHARE, "store": "allowed+sample", "sample_rate": 0.3}, parameters=around_allowed_point(0.97, 1.03))
    spec = load_config(write_config(doc), lake_root=str(tmp_path))
    manifest = run_scan(spec, make_engine("local"))
    table = stored(tmp_path)
    in_window = table.column("point_id").to_numpy() >= ROUND  # rounds 1 and 2
    unit, weight, failed = EarlierRows(spec).window(manifest, range(1, 3), only_allowed=False)
    expected_unit = np.column_stack([adaptive.from_range(table.column(n).to_numpy()[in_window], spec.parameters[n])
                                     for n in spec.free_parameters])
    np.testing.assert_array_equal(unit, expected_unit)
    scale = np.where(table.column("sampled").to_numpy(zero_copy_only=False)[in_window], 1 / 0.3, 1.0)
    proposals = [manifest.rounds[1]["proposal"], manifest.rounds[2]["proposal"]]
    np.testing.assert_allclose(weight, scale * adaptive.balance_weights(expected_unit, proposals), rtol=1e-12)
    assert ((failed == 0) == table.column("allowed").to_numpy(zero_copy_only=False)[in_window]).all()
    allowed = failed == 0
    assert allowed.sum() > 3 * adaptive.FIT_ROWS_PER_ROUND
    thinned_unit, thinned_weight, thinned_failed = EarlierRows(spec).window(manifest, range(1, 3), only_allowed=True)
    assert (thinned_failed == 0).all() and abs(len(thinned_unit) - 2 * adaptive.FIT_ROWS_PER_ROUND) < 100  # two rounds thinned
    assert {row.tobytes() for row in thinned_unit} <= {row.tobytes() for row in unit[allowed]}
    rows = EarlierRows(spec)
    rows.window(manifest, range(1, 3), only_allowed=False)
    rows.window(manifest, range(2, 3), only_allowed=True)
    assert {key[0] for key in rows._read} == {2}  # a round that left the window is not kept
    monkeypatch.setattr(adaptive, "FIT_ROWS_PER_ROUND", 10**6)  # nothing to thin
    allowed_unit, allowed_weight, _ = EarlierRows(spec).window(manifest, range(1, 3), only_allowed=True)
    np.testing.assert_array_equal(allowed_unit, unit[allowed])
    np.testing.assert_allclose(allowed_weight, weight[allowed], rtol=1e-12)


def test_a_rounds_kernels_are_on_the_rare_bins_of_every_earlier_rounds_allowed_rows(kernels_config, tmp_path):
    """The kernels and probes a round's proposal records come from the tally of the allowed rows of
    all earlier rounds, round by round in point_id order, on the figures' planes; a fresh ``EarlierRows`` (a resumed scan) gets
    the same tally, and the tally reads each round's files once."""
    from services.rounds import EarlierRows, figure_planes

    spec = load_config(kernels_config, lake_root=str(tmp_path))
    manifest = run_scan(spec, make_engine("local"))
    table = stored(tmp_path)
    unit = np.column_stack([adaptive.from_range(table.column(n).to_numpy(), spec.parameters[n]) for n in spec.free_parameters])
    point_id = table.column("point_id").to_numpy()
    for round_index in (2, 3):
        recorded = manifest.rounds[round_index]["proposal"]
        assert recorded["fitted_on"]["target"] == "allowed points"
        tally = adaptive.BinTally(figure_planes(spec), len(spec.free_parameters))
        for earlier in range(round_index):
            tally.add(unit[point_id // ROUND == earlier])
        assert recorded["kernels"] == tally.kernels() and len(recorded["kernels"]["means"]) > 0
        assert recorded["probes"] == tally.probes() and len(recorded["probes"]["means"]) > 0
    rows = EarlierRows(spec)
    reads = []
    original = rows._read_round
    rows._read_round = lambda *args, **kwargs: reads.append(args[1]) or original(*args, **kwargs)
    rows.window(manifest, range(2, 4), only_allowed=True)
    resumed = rows.found(manifest, 4)
    assert sorted(reads) == [0, 1, 2, 3]
    tally = adaptive.BinTally(figure_planes(spec), len(spec.free_parameters))
    for earlier in range(4):
        tally.add(unit[point_id // ROUND == earlier])
    for name in ("counts", "first", "edges", "edge_round"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(tally, name))


def test_the_benchmarks_cross_round_moments_are_each_rows_weight_times_its_weights_over_the_rounds(kernels_config, tmp_path, monkeypatch):
    """``cross_round_moments`` on a scan's allowed rows: unthinned, w_i times the mean over the four
    rounds (of equal size) of 1 / q_r(u_i), each round's weight computed here from its recorded
    proposal; thinned to a quarter of the rows, its sum over repeated thinnings averages to the
    unthinned sum."""
    import services.sampler_bench as sampler_bench

    spec = load_config(kernels_config, lake_root=str(tmp_path))
    manifest = run_scan(spec, make_engine("local"))
    rows = sampler_bench.allowed_rows(spec, manifest)
    unit = np.column_stack([adaptive.from_range(rows.column(n).to_numpy(), spec.parameters[n]) for n in spec.free_parameters])
    per_round = [np.ones(len(unit)) if r["proposal"] is None else adaptive.Proposal(r["proposal"]).weights(unit, spec.defensive_share)
                 for r in manifest.rounds]
    expected = rows.column("weight").to_numpy() * np.mean(per_round, axis=0)
    monkeypatch.setattr(sampler_bench, "CROSS_ROUND_ROWS", 10**9)
    whole = sampler_bench.cross_round_moments(rows, spec, manifest, np.random.default_rng(0))
    np.testing.assert_allclose(whole, expected, rtol=1e-12)
    monkeypatch.setattr(sampler_bench, "CROSS_ROUND_ROWS", len(rows) // 4)
    thinned = [sampler_bench.cross_round_moments(rows, spec, manifest, np.random.default_rng(seed)) for seed in range(200)]
    sums = np.array([t.sum() for t in thinned])
    assert abs(sums.mean() - whole.sum()) < 4 * sums.std() / math.sqrt(len(sums))
    assert abs(np.mean([np.count_nonzero(t) for t in thinned]) - len(rows) / 4) < 0.1 * len(rows)


def test_flattened_weights_give_each_occupied_bin_of_a_plane_the_geometric_mean_of_its_mass_and_the_mean():
    """``adaptive.flatten`` against histograms: on one plane every occupied bin's weight becomes
    sqrt(m_bin m_mean) (FLATTEN_POWER = 1/2), so a bin a hundred times lighter than the mean is only ten
    times lighter; on two planes a row takes the larger of the two factors; without planes nothing
    changes."""
    assert adaptive.FLATTEN_POWER == 0.5 and adaptive.FLATTEN_BINS == 20
    rng = np.random.default_rng(12)
    unit = np.column_stack([rng.beta(0.7, 3.0, 20_000), rng.random(20_000), rng.beta(4.0, 1.5, 20_000)])
    weight = rng.exponential(size=20_000)
    edges = np.linspace(0, 1, 21)

    def masses(w, a, b):
        return np.histogram2d(unit[:, a], unit[:, b], bins=[edges, edges], weights=w)[0]

    before = masses(weight, 0, 1)
    occupied = before > 0
    after = masses(adaptive.flatten(unit, weight, ((0, 1),)), 0, 1)
    np.testing.assert_allclose(after[occupied], np.sqrt(before[occupied] * before[occupied].mean()), rtol=1e-10)
    assert before[occupied].max() / before[occupied].min() > 100  # the planes' bins were far from flat
    both = adaptive.flatten(unit, weight, ((0, 1), (2, 1)))
    one = adaptive.flatten(unit, weight, ((0, 1),)) / weight
    other = adaptive.flatten(unit, weight, ((2, 1),)) / weight
    np.testing.assert_allclose(both, weight * np.maximum(one, other), rtol=1e-12)
    np.testing.assert_array_equal(adaptive.flatten(unit, weight, ()), weight)


def test_only_a_fit_on_allowed_points_is_flattened_and_on_the_paper_figures_planes():
    """``fit_points`` flattens the weights of allowed points on the planes it is given, not those of
    a relaxed target; ``services.rounds.figure_planes`` gives the 2024 config's five Fig. 2 planes."""
    from services.rounds import figure_planes
    from services.sampler_bench import FIG2_PAIRS

    rng = np.random.default_rng(13)
    unit, weight = rng.random((500, 3)), rng.exponential(size=500)
    allowed = adaptive.fit_points(unit, weight, np.zeros(500, dtype=np.int64), ((0, 2),))
    np.testing.assert_allclose(allowed[1], adaptive.flatten(unit, weight, ((0, 2),)), rtol=1e-15)
    assert allowed[2] == "allowed points" and not np.allclose(allowed[1], weight)
    relaxed = adaptive.fit_points(unit, weight, np.ones(500, dtype=np.int64), ((0, 2),))
    assert relaxed[2] == "points failing at most 1 constraint"
    np.testing.assert_array_equal(relaxed[1], weight)
    spec = load_config(pathlib.Path(__file__).parents[1] / "configs" / "datta2024.toml")
    free = spec.free_parameters
    assert {(free[a], free[b]) for a, b in figure_planes(spec)} == set(FIG2_PAIRS)
    assert len(FIG2_PAIRS) == 5


def test_the_resolved_adaptive_config_reads_back(adaptive_config, write_config):
    spec = load_config(adaptive_config)
    assert (spec.round_points, spec.defensive_share, spec.n_rounds) == (ROUND, SHARE, 3)
    assert load_config(write_config(to_toml(spec))) == spec


def test_a_chunk_needs_its_rounds_proposal(adaptive_config):
    spec = load_config(adaptive_config)
    assert (chunk_points(spec, 1)[WEIGHT] == 1).all()  # round 0: the prior
    with pytest.raises(ValueError, match="belongs to adaptive round 1"):
        chunk_points(spec, 2)


@pytest.mark.parametrize("config, last_chunk", [
    ("adaptive_config", 2),  # the first of round 1's two chunks: resumed mid-round
    ("kernels_config", 5),  # the last of round 2's: the resumed scan fits round 3, its kernels from a fresh tally
])
def test_an_adaptive_scan_interrupted_mid_round_resumes_to_the_uninterrupted_content(config, last_chunk, request, tmp_path):
    path = request.getfixturevalue(config)
    reference_lake, lake = tmp_path / "reference", tmp_path / "stopped"
    reference = run_scan(load_config(path, lake_root=str(reference_lake)), make_engine("local"))
    spec = load_config(path, lake_root=str(lake))

    def stop_after_the_last_chunk(record) -> None:
        if record.index == last_chunk:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scan(spec, make_engine("local"), stop_after_the_last_chunk)
    stopped = Manifest.load(manifest_path(lake, spec.name))
    assert stopped.status == INTERRUPTED and sorted(stopped.chunks) == list(range(last_chunk + 1))
    assert len(stopped.rounds) == last_chunk // 2 + 1
    resumed = run_scan(spec, make_engine("local"), resume=True)
    assert resumed.status == COMPLETE and resumed.rounds == reference.rounds
    assert stored(lake).equals(stored(reference_lake))
    if config == "kernels_config":
        assert resumed.rounds[3]["proposal"]["kernels"] is not None


def test_a_lake_written_before_weights_still_queries_with_null_weights(write_config, tmp_path, capsys):
    assert run_cli("scan", write_config(config_doc(scan={"name": "new"})), "--lake", tmp_path, "--engine", "local", "--no-progress") == 0
    old = scan_dir(tmp_path, "old")  # the same scan as a dsscan before weights wrote it
    shutil.copytree(scan_dir(tmp_path, "new"), old)
    for path in old.glob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns([WEIGHT]), path)
    manifest = Manifest.load(manifest_path(tmp_path, "new"))
    manifest.scan = "old"
    manifest.save(tmp_path)
    capsys.readouterr()
    query = "SELECT scan, count(*) AS n, count(weight) AS weighted, sum(coalesce(weight, 1)) AS w FROM points GROUP BY scan ORDER BY scan"
    assert run_cli("sql", query, "--lake", tmp_path, "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"scan": "new", "n": 600, "weighted": 600, "w": 600.0}, {"scan": "old", "n": 600, "weighted": 0, "w": 600.0}]
    assert run_cli("lake", "info", "old", "--lake", tmp_path) == 0 and run_cli("lake", "verify", "new", "--lake", tmp_path) == 0


def test_the_benchmarks_uniform_halves_are_independent_scans_and_coverage_counts_shared_bins(tmp_path):
    """The coverage reference of ``dsscan bench --samplers``: a uniform scan split by point_id parity
    gives two disjoint halves whose points are drawn independently; coverage is the share of one
    table's occupied 20 x 20 bins that another occupies."""
    import pyarrow as pa

    from dsscan.plan import chunk_points
    from services.sampler_bench import FIG2_PAIRS, coverage, random_subset, uniform_halves

    spec = load_config(str(pathlib.Path(__file__).parents[1] / "configs" / "demo.toml"), lake_root=str(tmp_path))
    drawn = chunk_points(spec, 0)
    rows = pa.table({name: drawn[name] for name in ("point_id", *spec.free_parameters)})
    even, odd = uniform_halves(rows)
    assert sorted([*even.column("point_id").to_pylist(), *odd.column("point_id").to_pylist()]) == rows.column("point_id").to_pylist()
    assert all(i % 2 == 0 for i in even.column("point_id").to_pylist()) and len(odd) == len(even)
    pairs = ["-".join(pair) for pair in FIG2_PAIRS if all(n in spec.free_parameters for n in pair)]
    assert pairs and coverage(even, even, spec) == dict.fromkeys(pairs, 1.0)
    low = even.filter(pa.compute.less(even.column("eta_t"), spec.parameters["eta_t"].low * 1.001))  # one row or none
    assert all(share < 0.05 for share in coverage(low, even, spec).values())
    halves = coverage(odd, even, spec)  # 10^5 uniform points fill every bin of the demo's box
    assert all(share == 1.0 for share in halves.values())
    heavy = np.zeros(len(rows))
    heavy[:1000] = 1e9  # a draw by weight takes the heavy rows first, a draw at random hardly any
    weighted = rows.append_column("weight", pa.array(heavy + 1.0))
    rng = np.random.default_rng(0)
    assert random_subset(weighted, 1000, rng, weighted=True).column("point_id").to_pylist() == list(range(1000))
    assert len(set(random_subset(weighted, 1000, rng, weighted=False).column("point_id").to_pylist()) & set(range(1000))) < 50


def test_the_fits_gaussian_log_densities_are_scipys():
    """The EM's log N(z; mu_k, Sigma_k), computed by forward substitution with each Cholesky factor,
    against scipy's multivariate normal on points far from and near each mean."""
    from scipy.stats import multivariate_normal

    rng = np.random.default_rng(3)
    z = rng.normal(size=(500, 4)) * [1.0, 3.0, 0.1, 10.0] + [0.0, -5.0, 20.0, 2.0]
    means = rng.normal(size=(3, 4)) * 2
    covs = np.stack([a @ a.T + np.eye(4) for a in rng.normal(size=(3, 4, 4))])
    expected = np.stack([multivariate_normal(m, c).logpdf(z) for m, c in zip(means, covs)])  # [Gaussian, point]
    np.testing.assert_allclose(adaptive._log_gaussians(z, means, covs), expected, rtol=1e-12)


def test_the_fits_weighted_covariances_are_numpys():
    """The EM's covariance of the points about each mean under each Gaussian's responsibilities,
    against numpy's weighted covariance (about the given mean: the points shifted by it, bias=True
    divides by the sum of the weights)."""
    rng = np.random.default_rng(4)
    z = rng.normal(size=(700, 5)) * [1.0, 3.0, 0.1, 10.0, 0.5]
    means = rng.normal(size=(3, 5))
    resp = rng.random((3, 701))[:, :700]  # [Gaussian, point], a point count that is no multiple of 8
    for k, cov in enumerate(adaptive._weighted_covs(z, resp, means)):
        centred = z - means[k]
        expected = np.einsum("n,na,nb->ab", resp[k], centred, centred) / resp[k].sum()
        np.testing.assert_allclose(cov, expected, rtol=1e-12, atol=1e-15)
        assert np.array_equal(cov, cov.T)


def test_a_warm_started_fit_keeps_the_previous_rounds_heaviest_gaussians_and_finds_the_mixture():
    """Round r's EM starts from round r-1's mixture; when fewer Gaussians are allowed now, the
    heaviest of the previous ones go on. Two known Gaussians are recovered from such a start."""
    rng = np.random.default_rng(5)
    truth_means = np.array([[0.0, 0.0], [6.0, -3.0]])
    z = np.concatenate([rng.normal(size=(3000, 2)) + truth_means[0], 0.5 * rng.normal(size=(1000, 2)) + truth_means[1]])
    start = (np.array([0.05, 0.7, 0.25]), np.array([[40.0, 40.0], [0.5, 0.5], [5.5, -2.5]]), np.stack([np.eye(2)] * 3))
    mixture, means, covs = adaptive._weighted_em(z, np.ones(len(z)), 2, np.random.default_rng(0), start)
    np.testing.assert_allclose(mixture, [0.75, 0.25], atol=0.02)
    np.testing.assert_allclose(means, truth_means, atol=0.1)
    floor = adaptive.COVARIANCE_FLOOR * z.var(axis=0)  # added to every Gaussian's variance
    np.testing.assert_allclose(np.diagonal(covs, axis1=1, axis2=2), np.array([[1.0, 1.0], [0.25, 0.25]]) + floor, rtol=0.1)


def test_the_benchmarks_uniform_scan_is_two_halves_with_two_seeds_around_the_adaptive_scan(tmp_path):
    """``compare_samplers`` times the uniform scan in two halves (the config's seed, then the next),
    before and after the adaptive scan, and adds them up: points, allowed points and CPU seconds."""
    import dataclasses

    from services.driver import run_scan
    from services.local import LocalEngine
    from services.sampler_bench import compare_samplers, kappa0_variant

    spec = kappa0_variant(load_config(str(pathlib.Path(__file__).parents[1] / "configs" / "demo.toml"), lake_root=str(tmp_path)))
    result = compare_samplers(spec, "kappa0", 4_000_001, 2_000_000)
    assert (result.uniform.points, result.adaptive.points) == (4_000_001, 2_000_000)
    halves = [run_scan(dataclasses.replace(spec, name=f"half{seed}", seed=seed, points=points, store="allowed", sample_rate=None),
                       LocalEngine()).totals()["allowed"] for seed, points in ((spec.seed, 2_000_000), (spec.seed + 1, 2_000_001))]
    assert result.uniform.allowed == sum(halves) and min(halves) > 0
    assert result.uniform.cpu_s > 0 and result.adaptive.allowed > 0
