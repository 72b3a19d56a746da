"""The numba batch kernel: every observable and every constraint verdict in one pass over a batch.

A pure function of arrays: the nine parameter arrays (user units), a ``KernelConstants`` tuple of
physics inputs in GeV/s, the preloaded tables, and the constraint set compiled to arrays; it
writes the observables and the verdicts (as Arrow bitmaps) into buffers its caller allocates. It
is the fast twin of ``dsscan.physics.reference`` (the oracle; tests hold the two together) and
follows the same formulas, whose derivations and sources live in the reference's docstrings.
How it is fast: points go in blocks of BLOCK_POINTS; per block the table lookups and libm calls
run first, then straight loops that LLVM vectorises (see "one block of points" below); input-only
prefactors and reciprocals are hoisted into ``kernel_constants``; and no array is reference-counted.

CP projections of the K -> pi S rates (physics.md section 3). L = g dbar P_R s S + h.c.; only the
scalar density contributes to a 0- -> 0- transition, dbar P_R s -> dbar s / 2, so
L -> (1/2) Re g (dbar s + sbar d) S + (i/2) Im g (dbar s - sbar d) S. The operator dbar s + sbar d is
CP-even and S is CP-even, so the Re g term conserves CP. K_L is (nearly) CP-odd and pi0 S in an
s-wave is CP-odd (pi0 is CP-odd): K_L -> pi0 S is CP-conserving and proportional to (Re g)^2, K_S
-> pi0 S CP-violating and proportional to (Im g)^2. With K_L = (K0 - K0bar)/sqrt2 and
<pi0|sbar d|K0> = -<pi+|sbar d|K+>/sqrt2 the isospin factors cancel, so Gamma(K_L -> pi0 S) is the
K+ formula with |g|^2 -> (Re g)^2 and neutral masses (for real g: Grossman-Nir, PLB 398, 163).
"""
from __future__ import annotations

import functools
import math
import zlib
from decimal import Decimal, localcontext
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from dsscan.constraints import ConstraintSet
from dsscan.inputs import load_inputs, to_natural
from dsscan.jit import njit
from dsscan.parameters import PARAMETER_NAMES, domain_limits, readonly_float64
from dsscan.physics.ckm import fcnc_coefficients
from dsscan.physics.formfactors import load_formfactors
from dsscan.physics.reference import kappa_eff
from dsscan.physics.scattering_tables import load_tables as load_scattering_tables
from dsscan.physics import tables as shipped_tables
from dsscan.schema import OBSERVABLES

ObservableIndex = NamedTuple("ObservableIndex", [(name, int) for name in OBSERVABLES])
COL = ObservableIndex(*range(len(OBSERVABLES)))  # row of each observable in the kernel's output
N_OBS = len(OBSERVABLES)


class KernelConstants(NamedTuple):
    """Physics inputs and input-only derived numbers, in GeV and seconds."""

    m_e: float
    m_mu: float
    m_K0: float
    m_Bs: float
    tau_Bp: float
    tau_B0: float
    v: float
    hbar_c: float
    SM_Bp_Kpnunu: float
    SM_B0_Kst0nunu: float
    SM_B0_Kst0ee_lowq2: float
    SM_Bs_mumu: float
    SM_KL_pi0nunu: float
    SM_Kp_pipnunu: float
    SM_KL_pi0ee: float
    LHCb_mee_min: float
    LHCb_mee_max: float
    NA48_mee_min: float
    MeV: float  # one MeV in GeV (user-unit boundary)
    per_TeV: float  # one TeV^-1 in GeV^-1
    # derived from the inputs alone
    C_bs_t_re: float
    C_bs_t_im: float
    C_bs_c_re: float
    C_bs_c_im: float
    C_sd_t_re: float
    C_sd_t_im: float
    C_sd_c_re: float
    C_sd_c_im: float
    # input-only prefactors, hoisted out of the per-point loop (formulas in the reference):
    # BR(P -> P' S) = |g|^2 f0^2 lambda^{1/2} pref,  BR(B -> K* S) = |g|^2 A0^2 lambda^{3/2} pref
    pref_Bp_KpS: float
    pref_B0_Kst0S: float
    pref_Bp_KstpS: float
    pref_Kp_pipS: float
    pref_KL_pi0S: float
    pref_KS_pi0S: float
    pref_Bs: float  # BR(B_s -> X) = |g_bs|^2 pref_Bs / (m_Bs^2 - m_S^2)^2 * (partial-width factor of X)
    pref_dM_Bs: float  # Delta M_Bs [ps^-1] = |g_bs|^2 pref_dM_Bs / |m_Bs^2 - m_S^2|
    pref_dM_K: float  # Delta M_K [s^-1] = |g_sd|^2 pref_dM_K / |m_K^2 - m_S^2|
    pref_Kmunu: float  # BR(K -> mu nu S) = y_mu^2 J(m_S) pref_Kmunu
    beta3_Bs_mumu: float
    ln_m_e: float
    ln_m_mu: float
    ln_Lambda_BZ: float
    # kappa_eff loops (reference.kappa_eff): tau_l = m_S^2 inv_4m2_l, sum scaled by loop_norm = alpha/(2 pi v)
    loop_norm: float
    inv_4m2_e: float
    inv_4m2_mu: float
    # lambda(M^2, m^2, x) = x^2 - 2 A x + B with (A, B) = (M^2 + m^2, (M^2 - m^2)^2), x = m_S^2
    kallen_Bp_Kp: tuple[float, float]
    kallen_Bp_Kstp: tuple[float, float]
    kallen_B0_Kst0: tuple[float, float]
    kallen_K0_pi0: tuple[float, float]
    kallen_Kp_pip: tuple[float, float]
    # Delta a_l = eta_d^2 g2_one_loop_l I(r) + eta_d kappa g2_barr_zee_l (ln Lambda - ln m_S)
    g2_one_loop_e: float
    g2_one_loop_mu: float
    g2_barr_zee_e: float
    g2_barr_zee_mu: float
    # upscattering (physics.md section 9): C_p = Cp_u eta_u + Cp_d eta_d + Cp_Q (eta_c + eta_t), same for n
    Cp_u: float
    Cp_d: float
    Cp_Q: float
    Cn_u: float
    Cn_d: float
    Cn_Q: float
    C12_protons: float
    C12_neutrons: float
    glass_protons: float
    glass_neutrons: float
    MB_mult_C12: float
    MB_mult_p: float
    MB_mult_n: float
    # kappa_eff at q^2 = m_Bs^2 is kappa - (Sd eta_d + Sc eta_c + St eta_t): the loop sums there
    Sd_Bs_re: float
    Sd_Bs_im: float
    Sc_Bs_re: float
    Sc_Bs_im: float
    St_Bs_re: float
    St_Bs_im: float


class KernelTables(NamedTuple):
    """The preloaded tables, each on a uniform grid given as (x_min, 1/dx, values)."""

    ff_q2_min: float
    ff_inv_dq2: float
    ff_f0_BK: np.ndarray
    ff_A0_BKst: np.ndarray
    g2_lnr_min: float
    g2_inv_dlnr: float
    g2_I: np.ndarray
    kmunuS_min: float
    kmunuS_inv_dm: float
    kmunuS_J: np.ndarray
    scat_ln_mS_min: float
    scat_inv_d_ln_mS: float
    scat_ln_mnu4_min: float
    scat_inv_d_ln_mnu4: float
    # [i_mS, j_mnu4, k]: ln I_MB_C12, ln I_MB_p, ln I_MB_n (GeV^-2) and ln(I_CH2 / D_CH2); D_CH2 depends
    # on m_nu4 alone, so the bilinear interpolation of the difference is that of ln I_CH2 minus the linear one of ln D_CH2
    scat_ln_I: np.ndarray
    scat_inv_D_MB: float
    # [3, n]: coefficients of x^m (x = m_S^2) of the heavy-fermion loop sums (kernel_tables)
    heavy_loop_series: np.ndarray


