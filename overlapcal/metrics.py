"""Sample calibration metrics on ``(probs, labels)`` (THEORY.md 2.1, 2.3 and 2.4).

Every metric is a pure function of arrays. ``probs`` is ``(n_samples, n_classes)`` (numpy arrays
or torch tensors; float32 stays float32 while the array is read, sums are accumulated in
float64). The outcome is given in one of two ways, never both:

- ``labels``: integer classes of shape ``(n_samples,)``: the usual sample metrics;
- ``posterior=``: the true class probabilities ``eta(x_i)`` of shape ``(n_samples, n_classes)``:
  the *ground-truth* variant of THEORY.md 2.4, where ``1{y_i = c}`` is replaced by
  ``eta(x_i)_c`` (top-label metrics use ``eta(x_i)_{argmax probs_i}``). Its expectation over
  labels drawn from ``eta`` equals the label version for linear functionals (NLL, Brier) and it
  removes label noise from every binned estimate.

Conventions shared by the top-label metrics:

- **Predicted class and ties**: ``argmax`` with ties going to the smallest class index (numpy's
  ``argmax``; also torchmetrics, netcal, relplot, uncertainty-calibration and
  :meth:`overlapcal.Predictor.predict`). The confidence is the maximum probability; a sample is
  correct when its label equals that first argmax (a tied label with a larger index counts as
  wrong). Ties have probability zero for continuous outputs; they matter for the uniform
  predictor, where this rule gives accuracy ``P(Y = 0)`` rather than 1.
- **Equal-width bins** (``binning="uniform"``, ``M = n_bins``): right-closed,
  ``B_0 = [0, 1/M]`` and ``B_b = (b/M, (b+1)/M]`` for ``b >= 1``; a confidence of exactly 0
  lands in the first bin and exactly 1 in the last. Comparisons are exact against the float64
  edges ``b/M`` (Guo et al. 2017's definition and uncertainty-calibration's ``get_ece``).
  torchmetrics (``torch.bucketize(..., right=True) - 1`` on float32 ``linspace`` edges) and netcal
  (``numpy.histogramdd``) use left-closed bins ``[b/M, (b+1)/M)`` instead, and torchmetrics gives a
  confidence of exactly 1.0 a bin of its own; results differ only for confidences that sit
  exactly on an interior edge or at 1.0.
- **Equal-mass bins** (``binning="quantile"``): sort the ``n`` confidences, split them into
  ``M' = min(M, n)`` consecutive runs whose sizes differ by at most one (the first ``n mod M'``
  runs are one longer: ``numpy.array_split``), and put an edge at the midpoint (in float64)
  between the last value of one run and the first of the next; duplicate edges are merged and
  bins are right-closed as above. With no tie straddling a split, the bins are exactly the runs
  (TorchUncertainty's ``AdaptiveCalibrationError`` uses the same runs); tied confidences always
  share a bin (so the result does not depend on the order of the samples), which can leave a
  bin larger than ``ceil(n/M)`` and fewer than ``M`` non-empty bins. This is
  uncertainty-calibration's ``get_equal_bins`` (which takes the midpoint in the input dtype).
- Empty bins are skipped everywhere (weight zero, not counted by ``ace`` or ``mce``).

Metrics return a float (or, with ``reduction="none"``, the per-sample values). Confidence
intervals come on request: ``n_bootstrap=`` (with ``confidence=`` and ``rng=``) makes a metric
return the :class:`BootstrapResult` of :func:`bootstrap` for the same arguments, through the same
code. For the top-label metrics :func:`bootstrap` resamples as counts (``numpy.bincount`` of
resampled indices) and re-evaluates the binned sums with those weights, so ``probs`` is read
once whatever ``n_bootstrap`` is.

Inputs are probabilities. :func:`nll` and :func:`kl_to_posterior`, whose values depend on the
smallest probabilities, also take logits with ``from_logits=True`` (exact where the softmax
underflows); for the binned metrics pass ``softmax(logits)``, which loses nothing they use.

The numbers behind reliability diagrams come from :func:`reliability_curve` (binned, with the
bins of :func:`ece`), :func:`classwise_reliability_curves` (one per class, the bins of
:func:`classwise_ece`) and :func:`smooth_reliability_curve` (the kernel of :func:`smooth_ece`);
``overlapcal.plotting`` draws them.
"""

from __future__ import annotations

import inspect
import math
import weakref
from dataclasses import dataclass, field

import numpy as np
from scipy.special import rel_entr, xlogy

from ._numerics import kl_rows
from ._validation import (
    _input_eps,
    _is_tensor,
    _to_numpy,
    check_bool,
    check_int,
    check_labels,
    check_logits,
    check_option,
    check_probs,
    check_random_state,
    check_real,
    param_error,
    probability_tolerance,
)

__all__ = [
    "expected_calibration_error",
    "ece",
    "maximum_calibration_error",
    "mce",
    "average_calibration_error",
    "ace",
    "adaptive_ece",
    "classwise_ece",
    "debiased_l2_ce",
    "smooth_ece",
    "negative_log_likelihood",
    "nll",
    "brier_score",
    "brier",
    "kl_to_posterior",
    "bootstrap",
    "BootstrapResult",
    "reliability_curve",
    "classwise_reliability_curves",
    "smooth_reliability_curve",
    "ReliabilityCurve",
    "SmoothReliabilityCurve",
]

#: Bytes of ``probs`` processed at once by the chunked passes (validation and the metric's own
#: work are fused per chunk, so the array is read from memory once).
_CHUNK_BYTES = 1 << 20
#: Bytes of the column-major block copied at once by quantile classwise binning.
_BLOCK_BYTES = 1 << 25

_EPS32 = float(np.finfo(np.float32).eps)

_BINNINGS = ("uniform", "quantile")
_NORMS = ("l1", "l2", "max")
_REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------
# Input handling: light shape checks up front, value checks fused into the chunked passes
# --------------------------------------------------------------------------------------------


#: Arrays made by :func:`_prob_array` from half-precision input (numpy float16, torch float16
#: or bfloat16) and validated in full there with the half-precision tolerance: their float32
#: copies would fail a :class:`_Screen` (float32 tolerance), which has nothing left to check.
_VALIDATED = weakref.WeakValueDictionary()


def _prob_array(probs, caller: str, name: str) -> np.ndarray:
    """``probs`` as a float32/float64 ndarray with at least one row and two columns.

    Anything else (wrong ndim, empty, one column, integer, half-precision or other dtypes) goes
    through :func:`check_probs`, which raises the standard error or converts and fully
    validates. Finite, non-negative, normalised values are checked chunk by chunk by
    :class:`_Screen`.
    """
    arr = _to_numpy(probs, name, caller)
    half = _input_eps(probs) > _EPS32
    if (
        half
        or arr.dtype not in (np.float32, np.float64)
        or arr.ndim != 2
        or arr.shape[0] == 0
        or arr.shape[1] < 2
    ):
        arr = check_probs(probs, caller, name=name)
        if half:
            _VALIDATED[id(arr)] = arr
    return arr


class _Screen:
    """Cheap per-chunk check of probability rows; defers to :func:`check_probs` on suspicion.

    A chunk passes when its row sums (in the array's dtype) are within half the dtype-aware
    tolerance of :func:`check_probs` and its minimum is >= 0; NaN and infinities make the sums
    non-finite and fail. Summation error in the dtype (at most ``k eps``) is far below the half
    tolerance, so a chunk that passes here passes :func:`check_probs`; on any failure the full
    :func:`check_probs` runs and raises its standard message (or lets a borderline array through).
    :meth:`rows` checks row sums and a minimum computed by the caller (fused into its own pass).
    """

    def __init__(self, array: np.ndarray, caller: str, name: str):
        self.array = array
        self.caller = caller
        self.name = name
        k = array.shape[1]
        self.tol = 0.5 * probability_tolerance(array.dtype) * max(1.0, k / 100)
        self.deferred = _VALIDATED.get(id(array)) is array  # half precision: checked in full

    def __call__(self, chunk: np.ndarray) -> None:
        if self.deferred:
            return
        # einsum: the same dtype and error bound as sum(axis=1), 3-5x faster on short rows
        self.rows(np.einsum("ij->i", chunk), chunk.min())

    def rows(self, sums: np.ndarray, minimum) -> None:
        """Check precomputed row sums and the smallest entry of the rows they belong to."""
        with np.errstate(invalid="ignore"):
            self.bounds(minimum, sums.min(), sums.max())

    def bounds(self, minimum, lowest_sum, highest_sum) -> None:
        """Check the smallest entry and the extreme row sums of rows screened by the caller
        (NaN in any of them fails, as NaN compares false)."""
        if self.deferred:
            return
        ok = bool(minimum >= 0) and bool(abs(lowest_sum - 1.0) <= self.tol) and bool(
            abs(highest_sum - 1.0) <= self.tol)
        if not ok:
            check_probs(self.array, self.caller, name=self.name)
            self.deferred = True  # the full check passed: nothing left to screen


