"""Gaussian mixtures with a shared covariance: exact posteriors and ground truth (THEORY.md 4.2).

Class ``c`` is ``N(mu_c, Sigma)`` with prior ``p_c``. Because the covariance is shared, the
quadratic term ``x^T Sigma^-1 x`` cancels from the posterior, which is a softmax of functions
that are affine in ``x``:

    log eta(x)_c = log_softmax_c( x^T Sigma^-1 mu_c - mu_c^T Sigma^-1 mu_c / 2 + log p_c ).

Overlap is set by the Mahalanobis distances ``D_ij = ||mu_i - mu_j||_{Sigma^-1}``. Ground truth
(Bayes error, Bayes accuracy, conditional entropy) is exact or a 1-D quadrature where the
geometry allows it, and Monte Carlo with a standard error otherwise; the ``method`` of the
returned :class:`~overlapcal.Estimate` says which.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import integrate, linalg, optimize, sparse, special

from .._numerics import entropy
from .._validation import (
    check_array,
    check_int,
    check_option,
    check_random_state,
    check_real,
    param_error,
)
from ..estimate import Estimate
from .base import Distribution, monte_carlo_mean

__all__ = ["GaussianMixture"]

#: Elements of one float64 block in chunked computations (32 MiB): ``(rows, max(k, d))``.
_BLOCK_ELEMENTS = 2**22

#: ``Sigma^-1 mu^T`` is applied as a sparse matrix when at most this fraction of it is non-zero
#: (orthogonal and pairs layouts): 3x faster for k = d = 1000, same numbers.
_SPARSE_FRACTION = 0.05

#: Priors count as equal (for the equidistant closed form) within this absolute tolerance.
_EQUAL_PRIORS_ATOL = 1e-13

#: Squared Mahalanobis distances count as equal within this relative tolerance.
_EQUAL_DISTANCE_RTOL = 1e-10

#: Quadrature over a standard normal variable is truncated to ``|z| <= 40``: the mass outside
#: is ``2 Phi(-40) < 1e-348``, i.e. zero in float64.
_Z_MAX = 40.0

#: Smallest Bayes error that :meth:`GaussianMixture.with_bayes_error` solves for; down to it the
#: equidistant quadrature is accurate to a relative 1e-12 (checked against mpmath in the tests).
_MIN_TARGET = 1e-100

_LOG_2PI = math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _rows_per_block(n_columns: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, n_columns))


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


# -- 1-D integrals behind the closed forms -------------------------------------------------


def _normal_expectation(func, mean: float, scale: float) -> float:
    """``E[func(mean + scale * Z)]`` for ``Z ~ N(0, 1)`` by adaptive quadrature.

    ``func`` is smooth with its features near 0 (a function of a log-odds), so the range
    ``|z| <= 40`` is split where ``mean + scale * z = 0``. For the entropies integrated here the
    error is below 1e-13 absolute and 1e-12 relative while the result exceeds 1e-20 (checked
    against mpmath in the tests).
    """
    if scale == 0.0:
        return float(func(np.float64(mean)))

    def integrand(z):
        return float(func(mean + scale * z)) * _INV_SQRT_2PI * math.exp(-0.5 * z * z)

    cut = -mean / scale
    edges = [-_Z_MAX] + ([cut] if -_Z_MAX < cut < _Z_MAX else []) + [_Z_MAX]
    return sum(
        integrate.quad(integrand, a, b, epsabs=0.0, epsrel=1e-13, limit=500)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )


def _expect_over_log_odds(func, distance: float, log_prior_ratio: float, priors) -> float:
    """``E_X[func(lambda(X))]`` for the two-class log-odds ``lambda = log eta_1 / eta_0``.

    With Mahalanobis distance ``D`` and ``t = log(p_1 / p_0)``, the log-odds is
    ``N(t + D^2/2, D^2)`` given ``Y = 1`` and ``N(t - D^2/2, D^2)`` given ``Y = 0``, so the
    expectation is two 1-D Gaussian integrals weighted by the priors. ``func`` must accept
    ``+-inf`` (the log-odds when a prior is 0).
    """
    p0, p1 = float(priors[0]), float(priors[1])
    if p0 == 0.0 or p1 == 0.0:
        return float(func(np.float64(np.inf if p0 == 0.0 else -np.inf)))
    half = 0.5 * distance * distance
    return (p1 * _normal_expectation(func, log_prior_ratio + half, distance)
            + p0 * _normal_expectation(func, log_prior_ratio - half, distance))


def _binary_noisy_entropy(lam, log_keep: float = 0.0, log_flip: float = -np.inf):
    """Entropy of ``q = (1 - r) sigma(lam) + r sigma(-lam)`` in nats, computed in log space.

    ``log_keep = log(1 - r)``, ``log_flip = log(r)``; the defaults (``r = 0``) give the entropy
    of the Bayes posterior ``H(sigma(lam))``. Exact for ``lam = +-inf``.
    """
    log_s = -np.logaddexp(0.0, -lam)  # log sigma(lam)
    log_c = -np.logaddexp(0.0, lam)  # log sigma(-lam)
    log_q1 = np.logaddexp(log_keep + log_s, log_flip + log_c)
    log_q0 = np.logaddexp(log_flip + log_s, log_keep + log_c)
    with np.errstate(invalid="ignore"):
        t1 = np.where(np.isneginf(log_q1), 0.0, np.exp(log_q1) * log_q1)
        t0 = np.where(np.isneginf(log_q0), 0.0, np.exp(log_q0) * log_q0)
    return -(t1 + t0)


def _two_class_error(distance: float, priors) -> float:
    """Exact Bayes error of two Gaussians with shared covariance at Mahalanobis distance ``D``.

    ``p_1 Phi(-(D/2 + t/D)) + p_0 Phi(-(D/2 - t/D))`` with ``t = log(p_1/p_0)``; ``Phi(-D/2)``
    for equal priors; ``min(p_0, p_1)`` when ``D = 0``.
    """
    p0, p1 = float(priors[0]), float(priors[1])
    if p0 == 0.0 or p1 == 0.0:
        return 0.0
    if distance == 0.0:
        return min(p0, p1)
    t = math.log(p1 / p0)
    return float(p1 * special.ndtr(-(distance / 2 + t / distance))
                 + p0 * special.ndtr(-(distance / 2 - t / distance)))


def _equidistant_error(delta: float, k: int) -> float:
    """``1 - int phi(z) Phi(z + delta)^(k-1) dz``: Bayes error of ``k`` equidistant classes.

    ``delta = D / sqrt(2)`` for pairwise Mahalanobis distance ``D`` and equal priors. The
    complement is integrated directly (``-expm1((k-1) log Phi)``) so that tiny errors keep
    their relative precision (relative error below 1e-12 for errors above 1e-100).
    """
    if k == 2:
        return float(special.ndtr(-delta / math.sqrt(2.0)))

    def integrand(z):
        return _INV_SQRT_2PI * math.exp(-0.5 * z * z) * -math.expm1(
            (k - 1) * float(special.log_ndtr(z + delta)))

    # The integrand lives between the two-class mode -delta/2 and the point where
    # Phi(z + delta)^(k-1) switches on, near sqrt(2 log(k-1)) - delta.
    low, high = -delta / 2 - _Z_MAX, _Z_MAX
    points = sorted({-delta / 2, math.sqrt(2 * math.log(k - 1)) - delta, 0.0})
    points = [p for p in points if low < p < high]
    return integrate.quad(integrand, low, high, points=points, epsabs=0.0, epsrel=1e-13,
                          limit=500)[0]


def _check_target(target, caller: str, high: float) -> float:
    expected = f"a Bayes error in [{_MIN_TARGET:g}, {high:.6g}) (the range of this layout)"
    if isinstance(target, bool) or not isinstance(target, numbers.Real):
        raise param_error("target", caller, expected, target)
    value = float(target)
    if not (_MIN_TARGET <= value < high):
        raise param_error("target", caller, expected, target)
    return value


class GaussianMixture(Distribution):
    """``k`` Gaussian classes ``N(mu_c, Sigma)`` with a shared covariance and priors ``p_c``.

    Parameters
    ----------
    means : array-like of shape (n_classes, n_features)
        Class means ``mu_c``; at least 2 rows.
    cov : None, float or array-like of shape (n_features, n_features), default None
        Shared covariance ``Sigma``: None for the identity, a positive number ``sigma^2`` for
        ``sigma^2 I`` (stored as a scalar, so ``d = 1000`` costs nothing extra), or a symmetric
        positive-definite matrix (factorised once by Cholesky).
    priors : None or array-like of shape (n_classes,), default None
        Class probabilities; None for equal priors. Non-negative and summing to 1 within
        1e-10; they are not renormalised.

    Attributes
    ----------
    means : ndarray of shape (n_classes, n_features)
        Read-only copy of the means.
    cov : float or ndarray of shape (n_features, n_features)
        The variance ``sigma^2`` when the covariance is isotropic, else the (read-only) matrix.
    priors : ndarray of shape (n_classes,)
    n_classes, n_features : int

    Raises
    ------
    ValueError
        If ``means`` is not a finite 2-D array with at least 2 rows, ``cov`` is not a positive
        number or a symmetric positive-definite ``(d, d)`` matrix, or ``priors`` is not a
        probability vector of length ``k``.

    Notes
    -----
    THEORY.md 4.2. The posterior is a softmax of affine functions of ``x`` (see the module
    docstring), computed in row blocks of at most 32 MiB, so ``k = d = 1000`` and ``n = 10^5``
    takes seconds and memory beyond the ``(n, k)`` output stays at a few blocks. Ground truth:

    * two classes: Bayes error ``p_1 Phi(-(D/2 + t/D)) + p_0 Phi(-(D/2 - t/D))``,
      ``t = log(p_1/p_0)`` (``Phi(-D/2)`` for equal priors), method ``"exact"``; ``H(Y|X)`` by
      quadrature over the log-odds, which is ``N(t + D^2/2, D^2)`` given ``Y = 1`` and
      ``N(t - D^2/2, D^2)`` given ``Y = 0`` (method ``"quadrature"``, absolute error below
      1e-13);
    * ``k > 2`` classes with equal priors and equal pairwise Mahalanobis distances ``D``
      (orthogonal and simplex layouts): ``A* = int phi(z) Phi(z + D/sqrt(2))^(k-1) dz``
      (method ``"quadrature"``): given ``Y = c`` the margins ``(mu_c - mu_j)^T Sigma^-1 (X -
      mu_c)`` are ``N(0, D^2)`` with pairwise correlation 1/2, i.e. ``D (Z_0 + Z_j)/sqrt(2)``
      with i.i.d. standard normals ``Z``, and the Bayes rule is right iff all exceed
      ``-D^2/2``, i.e. ``Z_j > -Z_0 - D/sqrt(2)`` for all ``j``; ``H(Y|X)`` by Monte Carlo;
    * otherwise Monte Carlo (:func:`~overlapcal.distributions.base.monte_carlo_mean`).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> gm = oc.GaussianMixture([[0.0, 0.0], [2.0, 0.0]])
    >>> gm.posterior(np.array([[1.0, 5.0]])).round(3)
    array([[0.5, 0.5]])
    >>> round(gm.bayes_error().value, 4)  # Phi(-1)
    0.1587
    >>> X, y = gm.sample(3, rng=0)
    >>> X.shape, y.shape
    ((3, 2), (3,))
    """

    def __init__(self, means, cov=None, priors=None):
        caller = "GaussianMixture"
        means = check_array(means, "means", caller, ndim=2, keep_float32=False)
        k, d = means.shape
        if k < 2:
            raise ValueError(
                f"The 'means' parameter of {caller} must have at least 2 rows (one per class). "
                f"Got an array of shape {means.shape} instead."
            )
        self.means = _readonly(np.array(means, dtype=np.float64, copy=True))
        self.n_classes = k
        self.n_features = d
        self.priors = _readonly(self._check_priors(priors, k, caller))

        if isinstance(cov, np.ndarray) and cov.ndim == 0 and cov.dtype.kind in "iuf":
            cov = cov.item()
        if cov is None or isinstance(cov, numbers.Real):
            variance = 1.0 if cov is None else check_real(
                cov, "cov", caller, low=0.0, low_inclusive=False)
            self.cov = variance
            self._chol = None
            self._log_det = d * math.log(variance)
            whitened = self.means / math.sqrt(variance)  # rows L^-1 mu_c
            self._weights = np.ascontiguousarray(self.means.T / variance)  # Sigma^-1 mu^T
        else:
            matrix = self._check_cov_matrix(cov, d, caller)
            self.cov = _readonly(matrix)
            self._chol = linalg.cholesky(matrix, lower=True)
            self._log_det = 2.0 * float(np.sum(np.log(np.diag(self._chol))))
            whitened = linalg.solve_triangular(self._chol, self.means.T, lower=True).T
            self._weights = np.ascontiguousarray(
                linalg.solve_triangular(self._chol.T, whitened.T, lower=False))
        self._whitened_means = whitened
        nonzero = np.count_nonzero(self._weights)
        self._sparse_weights_t = (
            sparse.csr_array(self._weights.T) if nonzero <= _SPARSE_FRACTION * self._weights.size
            else None
        )
        self._half_sq_norms = 0.5 * np.einsum("ij,ij->i", whitened, whitened)
        with np.errstate(divide="ignore"):
            self._log_priors = np.log(self.priors)
        self._bias = self._log_priors - self._half_sq_norms
        self._sq_distances = None

    # -- validation -------------------------------------------------------------------------

    @staticmethod
    def _check_priors(priors, k: int, caller: str) -> np.ndarray:
        if priors is None:
            return np.full(k, 1.0 / k)
        p = check_array(priors, "priors", caller, ndim=1, keep_float32=False)
        if p.shape != (k,):
            raise ValueError(
                f"The 'priors' parameter of {caller} must have one entry per class ({k}). "
                f"Got an array of shape {p.shape} instead."
            )
        if p.min() < 0:
            raise ValueError(
                f"The 'priors' parameter of {caller} must be non-negative. "
                f"Got {p.min()!r} at index {int(np.argmin(p))} instead."
            )
        total = float(p.sum())
        if abs(total - 1.0) > 1e-10:
            raise ValueError(
                f"The 'priors' parameter of {caller} must sum to 1 within 1e-10 (it is not "
                f"renormalised). Got a sum of {total!r} instead."
            )
        return np.array(p, dtype=np.float64, copy=True)

    @staticmethod
    def _check_cov_matrix(cov, d: int, caller: str) -> np.ndarray:
        if np.ndim(cov) != 2:
            raise param_error(
                "cov", caller,
                f"None, a positive number or a ({d}, {d}) symmetric positive-definite matrix",
                cov,
            )
        matrix = check_array(cov, "cov", caller, ndim=2, keep_float32=False)
        if matrix.shape != (d, d):
            raise ValueError(
                f"The 'cov' parameter of {caller} must be a ({d}, {d}) matrix (n_features = "
                f"{d}). Got an array of shape {matrix.shape} instead."
            )
        scale = float(np.max(np.abs(matrix)))
        asym = float(np.max(np.abs(matrix - matrix.T)))
        if asym > 1e-10 * scale:
            raise ValueError(
                f"The 'cov' parameter of {caller} must be symmetric (within a relative 1e-10). "
                f"Got max |cov - cov.T| = {asym:.3g} instead."
            )
        matrix = 0.5 * (matrix + matrix.T)
        eigenvalues = np.linalg.eigvalsh(matrix)
        if eigenvalues[0] <= d * np.finfo(float).eps * max(eigenvalues[-1], 0.0):
            raise ValueError(
                f"The 'cov' parameter of {caller} must be positive definite (smallest "
                f"eigenvalue above {d} * eps * largest). Got eigenvalues in "
                f"[{eigenvalues[0]:.3g}, {eigenvalues[-1]:.3g}]: the matrix is singular or "
                "not positive definite."
            )
        return matrix

    def __repr__(self) -> str:
        cov = f"{self.cov!r}" if isinstance(self.cov, float) else "<full matrix>"
        return (f"GaussianMixture(n_classes={self.n_classes}, n_features={self.n_features}, "
                f"cov={cov})")

    # -- densities, posteriors, sampling ------------------------------------------------------

    def _mahalanobis_sq_norms(self, X: np.ndarray) -> np.ndarray:
        """``x^T Sigma^-1 x`` for each row."""
        if self._chol is None:
            return np.einsum("ij,ij->i", X, X) / self.cov
        Z = linalg.solve_triangular(self._chol, X.T, lower=True)
        return np.einsum("ij,ij->j", Z, Z)

    def _linear(self, X: np.ndarray, out: np.ndarray) -> None:
        """``out[:] = X @ Sigma^-1 mu^T`` (the terms ``x^T Sigma^-1 mu_c``)."""
        if self._sparse_weights_t is None:
            np.matmul(X, self._weights, out=out)
        else:
            out[...] = (self._sparse_weights_t @ np.ascontiguousarray(X.T)).T

    def _class_log_density(self, X: np.ndarray) -> np.ndarray:
        """``log N(x; mu_c, Sigma)``: ``-(d log 2 pi + log det Sigma + ||x - mu_c||^2) / 2``."""
        n, k = X.shape[0], self.n_classes
        out = np.empty((n, k))
        log_norm = -0.5 * (self.n_features * _LOG_2PI + self._log_det)
        step = _rows_per_block(max(k, self.n_features))
        for start in range(0, n, step):
            rows = slice(start, start + step)
            block = out[rows]
            self._linear(X[rows], block)  # x^T Sigma^-1 mu_c
            block -= self._half_sq_norms
            block -= 0.5 * self._mahalanobis_sq_norms(X[rows])[:, None]
            # ||x - mu||^2 >= 0 is lost to rounding only when it is ~eps * ||x||^2: clip.
            np.minimum(block, 0.0, out=block)
            block += log_norm
        return out

    def _log_posterior(self, X: np.ndarray) -> np.ndarray:
        # log_softmax(x^T Sigma^-1 mu_c - mu_c^T Sigma^-1 mu_c / 2 + log p_c), block by block.
        n, k = X.shape[0], self.n_classes
        out = np.empty((n, k))
        step = _rows_per_block(max(k, self.n_features))
        for start in range(0, n, step):
            block = out[start:start + step]
            self._linear(X[start:start + step], block)
            block += self._bias
            block -= block.max(axis=1, keepdims=True)
            block -= np.log(np.exp(block).sum(axis=1, keepdims=True))
        return out

    def posterior(self, X) -> np.ndarray:
        """``eta(x)``; shape (n_samples, n_classes) (exponentiated in place: one (n, k) array)."""
        out = self._log_posterior(self._check_X(X, "posterior"))
        return np.exp(out, out=out)

    def sample(self, n: int, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs: ``y ~ Categorical(p)``, ``X = mu_y + L Z`` with ``Sigma = L L^T``.

        Parameters
        ----------
        n : int
            Number of samples (>= 0).
        rng : None, int or numpy.random.Generator, optional
            Randomness; the same seed gives the same draws.

        Returns
        -------
        X : ndarray of shape (n, n_features)
        y : ndarray of shape (n,), int
        """
        n = self._check_n(n, "sample")
        rng = check_random_state(rng)
        y = rng.choice(self.n_classes, size=n, p=self.priors).astype(np.intp)
        X = rng.standard_normal((n, self.n_features))
        step = _rows_per_block(self.n_features)
        for start in range(0, n, step):
            rows = slice(start, start + step)
            if self._chol is None:
                X[rows] *= math.sqrt(self.cov)
            else:
                X[rows] = X[rows] @ self._chol.T
            X[rows] += self.means[y[rows]]
        return X, y

    # -- geometry ---------------------------------------------------------------------------

    def mahalanobis_distances(self) -> np.ndarray:
        """Pairwise Mahalanobis distances ``||mu_i - mu_j||_{Sigma^-1}``; shape (k, k).

        Deterministic (no sampling); computed once from the whitened, centred means.
        """
        return np.sqrt(self._pairwise_sq_distances())

    def _pairwise_sq_distances(self) -> np.ndarray:
        if self._sq_distances is None:
            if self.n_classes == 2:
                diff = self._whitened_means[1] - self._whitened_means[0]
                sq = np.zeros((2, 2))
                sq[0, 1] = sq[1, 0] = float(diff @ diff)
            else:
                centred = self._whitened_means - self._whitened_means.mean(axis=0)
                gram = centred @ centred.T
                diag = np.diag(gram)
                sq = np.maximum(diag[:, None] + diag[None, :] - 2.0 * gram, 0.0)
                np.fill_diagonal(sq, 0.0)
            self._sq_distances = _readonly(sq)
        return self._sq_distances

    def _equidistant(self) -> float | None:
        """The common pairwise Mahalanobis distance if priors and distances are all equal."""
        k = self.n_classes
        if np.max(np.abs(self.priors - 1.0 / k)) > _EQUAL_PRIORS_ATOL:
            return None
        sq = self._pairwise_sq_distances()[~np.eye(k, dtype=bool)]
        mean = float(sq.mean())
        if np.max(np.abs(sq - mean)) > _EQUAL_DISTANCE_RTOL * mean:
            return None
        return math.sqrt(mean)

    # -- ground truth -----------------------------------------------------------------------

    def _check_mc(self, n_samples, rng, caller: str):
        caller = f"GaussianMixture.{caller}"
        return check_int(n_samples, "n_samples", caller, low=2), check_random_state(rng)

    def bayes_error(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """Bayes error ``1 - A*`` (the smallest error rate of any classifier).

        Parameters
        ----------
        n_samples : int, default 1_000_000
            Monte Carlo sample size, used only when no closed form applies (see Notes).
        rng : None, int or numpy.random.Generator, optional
            Randomness for Monte Carlo; validated always, used only by Monte Carlo.

        Returns
        -------
        Estimate
            ``method`` is ``"exact"`` (two classes), ``"quadrature"`` (``k > 2`` equidistant
            means with equal priors) or ``"monte-carlo"`` (otherwise; ``stderr`` is the standard
            error of the mean of ``1 - max_c eta(X)_c``).

        Notes
        -----
        Two classes: ``p_1 Phi(-(D/2 + t/D)) + p_0 Phi(-(D/2 - t/D))`` with ``t = log(p_1/p_0)``
        (THEORY.md 4.2: ``Phi(-D/2)`` for equal priors). Equidistant: ``1 - int phi(z)
        Phi(z + D/sqrt(2))^(k-1) dz``, integrated as ``-expm1`` so small errors keep their
        relative precision.

        Examples
        --------
        >>> import overlapcal as oc
        >>> gm = oc.GaussianMixture.orthogonal(3, separation=2.0)
        >>> err = gm.bayes_error()
        >>> round(err.value, 4), err.method
        (0.1342, 'quadrature')
        """
        n_samples, rng = self._check_mc(n_samples, rng, "bayes_error")
        if self.n_classes == 2:
            distance = math.sqrt(self._pairwise_sq_distances()[0, 1])
            return Estimate(_two_class_error(distance, self.priors), 0.0, "exact")
        distance = self._equidistant()
        if distance is not None:
            error = _equidistant_error(distance / math.sqrt(2.0), self.n_classes)
            return Estimate(error, 0.0, "quadrature")
        return monte_carlo_mean(
            lambda X: -np.expm1(self._log_posterior(X).max(axis=1)), self, n_samples, rng,
            "GaussianMixture.bayes_error",
        )

    def bayes_accuracy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """Bayes accuracy ``A* = E_X[max_c eta(X)_c] = 1 - bayes_error``.

        Same methods, keywords and standard error as :meth:`bayes_error` (see there).

        Examples
        --------
        >>> import overlapcal as oc
        >>> round(oc.GaussianMixture.shifted(shift=0.1).bayes_accuracy().value, 4)
        0.8068
        """
        n_samples, rng = self._check_mc(n_samples, rng, "bayes_accuracy")
        err = self.bayes_error(n_samples=n_samples, rng=rng)
        return Estimate(1.0 - err.value, err.stderr, err.method, err.n_samples)

    def conditional_entropy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """``H(Y|X) = E_X[H(eta(X))]`` in nats (the Bayes NLL).

        Parameters
        ----------
        n_samples : int, default 1_000_000
            Monte Carlo sample size, used only when ``k > 2``.
        rng : None, int or numpy.random.Generator, optional
            Randomness for Monte Carlo; validated always, used only by Monte Carlo.

        Returns
        -------
        Estimate
            Two classes: ``method="quadrature"`` (absolute error below 1e-13, relative below
            1e-12 while ``H > 1e-20``); otherwise
            ``"monte-carlo"`` with its standard error.

        Notes
        -----
        Two classes: ``H(Y|X) = sum_y p_y E[H(sigma(lambda)) | Y = y]`` with the log-odds
        ``lambda | Y=1 ~ N(t + D^2/2, D^2)``, ``lambda | Y=0 ~ N(t - D^2/2, D^2)``
        (THEORY.md 4.2), each a 1-D Gaussian integral (adaptive quadrature split at
        ``lambda = 0``).

        Examples
        --------
        >>> import overlapcal as oc
        >>> h = oc.GaussianMixture.shifted(shift=0.25).conditional_entropy()
        >>> round(h.value, 4), h.method
        (0.041, 'quadrature')
        """
        n_samples, rng = self._check_mc(n_samples, rng, "conditional_entropy")
        if self.n_classes == 2:
            distance, t = self._two_class_log_odds()
            value = _expect_over_log_odds(_binary_noisy_entropy, distance, t, self.priors)
            return Estimate(value, 0.0, "quadrature")
        return monte_carlo_mean(
            lambda X: entropy(np.exp(self._log_posterior(X))), self, n_samples, rng,
            "GaussianMixture.conditional_entropy",
        )

    def _two_class_log_odds(self) -> tuple[float, float]:
        """``(D, t)``: Mahalanobis distance and ``log(p_1/p_0)`` (two classes only)."""
        distance = math.sqrt(self._pairwise_sq_distances()[0, 1])
        with np.errstate(divide="ignore"):
            t = float(self._log_priors[1] - self._log_priors[0])
        return distance, t

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def orthogonal(cls, n_classes: int, n_features: int | None = None, separation: float = 1.0,
                   sigma: float = 1.0) -> "GaussianMixture":
        """Means ``separation * e_c`` on the coordinate axes, covariance ``sigma^2 I``.

        Parameters
        ----------
        n_classes : int
            ``k >= 2``.
        n_features : int, optional
            ``d >= k``; default ``k``.
        separation : float, default 1.0
            The norm ``r >= 0`` of every mean. Pairwise distances are ``r sqrt(2)``, i.e.
            Mahalanobis distance ``D = r sqrt(2) / sigma``.
        sigma : float, default 1.0
            Per-coordinate standard deviation (> 0).

        Returns
        -------
        GaussianMixture
            Equal priors; its Bayes accuracy is ``int phi(z) Phi(z + r/sigma)^(k-1) dz``.

        Examples
        --------
        >>> import overlapcal as oc
        >>> gm = oc.GaussianMixture.orthogonal(4, separation=3.0)
        >>> gm.means.shape, round(gm.bayes_accuracy().value, 4)
        ((4, 4), 0.9564)
        """
        caller = "GaussianMixture.orthogonal"
        k, d, separation, sigma = cls._check_layout(
            caller, n_classes, n_features, separation, sigma, min_features_below_k=0)
        means = np.zeros((k, d))
        means[np.arange(k), np.arange(k)] = separation
        return cls(means, cov=sigma * sigma)

    @classmethod
    def simplex(cls, n_classes: int, n_features: int | None = None, separation: float = 1.0,
                sigma: float = 1.0) -> "GaussianMixture":
        """Means at the vertices of a regular simplex centred at 0, covariance ``sigma^2 I``.

        The simplex is the orthogonal layout with the same ``separation`` moved to its
        centroid and rotated into the first ``k - 1`` coordinates (Helmert basis), so the two
        layouts have the same pairwise distances and the same ground truth.

        Parameters
        ----------
        n_classes : int
            ``k >= 2``.
        n_features : int, optional
            ``d >= k - 1``; default ``k - 1`` (the smallest dimension holding the simplex).
        separation : float, default 1.0
            ``r >= 0``: every pairwise distance is ``r sqrt(2)`` (as in :meth:`orthogonal`);
            the norm of each mean is ``r sqrt((k - 1)/k)``.
        sigma : float, default 1.0
            Per-coordinate standard deviation (> 0).

        Returns
        -------
        GaussianMixture

        Examples
        --------
        >>> import numpy as np, overlapcal as oc
        >>> gm = oc.GaussianMixture.simplex(3, separation=1.0)
        >>> gm.mahalanobis_distances().round(4)
        array([[0.    , 1.4142, 1.4142],
               [1.4142, 0.    , 1.4142],
               [1.4142, 1.4142, 0.    ]])
        """
        caller = "GaussianMixture.simplex"
        k, d, separation, sigma = cls._check_layout(
            caller, n_classes, n_features, separation, sigma, min_features_below_k=1)
        # Helmert basis of the hyperplane orthogonal to 1: column j-1 is
        # (1, ..., 1, -j, 0, ..., 0) / sqrt(j (j + 1)) with j ones; row c holds the coordinates
        # of e_c - 1/k in it.
        j = np.arange(1, k)
        c = np.arange(k)[:, None]
        basis = np.where(c < j, 1.0, np.where(c == j, -j.astype(float), 0.0))
        basis /= np.sqrt(j * (j + 1.0))
        means = np.zeros((k, d))
        means[:, : k - 1] = separation * basis
        return cls(means, cov=sigma * sigma)

    @classmethod
    def pairs(cls, n_classes: int, n_features: int | None = None, separation: float = 1.0,
              pair_distance: float | None = None, sigma: float = 1.0) -> "GaussianMixture":
        """Two close means per pair, pairs far apart: the Gaussian analogue of overlapping pairs.

        Pair ``q`` (classes ``2q`` and ``2q + 1``) has centre ``(pair_distance / sqrt(2)) e_q``
        and means ``centre +- (separation / 2) e_{k/2 + q}``; covariance ``sigma^2 I``.

        Parameters
        ----------
        n_classes : int
            Even ``k >= 2``.
        n_features : int, optional
            ``d >= k``; default ``k``.
        separation : float, default 1.0
            Distance ``s >= 0`` between the two means of a pair.
        pair_distance : float, optional
            Distance ``P >= 0`` between pair centres; every cross-pair distance between means
            is ``sqrt(P^2 + s^2 / 2)``. Default ``s + 2 sigma z`` with ``z = -Phi^-1(1e-15 /
            (k - 2))``, so the cross-pair bound below is at most 1e-15 (for ``k = 1000``,
            ``P = s + 17.5 sigma``).
        sigma : float, default 1.0
            Per-coordinate standard deviation (> 0).

        Returns
        -------
        GaussianMixture

        Notes
        -----
        Revealing the pair can only lower the Bayes error, and a wrong pair needs some
        cross-pair class to beat the true one, so (equal priors)

            Phi(-s/(2 sigma)) <= Bayes error <= Phi(-s/(2 sigma)) + (k - 2) Phi(-P/(2 sigma)).

        The ground-truth methods use Monte Carlo for this layout (no exact form).

        Examples
        --------
        >>> import overlapcal as oc
        >>> gm = oc.GaussianMixture.pairs(4, separation=1.0, pair_distance=20.0)
        >>> gm.mahalanobis_distances().round(2)[0]
        array([ 0.  ,  1.  , 20.01, 20.01])
        """
        caller = "GaussianMixture.pairs"
        k, d, separation, sigma = cls._check_layout(
            caller, n_classes, n_features, separation, sigma, min_features_below_k=0)
        if k % 2:
            raise param_error("n_classes", caller, "an even int >= 2", n_classes)
        if pair_distance is None:
            pair_distance = separation + 2.0 * sigma * _pairs_default_z(k)
        else:
            pair_distance = check_real(pair_distance, "pair_distance", caller, low=0.0)
        m = k // 2
        q = np.arange(m)
        means = np.zeros((k, d))
        means[2 * q, q] = means[2 * q + 1, q] = pair_distance / math.sqrt(2.0)
        means[2 * q, m + q] = separation / 2
        means[2 * q + 1, m + q] = -separation / 2
        return cls(means, cov=sigma * sigma)

    @classmethod
    def shifted(cls, n_features: int = 300, *, shift: float) -> "GaussianMixture":
        """The paper's synthetic preset: class 0 ``N(0, I)``, class 1 ``N(shift * 1, I)``.

        Parameters
        ----------
        n_features : int, default 300
            ``d >= 1``.
        shift : float
            ``mu``: every coordinate of the class-1 mean. The Mahalanobis distance is
            ``D = |mu| sqrt(d)``; the paper uses ``mu`` in {0.25, 0.1, 0.05, 0.01}.

        Returns
        -------
        GaussianMixture
            Two classes, equal priors; Bayes error ``Phi(-D/2)`` (THEORY.md 4.2 table).

        Examples
        --------
        >>> import overlapcal as oc
        >>> gm = oc.GaussianMixture.shifted(shift=0.1)
        >>> round(float(gm.mahalanobis_distances()[0, 1]), 3), round(gm.bayes_error().value, 4)
        (1.732, 0.1932)
        """
        caller = "GaussianMixture.shifted"
        d = check_int(n_features, "n_features", caller, low=1)
        shift = check_real(shift, "shift", caller)
        means = np.zeros((2, d))
        means[1] = shift
        return cls(means)

    @classmethod
    def with_bayes_error(cls, layout: str, target: float, n_classes: int = 2,
                         **kwargs) -> "GaussianMixture":
        """A layout whose scale is solved (``scipy.optimize.brentq``) for a given Bayes error.

        Parameters
        ----------
        layout : {"orthogonal", "simplex", "pairs", "shifted"}
            The constructor to use; its scale parameter (``separation``, or ``shift`` for
            ``"shifted"``) is solved for, every other keyword is passed through ``kwargs``.
        target : float
            The Bayes error. Reachable range: ``(0, (k-1)/k)`` for orthogonal and simplex
            (``(k-1)/k`` is the error at separation 0), ``(0, 1/2)`` for pairs (within-pair
            error) and shifted. Numerically the target must be at least 1e-100.
        n_classes : int, default 2
            ``k``; must be 2 for ``"shifted"`` and even for ``"pairs"``.
        **kwargs
            Other keywords of the layout constructor (``n_features``, ``sigma``,
            ``pair_distance``).

        Returns
        -------
        GaussianMixture
            Orthogonal, simplex and shifted: ``bayes_error()`` equals ``target`` to a relative
            1e-10. Pairs: the within-pair error ``Phi(-s/(2 sigma))`` equals ``target``, and the
            Bayes error lies in ``[target, target + (k-2) Phi(-P/(2 sigma))]`` (see
            :meth:`pairs`).

        Raises
        ------
        ValueError
            For an unknown layout, a target outside the reachable range, a layout argument
            that is invalid, or (pairs) a ``pair_distance`` whose cross-pair bound exceeds
            ``1e-6 * target``.
        TypeError
            If ``kwargs`` contains the scale parameter that is being solved for.

        Notes
        -----
        The error is a continuous, strictly decreasing function of the scale; the root of
        ``log error(scale) - log target`` is bracketed by doubling and found by ``brentq``.

        Examples
        --------
        >>> import overlapcal as oc
        >>> gm = oc.GaussianMixture.with_bayes_error("orthogonal", 0.1, n_classes=5)
        >>> round(gm.bayes_error().value, 10)
        0.1
        """
        caller = "GaussianMixture.with_bayes_error"
        layout = check_option(layout, "layout", caller,
                              ("orthogonal", "simplex", "pairs", "shifted"))
        k = check_int(n_classes, "n_classes", caller, low=2)
        scale_name = "shift" if layout == "shifted" else "separation"
        if scale_name in kwargs:
            raise TypeError(
                f"{caller} solves for {scale_name!r}; do not pass it (got {scale_name}="
                f"{kwargs[scale_name]!r})."
            )
        if layout == "shifted":
            if k != 2:
                raise param_error("n_classes", caller, "2 for the 'shifted' layout", n_classes)

            def build(scale):
                return cls.shifted(shift=scale, **kwargs)
        else:
            constructor = getattr(cls, layout)

            def build(scale):
                return constructor(k, separation=scale, **kwargs)

        probe = build(1.0)  # validates kwargs with the layout's own error messages

        if layout == "shifted":
            root_d = math.sqrt(probe.n_features)

            def log_error(scale):
                return float(special.log_ndtr(-scale * root_d / 2))
            high = 0.5
        elif layout == "pairs":
            sigma = math.sqrt(probe.cov)

            def log_error(scale):
                return float(special.log_ndtr(-scale / (2 * sigma)))
            high = 0.5
        else:
            sigma = math.sqrt(probe.cov)

            def log_error(scale):
                return math.log(_equidistant_error(scale / sigma, k))
            high = (k - 1) / k
        target = _check_target(target, caller, high)
        goal = math.log(target)
        # Bracket by growing the scale in steps of 1.25 (the error decays like exp(-c scale^2),
        # so the bracket end stays far above float64 underflow for targets >= 1e-100).
        unit = 1.0 if layout == "shifted" else sigma
        upper = unit
        while log_error(upper) > goal:
            upper *= 1.25
        scale = optimize.brentq(lambda s: log_error(s) - goal, 0.0, upper,
                                xtol=1e-15 * unit, rtol=4 * np.finfo(float).eps)
        result = build(scale)
        if layout == "pairs" and k > 2:
            pair_distance = kwargs.get("pair_distance")
            if pair_distance is None:
                pair_distance = scale + 2.0 * sigma * _pairs_default_z(k)
            bound = (k - 2) * float(special.ndtr(-pair_distance / (2 * sigma)))
            if bound > 1e-6 * target:
                raise ValueError(
                    f"The 'pair_distance' parameter of {caller} must make the cross-pair "
                    f"overlap negligible: (k-2) Phi(-P/(2 sigma)) <= 1e-6 * target = "
                    f"{1e-6 * target:.3g}. Got {pair_distance!r} (bound {bound:.3g}) instead; "
                    "use a larger pair_distance or the default."
                )
        return result

    @staticmethod
    def _check_layout(caller, n_classes, n_features, separation, sigma, *, min_features_below_k):
        k = check_int(n_classes, "n_classes", caller, low=2)
        low = k - min_features_below_k
        d = low if n_features is None else check_int(n_features, "n_features", caller, low=low)
        separation = check_real(separation, "separation", caller, low=0.0)
        sigma = check_real(sigma, "sigma", caller, low=0.0, low_inclusive=False)
        return k, d, separation, sigma


def _pairs_default_z(k: int) -> float:
    """``z`` with ``(k - 2) Phi(-z) = 1e-15`` (0 when ``k = 2``: a single pair)."""
    if k <= 2:
        return 0.0
    return float(-special.ndtri(1e-15 / (k - 2)))