@functools.cache
def kernel_constants() -> KernelConstants:
    inp = load_inputs()
    C = fcnc_coefficients(inp)
    fields = {name: inp.values[name] for name in KernelConstants._fields if name in inp.values}
    zero = {"d": 0.0, "c": 0.0, "t": 0.0}

    def loop_sum_at_Bs(which: str) -> complex:  # -(kappa_eff - kappa) for unit eta_which
        return -kappa_eff(0.0, {**zero, which: 1.0}, inp.m_Bs**2, inp)

    Sd, Sc, St = (loop_sum_at_Bs(w) for w in ("d", "c", "t"))
    to_BR = {name: inp.values[f"tau_{name}"] / inp.hbar for name in ("Bp", "B0", "Bs", "Kp", "KL", "KS")}

    def pref_P(M: float, m: float, tau_to_BR: float, m_q_diff: float, ff: float = 1.0) -> float:
        return ff**2 * (M * M - m * m) ** 2 / (64 * math.pi * M**3 * m_q_diff**2) * tau_to_BR

    def pref_V(M: float, tau_to_BR: float) -> float:
        return 1 / (64 * math.pi * M**3 * (inp.m_b + inp.m_s) ** 2) * tau_to_BR

    def pref_mixing(m_M: float, f_M: float, m_q_sum: float, B2: float) -> float:
        return 5 / 24 * B2 * m_M * f_M**2 * (m_M / m_q_sum) ** 2 / inp.hbar

    def kallen(M: float, m: float) -> tuple[float, float]:
        return (M * M + m * m, (M * M - m * m) ** 2)

    ds = inp.m_s - inp.m_d
    fields.update(_scattering_constants(inp))
    fields.update(
        pref_Bp_KpS=pref_P(inp.m_Bp, inp.m_Kp, to_BR["Bp"], inp.m_b - inp.m_s),
        pref_B0_Kst0S=pref_V(inp.m_B0, to_BR["B0"]),
        pref_Bp_KstpS=pref_V(inp.m_Bp, to_BR["Bp"]),
        pref_Kp_pipS=pref_P(inp.m_Kp, inp.m_pip, to_BR["Kp"], ds, inp.ff_f0_Kpi),
        pref_KL_pi0S=pref_P(inp.m_K0, inp.m_pi0, to_BR["KL"], ds, inp.ff_f0_Kpi),
        pref_KS_pi0S=pref_P(inp.m_K0, inp.m_pi0, to_BR["KS"], ds, inp.ff_f0_Kpi),
        pref_Bs=(inp.f_Bs * inp.m_Bs**2 / (2 * (inp.m_b + inp.m_s))) ** 2 * inp.m_Bs / (8 * math.pi) * to_BR["Bs"],
        pref_dM_Bs=pref_mixing(inp.m_Bs, inp.f_Bs, inp.m_b + inp.m_s, inp.B2_Bs) * 1e-12,
        pref_dM_K=pref_mixing(inp.m_K0, inp.f_Kp, inp.m_s + inp.m_d, inp.B2_K),
        pref_Kmunu=inp.G_F**2 * C["V_us_abs"] ** 2 * inp.f_Kp**2 * to_BR["Kp"],
        beta3_Bs_mumu=(1 - 4 * inp.m_mu**2 / inp.m_Bs**2) ** 1.5,
        ln_m_e=math.log(inp.m_e),
        ln_m_mu=math.log(inp.m_mu),
        ln_Lambda_BZ=math.log(inp.Lambda_BZ),
        loop_norm=inp.alpha_em / (2 * math.pi * inp.v),
        inv_4m2_e=1 / (4 * inp.m_e**2),
        inv_4m2_mu=1 / (4 * inp.m_mu**2),
        kallen_Bp_Kp=kallen(inp.m_Bp, inp.m_Kp),
        kallen_Bp_Kstp=kallen(inp.m_Bp, inp.m_Kstp),
        kallen_B0_Kst0=kallen(inp.m_B0, inp.m_Kst0),
        kallen_K0_pi0=kallen(inp.m_K0, inp.m_pi0),
        kallen_Kp_pip=kallen(inp.m_Kp, inp.m_pip),
        g2_one_loop_e=(inp.m_e / inp.v) ** 2 / (8 * math.pi**2),
        g2_one_loop_mu=(inp.m_mu / inp.v) ** 2 / (8 * math.pi**2),
        g2_barr_zee_e=inp.m_e**2 / (4 * math.pi**2 * inp.v),
        g2_barr_zee_mu=inp.m_mu**2 / (4 * math.pi**2 * inp.v),
    )
    fields.update(
        MeV=to_natural(1.0, "MeV"),
        per_TeV=1.0 / to_natural(1.0, "TeV"),
        C_bs_t_re=C["C_bs_t"].real, C_bs_t_im=C["C_bs_t"].imag,
        C_bs_c_re=C["C_bs_c"].real, C_bs_c_im=C["C_bs_c"].imag,
        C_sd_t_re=C["C_sd_t"].real, C_sd_t_im=C["C_sd_t"].imag,
        C_sd_c_re=C["C_sd_c"].real, C_sd_c_im=C["C_sd_c"].imag,
        Sd_Bs_re=Sd.real, Sd_Bs_im=Sd.imag, Sc_Bs_re=Sc.real, Sc_Bs_im=Sc.imag,
        St_Bs_re=St.real, St_Bs_im=St.imag,
    )
    return KernelConstants(**fields)


def _scattering_constants(inp) -> dict[str, float]:
    """Nucleon couplings per unit eta and the targets, from the same functions the reference uses."""
    from dsscan.physics import scattering as sc

    unit = {"u": (1.0, 0.0, 0.0, 0.0), "d": (0.0, 1.0, 0.0, 0.0), "Q": (0.0, 0.0, 1.0, 0.0)}
    per_eta = {which: sc.nucleon_couplings(*etas) for which, etas in unit.items()}  # (C_p, C_n) at unit eta
    t, mult = sc.targets(), sc.miniboone_multiplicities()
    return {
        "Cp_u": per_eta["u"][0], "Cp_d": per_eta["d"][0], "Cp_Q": per_eta["Q"][0],
        "Cn_u": per_eta["u"][1], "Cn_d": per_eta["d"][1], "Cn_Q": per_eta["Q"][1],
        "C12_protons": t["C12"].protons, "C12_neutrons": t["C12"].neutrons,
        "glass_protons": t["glass"].protons, "glass_neutrons": t["glass"].neutrons,
        "MB_mult_C12": mult["C12"], "MB_mult_p": mult["p"], "MB_mult_n": mult["n"],
    }


@functools.cache
def kernel_tables() -> KernelTables:
    ff = load_formfactors()
    g2 = shipped_tables.load("g2_loop")
    kmu = shipped_tables.load("kmunuS")
    scat = load_scattering_tables()
    # the four integrals side by side, so the corners of one cell share cache lines
    ln_I_CH2_over_D = scat.ln_I_CH2 - scat.ln_D_CH2[np.newaxis, :]
    ln_I = np.stack([scat.ln_I_MB_C12, scat.ln_I_MB_p, scat.ln_I_MB_n, ln_I_CH2_over_D], axis=-1)
    if not (np.isfinite(ln_I).all() and np.abs(ln_I).max() < EXP_SIMD_ARG_MAX):
        raise ValueError("the upscattering tables hold an ln I outside the kernel's exp range; rebuild them "
                         "with 'dsscan tables build' (a zero integral would give ln I = -inf)")
    return KernelTables(
        ff_q2_min=float(ff.q2_GeV2[0]), ff_inv_dq2=1 / float(ff.q2_GeV2[1] - ff.q2_GeV2[0]),
        ff_f0_BK=ff.f0_BK, ff_A0_BKst=ff.A0_BKst,
        g2_lnr_min=g2.x_min, g2_inv_dlnr=1 / g2.dx, g2_I=g2.values,
        kmunuS_min=kmu.x_min, kmunuS_inv_dm=1 / kmu.dx, kmunuS_J=kmu.values,
        scat_ln_mS_min=scat.ln_mS_min, scat_inv_d_ln_mS=1 / scat.d_ln_mS,
        scat_ln_mnu4_min=scat.ln_mnu4_min, scat_inv_d_ln_mnu4=1 / scat.d_ln_mnu4,
        scat_ln_I=np.ascontiguousarray(ln_I), scat_inv_D_MB=1 / scat.D_MB,
        heavy_loop_series=heavy_loop_series(load_inputs()),
    )


# --- small pieces, each the twin of a reference function ------------------------------------
# error_model="numpy": a division by zero gives inf/nan instead of raising, so no per-division
# branch; the supported domain keeps every denominator positive. _nrt=False: no reference counting
# of the arrays handed from function to function (atomic increments per point that cost a fifth of
# the kernel's time); the kernel allocates nothing, and its caller holds every array it reads.
jit = functools.partial(njit, cache=True, error_model="numpy", _nrt=False)
INV_8PI = 1 / (8 * math.pi)
INV_64PI = 1 / (64 * math.pi)


