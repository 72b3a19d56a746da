"""The numba kernel against the per-point reference (the oracle), and its tables against quadrature."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

import dsscan
from dsscan.constraints import load_constraint_set
from dsscan.inputs import load_inputs
from dsscan.parameters import domain_limits, readonly_float64
from dsscan.physics import scattering, scattering_tables, tables
from dsscan.physics.reference import evaluate_reference, g2_one_loop_integral, kmunuS_reduced_width, observables

# Columns that go through a linear-interpolation table in the kernel (issue: 1e-6 there, 1e-9 elsewhere).
TABULATED = {"delta_a_mu", "delta_a_e", "BR_Kp_munuee_NP"}
SCATTERING = {"R_miniboone", "R_charm2"}


def random_points(rng: np.random.Generator, n: int, m_S_range: tuple[float, float]) -> dict[str, np.ndarray]:
    """Points spanning the supported domain: log-uniform couplings, kappa = 0 for a fifth of them,
    a tenth on the eta_c ~ -27 eta_t cancellation line, masses up to the domain edges."""
    lim = domain_limits()
    m_S = rng.uniform(*m_S_range, n)
    eta_t = rng.uniform(-0.02, 0.02, n)
    eta_c = np.where(rng.random(n) < 0.1, -rng.uniform(24, 30, n) * eta_t, rng.uniform(-0.5, 0.5, n))
    return {
        "kappa_TeV": rng.uniform(0, 2, n) * (rng.random(n) > 0.2),
        "eta_d": rng.uniform(0, 1.5, n),
        "eta_u": rng.uniform(-0.01, 0.01, n),
        "eta_c": eta_c,
        "eta_t": eta_t,
        "g_D": 10 ** rng.uniform(-3, math.log10(math.sqrt(4 * math.pi)), n),
        "U_mu4": 10 ** rng.uniform(-6, -0.5, n),
        "m_S_MeV": m_S,
        "m_nu4_MeV": m_S + (lim["m_nu4_max_MeV"] - m_S) * rng.random(n) ** 2 + 1e-6,
    }


def threshold_points() -> dict[str, np.ndarray]:
    """m_S at and around 2 m_mu (S -> mu mu opens), at the lower and upper domain edges, m_nu4 just above m_S."""
    inp, lim = load_inputs(), domain_limits()
    two_m_mu = 2 * inp.m_mu * 1e3
    m_S = np.array([
        lim["m_S_min_MeV"] * (1 + 1e-12), lim["m_S_min_MeV"] * 1.001, two_m_mu * (1 - 1e-12), two_m_mu,
        two_m_mu * (1 + 1e-12), two_m_mu * 1.0001, lim["m_S_max_MeV"], inp.NA48_mee_min * 1e3,
        inp.LHCb_mee_min * 1e3, inp.LHCb_mee_min * 1e3 * (1 + 1e-9),
    ])
    n = len(m_S)
    return {
        "kappa_TeV": np.linspace(0, 2, n), "eta_d": np.full(n, 0.5), "eta_u": np.zeros(n),
        "eta_c": np.full(n, -0.14), "eta_t": np.full(n, 0.0054), "g_D": np.full(n, 2.0),
        "U_mu4": np.full(n, 4e-3), "m_S_MeV": m_S, "m_nu4_MeV": np.minimum(m_S * (1 + 1e-9) + 1e-9, 1000.0),
    }


def assert_kernel_matches_reference(points: dict[str, np.ndarray]) -> None:
    table = dsscan.evaluate(points, "datta2024")
    reference = evaluate_reference(points)
    worst = {}
    for name, expected in reference.items():
        got = table.column(name).to_numpy()
        assert np.all(np.isfinite(got)), name
        scale = np.maximum(np.abs(expected), 1e-300)
        worst[name] = float(np.max(np.abs(got - expected) / scale))
    too_far = {
        name: err for name, err in worst.items()
        if err > (1e-6 if name in TABULATED else 1e-9)
    }
    assert not too_far, f"kernel departs from the reference: {too_far}"


def test_kernel_matches_reference_on_10k_points_below_the_NA48_region():
    rng = np.random.default_rng(20261122)
    inp = load_inputs()
    assert_kernel_matches_reference(random_points(rng, 10_000, (domain_limits()["m_S_min_MeV"] * 1.0001, inp.NA48_mee_min * 1e3)))


def test_kernel_matches_reference_where_K_to_mu_nu_S_counts():
    rng = np.random.default_rng(7)
    lim, inp = domain_limits(), load_inputs()
    assert_kernel_matches_reference(random_points(rng, 200, (inp.NA48_mee_min * 1e3, lim["m_S_max_MeV"])))


def test_kernel_matches_reference_at_thresholds_and_domain_edges():
    assert_kernel_matches_reference(threshold_points())


@pytest.mark.parametrize("constraint_set", ["datta2024", "datta2020"])
def test_kernel_verdicts_equal_the_readable_judge(constraint_set):
    rng = np.random.default_rng(3)
    points = random_points(rng, 5003, (1.1, 279.0))  # not a multiple of 8: the last verdict byte is partial
    table = dsscan.evaluate(points, constraint_set)
    columns = {name: table.column(name).to_numpy() for name in table.column_names if name != "scenario"}
    expected = load_constraint_set(constraint_set).judge(columns)
    for name, verdict in expected.items():
        np.testing.assert_array_equal(table.column(name).to_numpy(), verdict, err_msg=name)
    # the sample must exercise both outcomes of most constraints, or the comparison proves little
    mixed = [n for n in expected if 0 < expected[n].sum() < len(expected[n])]
    assert len(mixed) >= len(expected) // 3, mixed


def test_shipped_g2_loop_table_equals_the_reference_quadrature_at_random_nodes():
    table = tables.load("g2_loop")
    nodes = np.random.default_rng(11).integers(0, len(table.values), 25)
    for k in nodes:
        r = math.exp(table.x_min + k * table.dx)
        assert table.values[k] == pytest.approx(g2_one_loop_integral(r), rel=1e-12)


def test_shipped_kmunuS_table_equals_the_reference_dalitz_integral_at_random_nodes():
    table = tables.load("kmunuS")
    inp = load_inputs()
    for k in np.random.default_rng(12).integers(0, len(table.values), 6):
        assert table.values[k] == pytest.approx(kmunuS_reduced_width(table.x_min + k * table.dx, inp), rel=1e-9)


def test_tables_interpolate_to_1e_7_between_nodes():
    """Midpoints are where linear interpolation errs most: check them against quadrature."""
    g2 = tables.load("g2_loop")
    for k in np.random.default_rng(13).integers(0, len(g2.values) - 1, 20):
        ln_r = g2.x_min + (k + 0.5) * g2.dx
        assert g2(ln_r) == pytest.approx(g2_one_loop_integral(math.exp(ln_r)), rel=1e-7)
    kmu, inp = tables.load("kmunuS"), load_inputs()
    for k in np.random.default_rng(14).integers(0, len(kmu.values) - 1, 4):
        m_S = kmu.x_min + (k + 0.5) * kmu.dx
        assert kmu(m_S) == pytest.approx(kmunuS_reduced_width(m_S, inp), rel=2e-7)


def upscattering_twin(point: dict[str, float]) -> tuple[float, float]:
    """R_miniboone, R_charm2 from the numpy lookup of the same tables and the reference's ``ratios``."""
    tabs = scattering_tables.load_tables()
    m_S, m_nu4 = point["m_S_MeV"] * 1e-3, point["m_nu4_MeV"] * 1e-3
    unit = {n: float(scattering_tables.interpolate(tabs, f"ln_I_{n}", m_S, m_nu4)) for n in scattering.UNIT_INTEGRALS}
    D_CH2 = float(scattering_tables.interpolate_D_CH2(tabs, m_nu4))
    obs = observables(point)
    C_p, C_n = scattering.nucleon_couplings(point["eta_u"], point["eta_d"], point["eta_c"], point["eta_t"])
    y = scattering.lepton_coupling(point["g_D"], point["U_mu4"])
    return scattering.ratios(y, obs["BR_S_ee"] + obs["BR_S_gg"], C_p, C_n, unit, tabs.D_MB, D_CH2)


