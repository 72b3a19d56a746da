"""The adaptive sampler: rounds of importance sampling with a defensive share of the prior.

Every free parameter's prior maps the unit cube onto its range (``dsscan.samplers.to_range``), so
the prior is the uniform density 1 on (0, 1)^d and the importance weight of a point u is 1 / q(u).
Round 0 draws from the prior. Round r >= 1 draws from

    q(u) = c + (1 - c) g(u),   c = (points drawn from the prior) / (points of the chunk) >= defensive_share,

where g is a mixture of Gaussians in z = logit(u) (so g(u) = sum_k pi_k N(z; mu_k, Sigma_k) prod_i
1 / (u_i (1 - u_i)): no truncation, an exact density, and near a range's lower edge z ~ log u, the
log coordinates of small couplings). The first ceil(c n) points of a chunk come from the prior,
the rest from g; with the mixture density in every weight (the balance heuristic, Veach & Guibas
1995; defensive mixtures, Hesterberg, Technometrics 37 (1995) 185) the weighted sum over a chunk
estimates n times the prior integral without bias, and w = 1 / q <= 1 / c: no region of the prior
is lost and no weight can blow up.

g is fitted by weighted EM (Dempster, Laird, Rubin 1977), started from the previous round's g, on
the allowed points of the last ``FIT_ROUNDS`` rounds, each weighted by the balance heuristic across
those rounds' proposals (prior / the rounds' mean proposal density, as adaptive multiple importance
sampling does: Cornuet et al., Scand. J. Stat. 39 (2012) 798), so that g approaches the prior
restricted to the allowed region (the proposal of least variance for counting allowed points), with
the parts of it that are thin on the planes the figures draw raised half-way toward their thick
parts (``flatten``), and with narrow Gaussians beside it: kernels at the first allowed point found in
each of the rarest bins of those planes, which the fitted mixture cannot follow, and probes at the
points found furthest toward the empty bins beside occupied ones (``BinTally``), so that its allowed
points fill those planes as a uniform scan's do and better. A
row's own weight would do as well on average, but a row that its round drew where that round's g was
thin weighs up to 1 / defensive_share however well later rounds cover the place; fitted on such
weights, g kept the first rounds' narrow shape for tens of rounds. When a few points carry
most of the weight, the weights are tempered (w^beta, beta < 1) so that g is not fitted to a handful
of points, which would collapse a Gaussian onto them. While the earlier
rounds hold too few allowed points, it is fitted on the stored points that fail the fewest
constraints (a relaxed target, as the tempering of sequential Monte Carlo and the iterative
scanners of arXiv:2207.09959 do). The fitted covariances are widened by ``COVARIANCE_INFLATION``
so that g's tails reach past the points it was fitted on. The driver fits g once per round and the
manifest records it, so a chunk is a pure function of (seed, chunk index, its round's proposal).

Like the iterative machine-learning scanners of our field (arXiv:2207.09959: a neural classifier or
regressor trained on the points so far picks the next candidates; arXiv:2412.19675: similarity
learning with a VEGAS map), each round learns from the earlier ones; unlike them, the proposal has a
closed-form density, so every point carries its exact weight and weighted counts keep the meaning of
a uniform scan's. A VEGAS grid (a product of per-dimension densities) cannot follow the correlated
shell (the eta_c/eta_t cancellation, the MiniBooNE window in g_D U_mu4), which a Gaussian mixture
with full covariances in logit coordinates does.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dsscan.config import Ranged
from dsscan.jit import njit
from dsscan.physics.kernel import exp_simd, log_simd
from dsscan.samplers import counter_uniform, splitmix_normals

MAX_COMPONENTS = 8  # Gaussians of g
FIT_POINTS_PER_COMPONENT = 40  # fewer fitted points per Gaussian make its covariance noise
MIN_FIT_POINTS = 100  # fewer allowed points than this: fit on the nearly-allowed ones
MAX_FIT_POINTS = 5_000  # more are thinned to this many (the fit's cost, not its accuracy, grows)
# g is fitted on the rows of the last FIT_ROUNDS rounds, weighted by the balance heuristic over those
# rounds' proposals (``balance_weights``): weighing a row costs one proposal density per round of the window
FIT_ROUNDS = 10
FIT_ROWS_PER_ROUND = MAX_FIT_POINTS // FIT_ROUNDS  # a round's allowed rows are thinned to about this many
# the allowed rows' weights are flattened on the planes the scan's figures draw (``flatten``): in
# FLATTEN_BINS x FLATTEN_BINS bins of each plane's unit coordinates, a row's weight is multiplied by
# (mean occupied bin's mass / its bin's mass)^FLATTEN_POWER, the largest over the planes
FLATTEN_BINS = 20
FLATTEN_POWER = 0.5
# kernels on the figure planes' rare bins (``BinTally.kernels``): a bin that holds fewer than RARE_TARGET
# of the scan's allowed points so far gets a narrow Gaussian at the first allowed point found in it, up
# to MAX_KERNELS of the rarest bins; together they carry KERNEL_SHARE of g
RARE_TARGET = 20
MAX_KERNELS = 128
KERNEL_SHARE = 0.1
KERNEL_WIDTH = 0.25 / FLATTEN_BINS  # a kernel's standard deviation in unit coordinates: a quarter of a bin ...
MAX_KERNEL_SCALE = 1.0  # ... in logit coordinates at most this (near a face half a bin is wide there)
# probes of the figure planes' frontier (``BinTally.probes``): an empty bin beside an occupied one gets
# a kernel at the occupied bin's point furthest toward it, while that point has moved in the last
# PROBE_ROUNDS rounds, up to MAX_PROBES of them; together they carry PROBE_SHARE of g
PROBE_SHARE = 0.05
PROBE_ROUNDS = 10
MAX_PROBES = 512
SIDES = ((0, -1), (0, 1), (1, -1), (1, 1))  # toward lower and higher u_a, lower and higher u_b of a plane (a, b)
ALLOWED_TARGET = "allowed points"  # what a fit on the allowed points records as its target
MIN_EFFECTIVE_SHARE = 0.1  # the fit's weights are tempered (w^beta) until their effective size is this share
EM_ITERATIONS = 100
# a fit started from the previous round's mixture (or its heaviest Gaussians, when fewer points allow
# fewer) continues that round's EM on nearly the same points (one round more of them): it runs at
# most this many iterations, which add up over the rounds; one that tops up new Gaussians runs up to
# EM_ITERATIONS
WARM_EM_ITERATIONS = 8
EM_TOLERANCE = 1e-4  # stop when the mean log-likelihood per point changes less than this
COVARIANCE_FLOOR = 1e-2  # of the fitted points' own variance per dimension, added to every Gaussian's
COVARIANCE_INFLATION = 2.0  # g's covariances are the fitted ones times this
UNIT_EDGE = 1e-15  # u is kept in [UNIT_EDGE, 1 - UNIT_EDGE] for logit
WEIGHT_BLOCK = 256  # points per block of the weights loop
DRAW_BLOCK = 512  # points per block of the draw's loops
NEGLIGIBLE_LOG = -40.0  # a Gaussian this far (in log density) below the nearest adds < 1e-17 of it
LOG_2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------------
# Coordinates.


def from_range(values: np.ndarray, setting: Ranged) -> np.ndarray:
    """The unit-cube coordinate of ``values`` under the setting's prior (the inverse of ``to_range``)."""
    if setting.prior == "log":
        log_low, log_high = np.log(setting.low), np.log(setting.high)
        return (np.log(values) - log_low) / (log_high - log_low)
    return (values - setting.low) / (setting.high - setting.low)


