"""Population functionals of a predictor under a distribution with a known posterior.

THEORY.md 1, 2.1 and 4.3. The accuracy ``A(g) = E_X[eta(X)_{argmax g(X)}]``
(:func:`population_accuracy`), the KL risk ``R(g) = E_X[ KL(eta(X) || g(X)) ]`` and the oracle
temperature ``argmin_T R(g_T)``, the last two with the two parts of Proposition 1b:

    KL(eta || g) = KL(Bern(eta_yhat) || Bern(g_yhat)) + (1 - eta_yhat) KL(eta~ || g~),

``yhat = argmax g`` and ``eta~``, ``g~`` the distributions restricted to the other classes and
renormalised: the *top-label* part, which a temperature can fix, and the *runner-up* part, which
records whether the predictor knows which other class is plausible.

How the expectation over ``X ~ pi_X`` is computed (``method="auto"`` picks the first that
applies):

- ``"exact"``: the distribution is 1-D with a piecewise-constant posterior
  (``dist.segments()``) and the predictor is piecewise constant with known breakpoints
  (``predictor.breakpoints()``, see :meth:`overlapcal.Predictor.breakpoints`). Between the merged
  breakpoints both ``eta`` and ``g`` are constant, so ``R`` is a finite sum of
  ``mass * KL(eta || g(midpoint))``.
- ``"quadrature"``: 1-D segments but a predictor that varies continuously: adaptive
  Gauss-Legendre on each segment, cut first at ``predictor.smooth_breakpoints()`` when the
  predictor knows where its logits jump or kink (absolute error below ``1e-10``, estimated; see
  :func:`population_kl`).
- ``"monte-carlo"``: ``X_i ~ pi_X`` and ``R ~ mean_i KL(eta(X_i) || g(X_i))`` with its standard
  error; no label noise enters since ``eta`` is known.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp, xlogy

from ._numerics import kl_rows, log_softmax
from ._validation import (
    check_distribution,
    check_int,
    check_option,
    check_random_state,
    check_real,
)
from .estimate import Estimate
from .recalibration import _Data, _solve, _temperature, _warn_status

__all__ = [
    "population_kl", "oracle_temperature", "population_accuracy", "PopulationKL",
    "OracleTemperature",
]

_METHODS = ("auto", "exact", "quadrature", "monte-carlo")

#: Elements of one (rows, k) block of population computations (8 MiB in float64).
_CHUNK_ELEMENTS = 2**20

#: Oracle designs up to this many logits are kept in memory across Newton passes; larger
#: Monte Carlo designs are regenerated from their per-chunk seeds on every pass.
_CACHE_ELEMENTS = 2**23

#: Quadrature: absolute error budget of the integral, Gauss-Legendre orders compared on each
#: panel, and the most panels added by refinement before giving up.
_QUAD_ATOL = 1e-11
_QUAD_ORDERS = (20, 40)
_QUAD_MAX_PANELS = 2**16


@dataclass(frozen=True)
class PopulationKL(Estimate):
    """The KL risk ``R(g) = E_X[KL(eta(X) || g(X))]`` with its two parts (THEORY.md 4.3, Prop. 1b).

    Attributes
    ----------
    value, stderr, method, n_samples
        As :class:`~overlapcal.Estimate`: ``stderr`` is 0 for ``"exact"`` and ``"quadrature"``
        (whose error is below ``1e-10``), the Monte Carlo standard error otherwise.
    top_label, top_label_stderr : float
        ``E[KL(Bern(eta_yhat) || Bern(g_yhat))]``, ``yhat = argmax g`` (smallest index on ties).
    runner_up, runner_up_stderr : float
        ``E[(1 - eta_yhat) KL(eta~ || g~)]``; ``top_label + runner_up = value``.

    Examples
    --------
    >>> from overlapcal.population import PopulationKL
    >>> kl = PopulationKL(0.5, 0.0, "exact", None, 0.2, 0.0, 0.3, 0.0)
    >>> float(kl), kl.top_label + kl.runner_up
    (0.5, 0.5)
    """

    top_label: float = math.nan
    top_label_stderr: float = 0.0
    runner_up: float = math.nan
    runner_up_stderr: float = 0.0


@dataclass(frozen=True)
class OracleTemperature:
    """The temperature minimising the population KL risk, and the risk there.

    Attributes
    ----------
    temperature : float
        ``T* = argmin_T R(g_T)`` (``inf`` when the uniform prediction is best).
    beta : float
        ``1 / T*``.
    kl : PopulationKL
        ``R(g_{T*})`` with its parts (in-sample for Monte Carlo: the same draws that chose
        ``T*``, so optimistic by ``O(1/n_samples)``).
    kl_at_1 : PopulationKL
        ``R(g)`` of the untouched predictor on the same points.
    n_iter : int
        Newton iterations of the solver.
    converged : bool
        Whether the minimiser was found to tolerance (False when there is none, see ``status``).
    status : str
        ``"converged"``, ``"flat"`` (``R`` does not depend on ``T``; ``T* = 1``),
        ``"separable"`` (``R`` decreases as ``T -> 0``), ``"uniform"`` (``T* = inf``) or
        ``"max_iter"``.

    Examples
    --------
    >>> import overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> X, y = dist.sample(100, rng=0)
    >>> res = oc.oracle_temperature(oc.HardInterpolator(margin=10.0).fit(X, y), dist)
    >>> res.status, res.kl.value < res.kl_at_1.value, round(res.beta * res.temperature, 12)
    ('converged', True, 1.0)
    """

    temperature: float
    beta: float
    kl: PopulationKL
    kl_at_1: PopulationKL
    n_iter: int
    converged: bool
    status: str

    def __float__(self) -> float:
        return float(self.temperature)


# ----------------------------------------------------------------------------------------
# Per-row KL and its parts
# ----------------------------------------------------------------------------------------


def _kl_parts(logits: np.ndarray, eta: np.ndarray, beta: float = 1.0):
    """``KL(eta || softmax(beta h))`` per row, and its top-label and runner-up parts.

    ``logits`` may hold ``-inf`` (impossible classes, probability 0 at every temperature);
    ``beta = 0`` is the uniform prediction over the finite classes. ``yhat = argmax h`` (an
    argmax of ``g`` at every ``beta``). Works on log-probabilities throughout:
    ``log(1 - g_yhat)`` is the ``logsumexp`` of the other log-probabilities, exact when
    ``g_yhat`` rounds to 1.
    """
    if beta == 0.0:
        z = np.where(np.isfinite(logits), 0.0, -np.inf)
    else:
        z = logits * beta
    log_g = log_softmax(z)
    total = kl_rows(eta, log_g)
    rows = np.arange(logits.shape[0])
    yhat = np.argmax(logits, axis=1)
    lg_y, eta_y = log_g[rows, yhat], eta[rows, yhat]
    eta_rest = eta.copy()
    eta_rest[rows, yhat] = 0.0
    rest = eta_rest.sum(axis=1)  # 1 - eta_yhat without cancellation
    lg_rest = log_g.copy()
    lg_rest[rows, yhat] = -np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rest = logsumexp(lg_rest, axis=1)  # log(1 - g_yhat)
        top = (
            xlogy(eta_y, eta_y) - np.where(eta_y > 0, eta_y * lg_y, 0.0)
            + xlogy(rest, rest) - np.where(rest > 0, rest * log_rest, 0.0)
        )
        eta_tilde = eta_rest / np.where(rest > 0, rest, 1.0)[:, None]
        lg_tilde = np.where(np.isfinite(log_rest)[:, None], lg_rest - log_rest[:, None], 0.0)
        # g~ is undefined when g puts all its mass on yhat; the top part is then +inf (rest > 0)
        # or both parts are 0 (rest = 0): the runner-up part is set to 0.
        defined = np.isfinite(log_rest) & (rest > 0)
        runner = np.where(defined, rest * kl_rows(eta_tilde, lg_tilde), 0.0)
    return total, top, runner


class _Accumulator:
    """Weighted sums (deterministic designs) or means with standard errors (Monte Carlo).

    Accumulates ``n_parts`` per-row quantities at once (the KL and its two parts, or one
    accuracy term); ``weight_coarse`` (quadrature) applies to the first part only.
    """

    def __init__(self, method: str, n_parts: int = 3):
        self.method = method
        self.sums = np.zeros(n_parts)
        self.squares = np.zeros(n_parts)
        self.coarse = 0.0
        self.n = 0

    def add(self, parts, weight, weight_coarse=None):
        values = np.vstack(parts)  # (n_parts, m)
        if weight is None:
            self.sums += values.sum(axis=1)
            self.squares += np.square(values).sum(axis=1)
        else:
            with np.errstate(invalid="ignore"):  # 0 * inf on zero-weight rows
                self.sums += np.where(weight > 0, values * weight, 0.0).sum(axis=1)
            if weight_coarse is not None:
                with np.errstate(invalid="ignore"):
                    coarse = np.where(weight_coarse > 0, values[0] * weight_coarse, 0.0)
                    self.coarse += float(coarse.sum())
        self.n += values.shape[1]

    def moments(self):
        """``(values, stderrs, n_samples)``: means and standard errors (Monte Carlo) or the
        weighted sums with zero error (deterministic designs, ``n_samples`` None)."""
        if self.method == "monte-carlo":
            n = self.n
            mean = self.sums / n
            with np.errstate(invalid="ignore"):
                var = np.maximum(self.squares / n - mean * mean, 0.0) * n / (n - 1)
            se = np.sqrt(var / n)
            return mean, np.where(np.isfinite(mean), se, math.nan), n
        return self.sums, np.zeros_like(self.sums), None

    def result(self) -> PopulationKL:
        v, se, n = self.moments()
        return PopulationKL(float(v[0]), float(se[0]), self.method, n,
                            float(v[1]), float(se[1]), float(v[2]), float(se[2]))


# ----------------------------------------------------------------------------------------
# Designs: the points where the predictor is evaluated, with weights and posteriors
# ----------------------------------------------------------------------------------------


class _Design:
    """``chunk(j) -> (X, eta, weight, weight_coarse)`` for ``j < n_chunks``.

    Deterministic designs (exact, quadrature) hold arrays; Monte Carlo regenerates chunk ``j``
    from its own child seed, so every pass sees the same draws (common random numbers).
    """

    def __init__(self, method, n_chunks, chunk, n_rows):
        self.method = method
        self.n_chunks = n_chunks
        self.chunk = chunk
        self.n_rows = n_rows


def _array_design(method, X, posterior, index, weight, weight_coarse, n_classes) -> _Design:
    """Rows ``X`` with posteriors ``posterior[index]`` (gathered chunk by chunk, so a design
    with millions of breakpoints never holds an ``(n_rows, k)`` array)."""
    rows = max(1, _CHUNK_ELEMENTS // n_classes)
    starts = list(range(0, X.shape[0], rows)) or [0]

    def chunk(j):
        sl = slice(starts[j], starts[j] + rows)
        coarse = None if weight_coarse is None else weight_coarse[sl]
        return X[sl], posterior[index[sl]], weight[sl], coarse

    return _Design(method, len(starts), chunk, X.shape[0])


def _breakpoints(predictor, caller, name="breakpoints"):
    """``predictor.<name>()`` (``breakpoints`` or ``smooth_breakpoints``) checked and sorted,
    or None when the predictor has no such method or it returns None."""
    method = getattr(predictor, name, None)
    if not callable(method):
        return None
    points = method()
    if points is None:
        return None
    points = np.asarray(points, dtype=float)
    if points.ndim != 1 or not np.isfinite(points).all():
        raise ValueError(
            f"The predictor's {name}() must return a 1-D array of finite x-values or None "
            f"(in {caller}). Got an array of shape {points.shape} instead."
        )
    return np.unique(points)


def _sub_intervals(segments, points):
    """The segments cut at ``points``: ``(a, b, r)``, sub-interval ends and segment index.

    Only sub-intervals of positive length inside a segment are kept, so ``eta`` is constant on
    each, and so is a predictor whose breakpoints are ``points``.
    """
    inside = points[(points > segments.left[0]) & (points < segments.right[-1])]
    knots = np.unique(np.concatenate([segments.left, segments.right, inside]))
    a, b = knots[:-1], knots[1:]
    mid = 0.5 * (a + b)
    r = np.searchsorted(segments.left, mid, side="right") - 1
    keep = (r >= 0) & (b > a)
    keep[keep] &= mid[keep] < segments.right[r[keep]]
    return a[keep], b[keep], r[keep]


def _exact_design(segments, points, n_classes) -> _Design:
    """Sub-intervals between merged breakpoints: ``mass = density * length`` at each midpoint."""
    a, b, r = _sub_intervals(segments, points)
    mid = 0.5 * (a + b)
    mass = segments.density[r] * (b - a)
    return _array_design("exact", mid[:, None], segments.posterior, r, mass, None, n_classes)


def _quadrature_design(predictor, segments, n_classes, caller) -> _Design:
    """Adaptive Gauss-Legendre on the segments for the KL integrand of ``predictor``.

    The first panels are the segments cut at ``predictor.smooth_breakpoints()`` when it has one
    (points between which its logits are smooth, e.g. the cells of a soft interpolator), so no
    panel has to resolve a jump. Each panel is integrated with orders 20 and 40; a panel whose two
    results differ by more than its share ``_QUAD_ATOL * length / total_length`` of the budget is
    halved. The design holds both node sets (order-40 weights in ``weight``, order-20 in
    ``weight_coarse``) so any later integral on it comes with the same error estimate.
    """
    (x1, w1), (x2, w2) = (np.polynomial.legendre.leggauss(q) for q in _QUAD_ORDERS)
    nodes = np.concatenate([x1, x2])
    smooth = _breakpoints(predictor, caller, "smooth_breakpoints")
    a, b, r = _sub_intervals(segments, np.empty(0) if smooth is None else smooth)
    length = float(np.sum(segments.right - segments.left))
    max_panels = a.size + _QUAD_MAX_PANELS
    done_a, done_b, done_r = [], [], []
    while a.size:
        X, index, wf, wc = _panel_nodes(a, b, r, segments, nodes, w1, w2)
        f = np.empty(X.shape[0])
        step = max(1, _CHUNK_ELEMENTS // n_classes)
        for start in range(0, X.shape[0], step):
            sl = slice(start, start + step)
            logits = _logits(predictor, X[sl], n_classes, caller)
            f[sl] = _kl_parts(logits, segments.posterior[index[sl]])[0]
        f = f.reshape(a.size, -1)
        wf, wc = wf.reshape(a.size, -1), wc.reshape(a.size, -1)
        with np.errstate(invalid="ignore"):
            fine = np.where(wf > 0, f * wf, 0.0).sum(axis=1)
            coarse = np.where(wc > 0, f * wc, 0.0).sum(axis=1)
            err = np.abs(fine - coarse)
        good = (err <= _QUAD_ATOL * (b - a) / length) | ~np.isfinite(fine)
        n_panels = sum(len(x) for x in done_a) + a.size
        if n_panels >= max_panels or np.all(good):
            good[:] = True
        done_a.append(a[good])
        done_b.append(b[good])
        done_r.append(r[good])
        a, b, r = a[~good], b[~good], r[~good]
        mid = 0.5 * (a + b)
        a, b, r = np.concatenate([a, mid]), np.concatenate([mid, b]), np.concatenate([r, r])
    a, b, r = np.concatenate(done_a), np.concatenate(done_b), np.concatenate(done_r)
    X, index, wf, wc = _panel_nodes(a, b, r, segments, nodes, w1, w2)
    return _array_design("quadrature", X, segments.posterior, index, wf, wc, n_classes)


def _panel_nodes(a, b, r, segments, nodes, w1, w2):
    half = 0.5 * (b - a)
    center = 0.5 * (a + b)
    X = (center[:, None] + half[:, None] * nodes[None, :]).reshape(-1, 1)
    scale = (segments.density[r] * half)[:, None]
    n1 = w1.size
    wf = np.zeros((a.size, nodes.size))
    wc = np.zeros((a.size, nodes.size))
    wc[:, :n1] = scale * w1
    wf[:, n1:] = scale * w2
    return X, np.repeat(r, nodes.size), wf.ravel(), wc.ravel()


def _monte_carlo_design(dist, n_samples, rng, n_classes) -> _Design:
    rows = max(1, _CHUNK_ELEMENTS // max(n_classes, dist.n_features))
    sizes = [min(rows, n_samples - s) for s in range(0, n_samples, rows)]
    base = np.random.SeedSequence(rng.integers(0, 2**63, size=4))
    seeds = base.spawn(len(sizes))

    def chunk(j):
        X, _ = dist.sample(sizes[j], rng=np.random.default_rng(seeds[j]))
        return X, dist.posterior(X), None, None

    return _Design("monte-carlo", len(sizes), chunk, n_samples)


def _make_design(predictor, dist, method, n_samples, rng, caller) -> _Design:
    k = dist.n_classes
    segments = dist.segments() if dist.n_features == 1 else None
    points = _breakpoints(predictor, caller) if segments is not None else None
    if method == "auto":
        if segments is None:
            method = "monte-carlo"
        else:
            method = "exact" if points is not None else "quadrature"
    if method == "exact":
        if segments is None or points is None:
            raise ValueError(
                f"The 'method' parameter of {caller} can be 'exact' only for a 1-feature "
                "distribution with segments() and a predictor with breakpoints(). "
                f"Got {type(dist).__name__} with n_features={dist.n_features} and "
                f"{type(predictor).__name__} instead."
            )
        return _exact_design(segments, points, k)
    if method == "quadrature":
        if segments is None:
            raise ValueError(
                f"The 'method' parameter of {caller} can be 'quadrature' only for a 1-feature "
                f"distribution with segments(). Got {type(dist).__name__} with "
                f"n_features={dist.n_features} instead."
            )
        return _quadrature_design(predictor, segments, k, caller)
    return _monte_carlo_design(dist, n_samples, rng, k)


# ----------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------


def _check_inputs(predictor, dist, method, n_samples, rng, caller, methods=_METHODS):
    check_distribution(dist, "dist", caller)
    if not callable(getattr(predictor, "logits", None)):
        raise TypeError(
            f"The 'predictor' parameter of {caller} must have a logits(X) method (an overlapcal "
            f"Predictor). Got {type(predictor).__name__} instead."
        )
    from .predictors import Predictor

    if isinstance(predictor, Predictor) and not hasattr(predictor, "n_features_in_"):
        raise RuntimeError(
            f"The 'predictor' parameter of {caller} is a {type(predictor).__name__} that is not "
            "fitted yet. Call its 'fit' first."
        )
    expectations = (("n_features_in_", dist.n_features), ("n_classes_", dist.n_classes))
    for attribute, expected in expectations:
        value = getattr(predictor, attribute, None)
        if value is not None and value != expected:
            raise ValueError(
                f"The 'predictor' parameter of {caller} must have {attribute} = {expected} to "
                f"match the distribution. Got {value} instead."
            )
    method = check_option(method, "method", caller, methods)
    n_samples = check_int(n_samples, "n_samples", caller, low=2)
    return method, n_samples, check_random_state(rng)


def _logits(predictor, X, n_classes, caller):
    """The predictor's logits at ``X`` in float64: ``-inf`` allowed, NaN and ``+inf`` not."""
    h = np.asarray(predictor.logits(X), dtype=np.float64)
    if h.shape != (X.shape[0], n_classes):
        raise ValueError(
            f"The predictor's logits in {caller} must have shape ({X.shape[0]}, {n_classes}). "
            f"Got an array of shape {h.shape} instead."
        )
    bad = np.isnan(h) | np.isposinf(h) | ~np.isfinite(h).any(axis=1, keepdims=True)
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"The predictor's logits in {caller} must be finite or -inf with a finite entry in "
            f"every row. Got {h[i].tolist()[:8]} at x = {X[i].tolist()[:4]} instead."
        )
    return h


