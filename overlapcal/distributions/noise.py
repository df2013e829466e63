"""Label noise on top of any distribution, with its exact posterior (THEORY.md 4.2).

A clean label ``c`` is replaced by a noisy label ``j`` with probability ``T[c, j]`` (a
row-stochastic transition matrix), independently of ``x``. The inputs keep their distribution;
the noisy posterior, priors and class densities are

    eta~(x) = eta(x) @ T,    p~ = p @ T,    p~(x | j) = pi_X(x) eta~(x)_j / p~_j.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from .._numerics import entropy
from .._validation import (
    check_distribution,
    check_int,
    check_option,
    check_random_state,
    check_real,
)
from ..estimate import Estimate
from .base import Distribution, Segments, monte_carlo_mean
from .gaussian import GaussianMixture, _binary_noisy_entropy, _expect_over_log_odds

__all__ = ["LabelNoise"]


def _random_derangement(k: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation of ``range(k)`` without fixed points (k >= 2).

    Rejection sampling of uniform permutations: each try succeeds with probability about
    ``1/e`` (exactly 1/2 for k = 2), so a handful of tries, each vectorised.
    """
    identity = np.arange(k)
    while True:
        perm = rng.permutation(k)
        if not np.any(perm == identity):
            return perm


def _log_complement(log_eta: np.ndarray) -> np.ndarray:
    """``log(1 - eta_j) = log sum_{c != j} eta_c`` for every entry of a log-posterior.

    ``log1p(-eta_j)`` is accurate wherever ``eta_j <= 1/2``, which holds for every entry but the
    row maximum; there the sum over the other classes is taken directly (``logsumexp``), so a
    posterior within 1e-18 of one-hot keeps its small complement.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log1p(-np.exp(np.minimum(log_eta, 0.0)))
        rows = np.arange(log_eta.shape[0])
        top = np.argmax(log_eta, axis=1)
        others = log_eta.copy()
        others[rows, top] = -np.inf
        out[rows, top] = logsumexp(others, axis=1)
    return out


class LabelNoise(Distribution):
    """A distribution whose labels are flipped by pair or symmetric noise.

    Parameters
    ----------
    base : Distribution
        The clean distribution (any overlapcal distribution with ``k >= 2`` classes).
    rate : float
        Flip probability ``rho`` in ``[0, 1]``.
    kind : {"pair", "symmetric"}, default "pair"
        ``"pair"``: every class has one fixed partner, and its label flips to the partner
        with probability ``rho``. ``"symmetric"``: the label flips with probability ``rho`` to
        one of the other ``k - 1`` classes chosen uniformly.
    rng : None, int or numpy.random.Generator, optional
        Draws the partners (pair noise only; validated and otherwise unused).

    Attributes
    ----------
    base : Distribution
    rate : float
    kind : str
    partner : ndarray of shape (n_classes,) or None
        ``partner[c]`` is the class that ``c`` flips to (pair noise); None for symmetric noise.
    transition : ndarray of shape (n_classes, n_classes)
        ``T[c, j] = P(noisy label j | clean label c)``; rows sum to 1 (read-only).
    priors : ndarray of shape (n_classes,)
        Noisy priors ``p @ T``.
    n_classes, n_features : int
        Those of ``base``.

    Raises
    ------
    TypeError
        If ``base`` is not an overlapcal Distribution.
    ValueError
        If ``rate`` is not in ``[0, 1]`` or ``kind`` is unknown.

    Notes
    -----
    THEORY.md 4.2 (label noise as a source of overlap; both kinds have exact posteriors).
    The partners form a uniformly random derangement (a permutation without fixed points,
    drawn by rejection from uniform permutations), so every class is also the partner of
    exactly one class; for ``k = 2`` pair and symmetric noise coincide. Pair:
    ``T = (1 - rho) I + rho P``; symmetric: ``T = (1 - rho) I + rho (11^T - I) / (k - 1)``.

    Every ``rho`` in ``[0, 1]`` gives a valid (row-stochastic) ``T`` and is accepted, since the
    extreme settings are legitimate stress tests. Be aware that for pair noise ``rho > 1/2``
    makes the partner the most likely noisy label, and for symmetric noise ``rho = (k-1)/k``
    makes labels independent of ``x`` (uniform posterior) while ``rho > (k-1)/k`` makes them
    anti-informative (the clean class becomes the least likely).

    The noisy posterior is computed in log space, without forming ``eta @ T``:
    ``log eta~_j = logaddexp(log(1-rho) + log eta_j, log rho + log eta_{c(j)})`` with ``c(j)``
    the class whose partner is ``j`` (pair), and
    ``logaddexp(log(1-rho) + log eta_j, log(rho/(k-1)) + log(1 - eta_j))`` (symmetric, with
    ``1 - eta_j`` summed over the other classes where ``eta_j > 1/2``), so probabilities far
    below 1e-16 keep their relative precision.

    Ground truth: exact finite sums when ``base.segments()`` exists; for a two-class
    :class:`GaussianMixture` base the noisy posterior is a function of the clean log-odds, so
    ``H(Y|X)`` is a 1-D quadrature; otherwise Monte Carlo. The Bayes accuracy is affine in the
    base's when ``k = 2`` (``A~ = (1 + |1 - 2 rho|)/2 - |1 - 2 rho| (1 - A)``) and for symmetric
    noise with ``rho <= (k-1)/k`` (``A~ = rho/(k-1) + (1 - rho k/(k-1)) A``).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> base = oc.GaussianMixture.orthogonal(3, separation=2.0)
    >>> noisy = oc.LabelNoise(base, 0.2, kind="symmetric")
    >>> noisy.transition.round(2)
    array([[0.8, 0.1, 0.1],
           [0.1, 0.8, 0.1],
           [0.1, 0.1, 0.8]])
    >>> noisy.posterior(np.zeros((1, 3))).round(3)
    array([[0.333, 0.333, 0.333]])
    >>> pair = oc.LabelNoise(base, 0.3, kind="pair", rng=0)
    >>> bool(np.all(pair.partner != np.arange(3)))
    True
    """

    def __init__(self, base, rate, kind="pair", rng=None):
        caller = "LabelNoise"
        self.base = check_distribution(base, "base", caller)
        self.rate = check_real(rate, "rate", caller, low=0.0, high=1.0)
        self.kind = check_option(kind, "kind", caller, ("pair", "symmetric"))
        rng = check_random_state(rng)
        k = base.n_classes
        with np.errstate(divide="ignore"):
            self._log_keep = math.log(1.0 - self.rate) if self.rate < 1.0 else -np.inf
            self._log_flip = math.log(self.rate) if self.rate > 0.0 else -np.inf
        transition = np.eye(k) * (1.0 - self.rate)
        if self.kind == "pair":
            partner = _random_derangement(k, rng)
            transition[np.arange(k), partner] += self.rate
            self.partner = partner
            self.partner.flags.writeable = False
            self._source = np.argsort(partner)  # _source[j]: the class whose partner is j
        else:
            transition += (1.0 - np.eye(k)) * (self.rate / (k - 1))
            self.partner = None
            self._log_spread = self._log_flip - math.log(k - 1)
        transition.flags.writeable = False
        self.transition = transition
        priors = np.asarray(base.priors, dtype=np.float64) @ transition
        priors.flags.writeable = False
        self.priors = priors

    @property
    def n_classes(self) -> int:
        return self.base.n_classes

    @property
    def n_features(self) -> int:
        return self.base.n_features

    def __repr__(self) -> str:
        return f"LabelNoise({self.base!r}, rate={self.rate!r}, kind={self.kind!r})"

    # -- posterior, densities, sampling ---------------------------------------------------

    def _noisy_log_posterior(self, log_eta: np.ndarray) -> np.ndarray:
        """``log(eta @ T)`` from ``log eta``, stably (no exp of the full matrix)."""
        with np.errstate(invalid="ignore"):  # NaN rows (off the support) stay NaN
            if self.kind == "pair":
                return np.logaddexp(self._log_keep + log_eta,
                                    self._log_flip + log_eta[:, self._source])
            return np.logaddexp(self._log_keep + log_eta,
                                self._log_spread + _log_complement(log_eta))

    def _log_posterior(self, X: np.ndarray) -> np.ndarray:
        return self._noisy_log_posterior(self.base._log_posterior(X))

    def _log_joint_and_marginal(self, X):
        # The inputs are untouched by label noise: log pi~(x, j) = log pi_X(x) + log eta~(x)_j.
        log_joint, log_marginal = self.base._log_joint_and_marginal(X)
        with np.errstate(invalid="ignore"):
            log_eta = log_joint - log_marginal[:, None]
        out = self._noisy_log_posterior(log_eta) + log_marginal[:, None]
        out[~np.isfinite(log_marginal)] = -np.inf  # outside the support of pi_X
        return out, log_marginal

    def _class_log_density(self, X: np.ndarray) -> np.ndarray:
        """``log p~(x | j) = log pi_X(x) + log eta~(x)_j - log p~_j``."""
        log_joint, _ = self._log_joint_and_marginal(X)
        with np.errstate(divide="ignore"):
            log_priors = np.log(self.priors)
        with np.errstate(invalid="ignore"):
            out = log_joint - log_priors
        out[:, self.priors == 0] = -np.inf  # a class that never occurs has no density
        return out

    def sample(self, n: int, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``(X, y~)``: a clean sample of ``base``, then labels flipped with ``rng``.

        Parameters
        ----------
        n : int
            Number of samples (>= 0).
        rng : None, int or numpy.random.Generator, optional
            Randomness for both the base sample and the flips.

        Returns
        -------
        X : ndarray of shape (n, n_features)
        y : ndarray of shape (n,), int
            Noisy labels.
        """
        n = self._check_n(n, "sample")
        rng = check_random_state(rng)
        X, y = self.base.sample(n, rng=rng)
        flip = rng.random(n) < self.rate
        if self.kind == "pair":
            noisy = self.partner[y]
        else:
            noisy = (y + rng.integers(1, self.n_classes, size=n)) % self.n_classes
        return X, np.where(flip, noisy, y).astype(np.intp)

    # -- ground truth ---------------------------------------------------------------------

    def segments(self) -> Segments | None:
        """The base's segments with every posterior row mapped through ``T``; None if none."""
        clean = self.base.segments()
        if clean is None:
            return None
        return Segments(clean.left, clean.right, clean.density, clean.posterior @ self.transition)

    def _check_mc(self, n_samples, rng, caller: str):
        caller = f"LabelNoise.{caller}"
        return check_int(n_samples, "n_samples", caller, low=2), check_random_state(rng)

    def _gaussian_two_class(self) -> bool:
        return isinstance(self.base, GaussianMixture) and self.n_classes == 2

    def conditional_entropy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """``H(Y~|X) = E_X[H(eta~(X))]`` in nats, the Bayes NLL of the noisy labels.

        Parameters
        ----------
        n_samples : int, default 1_000_000
            Monte Carlo sample size, used only when neither closed form below applies.
        rng : None, int or numpy.random.Generator, optional
            Randomness for Monte Carlo; validated always, used only by Monte Carlo.

        Returns
        -------
        Estimate
            ``"exact"`` (finite sum over ``base.segments()``), ``"quadrature"`` (two-class
            GaussianMixture base: ``eta~_1 = (1-rho) sigma(lambda) + rho sigma(-lambda)`` with
            the Gaussian log-odds ``lambda``, see :meth:`GaussianMixture.conditional_entropy`)
            or ``"monte-carlo"`` (with its standard error).

        Examples
        --------
        >>> import overlapcal as oc
        >>> noisy = oc.LabelNoise(oc.GaussianMixture.shifted(shift=0.25), 0.1)
        >>> h = noisy.conditional_entropy()
        >>> round(h.value, 4), h.method
        (0.3432, 'quadrature')
        """
        n_samples, rng = self._check_mc(n_samples, rng, "conditional_entropy")
        seg = self.segments()
        if seg is not None:
            return Estimate(seg.expect(entropy(seg.posterior)), 0.0, "exact")
        if self._gaussian_two_class():
            distance, t = self.base._two_class_log_odds()

            def noisy_entropy(lam):
                return _binary_noisy_entropy(lam, self._log_keep, self._log_flip)

            value = _expect_over_log_odds(noisy_entropy, distance, t, self.base.priors)
            return Estimate(value, 0.0, "quadrature")
        return monte_carlo_mean(
            lambda X: entropy(np.exp(self._log_posterior(X))), self.base, n_samples, rng,
            "LabelNoise.conditional_entropy",
        )

    def bayes_accuracy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """Bayes accuracy on noisy labels, ``A~ = E_X[max_j eta~(X)_j]``.

        Parameters
        ----------
        n_samples : int, default 1_000_000
            Monte Carlo sample size, used only when no exact route applies (or by the base).
        rng : None, int or numpy.random.Generator, optional
            Randomness for Monte Carlo; validated always, used only by Monte Carlo.

        Returns
        -------
        Estimate
            In order of preference: ``"exact"`` over ``base.segments()``; for ``k = 2`` the
            affine map ``A~ = (1 + |1 - 2 rho|)/2 - |1 - 2 rho| (1 - A)`` of the base's
            Bayes accuracy (same method, standard error scaled); for symmetric noise with
            ``rho <= (k-1)/k`` the map ``A~ = rho/(k-1) + (1 - rho k/(k-1)) A`` (the argmax is
            unchanged); otherwise ``"monte-carlo"``.

        Notes
        -----
        For two classes ``min(eta~_0, eta~_1) = (1 - |1 - 2 rho|)/2 + |1 - 2 rho|
        min(eta_0, eta_1)``; for symmetric noise ``eta~_j = rho/(k-1) + (1 - rho k/(k-1))
        eta_j`` is increasing in ``eta_j`` while ``rho <= (k-1)/k``.

        Examples
        --------
        >>> import overlapcal as oc
        >>> noisy = oc.LabelNoise(oc.GaussianMixture.shifted(shift=0.25), 0.1)
        >>> acc = noisy.bayes_accuracy()
        >>> round(acc.value, 4), acc.method
        (0.8878, 'exact')
        """
        n_samples, rng = self._check_mc(n_samples, rng, "bayes_accuracy")
        k, rho = self.n_classes, self.rate
        seg = self.segments()
        if seg is not None:
            return Estimate(seg.expect(seg.posterior.max(axis=1)), 0.0, "exact")
        if k == 2:
            slope = abs(1.0 - 2.0 * rho)
            base = self.base.bayes_error(n_samples=n_samples, rng=rng)
            error = (1.0 - slope) / 2 + slope * base.value
            return Estimate(1.0 - error, slope * base.stderr, base.method, base.n_samples)
        if self.kind == "symmetric":
            slope = 1.0 - rho * k / (k - 1)
            if abs(slope) <= 4 * np.finfo(float).eps:  # rho = (k-1)/k: labels carry no information
                return Estimate(1.0 / k, 0.0, "exact")
            if slope > 0.0:
                base = self.base.bayes_accuracy(n_samples=n_samples, rng=rng)
                return Estimate(rho / (k - 1) + slope * base.value, slope * base.stderr,
                                base.method, base.n_samples)
        return monte_carlo_mean(
            lambda X: np.exp(self._log_posterior(X).max(axis=1)), self.base, n_samples, rng,
            "LabelNoise.bayes_accuracy",
        )
