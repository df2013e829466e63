"""The Predictor interface and the predictors every other module builds on.

A predictor maps inputs ``x`` to logits ``h(x)`` in ``R^k``; its probabilities are
``g(x) = softmax(h(x))``. Interpolators, Mixup optima, trained networks and recalibrated models
are all predictors, so every metric, population functional and plot accepts any of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ._numerics import log_softmax, softmax
from ._validation import check_real, check_X

__all__ = ["Predictor", "TemperatureScaled", "BayesPredictor"]


class Predictor(ABC):
    """Base class: implement ``_logits`` (validated ``X`` in, ``(n, k)`` logits out).

    Attributes ``n_classes_`` and ``n_features_in_`` are set by the constructor or by ``fit``.
    A predictor has logits ``h(x)`` and probabilities ``g(x) = softmax(h(x))`` (THEORY.md 1);
    every metric, population functional and recalibration works on any subclass.

    Examples
    --------
    A threshold classifier in 1-D. Declaring its breakpoint lets the population functionals
    integrate it exactly:

    >>> import numpy as np, overlapcal as oc
    >>> class Threshold(oc.Predictor):
    ...     n_classes_, n_features_in_ = 2, 1
    ...     def _logits(self, X):
    ...         return np.where(X >= 0.75, 4.0, -4.0) * np.array([-1.0, 1.0])
    ...     def breakpoints(self):
    ...         return np.array([0.75])
    >>> g = Threshold()
    >>> g.predict(np.array([[0.5], [1.0]])), g.predict_proba(np.array([[1.0]])).round(4)
    (array([0, 1]), array([[3.000e-04, 9.997e-01]]))
    >>> dist = oc.OverlappingUniform(2, overlap=0.5)
    >>> acc = oc.population_accuracy(g, dist)   # a Bayes classifier: A = A* = 1 - alpha/2
    >>> acc.value, acc.method
    (0.75, 'exact')
    """

    n_classes_: int
    n_features_in_: int

    def _validate(self, X, caller: str) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit' before '{caller}'."
            )
        return check_X(X, self.n_features_in_, f"{type(self).__name__}.{caller}")

    @abstractmethod
    def _logits(self, X: np.ndarray) -> np.ndarray:
        """Logits for validated ``X``; may contain ``-inf`` for impossible classes."""

    def logits(self, X) -> np.ndarray:
        """``h(x)``; shape (n_samples, n_classes)."""
        return self._logits(self._validate(X, "logits"))

    def log_proba(self, X) -> np.ndarray:
        """``log g(x) = log_softmax(h(x))``, exact for huge logits."""
        return log_softmax(self._logits(self._validate(X, "log_proba")))

    def predict_proba(self, X) -> np.ndarray:
        """``g(x) = softmax(h(x))``; shape (n_samples, n_classes)."""
        return softmax(self._logits(self._validate(X, "predict_proba")))

    def predict(self, X) -> np.ndarray:
        """``argmax_c h(x)_c`` (ties go to the smallest index); shape (n_samples,).

        A row with a NaN logit (the predictor is undefined there, e.g. a
        :class:`~overlapcal.MixupOptimum` where no mixture lands, ``D(z) = 0``) predicts class 0,
        as does a row of equal logits (all ``-inf`` included): a deliberate, documented value,
        not the position of the first NaN.
        """
        h = self._logits(self._validate(X, "predict"))
        out = np.argmax(h, axis=1)
        out[np.isnan(h).any(axis=1)] = 0
        return out

    def breakpoints(self) -> np.ndarray | None:
        """Sorted x-values where the logits of a 1-feature predictor may change, or None.

        A predictor that is piecewise constant along its single input (a 1-D nearest-neighbour
        interpolator, a threshold classifier) returns the finite set of points between which its
        logits are constant; population functionals then integrate it exactly
        (:func:`overlapcal.population_kl`). None (the default) means "not piecewise constant".
        """
        return None

    def smooth_breakpoints(self) -> np.ndarray | None:
        """Sorted x-values between which the logits of a 1-feature predictor are smooth, or None.

        Where the logits jump or have a kink (a soft nearest-neighbour interpolator), the
        adaptive quadrature of :func:`overlapcal.population_kl` starts its panels at these
        points instead of refining around them. None (the default): no such information.
        """
        return None


class TemperatureScaled(Predictor):
    """``g_T(x) = softmax(h(x) / T)`` for a wrapped predictor ``h`` and temperature ``T > 0``.

    THEORY.md 3: ``T -> inf`` tends to the uniform predictor, ``T -> 0`` to one-hot on the
    argmax, and no ``T`` changes the argmax.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> scaled = oc.TemperatureScaled(oc.BayesPredictor(dist), 2.0)
    >>> scaled.predict_proba(np.array([[0.75]])).round(3)
    array([[0.5, 0.5, 0. , 0. ]])
    """

    def __init__(self, predictor: Predictor, temperature: float):
        if not isinstance(predictor, Predictor):
            raise TypeError(
                "The 'predictor' parameter of TemperatureScaled must be an overlapcal Predictor. "
                f"Got {type(predictor).__name__} instead."
            )
        self.predictor = predictor
        self.temperature = check_real(
            temperature, "temperature", "TemperatureScaled", low=0.0, low_inclusive=False
        )
        if hasattr(predictor, "n_features_in_"):
            self.n_features_in_ = predictor.n_features_in_
            self.n_classes_ = predictor.n_classes_

    def _validate(self, X, caller):
        if not hasattr(self, "n_features_in_") and hasattr(self.predictor, "n_features_in_"):
            self.n_features_in_ = self.predictor.n_features_in_
            self.n_classes_ = self.predictor.n_classes_
        return super()._validate(X, caller)

    def _logits(self, X):
        # (h - max h) / T: the same softmax as h / T (logits are defined up to a per-row
        # constant), but it cannot overflow to +inf for huge logits or tiny T (found by
        # proofs_check's ts-argmax claim: h = (1e300, 2e300), T = 1e-300 gave NaN).
        h = self.predictor._logits(X)
        top = np.max(h, axis=1, keepdims=True)
        with np.errstate(over="ignore"):
            return (h - np.where(np.isfinite(top), top, 0.0)) / self.temperature

    def logits(self, X) -> np.ndarray:
        """``(h(x) - max_c h(x)_c) / T``: the tempered logits, shifted so the largest is 0."""
        return super().logits(X)

    def predict(self, X) -> np.ndarray:
        """The wrapped predictor's argmax: no temperature changes it, not even by underflow."""
        return self.predictor.predict(X)

    def breakpoints(self) -> np.ndarray | None:
        """The wrapped predictor's breakpoints: dividing logits by ``T`` moves none of them."""
        inner = getattr(self.predictor, "breakpoints", None)
        return inner() if callable(inner) else None

    def smooth_breakpoints(self) -> np.ndarray | None:
        """The wrapped predictor's smooth breakpoints (dividing by ``T`` keeps them)."""
        inner = getattr(self.predictor, "smooth_breakpoints", None)
        return inner() if callable(inner) else None


