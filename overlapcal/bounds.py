"""The closed forms of the theory: the uniform predictor's risk, Proposition 1 and Corollary 2.

THEORY.md 2.2 and 4.3. A hard interpolator ``h = B e_{yhat}`` with accuracy ``A`` on a
distribution with conditional entropy ``H = H(Y|X)`` has, at temperature ``T``,

    R(g_T) = -H - A log p - (1 - A) log((1 - p) / (k - 1)),   p = e^{B/T} / (e^{B/T} + k - 1),

whose minimum over ``T`` is ``f(A) - H`` with ``f(A) = H_b(A) + (1 - A) log(k - 1)`` when
``A >= 1/k`` (the oracle temperature puts ``p = A`` on the argmax), and the uniform predictor's
``log k - H`` otherwise. ``f`` decreases on ``[1/k, 1]`` and no classifier beats the Bayes
accuracy ``A*``, so ``f(A*) - H`` bounds every hard interpolator after oracle TS (Corollary 2).

These are the formulas; :func:`overlapcal.population_kl` and :func:`overlapcal.oracle_temperature`
compute the same quantities numerically for any predictor, and ``proofs_check`` checks that the
two agree.
"""

from __future__ import annotations

import math

import numpy as np

from ._numerics import binary_entropy
from ._validation import check_distribution, check_int, check_real, param_error
from .estimate import Estimate

__all__ = [
    "uniform_risk",
    "hard_interpolator_risk",
    "oracle_hard_interpolator_risk",
    "oracle_confidence",
    "corollary2_f",
    "ts_lower_bound",
]


def _check_common(accuracy, n_classes, caller):
    k = check_int(n_classes, "n_classes", caller, low=2)
    a = check_real(accuracy, "accuracy", caller, low=0.0, high=1.0)
    return a, k


def _check_entropy(conditional_entropy, a, k, caller):
    """``0 <= H(Y|X) <= f(A)``: Fano's inequality holds for every classifier of accuracy ``A``
    (and ``f(A) <= log k``), so a larger entropy describes no distribution (and would give a
    negative KL risk). 1e-9 absorbs rounding in the caller's ``H`` and ``A``."""
    h = check_real(conditional_entropy, "conditional_entropy", caller, low=0.0)
    fano = corollary2_f(a, k)
    if h > fano + 1e-9:
        raise param_error(
            "conditional_entropy", caller,
            f"at most f(A) = H_b(A) + (1 - A) log(k - 1) = {fano:.6g} for accuracy {a:g} and "
            f"k = {k} (Fano's inequality; it is at most log k = {math.log(k):.6g} in any case)",
            h)
    return h


def corollary2_f(accuracy, n_classes: int) -> float:
    """``f(A) = H_b(A) + (1 - A) log(k - 1)``: the KL-plus-entropy of the best-tempered hard interpolator.

    Parameters
    ----------
    accuracy : float in [0, 1]
        ``A = P(Y = yhat(X))``.
    n_classes : int >= 2
        ``k``.

    Returns
    -------
    float
        ``f(A)``, decreasing on ``[1/k, 1]`` from ``log k`` to 0 (THEORY.md 4.3, Corollary 2).

    Examples
    --------
    >>> import math
    >>> round(corollary2_f(0.75, 10), 6), round(corollary2_f(0.1, 10) - math.log(10), 12)
    (1.111641, 0.0)
    """
    a, k = _check_common(accuracy, n_classes, "corollary2_f")
    return float(binary_entropy(a)) + (1.0 - a) * math.log(k - 1)


def oracle_confidence(accuracy, n_classes: int) -> float:
    """The top-label probability ``p* = max(A, 1/k)`` a hard interpolator gets at the oracle temperature.

    Proposition 1: ``R(g_T)`` is the cross-entropy of ``Bern(A)`` against ``Bern(p)`` plus
    constants, minimized at ``p = A``; ``p`` ranges over ``(1/k, 1)`` as ``T`` goes from
    ``inf`` to 0, so for ``A < 1/k`` the infimum is the uniform predictor (``p = 1/k``).
    The oracle temperature itself is ``T* = B / log(p* (k - 1) / (1 - p*))`` for margin ``B``.

    Examples
    --------
    >>> oracle_confidence(0.75, 10), oracle_confidence(0.05, 10)
    (0.75, 0.1)
    """
    a, k = _check_common(accuracy, n_classes, "oracle_confidence")
    return max(a, 1.0 / k)