def logit(unit: np.ndarray) -> np.ndarray:
    u = np.clip(unit, UNIT_EDGE, 1.0 - UNIT_EDGE)
    return np.log(u) - np.log1p(-u)


# ---------------------------------------------------------------------------------------------
# Drawing and weighing (the workers' side): compiled loops, the same bits on every engine.


# The loops below use the kernel's exp_simd and log_simd (deterministic, within 1 ulp of glibc, and
# vectorisable), which cost a point 26 libm calls before. numba caches a function by its own file:
# after a change to those two functions, clear the cache (NUMBA_CACHE_DIR) or touch this file.
EXP_ARG_MIN, EXP_ARG_MAX = -700.0, 700.0  # exp_simd's arguments are kept inside its range


@njit(cache=True, nogil=True, error_model="numpy")
def _draw_mixture(normals, counts, means, cholesky, coordinates, first):
    """coordinates[:, first + i] = expit(mu_k + L_k normals[:, i]): the first counts[0] points from
    Gaussian 0, the next counts[1] from Gaussian 1, and so on. A block of DRAW_BLOCK points, a
    coordinate (a row of both arrays) and a Gaussian at a time, so that the loops vectorise and
    their operands stay in the L1 cache (on whole rows of 10^5 points they ran 1.6 times slower)."""
    d = normals.shape[0]
    z = np.empty(DRAW_BLOCK)
    start = 0
    for k in range(counts.shape[0]):
        stop = start + counts[k]
        for block in range(start, stop, DRAW_BLOCK):
            end = min(block + DRAW_BLOCK, stop)
            m = np.uint64(end - block)  # unsigned indices: no wraparound checks in the loops
            for a in range(d):
                mean = means[k, a]
                for i in range(m):
                    z[i] = mean
                for b in range(a + 1):
                    c, row = cholesky[k, a, b], normals[b, block:end]
                    if c != 0.0:  # a kernel's factor is diagonal
                        for i in range(m):
                            z[i] += c * row[i]
                out = coordinates[a, first + block:first + end]
                for i in range(m):
                    out[i] = 1.0 / (1.0 + exp_simd(min(max(-z[i], EXP_ARG_MIN), EXP_ARG_MAX)))
        start = stop