def test_kernel_upscattering_ratios_equal_their_numpy_twin():
    """The kernel's bilinear lookup and coupling algebra against scattering_tables.interpolate and
    scattering.ratios (the tables themselves are held to the adaptive integrals in test_scattering_tables)."""
    points = random_points(np.random.default_rng(5), 1500, (domain_limits()["m_S_min_MeV"] * 1.0001, 279.0))
    table = dsscan.evaluate(points, "datta2024")
    for i in range(1500):
        point = {k: float(v[i]) for k, v in points.items()}
        R_MB, R_CH2 = upscattering_twin(point)
        assert table.column("R_miniboone")[i].as_py() == pytest.approx(R_MB, rel=1e-9, abs=1e-300)
        assert table.column("R_charm2")[i].as_py() == pytest.approx(R_CH2, rel=1e-9, abs=1e-300)


def test_a_point_gets_the_same_bits_wherever_it_sits_in_a_batch():
    """The kernel's SIMD passes and their scalar remainders must round alike: evaluating a batch,
    the same batch shifted by three points, and single points gives bit-identical rows."""
    points = random_points(np.random.default_rng(11), 2 * 2048 + 13, (1.1, 279.0))
    whole = dsscan.evaluate(points, "datta2024")
    shifted = dsscan.evaluate({k: v[3:] for k, v in points.items()}, "datta2024")
    assert_same_bits(whole.slice(3), shifted)
    for i in (0, 7, 2048, 4100):
        single = dsscan.evaluate({k: v[i : i + 1] for k, v in points.items()}, "datta2024")
        assert_same_bits(whole.slice(i, 1), single)