def hard_interpolator_risk(accuracy, n_classes: int, conditional_entropy, *, margin=1.0,
                           temperature=1.0) -> float:
    """Proposition 1: the KL risk of the hard interpolator ``h = B e_{yhat}`` at temperature ``T``.

    Parameters
    ----------
    accuracy : float in [0, 1]
        ``A = P(Y = yhat(X))`` (e.g. :func:`overlapcal.population_accuracy`).
    n_classes : int >= 2
        ``k``.
    conditional_entropy : float in [0, f(A)]
        ``H(Y|X)`` of the distribution (at most ``f(A)`` by Fano's inequality).
    margin : float > 0, default 1.0
        ``B``.
    temperature : float > 0, default 1.0
        ``T``.

    Returns
    -------
    float
        ``R(g_T) = -H - A log p - (1 - A) log((1 - p) / (k - 1))`` with
        ``p = e^{B/T} / (e^{B/T} + k - 1)``, evaluated in log space (exact for huge ``B/T``).

    Examples
    --------
    >>> import math
    >>> # k = 2, A = 1, H = 0: the risk is -log p = log(1 + e^{-B/T})
    >>> math.isclose(hard_interpolator_risk(1.0, 2, 0.0, margin=3.0), math.log1p(math.exp(-3)))
    True
    """
    caller = "hard_interpolator_risk"
    a, k = _check_common(accuracy, n_classes, caller)
    h = _check_entropy(conditional_entropy, a, k, caller)
    b = check_real(margin, "margin", caller, low=0.0, low_inclusive=False)
    t = check_real(temperature, "temperature", caller, low=0.0, low_inclusive=False)
    z = b / t  # may overflow to inf for extreme temperatures: logaddexp handles it
    log_p = -float(np.logaddexp(0.0, math.log(k - 1) - z))  # log p, 0 when z = inf
    log_rest = -float(np.logaddexp(z, math.log(k - 1)))     # log((1 - p) / (k - 1))
    top = 0.0 if a == 0.0 else -a * log_p
    rest = 0.0 if a == 1.0 else -(1.0 - a) * log_rest
    return float(top + rest - h)


def oracle_hard_interpolator_risk(accuracy, n_classes: int, conditional_entropy) -> float:
    """Proposition 1: ``min_T R(g_T)`` of a hard interpolator, ``f(A) - H`` (``log k - H`` if ``A < 1/k``).

    Parameters
    ----------
    accuracy : float in [0, 1]
        ``A``.
    n_classes : int >= 2
        ``k``.
    conditional_entropy : float in [0, f(A)]
        ``H(Y|X)`` (at most ``f(A)`` by Fano's inequality).

    Returns
    -------
    float
        ``H_b(A) + (1 - A) log(k - 1) - H`` for ``A >= 1/k``, else ``log k - H``.

    Examples
    --------
    >>> import math
    >>> # overlapping pairs, alpha = 0.5, the Bayes accuracy 0.75, k = 16
    >>> round(oracle_hard_interpolator_risk(0.75, 16, 0.5 * math.log(2)), 6)
    0.892774
    """
    caller = "oracle_hard_interpolator_risk"
    a, k = _check_common(accuracy, n_classes, caller)
    h = _check_entropy(conditional_entropy, a, k, caller)
    return corollary2_f(oracle_confidence(a, k), k) - h


def uniform_risk(dist, **monte_carlo) -> Estimate:
    """``R(uniform) = log k - H(Y|X)``: the KL risk of predicting ``1/k`` everywhere (THEORY.md 2.2).

    Parameters
    ----------
    dist : Distribution
        Any distribution with ``n_classes`` and ``conditional_entropy()``.
    **monte_carlo
        ``n_samples`` and ``rng``, passed to ``dist.conditional_entropy`` (ignored where it is exact).

    Returns
    -------
    Estimate
        The risk, with the standard error and method of ``H(Y|X)``.

    Examples
    --------
    >>> import overlapcal as oc
    >>> risk = uniform_risk(oc.OverlappingUniform(10, overlap=0.5))
    >>> round(risk.value, 6), risk.method       # log 10 - 0.5 log 2
    (1.956012, 'exact')
    """
    k = check_distribution(dist, "dist", "uniform_risk").n_classes
    h = dist.conditional_entropy(**monte_carlo)
    return Estimate(math.log(k) - h.value, h.stderr, h.method, h.n_samples)


def ts_lower_bound(dist, **monte_carlo) -> Estimate:
    """Corollary 2: every hard interpolator with ``A >= 1/k`` has ``min_T R(g_T) >= f(A*) - H(Y|X)``.

    Parameters
    ----------
    dist : Distribution
        A distribution with ``n_classes >= 2``, ``bayes_accuracy()`` and ``conditional_entropy()``.
    **monte_carlo
        ``n_samples`` and ``rng`` for distributions without closed forms.

    Returns
    -------
    Estimate
        ``f(A*) - H`` with ``f(A) = H_b(A) + (1 - A) log(k - 1)``. For Monte Carlo inputs the
        standard error is ``|f'(A*)| se(A*) + se(H)`` with ``f'(A) = log((1 - A) / A) - log(k - 1)``:
        the delta method with the two errors added (an upper bound whatever their correlation).

    Examples
    --------
    >>> import math
    >>> import overlapcal as oc
    >>> bound = ts_lower_bound(oc.OverlappingUniform(16, overlap=0.5))
    >>> round(bound.value, 6), bound.method
    (0.892774, 'exact')
    """
    check_distribution(dist, "dist", "ts_lower_bound")
    k = check_int(dist.n_classes, "n_classes", "ts_lower_bound", low=2)
    a = dist.bayes_accuracy(**monte_carlo)
    h = dist.conditional_entropy(**monte_carlo)
    value = corollary2_f(a.value, k) - h.value
    stderr = 0.0
    if a.stderr > 0 or h.stderr > 0:
        slope = math.log((1 - a.value) / a.value) - math.log(k - 1) if 0 < a.value < 1 else math.inf
        stderr = (abs(slope) * a.stderr if a.stderr > 0 else 0.0) + h.stderr
    exact = a.method == h.method == "exact"
    method = "exact" if exact else ("monte-carlo" if "monte-carlo" in (a.method, h.method)
                                    else "quadrature")
    return Estimate(value, stderr, method, a.n_samples)
