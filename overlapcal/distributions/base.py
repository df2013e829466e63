"""The Distribution interface: sampling, exact posteriors and ground-truth functionals.

A distribution ``pi`` on ``R^d x [k]`` is given by class priors ``p_c`` and class-conditional
densities ``p(x | c)``. Everything else follows:

    log pi_X(x)       = logsumexp_c( log p_c + log p(x | c) )
    log eta(x)_c      = log p_c + log p(x | c) - log pi_X(x)
    H(Y|X)            = E_X[ H(eta(X)) ]
    A*                = E_X[ max_c eta(X)_c ]               (Bayes accuracy)

Subclasses implement ``sample`` and ``class_log_density`` and override the functionals with
closed forms where they exist; the defaults here are Monte Carlo means with a standard error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .._numerics import entropy
from .._validation import check_int, check_random_state, check_X
from ..estimate import Estimate

__all__ = ["Distribution", "Segments", "monte_carlo_mean"]

#: Rows processed at once by chunked computations (keeps (chunk, k) float64 blocks near 256 MiB
#: for k = 1000 and far below for small k).
CHUNK_ELEMENTS = 2**25


def chunk_rows(n_columns: int) -> int:
    """Rows per chunk so that a ``(rows, n_columns)`` float64 block holds ~``CHUNK_ELEMENTS``.

    Examples
    --------
    >>> from overlapcal.distributions.base import CHUNK_ELEMENTS, chunk_rows
    >>> chunk_rows(1000) * 1000 <= CHUNK_ELEMENTS, chunk_rows(0) == CHUNK_ELEMENTS
    (True, True)
    """
    return max(1, CHUNK_ELEMENTS // max(1, n_columns))


def monte_carlo_mean(function, dist: "Distribution", n_samples: int, rng, caller: str) -> Estimate:
    """Estimate ``E_X[function(X)]`` for ``X ~ pi_X`` with its standard error.

    ``function`` maps an ``(m, d)`` array to ``(m,)`` values; draws are made in chunks so memory
    stays bounded whatever ``n_samples`` is.

    Parameters
    ----------
    function : callable
        ``(m, n_features)`` inputs to ``(m,)`` real values.
    dist : Distribution
        The inputs are ``dist.sample(m, rng=rng)[0]``, chunk after chunk from one ``rng``.
    n_samples : int >= 2
        Total draws ``n``.
    rng : None, int or numpy Generator
    caller : str
        Named in the error message of a bad ``n_samples``.

    Returns
    -------
    Estimate
        ``method="monte-carlo"``, with ``n_samples``.

    Raises
    ------
    ValueError
        ``n_samples`` is not an int >= 2.

    Notes
    -----
    With values ``v_1, ..., v_n``: ``value = (1/n) sum_i v_i`` and ``stderr = s / sqrt(n)``
    with the unbiased sample variance ``s^2 = (sum_i v_i^2 / n - value^2) n / (n - 1)``
    (clipped at 0 against rounding).

    Examples
    --------
    ``E[X]`` under two overlapping uniform classes on [0, 1] and [0.5, 1.5] is 0.75:

    >>> import overlapcal as oc
    >>> from overlapcal.distributions.base import monte_carlo_mean
    >>> dist = oc.OverlappingUniform(2, overlap=0.5)
    >>> est = monte_carlo_mean(lambda X: X[:, 0], dist, 10_000, 0, "example")
    >>> est.method, est.n_samples, abs(est.value - 0.75) < 4 * est.stderr
    ('monte-carlo', 10000, True)
    """
    n_samples = check_int(n_samples, "n_samples", caller, low=2)
    rng = check_random_state(rng)
    step = chunk_rows(max(dist.n_features, dist.n_classes))
    total = 0.0
    total_sq = 0.0
    done = 0
    while done < n_samples:
        m = min(step, n_samples - done)
        X, _ = dist.sample(m, rng=rng)
        values = np.asarray(function(X), dtype=float)
        total += values.sum()
        total_sq += np.square(values).sum()
        done += m
    mean = total / n_samples
    var = max(total_sq / n_samples - mean * mean, 0.0) * n_samples / (n_samples - 1)
    return Estimate(float(mean), float(np.sqrt(var / n_samples)), "monte-carlo", n_samples)


@dataclass(frozen=True)
class Segments:
    """A posterior that is piecewise constant along the first axis, as a list of intervals.

    On ``[left[r], right[r])`` the marginal density of the first coordinate is ``density[r]``
    and the posterior is ``posterior[r]``; only intervals of positive density are listed, sorted
    and disjoint. Any expectation ``E_X[f(eta(X))]`` is then the finite sum
    ``sum_r mass[r] * f(posterior[r])``, and ``E_X[F(X)]`` for a function of ``x_0`` is a sum of
    1-D integrals over the intervals.

    Examples
    --------
    Two classes on [0, 1] and [0.5, 1.5]: three elementary intervals.

    >>> import overlapcal as oc
    >>> seg = oc.OverlappingUniform(2, overlap=0.5).segments()
    >>> seg.left, seg.right, seg.mass
    (array([0. , 0.5, 1. ]), array([0.5, 1. , 1.5]), array([0.25, 0.5 , 0.25]))
    >>> seg.posterior
    array([[1. , 0. ],
           [0.5, 0.5],
           [0. , 1. ]])
    >>> seg.expect(seg.posterior.max(axis=1))  # A* = sum_r mass_r max_c eta_rc
    0.75
    """

    left: np.ndarray
    right: np.ndarray
    density: np.ndarray
    posterior: np.ndarray

    @property
    def mass(self) -> np.ndarray:
        """``pi_X([left, right))`` for each interval; sums to 1."""
        return self.density * (self.right - self.left)

    def expect(self, values: np.ndarray) -> float:
        """``sum_r mass[r] * values[r]`` for per-interval values of shape (r,)."""
        return float(np.dot(self.mass, values))


class Distribution(ABC):
    """Base class of labelled distributions with known posteriors.

    A subclass sets the three attributes and implements ``sample`` and
    ``_class_log_density`` (validated ``X`` of shape ``(n, d)`` in, ``log p(x | c)`` of shape
    ``(n, k)`` out, ``-inf`` off a class's support); densities, posteriors, the Bayes
    classifier and Monte Carlo ground truth follow. Built-in subclasses override the
    functionals with closed forms or quadrature (:class:`~overlapcal.OverlappingUniform`,
    :class:`~overlapcal.GaussianMixture`, :class:`~overlapcal.LabelNoise`).

    Attributes
    ----------
    n_classes : int
        Number of classes ``k``.
    n_features : int
        Input dimension ``d``.
    priors : ndarray of shape (n_classes,)
        Class probabilities ``p_c``.

    Notes
    -----
    THEORY.md 1: a distribution ``pi`` on ``R^d x [k]`` with priors ``p_c`` and class
    densities ``p(x | c)`` has

    * marginal ``log pi_X(x) = logsumexp_c(log p_c + log p(x | c))``
      (:meth:`log_marginal_density`);
    * posterior ``log eta(x)_c = log p_c + log p(x | c) - log pi_X(x)``
      (:meth:`log_posterior`, :meth:`posterior`; NaN where ``pi_X(x) = 0``);
    * Bayes classifier ``argmax_c eta(x)_c`` (:meth:`predict_bayes`);
    * conditional entropy ``H(Y|X) = E_X[H(eta(X))]``, the Bayes NLL and the floor of every
      predictor's NLL (:meth:`conditional_entropy`);
    * Bayes accuracy ``A* = E_X[max_c eta(X)_c]`` (:meth:`bayes_accuracy`).

    The defaults of the last two are Monte Carlo means over ``n_samples`` draws of ``pi_X``
    (:func:`~overlapcal.distributions.base.monte_carlo_mean`), returned as an
    :class:`~overlapcal.Estimate` with its standard error.

    Examples
    --------
    Two unit Gaussians at -1 and +1 with equal priors, written from scratch: the posterior
    is ``eta(x)_1 = sigmoid(2 x)`` and the Bayes accuracy ``Phi(1) = 0.8413``.

    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> from overlapcal import Distribution
    >>> class TwoGaussians(Distribution):
    ...     n_classes, n_features, priors = 2, 1, np.array([0.5, 0.5])
    ...     def sample(self, n, *, rng=None):
    ...         rng = np.random.default_rng(rng)
    ...         y = rng.integers(0, 2, size=n)
    ...         return (2.0 * y - 1.0 + rng.standard_normal(n))[:, None], y
    ...     def _class_log_density(self, X):
    ...         return norm.logpdf(X - np.array([-1.0, 1.0]))
    >>> dist = TwoGaussians()
    >>> dist.posterior([[0.0], [1.0]])
    array([[0.5       , 0.5       ],
           [0.11920292, 0.88079708]])
    >>> dist.predict_bayes([[-0.3], [0.2]])
    array([0, 1])
    >>> acc = dist.bayes_accuracy(n_samples=100_000, rng=0)
    >>> acc.method, bool(abs(acc.value - norm.cdf(1.0)) < 4 * acc.stderr)
    ('monte-carlo', True)
    """

    n_classes: int
    n_features: int
    priors: np.ndarray

    @abstractmethod
    def sample(self, n: int, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` i.i.d. pairs; returns ``X`` of shape (n, d) and ``y`` of shape (n,)."""

    @abstractmethod
    def _class_log_density(self, X: np.ndarray) -> np.ndarray:
        """``log p(x | c)`` for validated ``X``; shape (n, k); ``-inf`` outside a class's support."""

    # -- densities and posteriors ---------------------------------------------------------

    def _check_X(self, X, caller: str) -> np.ndarray:
        return check_X(X, self.n_features, f"{type(self).__name__}.{caller}")

    def class_log_density(self, X) -> np.ndarray:
        """``log p(x | c)`` for every class; shape (n_samples, n_classes)."""
        return self._class_log_density(self._check_X(X, "class_log_density"))

    def log_marginal_density(self, X) -> np.ndarray:
        """``log pi_X(x) = logsumexp_c(log p_c + log p(x | c))``; shape (n_samples,)."""
        X = self._check_X(X, "log_marginal_density")
        return self._log_joint_and_marginal(X)[1]

    def _log_joint_and_marginal(self, X):
        with np.errstate(divide="ignore"):
            log_joint = self._class_log_density(X) + np.log(self.priors)
        return log_joint, logsumexp(log_joint, axis=1)

    def _log_posterior(self, X: np.ndarray) -> np.ndarray:
        log_joint, log_marginal = self._log_joint_and_marginal(X)
        with np.errstate(invalid="ignore"):
            out = log_joint - log_marginal[:, None]
        # Outside the support (pi_X(x) = 0) the posterior is undefined: NaN, documented.
        out[~np.isfinite(log_marginal)] = np.nan
        return out

    def log_posterior(self, X) -> np.ndarray:
        """``log eta(x)``; ``-inf`` where a class is impossible, NaN where ``pi_X(x) = 0``."""
        return self._log_posterior(self._check_X(X, "log_posterior"))

    def posterior(self, X) -> np.ndarray:
        """``eta(x)_c = pi(Y = c | X = x)``; shape (n_samples, n_classes); NaN off the support."""
        return np.exp(self._log_posterior(self._check_X(X, "posterior")))

    def predict_bayes(self, X) -> np.ndarray:
        """The Bayes classifier ``argmax_c eta(x)_c`` (ties go to the smallest class index)."""
        return np.argmax(self._log_posterior(self._check_X(X, "predict_bayes")), axis=1)

    # -- ground-truth functionals (Monte Carlo defaults; subclasses override) -------------

    def conditional_entropy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """``H(Y|X) = E_X[H(eta(X))]`` in nats (the Bayes NLL), estimated by Monte Carlo."""
        return monte_carlo_mean(
            lambda X: entropy(np.exp(self._log_posterior(X))), self, n_samples, rng,
            f"{type(self).__name__}.conditional_entropy",
        )

    def bayes_accuracy(self, *, n_samples: int = 1_000_000, rng=None) -> Estimate:
        """``A* = E_X[max_c eta(X)_c]``, the best accuracy of any classifier (Monte Carlo)."""
        return monte_carlo_mean(
            lambda X: np.exp(self._log_posterior(X).max(axis=1)), self, n_samples, rng,
            f"{type(self).__name__}.bayes_accuracy",
        )

    def bayes_error(self, **kwargs) -> Estimate:
        """``1 - A*``, with the same method and standard error as :meth:`bayes_accuracy`."""
        acc = self.bayes_accuracy(**kwargs)
        return Estimate(1.0 - acc.value, acc.stderr, acc.method, acc.n_samples)

    def segments(self) -> Segments | None:
        """The exact piecewise-constant structure along the first axis, or None if there is none.

        Distributions whose posterior depends only on ``x_0`` and is piecewise constant in it
        (overlapping uniform groups and label noise on them) return :class:`Segments`; exact
        population functionals use it in place of Monte Carlo.
        """
        return None

    def sample_inputs(self, n: int, *, rng=None) -> np.ndarray:
        """Draw ``n`` inputs from the marginal ``pi_X``."""
        return self.sample(n, rng=rng)[0]

    def _check_n(self, n, caller: str) -> int:
        return check_int(n, "n", f"{type(self).__name__}.{caller}", low=0)