def assert_same_bits(a, b) -> None:
    assert a.column_names == b.column_names
    for name in a.column_names:
        x, y = a.column(name).to_numpy(), b.column(name).to_numpy()
        if x.dtype == np.float64:
            x, y = x.view(np.uint64), y.view(np.uint64)
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_read_only_and_writable_parameter_arrays_give_the_same_table():
    """Arrays from Arrow arrive read-only, from numpy writable; a mix must evaluate like either."""
    points = random_points(np.random.default_rng(12), 100, (1.1, 279.0))
    mixed = {}
    for j, (name, values) in enumerate(points.items()):
        mixed[name] = values.copy()
        mixed[name].flags.writeable = j % 2 == 0
    assert dsscan.evaluate(mixed, "datta2024").equals(dsscan.evaluate(points, "datta2024"))


@pytest.mark.parametrize("n", [0, 1, 5, 8, 13, 2048 + 3])
def test_verdict_bitmaps_have_arrow_padding_zeroed(n):
    """Bits past the last point and the bitmap's padding bytes are zero (Arrow's layout recommends
    it, and a stale bit would surface in any reader that looks at whole bytes)."""
    points = {k: v[:n] for k, v in random_points(np.random.default_rng(13), max(n, 1), (1.1, 279.0)).items()}
    table = dsscan.evaluate(points, "datta2024")
    assert table.num_rows == n
    for name in [c for c in table.column_names if c.startswith("pass_")] + ["allowed"]:
        for chunk in table.column(name).chunks:
            bitmap = np.frombuffer(chunk.buffers()[1], dtype=np.uint8)
            bits = np.unpackbits(bitmap, bitorder="little")
            assert not bits[n:].any(), name
            np.testing.assert_array_equal(bits[:n].astype(bool), chunk.to_numpy(zero_copy_only=False))


