"""Overlapping uniform groups (THEORY.md 4.1): the paper's warm-up family, generalised.

``k`` classes in ``k / m`` groups of ``m``. Class ``c = q*m + j`` (group ``q``, position ``j``) is
uniform on ``[q*s + j*(1 - alpha), q*s + j*(1 - alpha) + 1]`` along the first axis and uniform on
``[0, 1]`` along any further axes, with equal priors. Inside a group consecutive classes overlap
by ``alpha``; groups are ``s`` apart and never touch. The posterior is uniform over the classes
whose interval covers ``x_0``, so every ground-truth functional is a finite sum over the interval
arrangement.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_int, check_random_state, check_real, param_error
from ..estimate import Estimate
from .base import Distribution, Segments, chunk_rows

__all__ = ["OverlappingUniform"]

_CALLER = "OverlappingUniform"

#: Interval ends must stay below this: float64 resolves positions there to 2**-20 (about 1e-6).
_MAX_BREAKPOINT = 2.0**32

#: Non-zero entries written at once by ``_scatter_rows`` (its two index arrays stay near 32 MiB).
_SCATTER_ELEMENTS = 2**22


def _scatter_rows(first, count, values, n_columns, fill) -> np.ndarray:
    """``(n, n_columns)`` array of ``fill``; row ``i`` gets ``values[i]`` in ``count[i]`` columns.

    The columns are ``first[i], ..., first[i] + count[i] - 1``. Writes only those ``sum(count)``
    entries (flat indices built with ``repeat``), in row blocks holding at most
    ~``_SCATTER_ELEMENTS`` of them, so no ``(n, n_columns)`` temporary exists besides the output.
    """
    n = first.shape[0]
    out = np.full((n, n_columns), fill, dtype=np.float64)
    if n == 0:
        return out
    flat = out.reshape(-1)
    step = max(1, _SCATTER_ELEMENTS // max(1, int(count.max())))
    for start in range(0, n, step):
        stop = min(n, start + step)
        c = count[start:stop]
        offsets = np.cumsum(c) - c  # position of each row's first entry among the chunk's entries
        row_base = np.arange(start, stop) * n_columns + first[start:stop] - offsets
        index = np.repeat(row_base, c) + np.arange(offsets[-1] + c[-1])
        flat[index] = np.repeat(values[start:stop], c)
    return out


class OverlappingUniform(Distribution):
    """Groups of overlapping uniform classes with an exact, piecewise-constant posterior.

    Class ``c = q*m + j`` (group ``q = c // m``, position ``j = c % m``) is uniform on

        ``[q*s + j*(1 - alpha), q*s + j*(1 - alpha) + 1]``

    along axis 0 and uniform on ``[0, 1]`` along axes ``1, ..., d-1``; all priors are ``1/k``.
    Within a group, consecutive classes overlap by ``alpha``; groups are translates of one
    another at distance ``s`` and never touch.

    Parameters
    ----------
    n_classes : int
        Number of classes ``k >= 2``; a multiple of ``group_size``.
    overlap : float
        Overlap ``alpha`` in ``[0, 1]`` of consecutive classes within a group. ``0``: intervals
        touch at one point (no overlap of positive mass); ``1``: all classes of a group share
        one interval.
    group_size : int, default=2
        Classes per group ``m >= 1``. ``m = 2`` are the paper's overlapping pairs; ``m = k`` is a
        single group; ``m = 1`` gives disjoint classes (no overlap whatever ``alpha`` is, Bayes
        accuracy 1).
    spacing : float or None, default=None
        Distance ``s`` between the starts of consecutive groups. ``None`` means ``s = k``, the
        paper's warm-up. With two or more groups it must exceed the group width
        ``1 + (m - 1)(1 - alpha)`` (groups must not touch); with a single group it only has to
        be a positive real and has no effect.
    n_features : int, default=1
        Input dimension ``d >= 1``.

    Attributes
    ----------
    n_classes, n_features, group_size, overlap, spacing : int or float
        The validated parameters (``spacing`` is the effective ``s``); read-only.
    n_groups : int
        ``k / m``.
    priors : ndarray of shape (n_classes,)
        ``1/k`` each; read-only.
    class_intervals : ndarray of shape (n_classes, 2)
        ``[lo_c, hi_c]`` of each class along axis 0 (float64, read-only). The ends are computed
        as ``q*s + j*(1 - alpha)`` and ``q*s + (j*(1 - alpha) + 1)``, so touching and identical
        intervals (``alpha`` in {0, 1}) stay exactly touching and identical.

    Raises
    ------
    ValueError
        If a parameter is out of range, ``group_size`` does not divide ``n_classes``, the
        spacing lets groups touch, or it places interval ends beyond ``2**32`` (where float64
        resolves positions only to ``1e-6``).

    Notes
    -----
    THEORY.md 4.1. The posterior ``eta(x)`` is uniform over the classes whose (closed) interval
    covers ``x_0``, for ``x`` in the support ``pi_X(x) > 0``; off the support it is NaN (see
    :class:`~overlapcal.distributions.base.Distribution`). For ``m = 2`` the overlap mass is
    ``alpha``, ``H(Y|X) = alpha log 2`` and the Bayes accuracy is ``1 - alpha/2``; for general
    ``m`` the functionals are exact finite sums over the arrangement (:meth:`segments`).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> dist.class_intervals
    array([[0. , 1. ],
           [0.5, 1.5],
           [4. , 5. ],
           [4.5, 5.5]])
    >>> dist.posterior(np.array([[0.25], [0.75], [3.0]]))
    array([[1. , 0. , 0. , 0. ],
           [0.5, 0.5, 0. , 0. ],
           [nan, nan, nan, nan]])
    >>> H, A, mass = dist.conditional_entropy(), dist.bayes_accuracy(), dist.overlap_mass()
    >>> print(f"{H:.4f} {A:.2f} {mass:.2f}")
    0.3466 0.75 0.50
    >>> X, y = dist.sample(1000, rng=0)
    >>> X.shape, y.shape, bool(np.all(dist.class_log_density(X)[np.arange(1000), y] == 0))
    ((1000, 1), (1000,), True)
    """

    def __init__(self, n_classes, overlap, group_size=2, spacing=None, n_features=1):
        k = check_int(n_classes, "n_classes", _CALLER, low=2)
        alpha = check_real(overlap, "overlap", _CALLER, low=0.0, high=1.0)
        m = check_int(group_size, "group_size", _CALLER, low=1)
        if k % m:
            raise param_error("group_size", _CALLER, f"a divisor of n_classes={k}", m)
        d = check_int(n_features, "n_features", _CALLER, low=1)
        n_groups = k // m
        step = 1.0 - alpha
        width = 1.0 + (m - 1) * step
        if spacing is None:
            s = float(k)
        else:
            s = check_real(spacing, "spacing", _CALLER, low=0.0, low_inclusive=False)

        q, j = np.divmod(np.arange(k), m)
        local_lo = j * step
        with np.errstate(over="ignore"):  # a huge spacing overflows to inf: rejected below
            lo = q * s + local_lo
            hi = q * s + (local_lo + 1.0)
        if n_groups > 1:
            if not hi[-1] < _MAX_BREAKPOINT:
                largest = (_MAX_BREAKPOINT - width) / (n_groups - 1)
                raise param_error(
                    "spacing", _CALLER,
                    f"< {largest:.6g} with {n_groups} groups, so that interval ends stay below "
                    "2**32 where float64 resolves positions to 1e-6 (spacing=None means "
                    "spacing = n_classes)", s,
                )
            # The stated condition, and the same on the float64 ends that are actually used.
            if not (s > width and np.all(hi[m - 1 :: m][:-1] < lo[::m][1:])):
                raise param_error(
                    "spacing", _CALLER,
                    f"> 1 + (group_size - 1)(1 - overlap) = {width!r} so that groups do not "
                    "touch (spacing=None means spacing = n_classes)", s,
                )

        self._n_classes, self._n_features = k, d
        self._group_size, self._overlap, self._spacing = m, alpha, s
        self._lo, self._hi = lo, hi
        self._intervals = np.column_stack([lo, hi])
        self._priors = np.full(k, 1.0 / k)
        for array in (self._lo, self._hi, self._intervals, self._priors):
            array.flags.writeable = False
        self._segments_cache = None

    # -- read-only parameters -------------------------------------------------------------

    @property
    def n_classes(self) -> int:
        return self._n_classes

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def group_size(self) -> int:
        return self._group_size

    @property
    def n_groups(self) -> int:
        return self._n_classes // self._group_size

    @property
    def overlap(self) -> float:
        return self._overlap

    @property
    def spacing(self) -> float:
        return self._spacing

    @property
    def priors(self) -> np.ndarray:
        return self._priors

    @property
    def class_intervals(self) -> np.ndarray:
        return self._intervals

    def __repr__(self) -> str:
        return (
            f"OverlappingUniform(n_classes={self._n_classes}, overlap={self._overlap!r}, "
            f"group_size={self._group_size}, spacing={self._spacing!r}, "
            f"n_features={self._n_features})"
        )

    # -- sampling -------------------------------------------------------------------------

    def sample(self, n, *, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` i.i.d. pairs: ``y`` uniform over classes, ``x | y`` uniform on its box.

        Parameters
        ----------
        n : int
            Number of draws, ``>= 0``.
        rng : None, int, numpy.random.SeedSequence or numpy.random.Generator, optional
            Source of randomness (same seed, same draws).

        Returns
        -------
        X : ndarray of shape (n, n_features), float64
        y : ndarray of shape (n,), intp

        Raises
        ------
        ValueError
            If ``n`` is not an int ``>= 0``.
        TypeError
            If ``rng`` is not a seed or a Generator.
        """
        n = self._check_n(n, "sample")
        rng = check_random_state(rng)
        y = rng.integers(0, self._n_classes, size=n).astype(np.intp, copy=False)
        X = np.empty((n, self._n_features))
        lo, hi = self._lo[y], self._hi[y]
        # lo + u (hi - lo) with u in [0, 1); the clip guards the last-ulp rounding of the sum.
        np.minimum(lo + rng.random(n) * (hi - lo), hi, out=X[:, 0])
        if self._n_features > 1:
            X[:, 1:] = rng.random((n, self._n_features - 1))
        return X, y

    # -- densities and posteriors ---------------------------------------------------------

    def _in_box(self, X: np.ndarray) -> np.ndarray | None:
        """Rows whose axes ``1, ..., d-1`` lie in ``[0, 1]`` (None when ``d = 1``)."""
        if self._n_features == 1:
            return None
        rest = X[:, 1:]
        return np.all((rest >= 0.0) & (rest <= 1.0), axis=1)

    def _class_log_density(self, X: np.ndarray) -> np.ndarray:
        # The definition, class by class: 0 on the closed box of the class, -inf elsewhere.
        n, k = X.shape[0], self._n_classes
        in_box = self._in_box(X)
        out = np.empty((n, k))
        step = chunk_rows(k)
        for start in range(0, n, step):
            x = X[start : start + step, :1]
            inside = (self._lo <= x) & (x <= self._hi)
            if in_box is not None:
                inside &= in_box[start : start + step, None]
            out[start : start + step] = np.where(inside, 0.0, -np.inf)
        return out

    def _cover(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classes covering each row: ``first, ..., first + count - 1``; returns ``(first, count)``.

        Both ``lo_c`` and ``hi_c`` are non-decreasing in ``c`` (groups are disjoint and ordered),
        so ``{c : lo_c <= x <= hi_c}`` is the index range from the first ``c`` with
        ``hi_c >= x`` to the last with ``lo_c <= x``: two ``searchsorted`` calls, the same float
        comparisons as :meth:`_class_log_density`.
        """
        x = X[:, 0]
        first = np.searchsorted(self._hi, x, side="left")
        count = np.searchsorted(self._lo, x, side="right") - first
        np.maximum(count, 0, out=count)
        in_box = self._in_box(X)
        if in_box is not None:
            count[~in_box] = 0
        return first, count

    def _log_posterior(self, X: np.ndarray) -> np.ndarray:
        # -log(count) on the covering classes, -inf elsewhere, NaN rows off the support.
        first, count = self._cover(X)
        out = _scatter_rows(first, count, -np.log(np.maximum(count, 1)), self._n_classes, -np.inf)
        out[count == 0] = np.nan
        return out

    def posterior(self, X) -> np.ndarray:
        """``eta(x)``: ``1/count`` on the classes covering ``x_0``; shape (n_samples, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes), float64
            Rows sum to 1 on the support; rows off the support (``pi_X(x) = 0``) are NaN.

        Raises
        ------
        ValueError
            If ``X`` is not a finite 2-D array with ``n_features`` columns.

        Notes
        -----
        Computed directly (no ``exp``, no ``(n, k)`` temporary): for equal priors,
        ``eta(x)_c = 1{lo_c <= x_0 <= hi_c} / #{c' : lo_c' <= x_0 <= hi_c'}``.
        """
        X = self._check_X(X, "posterior")
        first, count = self._cover(X)
        out = _scatter_rows(first, count, 1.0 / np.maximum(count, 1), self._n_classes, 0.0)
        out[count == 0] = np.nan
        return out

    def log_marginal_density(self, X) -> np.ndarray:
        """``log pi_X(x) = log(count(x) / k)``, ``-inf`` off the support; shape (n_samples,)."""
        X = self._check_X(X, "log_marginal_density")
        _, count = self._cover(X)
        with np.errstate(divide="ignore"):
            return np.log(count) - math.log(self._n_classes)

    # -- exact structure and functionals --------------------------------------------------

    def segments(self) -> Segments:
        """The interval arrangement along axis 0: elementary intervals with their posteriors.

        Returns
        -------
        Segments
            ``left``, ``right`` (shape (r,)): consecutive sorted unique class ends, keeping only
            intervals covered by at least one class; ``density = count / k`` (the axis-0
            marginal); ``posterior`` (shape (r, k)): uniform over the ``count`` covering classes.
            Arrays are read-only and computed once.

        Notes
        -----
        The classes covering ``[b_i, b_{i+1})`` are those with ``lo_c <= b_i`` and
        ``hi_c >= b_{i+1}``, an index range found by ``searchsorted`` (``O(k log k)``; the dense
        ``(r, k)`` posterior, ``r < 2k``, dominates for large ``k``). Ends of group ``q`` carry
        the rounding of ``q*s`` (relative ``2**-53``), so sums over these segments agree with the
        exact functionals to about ``2**-52 * max(hi)``; those use group 0 instead.
        """
        if self._segments_cache is None:
            left, right, first, count = _arrangement(self._lo, self._hi)
            density = count / self._n_classes
            posterior = _scatter_rows(first, count, 1.0 / count, self._n_classes, 0.0)
            for array in (left, right, density, posterior):
                array.flags.writeable = False
            self._segments_cache = Segments(left, right, density, posterior)
        return self._segments_cache

    def _group_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Elementary intervals of group 0 as ``(pi_X mass summed over all groups, count)``.

        Groups are translates and priors are equal, so an interval of width ``w`` covered by
        ``count`` classes of group 0 stands for ``n_groups`` intervals of total mass
        ``count * w / m``. Group 0 starts at 0, so its ends ``j(1 - alpha)`` and
        ``j(1 - alpha) + 1`` carry no translation rounding.
        """
        m = self._group_size
        left, right, _, count = _arrangement(self._lo[:m], self._hi[:m])
        return count * (right - left) / m, count

    def conditional_entropy(self, *, n_samples=None, rng=None) -> Estimate:
        """``H(Y|X) = sum_r mass_r log(count_r)`` in nats, exactly (the Bayes NLL).

        Returns
        -------
        Estimate
            ``method="exact"``, ``stderr=0``.

        Notes
        -----
        THEORY.md 4.1: ``eta`` is uniform over ``count_r`` classes on interval ``r``, so
        ``H(eta) = log(count_r)``. For ``m = 2`` this is ``alpha log 2``. Summed with
        ``math.fsum`` over group 0 (see :meth:`segments`), so the result is exact for the
        float64 interval ends up to a few ``2**-53``.

        Examples
        --------
        Three classes on [0, 1], [0.5, 1.5], [1, 2] per group: exactly two are possible on
        [0.5, 1.5), which carries 2/3 of the mass, so ``H = (2/3) log 2``.

        >>> import math, overlapcal as oc
        >>> dist = oc.OverlappingUniform(6, 0.5, group_size=3)
        >>> round(dist.conditional_entropy().value, 6), round(2 / 3 * math.log(2), 6)
        (0.462098, 0.462098)
        """
        weight, count = self._group_weights()
        return Estimate(math.fsum(weight * np.log(count)), 0.0, "exact")

    # ``n_samples`` and ``rng`` are the Monte Carlo keywords of Distribution's functionals; they
    # are accepted so generic code can call any distribution the same way, and unused here
    # because every functional of this family is an exact finite sum (Estimate.method="exact").

    def bayes_accuracy(self, *, n_samples=None, rng=None) -> Estimate:
        """``A* = sum_r mass_r / count_r``, exactly: the best accuracy of any classifier.

        Returns
        -------
        Estimate
            ``method="exact"``, ``stderr=0``.

        Notes
        -----
        ``max_c eta(x)_c = 1/count``; equivalently ``A*`` is ``1/m`` times the length of a
        group's union of intervals. For ``m = 2`` this is ``1 - alpha/2``.

        Examples
        --------
        >>> import overlapcal as oc
        >>> round(oc.OverlappingUniform(10, 0.3).bayes_accuracy().value, 6)
        0.85
        """
        weight, count = self._group_weights()
        return Estimate(math.fsum(weight / count), 0.0, "exact")

    def bayes_error(self, *, n_samples=None, rng=None) -> Estimate:
        """``1 - A* = sum_r mass_r (count_r - 1) / count_r``, exactly (no cancellation near 0).

        Returns
        -------
        Estimate
            ``method="exact"``, ``stderr=0``. For ``m = 2`` this is ``alpha/2``.
        """
        weight, count = self._group_weights()
        return Estimate(math.fsum(weight * ((count - 1) / count)), 0.0, "exact")

    def overlap_mass(self, *, n_samples=None, rng=None) -> Estimate:
        """``pi_X(count >= 2)``: the input mass where at least two classes are possible, exactly.

        Returns
        -------
        Estimate
            ``method="exact"``, ``stderr=0`` (an Estimate like every ground-truth functional;
            ``float()`` gives the number). For ``m = 2`` this is ``alpha``; 0 for ``alpha = 0``
            or ``m = 1``; 1 for ``alpha = 1`` and ``m >= 2``.
        """
        weight, count = self._group_weights()
        return Estimate(math.fsum(weight[count >= 2]), 0.0, "exact")


def _arrangement(lo: np.ndarray, hi: np.ndarray):
    """Elementary intervals of closed intervals ``[lo_c, hi_c]`` (both non-decreasing in ``c``).

    Returns ``left``, ``right``, ``first`` and ``count`` for every interval between consecutive
    sorted unique ends that some class covers; the covering classes are
    ``first, ..., first + count - 1``.
    """
    ends = np.unique(np.concatenate([lo, hi]))
    left, right = ends[:-1], ends[1:]
    first = np.searchsorted(hi, right, side="left")
    count = np.searchsorted(lo, left, side="right") - first
    keep = count > 0
    return left[keep], right[keep], first[keep], count[keep]