def _accumulate(design, values, n_parts) -> _Accumulator:
    """Sum ``values(X, eta) -> n_parts arrays of shape (m,)`` over the design's chunks."""
    acc = _Accumulator(design.method, n_parts)
    for j in range(design.n_chunks):
        X, eta, w, wc = design.chunk(j)
        if X.shape[0] == 0:
            continue
        acc.add(values(X, eta), w, wc)
    return acc


def _estimate(predictor, design, n_classes, beta, caller) -> PopulationKL:
    acc = _accumulate(
        design, lambda X, eta: _kl_parts(_logits(predictor, X, n_classes, caller), eta, beta), 3
    )
    result = acc.result()
    if design.method == "quadrature" and math.isfinite(result.value):
        error = abs(result.value - acc.coarse)
        if error > 10 * _QUAD_ATOL:
            warnings.warn(
                f"{caller}: the quadrature error estimate is {error:.1e} (> 1e-10); the "
                "integrand is not resolved by the adaptive Gauss-Legendre panels.",
                UserWarning, stacklevel=3,
            )
    return result


# ----------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------


def population_kl(predictor, dist, *, n_samples=100_000, rng=None, method="auto") -> PopulationKL:
    """The KL risk ``R(g) = E_X[KL(eta(X) || g(X))]`` of a predictor, with its two parts.

    Parameters
    ----------
    predictor : Predictor
        Anything with ``logits(X) -> (n, k)``; logits may be ``-inf`` for impossible classes.
        A piecewise-constant 1-feature predictor exposes ``breakpoints()`` for the exact path.
    dist : Distribution
        Supplies ``pi_X`` (``sample``) and ``eta`` (``posterior`` or ``segments``).
    n_samples : int, default=100_000
        Draws for Monte Carlo (``>= 2``); ignored by the deterministic methods.
    rng : None, int, SeedSequence or Generator, optional
        Randomness of Monte Carlo. Chunks of ``2**20 // max(k, d)`` draws come from independent
        child streams, so the same seed gives the same numbers.
    method : {"auto", "exact", "quadrature", "monte-carlo"}, default="auto"
        See the module docstring; ``"auto"`` takes the first that applies.

    Returns
    -------
    PopulationKL
        ``value``, ``stderr`` (0 unless Monte Carlo), ``method``, ``n_samples`` and the parts
        ``top_label`` and ``runner_up`` (with standard errors).

    Raises
    ------
    TypeError
        If ``dist`` is not a Distribution or ``predictor`` has no ``logits``; a bad ``rng``.
    ValueError
        For a bad ``method`` or ``n_samples``, a method that does not apply, a predictor whose
        ``n_classes_`` / ``n_features_in_`` do not match the distribution, or logits that are
        NaN, ``+inf`` or ``-inf`` on a whole row.

    Warns
    -----
    UserWarning
        If the quadrature error estimate exceeds ``1e-10``.

    Notes
    -----
    THEORY.md 2.1: ``R(g) = E_X[KL(eta(X) || g(X))]`` and ``NLL(g) = H(Y|X) + R(g)``;
    THEORY.md 4.3, Proposition 1b for the parts. Computed from ``log g = log_softmax(h)`` with
    :func:`overlapcal._numerics.kl_rows`, so huge logits keep full precision; ``R = inf`` when
    ``g`` gives probability 0 to a possible class. The exact path is exact up to float64
    rounding of the interval ends; the quadrature path compares Gauss-Legendre orders 20 and 40
    on each panel and halves panels until the estimated absolute error is below ``1e-11``
    overall (at most ``2**16`` panels besides the initial ones: the segments, cut at
    ``predictor.smooth_breakpoints()`` when the predictor has that method), and reports the
    order-40 sum.

    Examples
    --------
    >>> import math, overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> bayes = oc.BayesPredictor(dist)
    >>> kl = oc.population_kl(oc.TemperatureScaled(bayes, 2.0), dist)  # exact: segments
    >>> kl.method, round(kl.value, 12)
    ('exact', 0.0)
    >>> class Uniform(oc.Predictor):
    ...     n_classes_, n_features_in_ = 4, 1
    ...     def _logits(self, X):
    ...         return np.zeros((X.shape[0], 4))
    ...     def breakpoints(self):
    ...         return np.array([])
    >>> import numpy as np
    >>> kl = oc.population_kl(Uniform(), dist)
    >>> round(kl.value, 6), round(math.log(4) - 0.5 * math.log(2), 6)  # log k - H(Y|X)
    (1.039721, 1.039721)
    >>> mc = oc.population_kl(Uniform(), dist, method="monte-carlo", n_samples=10_000, rng=0)
    >>> abs(mc.value - kl.value) < 4 * mc.stderr
    True
    """
    caller = "population_kl"
    method, n_samples, rng = _check_inputs(predictor, dist, method, n_samples, rng, caller)
    design = _make_design(predictor, dist, method, n_samples, rng, caller)
    return _estimate(predictor, design, dist.n_classes, 1.0, caller)


