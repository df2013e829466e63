"""Post-hoc recalibration of logits: temperature scaling that converges, and cheap alternatives.

THEORY.md 3. Temperature scaling (TS) replaces logits ``h`` by ``h / T``. Fitting ``beta = 1/T``
by negative log-likelihood is a one-dimensional *convex* problem,

    NLL(beta) = sum_i w_i [ logsumexp(beta h_i) - beta <t_i, h_i> ] / sum_i w_i,

(``t_i`` the one-hot label or a soft target row), with

    NLL'(beta)  = mean_w[ <softmax(beta h_i), h_i> - <t_i, h_i> ],
    NLL''(beta) = mean_w[ Var_{softmax(beta h_i)}(h_i) ]  >= 0,

so a correct fit reaches the global minimum. :class:`TemperatureScaling` solves it by a
safeguarded Newton iteration in float64 (whatever the input dtype) on chunks of rows, to a
tolerance on the gradient relative to the scale of the logits. The same solver, fed the true
posterior as soft targets and interval masses as weights, is the oracle temperature of
:func:`overlapcal.oracle_temperature`.

The module also offers the paper's released fitting code as an explicit option
(``method="paper-lbfgs"``), ECE-minimising TS, :class:`VectorScaling` and
:class:`HistogramBinning`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from ._numerics import softmax
from ._validation import (
    _all_finite,
    _to_numpy,
    check_array,
    check_int,
    check_labels,
    check_logits,
    check_option,
    check_probs,
    check_real,
    param_error,
)

__all__ = ["TemperatureScaling", "VectorScaling", "HistogramBinning", "CalibrationWarning"]

_EPS = float(np.finfo(np.float64).eps)

#: Elements of one ``(rows, k)`` float64 block processed at once (1 MiB, cache-friendly: twice
#: as fast as 16 MiB blocks here): a pass holds a few such blocks, never ``(n, k)`` in float64.
_CHUNK_ELEMENTS = 2**15

#: Above ``4 *`` this many logits, a strided subsample of about this many is solved first and
#: its optimum warm-starts Newton on the full data (two or three full passes instead of ~8).
_WARM_START_ELEMENTS = 2**22
#: A plain Newton step on beta below this (relative) is the last one (see :func:`_newton`).
_FINAL_STEP = 1e-8

#: Logit magnitudes (largest row mean of ``max h - h``) outside this range are solved on
#: ``h / s`` for a power of two ``s``: far from where ``h * h`` (the variance, the Newton
#: Hessian) overflows (~1e154) or underflows, and ``2**+-100`` squared stays normal.
_SAFE_MAGNITUDE = (2.0**-100, 2.0**100)
#: The largest beta returned (a denormal separable margin would give beta = inf, T = 0).
_MAX_BETA = float(np.finfo(np.float64).max)

_METHODS = ("nll", "ece", "paper-lbfgs")


class CalibrationWarning(UserWarning):
    """A recalibration objective without an interior optimum, or a fit that did not converge.

    Raised (as a warning) for separable data (the NLL keeps decreasing as ``T -> 0``), labels
    that the logits do not predict better than chance (optimum at ``T = inf``), logits that are
    constant within every row (every ``T`` is optimal) and iteration limits.
    """


# ----------------------------------------------------------------------------------------
# Data in chunks
# ----------------------------------------------------------------------------------------


class _Chunk(NamedTuple):
    """Rows ready for the solver (all float64).

    ``hs`` is ``h - max_c h`` (so ``<= 0``, each row has a 0) with masked (``-inf``) entries
    stored as 0; ``mask`` is the boolean finite-pattern or None when every logit is finite;
    ``tdot`` is ``<t, hs>`` (``<= 0``); ``target`` holds int labels (m,) or soft rows (m, k);
    ``weight`` is (m,) or None (all ones).
    """

    hs: np.ndarray
    mask: np.ndarray | None
    tdot: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None


def _row_max(a: np.ndarray) -> np.ndarray:
    """``a.max(axis=1)``, by a loop over the columns when there are few of them.

    numpy reduces short rows one at a time (~40 ns per row for k <= 10); ``k - 1`` elementwise
    maxima over columns take ~1 ns per element. Both are exact (and propagate NaN alike).
    """
    if a.shape[1] > 32:
        return a.max(axis=1)
    out = a[:, 0].copy()
    for j in range(1, a.shape[1]):
        np.maximum(out, a[:, j], out=out)
    return out


#: Finite float64 logits whose row spread ``max h - h`` overflows (|h| near 1.8e308).
_SPREAD_OVERFLOWS = (
    "The logits must differ by less than the float64 maximum (1.8e308) within each row: "
    "max h - h overflows to inf. Divide them by a power of two first (the fitted temperature "
    "scales with the logits)."
)


def _prepare(logits, target, weight, *, allow_inf: bool, inv_scale: float = 1.0) -> _Chunk:
    """Shift by the row max (every TS quantity is invariant), mask ``-inf``, cache ``<t, h>``.

    ``inv_scale`` (a power of two: exact) multiplies the shifted logits (see :func:`_solve`).
    """
    logits = np.asarray(logits)
    if allow_inf:
        if np.isnan(logits).any() or np.isposinf(logits).any():
            raise ValueError(
                "The logits must not contain NaN or +inf (-inf marks an impossible class)."
            )
    row_max = _row_max(logits)
    if allow_inf and not np.isfinite(row_max).all():
        raise ValueError("Every row of logits needs at least one finite entry. Got a row of -inf.")
    with np.errstate(invalid="ignore", over="ignore"):
        hs = np.subtract(logits, row_max[:, None], dtype=np.float64)
    if inv_scale != 1.0:
        hs *= inv_scale
    mask = None
    if allow_inf:
        finite = np.isfinite(hs)
        if not finite.all():
            if np.isfinite(logits[~finite]).any():
                raise ValueError(_SPREAD_OVERFLOWS)
            hs[~finite] = 0.0
            mask = finite
    rows = np.arange(hs.shape[0])
    if target.ndim == 1:
        if mask is not None and not mask[rows, target].all():
            raise ValueError(
                "A label falls on a class with logit -inf: the loss is infinite at every "
                "temperature."
            )
        tdot = hs[rows, target]
    else:
        if mask is not None and (target[~mask] > 0).any():
            raise ValueError(
                "A target puts positive probability on a class with logit -inf: the loss "
                "(the KL risk) is infinite at every temperature."
            )
        tdot = np.einsum("ij,ij->i", target, hs)
    return _Chunk(hs, mask, tdot, target, weight)


class _Data:
    """Chunks of rows, made by ``make(j) -> (logits, target, weight)``, optionally cached.

    Arrays already in memory are sliced (no cache: the float64 copy is rebuilt each pass, so no
    ``(n, k)`` float64 array ever exists); population designs that must be regenerated from
    seeds, or that are small, pass their own ``make`` and choose ``cache``.
    """

    def __init__(self, make, n_chunks: int, n_classes: int, *, cache: bool, allow_inf: bool,
                 total_weight: float | None = None):
        self._make = make
        self.total_weight = total_weight  # rows or their summed weight, when known up front
        self.n_chunks = n_chunks
        self.n_classes = n_classes
        self._cache = [] if cache else None
        self._allow_inf = allow_inf
        self.scale = 1.0  # the chunks hold (h - max h) / scale

    def rescale(self, scale: float) -> None:
        """Make the chunks hold ``(h - max h) / scale`` (a power of two) from now on."""
        if scale != self.scale:
            self.scale = scale
            if self._cache is not None:
                self._cache.clear()

    @classmethod
    def from_arrays(cls, logits, target, weight, *, allow_inf=False, cache=False):
        n, k = logits.shape
        rows = max(1, _CHUNK_ELEMENTS // k)
        starts = list(range(0, n, rows))

        def make(j):
            sl = slice(starts[j], starts[j] + rows)
            return logits[sl], target[sl], None if weight is None else weight[sl]

        total = float(n) if weight is None else float(np.sum(weight))
        return cls(make, len(starts), k, cache=cache, allow_inf=allow_inf, total_weight=total)

    def chunks(self):
        if self._cache is not None and len(self._cache) == self.n_chunks:
            yield from self._cache
            return
        for j in range(self.n_chunks):
            chunk = _prepare(*self._make(j), allow_inf=self._allow_inf,
                             inv_scale=1.0 / self.scale)
            if self._cache is not None:
                self._cache.append(chunk)
            yield chunk


def _wsum(values, weight) -> float:
    return float(values.sum() if weight is None else np.dot(weight, values))


# ----------------------------------------------------------------------------------------
# The convex solver (shared with overlapcal.population)
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepass:
    total_weight: float
    g0: float  # NLL'(0)
    v0: float  # NLL''(0)
    flat: bool  # every row constant on its finite classes: NLL(beta) constant
    separable: bool  # every target on its row's argmax set: NLL decreasing for all beta
    min_margin: float  # smallest gap between a row max and its next finite value
    magnitude: float  # largest row mean of max h - h: the scale of the logits


def _prepass(data: _Data) -> _Prepass:
    """Statistics that need no ``exp``: the special cases and the quadratic model at 0."""
    total = g0 = v0 = 0.0
    flat = separable = True
    min_margin, magnitude = math.inf, 0.0
    for c in data.chunks():
        hs, mask, tdot, target, w = c
        active = None if w is None else w > 0
        k = hs.shape[1]
        count = k if mask is None else mask.sum(axis=1)
        row_sum = np.einsum("ij->i", hs)  # einsum: much faster than sum(axis=1) for small k
        mean = row_sum / count
        magnitude = max(magnitude, float(-mean.min()))
        if magnitude == math.inf:  # a row mean of max h - h overflowed: some difference did
            raise ValueError(_SPREAD_OVERFLOWS)
        with np.errstate(over="ignore", invalid="ignore"):  # |h| > 1e154: redone scaled
            var = np.maximum(np.einsum("ij,ij->i", hs, hs) / count - mean * mean, 0.0)
        total += float(hs.shape[0]) if w is None else float(w.sum())
        g0 += _wsum(mean - tdot, w)
        v0 += _wsum(var, w)
        # the max is 0 and masked entries are stored as 0, so hs <= 0 and a row is flat iff its
        # sum is 0 (a float sum of non-positive terms is 0 only if every term is: rounding is
        # monotone and |a + b| >= max(|a|, |b|) for a, b <= 0)
        row_flat = row_sum == 0.0
        if target.ndim == 1:
            on_max = tdot == 0.0
        else:
            on_max = ~((target > 0) & (hs < 0.0)).any(axis=1)
        if active is not None:
            row_flat, on_max = row_flat[active], on_max[active]
        flat &= bool(np.all(row_flat))
        separable &= bool(np.all(on_max))
        if separable and not np.all(row_flat):
            # Margins only matter for separable data: -(largest value below the row max).
            part = hs if active is None else hs[active]
            below = np.where(part < 0.0, part, -np.inf).max(axis=1)
            min_margin = min(min_margin, float(-below[below > -np.inf].max()))
    return _Prepass(total, g0 / total, v0 / total, flat, separable, min_margin, magnitude)


class _Eval(NamedTuple):
    loss: float  # NLL(beta)
    grad: float  # NLL'(beta) = mean_p - mean_t
    hess: float  # NLL''(beta)
    mean_p: float  # mean_w <p, h>  (<= 0)
    mean_t: float  # mean_w <t, h>  (<= 0)

    @property
    def scale(self) -> float:
        """``mean_w(|<p, h>| + |<t, h>|)``: the size of the two terms whose difference is grad."""
        return -(self.mean_p + self.mean_t)


def _evaluate(data: _Data, beta: float, total_weight: float, *, hessian: bool = True,
              slope_at_zero: bool = False) -> _Eval:
    """One pass: ``logsumexp`` and the softmax-weighted first and second moments of ``h``.

    With ``slope_at_zero``, the same pass also returns ``NLL'(0)`` (the prepass's ``g0``) as a
    second value: ``(eval, g0)``.
    """
    loss = grad = hess = mean_p = mean_t = g0 = 0.0
    for hs, mask, tdot, _, w in data.chunks():
        if slope_at_zero:
            count = hs.shape[1] if mask is None else mask.sum(axis=1)
            g0 += _wsum(np.einsum("ij->i", hs) / count - tdot, w)
        with np.errstate(over="ignore"):  # -inf at a capped separable beta: exp gives 0
            e = np.multiply(hs, beta)
        np.exp(e, out=e)
        if mask is not None:
            e *= mask
        s = np.einsum("ij->i", e)  # >= 1: the row max contributes exp(0)
        eh = np.multiply(e, hs)
        m1 = np.einsum("ij->i", eh) / s  # <p, h>  (<= 0)
        loss += _wsum(np.log(s) - beta * tdot, w)
        grad += _wsum(m1 - tdot, w)
        mean_p += _wsum(m1, w)
        mean_t += _wsum(tdot, w)
        if hessian:
            m2 = np.einsum("ij,ij->i", eh, hs) / s
            hess += _wsum(np.maximum(m2 - m1 * m1, 0.0), w)
    t = total_weight
    ev = _Eval(loss / t, grad / t, hess / t, mean_p / t, mean_t / t)
    return (ev, g0 / t) if slope_at_zero else ev


@dataclass(frozen=True)
class _Solution:
    beta: float
    loss: float
    grad: float
    n_iter: int
    converged: bool
    status: str  # "converged", "flat", "separable", "uniform" or "max_iter"
    scale: float = 1.0  # the power of two the logits were divided by while solving
    capped: bool = False  # separable with beta capped at a finite value (denormal margin)


def _default_rtol(n_classes: int) -> float:
    """Gradient tolerance relative to the logit scale: float64 rounding of k-term sums, times 16."""
    return 16.0 * math.sqrt(n_classes) * _EPS


def _solve(data: _Data, *, rtol: float | None, max_iter: int, beta_start: float | None = None,
           interior: bool = False, scale: float | None = None):
    """Minimise the (weighted, soft-target) NLL over ``beta >= 0``; returns a :class:`_Solution`.

    Special cases are decided exactly from a prepass before any iteration: constant rows
    (``flat``: ``beta = 1``), targets on the argmax set of every row (``separable``: the bound
    of :meth:`TemperatureScaling.fit`), ``NLL'(0) >= 0`` (``uniform``: ``beta = 0``). Otherwise
    ``NLL'(0) < 0 < NLL'(inf)`` and the root of ``NLL'`` is found by Newton's method inside a
    sign bracket ``[lo, hi]``. While no ``hi`` is known the step is Newton on
    ``log(-<p, h>) = log(-<t, h>)`` (exact for exponential tails, where plain Newton creeps);
    once bracketed, plain Newton, replaced by a bisection (as in NR's ``rtsafe``) when it leaves
    the bracket or does not halve the previous step. Bisections are geometric while the bracket
    spans more than a factor 4 (``beta`` can be anywhere in ``(0, inf)``), and ``4 lo`` while
    ``hi`` is unknown.

    ``interior=True`` (with ``beta_start``) says the rows include a subset known to be neither
    flat nor separable (the converged subsample of :meth:`TemperatureScaling.fit`), so neither
    is the whole: the prepass is skipped and ``NLL'(0)``, the only special case left, comes
    with the first evaluation (one pass over the data saved).

    Logits of any magnitude: NLL is a function of ``beta h``, so the optimum for ``h / s`` is
    ``s beta``. When the prepass finds the logits' magnitude (the largest row mean of
    ``max h - h``) outside ``[2**-100, 2**100]``, where ``h * h`` in the variance and the
    Hessian would overflow (above ~1e154) or lose precision, the prepass is redone and the
    iteration run on ``h / s``, ``s`` the power of two nearest that magnitude (the division is
    exact), and ``beta`` and ``NLL'`` are converted back; ``scale`` imposes ``s`` (the
    subsample's, on the interior path). The separable bound is capped at a finite ``beta``
    (``capped``: a denormal margin would give ``beta = inf``, ``T = 0`` and a NaN loss).
    """
    start = beta_start if beta_start is not None and 0.0 < beta_start < math.inf else None
    interior = interior and start is not None and data.total_weight is not None
    pre = None
    if scale is None:
        pre = None if interior else _prepass(data)
        scale = 1.0 if pre is None else _power_of_two(pre.magnitude)
        if scale != 1.0:
            pre = None  # moments of the unscaled logits (maybe overflowed): redone below
    try:
        data.rescale(scale)
        if pre is None and not interior:
            pre = _prepass(data)
        sol = _solve_scaled(data, pre, rtol, max_iter, None if start is None else start * scale)
    finally:
        data.rescale(1.0)
    return _Solution(sol.beta / scale, sol.loss, sol.grad * scale, sol.n_iter, sol.converged,
                     sol.status, scale, sol.capped)


def _power_of_two(magnitude: float) -> float:
    """1, or the power of two nearest ``magnitude`` when that is outside ``_SAFE_MAGNITUDE``
    (exponents clipped to +-1000, so ``1 / s`` and ``_MAX_BETA * s`` stay finite)."""
    low, high = _SAFE_MAGNITUDE
    if not magnitude > 0.0 or low <= magnitude <= high:  # 0: flat rows
        return 1.0
    exponent = math.frexp(magnitude)[1] if math.isfinite(magnitude) else 1024
    return math.ldexp(1.0, min(max(exponent, -1000), 1000))


def _solve_scaled(data: _Data, pre: _Prepass | None, rtol, max_iter, beta_start):
    """:func:`_solve` on the data as they are (``pre`` None: the interior path)."""
    k = data.n_classes
    rtol = _default_rtol(k) if rtol is None else rtol
    if pre is None:
        total = data.total_weight
        first, g0 = _evaluate(data, beta_start, total, slope_at_zero=True)
        if g0 >= 0.0:
            ev = _evaluate(data, 0.0, total, hessian=False)
            return _Solution(0.0, ev.loss, ev.grad, 0, True, "uniform")
        return _newton(data, beta_start, first, total, rtol, max_iter)
    total = pre.total_weight
    special = None
    capped = False
    if pre.flat:
        special = (1.0, "flat", True)
    elif pre.separable:
        # NLL(beta) - inf NLL <= (k - 1) exp(-beta * min_margin) <= eps at this beta, capped
        # where beta / scale would exceed _MAX_BETA (finite in scaled and original units)
        bound = math.log((k - 1) / _EPS) / pre.min_margin
        cap = _MAX_BETA * min(1.0, data.scale)
        capped = bound > cap
        special = (min(bound, cap), "separable", False)
    elif pre.g0 >= 0.0:
        special = (0.0, "uniform", True)
    if special is not None:
        beta, status, converged = special
        ev = _evaluate(data, beta, total, hessian=False)
        return _Solution(beta, ev.loss, ev.grad, 0, converged, status, capped=capped)

    if beta_start is not None:
        beta = beta_start
    else:  # the minimiser of the quadratic model at beta = 0
        beta = -pre.g0 / pre.v0 if pre.v0 > 0.0 else 1.0
        beta = beta if 0.0 < beta < math.inf else 1.0
    return _newton(data, beta, None, total, rtol, max_iter)


def _newton(data: _Data, beta: float, first: _Eval | None, total: float, rtol: float,
            max_iter: int) -> _Solution:
    """The safeguarded Newton iteration of :func:`_solve` from ``beta`` (``NLL'(0) < 0``);
    ``first`` is the evaluation at ``beta`` when the caller already has it."""
    lo, hi = 0.0, math.inf  # NLL'(lo) < 0 is known; NLL'(hi) > 0 once hi is finite
    step_old = math.inf
    for it in range(1, max_iter + 1):
        ev = first if it == 1 and first is not None else _evaluate(data, beta, total)
        if abs(ev.grad) <= rtol * ev.scale:
            return _Solution(beta, ev.loss, ev.grad, it, True, "converged")
        if ev.grad < 0.0:
            lo = beta
        else:
            hi = beta
        if ev.hess > 0.0 and hi == math.inf and ev.mean_p < 0.0:
            # Still expanding to the right: Newton on log(-mean_p) = log(-mean_t), which is
            # exact when mean_p(beta) = -C exp(-a beta), the confident regime where plain
            # Newton on NLL' creeps by at most 1/a per step.
            newton = beta + (math.log(-ev.mean_t) - math.log(-ev.mean_p)) * ev.mean_p / ev.hess
        elif ev.hess > 0.0:
            newton = beta - ev.grad / ev.hess
        else:
            newton = math.nan
        plain = ev.hess > 0.0 and newton == beta - ev.grad / ev.hess  # not the log-form step
        if not (lo < newton < hi) or (hi < math.inf and abs(newton - beta) > 0.5 * abs(step_old)):
            plain = False
            if hi == math.inf:
                newton = 4.0 * lo
            elif lo == 0.0:
                newton = 0.25 * hi
            elif hi > 4.0 * lo:
                newton = math.sqrt(lo * hi)
            else:
                newton = 0.5 * (lo + hi)
        step = newton - beta
        if abs(step) <= 4.0 * _EPS * beta or (hi < math.inf and hi - lo <= 4.0 * _EPS * hi):
            # The root is located to float64 resolution; rounding noise in the gradient sum
            # exceeds the tolerance (possible for k in the thousands).
            return _Solution(beta, ev.loss, ev.grad, it, True, "converged")
        if plain and abs(step) <= _FINAL_STEP * beta and (
                abs(step) <= 0.01 * abs(step_old)):
            # A plain Newton step this small, in the quadratic regime (it shrank 100-fold):
            # the error after it is about (beta |kappa_3| / (2 Var)) * step^2 / beta <= ~1e-15
            # relative (kappa_3 / Var <= the logit range), below what one more pass to certify
            # it could resolve. Take it without evaluating; the loss moves by
            # |grad step| / 2 ~ 1e-16 |loss|, below float64 resolution, and the gradient there
            # is that of the linear model, grad + hess * step, zero up to rounding.
            return _Solution(newton, ev.loss, ev.grad + ev.hess * step, it, True, "converged")
        step_old, beta = step, newton
    ev = _evaluate(data, beta, total, hessian=False)
    return _Solution(beta, ev.loss, ev.grad, max_iter, False, "max_iter")


def _warn_status(status: str, caller: str, temperature: float, *, capped: bool = False) -> None:
    if status == "separable" and capped:
        warnings.warn(
            f"{caller}: every target lies on its row's largest logit (separable data) and the "
            "smallest margin below a row's largest logit is so small (denormal) that the bound "
            "on T of the documented rule is not representable (beta = 1/T would be inf). "
            f"Returning T = {temperature:.6g}, where beta is capped at a finite value; the NLL "
            "there is not within float64 eps of its infimum.",
            CalibrationWarning, stacklevel=3,
        )
        return
    messages = {
        "flat": "the logits are constant within every row, so every temperature gives the same "
        "predictions; returning T = 1 by convention.",
        "separable": "every target lies on its row's largest logit (separable data): the NLL "
        "keeps decreasing as T -> 0 and has no minimiser. Returning T = "
        f"{temperature:.6g}, where the NLL is within float64 eps of its infimum.",
        "uniform": "the logits do not predict the targets better than the uniform prediction "
        "(NLL'(beta = 0) >= 0): the optimum over T > 0 is T = inf, i.e. uniform probabilities.",
        "max_iter": "the Newton iteration did not reach the tolerance within max_iter "
        f"iterations; returning T = {temperature:.6g}. Increase max_iter or tol.",
    }
    if status in messages:
        warnings.warn(f"{caller}: {messages[status]}", CalibrationWarning, stacklevel=3)


# ----------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------


def _check_targets(y, n: int, k: int, caller: str) -> np.ndarray:
    """Int labels (n,) in [0, k), or soft targets (n, k) with rows on the simplex (float64)."""
    arr = _to_numpy(y, "y", caller)
    if arr.ndim == 2:  # the input itself: its own dtype sets the tolerance (half precision)
        arr = check_probs(y, caller, name="y", n_classes=k).astype(np.float64, copy=False)
        if arr.shape[0] != n:
            raise ValueError(
                f"The 'y' parameter of {caller} must have one row per sample ({n}). "
                f"Got an array of shape {arr.shape} instead."
            )
        return arr
    return check_labels(arr, k, caller, n_samples=n, name="y")


def _check_sample_weight(sample_weight, n: int, caller: str) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = check_array(sample_weight, "sample_weight", caller, ndim=1, keep_float32=False)
    if w.shape[0] != n:
        raise ValueError(
            f"The 'sample_weight' parameter of {caller} must have one weight per sample ({n}). "
            f"Got an array of shape {w.shape} instead."
        )
    if w.min() < 0 or not w.sum() > 0:
        raise param_error(
            "sample_weight", caller, "non-negative with a positive sum",
            f"min {float(w.min())!r} and sum {float(w.sum())!r}",
        )
    return w


def _check_fitted(estimator, attribute: str, caller: str) -> None:
    if not hasattr(estimator, attribute):
        raise RuntimeError(
            f"This {type(estimator).__name__} is not fitted yet. Call 'fit' before '{caller}'."
        )


def _check_tol(tol, caller):
    if tol is None:
        return None
    return check_real(tol, "tol", caller, low=0.0, high=1.0, low_inclusive=False,
                      high_inclusive=False)


def _import_torch(caller: str):
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in the test environment
        raise ImportError(
            f"{caller} with method='paper-lbfgs' needs PyTorch (pip install 'overlapcal[torch]')."
        ) from exc
    return torch


# ----------------------------------------------------------------------------------------
# Top-label ECE of temperature-scaled logits (overlapcal.metrics.ece needs full probability rows)
# ----------------------------------------------------------------------------------------


def _binned_ece(conf, correct, weight, n_bins: int) -> float:
    """Equal-width top-label ECE (Guo et al. 2017): bins ``(b/B, (b+1)/B]``, weighted.

    The bins and tie rule of :func:`overlapcal.metrics.ece`, computed from the confidences and
    outcomes alone so that each temperature costs one ``exp`` pass.

    ``sum_b |sum_{i in b} w_i (correct_i - conf_i)| / sum_i w_i``; ``correct`` may be a
    ground-truth probability (THEORY.md 2.4) instead of 0/1.
    """
    idx = _bin_index(conf, _bin_edges(n_bins))
    gap = correct - conf
    if weight is not None:
        gap = gap * weight
        total = float(weight.sum())
    else:
        total = float(conf.shape[0])
    return float(np.abs(np.bincount(idx, weights=gap, minlength=n_bins)).sum() / total)


def _top_label(data: _Data):
    """Per-row top-label correctness (``t[argmax h]``, T-independent) and the weights."""
    correct, weights = [], []
    for hs, mask, _, target, w in data.chunks():
        h = hs if mask is None else np.where(mask, hs, -np.inf)
        yhat = np.argmax(h, axis=1)
        rows = np.arange(hs.shape[0])
        correct.append((yhat == target).astype(float) if target.ndim == 1 else target[rows, yhat])
        weights.append(w)
    weight = None if weights[0] is None else np.concatenate(weights)
    return np.concatenate(correct), weight


def _confidences(data: _Data, beta: float) -> np.ndarray:
    """``max_c softmax(beta h)_c = 1 / sum_c exp(beta (h_c - max h))`` for every row."""
    out = []
    for hs, mask, *_ in data.chunks():
        e = np.multiply(hs, beta)
        np.exp(e, out=e)
        if mask is not None:
            e *= mask
        out.append(1.0 / e.sum(axis=1))
    return np.concatenate(out)


# ----------------------------------------------------------------------------------------
# Temperature scaling
# ----------------------------------------------------------------------------------------


class TemperatureScaling:
    """Temperature scaling fitted to convergence: ``g_T = softmax(h / T)``.

    Parameters
    ----------
    method : {"nll", "ece", "paper-lbfgs"}, default="nll"
        ``"nll"``: minimise the (weighted) negative log-likelihood over ``beta = 1/T``, a
        convex problem, by safeguarded Newton to convergence. ``"ece"``: minimise the binned
        top-label ECE over ``log T`` (not convex: a grid then a bounded Brent refinement).
        ``"paper-lbfgs"``: reproduce the paper's released fitting code (one
        ``torch.optim.LBFGS`` step, see Notes); needs PyTorch.
    n_bins : int, default=15
        Equal-width bins of the ECE for ``method="ece"`` (validated for every method).
    tol : float in (0, 1) or None, default=None
        Stop when ``|NLL'(beta)| <= tol * mean_w(|<p_i, h_i>| + |<t_i, h_i>|)`` (logits
        shifted so that each row's max is 0), i.e. relative to the scale of the logits. None
        means ``16 sqrt(k) eps_64``, about float64 rounding of the gradient sum (see Notes).
    max_iter : int, default=100
        Newton iterations (each one pass over the data) before a :class:`CalibrationWarning`.

    Attributes
    ----------
    temperature_ : float
        The fitted ``T`` (``inf`` when the optimum is the uniform prediction).
    beta_ : float
        ``1 / T``.
    n_iter_ : int
        Newton iterations (``"nll"``), objective evaluations (``"ece"``) or LBFGS iterations
        (``"paper-lbfgs"``).
    converged_ : bool
        Whether the minimiser was found to tolerance (False for separable data, which has none,
        and always False for ``"paper-lbfgs"`` unless its T happens to satisfy the tolerance).
    status_ : str
        ``"converged"``, ``"flat"``, ``"separable"``, ``"uniform"`` or ``"max_iter"`` (method
        ``"nll"``; the other methods report the status of their reference NLL fit).
    nll_ : float
        The NLL (cross-entropy for soft targets) at ``temperature_``, computed in float64.
    n_classes_ : int
        Number of classes ``k`` seen in ``fit``.
    ece_ : float
        ``method="ece"`` only: the minimised ECE.
    converged_temperature_, converged_nll_gap_ : float
        ``method="paper-lbfgs"`` only: the NLL-optimal ``T`` and ``nll_`` minus the NLL there
        (``>= 0``): what the paper's optimiser leaves on the table.

    Notes
    -----
    THEORY.md 3. With ``t_i`` the one-hot label or soft target, ``h_i`` shifted so
    ``max_c h_ic = 0`` (all quantities are shift invariant) and ``p_i = softmax(beta h_i)``:

        NLL(beta)   = mean_w[ log sum_c exp(beta h_ic) - beta <t_i, h_i> ]
        NLL'(beta)  = mean_w[ <p_i, h_i> - <t_i, h_i> ]
        NLL''(beta) = mean_w[ Var_{p_i}(h_i) ]

    Each Newton iteration is one pass over row chunks of ~2**15 logits computing all three in
    float64, whatever the input dtype: a float32 finite-difference optimiser sees an NLL that
    is flat to float32 resolution near ``T = 1`` and stops there. The iteration works on
    ``beta`` (where the problem is convex) inside a sign bracket of ``NLL'``: Newton with a
    bisection fallback (geometric while the bracket spans more than a factor 4), and, until the
    optimum is bracketed from above, Newton on ``log(-<p, h>)`` so that confident logits (an
    exponential tail of ``NLL'``) do not make it creep. It starts from the minimiser
    ``-NLL'(0)/NLL''(0)`` of the quadratic model at ``beta = 0`` or, for more than ``2**24``
    logits, from the optimum of a strided subsample (then 2 to 3 full passes suffice, and the
    subsample, being neither flat nor separable, rules out both cases without a prepass). The
    default tolerance puts ``T`` within about ``1e-12`` (relative) of the exact minimiser
    (checked against Brent's method on an independent gradient); iterations also stop once a
    step is below ``4 eps beta``, the float64 resolution of ``beta``, and a plain Newton step
    below ``1e-8 beta`` that shrank 100-fold is taken as the last (its error is ~1e-16).
    Logits of any magnitude are handled: the NLL depends on ``beta h`` only, and logits whose
    typical size is outside ``[2**-100, 2**100]`` are solved as ``h / s`` for a power of two
    ``s`` (exact), where ``h * h`` in the Hessian cannot overflow (fitted ``T / s`` is the same
    to ~1e-12 for scales 1e-6 to 1e300).

    Boundary cases, decided exactly before iterating (each with a :class:`CalibrationWarning`):

    - *separable data* (every target on its row's largest logit): the NLL decreases for all
      ``beta`` towards ``inf NLL`` (0 without ties). The fit returns
      ``T = m / log((k - 1) / eps_64)``, ``m`` the smallest gap between a row's largest logit
      and its next value, the largest ``T`` at which ``NLL - inf NLL <= (k - 1) exp(-m/T)
      <= eps_64``; ``converged_`` is False. A margin so small (denormal) that this ``T``
      would need ``beta = 1/T = inf`` gets ``beta`` capped at a finite value instead (and a
      warning saying so).
    - *no better than uniform* (``NLL'(0) >= 0``): the optimum over ``T > 0`` is ``T = inf``;
      ``temperature_ = inf``, ``beta_ = 0`` and ``transform`` returns zeros, ``-inf`` kept
      (uniform probabilities over the finite classes).
    - *constant rows*: ``NLL`` does not depend on ``T``; ``T = 1``.

    ``method="paper-lbfgs"`` runs, as the released code of Chidambaram and Ge (ICLR 2024) does
    (THEORY.md 3), ``torch.optim.LBFGS([T], lr=0.01, max_iter=50)`` with no line search and one
    ``step(closure)`` on ``cross_entropy(logits / T, y)``, starting from ``T = 1``, in the dtype
    of the logits (``-inf`` logits are replaced by half the most negative float of the dtype
    after the division by ``T``, a softmax weight of exactly 0, since ``-inf / T`` has a NaN
    gradient). The optimiser settings are those of ``ModelWithTemperature.set_temperature``
    in gpleiss/temperature_scaling (Guo et al. 2017), which that code follows; gpleiss starts
    from ``T = 1.5``, the paper's experiments from ``T = 1``. Without a line search every step
    is ``lr = 0.01`` times the quasi-Newton direction, and LBFGS stops after 50 iterations (or
    when the loss changes by less than ``tolerance_change = 1e-9``), long before the optimum on
    interpolating logits: T moves from 1 to about 1.1 to 1.3 where the optimal T is 4 to 140
    (THEORY.md 3). ``converged_temperature_`` and ``converged_nll_gap_`` report the cost.

    ``method="ece"`` evaluates the ECE on 81 log-spaced temperatures spanning a factor 100 on
    each side of the NLL-optimal T (of ``T = 1`` when that is a boundary case), then refines
    between the neighbours of the best grid point with bounded Brent (``xatol = 1e-8`` in
    ``log T``), keeping the better of the two. The ECE is piecewise smooth in ``T`` with jumps
    where a confidence crosses a bin edge, so the result is a local minimum of a fine grid,
    documented as such. Soft targets give the ground-truth ECE (THEORY.md 2.4).

    Temperature scaling never changes the argmax (THEORY.md 3, (P)).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> rng = np.random.default_rng(0)
    >>> z = 4.0 * rng.standard_normal((20_000, 5))  # logits
    >>> y = (z / 2.0 + rng.gumbel(size=z.shape)).argmax(axis=1)  # labels ~ softmax(z / 2)
    >>> ts = oc.TemperatureScaling().fit(z, y)
    >>> round(ts.temperature_, 1), ts.converged_, ts.status_
    (2.0, True, 'converged')
    >>> ts.predict_proba(z[:1]).round(3)
    array([[0.178, 0.106, 0.498, 0.171, 0.047]])
    """

    def __init__(self, method="nll", n_bins=15, tol=None, max_iter=100):
        self.method = method
        self.n_bins = n_bins
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, logits, y, sample_weight=None):
        """Fit ``T`` on held-out logits and labels (or soft targets).

        Parameters
        ----------
        logits : array-like or torch.Tensor of shape (n_samples, n_classes)
            Logits, float32 or float64 (computation is float64 in any case); ``-inf`` marks an
            impossible class (e.g. a Bayes or Mixup-optimum predictor), NaN and ``+inf`` are
            errors. Tensors are moved to the CPU.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Integer labels in ``[0, n_classes)``, or soft targets (rows on the simplex, e.g.
            the true posterior): the NLL is then the cross-entropy ``-sum_c t_c log g_c``.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights with a positive sum.

        Returns
        -------
        self : TemperatureScaling

        Raises
        ------
        ValueError
            For an unknown ``method``, bad ``n_bins``, ``tol`` or ``max_iter``; logits that are
            not a non-empty 2-D array with ``>= 2`` columns, or that hold NaN, ``+inf`` or a row
            of ``-inf``; labels of the wrong length or out of range, or a label (a positive soft
            target) on a class with logit ``-inf`` (infinite loss at every ``T``); soft targets
            that are not probability rows; bad sample weights.
        ImportError
            For ``method="paper-lbfgs"`` without PyTorch.
        RuntimeError
            If the paper's LBFGS step produces a non-positive or non-finite temperature.

        Warns
        -----
        CalibrationWarning
            Separable data, logits no better than uniform, constant rows, or no convergence
            within ``max_iter`` (see Notes of the class).
        """
        caller = "TemperatureScaling.fit"
        method = check_option(self.method, "method", caller, _METHODS)
        n_bins = check_int(self.n_bins, "n_bins", caller, low=1)
        tol = _check_tol(self.tol, caller)
        max_iter = check_int(self.max_iter, "max_iter", caller, low=1)
        logits = check_logits(logits, caller, allow_neg_inf=True)
        n, k = logits.shape
        target = _check_targets(y, n, k, caller)
        weight = _check_sample_weight(sample_weight, n, caller)

        # check_logits admitted -inf as the only non-finite value; masking it costs ~20% of
        # every pass, so it is switched on only when some -inf is present (decided once here)
        allow_inf = not _all_finite(logits)
        data = _Data.from_arrays(logits, target, weight, allow_inf=allow_inf)
        beta_start = None
        if n * k > 4 * _WARM_START_ELEMENTS:
            size = max(256, _WARM_START_ELEMENTS // k)
            rows = np.unique(np.linspace(0, n - 1, size).astype(np.intp))
            sub = _Data.from_arrays(
                logits[rows], target[rows], None if weight is None else weight[rows],
                allow_inf=allow_inf,
            )
            try:
                warm = _solve(sub, rtol=1e-6, max_iter=max_iter)
            except ValueError:  # pragma: no cover - e.g. subsample weights all zero
                warm = None
            if warm is not None and warm.status == "converged":
                beta_start = warm.beta
        sol = _solve(data, rtol=tol, max_iter=max_iter, beta_start=beta_start,
                     interior=beta_start is not None,
                     scale=warm.scale if beta_start is not None else None)
        self.n_classes_ = k
        self.status_ = sol.status

        if method == "nll":
            _warn_status(sol.status, caller, _temperature(sol.beta), capped=sol.capped)
            self._set(sol.beta, sol.n_iter, sol.converged, sol.loss)
        elif method == "ece":
            self._fit_ece(data, sol, n_bins)
        else:
            self._fit_paper(logits, target, weight, data, sol, tol)
        return self

    def _set(self, beta, n_iter, converged, nll):
        self.beta_ = float(beta)
        self.temperature_ = _temperature(beta)
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        self.nll_ = float(nll)

    def _fit_ece(self, data, sol, n_bins):
        correct, weight = _top_label(data)
        evaluations = 0

        def ece(log_t):
            nonlocal evaluations
            evaluations += 1
            return _binned_ece(_confidences(data, math.exp(-log_t)), correct, weight, n_bins)

        center = -math.log(sol.beta) if sol.status == "converged" else 0.0
        grid = center + np.linspace(-math.log(100.0), math.log(100.0), 81)
        values = np.array([ece(u) for u in grid])
        best = int(np.argmin(values))
        log_t, value = float(grid[best]), float(values[best])
        refine = minimize_scalar(
            ece, bounds=(grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]),
            method="bounded", options={"xatol": 1e-8},
        )
        if refine.fun < value:
            log_t, value = float(refine.x), float(refine.fun)
        beta = math.exp(-log_t)
        total = float(correct.size) if weight is None else float(weight.sum())
        nll = _evaluate(data, beta, total, hessian=False).loss
        self._set(beta, evaluations, bool(refine.success), nll)
        self.ece_ = value

    def _fit_paper(self, logits, target, weight, data, sol, tol):
        torch = _import_torch("TemperatureScaling")
        import torch.nn.functional as F

        dtype = torch.float64 if logits.dtype == np.float64 else torch.float32
        h = torch.from_numpy(np.ascontiguousarray(logits)).to(dtype)
        t = torch.from_numpy(target if target.ndim == 1 else target.astype(logits.dtype))
        w = None if weight is None else torch.from_numpy(weight.astype(logits.dtype))
        temperature = torch.ones(1, dtype=dtype, requires_grad=True)
        optimizer = torch.optim.LBFGS([temperature], lr=0.01, max_iter=50)
        impossible = torch.isneginf(h)
        if not impossible.any():
            impossible = None
        else:
            # -inf / T has the gradient 0 * inf = NaN in T: divide 0 there instead, then put a
            # constant far below every tempered logit (softmax weight exactly 0, no gradient;
            # half the float range, so log_softmax cannot overflow to -inf and 0 * -inf)
            h = h.masked_fill(impossible, 0.0)
            floor = torch.finfo(dtype).min / 2

        def tempered():
            z = h / temperature
            return z if impossible is None else z.masked_fill(impossible, floor)

        def closure():
            optimizer.zero_grad()
            if w is None:
                loss = F.cross_entropy(tempered(), t)
            else:
                loss = (w * F.cross_entropy(tempered(), t, reduction="none")).sum() / w.sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        value = float(temperature.detach()[0])
        if not (value > 0.0 and math.isfinite(value)):
            raise RuntimeError(
                f"The paper's LBFGS step gave a temperature of {value!r}; use method='nll'."
            )
        n_iter = int(optimizer.state[temperature].get("n_iter", 0))
        total = float(logits.shape[0]) if weight is None else float(weight.sum())
        ev = _evaluate(data, 1.0 / value, total, hessian=False)
        rtol = _default_rtol(logits.shape[1]) if tol is None else tol
        self._set(1.0 / value, n_iter, abs(ev.grad) <= rtol * ev.scale, ev.loss)
        self.converged_temperature_ = _temperature(sol.beta)
        self.converged_nll_gap_ = float(ev.loss - sol.loss)

    def transform(self, logits) -> np.ndarray:
        """``(logits - max_c logits) / T``: the tempered logits, shifted so each row's max is 0.

        The shift leaves ``softmax`` unchanged (logits are defined up to a per-row constant);
        unlike ``logits / T`` it cannot overflow (huge float32 logits at a small ``T``), and it
        is computed as ``(h - max h) * beta_`` in float64 on the finite entries only, so ``-inf``
        stays ``-inf`` and, at ``T = inf`` (``beta_ = 0``), finite entries become 0 (no
        ``-inf / inf = NaN``). Returned in the input's float dtype (float32 for float32 and
        half-precision input), as a numpy array also for tensor input.

        Parameters
        ----------
        logits : array-like or torch.Tensor of shape (n_samples, n_classes)
            ``-inf`` marks an impossible class, as in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Entries ``<= 0``, each row with a 0; zeros (and ``-inf``) when ``T = inf``
            (uniform probabilities over the finite classes).

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        ValueError
            If ``logits`` holds NaN, ``+inf`` or a row of ``-inf``, is not 2-D, or has a
            different number of classes than in fit.
        """
        _check_fitted(self, "temperature_", "transform")
        logits = check_logits(logits, "TemperatureScaling.transform", n_classes=self.n_classes_,
                              allow_neg_inf=True)
        return _tempered(logits, self.beta_)

    def predict_proba(self, logits) -> np.ndarray:
        """``softmax(logits / T)``; shape (n_samples, n_classes), input float dtype.

        Raises
        ------
        RuntimeError, ValueError
            As :meth:`transform`.
        """
        return softmax(self.transform(logits))


def _temperature(beta: float) -> float:
    return math.inf if beta == 0.0 else 1.0 / beta


def _tempered(logits: np.ndarray, beta: float) -> np.ndarray:
    """``(h - max_c h) * beta`` in float64 on the finite entries (``-inf`` kept), in h's dtype.

    A shifted entry below ``-finfo.max`` (logits spanning more than the float range) becomes
    ``-inf``: its softmax weight is 0 at any ``beta`` not below ~1e-306.
    """
    h = logits.astype(np.float64)
    with np.errstate(over="ignore"):
        h -= _row_max(h)[:, None]  # every row has a finite max (check_logits)
        np.multiply(h, beta, out=h, where=np.isfinite(h))
        return h.astype(logits.dtype, copy=False)


# ----------------------------------------------------------------------------------------
# Vector scaling
# ----------------------------------------------------------------------------------------


class VectorScaling:
    """Per-class scale and bias on the logits: ``z_c = w_c h_c + b_c`` (Guo et al. 2017).

    Parameters
    ----------
    max_iter : int, default=1000
        L-BFGS-B iterations.
    tol : float in (0, 1), default=1e-10
        Stop when every gradient component is below ``tol`` (scipy's ``gtol``).

    Attributes
    ----------
    coef_ : ndarray of shape (n_classes,)
        Scales ``w``.
    intercept_ : ndarray of shape (n_classes,)
        Biases ``b`` (summing to 0: the NLL does not change when a constant is added to all).
    n_iter_ : int
    converged_ : bool
    nll_ : float
        The fitted NLL.
    n_classes_ : int

    Notes
    -----
    Minimises ``mean_w[ logsumexp(z_i) - <t_i, z_i> ]`` with the analytic gradient
    ``dw_c = mean_w[(p_ic - t_ic) h_ic]``, ``db_c = mean_w[p_ic - t_ic]`` by scipy's L-BFGS-B
    in float64, over row chunks. The objective is convex in ``(w, b)``; the start is ``w = 1,
    b = 0`` (the identity). Since ``sum_c db_c = 0``, iterates keep ``sum_c b_c = 0``. Unlike
    temperature scaling, vector scaling can change the argmax. On separable data the scales
    grow without bound and ``converged_`` may be False (with a :class:`CalibrationWarning`).
    Logits must be finite (unlike :class:`TemperatureScaling`, no ``-inf`` for impossible
    classes: a negative or zero scale would turn it into ``+inf`` or NaN).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal((5000, 3))
    >>> y = (z * [2.0, 1.0, 0.5] + [0.0, 0.5, -0.5] + rng.gumbel(size=(5000, 3))).argmax(1)
    >>> vs = oc.VectorScaling().fit(z, y)
    >>> vs.coef_.round(1), vs.converged_
    (array([2.1, 1. , 0.5]), True)
    """

    def __init__(self, max_iter=1000, tol=1e-10):
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, logits, y, sample_weight=None):
        """Fit ``w`` and ``b`` on held-out logits and labels (or soft targets).

        Parameters
        ----------
        logits : array-like or torch.Tensor of shape (n_samples, n_classes)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Integer labels or soft targets.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self : VectorScaling

        Raises
        ------
        ValueError
            As :meth:`TemperatureScaling.fit` (and for bad ``max_iter`` / ``tol``), except that
            the logits must be finite: ``-inf`` is an error here, since ``w_c h_c`` is not
            ``-inf`` for every ``w_c`` (``+inf`` for ``w_c < 0``, NaN for ``w_c = 0``).

        Warns
        -----
        CalibrationWarning
            If L-BFGS-B stops without meeting the tolerance.
        """
        caller = "VectorScaling.fit"
        max_iter = check_int(self.max_iter, "max_iter", caller, low=1)
        tol = check_real(self.tol, "tol", caller, low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False)
        logits = check_logits(logits, caller)
        n, k = logits.shape
        target = _check_targets(y, n, k, caller)
        weight = _check_sample_weight(sample_weight, n, caller)
        total = float(n) if weight is None else float(weight.sum())
        rows = max(1, _CHUNK_ELEMENTS // k)

        def objective(theta):
            w, b = theta[:k], theta[k:]
            loss, gw, gb = 0.0, np.zeros(k), np.zeros(k)
            for start in range(0, n, rows):
                sl = slice(start, start + rows)
                h = logits[sl].astype(np.float64)
                z = h * w + b
                z -= z.max(axis=1, keepdims=True)  # shift-invariant; exact for huge logits
                e = np.exp(z)
                s = e.sum(axis=1)
                p = e / s[:, None]
                t = target[sl]
                ww = None if weight is None else weight[sl]
                if t.ndim == 1:
                    r = np.arange(z.shape[0])
                    tz = z[r, t]
                    p[r, t] -= 1.0  # p - t
                else:
                    tz = np.einsum("ij,ij->i", t, z)
                    p -= t
                loss += _wsum(np.log(s) - tz, ww)  # logsumexp(z) - <t, z>
                if ww is not None:
                    p *= ww[:, None]
                gw += np.einsum("ij,ij->j", p, h)
                gb += p.sum(axis=0)
            return loss / total, np.concatenate([gw, gb]) / total

        theta0 = np.concatenate([np.ones(k), np.zeros(k)])
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "gtol": tol, "ftol": 4 * _EPS})
        if not res.success:
            warnings.warn(
                f"{caller}: L-BFGS-B stopped without meeting the tolerance ({res.message}).",
                CalibrationWarning, stacklevel=2,
            )
        self.coef_ = res.x[:k].copy()
        self.intercept_ = res.x[k:] - res.x[k:].mean()
        self.n_iter_ = int(res.nit)
        self.converged_ = bool(res.success)
        self.nll_ = float(res.fun)
        self.n_classes_ = k
        return self

    def transform(self, logits) -> np.ndarray:
        """``w * logits + b`` in the input's float dtype (computed in float64).

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        ValueError
            For logits that are not finite 2-D with ``n_classes_`` columns.
        """
        _check_fitted(self, "coef_", "transform")
        logits = check_logits(logits, "VectorScaling.transform", n_classes=self.n_classes_)
        return (logits.astype(np.float64) * self.coef_ + self.intercept_).astype(logits.dtype)

    def predict_proba(self, logits) -> np.ndarray:
        """``softmax(w * logits + b)``; shape (n_samples, n_classes)."""
        return softmax(self.transform(logits))


# ----------------------------------------------------------------------------------------
# Histogram binning
# ----------------------------------------------------------------------------------------


class HistogramBinning:
    """Histogram binning (Zadrozny and Elkan 2001) on equal-width probability bins.

    Parameters
    ----------
    n_bins : int, default=15
        Equal-width bins ``(b/B, (b+1)/B]`` of ``[0, 1]`` (the first also holds 0).
    mode : {"top-label", "one-vs-rest"}, default="top-label"
        ``"top-label"`` (Gupta and Ramdas 2021): bin the top confidence ``max_c g_c``; the
        calibrated confidence is the (weighted) accuracy of its bin, and the other classes
        share the remaining mass in proportion to their probabilities. ``"one-vs-rest"``: bin
        each ``g_c`` separately, replace it by the frequency of class ``c`` in its bin, then
        renormalise each row.

    Attributes
    ----------
    bin_edges_ : ndarray of shape (n_bins + 1,)
    bin_values_ : ndarray of shape (n_bins,) or (n_classes, n_bins)
        Calibrated value per bin; NaN for empty bins, where the probability is left unchanged.
    bin_weights_ : ndarray, same shape as ``bin_values_``
        Total sample weight per bin.
    n_classes_ : int

    Notes
    -----
    Binning is ``searchsorted`` + ``bincount`` (no loop over samples). The calibrated
    probabilities are piecewise constant in the confidence; with top-label binning the argmax
    may change when a bin's accuracy falls below another class's share, and rows whose
    one-vs-rest values are all 0 become uniform. Soft targets replace the 0/1 outcomes by
    probabilities.

    Logits of ``-inf`` (impossible classes, as :meth:`TemperatureScaling.fit` accepts) keep
    probability 0: they are not binned in one-vs-rest mode, never receive the remaining mass,
    and a row with a single possible class keeps probability 1 on it (and is left out of the
    top-label bins). ``transform`` returns ``log`` of the calibrated probabilities (``-inf``
    where they are 0), so ``softmax(transform(h)) = predict_proba(h)``.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> logits = np.array([[2.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    >>> hb = oc.HistogramBinning(n_bins=10).fit(logits, np.array([0, 1, 1, 1]))
    >>> hb.predict_proba(logits).round(2)
    array([[0.5, 0.5],
           [0.5, 0.5],
           [0. , 1. ],
           [0. , 1. ]])
    """

    def __init__(self, n_bins=15, mode="top-label"):
        self.n_bins = n_bins
        self.mode = mode

    def fit(self, logits, y, sample_weight=None):
        """Estimate the per-bin frequencies from held-out logits and labels (or soft targets).

        Parameters
        ----------
        logits : array-like or torch.Tensor of shape (n_samples, n_classes)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self : HistogramBinning

        Raises
        ------
        ValueError
            For bad ``n_bins`` / ``mode`` and the input errors of :meth:`TemperatureScaling.fit`
            (``-inf`` logits accepted likewise), except that a label on a class with logit
            ``-inf`` is not an error here: it counts as a wrong top-label prediction.
        """
        caller = "HistogramBinning.fit"
        n_bins = check_int(self.n_bins, "n_bins", caller, low=1)
        mode = check_option(self.mode, "mode", caller, ("top-label", "one-vs-rest"))
        logits = check_logits(logits, caller, allow_neg_inf=True)
        n, k = logits.shape
        target = _check_targets(y, n, k, caller)
        weight = _check_sample_weight(sample_weight, n, caller)
        w = np.ones(n) if weight is None else weight
        probs = softmax(logits.astype(np.float64))
        possible = np.isfinite(logits)  # -inf: an impossible class, probability 0 throughout
        edges = _bin_edges(n_bins)
        rows = np.arange(n)
        if mode == "top-label":
            yhat = probs.argmax(axis=1)
            outcome = (yhat == target).astype(float) if target.ndim == 1 else target[rows, yhat]
            idx = _bin_index(probs[rows, yhat], edges)
            w = np.where(possible.sum(axis=1) > 1, w, 0.0)  # one possible class: always 1
            mass = np.bincount(idx, weights=w, minlength=n_bins)
            hits = np.bincount(idx, weights=w * outcome, minlength=n_bins)
        else:
            onehot = np.zeros((n, k))
            if target.ndim == 1:
                onehot[rows, target] = 1.0
            else:
                onehot = target
            idx = _bin_index(probs, edges) + n_bins * np.arange(k)  # (n, k): class-major bins
            cell = np.where(possible, w[:, None], 0.0)  # impossible entries are not binned
            mass = np.bincount(idx.ravel(), weights=cell.ravel(), minlength=n_bins * k)
            hits = np.bincount(idx.ravel(), weights=(onehot * cell).ravel(),
                               minlength=n_bins * k)
            mass, hits = mass.reshape(k, n_bins), hits.reshape(k, n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(mass > 0, hits / np.where(mass > 0, mass, 1.0), np.nan)
        self.bin_edges_ = edges
        self.bin_values_ = values
        self.bin_weights_ = mass
        self.mode_ = mode
        self.n_classes_ = k
        return self

    def predict_proba(self, logits) -> np.ndarray:
        """Calibrated probabilities; shape (n_samples, n_classes), input float dtype.

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        ValueError
            For logits that are not 2-D with ``n_classes_`` columns, or that hold NaN, ``+inf``
            or a row of ``-inf``.
        """
        _check_fitted(self, "bin_values_", "predict_proba")
        logits = check_logits(logits, "HistogramBinning.predict_proba", n_classes=self.n_classes_,
                              allow_neg_inf=True)
        probs = softmax(logits.astype(np.float64))
        possible = np.isfinite(logits)
        n, k = probs.shape
        rows = np.arange(n)
        edges, values = self.bin_edges_, self.bin_values_
        if self.mode_ == "top-label":
            yhat = probs.argmax(axis=1)
            conf = probs[rows, yhat]
            others = possible.sum(axis=1) - 1  # other possible classes
            new = values[_bin_index(conf, edges)]
            new = np.where(np.isnan(new), conf, new)
            new = np.where(others > 0, new, 1.0)  # the only possible class keeps 1
            rest = 1.0 - conf
            with np.errstate(invalid="ignore", divide="ignore"):
                even = np.where(possible, ((1.0 - new) / np.maximum(others, 1))[:, None], 0.0)
                scaled = np.where(
                    rest[:, None] > 0,
                    probs * ((1.0 - new) / np.where(rest > 0, rest, 1.0))[:, None],
                    even,
                )
            scaled[rows, yhat] = new
            out = scaled
        else:
            idx = _bin_index(probs, edges)
            new = values[np.arange(k)[None, :], idx]
            out = np.where(possible, np.where(np.isnan(new), probs, new), 0.0)
            sums = out.sum(axis=1, keepdims=True)
            uniform = possible / possible.sum(axis=1, keepdims=True)
            out = np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), uniform)
        return out.astype(logits.dtype)

    def transform(self, logits) -> np.ndarray:
        """``log(predict_proba(logits))`` (``-inf`` where a probability is 0).

        Raises
        ------
        RuntimeError, ValueError
            As :meth:`predict_proba`.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(logits))


def _bin_edges(n_bins):
    """``b / M`` in float64, the edges :func:`overlapcal.metrics.ece` compares against."""
    return np.arange(n_bins + 1) / n_bins


def _bin_index(values, edges):
    """``b`` with ``edges[b] < v <= edges[b + 1]`` (right-closed; 0 for ``v = 0``)."""
    n_bins = edges.size - 1
    return np.clip(np.searchsorted(edges, values, side="left") - 1, 0, n_bins - 1)