@pytest.mark.slow  # recompiles both kernels twice: about 35 s
def test_a_kernel_compiled_for_another_column_order_is_recompiled(monkeypatch):
    """numba's disk cache is keyed by kernel.py alone, so a cached kernel could carry an older
    schema.OBSERVABLES order; run_batch compares the compiled layout with the current one."""
    from dsscan.physics import kernel

    points = random_points(np.random.default_rng(14), 10, (1.1, 279.0))
    before = dsscan.evaluate(points, "datta2024")
    for checksum in (kernel.LAYOUT_CHECKSUM ^ 1, kernel.LAYOUT_CHECKSUM):  # stale, then back to current
        monkeypatch.setattr(kernel, "LAYOUT_CHECKSUM", checksum)
        kernel._check_compiled_layout.cache_clear()
        dsscan.evaluate(points, "datta2024")
        assert kernel._compiled_layout() == checksum
    assert_same_bits(dsscan.evaluate(points, "datta2024"), before)


@pytest.mark.parametrize("n, keep_share", [(0, 0.0), (1, 1.0), (2048 + 13, 0.05), (3 * 2048, 1.0)])
def test_kept_kernel_keeps_exactly_the_full_kernels_allowed_and_flagged_rows(n, keep_share):
    """``run_kept`` (a scan's path: only kept points leave the cache) against ``run_batch`` (every
    point written) on the same points: the same rows, the same bits, the same allowed count."""
    from dsscan.physics.kernel import run_batch, run_kept

    cset = load_constraint_set("datta2024")
    rng = np.random.default_rng(14)
    points = {k: v[:n] for k, v in random_points(rng, max(n, 1), (1.1, 279.0)).items()}
    keep = rng.random(n) < keep_share
    observables, verdicts = run_batch(points, cset).take()
    kept = run_kept(points, cset, keep)
    rows = np.flatnonzero(verdicts[-1] | keep)
    np.testing.assert_array_equal(kept.rows, rows)
    np.testing.assert_array_equal(kept.observables.view(np.uint64), observables[:, rows].view(np.uint64))
    np.testing.assert_array_equal(kept.verdicts, verdicts[:, rows])
    assert kept.allowed == np.count_nonzero(verdicts[-1])


def points_around_the_benchmarks(rng: np.random.Generator, per_point: int, spread: float) -> dict[str, np.ndarray]:
    """Paper 001's benchmark points (allowed), each copied ``per_point`` times with every parameter
    scaled by 1 + N(0, spread): points on both sides of every band, many of them allowed."""
    import pandas as pd

    from dsscan.parameters import PARAMETER_NAMES

    path = pathlib.Path(dsscan.__file__).parent / "data" / "benchmarks" / "benchmarks_2024.csv"
    table = pd.read_csv(path, comment="#")
    points = {}
    for name in PARAMETER_NAMES:
        centre = np.repeat(table[name].to_numpy(float) if name in table else np.zeros(len(table)), per_point)  # eta_u = 0
        points[name] = centre * (1 + spread * rng.standard_normal(len(centre)))
    points["m_nu4_MeV"] = np.maximum(points["m_nu4_MeV"], points["m_S_MeV"] * 1.001)
    return points