# --- exp and log as plain arithmetic, so that loops over them vectorise -------------------------
# PyPI's llvmlite has no vector math library (no SVML), so a loop calling ``math.exp`` or
# ``math.log`` makes one scalar libm call per point even when LLVM vectorises the rest of it. These
# two are straight-line code (a range reduction, a polynomial and an exponent written into the bits
# of a float), which LLVM turns into SIMD like any other arithmetic. Being plain IEEE arithmetic they
# round the same in a SIMD lane and in a scalar remainder, so results do not depend on a point's
# place in a batch. Accuracy: within 1 ulp of glibc's exp and log (``tests/test_vecmath.py`` checks
# them against libm and against 50-digit values).
#
# - ``exp_simd(x)``: Cody & Waite reduction x = k ln2 + r, |r| <= ln2/2, then the Taylor series of
#   e^r to r^13 (remainder < 1e-17 relative), times 2^k. For |x| < 708 (normal results).
# - ``log_simd(x)``: x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1, ln m = 2 artanh(s) with
#   s = f/(2+f), |s| < 0.172, the series summed to s^23 (remainder < 1e-18) and arranged as in fdlibm
#   so that the exact f carries the result: ln m = f - (f^2/2 - s (f^2/2 + R)). For positive normal x.
#
# References: W. J. Cody and W. Waite, Software Manual for the Elementary Functions (1980), ch. 5-6;
# the ln2 split is fdlibm's (e_exp.c, e_log.c). They live in this file because numba's disk cache of
# a function is keyed by its own file: a change to an inlined function from another module would
# not recompile the cached kernel.


def _ln2_split() -> tuple[float, float]:
    """ln2 = LN2_HI + LN2_LO with the low 21 mantissa bits of LN2_HI zero (fdlibm's split), so k LN2_HI is exact for |k| < 2^21."""
    with localcontext() as context:
        context.prec = 50
        ln2 = Decimal(2).ln()
        hi = float((np.float64(float(ln2)).view(np.int64) & ~np.int64((1 << 21) - 1)).view(np.float64))
        return hi, float(ln2 - Decimal(hi))