def oracle_temperature(predictor, dist, *, n_samples=100_000, rng=None, method="auto",
                       tol=None, max_iter=100) -> OracleTemperature:
    """The oracle temperature ``T* = argmin_T R(g_T)`` and the KL risk there.

    Parameters
    ----------
    predictor : Predictor
        As :func:`population_kl`.
    dist : Distribution
        As :func:`population_kl`.
    n_samples : int, default=100_000
        Monte Carlo draws (common to every temperature).
    rng : None, int, SeedSequence or Generator, optional
        Randomness of Monte Carlo; with the same int seed, ``kl_at_1`` equals
        ``population_kl(predictor, dist, n_samples=n_samples, rng=seed)``.
    method : {"auto", "exact", "quadrature", "monte-carlo"}, default="auto"
        As :func:`population_kl`.
    tol : float in (0, 1) or None, default=None
        Gradient tolerance of the solver, as in :class:`~overlapcal.TemperatureScaling`.
    max_iter : int, default=100
        Newton iterations.

    Returns
    -------
    OracleTemperature
        ``temperature``, ``beta``, ``kl`` (a :class:`PopulationKL` at ``T*``, with its parts),
        ``kl_at_1``, ``n_iter``, ``converged``, ``status``.

    Raises
    ------
    TypeError, ValueError
        As :func:`population_kl`; also a bad ``tol`` or ``max_iter``, and a predictor that gives
        probability 0 to a possible class (``R = inf`` at every temperature).

    Warns
    -----
    CalibrationWarning
        When ``R(g_T)`` has no interior minimiser: constant logits (``T* = 1`` by convention),
        ``eta`` on the argmax set everywhere (``R`` decreases as ``T -> 0``; the bound of
        :class:`~overlapcal.TemperatureScaling` is returned), or ``R'(beta = 0) >= 0``
        (``T* = inf``, uniform).

    Notes
    -----
    THEORY.md 3, oracle TS. With ``h`` the logits and ``beta = 1/T``,

        R(beta) = E[ <eta, log eta> - beta <eta, h> + logsumexp(beta h) ],

    the same convex problem as fitted temperature scaling with the posterior ``eta`` as soft
    targets and the design weights (interval masses, quadrature weights, or ``1/n`` for Monte
    Carlo draws) as sample weights; it is solved by the same safeguarded Newton solver
    (``overlapcal.recalibration``). For the hard interpolator ``h = B e_yhat`` with accuracy
    ``A >= 1/k`` (THEORY.md 4.3, Proposition 1), ``g_{T*}`` puts ``p = A`` on ``yhat`` and
    ``min_T R = H_b(A) + (1 - A) log(k - 1) - H(Y|X)``.

    Examples
    --------
    >>> import math, numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> class Hard(oc.Predictor):  # h = 5 e_yhat, yhat = the Bayes classifier
    ...     n_classes_, n_features_in_ = 4, 1
    ...     def _logits(self, X):
    ...         return 5.0 * np.eye(4)[dist.predict_bayes(X)]
    ...     def breakpoints(self):
    ...         return oc.BayesPredictor(dist).breakpoints()
    >>> res = oc.oracle_temperature(Hard(), dist)
    >>> A = dist.bayes_accuracy().value
    >>> H = dist.conditional_entropy().value
    >>> bound = -A * math.log(A) - (1 - A) * math.log((1 - A) / 3) - H  # Proposition 1
    >>> round(res.kl.value, 10) == round(bound, 10), res.kl.method
    (True, 'exact')
    """
    caller = "oracle_temperature"
    method, n_samples, rng = _check_inputs(predictor, dist, method, n_samples, rng, caller)
    if tol is not None:
        tol = check_real(tol, "tol", caller, low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False)
    max_iter = check_int(max_iter, "max_iter", caller, low=1)
    k = dist.n_classes
    design = _make_design(predictor, dist, method, n_samples, rng, caller)

    def make(j):
        X, eta, w, _ = design.chunk(j)
        return _logits(predictor, X, k, caller), eta, w

    cache = design.n_rows * k <= _CACHE_ELEMENTS
    data = _Data(make, design.n_chunks, k, cache=cache, allow_inf=True)
    try:
        sol = _solve(data, rtol=tol, max_iter=max_iter)
    except ValueError as exc:
        if "infinite" not in str(exc):
            raise
        raise ValueError(
            f"The 'predictor' parameter of {caller} must give positive probability to every "
            "class with positive posterior probability; its KL risk is infinite at every "
            f"temperature ({exc})"
        ) from None
    temperature = _temperature(sol.beta)
    _warn_status(sol.status, caller, temperature, capped=sol.capped)
    return OracleTemperature(
        temperature=temperature,
        beta=sol.beta,
        kl=_estimate(predictor, design, k, sol.beta, caller),
        kl_at_1=_estimate(predictor, design, k, 1.0, caller),
        n_iter=sol.n_iter,
        converged=sol.converged,
        status=sol.status,
    )


