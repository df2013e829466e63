"""The basic claims: identities and sanity properties the theorems build on (THEORY.md 2, 3, 5).

Cheap exact claims come first. Every claim computes both sides with overlapcal's own public
functions (the library under test) where one exists, and states why its tolerance is what it
is. Strategies draw plain parameters (sizes, scales, seeds) and the checks build arrays from
them, so every counterexample replays from a one-line dict.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import strategies as st
from scipy.special import logsumexp, rel_entr, xlogy

import overlapcal as oc
from overlapcal import metrics
from overlapcal.predictors import Predictor

from ..core import EPS, Check, Claim, all_of, register

# ----------------------------------------------------------------------------------------------
# Shared strategies and helpers
# ----------------------------------------------------------------------------------------------

SEEDS = st.integers(0, 2**32 - 1)


def log_uniform(lo_exp: float, hi_exp: float, *specials: float):
    """``10**e`` for ``e`` uniform in ``[lo_exp, hi_exp]``, plus the listed special values.

    Parameters
    ----------
    lo_exp, hi_exp : float
        The range of the decimal exponent.
    *specials : float
        Values drawn besides (edge cases such as 0 or a paper's setting); Hypothesis
        shrinks towards the first one.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of float

    Examples
    --------
    >>> from hypothesis import find, settings
    >>> quiet = settings(database=None, derandomize=True)   # no example database, reproducible
    >>> from proofs_check.claims.basic import log_uniform
    >>> find(log_uniform(-3, 1), lambda v: v < 0.5, settings=quiet)   # shrinks to 10**-1
    0.1
    >>> find(log_uniform(-3, 1, 0.0), lambda v: True, settings=quiet)
    0.0
    """
    draw = st.floats(lo_exp, hi_exp).map(lambda e: float(10.0**e))
    return st.one_of(st.sampled_from(specials), draw) if specials else draw


@st.composite
def uniform_family(draw, max_classes: int = 1000, max_features: int = 1):
    """Parameters of an ``OverlappingUniform``: group size, groups, overlap, spacing, features.

    ``spacing_gap > 0`` is added to the smallest legal spacing ``1 + (m - 1)(1 - alpha)``, so
    every draw is valid by construction; ``None`` keeps the library's default spacing.

    Parameters
    ----------
    max_classes : int >= 2, default 1000
        Largest ``k = group_size * n_groups`` drawn.
    max_features : int >= 1, default 1
        Largest input dimension drawn.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of dict
        Keys ``group_size``, ``n_groups``, ``overlap``, ``spacing_gap``, ``n_features``; build
        the distribution with :func:`make_uniform`.

    Examples
    --------
    >>> from hypothesis import find, settings
    >>> quiet = settings(database=None, derandomize=True)   # no example database, reproducible
    >>> from proofs_check.claims.basic import make_uniform, uniform_family
    >>> p = find(uniform_family(max_classes=4), lambda p: p["group_size"] == 3, settings=quiet)
    >>> p
    {'group_size': 3, 'n_groups': 1, 'overlap': 0.0, 'spacing_gap': None, 'n_features': 1}
    >>> make_uniform(p).n_classes
    3
    """
    m = draw(st.integers(1, 6))
    max_groups = max(1, max_classes // m)
    groups = draw(st.one_of(st.integers(1, min(8, max_groups)), st.integers(1, max_groups)))
    if m * groups < 2:
        groups = 2
    alpha = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)))
    gap = draw(st.one_of(st.none(), log_uniform(-3, 1)))
    d = draw(st.integers(1, max_features))
    return {"group_size": m, "n_groups": groups, "overlap": alpha, "spacing_gap": gap,
            "n_features": d}


def make_uniform(p: dict) -> "oc.OverlappingUniform":
    """The ``OverlappingUniform`` of a :func:`uniform_family` draw.

    Parameters
    ----------
    p : dict
        ``group_size`` ``m``, ``n_groups``, ``overlap`` ``alpha``, ``spacing_gap`` (None or
        > 0) and optionally ``n_features`` (default 1).

    Returns
    -------
    overlapcal.OverlappingUniform
        ``k = m * n_groups`` classes, spacing ``1 + (m - 1)(1 - alpha) + spacing_gap`` (the
        library's default when the gap is None).

    Examples
    --------
    >>> from proofs_check.claims.basic import make_uniform
    >>> dist = make_uniform({"group_size": 2, "n_groups": 3, "overlap": 0.5, "spacing_gap": 1.0})
    >>> dist.n_classes, float(dist.bayes_accuracy())      # A* = 1 - alpha / 2 for pairs
    (6, 0.75)
    """
    m, alpha = p["group_size"], p["overlap"]
    spacing = None if p["spacing_gap"] is None else 1.0 + (m - 1) * (1.0 - alpha) + p["spacing_gap"]
    return oc.OverlappingUniform(m * p["n_groups"], alpha, group_size=m, spacing=spacing,
                                 n_features=p.get("n_features", 1))


GAUSSIAN_LAYOUTS = ("orthogonal", "simplex", "pairs", "shifted")


@st.composite
def gaussian_family(draw, max_classes: int = 16):
    """Parameters of a ``GaussianMixture`` layout (``shifted`` is the paper's d = 300 preset).

    Parameters
    ----------
    max_classes : int >= 2, default 16
        Largest number of classes drawn (``shifted`` always has 2).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of dict
        Keys ``layout`` (one of ``GAUSSIAN_LAYOUTS``), ``n_classes`` and ``separation``;
        build the distribution with :func:`make_gaussian`.

    Examples
    --------
    >>> from hypothesis import find, settings
    >>> quiet = settings(database=None, derandomize=True)   # no example database, reproducible
    >>> from proofs_check.claims.basic import gaussian_family
    >>> find(gaussian_family(), lambda p: p["layout"] == "pairs", settings=quiet)
    {'layout': 'pairs', 'n_classes': 2, 'separation': 0.1}
    """
    layout = draw(st.sampled_from(GAUSSIAN_LAYOUTS))
    if layout == "shifted":
        return {"layout": layout, "n_classes": 2,
                "separation": draw(st.sampled_from([0.25, 0.1, 0.05, 0.01]))}
    if layout == "pairs":
        k = 2 * draw(st.integers(1, max_classes // 2))
    else:
        k = draw(st.integers(2, max_classes))
    separation = draw(log_uniform(-1, 0.8, 0.1, 1.0, 4.0))
    return {"layout": layout, "n_classes": k, "separation": separation}


def make_gaussian(p: dict) -> "oc.GaussianMixture":
    """The ``GaussianMixture`` of a :func:`gaussian_family` draw.

    Parameters
    ----------
    p : dict
        ``layout``, ``n_classes`` and ``separation``; for ``"shifted"`` the separation is the
        paper's per-coordinate mean shift ``mu`` in ``d = 300``.

    Returns
    -------
    overlapcal.GaussianMixture

    Examples
    --------
    >>> from proofs_check.claims.basic import make_gaussian
    >>> dist = make_gaussian({"layout": "orthogonal", "n_classes": 3, "separation": 2.0})
    >>> dist.n_classes, dist.n_features
    (3, 3)
    >>> make_gaussian({"layout": "shifted", "n_classes": 2, "separation": 0.1}).n_features
    300
    """
    if p["layout"] == "shifted":
        return oc.GaussianMixture.shifted(shift=p["separation"])
    return getattr(oc.GaussianMixture, p["layout"])(p["n_classes"], separation=p["separation"])


FAMILIES = ("uniform", "gaussian", "noisy-uniform", "noisy-gaussian")


@st.composite
def any_family(draw, families=FAMILIES, max_classes: int = 16):
    """A distribution with a known posterior: uniform groups, Gaussians, or noise on either.

    Parameters
    ----------
    families : tuple of str, default ``FAMILIES``
        Drawn from ``"uniform"``, ``"gaussian"``, ``"noisy-uniform"``, ``"noisy-gaussian"``.
    max_classes : int >= 2, default 16
        Largest number of classes drawn.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of dict
        ``family`` with the keys of :func:`uniform_family` or :func:`gaussian_family`, plus
        ``noise_rate``, ``noise_kind`` and ``noise_seed`` for the noisy families; build the
        distribution with :func:`make_dist`.

    Examples
    --------
    >>> from hypothesis import find, settings
    >>> quiet = settings(database=None, derandomize=True)   # no example database, reproducible
    >>> from proofs_check.claims.basic import any_family, make_dist
    >>> p = find(any_family(), lambda p: p["family"] == "noisy-uniform", settings=quiet)
    >>> p["noise_rate"], p["noise_kind"], type(make_dist(p)).__name__
    (0.0, 'pair', 'LabelNoise')
    """
    family = draw(st.sampled_from(families))
    base = draw(uniform_family(max_classes=max_classes)) if "uniform" in family else \
        draw(gaussian_family(max_classes=max_classes))
    p = {"family": family, **base}
    if family.startswith("noisy"):
        p.update(noise_rate=draw(st.one_of(st.sampled_from([0.0, 0.1, 0.5]), st.floats(0.0, 1.0))),
                 noise_kind=draw(st.sampled_from(["pair", "symmetric"])),
                 noise_seed=draw(st.integers(0, 2**16)))
    return p


def make_dist(p: dict):
    """The distribution of an :func:`any_family` draw (:func:`make_uniform` or
    :func:`make_gaussian`, wrapped in ``LabelNoise`` for the noisy families).

    Parameters
    ----------
    p : dict
        An :func:`any_family` draw.

    Returns
    -------
    overlapcal.Distribution

    Examples
    --------
    >>> from proofs_check.claims.basic import make_dist
    >>> p = {"family": "noisy-gaussian", "layout": "simplex", "n_classes": 3, "separation": 1.0,
    ...      "noise_rate": 0.1, "noise_kind": "symmetric", "noise_seed": 0}
    >>> dist = make_dist(p)
    >>> type(dist).__name__, dist.n_classes
    ('LabelNoise', 3)
    """
    base = make_uniform(p) if "uniform" in p["family"] else make_gaussian(p)
    if p["family"].startswith("noisy"):
        return oc.LabelNoise(base, p["noise_rate"], kind=p["noise_kind"], rng=p["noise_seed"])
    return base


def n_classes_of(p: dict) -> int:
    """``k`` of a family draw: ``group_size * n_groups`` (uniform) or ``n_classes``.

    Examples
    --------
    >>> from proofs_check.claims.basic import n_classes_of
    >>> n_classes_of({"group_size": 3, "n_groups": 4}), n_classes_of({"n_classes": 5})
    (12, 5)
    """
    return p["group_size"] * p["n_groups"] if "group_size" in p else p["n_classes"]


class ConstantPredictor(Predictor):
    """The uniform predictor ``g(x) = 1/k``: zero logits, piecewise constant with no breakpoints.

    Parameters
    ----------
    n_classes : int
        ``k``.
    n_features : int, default 1
        Input dimension ``d``.

    Notes
    -----
    Its KL risk is ``log k - H(Y|X)`` (THEORY.md 2.2), exactly, on any distribution.

    Examples
    --------
    >>> from proofs_check.claims.basic import ConstantPredictor
    >>> ConstantPredictor(3).predict_proba([[0.0], [7.0]])
    array([[0.33333333, 0.33333333, 0.33333333],
           [0.33333333, 0.33333333, 0.33333333]])
    """

    def __init__(self, n_classes: int, n_features: int = 1):
        self.n_classes_, self.n_features_in_ = n_classes, n_features

    def _logits(self, X):
        return np.zeros((X.shape[0], self.n_classes_))

    def breakpoints(self):
        return np.empty(0)


class RowsPredictor(Predictor):
    """A predictor with fixed logits: input ``x = [i]`` gets row ``i`` of ``logits``.

    Parameters
    ----------
    logits : array-like of shape (n_rows, n_classes)
        Row ``i`` is ``h([i])``; inputs are truncated to an integer index.

    Examples
    --------
    >>> from proofs_check.claims.basic import RowsPredictor
    >>> RowsPredictor([[0.0, 1.0], [2.0, 0.0]]).predict([[1], [0]])
    array([0, 1])
    """

    def __init__(self, logits):
        self.rows = np.asarray(logits, dtype=float)
        self.n_classes_, self.n_features_in_ = self.rows.shape[1], 1

    def _logits(self, X):
        return self.rows[X[:, 0].astype(np.intp)]


class PosteriorAsLogits(Predictor):
    """Wrong on purpose: uses ``eta(x)`` itself as logits (``g = softmax(eta)``, not ``eta``).

    The wrong variant of the Bayes-risk claims: it has the Bayes argmax but not the Bayes
    probabilities, so its KL risk is positive wherever ``eta`` is not uniform.

    Parameters
    ----------
    dist : overlapcal.Distribution

    Examples
    --------
    >>> import overlapcal as oc
    >>> from proofs_check.claims.basic import PosteriorAsLogits
    >>> dist = oc.OverlappingUniform(2, overlap=0.5)
    >>> dist.posterior([[0.25]]), PosteriorAsLogits(dist).predict_proba([[0.25]])
    (array([[1., 0.]]), array([[0.73105858, 0.26894142]]))
    """

    def __init__(self, dist):
        self.dist, self.n_classes_, self.n_features_in_ = dist, dist.n_classes, dist.n_features

    def _logits(self, X):
        return self.dist.posterior(X)

    def breakpoints(self):
        return oc.BayesPredictor(self.dist).breakpoints()


def max_abs_end(dist) -> float:
    """Largest |interval end| of a distribution with segments (rounding of the masses), else 1.

    The rounding of an interval's mass ``density * (right - left)`` is a few ulps of this
    magnitude, so exact claims scale their tolerance by it.

    Parameters
    ----------
    dist : overlapcal.Distribution

    Returns
    -------
    float
        ``max(|left[0]|, |right[-1]|)`` of ``dist.segments()`` for a 1-D distribution with
        segments, else 1.0.

    Examples
    --------
    >>> import overlapcal as oc
    >>> from proofs_check.claims.basic import max_abs_end
    >>> max_abs_end(oc.OverlappingUniform(2, overlap=0.5))     # supports [0, 1] and [0.5, 1.5]
    1.5
    >>> max_abs_end(oc.GaussianMixture.orthogonal(3))
    1.0
    """
    segments = dist.segments() if dist.n_features == 1 else None
    return 1.0 if segments is None else float(max(abs(segments.left[0]), abs(segments.right[-1])))


# ==============================================================================================
# 1. KL identity, pointwise (THEORY.md 2.1)
# ==============================================================================================


@st.composite
def _kl_pointwise_params(draw):
    k = draw(st.one_of(st.integers(2, 10), st.sampled_from([2, 3, 1000]), st.integers(2, 1000)))
    return {
        "n_classes": k,
        "seed": draw(SEEDS),
        "eta_scale": draw(log_uniform(-3, 3, 0.0, 1.0, 1000.0)),
        "n_zero": draw(st.integers(0, k - 1)),
        "g_scale": draw(st.one_of(log_uniform(-3, 3, 0.0, 1.0), log_uniform(3, 300, 1e300))),
    }


def _kl_pointwise_arrays(p):
    rng = np.random.default_rng(p["seed"])
    k = p["n_classes"]
    log_eta = p["eta_scale"] * rng.standard_normal(k)
    log_eta[rng.permutation(k)[: p["n_zero"]]] = -np.inf  # classes with eta_c = 0 exactly
    eta = np.exp(log_eta - logsumexp(log_eta))
    h = p["g_scale"] * rng.standard_normal(k)  # logits of g
    return eta, h


def _kl_pointwise_tol(eta, h) -> float:
    # Each side is a k-term sum of eta_c * (lse - h_c) or eta_c * (log eta_c - log g_c):
    # float64 summation errs by at most (k - 1) eps times the sum of |terms|, and every term
    # carries the rounding of lse - h_c and log eta_c (eps relative); factor 4 for both sides.
    k = eta.size
    lse = float(logsumexp(h))
    scale = float(np.sum(eta * (np.abs(h) + abs(lse)))) - float(np.sum(xlogy(eta, eta)))
    return 4.0 * (k + 2) * EPS * scale


def _kl_pointwise_check(p, *, reverse: bool = False) -> Check:
    eta, h = _kl_pointwise_arrays(p)
    lhs = float(metrics.nll(h[None], posterior=eta[None], from_logits=True))  # E_eta[-log g_Y]
    entropy = math.fsum(-xlogy(eta, eta))
    if reverse:  # wrong: KL(g || eta)
        g = np.exp(h - logsumexp(h))
        kl = float(np.sum(rel_entr(g, eta)))
    else:
        kl = float(metrics.kl_to_posterior(h[None], eta[None], from_logits=True))
    return Check(lhs, entropy + kl, "==", _kl_pointwise_tol(eta, h),
                 f"H(eta)={entropy:.6g}, KL={kl:.6g}")


register(Claim(
    id="kl-identity-pointwise",
    statement="The expected log loss under eta is the entropy of eta plus KL(eta || g), pointwise.",
    formula="E_{Y~eta}[-log g_Y] = H(eta) + KL(eta || g)",
    reference="THEORY.md 2.1 (Identity)",
    kind="exact",
    tolerance=("float64 rounding of k-term sums: 4 (k + 2) eps sum_c eta_c (|h_c| + |lse h| + "
               "|log eta_c|), the summation bound (k - 1) eps sum |terms| plus the rounding of "
               "each log, for both sides. Left side: overlapcal.metrics.nll(posterior=, "
               "from_logits=True); right side: an fsum of the entropy plus "
               "overlapcal.metrics.kl_to_posterior(from_logits=True)."),
    parameters=_kl_pointwise_params,
    check=_kl_pointwise_check,
    wrong=lambda p: _kl_pointwise_check(p, reverse=True),
    wrong_description="uses the reversed divergence KL(g || eta) in place of KL(eta || g)",
    examples=(
        {"n_classes": 1000, "seed": 1, "eta_scale": 1000.0, "n_zero": 500, "g_scale": 1e300},
        {"n_classes": 2, "seed": 0, "eta_scale": 0.0, "n_zero": 1, "g_scale": 1000.0},
        {"n_classes": 1000, "seed": 2, "eta_scale": 1.0, "n_zero": 0, "g_scale": 30.0},
    ),
))


# ==============================================================================================
# 2. The uniform predictor, exactly (THEORY.md 2.2)
# ==============================================================================================


def _uniform_risk_tol(dist, k: int) -> float:
    # population_kl (exact path) sums r < 2k interval terms mass_r * KL_r with KL_r <= log k;
    # the masses carry the rounding of the interval ends (about eps * max|end| absolute per
    # end), H(Y|X) is an fsum over group 0. Bound: 8 eps (r + k + max|end|) (log k + 1).
    n_segments = dist.segments().left.size
    return 8.0 * EPS * (n_segments + k + max_abs_end(dist)) * (math.log(k) + 1.0)


def _uniform_risk_check(p, *, forget_entropy: bool = False) -> Check:
    dist = make_uniform(p)
    k = dist.n_classes
    risk = oc.population_kl(ConstantPredictor(k, dist.n_features), dist)
    if risk.method != "exact":
        raise AssertionError(f"expected the exact path, got {risk.method}")
    entropy = dist.conditional_entropy().value
    rhs = math.log(k) if forget_entropy else math.log(k) - entropy
    return Check(risk.value, rhs, "==", _uniform_risk_tol(dist, k), f"H(Y|X)={entropy:.6g}")


def _uniform_risk_grid():
    return [{"group_size": m, "n_groups": k // m, "overlap": a, "spacing_gap": None,
             "n_features": 1}
            for m in (2,) for k in (2, 4, 16, 64, 256, 1024) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]


register(Claim(
    id="uniform-risk-exact",
    statement="The uniform predictor's KL risk is log k minus the conditional entropy "
              "(overlapping uniform groups in 1-D, any k, m, alpha, spacing; exact path).",
    formula="R(uniform) = log k - H(Y|X)",
    reference="THEORY.md 2.2 (Uniform predictor)",
    kind="exact",
    tolerance=("float64 rounding of the exact finite sums: 8 eps (r + k + max|interval end|) "
               "(log k + 1), r the number of segments (the masses carry the rounding of the "
               "translated interval ends)."),
    parameters=lambda: uniform_family(max_classes=1000),
    check=_uniform_risk_check,
    wrong=lambda p: _uniform_risk_check(p, forget_entropy=True),
    wrong_description="forgets the conditional entropy: R(uniform) = log k",
    grid=_uniform_risk_grid,
    grid_axes=("n_groups", "overlap"),
    examples=(
        {"group_size": 2, "n_groups": 500, "overlap": 0.5, "spacing_gap": None, "n_features": 1},
        {"group_size": 5, "n_groups": 3, "overlap": 1.0, "spacing_gap": 0.001, "n_features": 1},
        {"group_size": 1, "n_groups": 7, "overlap": 0.3, "spacing_gap": None, "n_features": 1},
    ),
))


# ==============================================================================================
# 3. Temperature scaling preserves the argmax (THEORY.md 3)
# ==============================================================================================

_LOGIT = st.one_of(
    st.integers(-3, 3).map(float),  # small integers: exact ties are common
    st.floats(-10.0, 10.0),
    st.floats(-1e300, 1e300),
    st.sampled_from([1e300, -1e300, 1e-300, 5e-324]),
)


@st.composite
def _ts_params(draw):
    k = draw(st.integers(2, 12))
    rows = draw(st.lists(st.lists(_LOGIT, min_size=k, max_size=k).map(tuple), min_size=1,
                         max_size=4).map(tuple))
    temperature = draw(st.one_of(st.sampled_from([1e-300, 1e-10, 0.5, 1.0, 2.0, 1e10, 1e300]),
                                 log_uniform(-300, 300)))
    return {"logits": rows, "temperature": temperature}


def _ts_check(p, *, first_column_only: bool = False) -> Check:
    H = np.array(p["logits"], dtype=float)
    T = p["temperature"]
    X = np.arange(H.shape[0], dtype=float)[:, None]
    base = RowsPredictor(H)
    expected = base.predict(X)  # smallest index among the maximisers of h
    with warnings.catch_warnings():  # overflow in h/T is judged by the results below
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            if first_column_only:  # wrong: divide only the first logit by T
                H2 = H.copy()
                H2[:, 0] /= T
                scaled = RowsPredictor(H2)
            else:
                scaled = oc.TemperatureScaled(base, T)
            predicted = scaled.predict(X)
            probs = scaled.predict_proba(X)
    changed = int(np.sum(predicted != expected))
    k = H.shape[1]
    valid = np.all(np.isfinite(probs), axis=1) & (np.abs(probs.sum(axis=1) - 1.0) <= 2 * k * EPS)
    gap = probs.max(axis=1) - probs[np.arange(H.shape[0]), expected]
    gap = np.where(valid, gap, np.nan)
    worst = float(np.nan if np.isnan(gap).any() else gap.max())
    return all_of([
        Check(changed, 0, "==", 0.0, "rows whose predicted class changed"),
        Check(worst, 0.0, "<=", 0.0,
              "max_c g_T,c - g_T at argmax h (NaN: g_T not finite or not normalised)"),
    ])


register(Claim(
    id="ts-argmax",
    statement="Temperature scaling never changes the predicted class (hence never the accuracy), "
              "and the maximisers of h stay maximisers of g_T, for any finite logits and T > 0.",
    formula="argmax_c softmax(h / T)_c = argmax_c h_c for all T in (0, inf)",
    reference="THEORY.md 3 (TS never changes the argmax)",
    kind="exact",
    tolerance=("none (0): a prediction is an integer, and softmax is monotone in float64 "
               "(exp and the common division round monotonically), so the maximisers of h "
               "are maximisers of the computed g_T exactly. Ties: the argmax of h is a set; "
               "predict breaks exact ties to the smallest index, and h/T has the same ties, so "
               "TemperatureScaled(h, T).predict must equal predict of h exactly. Rounding may "
               "add ties to g_T (h = (0, 1e-30), T = 1e300 gives exactly uniform "
               "probabilities), so for the probabilities only 'maximisers of h are among the "
               "maximisers of g_T' is required, and g_T must be finite and sum to 1 within "
               "2 k eps."),
    parameters=_ts_params,
    check=_ts_check,
    wrong=lambda p: _ts_check(p, first_column_only=True),
    wrong_description="divides only the first logit by T (a broadcasting slip)",
    examples=(
        {"logits": ((1e300, 2e300, -1e300),), "temperature": 1e-300},  # h/T overflows
        {"logits": ((0.0, 1e-30),), "temperature": 1e300},  # h/T underflows to a tie
        {"logits": ((1.0, 1.0, 0.0), (-2.0, 3.0, 3.0)), "temperature": 0.5},  # exact ties
        {"logits": ((5.0, 0.0, -1e300),), "temperature": 1e-3},
    ),
))


# ==============================================================================================
# 4. KL identity at population level (THEORY.md 2.1)
# ==============================================================================================


@st.composite
def _kl_population_params(draw):
    p = draw(uniform_family(max_classes=200))
    p.update(
        predictor=draw(st.sampled_from(["hard", "bayes"])),
        n_train=draw(st.integers(1, 60)),
        seed=draw(SEEDS),
        margin=draw(log_uniform(-1, 2, 1.0, 10.0)),
        temperature=draw(log_uniform(-2, 2, 1.0)),
    )
    return p


def _population_predictor(p, dist):
    if p["predictor"] == "bayes":
        inner = oc.BayesPredictor(dist)
    else:
        X, y = dist.sample(p["n_train"], rng=p["seed"])
        inner = oc.HardInterpolator(margin=p["margin"]).fit(X, y, n_classes=dist.n_classes)
    return oc.TemperatureScaled(inner, p["temperature"])


def _population_nll(predictor, dist):
    """``E_X E_{Y~eta(X)}[-log g_Y(X)]`` as a finite sum over the merged breakpoints.

    Both ``eta`` (segments) and ``g`` (breakpoints) are constant between consecutive merged
    breakpoints, so the expectation is ``sum_j mass_j CE(eta_j, g(midpoint_j))``.
    """
    seg = dist.segments()
    cuts = predictor.breakpoints()
    lefts, rights, dens, posts = [], [], [], []
    for a, b, rho, eta in zip(seg.left, seg.right, seg.density, seg.posterior):
        inner = cuts[(cuts > a) & (cuts < b)]
        ends = np.concatenate([[a], inner, [b]])
        lefts.append(ends[:-1])
        rights.append(ends[1:])
        dens.append(np.full(ends.size - 1, rho))
        posts.append(np.repeat(eta[None], ends.size - 1, axis=0))
    left, right = np.concatenate(lefts), np.concatenate(rights)
    mass = np.concatenate(dens) * (right - left)
    eta = np.concatenate(posts)
    logits = predictor.logits((0.5 * (left + right))[:, None])
    ce = metrics.nll(logits, posterior=eta, from_logits=True, reduction="none")
    return math.fsum(mass * ce), float(ce.max()), left.size


def _kl_population_check(p, *, forget_entropy: bool = False) -> Check:
    p = {**p, "n_features": 1}
    dist = make_uniform(p)
    predictor = _population_predictor(p, dist)
    nll, ce_max, n_terms = _population_nll(predictor, dist)
    risk = oc.population_kl(predictor, dist)
    if risk.method != "exact":
        raise AssertionError(f"expected the exact path, got {risk.method}")
    entropy = dist.conditional_entropy().value
    rhs = risk.value if forget_entropy else entropy + risk.value
    k = dist.n_classes
    # n_terms-term sums of mass * CE (CE <= ce_max), each CE a k-term sum; masses carry the
    # rounding of the interval ends: 8 eps (n_terms + k + max|end|) (ce_max + log k + 1).
    tol = 8.0 * EPS * (n_terms + k + max_abs_end(dist)) * (ce_max + math.log(k) + 1.0)
    return Check(nll, rhs, "==", tol, f"H(Y|X)={entropy:.6g}, R={risk.value:.6g}")


register(Claim(
    id="kl-identity-population",
    statement="On overlapping uniform groups the population NLL of a predictor is the "
              "conditional entropy plus its KL risk (hard interpolators and the Bayes "
              "predictor, after any temperature).",
    formula="E[-log g_Y(X)] = H(Y|X) + R(g)",
    reference="THEORY.md 2.1 (Identity)",
    kind="exact",
    tolerance=("float64 rounding of exact finite sums: 8 eps (n_terms + k + max|interval end|) "
               "(max CE + log k + 1). Left side: an fsum over the merged breakpoints of "
               "mass * overlapcal.metrics.nll(posterior=); right side: "
               "OverlappingUniform.conditional_entropy + overlapcal.population_kl (exact path)."),
    parameters=_kl_population_params,
    check=_kl_population_check,
    wrong=lambda p: _kl_population_check(p, forget_entropy=True),
    wrong_description="equates the population NLL with the KL risk (forgets H(Y|X))",
    examples=(
        {"group_size": 2, "n_groups": 100, "overlap": 0.5, "spacing_gap": None, "n_features": 1,
         "predictor": "hard", "n_train": 60, "seed": 0, "margin": 100.0, "temperature": 0.01},
        {"group_size": 3, "n_groups": 2, "overlap": 1.0, "spacing_gap": 0.01, "n_features": 1,
         "predictor": "bayes", "n_train": 1, "seed": 0, "margin": 1.0, "temperature": 100.0},
    ),
))


# ==============================================================================================
# 5. The Bayes predictor has zero KL risk (THEORY.md 2.1)
# ==============================================================================================


@st.composite
def _bayes_params(draw, families=FAMILIES):
    p = draw(any_family(families=families))
    p.update(n_samples=draw(st.integers(200, 2000)), seed=draw(SEEDS))
    return p


BAYES_EXAMPLES = (
        {"family": "gaussian", "layout": "pairs", "n_classes": 16, "separation": 1.0,
         "n_samples": 2000, "seed": 0},
        {"family": "gaussian", "layout": "shifted", "n_classes": 2, "separation": 0.01,
         "n_samples": 2000, "seed": 0},
        {"family": "noisy-uniform", "group_size": 2, "n_groups": 4, "overlap": 0.5,
         "spacing_gap": None, "n_features": 1, "noise_rate": 0.875, "noise_kind": "symmetric",
         "noise_seed": 0, "n_samples": 500, "seed": 0},
        {"family": "noisy-gaussian", "layout": "orthogonal", "n_classes": 5, "separation": 4.0,
         "noise_rate": 0.3, "noise_kind": "pair", "noise_seed": 1, "n_samples": 1000, "seed": 1},
    )


def _bayes_tol(k: int) -> float:
    # KL(eta || softmax(log eta)) = log(sum_c eta_c) up to the rounding of each log eta_c - lse:
    # |sum eta - 1| <= (k + 2) eps and sum_c eta_c |log eta_c| <= log k; factor 8 for the
    # posterior's own log-space rounding (label noise) and the mean over rows.
    return 8.0 * (k + 2) * EPS * (1.0 + math.log(k))


def _bayes_risk_check(p, *, posterior_as_logits: bool = False) -> Check:
    dist = make_dist(p)
    predictor = PosteriorAsLogits(dist) if posterior_as_logits else oc.BayesPredictor(dist)
    risk = oc.population_kl(predictor, dist, n_samples=p["n_samples"], rng=p["seed"])
    return Check(risk.value, 0.0, "==", _bayes_tol(dist.n_classes), f"method={risk.method}")


register(Claim(
    id="bayes-zero-risk",
    statement="The Bayes predictor g = eta has KL risk 0 (uniform groups, Gaussian mixtures, "
              "label noise on either; exact or Monte Carlo design).",
    formula="R(eta) = E_X[KL(eta(X) || eta(X))] = 0",
    reference="THEORY.md 2.1 (KL risk), predictors.BayesPredictor",
    kind="exact",
    tolerance=("float64 rounding: 8 (k + 2) eps (1 + log k). Every term KL(eta || "
               "softmax(log eta)) is log(sum_c eta_c) plus the rounding of log eta_c - lse, so "
               "even the Monte Carlo design gives 0 up to rounding: no sampling error enters."),
    parameters=_bayes_params,
    check=_bayes_risk_check,
    wrong=lambda p: _bayes_risk_check(p, posterior_as_logits=True),
    wrong_description="uses eta as logits (g = softmax(eta)) instead of log eta",
    examples=BAYES_EXAMPLES,
))


# ==============================================================================================
# 6. The Bayes predictor's oracle temperature is 1 (THEORY.md 3)
# ==============================================================================================


def _design_curvature(dist, p):
    """``(scale, hess)`` of ``R(beta)`` at ``beta = 1`` on a design like the solver's.

    At ``beta = 1`` the tempered Bayes predictor is ``eta``, so ``<p, h> = <eta, log eta> =
    -H(eta)`` (the solver's gradient scale is ``mean(|<p,h>| + |<t,h>|) = 2 E[H(eta)]``) and
    ``R''(1) = E[Var_eta(log eta)]``. Exact over segments when the distribution has them, else
    on an independent sample of the same size.
    """
    seg = dist.segments() if dist.n_features == 1 else None
    if seg is not None:
        eta, weight = seg.posterior, seg.mass
    else:
        X, _ = dist.sample(p["n_samples"], rng=p["seed"] + 1)
        eta, weight = dist.posterior(X), np.full(X.shape[0], 1.0 / X.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_eta = np.where(eta > 0, np.log(eta), 0.0)
    m1 = np.sum(eta * log_eta, axis=1)
    m2 = np.sum(eta * log_eta**2, axis=1)
    return float(-2.0 * np.dot(weight, m1)), float(np.dot(weight, np.maximum(m2 - m1**2, 0.0)))


def _oracle_check(p, *, fitted: bool = False) -> Check:
    dist = make_dist(p)
    k = dist.n_classes
    bayes = oc.BayesPredictor(dist)
    with warnings.catch_warnings():  # flat / separable cases warn; judged below
        warnings.simplefilter("ignore", oc.CalibrationWarning)
        if fitted:  # wrong: fitted TS on sampled labels
            X, y = dist.sample(p["n_samples"], rng=p["seed"])
            ts = oc.TemperatureScaling().fit(bayes.logits(X), y)
            temperature, status, risk = ts.temperature_, "fitted", 0.0
        else:
            res = oc.oracle_temperature(bayes, dist, n_samples=p["n_samples"], rng=p["seed"])
            temperature, status, risk = res.temperature, res.status, res.kl.value
    scale, hess = _design_curvature(dist, p)
    risk_check = Check(risk, 0.0, "==", _bayes_tol(k), "R(g_T*)")
    if status in ("flat", "separable"):
        # eta is uniform on its support at every design point: g_T = eta for every T, every
        # T is an oracle temperature; only R(g_T*) = 0 is asserted.
        return all_of([risk_check], note=f"status={status}: every T is optimal")
    rtol = 16.0 * math.sqrt(k) * EPS  # the solver's default gradient tolerance
    tol_beta = (10.0 * rtol * scale / hess if hess > 0 else math.inf) + 8.0 * EPS
    beta = 1.0 / temperature
    return all_of([Check(beta, 1.0, "==", tol_beta, f"beta*=1/T*, status={status}"), risk_check])


register(Claim(
    id="bayes-oracle-temperature",
    statement="The oracle temperature of the Bayes predictor is 1, and its KL risk there is 0.",
    formula="argmin_T R(softmax(log eta / T)) = 1",
    reference="THEORY.md 3 (Oracle TS); predictors.BayesPredictor",
    kind="exact",
    tolerance=("beta* = 1/T* within 10 rtol scale / R''(1) + 8 eps: the solver stops when "
               "|R'(beta)| <= rtol scale (rtol = 16 sqrt(k) eps, scale = 2 E[H(eta)]) and "
               "R'(beta) ~ R''(1) (beta - 1); scale and R''(1) = E[Var_eta(log eta)] are "
               "computed exactly on segments or on an independent sample of the same size "
               "(factor 10 for the difference). The sampled objective is >= 0 with equality at "
               "beta = 1, so Monte Carlo adds no error. Where eta is uniform on its support at "
               "every design point (uniform groups: status 'flat' or 'separable'), R(g_T) = 0 "
               "for every T and only R(g_T*) = 0 (tolerance as bayes-zero-risk) is asserted."),
    parameters=_bayes_params,
    check=_oracle_check,
    wrong=lambda p: _oracle_check(p, fitted=True),
    wrong_description="uses the fitted temperature (NLL on sampled labels) instead of the oracle",
    examples=BAYES_EXAMPLES,
))


# ==============================================================================================
# 7. Ground-truth ECE of the Bayes predictor is 0 (THEORY.md 2.4)
# ==============================================================================================


@st.composite
def _ece_params(draw, norms=("l1", "l2", "max")):
    p = draw(any_family())
    p.update(n_samples=draw(st.integers(1, 3000)), seed=draw(SEEDS),
             n_bins=draw(st.one_of(st.sampled_from([1, 15]), st.integers(1, 30))),
             binning=draw(st.sampled_from(["uniform", "quantile"])),
             norm=draw(st.sampled_from(norms)))
    return p


def _bayes_sample(p):
    dist = make_dist(p)
    X, y = dist.sample(p["n_samples"], rng=p["seed"])
    return dist, oc.BayesPredictor(dist).predict_proba(X), dist.posterior(X), y


def _ece_posterior_check(p, *, with_labels: bool = False) -> Check:
    dist, probs, eta, y = _bayes_sample(p)
    kwargs = dict(n_bins=p["n_bins"], binning=p["binning"], norm=p["norm"])
    if with_labels:  # wrong: the label version has label noise
        value = metrics.ece(probs, y, **kwargs)
    else:
        value = metrics.ece(probs, posterior=eta, **kwargs)
    # |t_i - f_i| = |eta_{i, argmax g_i} - max g_i| <= max_c |eta_ic - g_ic| <= (k + 4) eps
    # (g = softmax(log eta) rounds eta by the k-term normalisation); every bin average, hence
    # every norm, is below the largest residual.
    return Check(value, 0.0, "<=", 2.0 * (dist.n_classes + 4) * EPS)


register(Claim(
    id="ece-posterior-bayes",
    statement="With posteriors in place of labels, the binned ECE (l1, l2, max; equal-width or "
              "equal-mass bins) of the Bayes predictor is 0.",
    formula="ECE(g = eta; posterior = eta) = 0",
    reference="THEORY.md 2.4 (Ground-truth calibration)",
    kind="exact",
    tolerance=("2 (k + 4) eps: each residual eta_{argmax g} - max g is the rounding of "
               "g = softmax(log eta) against eta, and every binned norm is at most the largest "
               "residual. No label noise: the posterior variant has none to bound."),
    parameters=_ece_params,
    check=_ece_posterior_check,
    wrong=lambda p: _ece_posterior_check(p, with_labels=True),
    wrong_description="uses sampled labels (label noise) but keeps the rounding tolerance",
    examples=(
        {"family": "uniform", "group_size": 3, "n_groups": 4, "overlap": 0.5, "spacing_gap": None,
         "n_features": 1, "n_samples": 3000, "seed": 0, "n_bins": 15, "binning": "quantile",
         "norm": "max"},  # tied confidences (1, 1/2, 1/3) and equal-mass bins
        {"family": "gaussian", "layout": "orthogonal", "n_classes": 16, "separation": 0.1,
         "n_samples": 1, "seed": 0, "n_bins": 30, "binning": "uniform", "norm": "l2"},
    ),
))


# ==============================================================================================
# 8. Label ECE of the Bayes predictor is within its noise bound (THEORY.md 2.3, 2.4)
# ==============================================================================================

ECE_DELTA = 1e-6


def ece_noise_bound(n: int, n_bins: int, delta: float = ECE_DELTA) -> float:
    """``sqrt(min(M, n) log(2M/delta) / (2n))``: the Hoeffding bound on a calibrated ECE.

    Given the inputs, the bins are fixed and ``S_b = sum_{i in B_b} (t_i - f_i)`` is a sum of
    ``n_b`` independent, mean-zero terms in intervals of length 1, so ``|S_b| <=
    sqrt(n_b log(2M/delta)/2)`` for all ``M`` bins with probability ``>= 1 - delta`` (Hoeffding
    and a union bound). Then ``ECE_l1 = sum_b |S_b| / n <= sum_b sqrt(n_b) c / n <=
    sqrt(M' n) c / n`` (Cauchy-Schwarz over the ``M' = min(M, n)`` non-empty bins), and
    ``ECE_l2 = sqrt(sum_b S_b^2 / (n_b n)) <= sqrt(M' c^2 / n)``: the same bound.

    Parameters
    ----------
    n : int >= 1
        Sample size.
    n_bins : int >= 1
        ``M``.
    delta : float in (0, 1), default ``ECE_DELTA``
        The probability of exceeding the bound.

    Returns
    -------
    float

    Examples
    --------
    >>> from proofs_check.claims.basic import ece_noise_bound
    >>> round(ece_noise_bound(10_000, 15), 4)     # sqrt(15 log(3e7) / 2e4)
    0.1136
    >>> ece_noise_bound(4 * 10_000, 15) / ece_noise_bound(10_000, 15)   # a 1 / sqrt(n) rate
    0.5
    """
    return math.sqrt(min(n_bins, n) * math.log(2.0 * n_bins / delta) / (2.0 * n))


def _ece_labels_check(p, *, linear_rate: bool = False) -> Check:
    dist, probs, _, y = _bayes_sample(p)
    n, M = p["n_samples"], p["n_bins"]
    value = metrics.ece(probs, y, n_bins=M, binning=p["binning"], norm=p["norm"])
    if linear_rate:  # wrong: the bias-like rate M/n instead of sqrt(M/n)
        bound = min(M, n) / (2.0 * n)
    else:
        bound = ece_noise_bound(n, M)
    # + the rounding of g against eta, which shifts each conditional mean by <= (k + 4) eps
    return Check(value, bound, "<=", 2.0 * (dist.n_classes + 4) * EPS)


def _ece_labels_grid():
    return [{"family": "gaussian", "layout": "orthogonal", "n_classes": 3, "separation": 1.0,
             "n_samples": n, "seed": 0, "n_bins": M, "binning": "uniform", "norm": "l1"}
            for n in (100, 300, 1000, 3000, 10000) for M in (5, 10, 15, 30)]


register(Claim(
    id="ece-labels-bayes",
    statement="With labels, the binned ECE (l1 or l2) of the Bayes predictor on n draws stays "
              "below its Hoeffding noise bound.",
    formula="ECE(eta; y) <= sqrt(min(M, n) log(2M/delta) / (2n)),  delta = 1e-6",
    reference="THEORY.md 2.3, 2.4 (label noise of binned estimates)",
    kind="bound",
    tolerance=("2 (k + 4) eps for the rounding of g = softmax(log eta) against eta. The bound is "
               "a finite-sample Hoeffding bound (conditional on the inputs, so the bins are "
               "fixed) with a union over the M bins: it fails with probability <= delta = 1e-6 "
               "per example, i.e. <= 2e-5 over a ci run and <= 5e-4 over a thorough run (each "
               "example is a fresh seed)."),
    parameters=lambda: _ece_params(norms=("l1", "l2")),
    check=_ece_labels_check,
    wrong=lambda p: _ece_labels_check(p, linear_rate=True),
    wrong_description="claims the rate M/(2n) (the bias of ECE) instead of its sqrt(M/n) noise",
    grid=_ece_labels_grid,
    grid_axes=("n_samples", "n_bins"),
    examples=(
        {"family": "uniform", "group_size": 3, "n_groups": 4, "overlap": 0.5, "spacing_gap": None,
         "n_features": 1, "n_samples": 3000, "seed": 0, "n_bins": 30, "binning": "quantile",
         "norm": "l1"},
        {"family": "gaussian", "layout": "shifted", "n_classes": 2, "separation": 0.05,
         "n_samples": 2000, "seed": 1, "n_bins": 15, "binning": "uniform", "norm": "l2"},
    ),
))


# ==============================================================================================
# 9. NLL is convex in beta: fitted (THEORY.md 3)
# ==============================================================================================

N_BETA = 9


@st.composite
def _nll_fitted_params(draw):
    return {
        "n_samples": draw(st.integers(1, 300)),
        "n_classes": draw(st.integers(2, 50)),
        "seed": draw(SEEDS),
        "logit_scale": draw(log_uniform(-2, 2.5, 1.0, 100.0)),
        "labels": draw(st.sampled_from(["random", "argmax", "mixed"])),
        "beta_max": draw(log_uniform(-2, 2, 1.0)),
    }


def _fitted_data(p):
    rng = np.random.default_rng(p["seed"])
    n, k = p["n_samples"], p["n_classes"]
    H = p["logit_scale"] * rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    if p["labels"] == "argmax":
        y = H.argmax(axis=1)
    elif p["labels"] == "mixed":
        y = np.where(rng.random(n) < 0.7, H.argmax(axis=1), y)
    return H, y


def _second_differences(values, errors, note) -> Check:
    """Convexity on an equispaced grid: ``f(x_{j-1}) - 2 f(x_j) + f(x_{j+1}) >= -tol_j``."""
    checks = []
    for j in range(1, len(values) - 1):
        d2 = values[j - 1] - 2.0 * values[j] + values[j + 1]
        tol = errors[j - 1] + 2.0 * errors[j] + errors[j + 1]
        checks.append(Check(d2, 0.0, ">=", tol, f"{note} second difference at grid point {j}"))
    return all_of(checks)


def _nll_fitted_check(p, *, in_temperature: bool = False) -> Check:
    H, y = _fitted_data(p)
    n, k = H.shape
    if in_temperature:  # wrong: equispaced in T = 1/beta, from 1/beta_max to 9/beta_max
        betas = [p["beta_max"] / (1.0 + j) for j in range(N_BETA)]
    else:
        betas = [p["beta_max"] * j / (N_BETA - 1) for j in range(N_BETA)]
    picked = np.abs(H[np.arange(n), y])
    row_max = np.abs(H).max(axis=1)
    values, errors = [], []
    for b in betas:
        values.append(float(metrics.nll(b * H, y, from_logits=True)))
        # per row logsumexp(bh) - b h_y errs by <= (k + 4) eps (|b| max|h| + |b h_y| + log k);
        # the mean over n rows adds log2(n) eps relative
        size = float(np.mean(b * (row_max + picked) + math.log(k)))
        errors.append(4.0 * (k + 4 + math.log2(n + 1)) * EPS * size)
    return _second_differences(values, errors, "NLL(T)" if in_temperature else "NLL(beta)")


def _nll_fitted_grid():
    return [{"n_samples": 200, "n_classes": 10, "seed": 0, "logit_scale": s, "labels": "mixed",
             "beta_max": b}
            for s in (0.1, 1.0, 10.0, 100.0) for b in (0.1, 1.0, 10.0)]


register(Claim(
    id="nll-convex-fitted",
    statement="The sample NLL of temperature-scaled logits is convex in beta = 1/T "
              "(any logits, any labels).",
    formula="NLL(beta) = mean_i[logsumexp(beta h_i) - beta h_{i,y_i}] is convex on beta >= 0",
    reference="THEORY.md 3 (NLL convex in beta)",
    kind="bound",
    tolerance=("second differences on 9 equispaced betas in [0, beta_max] must be >= -(e_{j-1} + "
               "2 e_j + e_{j+1}), e_j = 4 (k + 4 + log2(n + 1)) eps mean_i(beta (max_c |h_ic| "
               "+ |h_iy|) + log k): the float64 rounding of each NLL value "
               "(overlapcal.metrics.nll(from_logits=True))."),
    parameters=_nll_fitted_params,
    check=_nll_fitted_check,
    wrong=lambda p: _nll_fitted_check(p, in_temperature=True),
    wrong_description="claims convexity in T instead of beta (second differences on a T grid)",
    grid=_nll_fitted_grid,
    grid_axes=("logit_scale", "beta_max"),
    examples=(
        {"n_samples": 300, "n_classes": 50, "seed": 0, "logit_scale": 300.0, "labels": "argmax",
         "beta_max": 100.0},
        {"n_samples": 200, "n_classes": 10, "seed": 1, "logit_scale": 3.0, "labels": "mixed",
         "beta_max": 10.0},
    ),
))


# ==============================================================================================
# 10. Population KL risk is convex in beta (THEORY.md 3)
# ==============================================================================================


@st.composite
def _nll_population_params(draw):
    p = draw(uniform_family(max_classes=100))
    soft = p["group_size"] * p["n_groups"] <= 6 and draw(st.booleans())
    p.update(
        predictor="soft" if soft else "hard",
        n_train=draw(st.integers(1, 40)),
        seed=draw(SEEDS),
        margin=draw(log_uniform(-1, 2, 1.0, 10.0)),
        beta_max=draw(log_uniform(-2, 1.5, 1.0)),
    )
    return p


def _nll_population_check(p, *, in_temperature: bool = False) -> Check:
    p = {**p, "n_features": 1}
    dist = make_uniform(p)
    k = dist.n_classes
    X, y = dist.sample(p["n_train"], rng=p["seed"])
    if p["predictor"] == "soft":
        inner = oc.SoftInterpolator(margin=p["margin"], radius=0.2).fit(X, y, n_classes=k)
    else:
        inner = oc.HardInterpolator(margin=p["margin"]).fit(X, y, n_classes=k)
    if in_temperature:  # wrong: equispaced in T
        temps = [(1.0 + j) / p["beta_max"] for j in range(N_BETA)]
    else:
        temps = [(N_BETA) / (p["beta_max"] * (1.0 + j)) for j in range(N_BETA)]
    values, errors = [], []
    n_terms = dist.segments().left.size + X.shape[0] + 1
    for T in temps:
        risk = oc.population_kl(oc.TemperatureScaled(inner, T), dist)
        values.append(risk.value)
        # exact path: n_terms interval terms, each a k-term KL bounded by B/T + log k;
        # quadrature: the library's documented absolute error 1e-10 (estimated), times 4
        size = p["margin"] / T + math.log(k) + 1.0
        err = 8.0 * EPS * (n_terms + k + max_abs_end(dist)) * size
        errors.append(err + (4e-10 if risk.method == "quadrature" else 0.0))
    return _second_differences(values, errors, "R(T)" if in_temperature else "R(beta)")


def _nll_population_grid():
    return [{"group_size": 2, "n_groups": k // 2, "overlap": a, "spacing_gap": None,
             "n_features": 1, "predictor": "hard", "n_train": 40, "seed": 0, "margin": 10.0,
             "beta_max": 1.0}
            for k in (2, 8, 32) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]


register(Claim(
    id="nll-convex-population",
    statement="The population KL risk of a temperature-scaled interpolator is convex in "
              "beta = 1/T (hard and soft nearest-neighbour interpolators, uniform groups).",
    formula="beta -> R(g_{1/beta}) is convex on beta > 0",
    reference="THEORY.md 3 (population R(g_{1/beta}) convex)",
    kind="bound",
    tolerance=("second differences on 9 equispaced betas in (0, beta_max] must be >= "
               "-(e_{j-1} + 2 e_j + e_{j+1}), e_j = 8 eps (n_terms + k + max|end|) (B beta + "
               "log k + 1) for the exact path of overlapcal.population_kl, plus 4e-10 (four "
               "times the documented 1e-10 error estimate) on the quadrature path."),
    parameters=_nll_population_params,
    check=_nll_population_check,
    wrong=lambda p: _nll_population_check(p, in_temperature=True),
    wrong_description="claims convexity in T instead of beta",
    grid=_nll_population_grid,
    grid_axes=("n_groups", "overlap"),
    examples=(
        {"group_size": 2, "n_groups": 3, "overlap": 0.5, "spacing_gap": None, "n_features": 1,
         "predictor": "soft", "n_train": 20, "seed": 0, "margin": 10.0, "beta_max": 3.0},
        {"group_size": 2, "n_groups": 50, "overlap": 1.0, "spacing_gap": None, "n_features": 1,
         "predictor": "hard", "n_train": 40, "seed": 1, "margin": 100.0, "beta_max": 30.0},
    ),
))


# ==============================================================================================
# 11. Smooth ECE: monotone in the bandwidth, and its fixed point (THEORY.md 2.3)
# ==============================================================================================


@st.composite
def _smooth_params(draw, with_bandwidths: bool = False):
    p = {
        "n_samples": draw(st.integers(1, 2000)),
        "n_classes": draw(st.integers(2, 6)),
        "seed": draw(SEEDS),
        "power": draw(log_uniform(-0.5, 0.5, 1.0)),  # accuracy = confidence ** power
    }
    if with_bandwidths:
        a = draw(log_uniform(-4, 0, 1e-4, 1.0))
        b = draw(log_uniform(-4, 0, 1e-4, 1.0))
        p.update(bandwidth_lo=min(a, b), bandwidth_hi=max(a, b))
    return p


def _smooth_data(p):
    rng = np.random.default_rng(p["seed"])
    n, k = p["n_samples"], p["n_classes"]
    probs = rng.dirichlet(np.full(k, 0.5), size=n)
    conf = probs.max(axis=1)
    correct = rng.random(n) < conf ** p["power"]
    top = probs.argmax(axis=1)
    other = (top + rng.integers(1, k, n)) % k
    labels = np.where(correct, top, other)
    residual_mass = float(np.mean(np.abs(correct - conf)))  # mean |t_i - f_i|
    return probs, labels, residual_mass


def _smooth_level(sigma: float) -> int:
    # the library's grid: at least 32 points per sigma and at least 2**12 + 1 points
    return max(12, math.ceil(math.log2(32.0 / sigma)))


def _smooth_monotone_check(p, *, reverse: bool = False) -> Check:
    probs, labels, r = _smooth_data(p)
    lo, hi = p["bandwidth_lo"], p["bandwidth_hi"]
    v_lo = metrics.smooth_ece(probs, labels, bandwidth=lo)
    v_hi = metrics.smooth_ece(probs, labels, bandwidth=hi)
    # FFT smoothing of masses summing to <= n r in absolute value on 2**L + 1 points: rounding
    # <= 16 (L + 1) eps r per value (FFT error grows like log2 of the size)
    tol = 16.0 * (_smooth_level(lo) + 1) * EPS * r
    if reverse:  # wrong: non-decreasing
        return Check(v_hi, v_lo, ">=", tol, f"smECE({lo:.3g}) vs smECE({hi:.3g})")
    return Check(v_hi, v_lo, "<=", tol, f"smECE({lo:.3g}) vs smECE({hi:.3g})")


def _smooth_monotone_grid():
    return [{"n_samples": n, "n_classes": 3, "seed": 0, "power": 2.0, "bandwidth_lo": s,
             "bandwidth_hi": 2.0 * s}
            for n in (50, 500, 5000) for s in (1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3)]


register(Claim(
    id="smooth-ece-monotone",
    statement="Smooth ECE is non-increasing in its kernel bandwidth.",
    formula="sigma_1 <= sigma_2  =>  smECE_{sigma_2} <= smECE_{sigma_1}",
    reference="THEORY.md 2.3 (smooth ECE, Blasiok and Nakkiran 2024)",
    kind="bound",
    tolerance=("16 (L + 1) eps mean|t - f|, L = log2 of the finer FFT grid: float64 rounding "
               "of the FFT smoothing. Exact monotonicity holds because the reflected Gaussian "
               "kernels form a Markov semigroup (K_{s2} = K_s K_{s1}) and a Markov kernel "
               "contracts the L1 norm; on one dyadic grid overlapcal applies exactly such "
               "Fourier multipliers, and grid refinement keeps it (measured: increases below "
               "1e-15)."),
    parameters=lambda: _smooth_params(with_bandwidths=True),
    check=_smooth_monotone_check,
    wrong=lambda p: _smooth_monotone_check(p, reverse=True),
    wrong_description="claims smooth ECE is non-decreasing in the bandwidth",
    grid=_smooth_monotone_grid,
    grid_axes=("n_samples", "bandwidth_lo"),
    examples=(
        {"n_samples": 2000, "n_classes": 3, "seed": 0, "power": 2.0, "bandwidth_lo": 1e-4,
         "bandwidth_hi": 1.0},
        {"n_samples": 5, "n_classes": 2, "seed": 1, "power": 0.5, "bandwidth_lo": 0.0078,
         "bandwidth_hi": 0.0079},  # the two bandwidths straddle a change of FFT grid
    ),
))

SMOOTH_MIN_BANDWIDTH = 1e-4
SMOOTH_BISECTION_TOL = 1e-7


def _smooth_fixed_point_check(p, *, double: bool = False) -> Check:
    probs, labels, r = _smooth_data(p)
    value = metrics.smooth_ece(probs, labels)  # = smECE at the fixed-point bandwidth sigma*
    rounding = 16.0 * (_smooth_level(max(value, SMOOTH_MIN_BANDWIDTH)) + 1) * EPS * (r + 1.0)
    if value <= SMOOTH_MIN_BANDWIDTH and not double:
        # the fixed point is below the smallest bandwidth: sigma* = 1e-4 and smECE(1e-4) <= 1e-4
        return Check(value, SMOOTH_MIN_BANDWIDTH, "<=", rounding + SMOOTH_BISECTION_TOL,
                     "fixed point at the smallest bandwidth")
    bandwidth = max(value, SMOOTH_MIN_BANDWIDTH)
    again = metrics.smooth_ece(probs, labels, bandwidth=2.0 * bandwidth if double else bandwidth)
    # |d smECE / d sigma| <= 4 phi(1) r / sigma ~ 0.968 r / sigma =: L; the bisection leaves
    # |sigma* - root| <= 5e-8, so |value - sigma*| <= (1 + L) 5e-8 and
    # |smECE(value) - value| <= L (1 + L) 5e-8 (sigma >= value - 1e-7 along the way)
    lipschitz = r / max(bandwidth - SMOOTH_BISECTION_TOL, SMOOTH_MIN_BANDWIDTH)
    tol = 0.5 * SMOOTH_BISECTION_TOL * lipschitz * (1.0 + lipschitz) * 1.01 + rounding
    return Check(again, value, "==", tol, f"sigma*={value:.6g}")


register(Claim(
    id="smooth-ece-fixed-point",
    statement="The default smooth ECE is a fixed point: evaluated at a bandwidth equal to its "
              "value it returns that value (or the fixed point is below 1e-4).",
    formula="smECE_{sigma*} = sigma*,  smooth_ece(bandwidth=smooth_ece()) = smooth_ece()",
    reference="THEORY.md 2.3 (smECE_sigma = sigma)",
    kind="exact",
    tolerance=("the bisection width 1e-7: with L = mean|t - f| / sigma (>= 4 phi(1) mean|t - f|"
               " / sigma, the bound on |d smECE / d sigma| from the L1 norm of d/dsigma of a "
               "Gaussian), |smECE(v) - v| <= 5e-8 L (1 + L) at the returned value v; plus "
               "16 (L_grid + 1) eps (mean|t - f| + 1) of FFT rounding. Below the smallest "
               "bandwidth 1e-4 the library returns sigma* = 1e-4, and the claim is "
               "smECE(1e-4) <= 1e-4."),
    parameters=_smooth_params,
    check=_smooth_fixed_point_check,
    wrong=lambda p: _smooth_fixed_point_check(p, double=True),
    wrong_description="evaluates the metric at twice the fixed-point bandwidth (sigma vs 2 sigma)",
    examples=(
        {"n_samples": 2000, "n_classes": 3, "seed": 0, "power": 2.0},
        {"n_samples": 2000, "n_classes": 2, "seed": 0, "power": 1.0},  # calibrated: small sigma*
    ),
))


# ==============================================================================================
# 12. The uniform predictor on Gaussian mixtures, Monte Carlo (THEORY.md 2.2)
# ==============================================================================================

Z_MC = 5.0


@st.composite
def _uniform_gaussian_params(draw):
    p = draw(gaussian_family(max_classes=16))
    p.update(n_samples=draw(st.integers(1000, 5000)), seed=draw(st.integers(0, 2**31)))
    return p


def _uniform_gaussian_check(p, *, forget_entropy: bool = False) -> Check:
    dist = make_gaussian(p)
    k = dist.n_classes
    risk = oc.population_kl(ConstantPredictor(k, dist.n_features), dist, method="monte-carlo",
                            n_samples=p["n_samples"], rng=p["seed"])
    entropy = dist.conditional_entropy(n_samples=p["n_samples"], rng=p["seed"] + 1)
    stderr = math.hypot(risk.stderr, entropy.stderr)
    rhs = math.log(k) if forget_entropy else math.log(k) - entropy.value
    tol = Z_MC * stderr + 16.0 * k * EPS * math.log(k)
    return Check(risk.value, rhs, "==", tol,
                 f"stderr={stderr:.3g} ({risk.method} risk, {entropy.method} entropy)")


def _uniform_gaussian_grid():
    return [{"layout": "orthogonal", "n_classes": k, "separation": s, "n_samples": 4000,
             "seed": 0}
            for k in (2, 4, 16) for s in (0.1, 0.5, 1.0, 2.0, 4.0)]


register(Claim(
    id="uniform-risk-gaussian",
    statement="The uniform predictor's KL risk is log k minus the conditional entropy "
              "(Gaussian mixtures: orthogonal, simplex, pairs, the d = 300 preset).",
    formula="R(uniform) = log k - H(Y|X)",
    reference="THEORY.md 2.2 (Uniform predictor), 4.2",
    kind="monte-carlo",
    tolerance=("5 standard errors of the difference (population_kl by Monte Carlo and "
               "conditional_entropy by Monte Carlo on independent draws, or by quadrature for "
               "k = 2 with error < 1e-13), plus 16 k eps log k of rounding. False-alarm rate "
               "2 Phi(-5) = 5.7e-7 per example under the normal approximation (n >= 1000 draws "
               "of a bounded variable), <= 3e-4 over a thorough run."),
    parameters=_uniform_gaussian_params,
    check=_uniform_gaussian_check,
    wrong=lambda p: _uniform_gaussian_check(p, forget_entropy=True),
    wrong_description="forgets the conditional entropy: R(uniform) = log k",
    grid=_uniform_gaussian_grid,
    grid_axes=("separation", "n_classes"),
    examples=(
        {"layout": "shifted", "n_classes": 2, "separation": 0.25, "n_samples": 2000, "seed": 0},
        {"layout": "simplex", "n_classes": 16, "separation": 2.0, "n_samples": 2000, "seed": 0},
    ),
))


# ==============================================================================================
# 13. d-Mixup weights are Dirichlet(alpha 1_{d+1}) (THEORY.md 5)
# ==============================================================================================


@st.composite
def _dmixup_params(draw):
    return {
        "n_mix": draw(st.integers(2, 8)),
        "alpha": draw(log_uniform(-1.3, 1.3, 1.0, 0.2)),
        "batch_size": draw(st.integers(1000, 20000)),
        "seed": draw(st.integers(0, 2**31)),
    }


def dirichlet_marginal_moments(n_mix: int, alpha: float):
    """Mean, variance and 4th central moment of one weight of ``Dirichlet(alpha 1_n)``.

    One weight is ``Beta(alpha, (n - 1) alpha)``: ``E[w^r] = prod_{i<r} (alpha + i) /
    (n alpha + i)``; mean ``1/n``, variance ``(n - 1) / (n^2 (n alpha + 1))``.

    Parameters
    ----------
    n_mix : int >= 2
        ``n``, the points per mixture.
    alpha : float > 0
        The concentration.

    Returns
    -------
    mean, variance, fourth_central_moment : float

    Examples
    --------
    ``Dirichlet(1, 1)``'s first weight is uniform on [0, 1]: ``1/2``, ``1/12`` and ``1/80``.

    >>> from proofs_check.claims.basic import dirichlet_marginal_moments
    >>> [round(m, 12) for m in dirichlet_marginal_moments(2, 1.0)]
    [0.5, 0.083333333333, 0.0125]
    """
    s = n_mix * alpha
    raw = [1.0]
    for i in range(4):
        raw.append(raw[-1] * (alpha + i) / (s + i))
    mu = raw[1]
    var = raw[2] - mu**2
    mu4 = raw[4] - 4 * mu * raw[3] + 6 * mu**2 * raw[2] - 3 * mu**4
    return mu, var, mu4


def _dmixup_check(p, *, d_not_d_plus_1: bool = False) -> Check:
    from overlapcal.nets import draw_mixing  # the sampler of the training loop (imports torch)

    n, a, b = p["n_mix"], p["alpha"], p["batch_size"]
    weights, _ = draw_mixing(b, n_mix=n, alpha=a, rng=p["seed"])
    mu, var, mu4 = dirichlet_marginal_moments(n, a)
    claimed_mean = 1.0 / (n - 1) if d_not_d_plus_1 else 1.0 / n
    claimed_var = (n - 1) / (n**2 * (n * a + 1.0))
    se_mean = math.sqrt(var / b)
    se_var = math.sqrt(max(mu4 - var**2 * (b - 3) / (b - 1), 0.0) / b)
    checks = []
    for col in sorted({0, n - 1}):
        w = weights[:, col]
        checks.append(Check(float(w.mean()), claimed_mean, "==", Z_MC * se_mean,
                            f"mean of weight {col}"))
        checks.append(Check(float(w.var(ddof=1)), claimed_var, "==", Z_MC * se_var,
                            f"variance of weight {col}"))
    return all_of(checks)


def _dmixup_grid():
    return [{"n_mix": n, "alpha": a, "batch_size": 20000, "seed": 0}
            for n in (2, 3, 5, 8) for a in (0.1, 0.5, 1.0, 4.0)]


register(Claim(
    id="dmixup-dirichlet-moments",
    statement="The mixing weights that d-Mixup training draws (overlapcal.nets.draw_mixing) "
              "have the Dirichlet(alpha 1_{d+1}) mean and variance.",
    formula="E[w_j] = 1/(d+1),  Var[w_j] = d / ((d+1)^2 ((d+1) alpha + 1))",
    reference="THEORY.md 5 (d-Mixup weights w ~ Dirichlet(a 1_{d+1}))",
    kind="monte-carlo",
    tolerance=("5 exact standard errors (from the Beta(alpha, d alpha) marginal: sigma/sqrt(b) "
               "for the mean, sqrt((mu4 - sigma^4 (b-3)/(b-1))/b) for the sample variance) on "
               "the first and last weight: false-alarm rate <= 4 x 2 Phi(-5) = 2.3e-6 per "
               "example under the normal approximation (b >= 1000)."),
    parameters=_dmixup_params,
    check=_dmixup_check,
    wrong=lambda p: _dmixup_check(p, d_not_d_plus_1=True),
    wrong_description="takes the mean weight as 1/d (counting d points instead of d + 1)",
    grid=_dmixup_grid,
    grid_axes=("n_mix", "alpha"),
    examples=(
        {"n_mix": 2, "alpha": 0.05, "batch_size": 20000, "seed": 0},
        {"n_mix": 5, "alpha": 20.0, "batch_size": 1000, "seed": 1},
    ),
))