LN2_HI, LN2_LO = _ln2_split()
INV_LN2 = 1.0 / math.log(2.0)
SQRT_HALF = math.sqrt(0.5)
EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(14))  # 1/n!, n = 0 .. 13
ARTANH_TAIL = tuple(2.0 / (2 * n + 3) for n in range(11))  # 2 artanh(s) = 2s + s R, R = sum_{n>=1} 2 z^n / (2n+1), z = s^2
EXPONENT_BIAS, MANTISSA_BITS = 1023, 52
EXP_SIMD_ARG_MAX = (EXPONENT_BIAS - 1) * math.log(2.0)  # 2^k stays a normal float for |x| below this
MANTISSA_MASK = (1 << MANTISSA_BITS) - 1


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_float(typingctx, x):
    """The IEEE bits of the float64 ``x`` as an int64 (an LLVM bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@jit(inline="always")
def exp_simd(x):
    """e^x for |x| < EXP_SIMD_ARG_MAX (708.4), within 1 ulp of glibc's exp."""
    k = math.floor(x * INV_LN2 + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    p = EXP_TAYLOR[13]
    for n in range(12, -1, -1):
        p = p * r + EXP_TAYLOR[n]
    return p * _float_from_bits((np.int64(k) + EXPONENT_BIAS) << MANTISSA_BITS)


@jit(inline="always")
def log_simd(x):
    """ln x for positive normal x, within 1 ulp of glibc's log (fdlibm's e_log.c arrangement)."""
    bits = _bits_of_float(x)
    e = (bits >> MANTISSA_BITS) - EXPONENT_BIAS
    m = _float_from_bits((bits & MANTISSA_MASK) | (np.int64(EXPONENT_BIAS) << MANTISSA_BITS))  # in [1, 2)
    if m > 2.0 * SQRT_HALF:  # a select, not a branch, once vectorised
        m *= 0.5
        e += 1
    f = m - 1.0  # exact
    s = f / (2.0 + f)
    z = s * s
    R = ARTANH_TAIL[10]
    for n in range(9, -1, -1):
        R = R * z + ARTANH_TAIL[n]
    R *= z
    half_f2 = 0.5 * f * f
    return e * LN2_HI - ((half_f2 - (s * (half_f2 + R) + e * LN2_LO)) - f)


@jit(inline="always")
def _interp_uniform(x, x_min, inv_dx, values):
    """Linear interpolation on a uniform grid, clamped to its ends (twin of np.interp)."""
    t = (x - x_min) * inv_dx
    n = values.shape[0]
    if t <= 0.0:
        return values[0]
    if t >= n - 1:
        return values[n - 1]
    k = int(t)
    w = t - k
    return values[k] * (1.0 - w) + values[k + 1] * w


def _A_half_series_coefficients(n_terms: int) -> np.ndarray:
    """Taylor coefficients of A_{1/2}(tau) = 2 sum_m (c_{m+1} - c_{m+2}) tau^m, where
    arcsin^2 sqrt(tau) = sum_n c_n tau^n, c_n = 2^{2n-1} ((n-1)!)^2 / (2n)!."""
    c = [2.0 ** (2 * n - 1) * math.factorial(n - 1) ** 2 / math.factorial(2 * n) for n in range(1, n_terms + 3)]
    return np.array([2 * (c[m] - c[m + 1]) for m in range(n_terms)])


# Below tau = 0.05 14 terms sum A_{1/2} to 1e-16 (the muon loop at low m_S).
A_HALF_SERIES_TAU_MAX = 0.05
A_HALF_SERIES = _A_half_series_coefficients(14)
# The tau, b, c and t loops stay below tau = 0.013 over the supported domain (kernel_tables checks
# it), where 10 terms leave < 1e-19: their sums are polynomials in m_S^2.
HEAVY_LOOP_TAU_MAX = 0.013
HEAVY_LOOP_TERMS = 10


def heavy_loop_series(inp) -> np.ndarray:
    """[3, HEAVY_LOOP_TERMS] coefficients of x^m, x = m_S^2, of the loop sums that multiply eta_d
    (tau + b, N_c Q^2 = 1, 1/3), eta_c and eta_t (N_c Q^2 = 4/3) in kappa_eff: sum_f w_f A_{1/2}(x / 4 m_f^2)."""
    x_max = (domain_limits()["m_S_max_MeV"] * to_natural(1.0, "MeV")) ** 2
    groups = (((inp.m_tau, 1.0), (inp.m_b, 1 / 3)), ((inp.m_c, 4 / 3),), ((inp.m_t, 4 / 3),))
    a = A_HALF_SERIES[:HEAVY_LOOP_TERMS]
    series = np.zeros((3, HEAVY_LOOP_TERMS))
    for g, fermions in enumerate(groups):
        for m_f, weight in fermions:
            if x_max / (4 * m_f**2) > HEAVY_LOOP_TAU_MAX:
                raise ValueError(f"a loop of mass {m_f} GeV leaves the series range; raise HEAVY_LOOP_TERMS")
            series[g] += weight * a * (4 * m_f**2) ** -np.arange(HEAVY_LOOP_TERMS, dtype=float)
    return series


@jit(inline="always")
def _cell(x, x_min, inv_dx, n):
    """Cell index (clipped to [0, n-2]) and fraction of x on a uniform grid (twin of scattering_tables.interpolate)."""
    u = (x - x_min) * inv_dx
    i = min(max(int(math.floor(u)), 0), n - 2)
    return i, u - i


@jit(inline="always")
def _upscattering_ln_integrals(ln_m_S, ln_m_nu4, tab):
    """ln of (I_MB_C12, I_MB_p, I_MB_n, I_CH2 / D_CH2): bilinear interpolation in (ln m_S, ln m_nu4)."""
    ln_I = tab.scat_ln_I
    i, s = _cell(ln_m_S, tab.scat_ln_mS_min, tab.scat_inv_d_ln_mS, ln_I.shape[0])
    j, t = _cell(ln_m_nu4, tab.scat_ln_mnu4_min, tab.scat_inv_d_ln_mnu4, ln_I.shape[1])
    w00, w10, w01, w11 = (1 - s) * (1 - t), s * (1 - t), (1 - s) * t, s * t
    return (w00 * ln_I[i, j, 0] + w10 * ln_I[i + 1, j, 0] + w01 * ln_I[i, j + 1, 0] + w11 * ln_I[i + 1, j + 1, 0],
            w00 * ln_I[i, j, 1] + w10 * ln_I[i + 1, j, 1] + w01 * ln_I[i, j + 1, 1] + w11 * ln_I[i + 1, j + 1, 1],
            w00 * ln_I[i, j, 2] + w10 * ln_I[i + 1, j, 2] + w01 * ln_I[i, j + 1, 2] + w11 * ln_I[i + 1, j + 1, 2],
            w00 * ln_I[i, j, 3] + w10 * ln_I[i + 1, j, 3] + w01 * ln_I[i, j + 1, 3] + w11 * ln_I[i + 1, j + 1, 3])


@jit(inline="always")
def _loop_A_half_above_threshold(tau):
    """(Re, Im) of A_{1/2}(tau) for tau >= 1 (see reference.loop_A_half): f = -1/4 (L - i pi)^2 in
    real arithmetic with L = ln((1+b)/(1-b)) = ln((1+b)^2 tau), b = (1 - 1/tau)^{1/2}, which avoids
    the cancellation in 1 - b. Branch-free, so that a loop over it vectorises (a rounded tau just
    below 1 gives b = 0 and f = pi^2/4, the value at threshold)."""
    inv_tau = 1.0 / tau
    one_plus_b = 1.0 + math.sqrt(max(1.0 - inv_tau, 0.0))
    L = log_simd(one_plus_b * one_plus_b * tau)
    norm = 2.0 * inv_tau * inv_tau
    return norm * (tau - 0.25 * (tau - 1.0) * (L * L - math.pi * math.pi)), norm * (tau - 1.0) * 0.5 * math.pi * L


@jit
def _loop_A_half(tau):
    """(Re, Im) of A_{1/2}(tau), see reference.loop_A_half: a Horner series below
    A_HALF_SERIES_TAU_MAX, f = arcsin^2 tau^{1/2} up to threshold, _loop_A_half_above_threshold above."""
    if tau < A_HALF_SERIES_TAU_MAX:
        acc = 0.0
        for m in range(A_HALF_SERIES.shape[0] - 1, -1, -1):
            acc = acc * tau + A_HALF_SERIES[m]
        return acc, 0.0
    if tau > 1.0:
        return _loop_A_half_above_threshold(tau)
    inv_tau = 1.0 / tau
    return 2.0 * inv_tau * inv_tau * (tau + (tau - 1.0) * math.asin(math.sqrt(tau)) ** 2), 0.0


@jit(inline="always")
def _heavy_loops(x, series):
    """The eta_d (tau, b), eta_c and eta_t loop sums at x = m_S^2 (heavy_loop_series)."""
    d = c = t = 0.0
    for m in range(HEAVY_LOOP_TERMS - 1, -1, -1):  # a constant trip count: unrolled, vectorisable
        d = d * x + series[0, m]
        c = c * x + series[1, m]
        t = t * x + series[2, m]
    return d, c, t


@jit(inline="always")
def _sqrt_kallen(x, A_B):
    """lambda^{1/2}(M^2, m^2, x) = (x^2 - 2 A x + B)^{1/2}, clamped at 0 (the supported m_S <= 2 m_pi
    stays below every M - m threshold, so lambda > 0 there)."""
    A, B = A_B
    return math.sqrt(max(x * x - 2.0 * A * x + B, 0.0))


@jit(inline="always")
def _gamma_S_ll(y, m_l, m_S):
    """Gamma(S -> l+ l-) = y^2 m_S / (8 pi) beta^3 (reference.gamma_S_ll), 0 at and below threshold."""
    if m_S <= 2 * m_l:
        return 0.0
    beta2 = 1 - 4 * m_l * m_l / (m_S * m_S)
    return y * y * m_S * INV_8PI * beta2 * math.sqrt(beta2)


# --- one block of points: lookups, then short vectorisable passes ---------------------------------
# Phase 1 computes what needs logs, exponentials or table lookups into the rows of a per-block
# scratch array: logs and the electron loop, the upscattering integrals, the muon loop point by point
# (three regimes, one of them the only libm call left, asin), the clamped table interpolations.
# Phase 2 is a series of straight loops, one per group of observables, that LLVM turns into SIMD
# code (8 points per AVX-512 instruction). Each writes at most eight output rows (beyond that LLVM gives
# up on the runtime alias checks) and runs over unsigned indices (signed ones carry numba's
# negative-index wraparound, which blocks it). SIMD and scalar code round alike (no fastmath, no FMA
# contraction), so a point's bits do not depend on where it sits in a batch.
ScratchIndex = NamedTuple("ScratchIndex", [(name, int) for name in (
    "ln_m_S", "ln_m_nu4", "A_light_re", "A_light_im", "f0_BK", "A0_BKst",
    "I_MB_C12", "I_MB_p", "I_MB_n", "I_CH2_over_D", "g2_I_mu", "g2_I_e", "J_kmunuS",
)])
SCR = ScratchIndex(*range(len(ScratchIndex._fields)))
N_SCRATCH = len(SCR)


@jit(inline="always")
def _logs_and_electron_loop(params, k, scr, start, stop):
    """Phase 1a: ln m_S, ln m_nu4 and the electron loop amplitude (tau_e > 1 on the whole domain)."""
    for i in range(start, stop):
        b = i - start
        m_S = params[7][i] * k.MeV
        scr[SCR.ln_m_S, b] = _ln_m_S(params, k, i)
        scr[SCR.ln_m_nu4, b] = log_simd(params[8][i] * k.MeV)
        e_re, e_im = _loop_A_half_above_threshold(m_S * m_S * k.inv_4m2_e)
        scr[SCR.A_light_re, b] = e_re
        scr[SCR.A_light_im, b] = e_im


@jit(inline="always")
def _upscattering_lookups(tab, scr, n_block):
    """Phase 1b: the unit-coupling upscattering integrals at (m_S, m_nu4) of the block's points, their
    logs interpolated point by point (scattered reads), then exponentiated in a SIMD loop."""
    for b in range(n_block):
        ln_I_C12, ln_I_p, ln_I_n, ln_I_CH2_over_D = _upscattering_ln_integrals(scr[SCR.ln_m_S, b], scr[SCR.ln_m_nu4, b], tab)
        scr[SCR.I_MB_C12, b] = ln_I_C12
        scr[SCR.I_MB_p, b] = ln_I_p
        scr[SCR.I_MB_n, b] = ln_I_n
        scr[SCR.I_CH2_over_D, b] = ln_I_CH2_over_D
    for b in range(n_block):
        scr[SCR.I_MB_C12, b] = exp_simd(scr[SCR.I_MB_C12, b])
        scr[SCR.I_MB_p, b] = exp_simd(scr[SCR.I_MB_p, b])
        scr[SCR.I_MB_n, b] = exp_simd(scr[SCR.I_MB_n, b])
        scr[SCR.I_CH2_over_D, b] = exp_simd(scr[SCR.I_CH2_over_D, b])


@jit(inline="always")
def _muon_loop(params, k, scr, start, stop):
    """Phase 1c, point by point: the muon loop amplitude, added to the electron's (three regimes: a
    series, arcsin, and above threshold)."""
    for i in range(start, stop):
        b = i - start
        m_S = params[7][i] * k.MeV
        mu_re, mu_im = _loop_A_half(m_S * m_S * k.inv_4m2_mu)
        scr[SCR.A_light_re, b] = scr[SCR.A_light_re, b] + mu_re
        scr[SCR.A_light_im, b] = scr[SCR.A_light_im, b] + mu_im


@jit(inline="always")
def _ln_m_S(params, k, i):
    """ln m_S (GeV) of point i."""
    return log_simd(params[7][i] * k.MeV)


@jit(inline="always")
def _g2_loop_integrals(k, tab, ln_m_S):
    """The one-loop g-2 integral I(m_S^2 / m_l^2) for l = mu, e, interpolated in ln(m_S^2 / m_l^2)."""
    return (_interp_uniform(2.0 * (ln_m_S - k.ln_m_mu), tab.g2_lnr_min, tab.g2_inv_dlnr, tab.g2_I),
            _interp_uniform(2.0 * (ln_m_S - k.ln_m_e), tab.g2_lnr_min, tab.g2_inv_dlnr, tab.g2_I))


@jit(inline="always")
def _delta_a_leptons(params, k, i, ln_m_S, I_mu, I_e):
    """(Delta a_mu, Delta a_e) = eta_d^2 g2_one_loop_l I_l + eta_d kappa g2_barr_zee_l ln(Lambda / m_S)
    (reference.delta_a_lepton)."""
    kappa, eta_d = params[0][i] * k.per_TeV, params[1][i]
    log_Lambda_over_m_S = k.ln_Lambda_BZ - ln_m_S
    return (eta_d * eta_d * k.g2_one_loop_mu * I_mu + eta_d * kappa * k.g2_barr_zee_mu * log_Lambda_over_m_S,
            eta_d * eta_d * k.g2_one_loop_e * I_e + eta_d * kappa * k.g2_barr_zee_e * log_Lambda_over_m_S)


@jit(inline="always")
def _table_lookups(params, k, tab, scr, start, stop):
    """Phase 1d: form factors, the g-2 loop integral I(m_S^2/m_l^2) and the K -> mu nu S width J."""
    for i in range(start, stop):
        b = i - start
        m_S = params[7][i] * k.MeV
        ln_m_S = scr[SCR.ln_m_S, b]
        x = m_S * m_S
        scr[SCR.f0_BK, b] = _interp_uniform(x, tab.ff_q2_min, tab.ff_inv_dq2, tab.ff_f0_BK)
        scr[SCR.A0_BKst, b] = _interp_uniform(x, tab.ff_q2_min, tab.ff_inv_dq2, tab.ff_A0_BKst)
        scr[SCR.g2_I_mu, b], scr[SCR.g2_I_e, b] = _g2_loop_integrals(k, tab, ln_m_S)
        # K+ -> mu+ nu S(-> e+ e-) counts in the NA48/2 region m_ee >= 140 MeV only
        J = _interp_uniform(m_S, tab.kmunuS_min, tab.kmunuS_inv_dm, tab.kmunuS_J)
        scr[SCR.J_kmunuS, b] = J if m_S >= k.NA48_mee_min else 0.0


@jit(inline="always")
def _S_and_nu4_widths(params, k, tab, scr, out, start, stop):
    """Gamma_S, BR(S -> gg, ee, mumu, nunu), the decay lengths and Gamma(nu4 -> nu S); kappa_eff =
    kappa - alpha/(2 pi v) sum_f eta_f N_c Q_f^2 A_{1/2}(m_S^2 / 4 m_f^2) (reference.kappa_eff)."""
    for i in range(start, stop):
        b = i - start
        kappa, eta_d, eta_c, eta_t = params[0][i] * k.per_TeV, params[1][i], params[3][i], params[4][i]
        g_D, U = params[5][i], params[6][i]
        m_S, m_nu4 = params[7][i] * k.MeV, params[8][i] * k.MeV
        x = m_S * m_S
        heavy_d, heavy_c, heavy_t = _heavy_loops(x, tab.heavy_loop_series)  # below threshold: real
        k_eff_re = kappa - k.loop_norm * (eta_d * (scr[SCR.A_light_re, b] + heavy_d) + eta_c * heavy_c + eta_t * heavy_t)
        k_eff_im = -k.loop_norm * eta_d * scr[SCR.A_light_im, b]
        G_gg = (k_eff_re * k_eff_re + k_eff_im * k_eff_im) * x * m_S * INV_64PI
        G_ee = _gamma_S_ll(eta_d * k.m_e / k.v, k.m_e, m_S)
        G_mumu = _gamma_S_ll(eta_d * k.m_mu / k.v, k.m_mu, m_S)
        U2 = U * U
        G_nunu = g_D * g_D * INV_8PI * U2 * U2 * m_S
        G_S = G_ee + G_mumu + G_nunu + G_gg
        inv_G_S = 1.0 / G_S
        r = m_S / m_nu4  # < 1 in GeV (check_domain compares them there), so 1 - r >= 1 ulp
        phase_space = (1.0 - r) * (1.0 + r)
        G_nu4 = g_D * g_D * INV_8PI * (1 - U2) * U2 * phase_space * phase_space * m_nu4
        out[COL.Gamma_S_GeV, i] = G_S
        out[COL.BR_S_gg, i] = G_gg * inv_G_S
        out[COL.BR_S_ee, i] = G_ee * inv_G_S
        out[COL.BR_S_mumu, i] = G_mumu * inv_G_S
        out[COL.BR_S_nunu, i] = G_nunu * inv_G_S
        out[COL.ctau_S_mm, i] = k.hbar_c * inv_G_S
        out[COL.Gamma_nu4_GeV, i] = G_nu4
        out[COL.ctau_nu4_mm, i] = k.hbar_c / G_nu4


@jit(inline="always")
def _flavour_couplings(params, k, i):
    """(Re g_bs, Im g_bs, Re g_sd, Im g_sd) from the top and charm loops (dsscan.physics.ckm)."""
    eta_c, eta_t = params[3][i], params[4][i]
    return (eta_t * k.C_bs_t_re + eta_c * k.C_bs_c_re, eta_t * k.C_bs_t_im + eta_c * k.C_bs_c_im,
            eta_t * k.C_sd_t_re + eta_c * k.C_sd_c_re, eta_t * k.C_sd_t_im + eta_c * k.C_sd_c_im)


@jit(inline="always")
def _couplings_and_two_body(params, k, tab, scr, out, start, stop):
    """g_bs, g_sd and the two-body decays B -> K(*) S, K -> pi S with S on shell."""
    for i in range(start, stop):
        gbs_re, gbs_im, gsd_re, gsd_im = _flavour_couplings(params, k, i)
        out[COL.g_bs_re, i] = gbs_re
        out[COL.g_bs_im, i] = gbs_im
        out[COL.g_sd_re, i] = gsd_re
        out[COL.g_sd_im, i] = gsd_im
    for i in range(start, stop):
        b = i - start
        gbs_re, gbs_im, gsd_re, gsd_im = _flavour_couplings(params, k, i)
        gbs2 = gbs_re * gbs_re + gbs_im * gbs_im
        gsd2 = gsd_re * gsd_re + gsd_im * gsd_im
        m_S = params[7][i] * k.MeV
        x = m_S * m_S
        f0_BK, A0_BKst = scr[SCR.f0_BK, b], scr[SCR.A0_BKst, b]
        lam_Bp_Kst = _sqrt_kallen(x, k.kallen_Bp_Kstp)
        lam_B0_Kst = _sqrt_kallen(x, k.kallen_B0_Kst0)
        lam_K0_pi0 = _sqrt_kallen(x, k.kallen_K0_pi0)
        out[COL.BR_Bp_KpS, i] = gbs2 * f0_BK * f0_BK * _sqrt_kallen(x, k.kallen_Bp_Kp) * k.pref_Bp_KpS
        out[COL.BR_B0_Kst0S, i] = gbs2 * A0_BKst * A0_BKst * lam_B0_Kst * lam_B0_Kst * lam_B0_Kst * k.pref_B0_Kst0S
        out[COL.BR_Bp_KstpS, i] = gbs2 * A0_BKst * A0_BKst * lam_Bp_Kst * lam_Bp_Kst * lam_Bp_Kst * k.pref_Bp_KstpS
        out[COL.BR_Kp_pipS, i] = gsd2 * _sqrt_kallen(x, k.kallen_Kp_pip) * k.pref_Kp_pipS
        out[COL.BR_KL_pi0S, i] = gsd_re * gsd_re * lam_K0_pi0 * k.pref_KL_pi0S
        out[COL.BR_KS_pi0S, i] = gsd_im * gsd_im * lam_K0_pi0 * k.pref_KS_pi0S


@jit(inline="always")
def _measured_final_states(params, k, out, start, stop):
    """The measured final states, SM + NP added incoherently, and the NP-only products."""
    for i in range(start, stop):
        m_S = params[7][i] * k.MeV
        in_lhcb = 1.0 if (k.LHCb_mee_min < m_S < k.LHCb_mee_max) else 0.0
        BR_nunu, BR_ee = out[COL.BR_S_nunu, i], out[COL.BR_S_ee, i]
        out[COL.BR_Bp_Kpnunu, i] = k.SM_Bp_Kpnunu + out[COL.BR_Bp_KpS, i] * BR_nunu
        out[COL.BR_B0_Kst0nunu, i] = k.SM_B0_Kst0nunu + out[COL.BR_B0_Kst0S, i] * BR_nunu
        out[COL.BR_Bp_Kstpnunu, i] = k.SM_B0_Kst0nunu * k.tau_Bp / k.tau_B0 + out[COL.BR_Bp_KstpS, i] * BR_nunu
        out[COL.BR_B0_Kst0ee_lowq2, i] = k.SM_B0_Kst0ee_lowq2 + in_lhcb * out[COL.BR_B0_Kst0S, i] * BR_ee
        out[COL.BR_Kp_pipnunu, i] = k.SM_Kp_pipnunu + out[COL.BR_Kp_pipS, i] * BR_nunu
        out[COL.BR_KL_pi0nunu, i] = k.SM_KL_pi0nunu + out[COL.BR_KL_pi0S, i] * BR_nunu
        out[COL.BR_KL_pi0ee, i] = k.SM_KL_pi0ee + out[COL.BR_KL_pi0S, i] * BR_ee
    for i in range(start, stop):
        BR_nunu, BR_gg = out[COL.BR_S_nunu, i], out[COL.BR_S_gg, i]
        out[COL.BR_B0_Kst0nunu_NP, i] = out[COL.BR_B0_Kst0S, i] * BR_nunu
        out[COL.BR_Bp_Kstpnunu_NP, i] = out[COL.BR_Bp_KstpS, i] * BR_nunu
        out[COL.BR_Kp_pipnunu_NP, i] = out[COL.BR_Kp_pipS, i] * BR_nunu
        out[COL.BR_KL_pi0gg_NP, i] = out[COL.BR_KL_pi0S, i] * BR_gg
        out[COL.BR_KS_pi0gg_NP, i] = out[COL.BR_KS_pi0S, i] * BR_gg
        out[COL.BR_Kp_pipgg_NP, i] = out[COL.BR_Kp_pipS, i] * BR_gg
        out[COL.BR_B_Kgg_NP, i] = out[COL.BR_Bp_KpS, i] * BR_gg
        out[COL.BR_B_Kstgg_NP, i] = out[COL.BR_B0_Kst0S, i] * BR_gg


@jit(inline="always")
def _Bs_and_mixing(params, k, out, start, stop):
    """B_s -> mu mu, nu nu, gamma gamma through an off-shell S, and Delta M_Bs, Delta M_K from S exchange."""
    for i in range(start, stop):
        kappa, eta_d, eta_c, eta_t = params[0][i] * k.per_TeV, params[1][i], params[3][i], params[4][i]
        g_D, U = params[5][i], params[6][i]
        m_S = params[7][i] * k.MeV
        x = m_S * m_S
        gbs_re, gbs_im, gsd_re, gsd_im = _flavour_couplings(params, k, i)
        gbs2 = gbs_re * gbs_re + gbs_im * gbs_im
        gsd2 = gsd_re * gsd_re + gsd_im * gsd_im
        y_mu = eta_d * k.m_mu / k.v
        inv_D = 1.0 / (k.m_Bs * k.m_Bs - x)
        k_Bs_re = kappa - (eta_d * k.Sd_Bs_re + eta_c * k.Sc_Bs_re + eta_t * k.St_Bs_re)
        k_Bs_im = -(eta_d * k.Sd_Bs_im + eta_c * k.Sc_Bs_im + eta_t * k.St_Bs_im)
        common = gbs2 * k.pref_Bs * inv_D * inv_D
        out[COL.BR_Bs_mumu, i] = k.SM_Bs_mumu + common * y_mu * y_mu * k.beta3_Bs_mumu
        out[COL.BR_Bs_nunu_NP, i] = common * (g_D * U * U) ** 2
        out[COL.BR_Bs_gg_NP, i] = common * (k_Bs_re**2 + k_Bs_im**2) * k.m_Bs * k.m_Bs * 0.125
        out[COL.dM_Bs_NP_inv_ps, i] = gbs2 * k.pref_dM_Bs * inv_D
        out[COL.dM_K_NP_inv_s, i] = gsd2 * k.pref_dM_K / abs(k.m_K0 * k.m_K0 - x)


@jit(inline="always")
def _Kmunu_upscattering_g2(params, k, tab, scr, out, start, stop):
    """BR(K+ -> mu+ nu S) BR(S -> ee), the MiniBooNE and CHARM-II ratios (scattering.ratios) and
    Delta a_l (_delta_a_leptons)."""
    for i in range(start, stop):
        b = i - start
        eta_d, eta_u, eta_c, eta_t = params[1][i], params[2][i], params[3][i], params[4][i]
        g_D, U = params[5][i], params[6][i]
        BR_ee, BR_gg = out[COL.BR_S_ee, i], out[COL.BR_S_gg, i]
        y_mu = eta_d * k.m_mu / k.v
        out[COL.BR_Kp_munuee_NP, i] = k.pref_Kmunu * y_mu * y_mu * scr[SCR.J_kmunuS, b] * BR_ee
        C_p = k.Cp_u * eta_u + k.Cp_d * eta_d + k.Cp_Q * (eta_c + eta_t)
        C_n = k.Cn_u * eta_u + k.Cn_d * eta_d + k.Cn_Q * (eta_c + eta_t)
        C_C12 = k.C12_protons * C_p + k.C12_neutrons * C_n
        C_glass = k.glass_protons * C_p + k.glass_neutrons * C_n
        U2 = U * U
        y = g_D * U * (1 - U2)
        scale = y * y * (BR_ee + BR_gg)
        numerator_MB = (k.MB_mult_C12 * C_C12 * C_C12 * scr[SCR.I_MB_C12, b] + k.MB_mult_p * C_p * C_p * scr[SCR.I_MB_p, b]
                        + k.MB_mult_n * C_n * C_n * scr[SCR.I_MB_n, b])
        out[COL.R_miniboone, i] = scale * numerator_MB * tab.scat_inv_D_MB
        out[COL.R_charm2, i] = scale * C_glass * C_glass * scr[SCR.I_CH2_over_D, b]
        out[COL.delta_a_mu, i], out[COL.delta_a_e, i] = _delta_a_leptons(
            params, k, i, scr[SCR.ln_m_S, b], scr[SCR.g2_I_mu, b], scr[SCR.g2_I_e, b])


class CompiledConstraints(NamedTuple):
    """A constraint set as arrays for the kernel, each constraint a closed interval: point i passes
    constraint c when ``lower[c] <= x[i] * scale[c] <= upper[c]``, or when it has a condition and
    ``not column[condition_column[c]][i] > condition_above[c]``. Column indices address the kernel's
    output rows (0 .. N_OBS-1) followed by the nine parameters (N_OBS .. N_OBS+8)."""

    column: np.ndarray  # int64
    lower: np.ndarray
    upper: np.ndarray
    scale: np.ndarray
    condition_column: np.ndarray  # int64, -1 where the constraint always applies
    condition_above: np.ndarray
    stage: np.ndarray  # int64: the screen that judges it first (SCREEN_OBSERVABLES), 0 for the whole kernel only


# What each of ``screen_kernel``'s stages computes before the rest of the physics. Stage 1: the g-2
# shifts, a log and a table lookup a point (a tenth of the kernel's work), while the g-2 band alone
# excludes 91 % of a uniform kappa != 0 scan. Stage 2, on the points stage 1 let through: the widths
# of S and nu4 and the meson decays (the kernel's work but for the upscattering lookups, the B_s and
# mixing observables, K -> mu nu S and the g-2 shifts: three quarters of it), while the B -> K nu nu
# band, KOTO and the S decay length exclude 99.8 % of the points at kappa = 0, where the g-2 band
# does not apply. A constraint is judged at the first stage whose observables or the parameters hold
# its column, when its condition, if any, is on a parameter (else by the whole kernel only).
SCREEN_OBSERVABLES = {
    1: ("delta_a_mu", "delta_a_e"),
    2: ("Gamma_S_GeV", "BR_S_gg", "BR_S_ee", "BR_S_mumu", "BR_S_nunu", "ctau_S_mm", "Gamma_nu4_GeV", "ctau_nu4_mm",
        "g_bs_re", "g_bs_im", "g_sd_re", "g_sd_im", "BR_Bp_KpS", "BR_B0_Kst0S", "BR_Bp_KstpS", "BR_Kp_pipS",
        "BR_KL_pi0S", "BR_KS_pi0S", "BR_Bp_Kpnunu", "BR_B0_Kst0nunu", "BR_Bp_Kstpnunu", "BR_B0_Kst0ee_lowq2",
        "BR_Kp_pipnunu", "BR_KL_pi0nunu", "BR_KL_pi0ee", "BR_B0_Kst0nunu_NP", "BR_Bp_Kstpnunu_NP", "BR_Kp_pipnunu_NP",
        "BR_KL_pi0gg_NP", "BR_KS_pi0gg_NP", "BR_Kp_pipgg_NP", "BR_B_Kgg_NP", "BR_B_Kstgg_NP"),
}


def _closed_interval(kind: str, lower: float, upper: float) -> tuple[float, float]:
    """The closed interval equal to a constraint's test (x < u is x <= the float below u, for every float x)."""
    if kind == "upper":
        return -math.inf, math.nextafter(upper, -math.inf)
    if kind == "lower":
        return math.nextafter(lower, math.inf), math.inf
    return lower, upper


def compile_constraints(cset: ConstraintSet) -> CompiledConstraints:
    """Arrays the kernel judges with; same semantics as ``ConstraintSet.judge`` (tests hold them together)."""
    index = {name: j for j, name in enumerate(OBSERVABLES)}
    index.update({name: N_OBS + j for j, name in enumerate(PARAMETER_NAMES)})

    def column_of(name: str, constraint: str) -> int:
        if name not in index:
            raise ValueError(f"constraint {constraint!r} of set {cset.name!r} refers to unknown column {name!r}")
        return index[name]

    cond_col, cond_above = [], []
    for c in cset.constraints:
        if len(c.applies_above) > 1:
            raise ValueError(f"constraint {c.name!r}: at most one applies_above condition is supported")
        (name, above), = c.applies_above or (("", 0.0),)
        cond_col.append(column_of(name, c.name) if name else -1)
        cond_above.append(above)
    lower, upper = zip(*(_closed_interval(c.kind, c.lower, c.upper) for c in cset.constraints))
    column = [column_of(c.observable, c.name) for c in cset.constraints]

    stage_of_column = {index[name]: stage for stage, names in SCREEN_OBSERVABLES.items() for name in names}
    stage_of_column.update({index[name]: min(SCREEN_OBSERVABLES) for name in PARAMETER_NAMES})  # the first stage

    def stage_of(c: int) -> int:
        if cond_col[c] != -1 and cond_col[c] < N_OBS:  # conditioned on an observable: the whole kernel
            return 0
        return stage_of_column.get(column[c], 0)
    return CompiledConstraints(
        column=np.array(column, dtype=np.int64),
        lower=np.array(lower),
        upper=np.array(upper),
        scale=np.array([c.scale for c in cset.constraints]),
        condition_column=np.array(cond_col, dtype=np.int64),
        condition_above=np.array(cond_above),
        stage=np.array([stage_of(c) for c in range(len(column))], dtype=np.int64),
    )


@jit(inline="always")
def _column(j, params, out):
    """Row j of the combined column space: an observable (j < N_OBS) or a parameter."""
    return out[j] if j < N_OBS else params[j - N_OBS]


@jit(inline="always")
def _in_range_bits(x, first, count, s, lo, hi):
    """Bit j (j < count) set where lo <= x[first + j] * s <= hi."""
    byte = np.uint64(0)
    for j in range(count):
        v = x[first + j] * s
        byte |= np.uint64((v >= lo) & (v <= hi)) << j
    return byte


@jit(inline="always")
def _applies_bits(cond, first, count, above):
    """Bit j (j < count) set where cond[first + j] > above (the constraint applies)."""
    byte = np.uint64(0)
    for j in range(count):
        byte |= np.uint64(cond[first + j] > above) << j
    return byte


ONE, EIGHT = np.uint64(1), np.uint64(8)  # unsigned: numba types int64 (op) uint64 as float64
BLOCK_POINTS = 2048  # points per block (a multiple of 8): the block's observables stay in cache for the verdicts


@jit(inline="always")
def _evaluate_block(params, k, tab, cons, out, verdicts, scratch, start, stop):
    """Points start .. stop - 1 (unsigned, start a multiple of 8, at most BLOCK_POINTS of them):
    lookups point by point, the observables pass by pass, then each constraint judged over the block
    into the bytes start // 8 ... of the verdict bitmaps (the last of them "allowed")."""
    _logs_and_electron_loop(params, k, scratch, start, stop)
    _upscattering_lookups(tab, scratch, stop - start)
    _muon_loop(params, k, scratch, start, stop)
    _table_lookups(params, k, tab, scratch, start, stop)
    _S_and_nu4_widths(params, k, tab, scratch, out, start, stop)
    _couplings_and_two_body(params, k, tab, scratch, out, start, stop)
    _measured_final_states(params, k, out, start, stop)
    _Bs_and_mixing(params, k, out, start, stop)
    _Kmunu_upscattering_g2(params, k, tab, scratch, out, start, stop)
    _judge(cons, params, out, verdicts, start, stop, 0)


@jit(inline="always")
def _judge(cons, params, out, verdicts, start, stop, stage):
    """Each constraint (stage 0) or each of a stage's constraints judged over points start .. stop - 1
    into the bytes start // 8 ... of its verdict bitmap, and their AND into the last bitmap ("allowed")."""
    column, lower, upper, scale, condition_column, condition_above, stages = cons
    n_constraints = column.shape[0]
    allowed = verdicts[n_constraints]
    first, last = start // EIGHT, (stop + np.uint64(7)) // EIGHT
    for b in range(first, last):
        allowed[b] = 0xFF
    for c in range(n_constraints):
        if stage != 0 and stages[c] != stage:
            continue
        x = _column(column[c], params, out)
        cond = _column(max(condition_column[c], 0), params, out)
        conditional = condition_column[c] >= 0
        lo, hi, s, above = lower[c], upper[c], scale[c], condition_above[c]
        bits = verdicts[c]
        for b in range(first, last):
            base = EIGHT * b
            count = min(EIGHT, stop - base)  # 8 but in the last byte
            byte = _in_range_bits(x, base, count, s, lo, hi)
            if conditional:
                byte |= _applies_bits(cond, base, count, above) ^ ((ONE << count) - ONE)
            bits[b] = byte
            allowed[b] &= byte


@jit(nogil=True)
def batch_kernel(params, k, tab, cons, out, verdicts, scratch):
    """One pass over the n points of the nine arrays ``params`` (user units, order of PARAMETER_NAMES):
    fills the observables ``out[N_OBS, >= n]`` and the verdicts as Arrow bitmaps (bit i of byte
    i // 8, least significant first), ``verdicts[c]`` for constraint c and ``verdicts[-1]`` for
    "allowed" (all passed); the bits of the last byte past n are zero. ``scratch[N_SCRATCH,
    BLOCK_POINTS]`` is working space. Points go in blocks (``_evaluate_block``)."""
    n = params[0].shape[0]
    for block_start in range(0, n, BLOCK_POINTS):
        start, stop = np.uint64(block_start), np.uint64(min(block_start + BLOCK_POINTS, n))
        _evaluate_block(params, k, tab, cons, out, verdicts, scratch, start, stop)


@jit(inline="always")
def _block_params(params, start, stop):
    """The nine parameter arrays' points start .. stop - 1 (views)."""
    return (params[0][start:stop], params[1][start:stop], params[2][start:stop], params[3][start:stop],
            params[4][start:stop], params[5][start:stop], params[6][start:stop], params[7][start:stop],
            params[8][start:stop])


@jit(nogil=True)
def kept_kernel(params, k, tab, cons, extra, block_out, block_verdicts, scratch, kept_out, kept_verdicts, kept_rows):
    """``batch_kernel``'s physics, keeping only the points that pass every constraint or are flagged
    in ``extra``: each block is evaluated into ``block_out[N_OBS, BLOCK_POINTS]`` and the bitmaps
    ``block_verdicts`` (cache-resident), and its kept points are copied out while they are still in
    cache, point m of them to ``kept_out[:, m]``, its verdicts to ``kept_verdicts[:, m]`` (0 or 1)
    and its index to ``kept_rows[m]``. Returns (points kept, points allowed)."""
    n = params[0].shape[0]
    n_rows = block_verdicts.shape[0]
    allowed = block_verdicts[n_rows - 1]
    kept, passed_count = 0, 0
    for block_start in range(0, n, BLOCK_POINTS):
        size = min(BLOCK_POINTS, n - block_start)
        block = _block_params(params, block_start, block_start + size)
        _evaluate_block(block, k, tab, cons, block_out, block_verdicts, scratch, np.uint64(0), np.uint64(size))
        for b in range(size):
            byte, bit = b >> 3, b & 7
            passed = (allowed[byte] >> bit) & 1
            passed_count += passed
            if passed or extra[block_start + b]:
                for j in range(N_OBS):
                    kept_out[j, kept] = block_out[j, b]
                for c in range(n_rows):
                    kept_verdicts[c, kept] = (block_verdicts[c, byte] >> bit) & 1
                kept_rows[kept] = block_start + b
                kept += 1
    return kept, passed_count


@jit(inline="always")
def _screen_applies(cons, params, n_block, stage):
    """Whether one of a stage's constraints on an observable applies to some point of the block (one
    with no condition always does)."""
    for c in range(cons.column.shape[0]):
        if cons.stage[c] == stage and cons.column[c] < N_OBS:
            if cons.condition_column[c] < 0:
                return True
            cond, above = params[cons.condition_column[c] - N_OBS], cons.condition_above[c]  # a parameter
            for b in range(n_block):
                if cond[b] > above:
                    return True
    return False


@jit(inline="always")
def _g2_shifts(params, k, tab, scr, out, stop):
    """Delta a_mu and Delta a_e of points 0 .. stop - 1, as ``_evaluate_block`` computes them."""
    for i in range(stop):
        scr[SCR.ln_m_S, i] = _ln_m_S(params, k, i)
    for i in range(stop):
        scr[SCR.g2_I_mu, i], scr[SCR.g2_I_e, i] = _g2_loop_integrals(k, tab, scr[SCR.ln_m_S, i])
    for i in range(stop):
        out[COL.delta_a_mu, i], out[COL.delta_a_e, i] = _delta_a_leptons(
            params, k, i, scr[SCR.ln_m_S, i], scr[SCR.g2_I_mu, i], scr[SCR.g2_I_e, i])


@jit(inline="always")
def _widths_and_meson_decays(params, k, tab, scr, out, stop):
    """``_evaluate_block``'s phases up to the measured final states, but the upscattering lookups."""
    start = np.uint64(0)
    _logs_and_electron_loop(params, k, scr, start, stop)
    _muon_loop(params, k, scr, start, stop)
    _table_lookups(params, k, tab, scr, start, stop)
    _S_and_nu4_widths(params, k, tab, scr, out, start, stop)
    _couplings_and_two_body(params, k, tab, scr, out, start, stop)
    _measured_final_states(params, k, out, start, stop)


@jit(nogil=True)
def screen_kernel(params, k, tab, cons, stage, extra, block_out, block_verdicts, scratch, survivors):
    """The points worth the next stage: those that pass every constraint of screen ``stage`` (judged
    on SCREEN_OBSERVABLES[stage], computed as ``_evaluate_block`` computes them, and on the
    parameters), or that are flagged in ``extra``. Their indices go to ``survivors``; returns how
    many. A point left out fails a constraint exactly as it would in ``kept_kernel``, so it is
    neither allowed nor kept. In a block where none of the stage's constraints on an observable
    applies (the g-2 band at kappa = 0) the observables are not computed."""
    n = params[0].shape[0]
    allowed = block_verdicts[block_verdicts.shape[0] - 1]
    count = 0
    for block_start in range(0, n, BLOCK_POINTS):
        size = min(BLOCK_POINTS, n - block_start)
        block = _block_params(params, block_start, block_start + size)
        stop = np.uint64(size)
        if _screen_applies(cons, block, size, stage):
            if stage == 1:
                _g2_shifts(block, k, tab, scratch, block_out, stop)
            else:
                _widths_and_meson_decays(block, k, tab, scratch, block_out, stop)
        # else a constraint on the stage's observables applies to no point here: it passes them all
        # whatever the rows hold, and the constraints on parameters are judged all the same
        _judge(cons, block, block_out, block_verdicts, np.uint64(0), stop, stage)
        for b in range(size):
            if (allowed[b >> 3] >> (b & 7)) & 1 or extra[block_start + b]:
                survivors[count] = block_start + b
                count += 1
    return count


def _pool_array(shape: tuple[int, ...], dtype) -> tuple[np.ndarray, "pa.Buffer"]:
    """A writable array in Arrow's memory pool (which keeps freed memory for the next batch instead of
    returning it to the OS, so a new batch does not pay page faults) and the buffer behind it."""
    import pyarrow as pa

    buffer = pa.allocate_buffer(int(np.prod(shape)) * np.dtype(dtype).itemsize)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape), buffer


