"""ERM interpolators: nearest-neighbour predictors that fit every training point with a margin.

THEORY.md 4.3. An ERM interpolator classifies every training point correctly with a large logit
margin and, by regularity, stays confident near the training points. Two exact instances:

- :class:`HardInterpolator`: ``h(x) = B e_{yhat(x)}``, ``yhat`` the 1-nearest-neighbour label.
  The instance of Proposition 1: after any temperature it puts ``p = e^{B/T} / (e^{B/T} + k - 1)``
  on ``yhat`` and ``(1 - p)/(k - 1)`` on every other class. In 1-D it is piecewise constant with
  known :meth:`~HardInterpolator.breakpoints`, so population functionals are exact finite sums.
- :class:`SoftInterpolator`: ``h(x) = B(x) e_{yhat(x)}`` with a margin ``B(x) = B phi(r(x)/gamma)``
  that decays with the distance ``r(x)`` to the nearest training point at a regularity radius
  ``gamma``; optionally mixed with the one-hot labels of the ``K`` nearest training points, which
  gives the runner-up classes unequal logits (outside the scope of Proposition 1b).

Nearest neighbours and ties
---------------------------
Both share one rule. Training points are deduplicated first; a location that occurs several
times is represented by its *smallest training index* and carries that point's label (so
duplicates with conflicting labels are resolved in favour of the first occurrence, and
``train_accuracy_ < 1``). Among locations at equal (float64) distance from a query, the one with
the smallest representative training index wins; the ``K`` nearest are ordered by distance, then
by that index. This is what a brute-force ``np.argmin`` over the distance matrix does (it
returns the first minimum), i.e. the rule does not depend on the KD-tree's traversal order.

In 1-D the nearest location is found by ``searchsorted`` on the float64 midpoints
``fl((u_j + u_{j+1}) / 2)`` of consecutive sorted locations ``u``, the same numbers
:meth:`HardInterpolator.breakpoints` returns: ``x`` below the midpoint goes to ``u_j``, above it
to ``u_{j+1}``, and ``x`` equal to it is a tie (smallest training index wins, unless ``x`` is one
of the two locations itself, which happens only for adjacent floats). This agrees with the
computed-distance argmin except within one rounding of a midpoint, and makes the logits exactly
constant between consecutive breakpoints. In more dimensions a ``scipy.spatial.cKDTree`` is
queried (``O(log n)`` per query) and exact distance ties are resolved by the rule above.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._validation import check_array, check_int, check_labels, check_option, check_real
from .predictors import Predictor

__all__ = ["HardInterpolator", "SoftInterpolator"]

_PROFILES = ("gaussian", "linear")

#: The Gaussian profile is evaluated at ``min(r / gamma, _T_MAX)`` (no overflow in the square);
#: ``exp(-_T_MAX**2)`` is 0 in float64 anyway.
_T_MAX = 64.0

#: The soft margin is floored at ``B * MARGIN_FLOOR`` (see SoftInterpolator, Notes): positive,
#: so the argmax of the logits is the 1-NN label everywhere, and large enough that softmax
#: still tells the top class apart (``exp(-B 1e-12) < 1`` in float64 for ``B >= 1e-3``); the
#: logits move by at most ``1e-12 B`` where ``B phi`` would be smaller.
MARGIN_FLOOR = 1e-12


class _NearestNeighbourInterpolator(Predictor):
    """Shared fitting and nearest-neighbour queries (see the module docstring for the tie rule)."""

    def __init__(self, margin=10.0):
        self.margin = check_real(margin, "margin", type(self).__name__, low=0.0,
                                 low_inclusive=False)

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X, y, n_classes=None):
        """Store the training set; returns ``self``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite training inputs, at least one row.
        y : array-like of shape (n_samples,)
            Integer labels in ``[0, n_classes)``.
        n_classes : int or None, default=None
            Number of classes ``k >= 2``. None infers ``max(y) + 1``; pass it when the sample
            may miss the last classes (for example ``n_classes=dist.n_classes``).

        Returns
        -------
        self
            Fitted, with ``n_features_in_``, ``n_classes_``, ``n_samples_fit_`` and
            ``train_accuracy_`` (``predict(X) == y`` on the training set: 1.0 unless a location
            carries conflicting labels).

        Raises
        ------
        ValueError
            If ``X`` is not a finite non-empty 2-D array, ``y`` is not integer labels of length
            ``n_samples`` in range, or ``n_classes`` is not an int ``>= 2`` (or is inferred as 1).
        """
        caller = f"{type(self).__name__}.fit"
        X = check_array(X, "X", caller, ndim=2, keep_float32=False)
        if n_classes is not None:
            n_classes = check_int(n_classes, "n_classes", caller, low=2)
        y = check_labels(y, n_classes, caller, n_samples=X.shape[0], name="y")
        if n_classes is None:
            n_classes = int(y.max()) + 1
            if n_classes < 2:
                raise ValueError(
                    f"The 'y' parameter of {caller} must contain a label >= 1 when 'n_classes' is "
                    "not given (at least 2 classes are needed). Got only label 0; pass "
                    "n_classes=k."
                )
        X = X + 0.0  # -0.0 -> +0.0, so that equal locations compare equal bytewise (np.unique)
        d = X.shape[1]
        if d == 1:
            points, first = np.unique(X[:, 0], return_index=True)
            points = points[:, None]
        else:
            points, first = np.unique(X, axis=0, return_index=True)
        # np.unique returns the first occurrence of each location: the smallest training index.
        self._check_locations(points.shape[0], caller)
        self._points = points
        self._first = first.astype(np.intp, copy=False)
        self._labels = y[self._first]
        self._tree = None
        self._mid = 0.5 * points[:-1, 0] + 0.5 * points[1:, 0] if d == 1 else None
        self.n_features_in_ = d
        self.n_classes_ = n_classes
        self.n_samples_fit_ = X.shape[0]
        self.train_accuracy_ = float(np.mean(self._nearest(X)[1] == y))
        return self

    def _check_locations(self, n_points, caller):
        """Hook: reject a training set with too few distinct locations (nothing to check here)."""

    def _check_fitted(self, caller):
        if not hasattr(self, "n_features_in_"):
            raise RuntimeError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit' before '{caller}'."
            )

    # -- nearest neighbours ---------------------------------------------------------------

    def _nearest(self, X):
        """Distance to the nearest location and its label: ``(r, yhat)``, shapes (n,)."""
        if self.n_features_in_ == 1:
            j, r = self._nearest_1d(X[:, 0])
        else:
            r, j = self._kneighbors_tree(X, 1)
            r, j = r[:, 0], j[:, 0]
        return r, self._labels[j]

    def _nearest_1d(self, x):
        u, mid = self._points[:, 0], self._mid
        cell = np.searchsorted(mid, x, side="left")  # midpoints strictly below x
        tie = cell < mid.size
        tie[tie] = mid[cell[tie]] == x[tie]
        if tie.any():
            i, xt = cell[tie], x[tie]
            right = self._first[i + 1] < self._first[i]
            right = np.where(u[i + 1] == xt, True, np.where(u[i] == xt, False, right))
            cell[tie] = i + right
        with np.errstate(over="ignore"):
            r = np.abs(x - u[cell])
        return cell, r

    def _kneighbors_tree(self, X, n_neighbors):
        """The ``n_neighbors`` nearest locations ordered by (distance, smallest training index).

        Queries one extra neighbour; a row whose last returned distance equals its
        ``n_neighbors``-th may hide more ties and is re-queried with twice as many.
        """
        if self._tree is None:
            self._tree = cKDTree(self._points)
        n_points = self._points.shape[0]
        n = X.shape[0]
        out_r = np.empty((n, n_neighbors))
        out_j = np.empty((n, n_neighbors), dtype=np.intp)
        rows = np.arange(n)
        kk = min(n_neighbors + 1, n_points)
        while rows.size:
            r, j = self._tree.query(X[rows], k=list(range(1, kk + 1)))
            if kk < n_points:
                pending = r[:, -1] == r[:, n_neighbors - 1]
            else:
                pending = np.zeros(rows.size, dtype=bool)
            done = ~pending
            r, j = r[done], j[done]
            order = np.lexsort((self._first[j], r), axis=-1)[:, :n_neighbors]
            out_r[rows[done]] = np.take_along_axis(r, order, axis=1)
            out_j[rows[done]] = np.take_along_axis(j, order, axis=1)
            rows = rows[pending]
            kk = min(2 * kk, n_points)
        return out_r, out_j

    def predict(self, X) -> np.ndarray:
        """The 1-nearest-neighbour label ``yhat(x)`` (the tie rule of the module docstring).

        The classifier of an interpolator is the 1-NN classifier, wherever ``x`` is: it does not
        go through the logits, so it holds even where their spread is below rounding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), int
        """
        return self._nearest(self._validate(X, "predict"))[1]

    def kneighbors(self, X, n_neighbors=1):
        """Distances to and training indices of the nearest distinct training locations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points (``n_features_in_`` columns).
        n_neighbors : int, default=1
            Number of distinct locations, in ``[1, number of distinct training locations]``.

        Returns
        -------
        distance : ndarray of shape (n_samples, n_neighbors), float64
            Euclidean distances, non-decreasing along each row.
        index : ndarray of shape (n_samples, n_neighbors), intp
            Training indices (the smallest index of each location), ordered by distance, then by
            index (the tie rule of the module docstring).

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        ValueError
            For a bad ``X`` or ``n_neighbors``.

        Notes
        -----
        Unlike scikit-learn's ``KNeighborsMixin.kneighbors``, duplicated training locations count
        once. For ``n_neighbors=1`` and one feature this is the midpoint rule of the module
        docstring (the same cells as :meth:`HardInterpolator.breakpoints`).
        """
        X = self._validate(X, "kneighbors")
        caller = f"{type(self).__name__}.kneighbors"
        n_neighbors = check_int(n_neighbors, "n_neighbors", caller, low=1,
                                high=self._points.shape[0])
        if n_neighbors == 1 and self.n_features_in_ == 1:
            j, r = self._nearest_1d(X[:, 0])
            r, j = r[:, None], j[:, None]
        else:
            r, j = self._kneighbors_tree(X, n_neighbors)
        return r, self._first[j]


class HardInterpolator(_NearestNeighbourInterpolator):
    """The hard interpolator ``h(x) = B e_{yhat(x)}``, ``yhat`` the 1-nearest-neighbour label.

    Parameters
    ----------
    margin : float, default=10.0
        The logit margin ``B > 0`` (finite). Temperature scaling only sees ``B / T``, so for
        oracle TS any ``B`` gives the same result (THEORY.md 4.3, Proposition 1).

    Attributes
    ----------
    n_features_in_, n_classes_ : int
        Set by :meth:`fit` (``n_classes_`` inferred as ``max(y) + 1`` unless given).
    n_samples_fit_ : int
        Training points (duplicates included).
    train_accuracy_ : float
        Accuracy of :meth:`predict` on the training set: 1.0 (it interpolates) unless some
        location carries conflicting labels; then the smallest training index wins there.

    Raises
    ------
    ValueError
        If ``margin`` is not a finite real ``> 0``.

    Notes
    -----
    THEORY.md 4.3. ``g_T = softmax(h / T)`` puts ``p = e^{B/T} / (e^{B/T} + k - 1)`` on ``yhat``
    and ``(1 - p)/(k - 1)`` on every other class, so (Proposition 1)

        ``R(g_T) = -H(Y|X) - A log p - (1 - A) log((1 - p)/(k - 1))``,  ``A = P(Y = yhat(X))``,

    and for ``A >= 1/k`` the oracle temperature gives ``p = A`` and
    ``min_T R = H_b(A) + (1 - A) log(k - 1) - H(Y|X)``. Its non-argmax logits are all equal, so
    Proposition 1b's runner-up part is ``E[(1 - eta_yhat)(log(k - 1) - H(eta~))]`` exactly, at
    every temperature. Ties between equidistant training points: see the module docstring.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> hard = oc.HardInterpolator(margin=5.0).fit(np.array([[0.0], [1.0], [3.0]]), [0, 1, 1],
    ...                                            n_classes=3)
    >>> hard.logits(np.array([[0.2], [2.5]]))
    array([[5., 0., 0.],
           [0., 5., 0.]])
    >>> hard.breakpoints(), hard.train_accuracy_
    (array([0.5]), 1.0)
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> X, y = dist.sample(200, rng=0)
    >>> hard = oc.HardInterpolator().fit(X, y, n_classes=4)
    >>> A = oc.population_accuracy(hard, dist)              # exact: a finite sum in 1-D
    >>> res = oc.oracle_temperature(hard, dist)
    >>> p = 1 / (1 + 3 * np.exp(-hard.margin / res.temperature))
    >>> print(f"A = {A.value:.4f}, p = {p:.4f}, {A.method}")
    A = 0.7451, p = 0.7451, exact
    """

    def _logits(self, X):
        _, yhat = self._nearest(X)
        out = np.zeros((X.shape[0], self.n_classes_))
        out[np.arange(X.shape[0]), yhat] = self.margin
        return out

    def breakpoints(self) -> np.ndarray | None:
        """Sorted x-values where the 1-D logits change; None for more than one feature.

        Returns
        -------
        ndarray of shape (n_breakpoints,) or None
            The float64 midpoints ``fl((u_j + u_{j+1}) / 2)`` of consecutive distinct training
            locations ``u_j < u_{j+1}`` whose labels differ. Between two consecutive breakpoints
            (and beyond the first and last) the logits are exactly constant; the population
            functionals then integrate this predictor exactly
            (:func:`overlapcal.population_kl`, :func:`overlapcal.population_accuracy`).

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        """
        self._check_fitted("breakpoints")
        if self.n_features_in_ != 1:
            return None
        return self._mid[self._labels[:-1] != self._labels[1:]].copy()


class SoftInterpolator(_NearestNeighbourInterpolator):
    """A regular interpolator: the margin decays with the distance to the training set.

    ``h(x) = B(x) [ (1 - w) e_{yhat(x)} + w v(x) ]`` with
    ``B(x) = B max(phi(r(x) / gamma), MARGIN_FLOOR)`` (``MARGIN_FLOOR = 1e-12``), where
    ``yhat`` is the 1-nearest-neighbour label, ``r(x)`` the distance to the nearest training
    point, and ``v(x)`` the label frequencies among the ``K = n_neighbors`` nearest distinct
    training locations. With the default ``K = 1``, ``v = e_yhat`` and ``h = B(x) e_{yhat(x)}``.

    Parameters
    ----------
    margin : float, default=10.0
        The margin ``B > 0`` at the training points (finite).
    radius : float, default=1.0
        The regularity radius ``gamma > 0`` (finite): the predictor is confident within about
        ``gamma`` of every training point.
    profile : {"gaussian", "linear"}, default="gaussian"
        ``phi(t) = exp(-t^2)`` or ``phi(t) = max(0, 1 - t)``.
    n_neighbors : int, default=1
        ``K >= 1`` nearest distinct training locations voting in ``v`` (at most the number of
        distinct locations; checked at ``fit``).
    neighbor_weight : float, default=0.25
        ``w`` in ``[0, 1/2)``: weight of the vote ``v``; unused when ``K = 1``.

    Attributes
    ----------
    n_features_in_, n_classes_, n_samples_fit_, train_accuracy_
        As :class:`HardInterpolator`.

    Raises
    ------
    ValueError
        If a parameter is out of range, or at ``fit`` if ``n_neighbors`` exceeds the number of
        distinct training locations.

    Notes
    -----
    THEORY.md 4.3, "softer instances": an ERM interpolator fits every training point with a large
    margin and, by regularity, stays confident near the training points. Here ``B(x_i) = B`` at
    every training point and ``B(x) >= B phi(1)`` within ``gamma`` of one (``B/e`` for the
    Gaussian, 0 for the linear profile, ``B/2`` within ``gamma/2``). The margin is Lipschitz in
    ``x`` with constant ``B sqrt(2/e) / gamma`` (Gaussian) or ``B / gamma`` (linear), the kind of
    regularity a norm-bounded network has; the logits are continuous inside each nearest-neighbour
    cell and jump across cell boundaries where the label (or, for ``K > 1``, the vote) changes.

    Why the Gaussian default: it is smooth (a function of ``r^2``, so no kink at the training
    points). The linear profile has compact support: ``phi = 0`` beyond ``gamma`` from the data.

    The floor. Where ``B phi(r/gamma)`` falls below ``1e-12 B`` (beyond ``gamma`` for the
    linear profile, beyond ``5.3 gamma`` for the Gaussian, whose ``phi`` underflows to 0 at
    ``27 gamma``) the margin is ``1e-12 B`` instead, so the logits are never all equal: without
    the floor they were all 0 there and the argmax was class 0, not the 1-NN label. The floor
    changes the logits by at most ``1e-12 B`` and the probabilities by ``~1e-12 B`` (uniform to
    that accuracy far from the data); :meth:`margin_at` includes it. :meth:`predict` is the
    1-NN label itself (as for :class:`HardInterpolator`), and the argmax of :meth:`logits` and
    of :meth:`predict_proba` equals it everywhere (for the probabilities when
    ``1e-12 B (1 - 2w)`` exceeds float64's resolution near 1, ~1e-16, e.g. ``B >= 1e-3``).

    Since ``w < 1/2`` the largest logit is always the one of ``yhat`` (``B(x) > 0``):
    ``(1 - w) + w v_yhat > w >= w v_c``. With ``K = 1`` the non-argmax logits are all 0, the
    form ``B(x) e_yhat + c(x) 1`` of Proposition 1b: at every temperature and for every profile
    the runner-up part of the KL risk is ``E[(1 - eta_yhat)(log(k - 1) - H(eta~))]`` exactly, the
    part no temperature can fix. With ``K > 1`` the runner-up logits are the neighbours' votes,
    so the predictor can tell which other class is plausible near a class boundary and its
    runner-up part can fall below that bound (the bound's hypothesis does not hold).

    In 1-D, :meth:`smooth_breakpoints` lists the points between which the logits are smooth, and
    :func:`overlapcal.population_kl` starts its adaptive quadrature there; :meth:`breakpoints`
    is None (the logits are not piecewise constant).

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> soft = oc.SoftInterpolator(margin=4.0, radius=0.5).fit(np.array([[0.0], [2.0]]), [0, 1])
    >>> soft.logits(np.array([[0.0], [0.5], [1.5]])).round(4)
    array([[4.    , 0.    ],
           [1.4715, 0.    ],
           [0.    , 1.4715]])
    >>> dist = oc.OverlappingUniform(4, overlap=0.5)
    >>> X, y = dist.sample(100, rng=0)
    >>> soft = oc.SoftInterpolator(radius=0.05).fit(X, y, n_classes=4)
    >>> kl = oc.population_kl(soft, dist)                 # adaptive quadrature in 1-D
    >>> print(f"{kl.method}: R = {kl.value:.4f}, runner-up part = {kl.runner_up:.4f}")
    quadrature: R = 2.0201, runner-up part = 0.2747
    """

    def __init__(self, margin=10.0, radius=1.0, profile="gaussian", n_neighbors=1,
                 neighbor_weight=0.25):
        super().__init__(margin)
        caller = type(self).__name__
        self.radius = check_real(radius, "radius", caller, low=0.0, low_inclusive=False)
        self.profile = check_option(profile, "profile", caller, _PROFILES)
        self.n_neighbors = check_int(n_neighbors, "n_neighbors", caller, low=1)
        self.neighbor_weight = check_real(neighbor_weight, "neighbor_weight", caller, low=0.0,
                                          high=0.5, high_inclusive=False)

    def _check_locations(self, n_points, caller):
        if self.n_neighbors > n_points:
            raise ValueError(
                f"The 'n_neighbors' parameter of {type(self).__name__} must be at most the number "
                f"of distinct training locations in {caller} ({n_points}). "
                f"Got {self.n_neighbors} instead."
            )

    def margin_at(self, X) -> np.ndarray:
        """The margin ``B(x) = B max(phi(r(x) / gamma), MARGIN_FLOOR)``; shape (n_samples,).

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        ValueError
            For a bad ``X``.
        """
        X = self._validate(X, "margin_at")
        return self._margin(self._nearest(X)[0])

    def _margin(self, r):
        with np.errstate(over="ignore"):
            t = r / self.radius
        if self.profile == "gaussian":
            phi = np.exp(-np.square(np.minimum(t, _T_MAX)))
        else:
            phi = 1.0 - t
        return self.margin * np.maximum(phi, MARGIN_FLOOR)

    def _logits(self, X):
        r, yhat = self._nearest(X)
        b = self._margin(r)
        n, k = X.shape[0], self.n_classes_
        rows = np.arange(n)
        if self.n_neighbors == 1:
            out = np.zeros((n, k))
            out[rows, yhat] = b
            return out
        _, j = self._kneighbors_tree(X, self.n_neighbors)
        votes = np.bincount((rows[:, None] * k + self._labels[j]).ravel(), minlength=n * k)
        out = votes.reshape(n, k) * (self.neighbor_weight / self.n_neighbors)
        out[rows, yhat] += 1.0 - self.neighbor_weight
        return out * b[:, None]

    def smooth_breakpoints(self) -> np.ndarray | None:
        """Sorted x-values of a 1-D fit between which the logits are smooth; None otherwise.

        Returns
        -------
        ndarray or None
            The midpoints of consecutive training locations (the nearest point changes there;
            the label may jump), for ``n_neighbors = K > 1`` the midpoints of ``u_i`` and
            ``u_{i+K}`` (the ``K`` nearest form a sliding window in 1-D), and for the linear
            profile the kinks of ``max(1e-12, 1 - |x - u_j| / gamma)`` at ``u_j`` and (to
            within ``1e-12 gamma``) ``u_j -/+ gamma``.

        Raises
        ------
        RuntimeError
            If called before ``fit``.
        """
        self._check_fitted("smooth_breakpoints")
        if self.n_features_in_ != 1:
            return None
        u = self._points[:, 0]
        parts = [self._mid]
        K = self.n_neighbors
        if K > 1 and u.size > K:
            parts.append(0.5 * u[:-K] + 0.5 * u[K:])
        if self.profile == "linear":
            with np.errstate(over="ignore"):
                parts += [u, u - self.radius, u + self.radius]
        points = np.concatenate(parts)
        return np.unique(points[np.isfinite(points)])