def _chunk_rows(n_columns: int, itemsize: int) -> int:
    return max(1, _CHUNK_BYTES // (n_columns * itemsize))


def _outcome(labels, posterior, probs: np.ndarray, caller: str):
    """Validate the outcome: exactly one of ``labels`` and ``posterior``. Returns (y, eta)."""
    n, k = probs.shape
    if posterior is None:
        if labels is None:
            raise param_error(
                "labels", caller,
                "an array of integer class labels (or pass the true class probabilities as "
                "posterior=...)",
                None,
            )
        return check_labels(labels, k, caller, n_samples=n), None
    if labels is not None:
        raise ValueError(
            f"The 'labels' and 'posterior' parameters of {caller} are mutually exclusive: pass "
            "the observed labels or the true class probabilities, not both."
        )
    eta = _prob_array(posterior, caller, "posterior")
    if eta.shape != probs.shape:
        raise ValueError(
            f"The 'posterior' parameter of {caller} must have the same shape as 'probs' "
            f"{probs.shape}. Got an array of shape {eta.shape} instead."
        )
    return None, eta


class _TopLabel:
    """Per-sample top-label data: confidence ``f_i``, target ``t_i`` and residual ``t_i - f_i``.

    ``t_i`` is ``1{y_i = argmax}`` with labels or ``eta(x_i)_{argmax}`` with a posterior.
    Bin indices and the sort order are cached so bootstrap replicates reuse them.
    """

    def __init__(self, conf: np.ndarray, target: np.ndarray):
        self.conf = conf
        self.target = target
        self.resid = target - conf  # float64
        self.n = conf.shape[0]
        self._uniform: dict[int, np.ndarray] = {}
        self._order: np.ndarray | None = None
        self._conf64: np.ndarray | None = None
        self._sorted: np.ndarray | None = None

    @property
    def conf64(self) -> np.ndarray:
        if self._conf64 is None:
            self._conf64 = self.conf.astype(np.float64)
        return self._conf64

    def uniform_index(self, n_bins: int) -> np.ndarray:
        if n_bins not in self._uniform:
            self._uniform[n_bins] = _uniform_bin_index(self.conf, n_bins)
        return self._uniform[n_bins]

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.argsort(self.conf, kind="stable")
        return self._order

    @property
    def sorted_conf64(self) -> np.ndarray:
        if self._sorted is None:
            self._sorted = self.conf64[self.order]
        return self._sorted


#: Rows with at most this many columns take the transposed path of :class:`_ShortRows`.
_SHORT_ROWS = 32


class _ShortRows:
    """Row max, first argmax and row sums of chunks with few columns, at memory speed.

    numpy reduces a short row in a scalar loop (~40 ns per row for k = 10, slower than reading
    it). Here a chunk is copied to its transpose, so every reduction runs over contiguous
    columns in SIMD: ``max`` and ``sum`` down the k rows of the copy, then ``(1, j) . 1{h_j =
    max}`` in one matrix product gives, per sample, the number of maximisers and (when it is
    one) their index. Rows with ties (or NaN) fall back to ``argmax``, so the result is exactly
    ``argmax``'s (the first maximiser). Buffers are allocated once per call (a fresh 1 MiB
    array per chunk would page-fault on every chunk).
    """

    def __init__(self, rows: int, k: int, dtype):
        self.T = np.empty((k, rows), dtype)
        self.eq = np.empty((k, rows), bool)
        self.eqf = np.empty((k, rows), dtype)
        self.count_index = np.empty((2, rows), dtype)
        self.weights = np.stack([np.ones(k), np.arange(k)]).astype(dtype)

    def __call__(self, chunk, conf, top, sums):
        """Fill ``conf``, ``top`` and ``sums`` for ``chunk``; return its smallest entry."""
        m = chunk.shape[0]
        T, eq, eqf, ci = self.T[:, :m], self.eq[:, :m], self.eqf[:, :m], self.count_index[:, :m]
        np.copyto(T, chunk.T)
        with np.errstate(invalid="ignore", over="ignore"):
            np.maximum.reduce(T, axis=0, out=conf)
            np.add.reduce(T, axis=0, out=sums)
            np.equal(T, conf, out=eq)
        np.copyto(eqf, eq)
        np.matmul(self.weights, eqf, out=ci)  # exact: sums of at most k ones and of j < k
        np.copyto(top, ci[1], casting="unsafe")
        ties = ci[0] != 1
        if ties.any():
            top[ties] = chunk[ties].argmax(axis=1)
        return T.min()


def _top_label(probs, labels, posterior, caller: str) -> _TopLabel:
    """One chunked pass over ``probs`` (and one over ``posterior``): validate, argmax, gather.

    Each chunk is read from memory once; the row sums and the minimum that validate it, the
    argmax and the gather of the confidence all run on the cache-resident chunk.
    """
    P = _prob_array(probs, caller, "probs")
    y, eta = _outcome(labels, posterior, P, caller)
    n, k = P.shape
    conf = np.empty(n, dtype=P.dtype)
    top = np.empty(n, dtype=np.intp)
    sums = np.empty(n, dtype=P.dtype)
    step = _chunk_rows(k, P.itemsize)
    starts = range(0, n, step)
    least = np.empty(len(starts), dtype=P.dtype)
    if k <= _SHORT_ROWS:
        short = _ShortRows(min(step, n), k, P.dtype)
        for j, start in enumerate(starts):
            sl = slice(start, start + step)
            least[j] = short(P[sl], conf[sl], top[sl], sums[sl])
    else:
        for j, start in enumerate(starts):
            sl = slice(start, start + step)
            chunk = P[sl]
            np.einsum("ij->i", chunk, out=sums[sl])
            least[j] = chunk.min()
            np.argmax(chunk, axis=1, out=top[sl])
            conf[sl] = np.take_along_axis(chunk, top[sl, None], axis=1)[:, 0]
    _Screen(P, caller, "probs").rows(sums, least.min())  # NaN propagates to both and fails
    if eta is None:
        return _TopLabel(conf, (top == y).astype(np.float64))
    target = np.empty(n, dtype=np.float64)
    screen_eta = _Screen(eta, caller, "posterior")
    step = _chunk_rows(k, eta.itemsize)
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        echunk = eta[sl]
        screen_eta(echunk)
        target[sl] = echunk[np.arange(echunk.shape[0]), top[sl]]
    return _TopLabel(conf, target)


# --------------------------------------------------------------------------------------------
# Binning
# --------------------------------------------------------------------------------------------


def _uniform_bin_index(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Index ``b`` with ``e_b < x <= e_{b+1}`` (``b = 0`` also for ``x = 0``), exactly, where
    ``e_b = fl(b/M)`` are the float64 edges ``np.arange(M + 1) / M``.

    float32 ``x`` (24 significant bits): ``t = x M`` is exact in float64 for ``M < 2^29``, so
    ``b = ceil(t) - 1`` is the exact bin of ``x`` against the exact edges ``b/M``; and no float32
    lies between ``b/M`` and its rounding ``fl(b/M)`` (a float32 within ``2^-53 b/M`` of ``b/M``
    would need ``M >= 2^30``), so the exact and the float64 edges bin it alike. float64 ``x``:
    ``ceil(x M) - 1`` is off by at most one where ``x M`` rounds across an integer; one
    comparison with the edges on each side fixes it (``fl(b/M)`` is recomputed, as
    ``np.arange`` computes it, instead of gathered). Both equal
    ``searchsorted(edges[1:-1], x, side="left")`` at a fraction of its cost.
    """
    xf = np.asarray(x)
    exact = xf.dtype == np.float32 and n_bins < 2**29
    xf = xf.astype(np.float64, copy=False)
    b = np.multiply(xf, n_bins)
    np.ceil(b, out=b)
    b -= 1.0
    np.clip(b, 0.0, n_bins - 1.0, out=b)
    if not exact:
        b -= (b > 0.0) & (xf <= b / n_bins)
        b += (b < n_bins - 1.0) & (xf > (b + 1.0) / n_bins)
    return b.astype(np.intp)


def _split_ranks(total: int, n_bins: int) -> np.ndarray:
    """First rank of runs 2..M' when ``total`` sorted values are split like ``array_split``."""
    parts = min(n_bins, total)
    q, rem = divmod(total, parts)
    sizes = np.full(parts, q, dtype=np.int64)
    sizes[:rem] += 1
    return np.cumsum(sizes)[:-1]


def _quantile_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass edges: midpoints between consecutive runs of the sorted values, deduplicated."""
    s = _split_ranks(x.shape[0], n_bins)
    if s.size == 0:
        return np.empty(0)
    kth = np.unique(np.concatenate([s - 1, s]))
    part = np.partition(x, kth)
    lo = part[s - 1].astype(np.float64)
    hi = part[s].astype(np.float64)
    return np.unique(0.5 * (lo + hi))


def _quantile_edges_weighted(sorted_x: np.ndarray, sorted_w: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-mass edges of the multiset that repeats ``sorted_x[j]`` ``sorted_w[j]`` times."""
    cum = np.cumsum(sorted_w)
    total = int(round(cum[-1]))
    s = _split_ranks(total, n_bins)
    if s.size == 0:
        return np.empty(0)
    # the value at rank r of the multiset is the first sorted_x[j] with cum[j] > r
    lo = sorted_x[np.searchsorted(cum, s - 1, side="right")]
    hi = sorted_x[np.searchsorted(cum, s, side="right")]
    return np.unique(0.5 * (lo + hi))


def _bin_sums(data: _TopLabel, weights, n_bins: int, binning: str, *, with_target: bool = False):
    """Per-bin ``(count, sum of t - f, sum of t, sum of t^2)`` and the total count."""
    resid, target = data.resid, data.target
    if binning == "uniform":
        idx = data.uniform_index(n_bins)
        nb = n_bins
    elif weights is None:
        edges = _quantile_edges(data.conf, n_bins)
        idx = np.searchsorted(edges, data.conf, side="left")
        nb = edges.size + 1
    else:
        # bootstrap replicate: work in sorted order, where each bin is a contiguous run
        order = data.order
        weights = weights[order]
        sorted_x = data.sorted_conf64
        edges = _quantile_edges_weighted(sorted_x, weights, n_bins)
        nb = edges.size + 1
        ends = np.searchsorted(sorted_x, edges, side="right")  # x <= edge: right-closed bins
        idx = np.repeat(np.arange(nb), np.diff(ends, prepend=0, append=data.n))
        resid, target = resid[order], target[order]
    if weights is None:
        count = np.bincount(idx, minlength=nb).astype(np.float64)
        rsum = np.bincount(idx, weights=resid, minlength=nb)
        total = float(data.n)
        wt = target
    else:
        count = np.bincount(idx, weights=weights, minlength=nb)
        rsum = np.bincount(idx, weights=weights * resid, minlength=nb)
        total = float(weights.sum())
        wt = weights * target
    if not with_target:
        return count, rsum, None, None, total
    tsum = np.bincount(idx, weights=wt, minlength=nb)
    tsq = np.bincount(idx, weights=wt * target, minlength=nb)
    return count, rsum, tsum, tsq, total


def _binned_error(count, rsum, total, norm: str) -> float:
    """``l1``: sum_b |B_b|/n |gap_b|; ``l2``: sqrt(sum_b |B_b|/n gap_b^2); ``max``: max_b |gap_b|;
    ``mean``: unweighted mean of |gap_b| over non-empty bins. ``gap_b = mean_b(t) - mean_b(f)``."""
    nonempty = count > 0
    c = count[nonempty]
    s = rsum[nonempty]
    if norm == "l1":
        return float(np.abs(s).sum() / total)
    if norm == "l2":
        return float(math.sqrt(np.sum(s * s / c) / total))
    gaps = np.abs(s) / c
    if norm == "max":
        return float(gaps.max())
    return float(gaps.mean())


# --------------------------------------------------------------------------------------------
# Evaluators: (validated parameters) -> function(top-label data, weights or None) -> float.
# The public functions and bootstrap share them, so both compute exactly the same estimator.
# --------------------------------------------------------------------------------------------


def _check_bins(n_bins, binning, caller):
    n_bins = check_int(n_bins, "n_bins", caller, low=1)
    return n_bins, check_option(binning, "binning", caller, _BINNINGS)


def _ece_evaluator(n_bins=15, binning="uniform", norm="l1", *, caller="expected_calibration_error"):
    n_bins, binning = _check_bins(n_bins, binning, caller)
    norm = check_option(norm, "norm", caller, _NORMS)

    def evaluate(data, weights):
        count, rsum, _, _, total = _bin_sums(data, weights, n_bins, binning)
        return _binned_error(count, rsum, total, norm)

    return evaluate


def _mce_evaluator(n_bins=15, binning="uniform"):
    return _ece_evaluator(n_bins, binning, "max", caller="maximum_calibration_error")


def _ace_evaluator(n_bins=15, binning="uniform"):
    n_bins, binning = _check_bins(n_bins, binning, "average_calibration_error")

    def evaluate(data, weights):
        count, rsum, _, _, total = _bin_sums(data, weights, n_bins, binning)
        return _binned_error(count, rsum, total, "mean")

    return evaluate


def _adaptive_evaluator(n_bins=15, norm="l1"):
    return _ece_evaluator(n_bins, "quantile", norm, caller="adaptive_ece")


def _debiased_evaluator(n_bins=15, binning="quantile", squared=False):
    caller = "debiased_l2_ce"
    n_bins, binning = _check_bins(n_bins, binning, caller)
    squared = check_bool(squared, "squared", caller)

    def evaluate(data, weights):
        count, rsum, tsum, tsq, total = _bin_sums(data, weights, n_bins, binning, with_target=True)
        big = count >= 2
        c, s, t1, t2 = count[big], rsum[big], tsum[big], tsq[big]
        # per bin: (n_b / n) [ gap_b^2 - s_t^2 / n_b ], s_t^2 the unbiased sample variance of t
        plug_in = s * s / c
        variance = (t2 - t1 * t1 / c) / (c - 1.0)
        value = float(np.sum(plug_in - variance) / total)
        return value if squared else math.sqrt(max(value, 0.0))

    return evaluate


# ---- smooth ECE ------------------------------------------------------------------------------

#: Grid resolution: at least this many grid steps per bandwidth (linear binning error ~ (h/s)^2).
_SMOOTH_STEPS_PER_SIGMA = 32
#: Coarsest grid: 2**12 + 1 points (enough for bandwidths >= 32 / 4096 ~ 0.0078).
_SMOOTH_MIN_LEVEL = 12
#: Smallest bandwidth (grid 2**19 + 1 points); the fixed-point search does not go below it.
_SMOOTH_MIN_BANDWIDTH = 1e-4
#: Bisection stops when the bracket around the fixed point is narrower than this.
_SMOOTH_TOL = 1e-7


class _SmoothGrid:
    """Linear binning of residual masses ``w_i (t_i - f_i)`` at ``f_i`` onto dyadic grids.

    The reflected-Gaussian smoothing of the binned masses is one real FFT of their even periodic
    extension (period 2) multiplied by the Gaussian's Fourier transform, which sums every mirror
    image of the kernel exactly (no truncation of the kernel or of the reflections).
    """

    def __init__(self, data: _TopLabel, weights):
        self.x = data.conf64
        self.values = data.resid if weights is None else weights * data.resid
        self.total = float(data.n if weights is None else weights.sum())
        self._spectra: dict[int, np.ndarray] = {}

    def spectrum(self, level: int) -> np.ndarray:
        """rfft of the even periodic extension of the masses on the grid of 2**level + 1 points."""
        if level not in self._spectra:
            size = 2**level
            pos = self.x * size  # exact: size is a power of two
            i = np.minimum(pos.astype(np.intp), size - 1)
            frac = pos - i
            upper = self.values * frac
            a = np.bincount(i, weights=self.values - upper, minlength=size + 1)
            a += np.bincount(i + 1, weights=upper, minlength=size + 1)
            # even extension over one period [0, 2): the mirror images of masses at 0 and 1 fall
            # on the masses themselves, which therefore count twice (mass-preserving reflection)
            ext = np.concatenate([a, a[-2:0:-1]])
            ext[0] *= 2.0
            ext[size] *= 2.0
            self._spectra[level] = np.fft.rfft(ext)
        return self._spectra[level]

    def value(self, sigma: float) -> float:
        """``smECE_sigma = (1/n) int_0^1 |sum_i r_i K_sigma(x, f_i)| dx`` on the grid."""
        level = max(_SMOOTH_MIN_LEVEL, math.ceil(math.log2(_SMOOTH_STEPS_PER_SIGMA / sigma)))
        spectrum = self.spectrum(level)
        g = spectrum.size  # = 2**level + 1 grid points; rfft frequencies q = 0..P/2, P = 2(g-1)
        q = np.arange(g, dtype=np.float64)  # frequency xi = q / P per grid step = q / 2 per unit
        multiplier = np.exp(-0.5 * (math.pi * sigma * q) ** 2)
        smoothed = np.fft.irfft(spectrum * multiplier, n=2 * (g - 1))[:g]
        absolute = np.abs(smoothed)
        # trapezoid rule: h * sum' R(x_j), where R(x_j) = smoothed_j / h
        integral = absolute.sum() - 0.5 * (absolute[0] + absolute[-1])
        return float(integral / self.total)


def _smooth_fixed_point(grid: _SmoothGrid) -> float:
    """Bandwidth ``sigma*`` with ``smECE_sigma* = sigma*`` by bisection on [1e-4, 1].

    ``smECE_sigma`` is non-increasing in ``sigma`` (Blasiok and Nakkiran 2024), so
    ``smECE_sigma - sigma`` is decreasing and has one root.
    """
    lo, hi = _SMOOTH_MIN_BANDWIDTH, 1.0
    if grid.value(hi) >= hi:
        return hi
    # no evaluation at lo (its grid is the finest): if the root is below lo, the bracket
    # shrinks onto lo and the returned bandwidth is within the tolerance of it
    while hi - lo > _SMOOTH_TOL:
        mid = 0.5 * (lo + hi)
        if grid.value(mid) > mid:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _smooth_evaluator(bandwidth=None):
    caller = "smooth_ece"
    if bandwidth is not None:
        bandwidth = check_real(bandwidth, "bandwidth", caller, low=_SMOOTH_MIN_BANDWIDTH)

    def evaluate(data, weights):
        grid = _SmoothGrid(data, weights)
        sigma = _smooth_fixed_point(grid) if bandwidth is None else bandwidth
        return grid.value(sigma)

    return evaluate


# --------------------------------------------------------------------------------------------
# Public top-label metrics
# --------------------------------------------------------------------------------------------


def expected_calibration_error(
    probs, labels=None, n_bins=15, binning="uniform", norm="l1", *, posterior=None,
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """Top-label expected calibration error (Guo et al. 2017), alias ``ece``.

    Parameters
    ----------
    probs : array_like or torch.Tensor, shape (n_samples, n_classes)
        Predicted probabilities; rows non-negative and summing to 1 (dtype-aware tolerance).
    labels : array_like of int, shape (n_samples,), optional
        Observed classes in ``[0, n_classes)``. Give either ``labels`` or ``posterior``.
    n_bins : int, default 15
        Number of bins ``M >= 1``.
    binning : {"uniform", "quantile"}, default "uniform"
        Equal-width bins or equal-mass bins (module docstring: edge and tie conventions).
    norm : {"l1", "l2", "max"}, default "l1"
        ``l1`` is the ECE, ``l2`` the root-mean-square calibration error, ``max`` the MCE.
    posterior : array_like, shape (n_samples, n_classes), optional, keyword-only
        True class probabilities ``eta(x_i)``; replaces ``1{y_i = argmax}`` by
        ``eta(x_i)_{argmax}`` (ground-truth calibration, THEORY.md 2.4).
    n_bootstrap : int, optional, keyword-only
        Number of bootstrap resamples (>= 2) for a confidence interval. When given, the result
        is the :class:`BootstrapResult` of :func:`bootstrap` called with this metric and the
        same arguments (the same numbers for the same ``rng``); by default a float.
    confidence : float, default 0.95, keyword-only
        Level of the percentile interval, in (0, 1); used only with ``n_bootstrap``.
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling; used only with ``n_bootstrap``.

    Returns
    -------
    float or BootstrapResult
        The calibration error, in ``[0, 1]`` (with ``n_bootstrap``: that value, its
        percentile interval and bootstrap standard error).

    Raises
    ------
    ValueError
        On invalid ``probs`` / ``labels`` / ``posterior`` (non-finite, negative or
        unnormalised rows, wrong shape, labels out of range or not integer, length mismatch,
        empty input, both or neither outcome given), ``n_bins < 1``, an unknown ``binning`` /
        ``norm``, ``n_bootstrap < 2`` or ``confidence`` outside (0, 1).
    TypeError
        On an invalid ``rng`` (with ``n_bootstrap``).

    Notes
    -----
    With ``f_i = max_c probs_ic`` (the confidence), ``t_i = 1{y_i = argmax_c probs_ic}`` and bins
    ``B_b`` of the confidences (THEORY.md 2.3)::

        ECE = sum_b |B_b|/n |acc(B_b) - conf(B_b)|,
        acc(B_b) = mean_{B_b} t,   conf(B_b) = mean_{B_b} f,

    ``l2``: ``sqrt(sum_b |B_b|/n (acc - conf)^2)``; ``max``: ``max_b |acc - conf|`` over non-empty
    bins. This is torchmetrics' ``multiclass_calibration_error(norm=...)`` (and TorchUncertainty's
    ``CalibrationError``, which wraps it), netcal's ``ECE`` / ``MCE`` and uncertainty-calibration's
    ``get_ece`` (``l1``, exactly, edges included) and ``lower_bound_scaling_top_ce(..., p=2,
    debias=False, binning_scheme=get_equal_prob_bins)`` (``l2``), up to the bin-edge
    conventions listed in the module docstring. One chunked pass over ``probs`` (validation,
    ``argmax`` and a gather fused per chunk) then O(n) work on the confidences.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=1000)
    >>> labels = np.array([rng.choice(3, p=p) for p in probs])   # calibrated by construction
    >>> round(metrics.ece(probs, labels), 4)                      # label noise only
    0.0315
    >>> metrics.ece(probs, posterior=probs)                       # no label noise: exactly 0
    0.0
    >>> res = metrics.ece(probs, labels, n_bootstrap=100, rng=1)  # with a 95% interval
    >>> res == metrics.bootstrap(metrics.ece, probs, labels, n_bootstrap=100, rng=1)
    True
    >>> bool(res.low <= res.value <= res.high)
    True
    """
    if n_bootstrap is not None:
        return _bootstrap(expected_calibration_error, probs, labels, posterior, n_bootstrap,
                          confidence, rng, dict(n_bins=n_bins, binning=binning, norm=norm),
                          "expected_calibration_error")
    evaluate = _ece_evaluator(n_bins, binning, norm)
    return evaluate(_top_label(probs, labels, posterior, "expected_calibration_error"), None)


def maximum_calibration_error(
    probs, labels=None, n_bins=15, binning="uniform", *, posterior=None,
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """Maximum calibration error ``max_b |acc(B_b) - conf(B_b)|`` over non-empty bins (``mce``).

    Same as ``ece(..., norm="max")``; see :func:`expected_calibration_error` for the parameters
    (``n_bootstrap``, ``confidence`` and ``rng`` included: a :class:`BootstrapResult` instead of a
    float), conventions and errors. Matches netcal's ``MCE`` and torchmetrics' ``norm="max"`` (which also
    takes the maximum over non-empty bins; empty bins contribute 0) up to bin-edge conventions.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]])
    >>> round(metrics.mce(probs, np.array([0, 1, 0]), n_bins=5), 6)   # 0.8 predicted, wrong
    0.8
    """
    if n_bootstrap is not None:
        return _bootstrap(maximum_calibration_error, probs, labels, posterior, n_bootstrap,
                          confidence, rng, dict(n_bins=n_bins, binning=binning),
                          "maximum_calibration_error")
    evaluate = _mce_evaluator(n_bins, binning)
    return evaluate(_top_label(probs, labels, posterior, "maximum_calibration_error"), None)


def average_calibration_error(
    probs, labels=None, n_bins=15, binning="uniform", *, posterior=None,
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """netcal's ACE: unweighted mean of ``|acc(B_b) - conf(B_b)|`` over non-empty bins (``ace``).

    Parameters are those of :func:`expected_calibration_error` (without ``norm``); with
    ``n_bootstrap`` the result is a :class:`BootstrapResult` instead of a float.

    Notes
    -----
    ``ACE = (1/|{b : B_b non-empty}|) sum_{b : B_b non-empty} |acc(B_b) - conf(B_b)|``
    (THEORY.md 2.3; Neumann et al. 2018 as implemented by netcal's ``ACE`` with
    ``equal_intervals=True``, the default, and ``sample_threshold=1``). Every bin counts equally
    however few samples it holds, so ACE is noisier than ECE. Not to be confused with Nixon et
    al.'s "adaptive calibration error" (see :func:`adaptive_ece`, :func:`classwise_ece`).

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.65, 0.35]])
    >>> labels = np.array([0, 0, 1, 0])
    >>> # bins (0.4, 0.6]: {0.6} wrong; (0.6, 0.8]: {0.65, 0.8} right; (0.8, 1]: {0.9} right
    >>> round(metrics.ace(probs, labels, n_bins=5), 6)          # (0.6 + 0.275 + 0.1) / 3
    0.325
    """
    if n_bootstrap is not None:
        return _bootstrap(average_calibration_error, probs, labels, posterior, n_bootstrap,
                          confidence, rng, dict(n_bins=n_bins, binning=binning),
                          "average_calibration_error")
    evaluate = _ace_evaluator(n_bins, binning)
    return evaluate(_top_label(probs, labels, posterior, "average_calibration_error"), None)


def adaptive_ece(probs, labels=None, n_bins=15, norm="l1", *, posterior=None,
                 n_bootstrap=None, confidence=0.95, rng=None):
    """Top-label ECE with equal-mass bins (Nixon et al. 2019's adaptive binning).

    Same as ``ece(..., binning="quantile")``; see :func:`expected_calibration_error` for the
    parameters (``n_bootstrap``, ``confidence`` and ``rng`` included: a :class:`BootstrapResult`
    instead of a float; the equal-mass edges are recomputed on every resample) and errors, and
    the module docstring for how runs, ties and duplicate edges are handled.

    Notes
    -----
    ``sum_b |B_b|/n |acc(B_b) - conf(B_b)|`` over bins holding ``n/M`` confidences each
    (THEORY.md 2.3). This is TorchUncertainty's ``AdaptiveCalibrationError`` (top-label, sorted
    confidences split with ``tensor_split``) whenever no tie straddles a split, and
    uncertainty-calibration's ``get_ece_em``. Nixon et al.'s own "ACE" also averages over classes:
    that is ``classwise_ece(..., binning="quantile")``.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.7, 0.3]])
    >>> labels = np.array([0, 0, 1, 0])
    >>> # bins {0.6 (wrong), 0.7}: gap |0.5 - 0.65|; {0.8, 0.9}: gap |1 - 0.85|
    >>> round(metrics.adaptive_ece(probs, labels, n_bins=2), 6)
    0.15
    """
    if n_bootstrap is not None:
        return _bootstrap(adaptive_ece, probs, labels, posterior, n_bootstrap, confidence, rng,
                          dict(n_bins=n_bins, norm=norm), "adaptive_ece")
    evaluate = _adaptive_evaluator(n_bins, norm)
    return evaluate(_top_label(probs, labels, posterior, "adaptive_ece"), None)


def debiased_l2_ce(
    probs, labels=None, n_bins=15, binning="quantile", *, squared=False, posterior=None,
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """Debiased top-label l2 calibration error (Kumar, Liang and Ma 2019).

    Parameters
    ----------
    probs, labels, posterior
        As in :func:`expected_calibration_error`.
    n_bins : int, default 15
    binning : {"quantile", "uniform"}, default "quantile"
        Equal-mass bins by default, as in uncertainty-calibration.
    squared : bool, default False
        Return the debiased estimate of the *squared* error, unclipped (it can be negative; it
        is the unbiased one). By default the square root of its positive part is returned.
    n_bootstrap, confidence, rng : keyword-only
        As in :func:`expected_calibration_error`: with ``n_bootstrap`` a
        :class:`BootstrapResult` instead of a float.

    Returns
    -------
    float or BootstrapResult

    Notes
    -----
    Per bin with ``n_b >= 2`` samples, mean target ``y_b`` and gap ``g_b = y_b - conf(B_b)``:

        CE^2 = sum_b (n_b / n) [ g_b^2 - y_b (1 - y_b) / (n_b - 1) ],
        returned: sqrt(max(CE^2, 0)),

    bins with fewer than 2 samples contribute 0 (but count in ``n``). The subtracted term is the
    unbiased estimate of ``Var(y_b)``, the label-noise part of ``E[g_b^2]``: for a model that is
    constant within each bin, ``E[CE^2]`` is the true binned squared error. With ``posterior=``
    the targets ``t = eta_argmax`` are not 0/1 and the same term is written as the unbiased sample
    variance of ``t`` in the bin over ``n_b`` (which equals ``y_b (1 - y_b) / (n_b - 1)`` for 0/1
    targets).

    Matches uncertainty-calibration's ``get_top_calibration_error(probs, labels, p=2,
    debias=True)`` for continuous outputs, i.e. ``lower_bound_scaling_ce(..., p=2, debias=True,
    num_bins=15, binning_scheme=get_equal_bins, mode="top-label")`` (``unbiased_l2_ce``); its
    ``get_calibration_error`` defaults to ``mode="marginal"`` (a class-wise average) and switches
    to one bin per distinct value when there are fewer than ``n/4`` distinct outputs, which this
    function does not do. torchmetrics' ``debias=True`` subtracts the same term but uses
    equal-width bins.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> f = rng.choice([0.6, 0.7, 0.8, 0.9], size=20000)
    >>> probs = np.stack([f, 1 - f], axis=1)
    >>> labels = (rng.random(20000) > f).astype(int)          # calibrated: P(y = 0) = f
    >>> round(metrics.ece(probs, labels, norm="l2"), 4)          # plug-in l2: biased upwards
    0.0068
    >>> round(metrics.debiased_l2_ce(probs, labels, binning="uniform", squared=True), 6)
    1.1e-05
    >>> round(metrics.debiased_l2_ce(probs, labels, binning="uniform"), 4)   # its square root
    0.0033
    """
    if n_bootstrap is not None:
        return _bootstrap(debiased_l2_ce, probs, labels, posterior, n_bootstrap, confidence, rng,
                          dict(n_bins=n_bins, binning=binning, squared=squared),
                          "debiased_l2_ce")
    evaluate = _debiased_evaluator(n_bins, binning, squared)
    return evaluate(_top_label(probs, labels, posterior, "debiased_l2_ce"), None)


def smooth_ece(probs, labels=None, bandwidth=None, *, posterior=None,
               n_bootstrap=None, confidence=0.95, rng=None):
    """Top-label smooth ECE (Blasiok and Nakkiran 2024), with the fixed-point bandwidth by default.

    Parameters
    ----------
    probs, labels, posterior
        As in :func:`expected_calibration_error`.
    bandwidth : float, optional
        Kernel width ``sigma >= 1e-4``. ``None`` (default) uses the fixed point ``sigma*`` with
        ``smECE_sigma* = sigma*``; the returned value then *is* that bandwidth (to 1e-7).
    n_bootstrap, confidence, rng : keyword-only
        As in :func:`expected_calibration_error`: with ``n_bootstrap`` a
        :class:`BootstrapResult` instead of a float (the fixed-point bandwidth is recomputed on
        every resample).

    Returns
    -------
    float or BootstrapResult

    Notes
    -----
    With confidences ``f_i``, residuals ``r_i = t_i - f_i`` and the reflected Gaussian kernel on
    [0, 1] (the density of ``x`` plus ``N(0, sigma^2)`` noise folded back into [0, 1] by
    reflection at 0 and 1, every mirror image included):

        K_sigma(x, u) = sum_{m in Z} [phi_sigma(x - u - 2m) + phi_sigma(x + u - 2m)],
        smECE_sigma   = (1/n) int_0^1 | sum_i r_i K_sigma(x, f_i) | dx,

    i.e. the integral of the kernel-smoothed residual ``|r_hat(x)|`` against the kernel density
    estimate ``delta_hat(x)`` of the confidences (THEORY.md 2.3). ``smECE_sigma`` is
    non-increasing in ``sigma``, and ``sigma*`` is found by bisection on ``[1e-4, 1]`` to 1e-7
    (if ``smECE_1 >= 1`` the result is 1; if ``smECE_{1e-4} <= 1e-4``, ``sigma* = 1e-4``).

    Discretisation: residual masses are linearly binned onto a dyadic grid with at least 32
    points per ``sigma`` (and at least 4097 points), smoothed by one real FFT of their even
    periodic extension times the Gaussian's Fourier transform, and integrated by the trapezoid
    rule: O(n + G log G) per bandwidth.

    relplot (``relplot.smECE``, the authors' package) computes the same quantity with a
    coarser discretisation: a kernel truncated to ``|x - u| <= 1/2``, one mirror image per side,
    grid masses at exactly 0 and 1 counted once instead of twice (points within one grid step of
    0 or 1, e.g. confidences of exactly 1.0, get about half weight there), a Riemann sum on 200+
    points and a 10-step bisection (its ``sigma*`` is exact to ~1e-3 only). The two agree to
    about 1e-3 when little mass sits within 1e-3 of 0 or 1 and ``sigma* <~ 0.15`` (measured:
    2e-4 to 3e-4 on continuous data; 8e-3 with 30% of confidences at exactly 1.0, where this
    implementation agrees with a direct kernel sum to 1e-7). TorchUncertainty's
    ``SmoothCalibrationError(kernel_type="reflected")`` is a port of relplot's; its default
    ``"logit"`` kernel is a different measure.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> f = rng.uniform(0.5, 1.0, size=5000)
    >>> probs = np.stack([f, 1 - f], axis=1)
    >>> labels = (rng.random(5000) > f ** 2).astype(int)       # accuracy f^2 < f: overconfident
    >>> round(metrics.smooth_ece(probs, labels), 4)
    0.1773
    """
    if n_bootstrap is not None:
        return _bootstrap(smooth_ece, probs, labels, posterior, n_bootstrap, confidence, rng,
                          dict(bandwidth=bandwidth), "smooth_ece")
    evaluate = _smooth_evaluator(bandwidth)
    return evaluate(_top_label(probs, labels, posterior, "smooth_ece"), None)


# --------------------------------------------------------------------------------------------
# Classwise ECE
# --------------------------------------------------------------------------------------------


def classwise_ece(
    probs, labels=None, n_bins=15, binning="uniform", norm="l1", *, posterior=None,
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """Class-wise (marginal) calibration error averaged over classes.

    Parameters
    ----------
    probs, labels, posterior
        As in :func:`expected_calibration_error`; with ``posterior=`` the target of class ``c``
        is ``eta(x_i)_c`` instead of ``1{y_i = c}``.
    n_bins : int, default 15
    binning : {"uniform", "quantile"}, default "uniform"
        Per class: equal-width bins of ``probs[:, c]`` or equal-mass bins of that column.
    norm : {"l1", "l2"}, default "l1"
    n_bootstrap, confidence, rng : keyword-only
        As in :func:`expected_calibration_error`: with ``n_bootstrap`` a
        :class:`BootstrapResult` instead of a float (each resample re-runs this function on a
        resampled copy).

    Returns
    -------
    float or BootstrapResult

    Notes
    -----
    For each class ``c`` bin the column ``p_c = probs[:, c]`` and compare with ``1{y = c}``::

        CE_c = sum_b |B_bc|/n |mean_{B_bc} 1{y = c} - mean_{B_bc} p_c|,
        l1: (1/k) sum_c CE_c;   l2: sqrt((1/k) sum_c sum_b |B_bc|/n gap_bc^2),

    the plain average over all ``k`` classes (a class never predicted still counts). ``l1`` with
    uniform bins is Nixon et al. 2019's static calibration error (SCE),
    uncertainty-calibration's ``get_ece(..., mode="marginal")`` and TorchUncertainty's
    ``ClasswiseCalibrationError`` (up to its left-closed bin edges; its ``l2`` averages the
    per-class roots instead); with ``binning="quantile"`` it
    is Nixon et al.'s adaptive calibration error without their probability threshold; ``l2`` is
    Kumar et al. 2019's marginal l2 error (``get_calibration_error(..., p=2, debias=False,
    mode="marginal")`` with the matching bins). Uniform binning is one chunked pass over
    ``probs``; quantile binning reads ``probs`` in column blocks of at most 32 MiB.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    >>> round(metrics.classwise_ece(probs, np.array([0, 1, 1]), n_bins=10), 6)  # (0.2+0.3+0.3)/3
    0.266667
    """
    caller = "classwise_ece"
    if n_bootstrap is not None:
        return _bootstrap(classwise_ece, probs, labels, posterior, n_bootstrap, confidence, rng,
                          dict(n_bins=n_bins, binning=binning, norm=norm), caller)
    n_bins, binning = _check_bins(n_bins, binning, caller)
    norm = check_option(norm, "norm", caller, ("l1", "l2"))
    P = _prob_array(probs, caller, "probs")
    y, eta = _outcome(labels, posterior, P, caller)
    if binning == "uniform":
        per_class = _classwise_uniform(P, y, eta, n_bins, norm, caller)
    else:
        per_class = _classwise_quantile(P, y, eta, n_bins, norm, caller)
    if norm == "l1":
        return float(per_class.mean())
    return float(math.sqrt(per_class.mean()))


def _classwise_uniform(P, y, eta, n_bins, norm, caller):
    """Per-class sum_b |B_bc|/n |gap| (l1) or gap^2 (l2), uniform bins, one chunked pass."""
    n, k = P.shape
    size = k * n_bins
    count = np.zeros(size)
    rsum = np.zeros(size)
    step = _chunk_rows(k, P.itemsize)
    rows = np.arange(min(step, n))
    offsets = np.arange(k) * n_bins
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        chunk = P[sl]
        screen(chunk)
        m = chunk.shape[0]
        flat = _uniform_bin_index(chunk, n_bins)
        flat += offsets
        count += np.bincount(flat.ravel(), minlength=size)
        if eta is None:
            rsum -= np.bincount(flat.ravel(), weights=chunk.ravel(), minlength=size)
            rsum += np.bincount(flat[rows[:m], y[sl]], minlength=size)
        else:
            echunk = eta[sl]
            screen_eta(echunk)
            diff = echunk.astype(np.float64) - chunk
            rsum += np.bincount(flat.ravel(), weights=diff.ravel(), minlength=size)
    return _per_class_error(count.reshape(k, n_bins), rsum.reshape(k, n_bins), n, norm)


def _per_class_error(count, rsum, n, norm):
    if norm == "l1":
        return np.abs(rsum).sum(axis=1) / n
    squares = np.divide(rsum * rsum, count, out=np.zeros_like(rsum), where=count > 0)
    return squares.sum(axis=1) / n


def _classwise_quantile(P, y, eta, n_bins, norm, caller):
    """Per-class errors with per-class equal-mass bins, reading ``probs`` in column blocks."""
    n, k = P.shape
    # validate every row first (the column blocks never see whole rows)
    step = _chunk_rows(k, P.itemsize)
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
    for start in range(0, n, step):
        screen(P[start:start + step])
        if eta is not None:
            screen_eta(eta[start:start + step])
    if eta is None:
        by_label = np.argsort(y, kind="stable")
        bounds = np.searchsorted(y[by_label], np.arange(k + 1))
    out = np.empty(k)
    block = max(1, _BLOCK_BYTES // (n * P.itemsize))
    for c0 in range(0, k, block):
        cols = np.ascontiguousarray(P[:, c0:c0 + block].T)
        ecols = None if eta is None else np.ascontiguousarray(eta[:, c0:c0 + block].T)
        for j in range(cols.shape[0]):
            c = c0 + j
            x = cols[j]
            edges = _quantile_edges(x, n_bins)
            idx = np.searchsorted(edges, x, side="left")
            nb = edges.size + 1
            count = np.bincount(idx, minlength=nb).astype(np.float64)
            if eta is None:
                members = by_label[bounds[c]:bounds[c + 1]]
                hits = np.bincount(idx[members], minlength=nb)
                rsum = hits - np.bincount(idx, weights=x, minlength=nb)
            else:
                rsum = np.bincount(idx, weights=ecols[j].astype(np.float64) - x, minlength=nb)
            out[c] = _per_class_error(count[None], rsum[None], n, norm)[0]
    return out


# --------------------------------------------------------------------------------------------
# Proper scores and the KL risk: per-sample values, one chunked pass
# --------------------------------------------------------------------------------------------


def _reduce(values: np.ndarray, reduction: str):
    return float(values.mean()) if reduction == "mean" else values


def _check_mean(reduction: str, caller: str) -> None:
    if reduction != "mean":
        raise param_error("reduction", caller, "'mean' when n_bootstrap is given (the interval "
                          "is for the mean)", reduction)


def _logit_chunks(H):
    """Chunks of logits in float64, shifted by their row maximum, with their row logsumexp.

    Softmax is shift-invariant, so ``h - logsumexp(h) = (h - m) - logsumexp(h - m)``; working on
    the shifted scale keeps ``log sum exp`` (a number in ``[0, log k]``) from being rounded away
    next to logits of size ``m`` (``1e17 + log 2 == 1e17`` in float64).
    """
    n, k = H.shape
    step = _chunk_rows(k, 8)
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        h = H[sl].astype(np.float64)
        with np.errstate(over="ignore"):  # -1e308 - 1e308 = -inf: that softmax entry is 0
            h -= h.max(axis=1, keepdims=True)
        lse = np.log(np.exp(h).sum(axis=1))
        yield sl, h, lse


def negative_log_likelihood(
    probs, labels=None, *, posterior=None, from_logits=False, reduction="mean",
    n_bootstrap=None, confidence=0.95, rng=None,
):
    """Mean negative log-likelihood ``-(1/n) sum_i log probs[i, y_i]``, alias ``nll``.

    Parameters
    ----------
    probs : array_like or torch.Tensor, shape (n_samples, n_classes)
        Probabilities, or logits ``h`` when ``from_logits=True`` (then
        ``-log softmax(h)_y = logsumexp(h) - h_y`` is computed exactly, even for huge logits
        whose softmax underflows to 0).
    labels : array_like of int, shape (n_samples,), optional
    posterior : array_like, shape (n_samples, n_classes), optional, keyword-only
        True class probabilities: the per-sample loss becomes the expected loss under
        ``Y ~ eta(x_i)``, ``-sum_c eta_ic log probs_ic`` (the cross-entropy).
    from_logits : bool, default False
    reduction : {"mean", "none"}, default "mean"
        ``"none"`` returns the per-sample losses, shape (n_samples,), float64.
    n_bootstrap : int, optional, keyword-only
        Number of bootstrap resamples (>= 2); with it the result is the
        :class:`BootstrapResult` of :func:`bootstrap` for this metric and the same arguments
        (resampling the per-sample values), and ``reduction`` must be ``"mean"``.
    confidence : float, default 0.95, keyword-only
        Level of the percentile interval, in (0, 1); used only with ``n_bootstrap``.
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling; used only with ``n_bootstrap``.

    Returns
    -------
    float, ndarray or BootstrapResult

    Notes
    -----
    Nothing is clipped: a zero probability on the observed class (or on a class with
    ``eta_c > 0``) gives ``inf``, which is the true value; pass logits to avoid underflow. By
    THEORY.md 2.1, ``E_{Y~eta}[-log g_Y] = H(eta) + KL(eta || g)``, so the ``posterior=`` value
    minus the mean entropy of ``eta`` is :func:`kl_to_posterior`. Matches
    ``torch.nn.functional.cross_entropy`` (logits) and ``sklearn.metrics.log_loss`` without its
    clipping.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> round(metrics.nll(probs, np.array([0, 0])), 6)           # (log 2 + log(1/0.9)) / 2
    0.399254
    >>> float(metrics.nll(np.array([[1000.0, 0.0]]), np.array([1]), from_logits=True))
    1000.0
    """
    caller = "negative_log_likelihood"
    reduction = check_option(reduction, "reduction", caller, _REDUCTIONS)
    from_logits = check_bool(from_logits, "from_logits", caller)
    if n_bootstrap is not None:
        _check_mean(reduction, caller)
        return _bootstrap(negative_log_likelihood, probs, labels, posterior, n_bootstrap,
                          confidence, rng, dict(from_logits=from_logits), caller)
    if from_logits:
        H = check_logits(probs, caller, name="probs", allow_neg_inf=True)
        y, eta = _outcome(labels, posterior, H, caller)
        losses = np.empty(H.shape[0])
        screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
        for sl, h, lse in _logit_chunks(H):
            if eta is None:
                losses[sl] = lse - h[np.arange(h.shape[0]), y[sl]]
            else:
                echunk = eta[sl]
                screen_eta(echunk)
                with np.errstate(invalid="ignore"):  # 0 * inf where an impossible class has eta 0
                    terms = np.where(echunk > 0, echunk * (lse[:, None] - h), 0.0)
                losses[sl] = terms.sum(axis=1)
        return _reduce(losses, reduction)
    P = _prob_array(probs, caller, "probs")
    y, eta = _outcome(labels, posterior, P, caller)
    n, k = P.shape
    losses = np.empty(n)
    step = _chunk_rows(k, P.itemsize)
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
    with np.errstate(divide="ignore"):
        for start in range(0, n, step):
            sl = slice(start, min(start + step, n))
            chunk = P[sl]
            screen(chunk)
            if eta is None:
                picked = chunk[np.arange(chunk.shape[0]), y[sl]].astype(np.float64)
                losses[sl] = -np.log(picked)
            else:
                echunk = eta[sl]
                screen_eta(echunk)
                losses[sl] = -xlogy(echunk.astype(np.float64), chunk.astype(np.float64)).sum(axis=1)
    return _reduce(losses, reduction)


def brier_score(probs, labels=None, *, posterior=None, reduction="mean",
                n_bootstrap=None, confidence=0.95, rng=None):
    """Multi-class Brier score ``(1/n) sum_i sum_c (probs_ic - 1{y_i = c})^2``, alias ``brier``.

    Parameters
    ----------
    probs : array_like or torch.Tensor, shape (n_samples, n_classes)
    labels : array_like of int, shape (n_samples,), optional
    posterior : array_like, shape (n_samples, n_classes), optional, keyword-only
        Expected score under ``Y ~ eta(x_i)``:
        ``sum_c (probs_ic - eta_ic)^2 + sum_c eta_ic (1 - eta_ic)``.
    reduction : {"mean", "none"}, default "mean"
    n_bootstrap : int, optional, keyword-only
        Number of bootstrap resamples (>= 2); with it the result is the
        :class:`BootstrapResult` of :func:`bootstrap` for this metric and the same arguments
        (resampling the per-sample values), and ``reduction`` must be ``"mean"``.
    confidence : float, default 0.95, keyword-only
        Level of the percentile interval, in (0, 1); used only with ``n_bootstrap``.
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling; used only with ``n_bootstrap``.

    Returns
    -------
    float, ndarray or BootstrapResult
        In ``[0, 2]``.

    Notes
    -----
    Convention: **sum over classes, mean over samples** (Brier 1950; scikit-learn's
    ``brier_score_loss`` for multiclass input). Some libraries divide by ``k`` (a mean over
    classes), and scikit-learn's binary ``brier_score_loss`` scores the positive class only,
    which is half of this value for ``k = 2``. Each squared difference is formed directly (no
    ``sum p^2 - 2 p_y + 1`` cancellation), in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    >>> round(metrics.brier(probs, np.array([1, 2])), 6)
    0.82
    """
    caller = "brier_score"
    reduction = check_option(reduction, "reduction", caller, _REDUCTIONS)
    if n_bootstrap is not None:
        _check_mean(reduction, caller)
        return _bootstrap(brier_score, probs, labels, posterior, n_bootstrap, confidence, rng,
                          {}, caller)
    P = _prob_array(probs, caller, "probs")
    y, eta = _outcome(labels, posterior, P, caller)
    n, k = P.shape
    scores = np.empty(n)
    step = _chunk_rows(k, P.itemsize)
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
    for start in range(0, n, step):
        sl = slice(start, min(start + step, n))
        chunk = P[sl]
        screen(chunk)
        p = chunk.astype(np.float64)
        if eta is None:
            r = np.arange(p.shape[0])
            picked = p[r, y[sl]]
            sq = np.square(p)
            sq[r, y[sl]] = np.square(1.0 - picked)
            scores[sl] = sq.sum(axis=1)
        else:
            echunk = eta[sl]
            screen_eta(echunk)
            e = echunk.astype(np.float64)
            scores[sl] = np.sum(np.square(p - e) + e * (1.0 - e), axis=1)
    return _reduce(scores, reduction)


def kl_to_posterior(probs, posterior, *, from_logits=False, reduction="mean",
                    n_bootstrap=None, confidence=0.95, rng=None):
    """Mean KL divergence ``(1/n) sum_i KL(eta(x_i) || probs_i)`` from the true posterior.

    Parameters
    ----------
    probs : array_like or torch.Tensor, shape (n_samples, n_classes)
        Predicted probabilities, or logits when ``from_logits=True`` (``log g`` is then
        ``log_softmax(h)``, exact where ``g`` underflows; ``-inf`` marks an impossible class,
        as in the logits of a Bayes predictor, and NaN, ``+inf`` or a row of ``-inf`` are
        errors).
    posterior : array_like, shape (n_samples, n_classes)
        True class probabilities ``eta(x_i)``.
    from_logits : bool, default False
    reduction : {"mean", "none"}, default "mean"
        ``"none"`` returns the per-sample divergences (for a standard error:
        ``kl.std(ddof=1) / sqrt(n)``).
    n_bootstrap : int, optional, keyword-only
        Number of bootstrap resamples (>= 2); with it the result is the
        :class:`BootstrapResult` of :func:`bootstrap` for this metric and the same arguments
        (resampling the per-sample values), and ``reduction`` must be ``"mean"``.
    confidence : float, default 0.95, keyword-only
        Level of the percentile interval, in (0, 1); used only with ``n_bootstrap``.
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling; used only with ``n_bootstrap``.

    Returns
    -------
    float, ndarray or BootstrapResult

    Notes
    -----
    ``KL(eta || g) = sum_c eta_c log(eta_c / g_c)`` with ``0 log(0/g) = 0`` and ``+inf`` where
    ``g_c = 0 < eta_c`` (so a logit of ``-inf`` contributes 0 where ``eta_c = 0`` and gives
    ``+inf`` where ``eta_c > 0``); computed in float64 per chunk. The sample mean over ``X_i ~ pi_X`` is the
    label-free estimate of the KL risk ``R(g)`` of THEORY.md 2.1 (the population functional is
    ``overlapcal.population_kl``).

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> eta = np.array([[0.5, 0.5]])
    >>> round(metrics.kl_to_posterior(np.array([[0.9, 0.1]]), eta), 6)   # (log(5/9) + log 5) / 2
    0.510826
    """
    caller = "kl_to_posterior"
    reduction = check_option(reduction, "reduction", caller, _REDUCTIONS)
    from_logits = check_bool(from_logits, "from_logits", caller)
    if posterior is None:
        raise param_error("posterior", caller, "an array of true class probabilities", None)
    if n_bootstrap is not None:
        _check_mean(reduction, caller)
        return _bootstrap(kl_to_posterior, probs, None, posterior, n_bootstrap, confidence, rng,
                          dict(from_logits=from_logits), caller)
    if from_logits:
        H = check_logits(probs, caller, name="probs", allow_neg_inf=True)
        _, eta = _outcome(None, posterior, H, caller)
        out = np.empty(H.shape[0])
        screen_eta = _Screen(eta, caller, "posterior")
        for sl, h, lse in _logit_chunks(H):
            echunk = eta[sl]
            screen_eta(echunk)
            out[sl] = kl_rows(echunk.astype(np.float64), h - lse[:, None])
        return _reduce(out, reduction)
    P = _prob_array(probs, caller, "probs")
    _, eta = _outcome(None, posterior, P, caller)
    n, k = P.shape
    out = np.empty(n)
    step = _chunk_rows(k, P.itemsize)
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior")
    with np.errstate(divide="ignore"):
        for start in range(0, n, step):
            sl = slice(start, min(start + step, n))
            chunk = P[sl]
            echunk = eta[sl]
            screen(chunk)
            screen_eta(echunk)
            out[sl] = rel_entr(echunk.astype(np.float64), chunk.astype(np.float64)).sum(axis=1)
    return _reduce(out, reduction)


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """A metric on the full sample with a bootstrap percentile interval.

    Attributes
    ----------
    value : float
        The metric on the original sample (not the bootstrap mean).
    low, high : float
        The ``(1 - confidence)/2`` and ``(1 + confidence)/2`` quantiles of the replicates
        (``numpy.quantile``'s linear interpolation; next to an infinite replicate the bound is
        that infinity, never the NaN of ``inf - inf``).
    stderr : float
        Standard deviation of the replicates (``ddof=1``): the bootstrap standard error;
        ``inf`` when some replicate is infinite (e.g. the NLL of a sample with a zero
        probability on its label).
    confidence : float
    samples : ndarray, shape (n_bootstrap,)
        The replicates.
    """

    value: float
    low: float
    high: float
    stderr: float
    confidence: float
    samples: np.ndarray = field(repr=False, compare=False)

    def __float__(self) -> float:
        return float(self.value)


_TOP_LABEL_EVALUATORS = {}  # filled below: public function -> evaluator factory
_PER_SAMPLE = set()  # metrics with reduction="none": nll, brier, kl_to_posterior


def bootstrap(
    metric,
    probs,
    labels=None,
    *,
    posterior=None,
    n_bootstrap=200,
    confidence=0.95,
    rng=None,
    **kwargs,
) -> BootstrapResult:
    """Bootstrap percentile confidence interval for any metric of this module.

    Parameters
    ----------
    metric : callable
        A metric of this module (``ece``, ``smooth_ece``, ``nll``, ...) or any callable
        ``metric(probs, labels, **kwargs)`` / ``metric(probs, posterior=..., **kwargs)``.
    probs, labels, posterior
        As for the metric.
    n_bootstrap : int, default 200
        Number of resamples (>= 2).
    confidence : float, default 0.95
        Level of the percentile interval, in (0, 1).
    rng : None, int or numpy Generator
        Seeds the resampling; the same seed gives the same replicates.
    **kwargs
        The metric's own parameters (``n_bins``, ``binning``, ``norm``, ``bandwidth``, ...).

    Returns
    -------
    BootstrapResult

    Notes
    -----
    Each replicate draws ``n`` indices with replacement; their counts ``w = bincount(indices)``
    weight the samples. The top-label metrics read ``probs`` once, then evaluate each replicate
    from the per-sample confidences and targets with weights ``w`` (per-bin weighted sums;
    equal-mass edges and the smooth-ECE bandwidth are recomputed for every replicate, as the
    estimator is re-run on the resampled data). NLL, Brier and KL average per-sample values.
    ``classwise_ece`` and other callables are re-run on resampled copies. The interval is the
    plain percentile interval; binned calibration errors are biased upwards by label noise, so
    the interval describes the estimator's sampling variability, not a guaranteed cover of the
    population error (use ``posterior=`` or :func:`debiased_l2_ce` for that).

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=2000)
    >>> labels = np.array([rng.choice(3, p=p) for p in probs])
    >>> res = metrics.bootstrap(metrics.ece, probs, labels, n_bootstrap=100, rng=1)
    >>> bool(res.low <= res.value <= res.high), res.samples.shape
    (True, (100,))
    """
    caller = "bootstrap"
    if not callable(metric):
        raise param_error(
            "metric", caller, "a callable metric such as overlapcal.metrics.ece", metric
        )
    return _bootstrap(metric, probs, labels, posterior, n_bootstrap, confidence, rng, kwargs,
                      caller)


def _bootstrap(metric, probs, labels, posterior, n_bootstrap, confidence, rng, kwargs, caller):
    """:func:`bootstrap` after its ``metric`` check; ``caller`` names the function in errors
    (``bootstrap``, or the metric called with ``n_bootstrap=``)."""
    n_bootstrap = check_int(n_bootstrap, "n_bootstrap", caller, low=2)
    confidence = check_real(confidence, "confidence", caller, low=0.0, high=1.0,
                            low_inclusive=False, high_inclusive=False)
    rng = check_random_state(rng)

    if metric in _TOP_LABEL_EVALUATORS:
        factory = _TOP_LABEL_EVALUATORS[metric]
        unknown = sorted(set(kwargs) - (set(inspect.signature(factory).parameters) - {"caller"}))
        if unknown:
            raise TypeError(f"{caller}: {metric.__name__} has no parameter {unknown[0]!r}")
        evaluate = factory(**kwargs)
        data = _top_label(probs, labels, posterior, metric.__name__)
        n = data.n
        value = evaluate(data, None)
        samples = np.empty(n_bootstrap)
        for b in range(n_bootstrap):
            weights = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
            samples[b] = evaluate(data, weights)
    elif metric in _PER_SAMPLE:
        if metric is kl_to_posterior:
            if labels is not None:
                raise ValueError(
                    "The 'labels' parameter of bootstrap must be None for kl_to_posterior, "
                    "which needs posterior=... only."
                )
            values = metric(probs, posterior, reduction="none", **kwargs)
        else:
            values = metric(probs, labels, posterior=posterior, reduction="none", **kwargs)
        n = values.shape[0]
        value = float(values.mean())
        samples = np.empty(n_bootstrap)
        with np.errstate(invalid="ignore"):
            for b in range(n_bootstrap):
                samples[b] = values[rng.integers(0, n, size=n)].mean()
    else:
        P = probs if _is_tensor(probs) else _to_numpy(probs)  # half-precision tensors stay so
        given = {}
        if labels is not None:
            given["labels"] = _to_numpy(labels)
        if posterior is not None:
            given["posterior"] = _to_numpy(posterior)

        def call(index):
            return float(metric(P[index], **{key: v[index] for key, v in given.items()}, **kwargs))

        n = P.shape[0]
        value = call(slice(None))
        samples = np.array([call(rng.integers(0, n, size=n)) for _ in range(n_bootstrap)])

    low, high = _quantiles(samples, 0.5 * (1.0 - confidence))
    if np.isnan(samples).any() or not np.isinf(samples).any():
        with np.errstate(invalid="ignore"):
            stderr = float(np.std(samples, ddof=1))
    else:  # infinite replicates (a zero probability on an observed class): no finite spread
        stderr = math.inf
    return BootstrapResult(float(value), float(low), float(high), stderr, confidence, samples)


def _quantiles(samples: np.ndarray, alpha: float):
    """The ``alpha`` and ``1 - alpha`` quantiles, numpy's linear interpolation between order
    statistics, except that next to an infinite one the result is that infinity (or the
    order statistic itself when the interpolation weight on the infinity is 0): numpy computes
    ``inf - inf = NaN`` there. NaN replicates still give NaN."""
    with np.errstate(invalid="ignore"):
        out = np.quantile(samples, [alpha, 1.0 - alpha])
    if np.isnan(out).any() and not np.isnan(samples).any():
        ordered = np.sort(samples)
        for j, q in enumerate((alpha, 1.0 - alpha)):
            if np.isnan(out[j]):
                position = q * (ordered.size - 1)
                i = math.floor(position)
                lower, upper = ordered[i], ordered[min(i + 1, ordered.size - 1)]
                out[j] = upper if position > i and upper == math.inf else lower
    return float(out[0]), float(out[1])


# Short aliases (one object each: ``ece is expected_calibration_error``).
ece = expected_calibration_error
mce = maximum_calibration_error
ace = average_calibration_error
nll = negative_log_likelihood
brier = brier_score

_TOP_LABEL_EVALUATORS.update({
    expected_calibration_error: _ece_evaluator,
    maximum_calibration_error: _mce_evaluator,
    average_calibration_error: _ace_evaluator,
    adaptive_ece: _adaptive_evaluator,
    debiased_l2_ce: _debiased_evaluator,
    smooth_ece: _smooth_evaluator,
})
_PER_SAMPLE.update({negative_log_likelihood, brier_score, kl_to_posterior})


# --------------------------------------------------------------------------------------------
# Reliability curves: the numbers behind reliability diagrams (drawn by overlapcal.plotting)
# --------------------------------------------------------------------------------------------

#: Bytes of resampled indices processed at once by the vectorized curve bootstraps.
_CURVE_BOOTSTRAP_BYTES = 1 << 23
#: Smoothed accuracy is NaN where the smoothed density of confidences is below this fraction of
#: its maximum (no data within ~6 bandwidths: the ratio of smoothed sums would be round-off).
_SMOOTH_DENSITY_FLOOR = 1e-9
#: Fourier terms of the smoothed masses whose Gaussian multiplier is below exp(-50) ~ 2e-22
#: are dropped when the curve is evaluated at arbitrary points.
_SMOOTH_MAX_EXPONENT = 50.0
#: Rows of the cosine matrix built at once when evaluating the smoothed masses.
_COSINE_BLOCK_BYTES = 1 << 23


def _readonly(array):
    if array is not None:
        array.setflags(write=False)
    return array


def _check_band(n_bootstrap, confidence, rng, caller):
    if n_bootstrap is not None:
        n_bootstrap = check_int(n_bootstrap, "n_bootstrap", caller, low=2)
    confidence = check_real(confidence, "confidence", caller, low=0.0, high=1.0,
                            low_inclusive=False, high_inclusive=False)
    return n_bootstrap, confidence, check_random_state(rng)


def _percentile_band(samples: np.ndarray, confidence: float):
    """Per-column percentile interval of bootstrap replicates, ignoring NaN (empty) replicates.

    Columns whose replicates are all NaN get a NaN band (no warning).
    """
    alpha = 0.5 * (1.0 - confidence)
    lower = np.full(samples.shape[1], np.nan)
    upper = np.full(samples.shape[1], np.nan)
    ok = ~np.isnan(samples).all(axis=0)
    if ok.any():
        lower[ok], upper[ok] = np.nanquantile(samples[:, ok], [alpha, 1.0 - alpha], axis=0)
    return lower, upper


def _replicate_rows(n_bootstrap: int, n: int, extra: int = 0) -> int:
    """Replicates per vectorized chunk: about ``_CURVE_BOOTSTRAP_BYTES`` of float64 per array."""
    return max(1, min(n_bootstrap, _CURVE_BOOTSTRAP_BYTES // (8 * max(n, extra, 1))))


@dataclass(frozen=True, eq=False, repr=False)
class ReliabilityCurve:
    """A binned reliability curve: per-bin counts, mean confidence and accuracy.

    Made by :func:`reliability_curve` (top-label) and :func:`classwise_reliability_curves`
    (one per class); drawn by :func:`overlapcal.plotting.reliability_diagram`. Arrays are
    float64 (int64 for ``count``) and read-only.

    Attributes
    ----------
    edges : ndarray, shape (m + 1,)
        Bin edges ``0 = e_0 <= e_1 <= ... <= e_m = 1``; bins are right-closed,
        ``B_0 = [e_0, e_1]`` and ``B_b = (e_b, e_{b+1}]`` (the convention of :func:`ece`).
        ``m = n_bins`` for equal-width bins; for equal-mass bins ``m <= n_bins`` (duplicate
        edges merged, fewer samples than bins). An interior edge equal to 0 or 1 (ties at
        the extremes) gives a zero-width bin.
    count : ndarray of int64, shape (m,)
        Samples per bin.
    confidence : ndarray, shape (m,)
        Mean confidence ``conf(B_b)`` (for a class-wise curve: mean ``p_c``); NaN if empty.
    accuracy : ndarray, shape (m,)
        Mean target ``acc(B_b)``: the fraction correct with labels, the mean true probability
        ``eta_argmax`` with ``posterior=`` (for a class-wise curve: the frequency of class
        ``c``, or mean ``eta_c``); NaN for empty bins.
    ece : float
        ``sum_b |B_b|/n |acc(B_b) - conf(B_b)|``: exactly :func:`ece` with the same bins
        (for a class-wise curve: the per-class term ``CE_c`` of :func:`classwise_ece`).
    n_samples : int
    n_bins : int
        The requested number of bins.
    binning : {"uniform", "quantile"}
    target : {"labels", "posterior"}
        What ``accuracy`` averages.
    value_range : (float, float)
        Smallest and largest confidence (the extent of the data inside the outer bins).
    lower, upper : ndarray, shape (m,), or None
        Bootstrap percentile band of ``accuracy`` (None without ``n_bootstrap``); NaN for
        empty bins.
    level : float or None
        Level of the band (``confidence`` argument).
    n_bootstrap : int or None
    class_index : int or None
        The class of a class-wise curve; None for the top-label curve.
    """

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    ece: float
    n_samples: int
    n_bins: int
    binning: str
    target: str
    value_range: tuple
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None
    n_bootstrap: int | None = None
    class_index: int | None = None

    @property
    def gap(self) -> np.ndarray:
        """``accuracy - confidence`` per bin (positive: underconfident); NaN for empty bins."""
        return self.accuracy - self.confidence

    @property
    def weights(self) -> np.ndarray:
        """``count / n_samples``: the bins' weights in the ECE."""
        return self.count / self.n_samples

    def __repr__(self) -> str:
        band = "" if self.lower is None else f", band={self.level:g} ({self.n_bootstrap} resamples)"
        cls = "" if self.class_index is None else f"class_index={self.class_index}, "
        return (
            f"ReliabilityCurve({cls}n_samples={self.n_samples}, bins={self.count.size} "
            f"{self.binning}, target={self.target!r}, ece={self.ece:.6g}{band})"
        )


def _bin_index(data: _TopLabel, n_bins: int, binning: str):
    """Bin of every sample and the edges ``[0, interior..., 1]`` (the bins of ``_bin_sums``)."""
    if binning == "uniform":
        return data.uniform_index(n_bins), np.arange(n_bins + 1) / n_bins
    interior = _quantile_edges(data.conf, n_bins)
    idx = np.searchsorted(interior, data.conf, side="left")
    return idx, np.concatenate([[0.0], interior, [1.0]])


def _bootstrap_bin_accuracy(idx, target, nb, n_bootstrap, rng, binary):
    """Per-bin accuracy of ``n_bootstrap`` resamples with the bins held fixed, shape (B, nb).

    0/1 targets (labels): a resample of the ``n`` samples only matters through how many draws
    land in each (bin, target) cell, and those counts are ``Multinomial(n, cell shares)``, so
    they are drawn directly: O(n_bootstrap * n_bins) work whatever ``n``. Other targets
    (``posterior=``): each chunk of replicates draws its indices at once and bins all of them
    with one ``bincount`` over ``replicate * nb + bin``.
    """
    n = idx.size
    out = np.full((n_bootstrap, nb), np.nan)
    if binary:
        cells = np.bincount(2 * idx + (target > 0.5), minlength=2 * nb)
        draws = rng.multinomial(n, cells / n, size=n_bootstrap).reshape(n_bootstrap, nb, 2)
        count = draws.sum(axis=2)
        np.divide(draws[:, :, 1], count, out=out, where=count > 0)
        return out
    step = _replicate_rows(n_bootstrap, n)
    for start in range(0, n_bootstrap, step):
        c = min(step, n_bootstrap - start)
        draw = rng.integers(0, n, size=(c, n))
        flat = idx[draw]
        flat += (np.arange(c) * nb)[:, None]
        flat = flat.ravel()
        count = np.bincount(flat, minlength=c * nb).reshape(c, nb)
        tsum = np.bincount(flat, weights=target[draw].ravel(), minlength=c * nb).reshape(c, nb)
        np.divide(tsum, count, out=out[start:start + c], where=count > 0)
    return out


def _curve_from_data(data, n_bins, binning, target, n_bootstrap, confidence, rng, class_index=None):
    count, rsum, tsum, _, total = _bin_sums(data, None, n_bins, binning, with_target=True)
    value = _binned_error(count, rsum, total, "l1")  # the ECE evaluator's own arithmetic
    idx, edges = _bin_index(data, n_bins, binning)
    nb = count.size
    fsum = np.bincount(idx, weights=data.conf64, minlength=nb)
    nonempty = count > 0
    acc = np.divide(tsum, count, out=np.full(nb, np.nan), where=nonempty)
    conf = np.divide(fsum, count, out=np.full(nb, np.nan), where=nonempty)
    lower = upper = None
    if n_bootstrap is not None:
        binary = target == "labels"  # 0/1 targets: 1{y = argmax} or 1{y = c}
        samples = _bootstrap_bin_accuracy(idx, data.target, nb, n_bootstrap, rng, binary)
        lower, upper = _percentile_band(samples, confidence)
    return ReliabilityCurve(
        edges=_readonly(edges),
        count=_readonly(count.astype(np.int64)),
        confidence=_readonly(conf),
        accuracy=_readonly(acc),
        ece=value,
        n_samples=data.n,
        n_bins=n_bins,
        binning=binning,
        target=target,
        value_range=(float(data.conf.min()), float(data.conf.max())),
        lower=_readonly(lower),
        upper=_readonly(upper),
        level=None if n_bootstrap is None else confidence,
        n_bootstrap=n_bootstrap,
        class_index=class_index,
    )


def reliability_curve(
    probs,
    labels=None,
    n_bins=15,
    binning="uniform",
    *,
    posterior=None,
    n_bootstrap=None,
    confidence=0.95,
    rng=None,
) -> ReliabilityCurve:
    """Top-label binned reliability curve: accuracy against confidence per bin.

    Parameters
    ----------
    probs : array_like or torch.Tensor, shape (n_samples, n_classes)
        Predicted probabilities (validated as in :func:`ece`).
    labels : array_like of int, shape (n_samples,), optional
        Observed classes. Give either ``labels`` or ``posterior``.
    n_bins : int, default 15
        Number of bins ``M >= 1``.
    binning : {"uniform", "quantile"}, default "uniform"
        Equal-width or equal-mass bins, with the edge and tie conventions of :func:`ece`
        (module docstring).
    posterior : array_like, shape (n_samples, n_classes), optional, keyword-only
        True class probabilities; the per-bin target becomes the mean of ``eta(x_i)_argmax``
        (ground-truth calibration, THEORY.md 2.4: no label noise).
    n_bootstrap : int, optional, keyword-only
        Number of bootstrap resamples (>= 2) for a percentile band around each bin's accuracy.
    confidence : float, default 0.95, keyword-only
        Level of the band, in (0, 1).
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling.

    Returns
    -------
    ReliabilityCurve

    Raises
    ------
    ValueError
        On invalid ``probs`` / ``labels`` / ``posterior`` (as :func:`ece`), ``n_bins < 1``,
        an unknown ``binning``, ``n_bootstrap < 2`` or ``confidence`` outside (0, 1).
    TypeError
        On an ``rng`` that is not None, an int, a SeedSequence or a Generator.

    Notes
    -----
    With confidences ``f_i = max_c probs_ic``, targets ``t_i = 1{y_i = argmax_c probs_ic}`` (or
    ``eta(x_i)_argmax``) and bins ``B_b`` (THEORY.md 2.3)::

        conf(B_b) = mean_{B_b} f,   acc(B_b) = mean_{B_b} t,
        ECE = sum_b |B_b|/n |acc(B_b) - conf(B_b)|,

    so the ECE is the count-weighted mean distance of the curve from the diagonal, and
    ``curve.ece`` is computed by the same arithmetic as :func:`ece` (bit-for-bit equal).

    The band resamples the ``n`` samples with replacement ``n_bootstrap`` times and takes the
    per-bin percentile interval of the resampled accuracy with the **bins held fixed** at the
    full-sample edges (for equal-mass bins :func:`bootstrap` re-derives the edges per resample
    instead: its interval is for the ECE estimator, this band for each fixed bin's accuracy).
    A resample in which a bin is empty is left out of that bin's band. With labels the targets
    are 0/1, so a resample acts only through the number of draws in each (bin, correct) cell,
    which is ``Multinomial(n, cell shares)``: those counts are drawn directly, O(n_bootstrap *
    n_bins) work for any ``n``. With ``posterior=`` the targets are continuous and the samples
    themselves are resampled (the same resamples as :func:`bootstrap` with the same seed),
    binned in chunks of replicates with one ``bincount`` over ``(replicate, bin)``.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3) * 0.5, size=4000)
    >>> f = probs.max(axis=1)
    >>> correct = rng.random(4000) < f ** 2                 # overconfident: accuracy f^2 < f
    >>> labels = np.where(correct, probs.argmax(axis=1), (probs.argmax(axis=1) + 1) % 3)
    >>> curve = metrics.reliability_curve(probs, labels, n_bins=10, n_bootstrap=100, rng=0)
    >>> curve.ece == metrics.ece(probs, labels, n_bins=10)
    True
    >>> np.round(curve.accuracy[-3:], 3), np.round(curve.confidence[-3:], 3)
    (array([0.572, 0.707, 0.886]), array([0.75 , 0.845, 0.948]))
    >>> bool(np.all(curve.lower[-3:] <= curve.accuracy[-3:]))
    True
    """
    caller = "reliability_curve"
    n_bins, binning = _check_bins(n_bins, binning, caller)
    n_bootstrap, confidence, rng = _check_band(n_bootstrap, confidence, rng, caller)
    data = _top_label(probs, labels, posterior, caller)
    target = "labels" if posterior is None else "posterior"
    return _curve_from_data(data, n_bins, binning, target, n_bootstrap, confidence, rng)


def _check_classes(classes, k: int, caller: str) -> np.ndarray:
    expected = f"a non-empty 1-D sequence of distinct class indices in [0, {k})"
    if classes is None:
        return np.arange(k)
    arr = _to_numpy(classes)
    if arr.dtype.kind not in "iu" or arr.ndim != 1 or arr.size == 0:
        raise param_error("classes", caller, expected, classes)
    if arr.min() < 0 or arr.max() >= k or np.unique(arr).size != arr.size:
        raise param_error("classes", caller, expected, arr.tolist())
    return arr.astype(np.intp)


def classwise_reliability_curves(
    probs,
    labels=None,
    n_bins=15,
    binning="uniform",
    *,
    posterior=None,
    classes=None,
    n_bootstrap=None,
    confidence=0.95,
    rng=None,
) -> tuple:
    """One binned reliability curve per class: ``p_c`` against ``1{y = c}``.

    Parameters
    ----------
    probs, labels, posterior
        As in :func:`reliability_curve`; with ``posterior=`` the target of class ``c`` is
        ``eta(x_i)_c``.
    n_bins : int, default 15
    binning : {"uniform", "quantile"}, default "uniform"
        Per class: equal-width bins of ``probs[:, c]`` or equal-mass bins of that column.
    classes : sequence of int, optional, keyword-only
        Distinct class indices to compute (default: all ``k``), in the order given.
    n_bootstrap, confidence, rng
        As in :func:`reliability_curve`; one generator serves the classes in order.

    Returns
    -------
    tuple of ReliabilityCurve
        One per class, with ``class_index`` set; ``curve.ece`` is that class's ``CE_c``.

    Raises
    ------
    ValueError
        As :func:`reliability_curve`, and for ``classes`` that are not distinct integers in
        ``[0, n_classes)``.
    TypeError
        On an invalid ``rng``.

    Notes
    -----
    For class ``c`` the samples are binned by ``p_c = probs[:, c]`` (every sample, whatever its
    predicted class) and each bin compares ``mean p_c`` with the frequency of ``y = c``
    (THEORY.md 2.3, class-wise calibration). The bins are those of :func:`classwise_ece`, so
    averaging ``curve.ece`` over all classes gives ``classwise_ece(..., norm="l1")``.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    >>> curves = metrics.classwise_reliability_curves(probs, np.array([0, 1, 1]), n_bins=10)
    >>> [round(c.ece, 6) for c in curves]                       # mean: classwise_ece = 0.266667
    [0.2, 0.3, 0.3]
    >>> c1 = curves[1]                       # p_1 = 0.2 (y=0), 0.7 (y=1), 0.2 (y=1)
    >>> c1.count[[1, 6]], c1.confidence[[1, 6]], c1.accuracy[[1, 6]]   # bins (.1,.2], (.6,.7]
    (array([2, 1]), array([0.2, 0.7]), array([0.5, 1. ]))
    """
    caller = "classwise_reliability_curves"
    n_bins, binning = _check_bins(n_bins, binning, caller)
    n_bootstrap, confidence, rng = _check_band(n_bootstrap, confidence, rng, caller)
    P = _prob_array(probs, caller, "probs")
    y, eta = _outcome(labels, posterior, P, caller)
    classes = _check_classes(classes, P.shape[1], caller)
    n, k = P.shape
    step = _chunk_rows(k, P.itemsize)
    screen = _Screen(P, caller, "probs")
    screen_eta = _Screen(eta, caller, "posterior") if eta is not None else None
    for start in range(0, n, step):
        screen(P[start:start + step])
        if eta is not None:
            screen_eta(eta[start:start + step])
    target_kind = "labels" if eta is None else "posterior"
    curves = []
    for c in classes:
        col = np.ascontiguousarray(P[:, c])
        t = (y == c).astype(np.float64) if eta is None else eta[:, c].astype(np.float64)
        curves.append(_curve_from_data(_TopLabel(col, t), n_bins, binning, target_kind,
                                       n_bootstrap, confidence, rng, class_index=int(c)))
    return tuple(curves)


# ---- smooth reliability curve ------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class SmoothReliabilityCurve:
    """A kernel-smoothed reliability curve (Blasiok and Nakkiran 2024) on a grid of [0, 1].

    Made by :func:`smooth_reliability_curve`; drawn by
    :func:`overlapcal.plotting.smooth_reliability_diagram`. Arrays are float64, read-only.

    Attributes
    ----------
    grid : ndarray, shape (n_grid,)
        ``linspace(0, 1, n_grid)``.
    accuracy : ndarray, shape (n_grid,)
        ``x + r_hat(x)``: the diagonal plus the kernel regression of the residuals
        ``t_i - f_i`` on the confidences; NaN where ``density`` is below 1e-9 of its maximum.
    density : ndarray, shape (n_grid,)
        Kernel density estimate of the confidences (integrates to 1 over [0, 1]).
    bandwidth : float
        The kernel width ``sigma`` used.
    smece : float
        ``smECE_sigma``: exactly :func:`smooth_ece` with the same bandwidth.
    n_samples : int
    target : {"labels", "posterior"}
    lower, upper : ndarray, shape (n_grid,), or None
        Bootstrap percentile band of ``accuracy`` (bandwidth held fixed).
    level : float or None
    n_bootstrap : int or None
    """

    grid: np.ndarray
    accuracy: np.ndarray
    density: np.ndarray
    bandwidth: float
    smece: float
    n_samples: int
    target: str
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    level: float | None = None
    n_bootstrap: int | None = None

    def __repr__(self) -> str:
        band = "" if self.lower is None else f", band={self.level:g} ({self.n_bootstrap} resamples)"
        return (
            f"SmoothReliabilityCurve(n_samples={self.n_samples}, n_grid={self.grid.size}, "
            f"target={self.target!r}, bandwidth={self.bandwidth:.6g}, "
            f"smece={self.smece:.6g}{band})"
        )


class _MassGrid(_SmoothGrid):
    """:class:`_SmoothGrid` of arbitrary masses ``values`` at positions ``x`` in [0, 1]."""

    def __init__(self, x: np.ndarray, values: np.ndarray, total: float):
        self.x = x
        self.values = values
        self.total = total
        self._spectra = {}


def _smooth_level(sigma: float) -> int:
    """Dyadic grid level of bandwidth ``sigma`` (the rule of :meth:`_SmoothGrid.value`)."""
    return max(_SMOOTH_MIN_LEVEL, math.ceil(math.log2(_SMOOTH_STEPS_PER_SIGMA / sigma)))


def _fourier_coefficients(level: int, sigma: float):
    """Frequencies ``q`` and weights ``c_q M_q / P`` of the smoothed even extension.

    On the grid of ``2**level + 1`` points (period ``P = 2**(level+1)`` grid steps) the smoothed
    masses at any ``x`` in [0, 1] are ``S(x) = sum_q (c_q / P) M_q X_q cos(pi q x)``, with
    ``X_q`` the (real) rfft of the even extension, ``M_q = exp(-(pi sigma q)^2 / 2)`` the
    Gaussian's transform and ``c_q = 2`` except ``c_0 = c_{P/2} = 1``: the trigonometric
    interpolant that ``irfft`` samples at the grid points. Terms with ``M_q < e^-50`` are dropped.
    """
    size = 2**level
    qmax = int(math.sqrt(2.0 * _SMOOTH_MAX_EXPONENT) / (math.pi * sigma))
    n_terms = min(size + 1, qmax + 1)
    q = np.arange(n_terms)
    weight = np.exp(-0.5 * (math.pi * sigma * q) ** 2) * (2.0 / (2 * size))
    weight[0] *= 0.5
    if n_terms == size + 1:
        weight[-1] *= 0.5
    return q, weight


def _evaluate_series(coefficients: np.ndarray, q: np.ndarray, n_grid: int) -> np.ndarray:
    """``sum_q coefficients[:, q] cos(pi q x_j)`` at ``x_j = j / (n_grid - 1)``, shape (r, n_grid).

    The phase ``pi q j / (n_grid - 1)`` is reduced modulo ``2 pi`` in integers, so large ``q``
    lose no accuracy. The cosine matrix is built in blocks of frequencies.
    """
    j = np.arange(n_grid)
    half = n_grid - 1
    out = np.zeros((coefficients.shape[0], n_grid))
    block = max(1, _COSINE_BLOCK_BYTES // (8 * n_grid))
    for start in range(0, q.size, block):
        qb = q[start:start + block]
        phase = np.outer(qb, j) % (2 * half)
        out += coefficients[:, start:start + block] @ np.cos(np.pi * phase / half)
    return out


def _centered_accuracy(x, s_r, s_1):
    """``x + s_r / s_1`` where ``s_1`` exceeds the density floor (row-wise), else NaN."""
    floor = _SMOOTH_DENSITY_FLOOR * s_1.max(axis=-1, keepdims=True)
    ok = s_1 > floor
    ratio = np.divide(s_r, s_1, out=np.full(s_r.shape, np.nan), where=ok)
    return x + ratio


def _bootstrap_smooth(data, level, q, weight, n_grid, n_bootstrap, rng):
    """Smoothed accuracy of ``n_bootstrap`` resamples at a fixed bandwidth, shape (B, n_grid).

    Linear binning of the resampled masses for a chunk of replicates is one ``bincount`` over
    ``(replicate, grid point)`` and their spectra one batched ``rfft``; the truncated spectra of
    a block of replicates are then evaluated together, so the cosine matrix is built once per
    block (once in all for bandwidths above ~1e-3).
    """
    n = data.n
    size = 2**level
    rows = size + 1
    pos = data.conf64 * size  # the linear binning of _SmoothGrid.spectrum
    cell = np.minimum(pos.astype(np.intp), size - 1)
    frac = pos - cell
    x = np.linspace(0.0, 1.0, n_grid)
    out = np.empty((n_bootstrap, n_grid))
    step = _replicate_rows(n_bootstrap, n, 4 * size)
    block = max(step, _CURVE_BOOTSTRAP_BYTES * 4 // (16 * q.size))
    for first in range(0, n_bootstrap, block):
        b = min(block, n_bootstrap - first)
        coefficients = np.empty((2, b, q.size))
        for start in range(0, b, step):
            c = min(step, b - start)
            draw = rng.integers(0, n, size=(c, n))
            base = cell[draw]
            base += (np.arange(c) * rows)[:, None]
            base = base.ravel()
            upper_frac = frac[draw].ravel()
            resid = data.resid[draw].ravel()
            for which, values in enumerate((resid, None)):
                upper = upper_frac if values is None else values * upper_frac
                lower = (1.0 - upper_frac) if values is None else values - upper
                a = np.bincount(base, weights=lower, minlength=c * rows)
                a += np.bincount(base + 1, weights=upper, minlength=c * rows)
                a = a.reshape(c, rows)
                ext = np.concatenate([a, a[:, -2:0:-1]], axis=1)
                ext[:, 0] *= 2.0
                ext[:, size] *= 2.0
                spectrum = np.fft.rfft(ext, axis=1)[:, :q.size].real
                coefficients[which, start:start + c] = spectrum * weight
        s = _evaluate_series(coefficients.reshape(2 * b, q.size), q, n_grid)
        out[first:first + b] = _centered_accuracy(x, s[:b], s[b:])
    return out


def smooth_reliability_curve(
    probs,
    labels=None,
    bandwidth=None,
    *,
    posterior=None,
    n_grid=513,
    n_bootstrap=None,
    confidence=0.95,
    rng=None,
) -> SmoothReliabilityCurve:
    """Top-label smooth reliability curve: kernel regression with smooth ECE's reflected kernel.

    Parameters
    ----------
    probs, labels, posterior
        As in :func:`reliability_curve`.
    bandwidth : float, optional
        Kernel width ``sigma >= 1e-4``; default: the fixed point ``sigma* = smECE_sigma*`` of
        :func:`smooth_ece`.
    n_grid : int, default 513, keyword-only
        Number of evaluation points ``linspace(0, 1, n_grid)`` (>= 2).
    n_bootstrap : int, optional, keyword-only
        Number of resamples (>= 2) for a pointwise percentile band (bandwidth held fixed).
    confidence : float, default 0.95, keyword-only
        Level of the band, in (0, 1).
    rng : None, int or numpy Generator, keyword-only
        Seeds the resampling.

    Returns
    -------
    SmoothReliabilityCurve

    Raises
    ------
    ValueError
        On invalid ``probs`` / ``labels`` / ``posterior``, ``bandwidth < 1e-4`` or not finite,
        ``n_grid < 2``, ``n_bootstrap < 2`` or ``confidence`` outside (0, 1).
    TypeError
        On an invalid ``rng``.

    Notes
    -----
    With the reflected Gaussian kernel ``K_sigma`` of :func:`smooth_ece`, confidences ``f_i``
    and residuals ``r_i = t_i - f_i`` (THEORY.md 2.3; ``t_i = eta(x_i)_argmax`` with
    ``posterior=``, THEORY.md 2.4)::

        delta_hat(x) = (1/n) sum_i K_sigma(x, f_i)                       (density)
        r_hat(x)     = sum_i r_i K_sigma(x, f_i) / sum_i K_sigma(x, f_i)   (residual regression)
        accuracy(x)  = x + r_hat(x),
        smECE_sigma  = int_0^1 |accuracy(x) - x| delta_hat(x) dx,

    so the curve's distance from the diagonal, weighted by the density, integrates to the smooth
    ECE (Blasiok and Nakkiran 2024's diagram, relplot's ``CenteredRegressor``). Regressing the
    targets themselves (``sum t_i K / sum K``, relplot's plain ``KernelSmoother``) adds the
    smoothing bias of the confidences ``sum f_i K / sum K - x``, which is not calibration error
    (it bends a perfectly calibrated curve away from the diagonal where the density changes).

    The sums are those of :func:`smooth_ece`: masses linearly binned on its dyadic grid
    (>= 32 points per ``sigma``) and smoothed by FFT of their even periodic extension, which is
    then evaluated at the ``n_grid`` points by its cosine series (no interpolation), so
    ``curve.smece`` is bit-for-bit :func:`smooth_ece` and, with ``n_grid = 2**L + 1`` for the
    grid level ``L``, the trapezoid rule of the formula above reproduces it to round-off.
    Where ``delta_hat`` falls below 1e-9 of its maximum the ratio is round-off and
    ``accuracy`` is NaN. The band resamples as :func:`reliability_curve` does.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal import metrics
    >>> rng = np.random.default_rng(0)
    >>> f = rng.uniform(0.5, 1.0, size=5000)
    >>> probs = np.stack([f, 1 - f], axis=1)
    >>> labels = (rng.random(5000) > f ** 2).astype(int)       # accuracy f^2 < f: overconfident
    >>> curve = metrics.smooth_reliability_curve(probs, labels, n_grid=11)
    >>> curve.smece == metrics.smooth_ece(probs, labels)
    True
    >>> round(curve.bandwidth, 4)                                # the fixed point: smECE
    0.1773
    >>> np.round(curve.accuracy[6:], 2)                # f^2 = .36 .49 .64 .81 1, smoothed by sigma
    array([0.38, 0.51, 0.64, 0.77, 0.89])
    """
    caller = "smooth_reliability_curve"
    if bandwidth is not None:
        bandwidth = check_real(bandwidth, "bandwidth", caller, low=_SMOOTH_MIN_BANDWIDTH)
    n_grid = check_int(n_grid, "n_grid", caller, low=2)
    n_bootstrap, confidence, rng = _check_band(n_bootstrap, confidence, rng, caller)
    data = _top_label(probs, labels, posterior, caller)
    grid = _SmoothGrid(data, None)
    sigma = _smooth_fixed_point(grid) if bandwidth is None else bandwidth
    smece = grid.value(sigma)
    level = _smooth_level(sigma)
    q, weight = _fourier_coefficients(level, sigma)
    ones = _MassGrid(data.conf64, np.ones(data.n), float(data.n))
    coefficients = np.stack([
        grid.spectrum(level)[:q.size].real * weight,
        ones.spectrum(level)[:q.size].real * weight,
    ])
    s_r, s_1 = _evaluate_series(coefficients, q, n_grid)
    x = np.linspace(0.0, 1.0, n_grid)
    accuracy = _centered_accuracy(x, s_r, s_1)
    density = np.maximum(s_1, 0.0) * (2**level / data.n)  # masses per cell -> per unit, per sample
    lower = upper = None
    if n_bootstrap is not None:
        samples = _bootstrap_smooth(data, level, q, weight, n_grid, n_bootstrap, rng)
        lower, upper = _percentile_band(samples, confidence)
    return SmoothReliabilityCurve(
        grid=_readonly(x),
        accuracy=_readonly(accuracy),
        density=_readonly(density),
        bandwidth=float(sigma),
        smece=smece,
        n_samples=data.n,
        target="labels" if posterior is None else "posterior",
        lower=_readonly(lower),
        upper=_readonly(upper),
        level=None if n_bootstrap is None else confidence,
        n_bootstrap=n_bootstrap,
    )