class BayesPredictor(Predictor):
    """The Bayes predictor of a distribution: ``h(x) = log eta(x)``, so ``g(x) = eta(x)``.

    Its KL risk is 0 and its oracle temperature is 1 (THEORY.md 2.1). Logits are ``-inf`` for
    impossible classes and NaN off the support of ``pi_X`` (where :meth:`predict` gives 0).

    Raises
    ------
    TypeError
        If ``dist`` is not an overlapcal Distribution.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(2, overlap=0.5)
    >>> bayes = oc.BayesPredictor(dist)
    >>> bayes.predict_proba(np.array([[0.25], [0.75]]))
    array([[1. , 0. ],
           [0.5, 0.5]])
    >>> bayes.breakpoints()
    array([0. , 0.5, 1. , 1.5])
    >>> oc.population_kl(bayes, dist).value   # R(eta) = 0, exactly
    0.0
    """

    def __init__(self, dist):
        from ._validation import check_distribution

        self.dist = check_distribution(dist, "dist", "BayesPredictor")
        self.n_classes_ = dist.n_classes
        self.n_features_in_ = dist.n_features

    def _logits(self, X):
        return self.dist._log_posterior(X)

    def breakpoints(self) -> np.ndarray | None:
        """The segment ends of the distribution when its posterior is piecewise constant in 1-D.

        ``eta`` is constant on each interval of ``dist.segments()``, so their ends are the
        breakpoints of ``h = log eta``; None if the distribution has no segments or more than
        one feature.
        """
        segments = self.dist.segments() if self.dist.n_features == 1 else None
        if segments is None:
            return None
        return np.unique(np.concatenate([segments.left, segments.right]))