@pytest.mark.parametrize("stage", [1, 2])
def test_each_screen_drops_only_points_that_fail_one_of_its_constraints_and_keeps_the_allowed_ones(stage):
    """``screen_kernel`` (what run_kept evaluates) against ``run_batch``'s verdicts on points around the
    allowed benchmarks and across the domain: every allowed or flagged point survives, every dropped
    one fails one of the stage's constraints in the full kernel, and many are dropped."""
    from dsscan.physics import kernel

    cset = load_constraint_set("datta2024")
    rng = np.random.default_rng(15)
    near, spread = points_around_the_benchmarks(rng, 400, 0.05), random_points(rng, 4000, (1.1, 279.0))
    points = {name: np.concatenate([near[name], spread[name]]) for name in near}
    n = len(points["m_S_MeV"])
    extra = rng.random(n) < 0.02
    arrays = readonly_float64(points[name] for name in kernel.PARAMETER_NAMES)
    cons = kernel.compile_constraints(cset)
    block = kernel.allocate_buffers(kernel.BLOCK_POINTS, len(cset.constraints))
    survivors = np.empty(n, dtype=np.int64)
    count = kernel.screen_kernel(arrays, kernel.kernel_constants(), kernel.kernel_tables(), cons, stage, extra,
                                 block.out, block.verdicts, block.scratch, survivors)
    _, verdicts = kernel.run_batch(points, cset).take()
    survived = np.zeros(n, dtype=bool)
    survived[survivors[:count]] = True
    assert np.all(np.diff(survivors[:count]) > 0)
    assert verdicts[-1].sum() > 100 and survived[verdicts[-1] | extra].all()
    names = {c.name for c, c_stage in zip(cset.constraints, cons.stage) if c_stage == stage}
    assert {1: {"g_minus_2", "m_nu4"}, 2: {"Bp_Kpnunu", "KL_pi0nunu", "ctau_S"}}[stage] <= names
    assert not names & {"miniboone", "charm2", "Bs_mumu", "Kp_munuee"}
    failed_one = np.zeros(n, dtype=bool)
    for c, constraint in enumerate(cset.constraints):
        if constraint.name in names:
            failed_one |= ~verdicts[c]
    assert (~survived).sum() > n // 4
    np.testing.assert_array_equal(~survived, failed_one & ~extra)


@pytest.mark.parametrize("stage", [1, 2])
def test_a_screen_computes_exactly_its_observables(stage):
    """SCREEN_OBSERVABLES[stage] is what the stage writes: the other rows of a block stay untouched."""
    from dsscan.physics import kernel

    points = random_points(np.random.default_rng(17), 100, (1.1, 279.0))
    arrays = readonly_float64(points[name] for name in kernel.PARAMETER_NAMES)
    out = np.full((kernel.N_OBS, kernel.BLOCK_POINTS), np.nan)
    scratch = np.empty((kernel.N_SCRATCH, kernel.BLOCK_POINTS))
    compute = {1: kernel._g2_shifts, 2: kernel._widths_and_meson_decays}[stage]
    compute(arrays, kernel.kernel_constants(), kernel.kernel_tables(), scratch, out, np.uint64(100))
    written = {name for j, name in enumerate(kernel.OBSERVABLES) if np.isfinite(out[j, :100]).all()}
    untouched = {name for j, name in enumerate(kernel.OBSERVABLES) if np.isnan(out[j]).all()}
    assert written == set(kernel.SCREEN_OBSERVABLES[stage])
    assert written | untouched == set(kernel.OBSERVABLES)


def test_the_kept_rows_through_the_screen_are_the_full_kernels_bits_near_the_allowed_region():
    """run_kept (screened, then the survivors evaluated together) against run_batch on points where
    many are allowed, the first block at kappa = 0 (where the g-2 band does not apply, so it is not
    screened): the same rows, bits and allowed count."""
    from dsscan.physics.kernel import BLOCK_POINTS, run_batch, run_kept

    cset = load_constraint_set("datta2024")
    rng = np.random.default_rng(16)
    points = points_around_the_benchmarks(rng, 800, 0.05)
    points["kappa_TeV"][:BLOCK_POINTS] = 0.0
    keep = rng.random(len(points["m_S_MeV"])) < 0.03
    observables, verdicts = run_batch(points, cset).take()
    kept = run_kept(points, cset, keep)
    rows = np.flatnonzero(verdicts[-1] | keep)
    assert 50 < kept.allowed < len(keep) // 2
    np.testing.assert_array_equal(kept.rows, rows)
    np.testing.assert_array_equal(kept.observables.view(np.uint64), observables[:, rows].view(np.uint64))
    np.testing.assert_array_equal(kept.verdicts, verdicts[:, rows])
    assert kept.allowed == np.count_nonzero(verdicts[-1])