@njit(cache=True, nogil=True, error_model="numpy")
def _importance_weights(coordinates, prior_share, log_norm, means, cholesky, inverse_diagonal, edge, weight):
    """weight[i] = 1 / (c + (1 - c) g(u_i)), g the logit-space Gaussian mixture, u_i the point
    coordinates[:, i] (a row per coordinate); log_norm[k] = log pi_k - log det L_k - d/2 log 2 pi.
    Points go in blocks, the dimension and component loops outside, and every inner loop runs
    along a contiguous row, so that it vectorises."""
    d, n = coordinates.shape
    components = means.shape[0]
    z = np.empty((d, WEIGHT_BLOCK))
    y = np.empty((d, WEIGHT_BLOCK))
    log_terms = np.empty((components, WEIGHT_BLOCK))
    log_jacobian = np.empty(WEIGHT_BLOCK)  # log |dz/du| = -sum log(u (1 - u))
    square = np.empty(WEIGHT_BLOCK)
    top = np.empty(WEIGHT_BLOCK)
    total = np.empty(WEIGHT_BLOCK)
    for start in range(0, n, WEIGHT_BLOCK):
        m = min(WEIGHT_BLOCK, n - start)
        log_jacobian[:m] = 0.0
        for a in range(d):
            row, za = coordinates[a], z[a]
            for j in range(m):
                u = min(max(row[start + j], edge), 1.0 - edge)
                log_u, log_1mu = log_simd(u), log_simd(1.0 - u)
                za[j] = log_u - log_1mu
                log_jacobian[j] -= log_u + log_1mu
        for k in range(components):
            square[:m] = 0.0
            for a in range(d):  # y = L^-1 (z - mu) by forward substitution
                ya, za, mean = y[a], z[a], means[k, a]
                for j in range(m):
                    ya[j] = za[j] - mean
                for b in range(a):
                    c, yb = cholesky[k, a, b], y[b]
                    if c != 0.0:  # a kernel's factor is diagonal
                        for j in range(m):
                            ya[j] -= c * yb[j]
                scale = inverse_diagonal[k, a]
                for j in range(m):
                    ya[j] *= scale
                    square[j] += ya[j] * ya[j]
            terms, norm = log_terms[k], log_norm[k]
            for j in range(m):
                terms[j] = norm - 0.5 * square[j]
        top[:m] = -math.inf
        for k in range(components):
            terms = log_terms[k]
            for j in range(m):
                top[j] = max(top[j], terms[j])
        total[:m] = 0.0
        for k in range(components):
            terms = log_terms[k]
            for j in range(m):
                difference = terms[j] - top[j]
                # exp of the clamped argument times 0 or 1, not a branch: the loop vectorises
                total[j] += exp_simd(max(difference, NEGLIGIBLE_LOG)) * (difference > NEGLIGIBLE_LOG)
        for j in range(m):
            log_g = top[j] + log_simd(total[j]) + log_jacobian[j]
            g = exp_simd(min(max(log_g, EXP_ARG_MIN), EXP_ARG_MAX)) * (log_g > EXP_ARG_MIN)
            weight[start + j] = 1.0 / (prior_share + (1.0 - prior_share) * g)