class KernelBuffers(NamedTuple):
    """What ``batch_kernel`` writes for n points, and the Arrow buffers behind its outputs."""

    n: int
    out: np.ndarray  # [N_OBS, stride] float64, stride = n rounded up to 8: rows on 64-byte boundaries
    out_buffer: "pa.Buffer"
    verdicts: np.ndarray  # [n_constraints + 1, n_bytes] uint8 bitmaps, n_bytes = ceil(n / 64) * 8
    verdict_buffer: "pa.Buffer"
    scratch: np.ndarray  # [N_SCRATCH, BLOCK_POINTS]


def allocate_buffers(n: int, n_constraints: int) -> KernelBuffers:
    """Output buffers for an n-point batch, with Arrow's padding of the bitmaps zeroed."""
    out, out_buffer = _pool_array((N_OBS, -(-n // 8) * 8), np.float64)
    verdicts, verdict_buffer = _pool_array((n_constraints + 1, -(-n // 64) * 8), np.uint8)
    verdicts[:, -(-n // 8):] = 0
    return KernelBuffers(n, out, out_buffer, verdicts, verdict_buffer, np.empty((N_SCRATCH, BLOCK_POINTS)))


class BatchResult(NamedTuple):
    """What the kernel wrote for a batch; its observables and verdicts as Arrow arrays (zero-copy
    views of the buffers), or as numpy blocks (``take``)."""

    buffers: KernelBuffers

    @property
    def observables(self) -> list:
        """pa.Array per OBSERVABLES entry."""
        import pyarrow as pa

        n, row_bytes = self.buffers.n, 8 * self.buffers.out.shape[1]
        return [pa.Array.from_buffers(pa.float64(), n, [None, self.buffers.out_buffer.slice(j * row_bytes, row_bytes)])
                for j in range(N_OBS)]

    @property
    def verdicts(self) -> list:
        """pa.BooleanArray per constraint, then "allowed"."""
        import pyarrow as pa

        n, bitmap_bytes = self.buffers.n, self.buffers.verdicts.shape[1]
        return [pa.Array.from_buffers(pa.bool_(), n, [None, self.buffers.verdict_buffer.slice(c * bitmap_bytes, bitmap_bytes)])
                for c in range(self.buffers.verdicts.shape[0])]

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """(observables [N_OBS, n] (a view of the buffer), verdicts [n_constraints + 1, n] as bool)."""
        bits = np.unpackbits(self.buffers.verdicts, axis=1, bitorder="little")[:, : self.buffers.n]
        return self.buffers.out[:, : self.buffers.n], bits.view(np.bool_)


def run_batch(params: dict[str, np.ndarray], cset: ConstraintSet) -> BatchResult:
    """Observables and verdicts of domain-checked parameter arrays."""
    arrays = readonly_float64(params[name] for name in PARAMETER_NAMES)
    buffers = allocate_buffers(len(arrays[0]), len(cset.constraints))
    run_kernel(arrays, _compiled(cset.name, cset.sha256, cset), buffers)
    return BatchResult(buffers)


class KeptRows(NamedTuple):
    """The points of a batch that ``kept_kernel`` kept, and how many of all its points passed."""

    rows: np.ndarray  # int64 indices into the batch
    observables: np.ndarray  # [N_OBS, m]
    verdicts: np.ndarray  # [n_constraints + 1, m], bool
    allowed: int  # points of the batch that passed every constraint, kept or not


def run_kept(params: dict[str, np.ndarray], cset: ConstraintSet, extra: np.ndarray) -> KeptRows:
    """Evaluate domain-checked parameter arrays, keeping the allowed points and those flagged in
    ``extra`` (bool per point): the physics of ``run_batch`` without writing every point's
    observables to memory (``kept_kernel``), and only for the points that both of ``screen_kernel``'s
    stages let through."""
    arrays = readonly_float64(params[name] for name in PARAMETER_NAMES)
    extra = np.ascontiguousarray(extra, dtype=np.bool_)
    n, n_rows = len(arrays[0]), len(cset.constraints) + 1
    cons, k, tab = _compiled(cset.name, cset.sha256, cset), kernel_constants(), kernel_tables()
    block = allocate_buffers(BLOCK_POINTS, len(cset.constraints))
    _check_compiled_layout()
    subset = None  # the indices of the points evaluated, when not all of them
    for stage in SCREEN_OBSERVABLES:
        if (cons.stage == stage).any():
            survivors = _pool_array((n,), np.int64)[0]
            count = screen_kernel(arrays, k, tab, cons, stage, extra, block.out, block.verdicts, block.scratch, survivors)
            if count < n:  # go on with these only, copied together
                chosen = survivors[:count]
                subset = chosen if subset is None else subset[chosen]
                arrays, extra, n = readonly_float64(a[chosen] for a in arrays), extra[chosen], count
    # room for every point, from Arrow's pool (which keeps it for the next batch: no page faults)
    observables, verdicts, rows = (_pool_array(shape, dtype)[0] for shape, dtype in
                                   (((N_OBS, n), np.float64), ((n_rows, n), np.uint8), ((n,), np.int64)))
    kept, allowed = kept_kernel(arrays, k, tab, cons, extra, block.out, block.verdicts, block.scratch, observables, verdicts, rows)
    rows = rows[:kept].copy() if subset is None else subset[rows[:kept]]
    # copies of the kept points, so that the pool gets its buffers back for the next batch
    return KeptRows(rows, observables[:, :kept].copy(), verdicts[:, :kept].view(np.bool_).copy(), int(allowed))


def run_kernel(arrays: tuple[np.ndarray, ...], cons: CompiledConstraints, buffers: KernelBuffers) -> None:
    """``batch_kernel`` on read-only float64 parameter arrays (``readonly_float64``) into ``buffers``."""
    _check_compiled_layout()
    batch_kernel(arrays, kernel_constants(), kernel_tables(), cons, buffers.out, buffers.verdicts, buffers.scratch)


# The order of the output rows (schema.OBSERVABLES) is frozen into the compiled kernel, but numba's
# disk cache is keyed by this file alone: after a change to schema.py a cached kernel would write
# rows in the old order. So the kernel's layout is compared with the current one once per process,
# and a stale compilation is replaced.
LAYOUT_CHECKSUM = zlib.crc32("\n".join(OBSERVABLES).encode())


@jit
def _compiled_layout():
    """LAYOUT_CHECKSUM as it was when this file's functions were compiled (or loaded from the cache)."""
    return LAYOUT_CHECKSUM


@functools.cache
def _check_compiled_layout() -> None:
    if _compiled_layout() != LAYOUT_CHECKSUM:
        for dispatcher in (_compiled_layout, batch_kernel, kept_kernel, screen_kernel):
            dispatcher.recompile()


_COMPILED: dict[tuple[str, str], CompiledConstraints] = {}


def _compiled(name: str, sha256: str, cset: ConstraintSet) -> CompiledConstraints:
    """Compile a constraint set once per process (keyed by its name and content hash)."""
    key = (name, sha256)
    if key not in _COMPILED:
        _COMPILED[key] = compile_constraints(cset)
    return _COMPILED[key]