def population_accuracy(predictor, dist, *, n_samples=100_000, rng=None,
                        method="auto") -> Estimate:
    """The accuracy ``A(g) = P(Y = argmax g(X)) = E_X[eta(X)_{argmax g(X)}]`` of a predictor.

    Parameters
    ----------
    predictor : Predictor
        Anything with ``logits(X) -> (n, k)``; ``argmax`` takes the smallest index on ties (as
        :meth:`overlapcal.Predictor.predict` and the top-label part of :func:`population_kl`).
        A piecewise-constant 1-feature predictor exposes ``breakpoints()`` for the exact path.
    dist : Distribution
        Supplies ``pi_X`` (``sample``) and ``eta`` (``posterior`` or ``segments``).
    n_samples : int, default=100_000
        Draws for Monte Carlo (``>= 2``); ignored by the exact method.
    rng : None, int, SeedSequence or Generator, optional
        Randomness of Monte Carlo (the draws of :func:`population_kl` with the same seed).
    method : {"auto", "exact", "monte-carlo"}, default="auto"
        ``"exact"``: a 1-feature distribution with ``segments()`` and a predictor with
        ``breakpoints()``; ``"auto"`` uses it when it applies and Monte Carlo otherwise. There is
        no quadrature path: the integrand jumps wherever the argmax does.

    Returns
    -------
    Estimate
        ``value``, ``stderr`` (0 for ``"exact"``), ``method`` and ``n_samples``.

    Raises
    ------
    TypeError
        If ``dist`` is not a Distribution or ``predictor`` has no ``logits``; a bad ``rng``.
    ValueError
        For a bad ``method`` or ``n_samples``, ``"exact"`` where it does not apply, a predictor
        whose ``n_classes_`` / ``n_features_in_`` do not match the distribution, or logits that
        are NaN, ``+inf`` or ``-inf`` on a whole row.

    Notes
    -----
    THEORY.md 1: ``A(g) = P(Y = argmax g(X))``; conditioning on ``X``,
    ``A = E_X[eta(X)_{yhat(X)}]``. The exact path is the finite sum
    ``sum_j mass_j eta_j[yhat(mid_j)]`` over the segments cut at the predictor's breakpoints (the
    design of :func:`population_kl`); Monte Carlo averages ``eta(X_i)_{yhat(X_i)}`` over
    ``X_i ~ pi_X``, which has no label noise (its variance is at most that of the 0/1 loss).
    ``A`` is the quantity of Proposition 1 (the oracle temperature of a hard interpolator puts
    ``p = A`` on its label) and of Corollary 2 (``A <= A*``, the Bayes accuracy).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> acc = oc.population_accuracy(oc.BayesPredictor(dist), dist)  # exact: segments
    >>> print(f"{acc.value:.4f} {acc.method} {dist.bayes_accuracy().value:.4f}")
    0.7500 exact 0.7500
    >>> mc = oc.population_accuracy(oc.BayesPredictor(dist), dist, method="monte-carlo",
    ...                             n_samples=10_000, rng=0)
    >>> abs(mc.value - 0.75) < 4 * mc.stderr
    True
    """
    caller = "population_accuracy"
    method, n_samples, rng = _check_inputs(predictor, dist, method, n_samples, rng, caller,
                                           ("auto", "exact", "monte-carlo"))
    k = dist.n_classes
    if method == "auto":
        exact = (dist.n_features == 1 and dist.segments() is not None
                 and _breakpoints(predictor, caller) is not None)
        method = "exact" if exact else "monte-carlo"
    design = _make_design(predictor, dist, method, n_samples, rng, caller)

    def correct(X, eta):
        yhat = np.argmax(_logits(predictor, X, k, caller), axis=1)
        return (eta[np.arange(X.shape[0]), yhat],)

    v, se, n = _accumulate(design, correct, 1).moments()
    return Estimate(float(v[0]), float(se[0]), design.method, n)