class Proposal:
    """g and the defensive share of one round, as the manifest records them (JSON numbers)."""

    def __init__(self, doc: dict):
        self.defensive_share = float(doc["defensive_share"])
        self.mixture = np.array(doc["mixture"], dtype=np.float64)
        self.means = np.array(doc["means"], dtype=np.float64)
        self.cholesky = np.array(doc["cholesky"], dtype=np.float64)
        groups = [doc[key] for key in ("kernels", "probes") if doc.get(key)]
        if groups:  # g = (1 - shares) (the fitted mixture) + share_j (group j's Gaussians, equal parts)
            self.mixture = (1.0 - sum(float(group["share"]) for group in groups)) * self.mixture / self.mixture.sum()
            for group in groups:
                means, scales = np.array(group["means"], dtype=np.float64), np.array(group["scales"], dtype=np.float64)
                self.mixture = np.concatenate([self.mixture, np.full(len(means), float(group["share"]) / len(means))])
                self.means = np.concatenate([self.means, means])
                self.cholesky = np.concatenate([self.cholesky, scales[:, :, None] * np.eye(self.dims)])
        log_det = np.log(np.diagonal(self.cholesky, axis1=1, axis2=2)).sum(axis=1)
        self.log_norm = np.log(self.mixture) - log_det - 0.5 * self.dims * LOG_2PI
        self.inverse_diagonal = 1.0 / np.diagonal(self.cholesky, axis1=1, axis2=2)

    @property
    def dims(self) -> int:
        return self.means.shape[1]

    def prior_rows(self, count: int) -> int:
        """How many of a chunk's ``count`` points come from the prior."""
        return min(count, math.ceil(self.defensive_share * count))

    def draw_unit(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` points of the unit cube, the first ``prior_rows(count)`` from the prior: uniforms
        and normals from two SplitMix64 streams keyed by ``rng`` (compiled: about 1 and 4 ns a number
        here, against 2.4 and 11 for numpy's generators, the normals in single precision), the
        points per Gaussian from ``rng``."""
        from_prior = self.prior_rows(count)
        uniform_key, normal_key = rng.integers(2**64, size=2, dtype=np.uint64)
        unit = np.empty((count, self.dims), order="F")  # a column per coordinate: the loops over points run along them
        unit[:from_prior] = counter_uniform(uniform_key, 0, from_prior, self.dims)
        counts = rng.multinomial(count - from_prior, self.mixture / self.mixture.sum())  # points per Gaussian
        normals = splitmix_normals(normal_key, (self.dims, count - from_prior))
        _draw_mixture(normals, counts, self.means, self.cholesky, unit.T, from_prior)
        return unit

    def weights(self, unit: np.ndarray, prior_share: float) -> np.ndarray:
        """1 / q(u) for points drawn with the prior's share ``prior_share`` of the chunk (a point's
        weight does not depend on the others passed with it)."""
        weight = np.empty(len(unit))
        _importance_weights(np.asfortranarray(unit).T, prior_share, self.log_norm, self.means, self.cholesky,
                            np.ascontiguousarray(self.inverse_diagonal), UNIT_EDGE, weight)
        return weight


class Drawn(NamedTuple):
    """A chunk's unit-cube points, and what their importance weights need: the weights are computed
    for the rows asked for only, so that a scan storing few of its points computes few of them."""

    unit: np.ndarray  # [count, dims]
    proposal: Proposal | None  # None: the prior (round 0), every weight 1
    prior_share: float  # the share of the chunk drawn from the prior

    def weights(self, rows: np.ndarray) -> np.ndarray:
        """prior density / proposal density of the points ``rows`` (indices)."""
        if self.proposal is None:
            return np.ones(len(rows))
        return self.proposal.weights(self.unit[rows], self.prior_share)


def draw_points(proposal: dict | None, dims: int, count: int, rng: np.random.Generator) -> Drawn:
    """A chunk's unit-cube points: from the prior without a proposal (round 0)."""
    if proposal is None:
        return Drawn(rng.random((count, dims)), None, 1.0)
    g = Proposal(proposal)
    return Drawn(g.draw_unit(count, rng), g, g.prior_rows(count) / count)


# ---------------------------------------------------------------------------------------------
# Fitting (the driver's side, once per round).


# The fit runs in the driver beside its workers: its sums are compiled loops (one call per EM step
# for all Gaussians; numpy's per-Gaussian calls cost most of a round's fit), not BLAS calls, since a
# multi-threaded BLAS on a machine whose cores the workers hold runs them ~20x slower.


@njit(cache=True, nogil=True, error_model="numpy")
def _log_gaussians_into(zt, means, lower, out):
    """out[k, i] = log N(z_i; mu_k, L_k L_k^T) for z_i = zt[:, i]: y = L_k^-1 (z_i - mu_k) by forward
    substitution, a coordinate (a row) at a time, so that the loops run along contiguous rows."""
    d, n = zt.shape
    y = np.empty((d, n))
    for k in range(means.shape[0]):
        row = out[k]
        log_det = 0.0
        for a in range(d):
            log_det += math.log(lower[k, a, a])
        for i in range(np.uint64(n)):
            row[i] = 0.0
        for a in range(d):
            ya, za, mean = y[a], zt[a], means[k, a]
            for i in range(np.uint64(n)):
                ya[i] = za[i] - mean
            for b in range(a):
                c, yb = lower[k, a, b], y[b]
                for i in range(np.uint64(n)):
                    ya[i] -= c * yb[i]
            scale = 1.0 / lower[k, a, a]
            for i in range(np.uint64(n)):
                ya[i] *= scale
                row[i] += ya[i] * ya[i]
        constant = -log_det - 0.5 * d * LOG_2PI
        for i in range(np.uint64(n)):
            row[i] = constant - 0.5 * row[i]


def _log_gaussians(z: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    """log N(z_i; mu_k, Sigma_k) for every Gaussian k (row) and point i (column)."""
    out = np.empty((len(means), len(z)))
    _log_gaussians_into(np.ascontiguousarray(z.T), np.ascontiguousarray(means), np.linalg.cholesky(covs), out)
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _weighted_covs_into(zt, resp, means, out):
    """out[k] = sum_i resp[k, i] (z_i - mu_k)(z_i - mu_k)^T / sum_i resp[k, i] for z_i = zt[:, i]."""
    d, n = zt.shape
    whole = n - n % 8
    centred = np.empty((d, n))
    weighted = np.empty((d, n))
    for k in range(means.shape[0]):
        r = resp[k]
        for a in range(d):
            for i in range(n):
                centred[a, i] = zt[a, i] - means[k, a]
                weighted[a, i] = r[i] * centred[a, i]
        mass = 0.0
        for i in range(n):
            mass += r[i]
        for a in range(d):
            wa = weighted[a]
            for b in range(a + 1):
                cb = centred[b]
                # eight independent partial sums over interleaved points (independent chains, which
                # pipeline; a fixed order: the same bits on every run)
                s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
                for i in range(0, whole, 8):
                    s0 += wa[i] * cb[i]
                    s1 += wa[i + 1] * cb[i + 1]
                    s2 += wa[i + 2] * cb[i + 2]
                    s3 += wa[i + 3] * cb[i + 3]
                    s4 += wa[i + 4] * cb[i + 4]
                    s5 += wa[i + 5] * cb[i + 5]
                    s6 += wa[i + 6] * cb[i + 6]
                    s7 += wa[i + 7] * cb[i + 7]
                total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
                for i in range(whole, n):
                    total += wa[i] * cb[i]
                out[k, a, b] = out[k, b, a] = total / mass


def _weighted_covs(z: np.ndarray, resp: np.ndarray, means: np.ndarray) -> np.ndarray:
    """The covariance of the points ``z`` about each of ``means`` under the weights resp[k, :]."""
    out = np.empty((len(means), z.shape[1], z.shape[1]))
    _weighted_covs_into(np.ascontiguousarray(z.T), np.ascontiguousarray(resp), np.ascontiguousarray(means), out)
    return out


def _weighted_em(z: np.ndarray, weight: np.ndarray, components: int, rng: np.random.Generator, start=None):
    """A Gaussian mixture fitted to the weighted points ``z`` by weighted EM, started from ``start``
    (mixture weights, means, covariances: the previous round's fit) when given, its Gaussians topped
    up to ``components`` from points drawn by weight, else from points drawn by weight alone;
    returns (mixture weights, means, covariances)."""
    weight = weight / weight.sum()
    centre = np.einsum("n,na->a", weight, z)
    global_cov = _weighted_covs(z, weight[None], centre[None])[0]
    floor = np.diag(COVARIANCE_FLOOR * np.diag(global_cov) + 1e-12)
    means = z[rng.choice(len(z), size=components, replace=False, p=weight)] if components > 1 else centre[None]
    covs = np.repeat((global_cov + floor)[None], components, axis=0)
    mixture = np.full(components, 1.0 / components)
    if start is not None:
        start_mixture, start_means, start_covs = start
        if len(start_mixture) > components:  # fewer points than before: the heaviest Gaussians go on
            heaviest = np.sort(np.argsort(-start_mixture)[:components])
            start_mixture = start_mixture[heaviest] / start_mixture[heaviest].sum()
            start_means, start_covs = start_means[heaviest], start_covs[heaviest]
        kept = len(start_mixture)
        mixture = np.concatenate([start_mixture * kept / components, mixture[kept:]])
        means = np.concatenate([start_means, means[kept:]])
        covs = np.concatenate([start_covs, covs[kept:]])
    iterations = WARM_EM_ITERATIONS if start is not None and kept == components else EM_ITERATIONS
    previous = -np.inf
    for _ in range(iterations):
        log_p = _log_gaussians(z, means, covs) + np.log(mixture)[:, None]  # [Gaussian, point]
        top = log_p.max(axis=0)
        log_total = top + np.log(np.exp(log_p - top).sum(axis=0))
        likelihood = np.einsum("n,n->", weight, log_total)
        resp = np.exp(log_p - log_total) * weight
        mass = resp.sum(axis=1)
        keep = mass > 1e-6
        resp, mass = resp[keep], mass[keep]
        mixture = mass / mass.sum()
        means = np.einsum("kn,na->ka", resp, z) / mass[:, None]
        covs = _weighted_covs(z, resp, means) + floor
        if likelihood - previous < EM_TOLERANCE:
            break
        previous = likelihood
    return mixture, means, covs


def fit(unit: np.ndarray, weight: np.ndarray, defensive_share: float, rng: np.random.Generator, target: str,
        previous: dict | None = None, kernels: dict | None = None, probes: dict | None = None) -> dict:
    """The proposal fitted to the points ``unit`` (rows of the unit cube) with weights ``weight``:
    a JSON-ready dict (``Proposal``), with ``target`` saying which points it was fitted on, and the
    ``kernels`` and ``probes`` (``BinTally``) beside the fitted mixture. The fit starts from the
    ``previous`` round's fitted mixture when there is one (EM then converges in a few iterations
    instead of tens)."""
    if len(unit) > MAX_FIT_POINTS:  # resampled in proportion to weight: the same target, and the rare
        # heavy points (allowed points the prior share found where g is small) are kept, not thinned away
        chosen = np.sort(rng.choice(len(unit), size=MAX_FIT_POINTS, replace=True, p=weight / weight.sum()))
        unit, weight = unit[chosen], np.ones(MAX_FIT_POINTS)
    beta = tempering(weight)
    components = max(1, min(MAX_COMPONENTS, len(unit) // FIT_POINTS_PER_COMPONENT))
    start = None
    if previous is not None:
        lower = np.array(previous["cholesky"])
        start = (np.array(previous["mixture"]), np.array(previous["means"]), lower @ lower.transpose(0, 2, 1) / COVARIANCE_INFLATION)
    mixture, means, covs = _weighted_em(logit(unit), weight**beta, components, rng, start)
    cholesky = np.linalg.cholesky(COVARIANCE_INFLATION * covs)
    return {
        "defensive_share": defensive_share,
        "mixture": mixture.tolist(),
        "means": means.tolist(),
        "cholesky": cholesky.tolist(),
        "kernels": kernels,
        "probes": probes,
        "fitted_on": {"points": len(unit), "target": target, "weight_power": beta},
    }


def effective_size(weight: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 (0 for no weights)."""
    return float(weight.sum() ** 2 / (weight**2).sum()) if len(weight) else 0.0


def balance_weights(unit: np.ndarray, proposals: list[dict | None]) -> np.ndarray:
    """1 / (mean of q_s(u) over ``proposals``, the proposals of the rounds that drew the points
    ``unit``; None is the prior, q = 1): the balance heuristic across rounds (Veach & Guibas 1995;
    AMIS, Cornuet et al., Scand. J. Stat. 39 (2012) 798). Each round drew as many points, so the
    weighted rows estimate prior integrals as a round's own weights do, but a row drawn where its own
    round's proposal was thin and a later one is not no longer carries a weight of up to
    1 / defensive_share: the fit sees the allowed region, not the gaps of the first proposals."""
    density = np.zeros(len(unit))
    for weight in round_weights(unit, proposals):
        density += 1.0 / weight
    return len(proposals) / density


def round_weights(unit: np.ndarray, proposals: list[dict | None]):
    """1 / q_s(u) of the points ``unit`` under each of ``proposals`` in turn (None is the prior, q = 1)."""
    for doc in proposals:
        yield np.ones(len(unit)) if doc is None else Proposal(doc).weights(unit, doc["defensive_share"])


def cross_round_weights(unit: np.ndarray, proposals: list[dict | None], points: list[int]) -> np.ndarray:
    """w̄(u) = sum over rounds s of (n_s / N) / q_s(u): what a row at u would weigh in each round of a
    scan, ``proposals`` its rounds' proposals and ``points`` their points n_s (N = sum n_s), averaged
    over its points. Over the scan's rows i in a region R, sum w_i w̄(u_i) estimates
    sum_s n_s E_prior[1_R / q_s] (each round's rows have density q_s: sum_s n_s ∫ q_s (1 / q_s) w̄ 1_R
    = N ∫ w̄ 1_R, without bias for proposals fixed in advance; at the few rows that later kernels and
    probes sit on, w̄ is low), the second moment of the weighted count sum w_i there, so that its
    variance is sum w_i w̄_i - (sum w_i)^2 / N. sum w_i^2 estimates the same from each row's own round alone, and
    misses what a late, narrow round rarely draws: a row that an early, broad round found where the
    late proposals are thin tells how much late rows there would weigh (docs/adaptive.md#cross-round-errors)."""
    total = np.zeros(len(unit))
    for weight, count in zip(round_weights(unit, proposals), points):
        total += count * weight
    return total / sum(points)


def thin(weight: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """About ``size`` of the rows with weights ``weight``: row i kept with probability
    p_i = min(1, w_i / tau), sum p_i = size, its weight then w_i / p_i (unbiased; the heavy rows, rare
    and the most informative, are all kept). Returns (kept row indices, their weights)."""
    if len(weight) <= size:
        return np.arange(len(weight)), weight
    heaviest_first = np.sort(weight)[::-1]
    lighter = np.cumsum(heaviest_first[::-1])[::-1]  # lighter[k] = sum of all but the k heaviest
    pinned = np.arange(size)
    tau = lighter[:size] / (size - pinned)
    k = int(np.flatnonzero(heaviest_first[:size] <= tau)[0])  # the k heaviest are kept for sure
    keep = np.minimum(1.0, weight / tau[k])
    kept = np.flatnonzero(rng.random(len(weight)) < keep)
    return kept, weight[kept] / keep[kept]


def tempering(weight: np.ndarray) -> float:
    """The largest beta of 1, 1/2, 1/4, ... (0 at last) for which w^beta has an effective size of at
    least ``MIN_EFFECTIVE_SHARE`` of the points."""
    beta = 1.0
    while beta > 1e-3 and effective_size(weight**beta) < MIN_EFFECTIVE_SHARE * len(weight):
        beta /= 2
    return beta if beta > 1e-3 else 0.0


def fit_points(unit: np.ndarray, weight: np.ndarray, failed: np.ndarray,
               planes: tuple[tuple[int, int], ...] = ()) -> tuple[np.ndarray, np.ndarray, str]:
    """The points a round's proposal is fitted on, and their weights: the allowed ones (``failed`` ==
    0), their weights flattened on ``planes`` (``flatten``), when there are ``MIN_FIT_POINTS``, else
    those failing the fewest constraints that make up ``MIN_FIT_POINTS``."""
    if len(failed) == 0:
        return unit, weight, "no points"
    counts = np.bincount(failed)
    enough = np.flatnonzero(np.cumsum(counts) >= MIN_FIT_POINTS)
    most = int(enough[0]) if len(enough) else len(counts) - 1
    chosen = failed <= most
    if most == 0:
        return unit[chosen], flatten(unit[chosen], weight[chosen], planes), ALLOWED_TARGET
    return unit[chosen], weight[chosen], f"points failing at most {most} constraint{'s' if most > 1 else ''}"


def flatten(unit: np.ndarray, weight: np.ndarray, planes: tuple[tuple[int, int], ...]) -> np.ndarray:
    """``weight`` times h(u) = max over the planes (a, b) (pairs of coordinates) of
    (m / m_ab(u))^FLATTEN_POWER, m_ab(u) the weight in u's bin of the FLATTEN_BINS^2 bins of
    (u_a, u_b) and m the mean over that plane's occupied bins (1 without planes). A fit on these
    weights aims at the prior on the allowed region with its thin parts, as the planes show them,
    raised toward its thick ones (the flat histograms of Wang & Landau, PRL 86 (2001) 2050, half-way).
    Fitted on prior x allowed alone, the mixture left the thin edges of the allowed shell to the
    defensive share, and its allowed points missed bins of the paper's planes that as many allowed
    points of a uniform scan fill (docs/adaptive.md). The stored weights stay 1 / q: whatever the fit
    aims at, they are exact."""
    if not planes:
        return weight
    raised = np.zeros(len(weight))
    for cell in plane_cells(unit, planes):
        mass = np.bincount(cell, weights=weight, minlength=FLATTEN_BINS**2)
        raised = np.maximum(raised, (mass[mass > 0].mean() / mass[cell]) ** FLATTEN_POWER)
    return weight * raised


def plane_cells(unit: np.ndarray, planes: tuple[tuple[int, int], ...]) -> list[np.ndarray]:
    """Per plane (a, b): each row's bin of the FLATTEN_BINS x FLATTEN_BINS bins of (u_a, u_b), as
    a_bin * FLATTEN_BINS + b_bin."""
    bins = np.minimum((unit * FLATTEN_BINS).astype(np.int64), FLATTEN_BINS - 1)
    return [bins[:, a] * FLATTEN_BINS + bins[:, b] for a, b in planes]


class BinTally:
    """The allowed points a scan has found so far in each bin of the planes its figures draw
    (``plane_cells``), the first found in each bin and those furthest toward each of its sides
    (rows are added round by round in the order of their point_id, so the tally is a function of
    the stored rows, on every engine).

    The fitted mixture cannot follow a bin that holds a handful of its 5,000 fitted points: the
    sparse edges of the allowed shell stay where a uniform scan leaves them, and at equal allowed
    counts they are as often empty as a second uniform scan's. A narrow Gaussian at a point found in
    each such bin (``kernels``) feeds it until it holds ``RARE_TARGET`` points, and its tails try the
    empty bins beside it: the kernel proposals of population Monte Carlo (Cappe et al., J. Comput.
    Graph. Stat. 13 (2004) 907), aimed at the bins a flat histogram (Wang & Landau 2001) would raise.
    Probes at the edge points (``probes``) push past the last allowed points found toward empty bins."""

    def __init__(self, planes: tuple[tuple[int, int], ...], dims: int):
        self.planes = planes
        self.counts = np.zeros((len(planes), FLATTEN_BINS**2), dtype=np.int64)
        self.first = np.full((len(planes), FLATTEN_BINS**2, dims), np.nan)
        # per plane and bin, the points found furthest toward each of the SIDES
        self.edges = np.full((len(planes), FLATTEN_BINS**2, len(SIDES), dims), np.nan)
        self.edge_round = np.full((len(planes), FLATTEN_BINS**2, len(SIDES)), -1)  # the round that last moved each of them
        self.rounds = 0  # rounds added

    def add(self, unit: np.ndarray) -> None:
        """Tally the allowed points (rows of the unit cube) of the next round, found later than
        those added before. One sort per axis of a plane, by bin + u / 2, gives each bin's rows in
        order along the axis: its first and last are the bin's points furthest toward either side."""
        for plane, cell in enumerate(plane_cells(unit, self.planes) if len(unit) else ()):
            self.counts[plane] += np.bincount(cell, minlength=FLATTEN_BINS**2)
            for axis_index, axis in enumerate(self.planes[plane]):
                order = np.argsort(cell + 0.5 * unit[:, axis], kind="stable")  # by bin, then along the axis (ties: by row)
                in_order = cell[order]
                starts = np.flatnonzero(np.r_[True, in_order[1:] != in_order[:-1]])
                cells = in_order[starts]
                if axis_index == 0:  # the first row found in each bin: the lowest index
                    first = np.minimum.reduceat(order, starts)
                    new = np.isnan(self.first[plane, cells, 0])
                    self.first[plane, cells[new]] = unit[first[new]]
                lowest, highest = order[starts], order[np.r_[starts[1:], len(order)] - 1]
                for side, sign, rows in ((SIDES.index((axis_index, -1)), -1.0, lowest), (SIDES.index((axis_index, 1)), 1.0, highest)):
                    stored = sign * self.edges[plane, cells, side, axis]
                    further = np.isnan(stored) | (sign * unit[rows, axis] > stored)
                    self.edges[plane, cells[further], side] = unit[rows[further]]
                    self.edge_round[plane, cells[further], side] = self.rounds
        self.rounds += 1

    def kernels(self) -> dict | None:
        """The kernels of the next proposal (JSON numbers, logit coordinates): at the first point of
        each of the ``MAX_KERNELS`` rarest occupied bins below ``RARE_TARGET`` points (fewest first,
        then plane and bin; a point first in two such bins once), with standard deviations of
        ``KERNEL_WIDTH`` in unit coordinates, at most ``MAX_KERNEL_SCALE`` in logit ones; None when
        no bin is that rare."""
        plane, cell = np.nonzero((self.counts > 0) & (self.counts < RARE_TARGET))
        if len(plane) == 0:
            return None
        order = np.lexsort((cell, plane, self.counts[plane, cell]))
        return narrow_gaussians(self.first[plane[order], cell[order]], MAX_KERNELS, KERNEL_SHARE)

    def probes(self) -> dict | None:
        """The probes of the next proposal (``narrow_gaussians``): for each empty bin of a plane beside
        an occupied one along an axis, at the occupied bin's point furthest toward it, while that
        point has moved (a further one was found) in the last ``PROBE_ROUNDS`` rounds; up to
        ``MAX_PROBES``, in the order of plane, side and bin. The bins that the kernels left empty
        and a uniform scan fills (with a few of its 4·10^5 allowed points) lie on the edge of the
        allowed region's projection, beside bins already found: a kernel's tails seldom reach them;
        half a probe's draws go further toward them than any allowed point found so far. None
        when there is no such bin."""
        centres = []
        for plane in range(len(self.planes)):
            padded = np.ones((FLATTEN_BINS + 2, FLATTEN_BINS + 2), dtype=bool)  # a border of occupied bins: beyond the plane, nothing to probe
            padded[1:-1, 1:-1] = self.counts[plane].reshape(FLATTEN_BINS, FLATTEN_BINS) > 0
            occupied = padded[1:-1, 1:-1]
            for side, (axis, step) in enumerate(SIDES):
                i, j = (1 + step, 1) if axis == 0 else (1, 1 + step)
                neighbour = padded[i:i + FLATTEN_BINS, j:j + FLATTEN_BINS]  # is the bin one step toward the side occupied
                moved = self.edge_round[plane, :, side] >= self.rounds - PROBE_ROUNDS
                cells = np.flatnonzero((occupied & ~neighbour).ravel() & moved)
                centres.append(self.edges[plane, cells, side])
        return narrow_gaussians(np.concatenate(centres), MAX_PROBES, PROBE_SHARE)


def narrow_gaussians(rows: np.ndarray, most: int, share: float) -> dict | None:
    """Gaussians in logit coordinates (JSON numbers) at the first ``most`` distinct ``rows`` (unit
    coordinates; a row given twice once), with standard deviations of ``KERNEL_WIDTH`` in unit
    coordinates, at most ``MAX_KERNEL_SCALE`` in logit ones, sharing ``share`` of g; None for no rows."""
    if len(rows) == 0:
        return None
    _, first = np.unique(rows, axis=0, return_index=True)
    centres = np.clip(rows[np.sort(first)][:most], UNIT_EDGE, 1.0 - UNIT_EDGE)
    scales = np.minimum(KERNEL_WIDTH / (centres * (1.0 - centres)), MAX_KERNEL_SCALE)
    return {"share": share, "means": logit(centres).tolist(), "scales": scales.tolist()}
