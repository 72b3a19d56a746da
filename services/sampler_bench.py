"""``dsscan bench --samplers``: what a scan is for, allowed points per CPU-second, of the uniform and
the adaptive sampler side by side, with the adaptive scan's coverage and weights checked against
the uniform scan; and a worker's end-to-end rates against the kernel's and pyarrow's own.

Every scan is a real one (local engine, this process, a temporary lake), so its CPU time
(``time.process_time``) counts sampling, the kernel, storage, writing and the adaptive fits.
"""
from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dsscan import adaptive as adaptive_sampler
from dsscan.config import ADAPTIVE_DEFAULTS, ADAPTIVE_SAMPLER, SAMPLED_STORE, Fixed, Ranged, ScanSpec
from lake.catalog import LakeScans, points_dataset
from lake.figures import figure_book
from lake.manifest import Manifest
from services.driver import run_scan
from services.local import LocalEngine
from services.rounds import unit_rows

FIG2_PAIRS = tuple((p.x.column, p.y.column) for p in figure_book().figures["figure2"].panels)
BINS = 20  # per axis of the coverage and per 1-D histogram
CROSS_ROUND_ROWS = 100_000  # the adaptive allowed rows are thinned to about this many for their cross-round weights


@dataclass(frozen=True)
class SamplerScan:
    sampler: str
    points: int
    allowed: int
    cpu_s: float

    @property
    def allowed_per_cpu_s(self) -> float:
        return self.allowed / self.cpu_s


@dataclass(frozen=True)
class SamplerComparison:
    scenario: str
    uniform: SamplerScan
    adaptive: SamplerScan
    coverage_all: dict[str, float]  # pair -> share of the uniform scan's occupied bins the adaptive scan occupies
    # pair -> the same with as many adaptive allowed points as the uniform scan has, (drawn in proportion
    # to weight, drawn at random): only the first are distributed as a uniform scan's allowed points are
    coverage_equal: dict[str, tuple[float, float]]
    # pair -> (share of one half of the uniform scan's occupied bins that as many adaptive points, drawn
    #          in proportion to weight, occupy; the share the other half occupies): what equal counts can reach
    coverage_halves: dict[str, tuple[float, float]]
    chi2: dict[str, tuple[float, int]]  # parameter -> (chi2, bins) of the weighted allowed-fraction histograms, errors sqrt(sum w^2)
    chi2_cross_round: dict[str, tuple[float, int]]  # the same with the adaptive errors from every round's rows (``cross_round_moments``)
    allowed_share: dict[str, tuple[float, float]]  # sampler -> (allowed share of the prior, its statistical error)
    effective_size: float  # Kish's effective size of the adaptive scan's allowed weights

    @property
    def gain(self) -> float:
        """Adaptive over uniform allowed points per CPU-second (nan when the uniform scan found none)."""
        return self.adaptive.allowed_per_cpu_s / self.uniform.allowed_per_cpu_s if self.uniform.allowed else math.nan


def kappa0_variant(spec: ScanSpec) -> ScanSpec:
    """The kappa = 0 scenario of a config: kappa fixed at 0, eta_d in [0, 2]."""
    parameters = {**spec.parameters, "kappa_TeV": Fixed(0.0), "eta_d": Ranged(0.0, 2.0)}
    return dataclasses.replace(spec, name=f"{spec.name}-kappa0", parameters=parameters)


def timed_scan(spec: ScanSpec) -> tuple[Manifest, float]:
    """Run ``spec`` with the local engine; its manifest and the CPU seconds it took."""
    started = time.process_time()
    manifest = run_scan(spec, LocalEngine())
    return manifest, time.process_time() - started


def allowed_rows(spec: ScanSpec, manifest: Manifest) -> pa.Table:
    dataset = points_dataset(spec.lake_root, LakeScans(manifests=[manifest]))
    columns = ["point_id", *spec.free_parameters, "weight"]
    return dataset.to_table(columns=columns, filter=pc.field("allowed"))


