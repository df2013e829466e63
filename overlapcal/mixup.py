"""Mixup optima: what a model trained with (d-)Mixup converges to (THEORY.md 5).

Mixup (Zhang et al. 2018) trains on ``z = lam x_1 + (1 - lam) x_2`` with the soft label
``lam e_{y_1} + (1 - lam) e_{y_2}``, ``lam ~ Beta(a, a)``. Cross-entropy with a soft target is
minimised pointwise by the conditional mean of the target, so the Mixup optimum is
(Proposition 3)

    g_mix(z) = E[ lam e_{Y1} + (1 - lam) e_{Y2} | lam X1 + (1 - lam) X2 = z ].

Writing ``q_ij(z | l)`` for the density of ``l X1 + (1 - l) X2`` given classes ``(i, j)``,
``p`` for the priors and ``f`` for the Beta density,

    N_c(z) = sum_{i,j} p_i p_j int f(l) [l 1{i = c} + (1 - l) 1{j = c}] q_ij(z | l) dl
           = 2 p_c sum_j p_j int f(l) l q_cj(z | l) dl,           g_mix(z)_c = N_c(z) / D(z),

with ``D = sum_c N_c`` the density of the mixed point; the second line uses the symmetry
``(i, l) <-> (j, 1 - l)`` of a symmetric Beta. Every predictor here returns
``logits = log g_mix`` (``-inf`` for a class with no mixed-label mass; NaN where ``D = 0``).

* :class:`MixupOptimum`: the population optimum for overlapping uniform groups in 1-D (exact
  piecewise integration in ``lam``, also with local mixing, Proposition 5), for Gaussian mixtures
  with a shared covariance (Gauss-Jacobi quadrature in ``lam`` with ``Q`` nodes adapted to the
  separation of the means, ``O(n k (Q + d))`` for equidistant means) and for label noise on
  either.
* :class:`EmpiricalMixupOptimum`: the finite-sample optimum in 1-D (Proposition 4), with its
  atoms reported separately.
* :class:`EmpiricalDMixupOptimum`: the finite-sample d-Mixup optimum (``d + 1`` points mixed with
  Dirichlet weights), exact by enumerating simplices, or a Monte Carlo kernel estimate.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.polynomial import chebyshev
from scipy import linalg, sparse
from scipy.special import betainc, betaln, exprel, gammaln, logsumexp

from ._validation import (
    check_array,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_real,
    param_error,
)
from .distributions.gaussian import GaussianMixture
from .distributions.noise import LabelNoise
from .distributions.uniform import OverlappingUniform
from .predictors import Predictor

__all__ = ["MixupOptimum", "EmpiricalMixupOptimum", "EmpiricalDMixupOptimum", "MixupAtoms",
           "MonteCarloError"]

#: The fewest Gauss-Jacobi nodes in ``lam`` for Gaussian mixtures (see MixupOptimum, Notes).
DEFAULT_GAUSSIAN_NODES = 128

#: The most nodes chosen automatically: the Golub-Welsch step needs a ``Q x Q`` eigenvector
#: matrix (128 MiB and ~2 s at 4096), and 4096 resolves Mahalanobis distances up to ~1365.
MAX_GAUSSIAN_NODES = 4096

#: The Beta parameters ``alpha`` of MixupOptimum: where its closed forms are checked against
#: independent quadrature (the finite-sample optima take any ``alpha > 0``).
ALPHA_RANGE = (0.01, 100.0)

#: Elements of one float64 block in chunked computations (8 MiB).
_BLOCK = 2**20

#: Chebyshev degree and Gauss-Jacobi order of the tables behind the antiderivatives for
#: ``a < 1.5`` (coefficients fall below 1e-16 relative by degree 24; see _BetaAntiderivatives).
_CHEB_DEGREE = 28
_CHEB_GJ_NODES = 48

#: Below ``a = 1.5`` the antiderivatives use tables; from there on ``scipy.special.betainc``
#: with the parameter ``a - 1 >= 0.5`` (its prefactor ``(2a - 1)/(a - 1) <= 4``).
_BETAINC_FROM = 1.5

#: Equidistant means: the factorised Gaussian path is used when replacing every squared norm and
#: every off-diagonal inner product (whitened, centred) by their means moves no exponent by more
#: than this (so the relative error it adds to ``g`` is below ~1e-10).
_EQUIDISTANT_ATOL = 1e-10

_SUPPORTED = "OverlappingUniform (n_features=1), GaussianMixture, or LabelNoise over either"


# ----------------------------------------------------------------------------------------
# Quadrature rules and Beta antiderivatives
# ----------------------------------------------------------------------------------------


def _gauss_jacobi(n: int, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Jacobi nodes and log-weights for ``int_{-1}^{1} (1-x)^alpha (1+x)^beta f(x) dx``.

    Nodes: eigenvalues of the Jacobi matrix (``scipy.linalg.eigh_tridiagonal``). Weights: the
    Golub-Welsch value ``mu_0 v_0^2`` (accurate to ~eps relative to the *largest* weight) where
    it is at least 1e-3 of the largest, and otherwise the Christoffel function
    ``1 / sum_k p_k(x)^2`` over the orthonormal polynomials (accurate relative to each weight;
    summed with rescaling, so no overflow). Tiny weights matter: for ``Beta(32, 32)`` the
    integrand of a Gaussian mixture in ``d = 1000`` peaks where the weights are 1e-12 of the
    largest. ``scipy.special.roots_jacobi`` is not used: its weights lose accuracy as ``beta``
    approaches -1. Moments of the Beta law are reproduced to ~1e-13 relative for ``a`` in
    [0.05, 100] and up to 512 nodes (tests).
    """
    k = np.arange(n, dtype=float)
    s = 2.0 * k + alpha + beta
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = (beta * beta - alpha * alpha) / (s * (s + 2.0))
    diag[0] = (beta - alpha) / (alpha + beta + 2.0)
    k1 = k[1:]
    s1 = s[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.sqrt(4.0 * k1 * (k1 + alpha) * (k1 + beta) * (k1 + alpha + beta)
                      / (s1 * s1 * (s1 + 1.0) * (s1 - 1.0)))
    if n > 1:
        # k = 1: the factor (1 + alpha + beta) cancels (0/0 when alpha + beta = -1).
        off[0] = math.sqrt(4.0 * (1.0 + alpha) * (1.0 + beta)
                           / ((2.0 + alpha + beta) ** 2 * (3.0 + alpha + beta)))
    x, vectors = linalg.eigh_tridiagonal(diag, off)
    log_mu0 = ((alpha + beta + 1.0) * math.log(2.0) + math.lgamma(alpha + 1.0)
               + math.lgamma(beta + 1.0) - math.lgamma(alpha + beta + 2.0))
    with np.errstate(divide="ignore"):
        log_w = log_mu0 + 2.0 * np.log(np.abs(vectors[0]))
    # Christoffel function: p_0 = 1, p_{j+1} = ((x - a_j) p_j - b_j p_{j-1}) / b_{j+1}.
    p_prev, p = np.zeros(n), np.ones(n)
    total, log_scale = np.ones(n), np.zeros(n)
    for j in range(n - 1):
        p_next = ((x - diag[j]) * p - (off[j - 1] * p_prev if j else 0.0)) / off[j]
        p_prev, p = p, p_next
        total += p * p
        big = total > 1e200
        if big.any():
            p[big] *= 1e-100
            p_prev[big] *= 1e-100
            total[big] *= 1e-200
            log_scale[big] += 200.0 * math.log(10.0)
    log_c = log_mu0 - np.log(total) - log_scale
    return x, np.where(log_w >= np.max(log_w) + math.log(1e-3), log_w, log_c)


def _gaussian_node_count(max_distance: float, d: int) -> int:
    """Gauss-Jacobi nodes that resolve the Gaussian ``lam``-integrand to ``|g - g_ref| < 1e-8``.

    ``Q = max(128, ceil(sqrt((3 Delta)^2 + 4 d)))`` with ``Delta`` the largest Mahalanobis
    distance between two means. Why: along ``lam`` the mean ``lam mu_i + (1 - lam) mu_j`` of a
    pair moves ``Delta_ij`` standard deviations per unit of ``lam``, so the integrand is a bump
    of width ``~ 1/Delta_ij`` in ``lam``; the variance factor ``v(lam)^(-d/2)`` against
    ``exp(-|z - m|^2/(2v))`` adds a bump of width ``~ 1/sqrt(2d)``. A Gauss rule resolves a
    bump of width ``w`` with ``Q ~ c/w`` nodes. Measured (1-D means, ``alpha`` in {0.1, 1, 32},
    points from the data, the mixed law and a grid past the outer means): ``|g - g_ref| < 1e-10``
    needs ``Q = 2.4 Delta + 10`` for ``Delta`` from 20 to 400, and ``1.5 sqrt(d) + 8`` for ``d``
    up to 1e4; the rule leaves a factor >= 1.25 on top of the 1e-10 point (the error falls
    like ``exp(-c (Q/Delta)^2)``, so this is several orders of magnitude below 1e-8).
    """
    q = math.sqrt(9.0 * max_distance * max_distance + 4.0 * d)
    return max(DEFAULT_GAUSSIAN_NODES, int(math.ceil(q)))


def _beta_rule(n: int, a: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``lam_r`` and log-weights with ``sum_r w_r phi(lam_r) ~ E[phi(lam)]``, Beta(a, a).

    Gauss-Jacobi with the Beta weight itself, so the endpoint singularities of ``a < 1`` are
    integrated exactly; the weights sum to 1.
    """
    x, log_w = _gauss_jacobi(n, a - 1.0, a - 1.0)
    lam = 0.5 * (1.0 + x)
    # int_0^1 l^(a-1)(1-l)^(a-1) phi dl = 2^(1-2a) int_{-1}^1 (1-x)^(a-1)(1+x)^(a-1) phi dx.
    log_w = log_w + (1.0 - 2.0 * a) * math.log(2.0) - betaln(a, a)
    return lam, log_w


class _BetaAntiderivatives:
    """Antiderivatives on ``[0, 1/2]`` of ``f(l) {1, 1/(1-l), 1/l, l}``, ``f`` the Beta(a, a) pdf.

    ``__call__(x)`` returns ``(W, Q, P, L)`` with

        W(x) = int_0^x f,  Q(x) = int_0^x f/(1-l),  L(x) = int_0^x f l   (regularised: exact)
        P'(x) = f(x)/x     (an antiderivative; int_0 f/l diverges for a <= 1)

    ``W = I_x(a, a)`` and ``L = I_x(a+1, a)/2`` come from ``scipy.special.betainc``. For
    ``a >= 1.5``, ``Q = (2a-1)/(a-1) I_x(a, a-1)`` and ``P = (2a-1)/(a-1) I_x(a-1, a)`` likewise.
    For ``a < 1.5`` (where ``a - 1`` is not a valid betainc parameter, or its prefactor blows up)

        Q(x) = x^a H_Q(x) / B(a,a),   H_Q(x) = int_0^1 t^(a-1) (1 - x t)^(a-2) dt,
        P(x) = [ (x^(a-1) - 1)/(a-1) + x^a H_P(x) ] / B(a,a),
        H_P(x) = int_0^1 t^(a-1) chi(x t) dt,   chi(l) = ((1-l)^(a-1) - 1)/l,

    (``(x^c - 1)/c`` is ``log x`` at ``c = 0``, computed as ``log(x) exprel(c log x)``). ``H_Q``
    and ``H_P`` are analytic on ``|x| < 1``; they are tabulated once as Chebyshev series of degree
    28 on ``[0, 1/2]`` from Gauss-Jacobi integrals with the weight ``t^(a-1)`` (48 nodes); the
    coefficients fall below 1e-16 of the leading one by degree 24. Differences of these functions
    agree with mpmath to a few 1e-15 for ``a`` in [0.05, 100] (checked in the tests).
    """

    def __init__(self, a: float):
        self.a = a
        self.log_beta = float(betaln(a, a))
        self.tables = None
        if a < _BETAINC_FROM:
            t, log_w = _gauss_jacobi(_CHEB_GJ_NODES, 0.0, a - 1.0)
            t = 0.5 * (1.0 + t)
            w = np.exp(log_w - a * math.log(2.0))  # weight t^(a-1) on [0, 1]
            deg = _CHEB_DEGREE
            y = np.cos(np.pi * (np.arange(deg + 1) + 0.5) / (deg + 1))  # Chebyshev points
            x = 0.25 * (1.0 + y)
            lt = x[:, None] * t[None, :]
            log1m = np.log1p(-lt)
            h_q = np.exp((a - 2.0) * log1m) @ w
            with np.errstate(divide="ignore", invalid="ignore"):
                chi = np.where(lt > 0, np.expm1((a - 1.0) * log1m) / lt, 1.0 - a)
            h_p = chi @ w
            self.tables = chebyshev.chebfit(y, np.column_stack([h_q, h_p]), deg)

    def __call__(self, x: np.ndarray):
        a = self.a
        W = betainc(a, a, x)
        L = 0.5 * betainc(a + 1.0, a, x)
        if self.tables is None:
            r = (2.0 * a - 1.0) / (a - 1.0)
            return W, r * betainc(a, a - 1.0, x), r * betainc(a - 1.0, a, x), L
        h = chebyshev.chebval(4.0 * x - 1.0, self.tables)  # (2,) + x.shape
        scale = math.exp(-self.log_beta)
        xa = x**a
        # P is only ever multiplied by a coefficient that vanishes on pieces reaching l = 0
        # (the integrand is bounded); the clip keeps P(0) finite so that 0 * P(0) = 0.
        log_x = np.log(np.maximum(x, 1e-300))
        Q = xa * h[0] * scale
        P = (log_x * exprel((a - 1.0) * log_x) + xa * h[1]) * scale
        return W, Q, P, L


# ----------------------------------------------------------------------------------------
# Population optimum: overlapping uniform groups in 1-D
# ----------------------------------------------------------------------------------------


def _uniform_pieces(zz, lo_i, hi_i, lo_j, hi_j, delta, anti):
    """``A = int_0^{1/2} f l q dl`` and ``C = int_0^{1/2} f (1-l) q dl`` for each entry.

    Entry ``e`` is a point ``zz[e]`` and an ordered class pair with intervals
    ``[lo_i, hi_i]``, ``[lo_j, hi_j]`` (arrays of shape (E,)). ``q`` is the density of
    ``l X1 + (1-l) X2`` (``X1`` from class ``i``) times ``w_i w_j`` (the interval lengths), on the
    set ``|X1 - X2| <= delta`` (``delta = inf``: no restriction).

    With ``t = x1 - x2`` the map ``(x1, x2) -> (z, t)`` has Jacobian 1, ``x1 = z + (1-l) t`` and
    ``x2 = z - l t``, so ``q`` is the length of the ``t``-interval
    ``[max(L1, L2, -delta), min(U1, U2, delta)]`` with ``L1 = (lo_i - z)/(1-l)``,
    ``U1 = (hi_i - z)/(1-l)``, ``L2 = (z - hi_j)/l``, ``U2 = (z - lo_j)/l``. Every crossing of two
    of these ends is a root of a linear equation in ``l``; between consecutive roots ``q`` is
    ``kP/l + kQ/(1-l) + kW`` with constant coefficients, so ``l q`` and ``(1-l) q`` integrate
    against the Beta density in closed form through :class:`_BetaAntiderivatives`.
    """
    r1, s1 = hi_i - zz, lo_i - zz  # U1 = r1/(1-l), L1 = s1/(1-l)
    e1, e2 = zz - lo_j, zz - hi_j  # U2 = e1/l,     L2 = e2/l
    local = np.isfinite(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = [e1 / (e1 + r1), e2 / (e2 + s1), e2 / (e2 + r1), e1 / (e1 + s1)]
        if local:
            roots += [1.0 - r1 / delta, e1 / delta, 1.0 + s1 / delta, -e2 / delta,
                      1.0 + r1 / delta, -e1 / delta, 1.0 - s1 / delta, e2 / delta]
    roots = np.stack(roots, axis=1)
    # Roots outside (0, 1/2), or undefined (parallel ends), become 0: empty pieces.
    roots = np.where((roots > 0.0) & (roots < 0.5), roots, 0.0)
    n = zz.shape[0]
    bp = np.sort(np.concatenate([np.zeros((n, 1)), roots, np.full((n, 1), 0.5)], axis=1), axis=1)
    length = bp[:, 1:] - bp[:, :-1]
    mid = 0.5 * (bp[:, 1:] + bp[:, :-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        u1, l1 = r1[:, None] / (1.0 - mid), s1[:, None] / (1.0 - mid)
        u2, l2 = e1[:, None] / mid, e2[:, None] / mid
        take_u1 = u1 <= u2
        upper = np.where(take_u1, u1, u2)
        take_l1 = l1 >= l2
        lower = np.where(take_l1, l1, l2)
        if local:
            take_u3 = delta < upper
            upper = np.where(take_u3, delta, upper)
            take_l3 = -delta > lower
            lower = np.where(take_l3, -delta, lower)
            take_u1 &= ~take_u3
            take_l1 &= ~take_l3
            take_u2 = ~take_u1 & ~take_u3
            take_l2 = ~take_l1 & ~take_l3
        else:
            take_u2, take_l2 = ~take_u1, ~take_l1
        live = (upper > lower) & (length > 0.0)
    k_q = np.where(live, np.where(take_u1, r1[:, None], 0.0) - np.where(take_l1, s1[:, None], 0.0),
                   0.0)
    k_p = np.where(live, np.where(take_u2, e1[:, None], 0.0) - np.where(take_l2, e2[:, None], 0.0),
                   0.0)
    if local:
        k_w = np.where(live, delta * (take_u3.astype(float) + take_l3), 0.0)
    else:
        k_w = 0.0
    # Antiderivatives at the interior breakpoints; the ends 0 and 1/2 are constants.
    inner = anti(bp[:, 1:-1])
    ends = anti(np.array([0.0, 0.5]))
    d_w, d_q, d_p, d_l = (
        np.diff(np.concatenate([np.full((n, 1), e[0]), f, np.full((n, 1), e[1])], axis=1), axis=1)
        for f, e in zip(inner, ends)
    )
    # l q = kP + kQ (1/(1-l) - 1) + kW l;  (1-l) q = kP (1/l - 1) + kQ + kW (1 - l).
    A = np.sum((k_p - k_q) * d_w + k_q * d_q + k_w * d_l, axis=1)
    C = np.sum(k_p * d_p + (k_q - k_p + k_w) * d_w - k_w * d_l, axis=1)
    return A, C


def _pair_mass_within(lo_i, hi_i, lo_j, hi_j, delta):
    """``P(|X1 - X2| <= delta)`` for ``X1 ~ U[lo_i, hi_i]``, ``X2 ~ U[lo_j, hi_j]`` (elementwise).

    The CDF of ``T = X1 - X2`` is ``[R(t - lo_i + hi_j) - R(t - hi_i + hi_j) - R(t - lo_i + lo_j)
    + R(t - hi_i + lo_j)] / (w_i w_j)`` with ``R(x) = max(x, 0)^2 / 2``.
    """
    w = (hi_i - lo_i) * (hi_j - lo_j)

    def cdf(t):
        def ramp2(x):
            return 0.5 * np.square(np.maximum(x, 0.0))
        return (ramp2(t - lo_i + hi_j) - ramp2(t - hi_i + hi_j) - ramp2(t - lo_i + lo_j)
                + ramp2(t - hi_i + lo_j)) / w

    return np.clip(cdf(delta) - cdf(-delta), 0.0, 1.0)


class _UniformMixup:
    """The exact computation behind :class:`MixupOptimum` for 1-D overlapping uniform groups."""

    def __init__(self, dist: OverlappingUniform, a: float, delta: float | None):
        self.k = dist.n_classes
        lo, hi = dist.class_intervals[:, 0], dist.class_intervals[:, 1]
        self.lo, self.hi = lo, hi
        if delta is not None and delta >= hi.max() - lo.min():
            delta = None  # every pair is within delta: global mixing, exactly
        self.delta = math.inf if delta is None else delta
        self.anti = _BetaAntiderivatives(a)
        i, j = np.divmod(np.arange(self.k * self.k), self.k)
        if delta is not None:
            # Pairs of intervals farther apart than delta never mix.
            gap = np.maximum(lo[i] - hi[j], lo[j] - hi[i])
            keep = gap < delta
            i, j = i[keep], j[keep]
        priors = np.asarray(dist.priors, dtype=float)
        self.weight = 2.0 * priors[i] * priors[j] / ((hi[i] - lo[i]) * (hi[j] - lo[j]))
        # Where the pair's mixtures with l in [0, 1/2] can land (z-support, open).
        self.z_lo = np.minimum(lo[j], 0.5 * (lo[i] + lo[j]))
        self.z_hi = np.maximum(hi[j], 0.5 * (hi[i] + hi[j]))
        order = np.argsort(self.z_lo, kind="stable")
        self.i, self.j = i[order], j[order]
        self.weight, self.z_lo, self.z_hi = self.weight[order], self.z_lo[order], self.z_hi[order]
        if delta is None:
            self.log_mass = 0.0
        else:
            mass = np.sum(priors[i] * priors[j] * _pair_mass_within(lo[i], hi[i], lo[j], hi[j],
                                                                     delta))
            self.log_mass = math.log(mass)

    def class_mass(self, z: np.ndarray) -> np.ndarray:
        """``N_c(z)`` (un-normalised for local mixing: divide by the in-range pair mass)."""
        n, k = z.shape[0], self.k
        order = np.argsort(z, kind="stable")
        zs = z[order]
        out = np.zeros((n, k))
        # Entries (z, pair) with z strictly inside the pair's support: a contiguous range of
        # the sorted z for every pair, cut into segments of at most `block` entries and
        # processed in groups of at most `block` entries.
        block = max(1, _BLOCK // 16)
        first = np.searchsorted(zs, self.z_lo, side="right")
        count = np.maximum(np.searchsorted(zs, self.z_hi, side="left") - first, 0)
        pairs = np.flatnonzero(count)
        n_seg = -(-count[pairs] // block)
        seg_pair = np.repeat(pairs, n_seg)
        seg_rank = np.arange(seg_pair.size) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
        seg_first = first[seg_pair] + seg_rank * block
        seg_count = np.minimum(block, count[seg_pair] - seg_rank * block)
        ends = np.cumsum(seg_count)
        flat = out.reshape(-1)
        start = 0
        while start < seg_pair.size:
            done = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, done + block, side="right")))
            p, c, f = seg_pair[start:stop], seg_count[start:stop], seg_first[start:stop]
            offsets = np.cumsum(c) - c
            entry_pair = np.repeat(p, c)
            entry_z = np.repeat(f - offsets, c) + np.arange(int(c.sum()))
            ii, jj = self.i[entry_pair], self.j[entry_pair]
            A, C = _uniform_pieces(zs[entry_z], self.lo[ii], self.hi[ii], self.lo[jj],
                                   self.hi[jj], self.delta, self.anti)
            w = self.weight[entry_pair]
            np.add.at(flat, entry_z * k + ii, w * A)
            np.add.at(flat, entry_z * k + jj, w * C)
            start = stop
        np.maximum(out, 0.0, out=out)  # rounding of cancelling pieces, ~1e-16 * |z|
        result = np.empty_like(out)
        result[order] = out
        return result

    def log_class_mass(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.class_mass(X[:, 0])) - self.log_mass


# ----------------------------------------------------------------------------------------
# Population optimum: Gaussian mixtures with a shared covariance
# ----------------------------------------------------------------------------------------


class _GaussianMixup:
    """Gauss-Jacobi quadrature in ``lam`` of the Gaussian pair densities, in log space."""

    def __init__(self, dist: GaussianMixture, a: float, n_nodes: int | None,
                 force_general=False):
        self.k, self.d = dist.n_classes, dist.n_features
        means = np.asarray(dist.means, dtype=float)
        self.center = means.mean(axis=0)
        cov = dist.cov
        if isinstance(cov, float):
            self.scale, self.chol = math.sqrt(cov), None
            self.log_det = self.d * math.log(cov)
            wm = (means - self.center) / self.scale
        else:
            self.scale, self.chol = None, linalg.cholesky(np.asarray(cov), lower=True)
            self.log_det = 2.0 * float(np.sum(np.log(np.diag(self.chol))))
            wm = linalg.solve_triangular(self.chol, (means - self.center).T, lower=True).T
        self.whitened_means = wm  # rows L^-1 (mu_c - centre)
        gram = wm @ wm.T
        self.norms = np.diag(gram).copy()
        self.gram = gram
        with np.errstate(divide="ignore"):
            self.log_priors = np.log(np.asarray(dist.priors, dtype=float))
        dist2 = self.norms[:, None] + self.norms[None, :] - 2.0 * gram
        self.max_mahalanobis = math.sqrt(max(0.0, float(np.max(dist2))))
        self.needed_nodes = _gaussian_node_count(self.max_mahalanobis, self.d)
        if n_nodes is None:
            n_nodes = min(self.needed_nodes, MAX_GAUSSIAN_NODES)
        self.n_nodes = n_nodes
        self.lam, self.log_w = _beta_rule(n_nodes, a)
        keep = np.isfinite(self.log_w)
        self.lam, self.log_w = self.lam[keep], self.log_w[keep]
        off = gram[~np.eye(self.k, dtype=bool)]
        nu, rho = float(self.norms.mean()), float(off.mean())
        spread = max(float(np.max(np.abs(self.norms - nu))), float(np.max(np.abs(off - rho))))
        self.equidistant = (not force_general) and spread <= _EQUIDISTANT_ATOL
        self.nu, self.rho = nu, rho

    def _whiten(self, X):
        Z = X - self.center
        if self.chol is None:
            return Z / self.scale
        return linalg.solve_triangular(self.chol, Z.T, lower=True).T

    def log_class_mass(self, X: np.ndarray) -> np.ndarray:
        """``log N_c(z)``; shape (n, k)."""
        n, k = X.shape[0], self.k
        out = np.empty((n, k))
        per_row = k * k if not self.equidistant else 4 * k
        step = max(1, _BLOCK // per_row)
        const = math.log(2.0) - 0.5 * (self.d * math.log(2.0 * math.pi) + self.log_det)
        for start in range(0, n, step):
            Zw = self._whiten(X[start:start + step])
            G = Zw @ self.whitened_means.T
            sq = np.einsum("ij,ij->i", Zw, Zw)
            acc = np.full((Zw.shape[0], k), -np.inf)
            for lam, log_w in zip(self.lam, self.log_w):
                term = self._node(G, sq, lam, log_w)
                np.logaddexp(acc, term, out=acc)
            out[start:start + step] = acc + self.log_priors + const
        return out

    def _node(self, G, sq, lam, log_w):
        """``log(w l sum_j p_j q_cj(z | l))`` at one node, up to ``p_c`` and constants.

        ``-2 log q_ij = d log(2 pi v) + log det + ||z - l mu_i - (1-l) mu_j||^2 / v`` with
        ``v = l^2 + (1-l)^2`` and ``||z - m||^2 = |z|^2 - 2 l G_i - 2 (1-l) G_j + l^2 nu_i
        + (1-l)^2 nu_j + 2 l (1-l) M_ij`` (whitened, centred inner products).
        """
        mu = 1.0 - lam
        v = lam * lam + mu * mu
        common = log_w + math.log(lam) - 0.5 * self.d * math.log(v) - sq / (2.0 * v)
        if self.equidistant:
            # M_ij = rho (i != j), nu_i = nu: the double sum factorises (see MixupOptimum).
            alpha = (lam * G - 0.5 * lam * lam * self.nu) / v
            x = self.log_priors + (mu * G - 0.5 * mu * mu * self.nu) / v
            log_eps = -lam * mu * (self.nu - self.rho) / v
            inner = _log_sum_with_diagonal(x, log_eps)
            return common[:, None] + alpha - lam * mu * self.rho / v + inner
        alpha = (lam * G - 0.5 * lam * lam * self.norms) / v  # (n, k): index i = c
        beta = self.log_priors + (mu * G - 0.5 * mu * mu * self.norms) / v  # index j
        E = alpha[:, :, None] + beta[:, None, :] - (lam * mu / v) * self.gram[None]
        return common[:, None] + logsumexp(E, axis=2)


def _log_sum_with_diagonal(x: np.ndarray, log_eps: float) -> np.ndarray:
    """``log( sum_{j != c} e^{x_j} + e^{x_c + log_eps} )`` for every ``c``; rows of ``x``.

    The leave-one-out sums are taken relative to the row maximum ``m``: for ``c`` not the
    argmax, ``S - e^{x_c - m} >= 1`` (no cancellation). For the argmax the others get their own
    ``logsumexp`` (shifted by the second largest): relative to ``m`` they can all underflow
    (``x_j - m < -745``, e.g. means 85 standard deviations apart), and dropping them gave
    ``-inf`` where the pair terms dominate.
    """
    rows = np.arange(x.shape[0])
    top = np.argmax(x, axis=1)
    m = x[rows, top]
    m = np.where(np.isfinite(m), m, 0.0)
    ex = np.exp(x - m[:, None])
    total = ex.sum(axis=1)
    others = x.copy()
    others[rows, top] = -np.inf
    with np.errstate(divide="ignore"):
        loo = np.log(np.maximum(total[:, None] - ex, 0.0))
        loo[rows, top] = logsumexp(others, axis=1) - m
    return m[:, None] + np.logaddexp(loo, x - m[:, None] + log_eps)


# ----------------------------------------------------------------------------------------
# Public population optimum
# ----------------------------------------------------------------------------------------


class MixupOptimum(Predictor):
    """The population Mixup optimum ``g_mix`` of a distribution (THEORY.md 5, Proposition 3).

    ``g_mix(z) = E[lam e_{Y1} + (1 - lam) e_{Y2} | lam X1 + (1 - lam) X2 = z]`` with
    ``(X1, Y1)``, ``(X2, Y2)`` i.i.d. from ``dist`` and ``lam ~ Beta(alpha, alpha)``; the
    minimiser of the population Mixup risk over all measurable predictors.

    Parameters
    ----------
    dist : OverlappingUniform, GaussianMixture or LabelNoise
        ``OverlappingUniform`` with ``n_features=1``; ``GaussianMixture`` (its covariance is
        shared by construction); ``LabelNoise`` over either.
    alpha : float, default=1.0
        The Beta parameter ``a``, in ``ALPHA_RANGE = [0.01, 100]``: where the closed forms
        are checked against independent quadrature (tests). Beyond it the nodes of the
        ``lam``-rule crowd into the ends (``a -> 0``, where Mixup tends to ERM on the
        population) or ``1/2`` (``a -> inf``); use :class:`EmpiricalMixupOptimum` or a trained
        network there.
    max_distance : float or None, default=None
        Local mixing (Proposition 5): only pairs with ``|x1 - x2| <= delta`` are mixed. 1-D
        ``OverlappingUniform`` only (and LabelNoise over it). A ``delta`` at least the width
        of the support mixes every pair: the same optimum as None.
    n_nodes : int or None, default=None
        Gauss-Jacobi nodes ``Q`` in ``lam`` for Gaussian mixtures. None (default) chooses them
        from the largest Mahalanobis distance ``Delta`` between two means and the dimension
        ``d``: ``Q = max(128, ceil(sqrt((3 Delta)^2 + 4 d)))``, at most
        ``MAX_GAUSSIAN_NODES = 4096`` (see Notes for the accuracy this guarantees). An int is
        used as given. Not used by the uniform family, whose ``lam``-integral is computed
        piecewise in closed form.

    Attributes
    ----------
    n_classes_, n_features_in_ : int
    method_ : str
        ``"uniform-exact"``, ``"gaussian-equidistant"`` (the ``O(n k (Q + d))`` path) or
        ``"gaussian-general"`` (``O(n k (k Q + d))``); prefixed by ``"label-noise/"`` for
        LabelNoise.
    n_nodes_ : int or None
        The node count ``Q`` in use (Gaussian mixtures; None for the uniform family).

    Warns
    -----
    UserWarning
        With ``n_nodes=None``, when the rule asks for more than ``MAX_GAUSSIAN_NODES`` nodes
        (means more than ~1365 Mahalanobis units apart): the 1e-8 accuracy is then not
        guaranteed; the message gives the ``n_nodes`` to pass.

    Raises
    ------
    TypeError
        If ``dist`` is not one of the supported families (the message lists them).
    ValueError
        If ``alpha`` is outside ``ALPHA_RANGE``, ``max_distance <= 0``, ``n_nodes < 2``,
        ``max_distance`` is given for a
        Gaussian mixture, or an ``OverlappingUniform`` has more than one feature.

    Notes
    -----
    ``logits = log g_mix``: ``-inf`` for a class with no mixed-label mass at ``z`` and NaN
    rows where no mixture lands (``D(z) = 0``; e.g. between uniform groups under local mixing).
    ``g_mix`` is continuous and only piecewise smooth for the uniform family, so
    :meth:`breakpoints` is None and population functionals integrate it by adaptive quadrature.

    *Uniform groups (exact).* Split ``lam`` at 1/2 and map ``[1/2, 1]`` onto ``[0, 1/2]`` by
    ``(i, l) -> (j, 1 - l)``. For ``l <= 1/2`` the density of ``l X1 + (1-l) X2`` given the
    classes is, with ``t = x1 - x2`` (Jacobian 1), the length of a ``t``-interval whose ends are
    ``(lo_i - z)/(1-l)``, ``(hi_i - z)/(1-l)``, ``(z - hi_j)/l``, ``(z - lo_j)/l`` (the trapezoid
    of the two uniform convolutions) and ``-+delta`` for local mixing. Ends cross at roots of
    linear equations in ``l`` (up to 12 kinks); between kinks the density is
    ``kP/l + kQ/(1-l) + kW``, and ``int f(l) l q`` and ``int f(l) (1-l) q`` are combinations of
    four Beta antiderivatives (``scipy.special.betainc`` and tabulated Chebyshev series, exact to
    a few 1e-15, see ``_BetaAntiderivatives``). No quadrature error beyond rounding: ``g`` agrees
    with adaptive ``scipy.integrate`` quadrature to ~1e-13 (tests). Cost
    ``O(n * #pairs reaching z)``: ``O(n k^2)`` for global mixing and ``O(n k m)`` for local.
    Local mixing: the joint law of ``(X1, X2)`` is restricted to ``|X1 - X2| <= delta`` and
    renormalised by ``P(|X1 - X2| <= delta)``; the constant cancels in ``N/D`` and only matters
    for :meth:`mixed_log_density`.

    *Gaussian mixtures.* ``lam X1 + (1-lam) X2 | (i, j, lam) ~ N(lam mu_i + (1-lam) mu_j,
    (lam^2 + (1-lam)^2) Sigma)``; the ``lam``-integral uses ``Q = n_nodes`` Gauss-Jacobi nodes
    with the Beta weight, in log space (``logsumexp``). In whitened, centred coordinates the
    exponent is ``-(|z|^2 - 2 l G_i - 2 (1-l) G_j + l^2 nu_i + (1-l)^2 nu_j + 2 l (1-l) M_ij)
    / (2v)`` with ``G = <z, mu>``, ``nu_i = |mu_i|^2``, ``M_ij = <mu_i, mu_j>``. When all
    ``nu_i = nu`` and all ``M_ij = rho`` (``i != j``; orthogonal and simplex layouts, any priors),
    the pair sum factorises:

        sum_j p_j q_cj = K(z, l) a_c(l) [ sum_{j != c} p_j b_j(l) + p_c b_c(l) eps(l) ],

    ``a_c = exp((l G_c - l^2 nu/2)/v)``, ``b_j = exp(((1-l) G_j - (1-l)^2 nu/2)/v)``,
    ``eps = exp(-l (1-l)(nu - rho)/v)``; the leave-one-out sums come from one ``logsumexp`` per
    row. With the inner products ``G = Z M^T`` (``O(n k d)``, ``O(n k^2)`` for an orthogonal
    layout with ``d = k``) the cost is ``O(n k (Q + d))`` instead of ``O(n k (k Q + d))`` (30x
    faster at ``k = 100``, 400x at ``k = 1000``: ``benchmarks/bench_mixup.py``), plus
    ``O(n d^2)`` to whiten when the covariance is a full matrix. Equidistance is detected when
    replacing the norms and inner products by their means changes no exponent by more than
    1e-10.

    Accuracy: the integrand in ``lam`` is analytic but peaks. Along ``lam`` the pair mean
    ``lam mu_i + (1-lam) mu_j`` moves ``Delta_ij`` standard deviations per unit of ``lam``, so
    a pair term is a bump of width ``~ 1/Delta_ij``; in high dimension the factor
    ``v^(-d/2) exp(-|z - m|^2/(2v))`` adds a bump of width ``~ 1/sqrt(2d)``. A fixed number of
    nodes therefore fails for separated means (128 nodes: ``|g - g_ref| = 2e-7`` for 1-D means
    67 standard deviations apart, 0.25 at 300), and the default ``Q`` grows with ``Delta`` and
    ``sqrt(d)``. The constants come from measurements: ``|g - g_ref| < 1e-10`` needs
    ``Q ~ 2.4 Delta + 10`` (``Delta`` from 20 to 400) and ``~ 1.5 sqrt(d) + 8`` (``d`` up to
    1e4); the error falls like ``exp(-4 (Q/Delta)^2)`` (2e-7 at ``Q/Delta = 1.9``, 2e-4 at
    1.35), so the rule's ``Q >= 3 Delta`` leaves many orders of magnitude below the promised
    ``|g - g_ref| < 1e-8`` (measured <= 5e-12 against twice the nodes for ``Delta`` up to 1000
    and ``d`` up to 1e4, and <= 3e-11 even with ``Q/1.25``). Tested against
    ``scipy.integrate.quad`` (Beta weight, QAWS) for ``alpha`` in [0.1, 32] on the orthogonal
    layout, a 3-class 1-D mixture and the shifted preset (``d = 300``, shifts 0.25 and 1), and
    (split at the peaks in ``lam``) for ``alpha`` in [0.5, 4] with 1-D means 300 standard
    deviations apart; against more nodes on the shifted preset, the orthogonal layout with
    ``k = 20`` and 1-D means 40 apart; at inputs drawn from the data and from the mixed
    distribution.

    *Label noise.* Labels flip independently of the inputs, so
    ``g_mix~ = g_mix T`` (``T`` the transition matrix), computed in log space.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(2, overlap=0.5)
    >>> g = oc.MixupOptimum(dist, alpha=1.0)
    >>> g.predict_proba(np.array([[0.25], [0.75], [1.25]])).round(3)
    array([[0.939, 0.061],
           [0.5  , 0.5  ],
           [0.061, 0.939]])
    >>> dist.posterior(np.array([[0.25]]))  # Mixup is less confident than Bayes off the overlap
    array([[1., 0.]])
    >>> gm = oc.GaussianMixture.orthogonal(3, separation=2.0)
    >>> oc.MixupOptimum(gm, alpha=0.5).predict_proba(np.zeros((1, 3))).round(3)
    array([[0.333, 0.333, 0.333]])
    """

    def __init__(self, dist, alpha=1.0, max_distance=None, n_nodes=None):
        caller = "MixupOptimum"
        self.dist = dist
        self.alpha = check_real(alpha, "alpha", caller, low=0.0, low_inclusive=False)
        if not ALPHA_RANGE[0] <= self.alpha <= ALPHA_RANGE[1]:
            raise param_error(
                "alpha", caller,
                f"in ALPHA_RANGE = [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}], where the "
                "lam-quadrature is checked (beyond it use EmpiricalMixupOptimum on a sample, or "
                "a trained network)", self.alpha)
        self.max_distance = (None if max_distance is None else check_real(
            max_distance, "max_distance", caller, low=0.0, low_inclusive=False))
        self.n_nodes = None if n_nodes is None else check_int(n_nodes, "n_nodes", caller, low=2)
        self.n_nodes_ = None
        self._noise = None
        base = dist
        if isinstance(dist, LabelNoise):
            self._noise, base = dist, dist.base
        if isinstance(base, OverlappingUniform):
            if base.n_features != 1:
                raise ValueError(
                    f"The 'dist' parameter of {caller} must be an OverlappingUniform with "
                    f"n_features=1 (the mixed point has a closed-form density only in 1-D). "
                    f"Got n_features={base.n_features} instead."
                )
            self._impl = _UniformMixup(base, self.alpha, self.max_distance)
            method = "uniform-exact"
        elif isinstance(base, GaussianMixture):
            if self.max_distance is not None:
                raise ValueError(
                    f"The 'max_distance' parameter of {caller} is implemented for 1-D "
                    f"OverlappingUniform only and must be None for a GaussianMixture. "
                    f"Got {self.max_distance!r} instead."
                )
            self._impl = _GaussianMixup(base, self.alpha, self.n_nodes)
            self.n_nodes_ = self._impl.n_nodes
            if self.n_nodes is None and self._impl.needed_nodes > self.n_nodes_:
                warnings.warn(
                    f"{caller}: the means are up to {self._impl.max_mahalanobis:.4g} Mahalanobis "
                    f"units apart; resolving the lam-integral to 1e-8 needs "
                    f"{self._impl.needed_nodes} Gauss-Jacobi nodes, more than the "
                    f"{MAX_GAUSSIAN_NODES} chosen automatically. Pass n_nodes="
                    f"{self._impl.needed_nodes} (the rule costs O(n_nodes^2) memory to build).",
                    UserWarning, stacklevel=2,
                )
            method = ("gaussian-equidistant" if self._impl.equidistant else "gaussian-general")
        else:
            inner = f" over {type(base).__name__}" if base is not dist else ""
            raise TypeError(
                f"The 'dist' parameter of {caller} must be one of: {_SUPPORTED}. "
                f"Got {type(dist).__name__}{inner} instead."
            )
        self.method_ = ("label-noise/" if self._noise is not None else "") + method
        self.n_classes_ = dist.n_classes
        self.n_features_in_ = dist.n_features

    def _log_mass(self, X: np.ndarray) -> np.ndarray:
        return self._impl.log_class_mass(X)

    def _logits(self, X: np.ndarray) -> np.ndarray:
        log_n = self._log_mass(X)
        with np.errstate(invalid="ignore"):
            log_d = logsumexp(log_n, axis=1)
            out = log_n - log_d[:, None]
        out[~np.isfinite(log_d)] = np.nan
        if self._noise is not None:
            out = self._noise._noisy_log_posterior(out)
        return out

    def mixed_log_density(self, X) -> np.ndarray:
        """``log D(z)``: log-density of the mixed point ``lam X1 + (1 - lam) X2``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            ``-inf`` where no mixture lands. Under local mixing the density of the mixed point
            given ``|X1 - X2| <= delta`` (it integrates to 1). Label noise leaves it unchanged.
        """
        X = self._validate(X, "mixed_log_density")
        return logsumexp(self._log_mass(X), axis=1)


# ----------------------------------------------------------------------------------------
# Finite-sample optima
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixupAtoms:
    """The singular part of an empirical Mixup measure: mixtures of a point with itself.

    A pair ``(i, j)`` with ``x_i = x_j`` (``i = j`` included) puts all its mass on ``x_i``
    whatever ``lam`` is, with the expected label ``(e_{y_i} + e_{y_j})/2``.

    Attributes
    ----------
    locations : ndarray of shape (n_atoms, n_features)
        The distinct training inputs.
    masses : ndarray of shape (n_atoms,)
        Fraction of the ``n^2`` ordered pairs that sit on each atom: ``n_x^2 / n^2``.
    labels : ndarray of shape (n_atoms, n_classes)
        The expected mixed label on each atom: the label frequencies among the points at it.

    Examples
    --------
    Two of three training points share ``x = 0`` with different labels: ``4/9`` of the ordered
    pairs sit on ``x = 0`` and ``1/9`` on ``x = 1``; the rest of the Mixup measure has a density.

    >>> import numpy as np, overlapcal as oc
    >>> g = oc.EmpiricalMixupOptimum().fit(np.array([[0.0], [0.0], [1.0]]), np.array([0, 1, 1]))
    >>> g.atoms_.masses, g.atoms_.labels
    (array([0.44444444, 0.11111111]), array([[0.5, 0.5],
           [0. , 1. ]]))
    >>> round(g.density_mass_, 6)
    0.444444
    """

    locations: np.ndarray
    masses: np.ndarray
    labels: np.ndarray


def _locations(X: np.ndarray, y: np.ndarray, k: int):
    """Distinct rows of ``X`` with their counts and label frequencies ``(U, k)``."""
    loc, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    freq = np.zeros((loc.shape[0], k))
    np.add.at(freq, (inverse, y), 1.0)
    freq /= counts[:, None]
    return loc, counts.astype(float), freq


def _nearest_location_logits(X, loc, freq):
    """``log`` of the label frequencies at the nearest distinct training input (1-NN)."""
    nearest = np.empty(X.shape[0], dtype=np.intp)
    step = max(1, _BLOCK // max(1, loc.shape[0] * loc.shape[1]))
    for start in range(0, X.shape[0], step):
        diff = X[start:start + step, None, :] - loc[None, :, :]
        nearest[start:start + step] = np.argmin(np.einsum("nud,nud->nu", diff, diff), axis=1)
    with np.errstate(divide="ignore"):
        return np.log(freq[nearest])


def _check_labels_and_classes(y, n_classes, n, caller):
    y = check_labels(y, n_classes, f"{caller}.fit", n_samples=n, name="y")
    k = int(y.max()) + 1 if n_classes is None else n_classes
    if k < 2:  # the wording of HardInterpolator.fit
        raise ValueError(
            f"The 'y' parameter of {caller}.fit must contain a label >= 1 when 'n_classes' is "
            "not given (at least 2 classes are needed). Got only label 0; pass n_classes=k."
        )
    return y, k


def _check_n_classes(n_classes, caller):
    return None if n_classes is None else check_int(n_classes, "n_classes", caller, low=2)


class EmpiricalMixupOptimum(Predictor):
    """The finite-sample Mixup optimum in 1-D: its density part, exactly (THEORY.md 5).

    For a training set ``(x_i, y_i)`` the Mixup measure mixes every ordered pair ``(i, j)`` (each
    with probability ``1/n^2``) with ``lam ~ Beta(a, a)``. A pair with ``x_i != x_j`` that
    straddles ``z`` lands there at ``lam_ij = (z - x_j)/(x_i - x_j)`` with density
    ``f(lam_ij) / |x_i - x_j|``; so the density part of the optimum is::

        g(z) = sum_ij w_ij (lam_ij e_{y_i} + (1 - lam_ij) e_{y_j}) / sum_ij w_ij,
        w_ij = f(lam_ij) / |x_i - x_j|,   over pairs with lam_ij in (0, 1).

    Parameters
    ----------
    alpha : float, default=1.0
        The Beta parameter ``a > 0``.
    n_classes : int or None, default=None
        Number of classes ``k >= 2``; None takes ``max(y) + 1`` at fit time (which must be at
        least 2).

    Attributes
    ----------
    n_classes_, n_features_in_ : int
        ``n_features_in_`` is 1.
    atoms_ : MixupAtoms
        The singular part: pairs of equal inputs put mass ``n_x^2/n^2`` on ``x`` with the label
        frequencies at ``x``.
    density_mass_ : float
        ``1 - sum(atoms_.masses)``: the share of the Mixup measure that has a density.

    Raises
    ------
    ValueError
        ``alpha <= 0`` or ``n_classes < 2``; at fit, ``X`` not of shape ``(n, 1)`` (use
        :class:`EmpiricalDMixupOptimum` in more dimensions), bad labels, or only label 0 with
        ``n_classes=None`` (one class).
    RuntimeError
        Predicting before ``fit``.

    Notes
    -----
    *Choices.* (i) The optimum is defined by its density part: a model that is continuous in
    ``z`` can only follow that part; the atoms are reported in ``atoms_``. (ii) Where no pair
    straddles ``z`` (outside the open hull ``(min x, max x)``, including its ends, and
    everywhere when all inputs are equal) the density part is 0 and the Mixup risk does not
    constrain ``g``; the prediction there is the label frequency at the nearest training input.
    In 1-D this is the continuous extension: as ``z`` tends to the hull end from inside, every
    straddling pair has an end at that input with ``lam -> 0``, so ``g`` tends to exactly these
    frequencies (tested). (iii) At an interior training input the pairs with an end there
    (``lam in {0, 1}``) are left out; for ``a < 1`` their density is infinite and ``g`` jumps to
    the local label frequencies in the limit, for ``a = 1`` left and right limits differ.

    *Computation.* Pairs of distinct input values ``u_a < u_b`` with counts ``n_a, n_b`` and
    label frequencies ``F_a, F_b`` contribute ``n_a n_b f(lam)/(u_b - u_a)`` with label
    ``lam F_b + (1 - lam) F_a``, ``lam = (z - u_a)/(u_b - u_a)``; weights are handled in log space
    (max-shifted), vectorised over blocks of ``(z, pair)``: ``O(n_z U^2)`` for ``U`` distinct
    inputs.

    Proposition 4: with ``x = (0, 1)``, ``y = (0, 1)`` only one pair straddles ``z`` in (0, 1),
    with ``lam = z`` on the class-1 point, so ``g(z)_1 = z`` for every symmetric Beta.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> g = oc.EmpiricalMixupOptimum(alpha=4.0).fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    >>> g.predict_proba(np.array([[0.3], [0.9]])).round(6)
    array([[0.7, 0.3],
           [0.1, 0.9]])
    >>> line = oc.EmpiricalMixupOptimum(alpha=32.0).fit(np.array([[0.0], [1.0], [2.0]]),
    ...                                                np.array([0, 1, 0]))
    >>> line.predict(np.array([[0.99], [1.01]]))  # the "alternating line": class 0 near x = 1
    array([0, 0])
    >>> g.atoms_.masses
    array([0.25, 0.25])
    """

    def __init__(self, alpha=1.0, n_classes=None):
        caller = "EmpiricalMixupOptimum"
        self.alpha = check_real(alpha, "alpha", caller, low=0.0, low_inclusive=False)
        self.n_classes = _check_n_classes(n_classes, caller)

    def fit(self, X, y) -> "EmpiricalMixupOptimum":
        """Store the distinct inputs, their counts and label frequencies, and the atoms.

        Parameters
        ----------
        X : array-like of shape (n_samples, 1)
        y : array-like of shape (n_samples,), int

        Returns
        -------
        self
        """
        caller = "EmpiricalMixupOptimum"
        X = check_array(X, "X", f"{caller}.fit", ndim=2, keep_float32=False)
        if X.shape[1] != 1:
            raise ValueError(
                f"The 'X' parameter of {caller}.fit must have exactly 1 feature column: the "
                f"exact finite-sample optimum is 1-D (use EmpiricalDMixupOptimum in more "
                f"dimensions). Got an array of shape {X.shape} instead."
            )
        y, k = _check_labels_and_classes(y, self.n_classes, X.shape[0], caller)
        loc, counts, freq = _locations(X, y, k)
        n = X.shape[0]
        self.atoms_ = MixupAtoms(loc, counts**2 / n**2, freq)
        self.density_mass_ = float(1.0 - np.sum(counts**2) / n**2)
        self._u, self._counts, self._freq = loc[:, 0], counts, freq
        a, b = np.triu_indices(loc.shape[0], k=1)
        self._pa, self._pb = a, b
        self._log_pair = (np.log(counts[a]) + np.log(counts[b])
                          - np.log(self._u[b] - self._u[a]) - 2.0 * math.log(n))
        n_loc = loc.shape[0]
        ones = np.ones(a.size)
        self._to_a = sparse.csr_array((ones, (np.arange(a.size), a)), shape=(a.size, n_loc))
        self._to_b = sparse.csr_array((ones, (np.arange(a.size), b)), shape=(a.size, n_loc))
        self._log_beta = float(betaln(self.alpha, self.alpha))
        self.n_classes_, self.n_features_in_ = k, 1
        return self

    def _density_terms(self, z):
        """Log-weights ``log(n_a n_b f(lam) / (n^2 (u_b - u_a)))`` (``-inf`` off) and ``lam``."""
        ua, ub = self._u[self._pa], self._u[self._pb]
        inside = (z[:, None] > ua) & (z[:, None] < ub)
        with np.errstate(divide="ignore", invalid="ignore"):
            lam = np.where(inside, (z[:, None] - ua) / (ub - ua), 0.5)
            inside &= (lam > 0.0) & (lam < 1.0)  # z within an ulp of an input: lam rounds
            lam = np.where(inside, lam, 0.5)
            log_f = (self.alpha - 1.0) * (np.log(lam) + np.log1p(-lam)) - self._log_beta
        return np.where(inside, log_f + self._log_pair, -np.inf), lam

    def _step(self):
        return max(1, _BLOCK // max(1, self._pa.size))

    def _logits(self, X):
        z = X[:, 0]
        k = self.n_classes_
        out = np.empty((z.shape[0], k))
        step = self._step()
        for start in range(0, z.shape[0], step):
            zz = z[start:start + step]
            log_w, lam = self._density_terms(zz)
            m = np.max(log_w, axis=1, initial=-np.inf)
            has = np.isfinite(m)
            w = np.exp(log_w - np.where(has, m, 0.0)[:, None])
            per_b = (w * lam) @ self._to_b  # (nz, U): weight of each location as the lam end
            per_a = (w * (1.0 - lam)) @ self._to_a
            mass = (per_a + per_b) @ self._freq
            with np.errstate(divide="ignore", invalid="ignore"):
                block = np.log(mass) - np.log(w.sum(axis=1))[:, None]
            if not np.all(has):
                block[~has] = _nearest_location_logits(X[start:start + step][~has],
                                                       self.atoms_.locations, self._freq)
            out[start:start + step] = block
        return out

    def mixed_log_density(self, X) -> np.ndarray:
        """Log-density of the density part of the empirical Mixup measure (``-inf`` off the hull).

        ``D(z) = (1/n^2) sum_{x_i != x_j, straddling} f(lam_ij)/|x_i - x_j|``, which integrates
        to ``density_mass_``. Shape (n_samples,).
        """
        X = self._validate(X, "mixed_log_density")
        z = X[:, 0]
        out = np.empty(z.shape[0])
        step = self._step()
        for start in range(0, z.shape[0], step):
            log_w, _ = self._density_terms(z[start:start + step])
            # Both orders of each pair: factor 2.
            out[start:start + step] = logsumexp(log_w, axis=1) + math.log(2.0)
        return out


#: Monte Carlo d-Mixup: the affine-independence check of a drawn simplex costs O(d^3); above
#: this dimension it is skipped (distinct points of continuous data are in general position).
_AFFINE_CHECK_MAX_D = 16

#: Monte Carlo d-Mixup: at most this many candidate tuples per requested mixture.
_MC_MAX_DRAWS = 100


@dataclass(frozen=True)
class MonteCarloError:
    """Error estimate of a Monte Carlo kernel prediction.

    Returned by :meth:`EmpiricalDMixupOptimum.monte_carlo_error`.

    Attributes
    ----------
    stderr : ndarray of shape (n_samples, n_classes)
        Delta-method standard error of every predicted probability.
    effective_samples : ndarray of shape (n_samples,)
        Kish's effective number of draws behind each prediction, ``(sum K)^2 / sum K^2``.
    """

    stderr: np.ndarray
    effective_samples: np.ndarray


def _distinct_indices(rng, n: int, r: int, m: int) -> np.ndarray:
    """``m`` rows of ``r`` distinct indices in ``[0, n)``: uniform ``r``-subsets (Floyd).

    Floyd's algorithm: for ``j = n - r, ..., n - 1`` draw ``t`` uniform in ``[0, j]`` and take
    ``j`` instead if ``t`` is taken. The order within a row is not uniform, which does not
    matter here (the Dirichlet weights are exchangeable). Membership is tested against the
    previous columns (``O(m r^2)``) or, for long rows, a boolean table per block of rows.
    """
    out = np.empty((m, r), dtype=np.intp)
    if r * r <= 4 * n:
        for c, j in enumerate(range(n - r, n)):
            t = rng.integers(0, j + 1, size=m)
            if c:
                t = np.where((out[:, :c] == t[:, None]).any(axis=1), j, t)
            out[:, c] = t
        return out
    step = max(1, 8 * _BLOCK // n)
    for start in range(0, m, step):
        rows = min(step, m - start)
        taken = np.zeros((rows, n), dtype=bool)
        idx = np.arange(rows)
        for c, j in enumerate(range(n - r, n)):
            t = rng.integers(0, j + 1, size=rows)
            t = np.where(taken[idx, t], j, t)
            taken[idx, t] = True
            out[start:start + rows, c] = t
    return out


def _distinct_rows(labels: np.ndarray) -> np.ndarray:
    """Rows of an int array whose entries are pairwise distinct."""
    srt = np.sort(labels, axis=1)
    return np.all(srt[:, 1:] != srt[:, :-1], axis=1)


def _affinely_independent(V: np.ndarray) -> np.ndarray:
    """Vertex sets ``(m, d+1, d)``: ``|det| > 1e-12 prod |x_r - x_0|`` (the exact rule)."""
    ok = np.empty(V.shape[0], dtype=bool)
    step = max(1, _BLOCK // max(1, V.shape[1] * V.shape[2]))
    for start in range(0, V.shape[0], step):
        block = V[start:start + step]
        edges = np.swapaxes(block[:, 1:, :] - block[:, :1, :], 1, 2)
        size = np.prod(np.linalg.norm(edges, axis=1), axis=1)
        ok[start:start + step] = np.abs(np.linalg.det(edges)) > 1e-12 * size
    return ok


class EmpiricalDMixupOptimum(Predictor):
    """The finite-sample d-Mixup optimum: ``n_mix`` points mixed with Dirichlet weights.

    d-Mixup (Chidambaram and Ge; THEORY.md 5) draws ``n_mix`` training points i.i.d. and mixes
    them with ``w ~ Dirichlet(a 1_{n_mix})``: ``z = sum_r w_r x_{i_r}``, label
    ``sum_r w_r e_{y_{i_r}}``. With ``n_mix = d + 1`` points in general position in ``R^d`` the
    barycentric coordinates ``w(z)`` of ``z`` in their simplex are unique, the mixture has the
    density ``f_Dir(w(z)) / |det[x_{i_1} - x_{i_0}, ..., x_{i_d} - x_{i_0}]|`` on the simplex, and
    the density part of the optimum is

        g(z) = sum_S rho_S(z) sum_r w_r(z) e_{y_{S_r}} / sum_S rho_S(z).

    Parameters
    ----------
    alpha : float, default=1.0
        Dirichlet parameter ``a > 0`` (``n_mix = 2`` is Mixup with ``Beta(a, a)``).
    n_mix : int or None, default=None
        Points per mixture; None means ``d + 1``. ``method="exact"`` requires ``n_mix = d + 1``.
    method : {"exact", "monte-carlo"}, default="exact"
        ``"exact"``: enumerate all simplices of ``d + 1`` distinct inputs (``C(U, d+1)`` for
        ``U`` distinct inputs; meant for small ``n``, e.g. ``d <= 2``, ``n <= 30``).
        ``"monte-carlo"``: draw ``n_samples`` mixtures from the density part at fit time and
        predict by Gaussian-kernel (Nadaraya-Watson) regression of the mixed labels on the
        mixed points; :meth:`monte_carlo_error` gives its standard errors.
    n_samples : int, default=100_000
        Mixtures kept by ``"monte-carlo"`` (fewer if degenerate tuples dominate; see
        ``n_samples_``).
    bandwidth : float or None, default=None
        Kernel standard deviation ``h`` of ``"monte-carlo"``; None is Scott's rule
        ``h = s S^(-1/(d+4))`` with ``S`` the mixtures kept and ``s`` the mean per-axis
        standard deviation of the mixed points (see Notes).
    n_classes : int or None, default=None
        Number of classes ``k >= 2``; None takes ``max(y) + 1`` (which must be at least 2).
    rng : None, int, SeedSequence or Generator, optional
        Randomness of ``"monte-carlo"`` (drawn at fit; same seed, same predictions).

    Attributes
    ----------
    n_classes_, n_features_in_ : int
    n_mix_ : int
    singular_mass_ : float
        The share of ordered ``n_mix``-tuples that are degenerate (repeated indices, equal or
        affinely dependent inputs) and so carry no density (atoms, segments). Exact for
        ``"exact"``; for ``"monte-carlo"`` the repeated-index part is exact and the rest is
        estimated from the candidate tuples (binomial error ``sqrt(p (1 - p) / m)`` for ``m``
        candidates).
    bandwidth_ : float
        ``"monte-carlo"`` only: the kernel standard deviation used.
    n_samples_ : int
        ``"monte-carlo"`` only: the mixtures kept (``n_samples`` unless fewer than one in
        ``100`` candidate tuples is non-degenerate; 0 if none is).

    Raises
    ------
    ValueError
        ``alpha <= 0``, ``n_mix < 2``, an unknown method, ``n_samples < 2``,
        ``bandwidth <= 0`` or ``n_classes < 2``; at fit, ``n_mix != d + 1`` with
        ``method="exact"``, bad labels, or only label 0 with ``n_classes=None``.
    RuntimeError
        Predicting before ``fit``.

    Notes
    -----
    *Exact.* Inputs at the same location are merged (counts ``n_u``, label frequencies
    ``F_u``), so a simplex of distinct locations ``u_0..u_d`` stands for ``prod_r n_{u_r}``
    index tuples and carries the weight ``prod_r n_{u_r} f_Dir(w)/|det|`` and the label
    ``sum_r w_r F_{u_r}``; the ``(d+1)!`` orders of a simplex give identical terms and are counted
    once. A simplex is degenerate when ``|det| <= 1e-12 prod_r |u_r - u_0|``. Outside every
    simplex (outside the convex hull) the prediction is the label frequency at the nearest
    training input, as for :class:`EmpiricalMixupOptimum`; with ``d = 1`` and ``n_mix = 2`` the
    two classes coincide (tested to rounding).

    *Monte Carlo.* It estimates the same density part as ``"exact"``: index tuples are drawn
    uniformly among those of ``n_mix`` distinct indices (Floyd's algorithm), and a tuple is
    redrawn when two of its inputs coincide or, for ``n_mix = d + 1`` and ``d <= 16``, when its
    simplex is degenerate by the exact method's rule (above ``d = 16`` that ``O(d^3)`` check is
    skipped: distinct inputs of continuous data are in general position). Conditional on
    non-degeneracy the tuples are then uniform over the non-degenerate ordered tuples, which is
    the exact method's weighting. The prediction is
    ``g_h(z) = sum_s K_h(z - Z_s) L_s / sum_s K_h(z - Z_s)``, a kernel-smoothed conditional mean
    that converges to ``g`` as ``h -> 0`` and ``S h^d -> inf``; it also covers
    ``n_mix != d + 1`` (e.g. the paper's 3- and 5-point Mixup in ``d = 300``, where the mixed
    point has no density and only the smoothed target is defined). Distances are computed
    relative to the centre of the training inputs (no cancellation far from the origin).
    :meth:`monte_carlo_error` returns the delta-method standard error and the effective sample
    size ``(sum K)^2 / sum K^2`` at each query. Bandwidth: Scott's rule ``h = s S^(-1/(d+4))``,
    the rate that balances the squared bias ``O(h^4)`` and the variance ``O(1/(S h^d))`` of a
    kernel estimate in ``d`` dimensions, with the scale ``s`` of a Gaussian reference; it is a
    rate, not tuned to ``g``. The bias is ``O(h^2)`` where ``g`` is smooth but ``O(h)`` within
    ``h`` of a face of a simplex (``g`` has kinks there) and is not in the standard error;
    halve ``h`` (four times ``S`` in 2-D) to see it. Far outside the hull the nearest mixtures
    dominate (the weights are shifted by their maximum, so they never all underflow); if no
    tuple is non-degenerate the prediction is the nearest training input's label frequency.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> g = oc.EmpiricalDMixupOptimum(alpha=1.0).fit(X, np.array([0, 1, 2]))
    >>> g.predict_proba(np.array([[0.2, 0.3]])).round(6)  # barycentric coordinates
    array([[0.5, 0.2, 0.3]])
    >>> round(g.singular_mass_, 4)  # 1 - 3!/3^3
    0.7778
    """

    def __init__(self, alpha=1.0, n_mix=None, method="exact", n_samples=100_000,
                 bandwidth=None, n_classes=None, rng=None):
        caller = "EmpiricalDMixupOptimum"
        self.alpha = check_real(alpha, "alpha", caller, low=0.0, low_inclusive=False)
        self.n_mix = None if n_mix is None else check_int(n_mix, "n_mix", caller, low=2)
        self.method = check_option(method, "method", caller, ("exact", "monte-carlo"))
        self.n_samples = check_int(n_samples, "n_samples", caller, low=2)
        self.bandwidth = (None if bandwidth is None else check_real(
            bandwidth, "bandwidth", caller, low=0.0, low_inclusive=False))
        self.n_classes = _check_n_classes(n_classes, caller)
        self.rng = rng
        check_random_state(rng)  # validate early; the generator is made at fit

    def fit(self, X, y) -> "EmpiricalDMixupOptimum":
        """Enumerate the simplices (exact) or draw the mixtures (Monte Carlo).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), int

        Returns
        -------
        self
        """
        caller = "EmpiricalDMixupOptimum"
        X = check_array(X, "X", f"{caller}.fit", ndim=2, keep_float32=False)
        n, d = X.shape
        y, k = _check_labels_and_classes(y, self.n_classes, n, caller)
        n_mix = d + 1 if self.n_mix is None else self.n_mix
        if self.method == "exact" and n_mix != d + 1:
            raise param_error(
                "n_mix", caller,
                f"d + 1 = {d + 1} with method='exact' (d + 1 points in general position have "
                "unique barycentric coordinates; use method='monte-carlo' otherwise)", n_mix,
            )
        loc, counts, freq = _locations(X, y, k)
        self._loc, self._freq = loc, freq
        self.n_mix_ = n_mix
        self.n_classes_, self.n_features_in_ = k, d
        if self.method == "exact":
            self._fit_exact(loc, counts, n)
        else:
            self._fit_monte_carlo(X, y, k, loc)
        return self

    # -- exact ------------------------------------------------------------------------------

    def _fit_exact(self, loc, counts, n):
        d = loc.shape[1]
        a = self.alpha
        simplices = np.array(list(combinations(range(loc.shape[0]), d + 1)), dtype=np.intp)
        simplices = simplices.reshape(-1, d + 1)
        if simplices.shape[0]:
            V = loc[simplices]  # (S, d+1, d)
            edges = np.swapaxes(V[:, 1:, :] - V[:, :1, :], 1, 2)  # (S, d, d): columns x_r - x_0
            det = np.linalg.det(edges)
            size = np.prod(np.linalg.norm(edges, axis=1), axis=1)
            good = np.abs(det) > 1e-12 * size
        else:
            good = np.zeros(0, dtype=bool)
        simplices = simplices[good]
        self._simplices = simplices
        if simplices.shape[0]:
            self._origin = loc[simplices[:, 0]]
            self._inverse = np.linalg.inv(edges[good])
            log_count = np.sum(np.log(counts[simplices]), axis=1)
            self._log_weight = (log_count - np.log(np.abs(det[good]))
                                + gammaln((d + 1) * a) - (d + 1) * gammaln(a))
        tuples = math.factorial(d + 1) * float(np.sum(np.exp(
            np.sum(np.log(counts[simplices]), axis=1)))) if simplices.shape[0] else 0.0
        self.singular_mass_ = float(1.0 - tuples / float(n) ** (d + 1))
        self._log_scale = math.lgamma(d + 2.0) - (d + 1) * math.log(n)
        n_loc = loc.shape[0]
        S = simplices.shape[0]
        self._vertex_maps = [
            sparse.csr_array((np.ones(S), (np.arange(S), simplices[:, r])), shape=(S, n_loc))
            for r in range(d + 1)
        ]

    def _exact_terms(self, Z):
        """Log-weights (S columns, ``-inf`` outside) and barycentric coordinates (nz, S, d+1)."""
        rel = Z[:, None, :] - self._origin[None, :, :]  # (nz, S, d)
        tail = np.einsum("sij,nsj->nsi", self._inverse, rel)
        w = np.concatenate([1.0 - tail.sum(axis=2, keepdims=True), tail], axis=2)
        inside = np.all(w > 0.0, axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_w = np.where(inside, (self.alpha - 1.0) * np.sum(np.log(np.where(
                inside[:, :, None], w, 1.0)), axis=2) + self._log_weight, -np.inf)
        return log_w, w

    def mixed_log_density(self, X) -> np.ndarray:
        """Log-density of the density part of the empirical d-Mixup measure (exact method).

        ``D(z) = n^-(d+1) sum_{non-degenerate ordered tuples} f_Dir(w(z)) / |det|``, which
        integrates to ``1 - singular_mass_``; ``-inf`` outside the convex hull. Shape
        (n_samples,).

        Raises
        ------
        ValueError
            With ``method="monte-carlo"`` (no density is computed).
        """
        X = self._validate(X, "mixed_log_density")
        if self.method != "exact":
            raise ValueError(
                "EmpiricalDMixupOptimum.mixed_log_density needs method='exact'. "
                f"Got method={self.method!r} instead."
            )
        out = np.full(X.shape[0], -np.inf)
        S = self._simplices.shape[0]
        if S == 0:
            return out
        step = max(1, _BLOCK // (S * (self.n_features_in_ + 1)))
        for start in range(0, X.shape[0], step):
            log_w, _ = self._exact_terms(X[start:start + step])
            out[start:start + step] = logsumexp(log_w, axis=1) + self._log_scale
        return out

    # -- Monte Carlo ------------------------------------------------------------------------

    def _fit_monte_carlo(self, X, y, k, loc):
        rng = check_random_state(self.rng)
        n, d = X.shape
        s, r = self.n_samples, self.n_mix_
        # Location of every training index (equal inputs share one), as in the exact method.
        _, where = np.unique(X, axis=0, return_inverse=True)
        where = where.reshape(-1)
        check_affine = r == d + 1 and d <= _AFFINE_CHECK_MAX_D
        kept, drawn, accepted = [], 0, 0
        if r <= n and np.unique(where).size >= r:
            while accepted < s and drawn < _MC_MAX_DRAWS * s:
                m = min(max(s - accepted, 1024), s)
                index = _distinct_indices(rng, n, r, m)
                ok = _distinct_rows(where[index])
                if check_affine and d > 0:
                    ok[ok] = _affinely_independent(X[index[ok]])
                drawn += m
                accepted += int(ok.sum())
                kept.append(index[ok])
        index = (np.concatenate(kept)[:s] if kept else np.empty((0, r), dtype=np.intp))
        s = index.shape[0]
        weights = rng.dirichlet(np.full(r, self.alpha), size=s)
        # The kernel distance |z - Z|^2 is formed as |z|^2 - 2 z.Z + |Z|^2 (one matrix product);
        # far from the origin it cancels (relative error eps |z|^2 / h^2), so every point is
        # taken relative to the centre of the training inputs.
        self._center = X.mean(axis=0)
        Xc = X - self._center
        Z = np.empty((s, d))
        step = max(1, _BLOCK // max(1, r * d))
        for start in range(0, s, step):
            Z[start:start + step] = np.einsum("sr,srd->sd", weights[start:start + step],
                                              Xc[index[start:start + step]])
        rows = np.repeat(np.arange(s), r)
        self._labels = sparse.csr_array((weights.ravel(), (rows, y[index].ravel())), shape=(s, k))
        self._labels_sq = self._labels.multiply(self._labels).tocsr()
        self._Z = Z
        self._Z_sq = np.einsum("sd,sd->s", Z, Z)
        if self.bandwidth is None:
            spread = float(np.mean(np.std(Z, axis=0))) if s > 1 else 0.0
            self.bandwidth_ = (spread if spread > 0 else 1.0) * max(s, 1) ** (-1.0 / (d + 4))
        else:
            self.bandwidth_ = self.bandwidth
        # Share of ordered n_mix-tuples left out: repeated indices (exact), repeated locations
        # and affinely dependent simplices (estimated from the distinct-index candidates).
        p_distinct = math.exp(gammaln(n + 1.0) - gammaln(n - r + 1.0) - r * math.log(n)) \
            if r <= n else 0.0
        self.singular_mass_ = float(1.0 - p_distinct * (accepted / drawn if drawn else 0.0))
        self.n_samples_ = s

    def _kernel_blocks(self, X):
        """Yield ``(start, w, g)``: max-shifted kernel weights (rows of a block) and ``g``."""
        step = max(1, _BLOCK // max(1, self._Z.shape[0]))
        two_h2 = 2.0 * self.bandwidth_**2
        for start in range(0, X.shape[0], step):
            Zq = X[start:start + step] - self._center
            sq = (np.einsum("nd,nd->n", Zq, Zq)[:, None] - 2.0 * Zq @ self._Z.T
                  + self._Z_sq[None, :])
            log_k = -np.maximum(sq, 0.0) / two_h2
            w = np.exp(log_k - log_k.max(axis=1, keepdims=True))
            g = np.asarray(self._labels.T @ w.T).T / w.sum(axis=1)[:, None]
            yield start, w, g

    def monte_carlo_error(self, X) -> "MonteCarloError":
        """Standard errors of the Monte Carlo predictions and the kernel's effective sample size.

        ``method="monte-carlo"`` predicts ``g(z) = sum_s K_s L_s / sum_s K_s`` over the drawn
        mixtures ``(Z_s, L_s)``, ``K_s = exp(-|z - Z_s|^2 / (2 h^2))``: a ratio of means of
        i.i.d. terms. Its delta-method standard error is

            se_c(z) = sqrt( sum_s K_s^2 (L_sc - g_c(z))^2 ) / sum_s K_s,

        and ``n_eff(z) = (sum_s K_s)^2 / sum_s K_s^2`` is the number of draws that effectively
        inform ``z`` (Kish). The standard error is that of the estimate around the
        kernel-smoothed target (the bias ``O(h^2)`` inside a simplex, ``O(h)`` across its faces,
        is not included); it is meaningful where ``n_eff`` is large (say >= 30).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        MonteCarloError
            ``stderr`` of shape (n_samples, n_classes) and ``effective_samples`` of shape
            (n_samples,); NaN standard errors and 0 effective samples where no mixture was
            kept (every tuple degenerate).

        Raises
        ------
        ValueError
            With ``method="exact"`` (nothing is sampled).
        RuntimeError
            Before ``fit``.
        """
        X = self._validate(X, "monte_carlo_error")
        if self.method != "monte-carlo":
            raise ValueError(
                "EmpiricalDMixupOptimum.monte_carlo_error needs method='monte-carlo'. "
                f"Got method={self.method!r} instead."
            )
        n, k = X.shape[0], self.n_classes_
        se = np.full((n, k), np.nan)
        n_eff = np.zeros(n)
        if self.n_samples_ == 0:
            return MonteCarloError(se, n_eff)
        for start, w, g in self._kernel_blocks(X):
            w2 = w * w
            s1, s2 = w.sum(axis=1), w2.sum(axis=1)
            m1 = np.asarray(self._labels.T @ w2.T).T
            m2 = np.asarray(self._labels_sq.T @ w2.T).T
            var = np.maximum(m2 - 2.0 * g * m1 + g * g * s2[:, None], 0.0)
            se[start:start + w.shape[0]] = np.sqrt(var) / s1[:, None]
            n_eff[start:start + w.shape[0]] = s1 * s1 / s2
        return MonteCarloError(se, n_eff)

    # -- prediction -------------------------------------------------------------------------

    def _logits(self, X):
        n, k = X.shape[0], self.n_classes_
        out = np.empty((n, k))
        if self.method == "monte-carlo":
            if self.n_samples_ == 0:
                return _nearest_location_logits(X, self._loc, self._freq)
            for start, _, g in self._kernel_blocks(X):
                with np.errstate(divide="ignore"):
                    out[start:start + g.shape[0]] = np.log(g)
            return out
        S = self._simplices.shape[0]
        if S == 0:
            return _nearest_location_logits(X, self._loc, self._freq)
        step = max(1, _BLOCK // (S * (self.n_features_in_ + 1)))
        for start in range(0, n, step):
            Zq = X[start:start + step]
            log_w, w = self._exact_terms(Zq)
            m = np.max(log_w, axis=1, initial=-np.inf)
            has = np.isfinite(m)
            rho = np.exp(log_w - np.where(has, m, 0.0)[:, None])
            per_loc = sum((rho * w[:, :, r]) @ vmap for r, vmap in enumerate(self._vertex_maps))
            with np.errstate(divide="ignore", invalid="ignore"):
                block = np.log(per_loc @ self._freq) - np.log(rho.sum(axis=1))[:, None]
            if not np.all(has):
                block[~has] = _nearest_location_logits(Zq[~has], self._loc, self._freq)
            out[start:start + step] = block
        return out