def uniform_halves(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A uniform scan's allowed points split by the parity of ``point_id``: a point depends on
    (seed, point_id) alone, so these are two independent uniform scans of half the size (of two
    scans' rows, with other seeds, too)."""
    odd = pc.equal(pc.bit_wise_and(rows.column("point_id"), pa.scalar(1, pa.uint64())), pa.scalar(1, pa.uint64()))
    return rows.filter(pc.invert(odd)), rows.filter(odd)


def random_subset(rows: pa.Table, size: int, rng: np.random.Generator, weighted: bool) -> pa.Table:
    """``size`` rows drawn without replacement, at random or in proportion to their ``weight``: an
    adaptive scan's points follow proposal x allowed, and only a draw by weight follows prior x allowed
    as a uniform scan's allowed points do (while ``size`` is well below the weights' effective size)."""
    size = min(len(rows), size)
    if size == 0:  # a scan that found no allowed point
        return rows.slice(0, 0)
    weight = rows.column("weight").to_numpy() if weighted else None
    chosen = rng.choice(len(rows), size=size, replace=False, p=None if weight is None else weight / weight.sum())
    return rows.take(np.sort(chosen))


def _edges(setting: Ranged) -> np.ndarray:
    if setting.prior == "log":
        return np.geomspace(setting.low, setting.high, BINS + 1)
    return np.linspace(setting.low, setting.high, BINS + 1)


def occupied(rows: pa.Table, pair: tuple[str, str], spec: ScanSpec) -> np.ndarray:
    x, y = pair
    counts, _, _ = np.histogram2d(rows.column(x).to_numpy(), rows.column(y).to_numpy(),
                                  bins=[_edges(spec.parameters[x]), _edges(spec.parameters[y])])
    return counts > 0


def coverage(adaptive: pa.Table, uniform: pa.Table, spec: ScanSpec) -> dict[str, float]:
    """Per Fig. 2 pair of free parameters: the share of the 20 x 20 bins occupied by the uniform
    scan's allowed points that the adaptive scan's allowed points occupy too."""
    shares = {}
    for pair in FIG2_PAIRS:
        if all(isinstance(spec.parameters[n], Ranged) for n in pair):
            wanted = occupied(uniform, pair, spec)
            shares["-".join(pair)] = float((wanted & occupied(adaptive, pair, spec)).sum() / max(1, wanted.sum()))
    return shares


def weighted_chi2(adaptive: pa.Table, adaptive_points: int, uniform: pa.Table, uniform_points: int,
                  spec: ScanSpec, moments: np.ndarray | None = None) -> dict[str, tuple[float, int]]:
    """Per free parameter: chi2 between the allowed fraction per bin of the uniform scan (count / points,
    Poisson errors, from the adaptive estimate where the uniform scan saw fewer: an empty bin is no
    certainty) and of the adaptive scan (sum of weights / points, error sqrt(sum w^2) / points, or with
    ``moments``, the rows' terms of the second moment (``cross_round_moments``), sqrt(sum of them -
    (sum w)^2 / points) / points), and the number of bins that either fills."""
    result = {}
    w = adaptive.column("weight").to_numpy()
    for name in spec.free_parameters:
        edges = _edges(spec.parameters[name])
        counts, _ = np.histogram(uniform.column(name).to_numpy(), bins=edges)
        values = adaptive.column(name).to_numpy()
        sums, _ = np.histogram(values, bins=edges, weights=w)
        if moments is None:
            squares, _ = np.histogram(values, bins=edges, weights=w * w)
        else:
            second, _ = np.histogram(values, bins=edges, weights=moments)
            squares = np.maximum(second - sums**2 / adaptive_points, 0.0)
        expected_counts = np.maximum(counts, sums / adaptive_points * uniform_points)
        variance = expected_counts / uniform_points**2 + squares / adaptive_points**2
        filled = variance > 0
        difference = counts / uniform_points - sums / adaptive_points
        result[name] = (float((difference[filled] ** 2 / variance[filled]).sum()), int(filled.sum()))
    return result


def cross_round_moments(rows: pa.Table, spec: ScanSpec, manifest: Manifest, rng: np.random.Generator) -> np.ndarray:
    """Per row of an adaptive scan's ``rows``: its term of the second moment of a weighted count,
    w_i w̄(u_i) (``dsscan.adaptive.cross_round_weights``), on about ``CROSS_ROUND_ROWS`` rows thinned
    by weight (``dsscan.adaptive.thin``: the heavy rows all kept, the others' terms scaled by 1 / p,
    the rest 0), so that summed over a region they still estimate it without bias."""
    kept, weight = adaptive_sampler.thin(rows.column("weight").to_numpy(), CROSS_ROUND_ROWS, rng)
    unit = unit_rows(rows.take(kept), spec)
    points = [sum(r.points for r in manifest.chunks.values() if spec.round_of(r.index) == i) for i in range(spec.n_rounds)]
    moments = np.zeros(len(rows))
    moments[kept] = weight * adaptive_sampler.cross_round_weights(unit, [r["proposal"] for r in manifest.rounds], points)
    return moments


def compare_samplers(base: ScanSpec, scenario: str, uniform_points: int, adaptive_points: int) -> SamplerComparison:
    """A uniform and an adaptive scan of ``base``'s ranges, each into its own temporary lake."""
    scans, rows = {}, {}
    # The uniform scan stores the allowed points alone (the cheapest policy: the comparison is
    # conservative); the adaptive one the default allowed+sample, whose rejected sample its early
    # rounds fit on.
    uniform = {"store": "allowed", "sample_rate": None, "round_points": None, "defensive_share": None}
    rounds = {key: getattr(base, key) or default for key, default in ADAPTIVE_DEFAULTS.items()}  # the config's, if adaptive
    adaptive = {"store": SAMPLED_STORE, "sample_rate": base.sample_rate or 0.01, **rounds}
    # The uniform scan runs in two halves (the config's seed and the next), before and after the
    # adaptive one, so that a drift of this machine's speed during the run (10 % between runs of the
    # same scan minutes apart, here) weighs on both samplers alike.
    first_half = uniform_points // 2
    runs = (("uniform", first_half, uniform, base.seed), (ADAPTIVE_SAMPLER, adaptive_points, adaptive, base.seed),
            ("uniform", uniform_points - first_half, uniform, base.seed + 1))
    for sampler, points, settings, seed in runs:
        with tempfile.TemporaryDirectory(prefix="dsscan-samplers-") as lake:
            spec = dataclasses.replace(base, name=f"{scenario}-{sampler}", sampler=sampler, points=points, seed=seed,
                                       lake_root=lake, **settings)
            manifest, cpu_s = timed_scan(spec)
            if sampler == ADAPTIVE_SAMPLER:
                adaptive_spec, adaptive_manifest = spec, manifest
            done = scans.get(sampler, SamplerScan(sampler, 0, 0, 0.0))
            scans[sampler] = SamplerScan(sampler, done.points + points, done.allowed + manifest.totals()["allowed"],
                                         done.cpu_s + cpu_s)
            rows.setdefault(sampler, []).append(allowed_rows(spec, manifest))
    uniform, adaptive = pa.concat_tables(rows["uniform"]), pa.concat_tables(rows[ADAPTIVE_SAMPLER])
    weights = adaptive.column("weight").to_numpy()
    rng = np.random.default_rng(0)
    even, odd = uniform_halves(uniform)
    by_adaptive = coverage(random_subset(adaptive, len(odd), rng, weighted=True), even, base)
    by_uniform = coverage(odd, even, base)
    by_weight = coverage(random_subset(adaptive, len(uniform), rng, weighted=True), uniform, base)
    at_random = coverage(random_subset(adaptive, len(uniform), rng, weighted=False), uniform, base)
    return SamplerComparison(
        scenario=scenario, uniform=scans["uniform"], adaptive=scans[ADAPTIVE_SAMPLER],
        coverage_all=coverage(adaptive, uniform, base),
        coverage_equal={pair: (by_weight[pair], at_random[pair]) for pair in by_weight},
        coverage_halves={pair: (by_adaptive[pair], by_uniform[pair]) for pair in by_uniform},
        chi2=weighted_chi2(adaptive, adaptive_points, uniform, uniform_points, base),
        chi2_cross_round=weighted_chi2(adaptive, adaptive_points, uniform, uniform_points, base,
                                       cross_round_moments(adaptive, adaptive_spec, adaptive_manifest, rng)),
        allowed_share={"uniform": (len(uniform) / uniform_points, math.sqrt(len(uniform)) / uniform_points),
                       ADAPTIVE_SAMPLER: (float(weights.sum()) / adaptive_points, float(np.sqrt((weights**2).sum())) / adaptive_points)},
        effective_size=adaptive_sampler.effective_size(weights),
    )


def format_comparison(c: SamplerComparison) -> str:
    lines = [f"scenario {c.scenario}:"]
    for s in (c.uniform, c.adaptive):
        lines.append(f"  {s.sampler:<9} {s.points:>13,} points  {s.allowed:>9,} allowed  {s.cpu_s:8.1f} CPU s  "
                     f"{s.allowed_per_cpu_s:12,.1f} allowed/CPU s")
    lines.append(f"  adaptive / uniform, allowed points per CPU second: {c.gain:,.0f} x")
    cells = ", ".join(f"{pair} {share:.1%}" for pair, share in c.coverage_all.items())
    lines.append(f"  coverage of the uniform scan's occupied 20x20 bins, all adaptive allowed points: {cells}")
    cells = ", ".join(f"{pair} {w:.1%} / {r:.1%}" for pair, (w, r) in c.coverage_equal.items())
    lines.append(f"  ... by {min(c.uniform.allowed, c.adaptive.allowed):,} adaptive allowed points drawn in proportion "
                 f"to weight / at random: {cells}")
    cells = ", ".join(f"{pair} {a:.1%} / {u:.1%}" for pair, (a, u) in c.coverage_halves.items())
    lines.append(f"  coverage of one half of the uniform scan's occupied bins (even point_id), by as many adaptive "
                 f"allowed points drawn by weight / by the other half (odd point_id): {cells}")
    cells = ", ".join(f"{name} {chi2:.1f}/{bins}" for name, (chi2, bins) in c.chi2.items())
    lines.append(f"  weighted 1-D allowed-fraction histograms vs uniform, chi2/bins, adaptive errors sqrt(sum w^2): {cells}")
    cells = ", ".join(f"{name} {chi2:.1f}/{bins}" for name, (chi2, bins) in c.chi2_cross_round.items())
    lines.append(f"  ... adaptive errors from every round's rows (cross-round weights): {cells}")
    shares = ", ".join(f"{sampler} ({share:.3g} +- {error:.2g})" for sampler, (share, error) in c.allowed_share.items())
    lines.append(f"  allowed share of the prior: {shares}; effective size of the adaptive weights "
                 f"{c.effective_size:,.0f} of {c.adaptive.allowed:,} allowed points")
    return "\n".join(lines)
