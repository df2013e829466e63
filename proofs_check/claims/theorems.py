"""The theorem claims: Propositions 1, 1b, 3, 4, 5 and Corollary 2 (THEORY.md 4.3 and 5).

Every claim computes one side with overlapcal's public functions (the library under test) and
the other side independently where the statement allows it: the accuracy ``A`` of a piecewise
constant classifier from interval intersections (not from the posterior), the lower bound of
Proposition 1b as a finite sum written here, the Mixup targets by brute force over pairs.
Parameters are plain dicts (sizes, scales, seeds, strings) so that every counterexample replays
as ``get_claim(ID).check({...})``; strategies build valid inputs (a spacing is the smallest legal
one plus a positive gap) instead of filtering.

Tolerances
----------
Exact claims are compared at float64 precision: ``ROUND_ULPS`` ulps of the *magnitude* of the
computation (the sum of the absolute values of the terms that are added, e.g.
``E[sum_c eta_c (|log eta_c| + |log g_c|)]`` for a KL risk), plus, where interval ends enter,
one ulp of the largest end per piece times the largest per-piece integrand. Monte Carlo claims
use ``Z`` one-sided standard errors. Every claim states its tolerance in words.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.special import betainc, betaln, logsumexp, xlogy

import overlapcal as oc
from overlapcal.predictors import Predictor

from ..core import EPS, Check, Claim, all_of, register

#: Ulps of the magnitude of a computation allowed to float64 rounding. Sums of up to a few
#: thousand terms stay far below it: over 150 random examples per exact claim the largest
#: |lhs - rhs| / tol was 0.004 (the rounding-limited claims), 0.03 for prop4-two-points and
#: 0.3 for p(T*) in prop1-oracle-ts (limited by the solver's stopping rule, not by rounding).
ROUND_ULPS = 256

#: One-sided standard errors of the Monte Carlo claims: a false alarm has probability
#: ``Phi(-5) = 2.9e-7`` per comparison under the normal approximation.
Z = 5.0

SEEDS = st.integers(0, 2**32 - 1)


def _log_uniform(lo_exp: float, hi_exp: float):
    return st.floats(lo_exp, hi_exp).map(lambda e: float(10.0**e))


def _quiet(fn, *args, **kwargs):
    """Call ``fn`` with overlapcal's CalibrationWarning / UserWarning silenced (status is read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _binary_entropy(a: float) -> float:
    return float(-xlogy(a, a) - xlogy(1.0 - a, 1.0 - a))


def _f(a: float, k: int, log_rest: float | None = None) -> float:
    """``f(A) = H_b(A) + (1 - A) log(k - 1)`` (Corollary 2); ``log_rest`` overrides log(k-1)."""
    log_rest = math.log(k - 1) if log_rest is None else log_rest
    return _binary_entropy(a) + (1.0 - a) * log_rest


def _log_softmax(h: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax``; ``-inf`` entries stay ``-inf`` (the row max is finite)."""
    m = np.max(h, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return h - m - logsumexp(h - m, axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------------
# Overlapping uniform instances and hard interpolators
# ----------------------------------------------------------------------------------------------


@st.composite
def _uniform(draw, max_groups: int = 8, group_sizes=(2, 3, 4)):
    """``group_size``, ``n_groups``, ``overlap`` and a legal ``spacing`` (smallest + gap)."""
    m = draw(st.sampled_from(group_sizes))
    groups = draw(st.integers(1, max_groups))
    alpha = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)))
    gap = draw(_log_uniform(-2, 0.7))
    spacing = 1.0 + (m - 1) * (1.0 - alpha) + gap
    return {"group_size": m, "n_groups": groups, "overlap": alpha, "spacing": spacing}


def _make_uniform(p: dict) -> "oc.OverlappingUniform":
    m = p["group_size"]
    return oc.OverlappingUniform(m * p["n_groups"], p["overlap"], group_size=m,
                                 spacing=p["spacing"])


class _HardOnClassifier(Predictor):
    """``h(x) = B e_{yhat(x)}`` for the Bayes classifier ``yhat`` of a distribution.

    The hard predictor of Proposition 1 with the best possible classifier (``A = A*``), so
    Corollary 2's bound is attained: the tight case of the bound claims.
    """

    def __init__(self, dist, margin: float):
        self.dist, self.margin = dist, margin
        self.n_classes_, self.n_features_in_ = dist.n_classes, dist.n_features

    def _logits(self, X):
        return self.margin * np.eye(self.n_classes_)[self.dist.predict_bayes(X)]

    def breakpoints(self):
        return oc.BayesPredictor(self.dist).breakpoints()


def _hard_predictor(p: dict, dist, margin: float):
    """The hard predictor of ``p["labels"]``: 1-NN on a sample with its own labels
    (``"sample"``), with uniformly random labels (``"random"``: any classifier), or the Bayes
    classifier (``"bayes"``)."""
    k = dist.n_classes
    if p["labels"] == "bayes":
        return _HardOnClassifier(dist, margin)
    rng = np.random.default_rng(p["seed"])
    X, y = dist.sample(p["n"], rng=rng)
    if p["labels"] == "random":
        y = rng.integers(0, k, size=p["n"])
    return oc.HardInterpolator(margin=margin).fit(X, y, n_classes=k)


def _pieces(predictor, dist):
    """The exact design: segments of ``dist`` cut at the predictor's (smooth) breakpoints.

    Returns ``(a, b, mass, eta)``: sub-interval ends, their ``pi_X`` mass and the posterior on
    each. Written here (not the library's private design) from ``dist.segments()``.
    """
    seg = dist.segments()
    points = predictor.breakpoints()
    if points is None:
        points = predictor.smooth_breakpoints()
    points = np.empty(0) if points is None else np.asarray(points, dtype=float)
    knots = np.unique(np.concatenate([seg.left, seg.right, points]))
    a, b = knots[:-1], knots[1:]
    mid = 0.5 * (a + b)
    r = np.searchsorted(seg.left, mid, side="right") - 1
    keep = (r >= 0) & (b > a)
    keep[keep] &= mid[keep] < seg.right[r[keep]]
    a, b, r = a[keep], b[keep], r[keep]
    return a, b, seg.density[r] * (b - a), seg.posterior[r]


def _accuracy_by_intervals(predictor, dist) -> float:
    """``A = P(Y = yhat(X)) = (1/k) sum_c |{x in I_c : yhat(x) = c}| / |I_c|``.

    Independent of the posterior and of the library's designs: ``yhat`` is constant between
    consecutive breakpoints (evaluated once per cell with ``predict``) and each cell is
    intersected with the interval of the class it predicts.
    """
    bp = predictor.breakpoints()
    bp = np.empty(0) if bp is None else np.asarray(bp, dtype=float)
    lo_all, hi_all = dist.class_intervals[:, 0], dist.class_intervals[:, 1]
    left = np.concatenate([[lo_all.min() - 1.0], bp])
    right = np.concatenate([bp, [hi_all.max() + 1.0]])
    probe = np.where(np.isfinite(left), 0.5 * (left + right), right - 1.0)
    yhat = predictor.predict(probe[:, None])
    lo, hi = lo_all[yhat], hi_all[yhat]
    inside = np.maximum(0.0, np.minimum(hi, right) - np.maximum(lo, left))
    return math.fsum(inside / (hi - lo)) / dist.n_classes


def _kl_magnitude(H: float, terms: float) -> float:
    """Scale of a KL risk's float sum: ``H(Y|X)`` (the ``eta log eta`` terms) plus ``terms``."""
    return abs(H) + abs(terms)


def _end_rounding(dist, n_pieces: int, per_piece: float) -> float:
    """One ulp of the largest interval end per piece, times the largest per-piece integrand."""
    x_max = float(np.max(np.abs(dist.class_intervals)))
    density = dist.group_size / dist.n_classes
    return n_pieces * EPS * x_max * density * per_piece


def _hard_params(labels=("sample", "random"), temperature=True):
    def build():
        fields = {
            "uniform": _uniform(),
            "n": st.integers(1, 40),
            "seed": SEEDS,
            "labels": st.sampled_from(labels),
            "margin": _log_uniform(-1, 1.5),
        }
        if temperature:
            fields["temperature"] = _log_uniform(-1.3, 1.3)
        return st.fixed_dictionaries(fields).map(lambda d: {**d.pop("uniform"), **d})

    return build


def _log_p_q(s: float, k: int) -> tuple[float, float]:
    """``log p`` and ``log((1 - p)/(k - 1))`` for ``p = e^s / (e^s + k - 1)``, stably."""
    lse = float(np.logaddexp(s, math.log(k - 1)))
    return s - lse, -lse


# ----------------------------------------------------------------------------------------------
# Proposition 1: the closed form of R(g_T)
# ----------------------------------------------------------------------------------------------


def _prop1(p: dict, log_rest_shift: float = 0.0) -> Check:
    dist = _make_uniform(p)
    k = dist.n_classes
    hard = _hard_predictor(p, dist, p["margin"])
    A = _accuracy_by_intervals(hard, dist)
    H = dist.conditional_entropy().value
    s = p["margin"] / p["temperature"]
    log_p, log_q = _log_p_q(s, k)
    log_q -= log_rest_shift  # wrong variant: log((1-p)/k) instead of log((1-p)/(k-1))
    closed = -H - A * log_p - (1.0 - A) * log_q
    kl = oc.population_kl(oc.TemperatureScaled(hard, p["temperature"]), dist, method="exact")
    terms = A * abs(log_p) + (1.0 - A) * abs(log_q)
    n_pieces = _pieces(hard, dist)[0].size
    tol = (ROUND_ULPS * EPS * (_kl_magnitude(H, terms) + abs(kl.value))
           + _end_rounding(dist, n_pieces, abs(log_q) + math.log(k)))
    return Check(kl.value, closed, "==", tol,
                 f"k={k}, A={A:.6g}, p={math.exp(log_p):.6g}, H={H:.6g}, pieces={n_pieces}")


register(Claim(
    id="prop1-closed-form",
    statement=(
        "For any classifier yhat and h = B e_yhat, g_T puts p = e^(B/T)/(e^(B/T) + k - 1) on "
        "yhat and (1-p)/(k-1) on every other class, and its KL risk is a function of the "
        "accuracy A alone."
    ),
    formula="R(g_T) = -H(Y|X) - A log p - (1 - A) log((1 - p)/(k - 1)),  A = P(Y = yhat(X))",
    reference="THEORY.md 4.3, Proposition 1",
    kind="exact",
    tolerance=(
        "float64 rounding only: population_kl is an exact finite sum for this piecewise-constant "
        "predictor. 256 ulps of the magnitude H + A|log p| + (1-A)|log q| + R of the sums, plus "
        "one ulp of the largest interval end per piece times the largest per-piece KL "
        "(|log q| + log k) and the density m/k (the float64 interval ends of far groups). "
        "A is computed independently by intersecting 1-NN cells with class intervals."
    ),
    parameters=_hard_params(),
    check=_prop1,
    wrong=lambda p: _prop1(p, log_rest_shift=math.log(_make_uniform(p).n_classes
                                                      / (_make_uniform(p).n_classes - 1))),
    wrong_description="log((1 - p)/k) in place of log((1 - p)/(k - 1)) in the closed form",
    examples=(
        {"group_size": 2, "n_groups": 2, "overlap": 0.5, "spacing": 2.5, "n": 20, "seed": 0,
         "labels": "sample", "margin": 5.0, "temperature": 2.0},
        {"group_size": 4, "n_groups": 8, "overlap": 1.0, "spacing": 1.01, "n": 40, "seed": 1,
         "labels": "random", "margin": 30.0, "temperature": 0.05},
    ),
))


# ----------------------------------------------------------------------------------------------
# Proposition 1: oracle temperature scaling of a hard interpolator
# ----------------------------------------------------------------------------------------------


def _oracle_parts(p: dict):
    dist = _make_uniform(p)
    hard = _hard_predictor(p, dist, p["margin"])
    A = _accuracy_by_intervals(hard, dist)
    H = dist.conditional_entropy().value
    oracle = _quiet(oc.oracle_temperature, hard, dist, method="exact")
    return dist, hard, A, H, oracle


def _p_tolerance(A: float, p_star: float, s: float, k: int) -> float:
    """``|p(T*) - A|`` allowed by oracle_temperature's solver.

    It stops at ``|R'(beta)| <= 16 sqrt(k) eps * scale`` with ``R' = B (p - A)`` and
    ``scale = B (2 - p - A)`` (logits shifted to row max 0; allowed twice, for the rounding of
    the gradient's own sums), or when ``beta`` is located to 4 ulps
    (``|dp| <= 4 eps s p (1 - p)``, allowed twice); 64 ulps more for the sums behind ``A``.
    """
    return (16.0 * math.sqrt(k) * EPS * (2.0 - p_star - A) * 2.0
            + 8.0 * EPS * s * p_star * (1.0 - p_star) + 64.0 * EPS)


def _prop1_oracle(p: dict, wrong: bool = False) -> Check:
    dist, hard, A, H, oracle = _oracle_parts(p)
    k = dist.n_classes
    log_rest = math.log(k) if wrong else math.log(k - 1)
    if A >= 1.0 / k:
        closed = _f(A, k, log_rest) - H
        p_target = A
    else:  # the infimum is the uniform predictor's risk (T = inf)
        closed = math.log(k) - H
        p_target = 1.0 / k
    s = p["margin"] * oracle.beta
    log_p, log_q = _log_p_q(s, k)
    p_star = math.exp(log_p)
    R = oracle.kl.value
    terms = A * abs(log_p) + (1.0 - A) * abs(log_q)
    n_pieces = _pieces(hard, dist)[0].size
    tol_p = _p_tolerance(A, p_star, s, k)
    # R is stationary at p = A: a p-error dp moves R by dp^2 / (2 A (1 - A)) at most (to 2nd order).
    curvature = 1.0 / max(A * (1.0 - A), 1e-300)
    tol_v = (ROUND_ULPS * EPS * (_kl_magnitude(H, terms) + abs(R))
             + _end_rounding(dist, n_pieces, abs(log_q) + math.log(k)) + tol_p**2 * curvature)
    checks = [
        Check(R, closed, "==", tol_v, f"min_T R (oracle_temperature, {oracle.status}) vs "
              f"closed form; k={k}, A={A:.6g}, H={H:.6g}"),
        Check(p_star, p_target, "==", tol_p, f"p(T*) vs A={A:.6g} (k={k})"),
    ]
    if math.isfinite(oracle.temperature) and oracle.status != "separable":
        # An independent 1-D search over log T of the library's R(g_T) never beats the minimum.
        t0 = math.log(oracle.temperature)

        def risk(t):
            return oc.population_kl(oc.TemperatureScaled(hard, math.exp(t)), dist,
                                    method="exact").value

        res = minimize_scalar(risk, bounds=(t0 - 3.0, t0 + 3.0), method="bounded",
                              options={"xatol": 1e-6})
        checks.append(Check(float(res.fun), closed, ">=", tol_v,
                            f"bounded search over log T: R = {res.fun!r} at T = "
                            f"{math.exp(res.x):.6g}"))
    return all_of(checks)


register(Claim(
    id="prop1-oracle-ts",
    statement=(
        "For a hard interpolator with accuracy A >= 1/k, the oracle temperature puts p = A on "
        "its label and its KL risk is H_b(A) + (1-A) log(k-1) - H(Y|X); for A < 1/k the "
        "infimum is the uniform predictor's log k - H(Y|X)."
    ),
    formula="min_T R(g_T) = H_b(A) + (1 - A) log(k - 1) - H(Y|X),  p(T*) = A   (A >= 1/k)",
    reference="THEORY.md 4.3, Proposition 1",
    kind="exact",
    tolerance=(
        "p(T*) = A within the stopping rule of the safeguarded Newton solver behind "
        "oracle_temperature (|R'(beta)| <= 16 sqrt(k) eps times the gradient's scale, or beta "
        "located to 4 ulps), plus 64 ulps. The value: as prop1-closed-form (256 ulps of the "
        "sums' magnitude, one ulp of the interval ends per piece) plus dp^2/(A(1-A)), the "
        "second-order effect of that p-error at the minimum. Three comparisons: the library's "
        "oracle risk against the closed form, p(T*) against A, and an independent bounded "
        "search over log T (scipy, 6 decades) that must not go below the closed form."
    ),
    parameters=_hard_params(temperature=False),
    check=_prop1_oracle,
    wrong=lambda p: _prop1_oracle(p, wrong=True),
    wrong_description="(1 - A) log k in place of (1 - A) log(k - 1) in the minimum",
    examples=(
        {"group_size": 2, "n_groups": 4, "overlap": 0.5, "spacing": 2.5, "n": 40, "seed": 0,
         "labels": "sample", "margin": 5.0},
        {"group_size": 3, "n_groups": 2, "overlap": 0.8, "spacing": 3.0, "n": 7, "seed": 3,
         "labels": "random", "margin": 0.5},
        {"group_size": 2, "n_groups": 1, "overlap": 0.3, "spacing": 2.0, "n": 1, "seed": 0,
         "labels": "sample", "margin": 1.0},
    ),
))


# ----------------------------------------------------------------------------------------------
# Proposition 1: top-label ECE = 0 after oracle TS
# ----------------------------------------------------------------------------------------------


def _population_ece(predictor, beta: float, dist, n_bins: int) -> tuple[float, float, float]:
    """Population top-label ECE of ``softmax(beta h)`` with equal-width right-closed bins, exactly.

    ``ECE = sum_b |E[(eta_yhat(X) - conf(X)) 1{conf(X) in B_b}]|`` over the exact design
    (segments cut at the breakpoints: ``eta`` and ``g`` are constant on each piece), with
    ``yhat = argmax h`` (temperature never moves it; at ``beta = 0``, ``T = inf``, it is the limit
    of ``g_T`` as ``T -> inf``). Returns ``(ece, smallest confidence, largest confidence)``.
    """
    a, b, mass, eta = _pieces(predictor, dist)
    h = predictor.logits((0.5 * (a + b))[:, None])
    yhat = np.argmax(h, axis=1)
    rows = np.arange(a.size)
    conf = np.exp(_log_softmax(beta * h)[rows, yhat])
    correct = eta[rows, yhat]
    edges = np.arange(1, n_bins) / n_bins
    bins = np.searchsorted(edges, conf, side="left")  # right-closed: conf = b/M goes left
    gap = np.bincount(bins, weights=mass * (correct - conf), minlength=n_bins)
    return float(np.sum(np.abs(gap))), float(conf.min()), float(conf.max())


def _ece_params():
    def valid(p):
        dist = _make_uniform(p)
        hard = _hard_predictor(p, dist, p["margin"])
        return _accuracy_by_intervals(hard, dist) >= 1.0 / dist.n_classes

    return (_hard_params(labels=("sample", "bayes"), temperature=False)()
            .flatmap(lambda p: st.integers(1, 30).map(lambda b: {**p, "n_bins": b}))
            .filter(valid))


def _prop1_ece(p: dict, wrong: bool = False) -> Check:
    dist, hard, A, H, oracle = _oracle_parts(p)
    k = dist.n_classes
    if A < 1.0 / k:
        raise ValueError(f"Proposition 1's ECE statement needs A >= 1/k; here A = {A!r} < 1/{k}.")
    beta = 1.0 if wrong else oracle.beta
    temperature = 1.0 / beta if beta > 0 else math.inf
    ece, c_min, c_max = _population_ece(hard, beta, dist, p["n_bins"])
    s = p["margin"] * oracle.beta
    p_star = math.exp(_log_p_q(s, k)[0])
    tol = _p_tolerance(A, p_star, s, k) + ROUND_ULPS * EPS
    return Check(ece, 0.0, "<=", tol,
                 f"population top-label ECE ({p['n_bins']} bins) at T = {temperature:.6g}; "
                 f"confidence in [{c_min!r}, {c_max!r}], A = {A!r}; KL risk there = "
                 f"{oracle.kl.value:.6g} (the blind spot)")


register(Claim(
    id="prop1-ece-zero",
    statement=(
        "After oracle temperature scaling, a hard interpolator with A >= 1/k has population "
        "top-label ECE exactly 0 (its confidence is the constant p = A and its accuracy is A), "
        "whatever its KL risk: the failure is invisible to ECE."
    ),
    formula="ECE(g_T*) = sum_b |E[(eta_yhat(X) - max_c g_T*(X)_c) 1{conf in B_b}]| = 0",
    reference="THEORY.md 4.3, Proposition 1 (and 2.5, ECE's blind spot)",
    kind="exact",
    tolerance=(
        "The population ECE is computed exactly (finite sum over the pieces where eta and g are "
        "constant, equal-width right-closed bins); with a constant confidence it equals |p - A|, "
        "so the tolerance is the solver's p-tolerance of prop1-oracle-ts plus 256 ulps."
    ),
    parameters=_ece_params,
    check=_prop1_ece,
    wrong=lambda p: _prop1_ece(p, wrong=True),
    wrong_description="the raw interpolator (T = 1) in place of the oracle-scaled one",
    examples=(
        {"group_size": 2, "n_groups": 4, "overlap": 0.5, "spacing": 2.5, "n": 40, "seed": 0,
         "labels": "sample", "margin": 5.0, "n_bins": 15},
        {"group_size": 3, "n_groups": 1, "overlap": 0.7, "spacing": 2.0, "n": 1, "seed": 0,
         "labels": "bayes", "margin": 2.0, "n_bins": 1},
    ),
))


# ----------------------------------------------------------------------------------------------
# Proposition 1b: chain rule and the runner-up lower bound
# ----------------------------------------------------------------------------------------------

_PREDICTORS_1B = ("hard", "soft-gaussian", "soft-linear")


def _support_length(dist) -> float:
    iv = dist.class_intervals
    return float(iv[:, 1].max() - iv[:, 0].min())


def _predictor_1b(p: dict, dist):
    """The predictor of ``p["predictor"]``, fitted on ``n`` sample points, at ``temperature``.

    ``soft-gaussian`` uses a radius of at least 1/25 of the support length, so its margin
    ``B exp(-(r/gamma)^2) >= B e^-625`` stays positive on the support and the argmax is the 1-NN
    label everywhere; ``soft-linear`` has compact support (argmax 0 where the margin is 0, still
    with equal non-argmax logits); ``soft-knn`` mixes in the votes of 3 neighbours (unequal
    runner-up logits: outside the bound's hypothesis, used by the chain rule only).
    """
    rng = np.random.default_rng(p["seed"])
    X, y = dist.sample(p["n"], rng=rng)
    k = dist.n_classes
    kind = p["predictor"]
    if kind == "hard":
        base = oc.HardInterpolator(margin=p["margin"]).fit(X, y, n_classes=k)
    else:
        radius = p["radius"] * _support_length(dist)
        if kind == "soft-knn":
            n_loc = np.unique(X[:, 0]).size
            base = oc.SoftInterpolator(margin=p["margin"], radius=radius,
                                       n_neighbors=min(3, n_loc), neighbor_weight=0.3)
        else:
            base = oc.SoftInterpolator(margin=p["margin"], radius=radius,
                                       profile=kind.removeprefix("soft-"))
        base = base.fit(X, y, n_classes=k)
    temperature = p["temperature"]
    if temperature == "oracle":
        temperature = _quiet(oc.oracle_temperature, base, dist).temperature
        if not math.isfinite(temperature):
            temperature = 1e300
    return oc.TemperatureScaled(base, temperature)


def _params_1b(predictors):
    def build():
        fields = {
            "uniform": _uniform(max_groups=4),
            "n": st.integers(1, 30),
            "seed": SEEDS,
            "predictor": st.sampled_from(predictors),
            "margin": _log_uniform(-1, 1.5),
            "radius": st.floats(0.04, 1.0),
            "temperature": st.one_of(st.just("oracle"), _log_uniform(-1, 1)),
        }
        return st.fixed_dictionaries(fields).map(lambda d: {**d.pop("uniform"), **d})

    return build


def _runner_up_bound(predictor, dist, log_rest: float | None = None) -> tuple[float, float]:
    """``E[(1 - eta_yhat(X)) (log(k - 1) - H(eta~(X)))]`` as a finite sum, and its magnitude.

    ``yhat = argmax g`` is constant on the pieces between the predictor's (smooth) breakpoints
    and the segment ends, so the integrand is piecewise constant.
    """
    a, b, mass, eta = _pieces(predictor, dist)
    k = dist.n_classes
    yhat = predictor.predict((0.5 * (a + b))[:, None])
    rows = np.arange(a.size)
    rest = eta.copy()
    rest[rows, yhat] = 0.0
    r = rest.sum(axis=1)
    tilde = rest / np.where(r > 0, r, 1.0)[:, None]
    h_tilde = -np.sum(xlogy(tilde, tilde), axis=1)
    log_rest = math.log(k - 1) if log_rest is None else log_rest
    terms = mass * r * (log_rest - h_tilde)
    return math.fsum(terms), math.fsum(np.abs(mass * r) * (log_rest + h_tilde))


def _kl_1b(predictor, dist):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kl = oc.population_kl(predictor, dist)
    quad_warning = any("quadrature" in str(w.message) for w in caught)
    return kl, quad_warning


def _kl_tolerance(kl, dist, H: float) -> float:
    """Rounding of the three sums (magnitude 2H + R + parts), plus 1e-10 for quadrature."""
    magnitude = 2.0 * abs(H) + abs(kl.value) + abs(kl.top_label) + abs(kl.runner_up)
    quad = 1e-10 if kl.method == "quadrature" else 0.0
    return ROUND_ULPS * EPS * magnitude + quad


def _prop1b_chain(p: dict, wrong: bool = False) -> Check:
    dist = _make_uniform(p)
    predictor = _predictor_1b(p, dist)
    kl, quad_warning = _kl_1b(predictor, dist)
    H = dist.conditional_entropy().value
    magnitude = 2.0 * abs(H) + abs(kl.value) + abs(kl.top_label) + abs(kl.runner_up)
    tol = ROUND_ULPS * EPS * magnitude
    parts = kl.top_label + (0.0 if wrong else kl.runner_up)
    return Check(kl.value, parts, "==", tol,
                 f"{p['predictor']} ({kl.method}{', quadrature warning' if quad_warning else ''}): "
                 f"R = {kl.value:.6g}, top-label {kl.top_label:.6g}, runner-up {kl.runner_up:.6g}")


register(Claim(
    id="prop1b-chain-rule",
    statement=(
        "For any predictor with argmax yhat, the KL risk splits into a top-label part and a "
        "runner-up part; population_kl reports both and they add up to the total."
    ),
    formula=("KL(eta || g) = KL(Bern(eta_yhat) || Bern(g_yhat)) + (1 - eta_yhat) KL(eta~ || g~); "
             "R = top_label + runner_up"),
    reference="THEORY.md 4.3, Proposition 1b",
    kind="exact",
    tolerance=(
        "float64 rounding only: the three sums use the same design and weights, so they agree to "
        "256 ulps of their magnitude 2 H(Y|X) + R + |top| + |runner-up| (the per-row terms "
        "eta log eta and eta log g). Quadrature error cancels (same nodes for all three)."
    ),
    parameters=_params_1b(_PREDICTORS_1B + ("soft-knn",)),
    check=_prop1b_chain,
    wrong=lambda p: _prop1b_chain(p, wrong=True),
    wrong_description="the runner-up part dropped: R = top-label part",
    examples=(
        {"group_size": 3, "n_groups": 2, "overlap": 0.6, "spacing": 2.5, "n": 20, "seed": 0,
         "predictor": "soft-knn", "margin": 8.0, "radius": 0.1, "temperature": 1.0},
    ),
))


def _prop1b_parts(p: dict):
    dist = _make_uniform(p)
    predictor = _predictor_1b(p, dist)
    kl, quad_warning = _kl_1b(predictor, dist)
    H = dist.conditional_entropy().value
    note = (f"{p['predictor']} ({kl.method}{', quadrature warning' if quad_warning else ''}), "
            f"k={dist.n_classes}")
    return dist, predictor, kl, H, note


def _prop1b_bound(p: dict, factor: float = 1.0) -> Check:
    dist, predictor, kl, H, note = _prop1b_parts(p)
    bound, bound_mag = _runner_up_bound(predictor, dist)
    tol = _kl_tolerance(kl, dist, H) + ROUND_ULPS * EPS * bound_mag
    return Check(kl.value, factor * bound, ">=", tol,
                 f"{note}: top-label part {kl.top_label:.6g}")


def _prop1b_runner_up(p: dict, wrong: bool = False) -> Check:
    dist, predictor, kl, H, note = _prop1b_parts(p)
    k = dist.n_classes
    bound, bound_mag = _runner_up_bound(predictor, dist, math.log(k) if wrong else None)
    tol = _kl_tolerance(kl, dist, H) + ROUND_ULPS * EPS * bound_mag
    return Check(kl.runner_up, bound, "==", tol, note)


def _grid_1b():
    points = []
    for k in (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        for alpha in (0.1, 0.25, 0.5, 0.75, 1.0):
            points.append({"group_size": 2, "n_groups": k // 2, "overlap": alpha,
                           "spacing": float(k), "n": 4 * k, "seed": 0, "predictor": "hard",
                           "margin": 10.0, "radius": 0.1, "temperature": "oracle"})
    return points


register(Claim(
    id="prop1b-runner-up",
    statement=(
        "If the non-argmax probabilities of g are all equal (logits B(x) e_yhat + c(x) 1: the "
        "hard interpolator and the soft interpolator with one neighbour, any margin profile, at "
        "every temperature), g~ is uniform and the runner-up part of the KL risk is exactly "
        "E[(1 - eta_yhat)(log(k-1) - H(eta~))], whatever the temperature."
    ),
    formula="runner_up(g_T) = E[(1 - eta_yhat(X)) KL(eta~(X) || unif)] "
            "= E[(1 - eta_yhat(X)) (log(k - 1) - H(eta~(X)))]",
    reference="THEORY.md 4.3, Proposition 1b",
    kind="exact",
    tolerance=(
        "The right side is a finite sum written here (yhat is constant between the predictor's "
        "breakpoints, so the integrand is piecewise constant). Hard interpolator: "
        "population_kl's exact design, 256 ulps of the magnitudes 2H + R + |parts| + the "
        "bound's |terms|. Soft interpolators: population_kl's adaptive quadrature, whose "
        "documented error (below 1e-10; it warns otherwise and the note says so) is added; the "
        "runner-up integrand is piecewise constant on its panels, so in fact only rounding enters."
    ),
    parameters=_params_1b(_PREDICTORS_1B),
    check=_prop1b_runner_up,
    wrong=lambda p: _prop1b_runner_up(p, wrong=True),
    wrong_description="log k in place of log(k - 1) (g~ uniform over k classes, not k - 1)",
    examples=(
        {"group_size": 2, "n_groups": 4, "overlap": 0.5, "spacing": 8.0, "n": 30, "seed": 0,
         "predictor": "soft-gaussian", "margin": 10.0, "radius": 0.1, "temperature": 2.0},
    ),
))


register(Claim(
    id="prop1b-bound",
    statement=(
        "If the non-argmax probabilities of g are all equal (the hard interpolator and the "
        "soft interpolator with one neighbour, at every temperature), no temperature and no "
        "margin profile brings R below E[(1 - eta_yhat)(log(k-1) - H(eta~))]: the slack is the "
        "top-label part."
    ),
    formula="R(g) >= E[(1 - eta_yhat(X)) (log(k - 1) - H(eta~(X)))]",
    reference="THEORY.md 4.3, Proposition 1b",
    kind="bound",
    tolerance=(
        "As prop1b-runner-up: the bound is a finite sum written here; R is population_kl's exact "
        "sum (hard) or adaptive quadrature (soft, documented error below 1e-10, added). 256 ulps "
        "of the magnitudes for rounding. The grid (overlapping pairs at the oracle "
        "temperature) plots the slack, which is the top-label part of the KL risk."
    ),
    parameters=_params_1b(_PREDICTORS_1B),
    check=_prop1b_bound,
    wrong=lambda p: _prop1b_bound(p, factor=1.5),
    wrong_description="the bound multiplied by 1.5",
    grid=_grid_1b,
    grid_axes=("n_groups", "overlap"),
    examples=(
        {"group_size": 2, "n_groups": 4, "overlap": 0.5, "spacing": 8.0, "n": 30, "seed": 0,
         "predictor": "hard", "margin": 10.0, "radius": 0.1, "temperature": "oracle"},
    ),
))


# ----------------------------------------------------------------------------------------------
# Corollary 2: the lower bound for hard interpolators
# ----------------------------------------------------------------------------------------------


def _cor2_hard(p: dict, factor: float = 1.0) -> Check:
    dist = _make_uniform(p)
    k = dist.n_classes
    hard = _hard_predictor(p, dist, p["margin"])
    oracle = _quiet(oc.oracle_temperature, hard, dist, method="exact")
    H = dist.conditional_entropy().value
    A_star = dist.bayes_accuracy().value
    bound = _f(A_star, k) - H
    R = oracle.kl.value
    n_pieces = _pieces(hard, dist)[0].size
    s = p["margin"] * oracle.beta if math.isfinite(oracle.beta) else 0.0
    log_q = _log_p_q(s, k)[1]
    tol = (ROUND_ULPS * EPS * (2.0 * abs(H) + abs(R) + _f(A_star, k) + abs(log_q))
           + _end_rounding(dist, n_pieces, abs(log_q) + math.log(k)))
    return Check(R, factor * bound, ">=", tol,
                 f"k={k}, A*={A_star:.6g}, H={H:.6g}, oracle {oracle.status} "
                 f"T*={oracle.temperature:.6g}")


def _grid_cor2():
    points = []
    for k in (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        for alpha in (0.1, 0.25, 0.5, 0.75, 1.0):
            points.append({"group_size": 2, "n_groups": k // 2, "overlap": alpha,
                           "spacing": float(k), "n": 4 * k, "seed": 0, "labels": "sample",
                           "margin": 10.0})
    return points


register(Claim(
    id="cor2-hard-bound",
    statement=(
        "Every hard interpolator, fitted on any sample (its own labels, random labels, or the "
        "Bayes classifier) of any overlapping-uniform instance, has oracle-TS KL risk at least "
        "f(A*) - H(Y|X), f(A) = H_b(A) + (1 - A) log(k - 1), A* the Bayes accuracy."
    ),
    formula="min_T R(g_T) >= H_b(A*) + (1 - A*) log(k - 1) - H(Y|X)",
    reference="THEORY.md 4.3, Corollary 2",
    kind="bound",
    tolerance=(
        "min_T R is oracle_temperature's exact-design risk at its T* (any solver error only "
        "raises it); A* and H(Y|X) are exact finite sums. Rounding: 256 ulps of "
        "2H + R + f(A*) + |log q| plus one ulp of the interval ends per piece. The Bayes "
        "classifier attains the bound, so those examples have slack 0 up to rounding."
    ),
    parameters=_hard_params(labels=("sample", "random", "bayes"), temperature=False),
    check=_cor2_hard,
    wrong=lambda p: _cor2_hard(p, factor=1.5),
    wrong_description="the bound multiplied by 1.5",
    grid=_grid_cor2,
    grid_axes=("n_groups", "overlap"),
    examples=(
        {"group_size": 2, "n_groups": 4, "overlap": 0.5, "spacing": 2.5, "n": 10, "seed": 0,
         "labels": "bayes", "margin": 5.0},
        {"group_size": 3, "n_groups": 2, "overlap": 1.0, "spacing": 1.5, "n": 40, "seed": 2,
         "labels": "sample", "margin": 5.0},
    ),
))


# ----------------------------------------------------------------------------------------------
# Corollary 2 (c): f is decreasing on [1/k, 1]
# ----------------------------------------------------------------------------------------------


def _monotone_points(p: dict, domain_low: float):
    lo = domain_low
    a = lo + (1.0 - lo) * p["u"]
    b = a + (1.0 - a) * p["w"]
    return a, b


def _cor2_decreasing(p: dict, wrong: bool = False) -> Check:
    k = p["n_classes"]
    a, b = _monotone_points(p, 0.0 if wrong else 1.0 / k)
    fa, fb = _f(a, k), _f(b, k)
    tol = 16.0 * EPS * (abs(fa) + abs(fb) + math.log(k))
    return Check(fa, fb, ">=", tol, f"f({a!r}) >= f({b!r}), k={k}")


def _grid_decreasing():
    return [{"n_classes": k, "u": u, "w": 0.1}
            for k in (2, 3, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
            for u in np.round(np.linspace(0.0, 0.95, 20), 4).tolist()]


register(Claim(
    id="cor2-f-decreasing",
    statement="f(A) = H_b(A) + (1 - A) log(k - 1) is decreasing on [1/k, 1] for every k >= 2.",
    formula="1/k <= a <= b <= 1  =>  f(a) >= f(b)   (f'(A) = log((1-A)/A) - log(k-1) <= 0)",
    reference="THEORY.md 4.3, Corollary 2",
    kind="bound",
    tolerance=(
        "Two closed-form evaluations (xlogy, log); 16 ulps of |f(a)| + |f(b)| + log k covers "
        "their rounding when a and b are a few ulps apart (exact arithmetic would give slack >= 0)."
    ),
    parameters=lambda: st.fixed_dictionaries({
        "n_classes": st.one_of(st.integers(2, 16), st.integers(2, 10**6)),
        "u": st.floats(0.0, 1.0),
        "w": st.one_of(st.floats(0.0, 1.0), _log_uniform(-12, 0)),
    }),
    check=_cor2_decreasing,
    wrong=lambda p: _cor2_decreasing(p, wrong=True),
    wrong_description="the domain [0, 1] in place of [1/k, 1] (f increases on [0, 1/k])",
    grid=_grid_decreasing,
    grid_axes=("n_classes", "u"),
    examples=({"n_classes": 2, "u": 0.1, "w": 0.1},),
))


# ----------------------------------------------------------------------------------------------
# Corollary 2 (b): Gaussian families, Monte Carlo
# ----------------------------------------------------------------------------------------------

_GAUSSIAN_MC = 10_000


def _make_gaussian(p: dict) -> "oc.GaussianMixture":
    layout, k, r = p["layout"], p["n_classes"], p["separation"]
    if layout == "orthogonal":
        return oc.GaussianMixture.orthogonal(k, separation=r)
    if layout == "simplex":
        return oc.GaussianMixture.simplex(k, separation=r)
    if layout == "pairs":
        return oc.GaussianMixture.pairs(k, separation=r, pair_distance=4.0 * r + 2.0)
    return oc.GaussianMixture.shifted(p["n_features"], shift=r / math.sqrt(p["n_features"]))


@st.composite
def _gaussian_params(draw):
    layout = draw(st.sampled_from(("orthogonal", "simplex", "pairs", "shifted")))
    if layout == "pairs":
        k = 2 * draw(st.integers(1, 3))
    elif layout == "shifted":
        k = 2
    else:
        k = draw(st.integers(2, 5))
    return {
        "layout": layout, "n_classes": k, "n_features": draw(st.integers(1, 6)),
        "separation": draw(_log_uniform(-0.7, 0.6)),
        "labels": draw(st.sampled_from(("sample", "bayes"))),
        "n": draw(st.integers(1, 60)), "margin": draw(_log_uniform(-0.5, 1.5)),
        "seed": draw(SEEDS),
    }


def _cor2_gaussian(p: dict, factor: float = 1.0) -> Check:
    dist = _make_gaussian(p)
    k = dist.n_classes
    seeds = np.random.SeedSequence(p["seed"]).spawn(5)
    if p["labels"] == "bayes":
        hard = _HardOnClassifier(dist, p["margin"])
    else:
        X, y = dist.sample(p["n"], rng=np.random.default_rng(seeds[0]))
        hard = oc.HardInterpolator(margin=p["margin"]).fit(X, y, n_classes=k)
    oracle = _quiet(oc.oracle_temperature, hard, dist, n_samples=_GAUSSIAN_MC,
                    rng=np.random.default_rng(seeds[1]))
    # R at the chosen T* on fresh draws: unbiased for R(T*) >= min_T R (no in-sample optimism).
    T = oracle.temperature if math.isfinite(oracle.temperature) else 1e300
    R = oc.population_kl(oc.TemperatureScaled(hard, T), dist, n_samples=_GAUSSIAN_MC,
                         rng=np.random.default_rng(seeds[2]))
    acc = dist.bayes_accuracy(n_samples=_GAUSSIAN_MC, rng=np.random.default_rng(seeds[3]))
    H = dist.conditional_entropy(n_samples=_GAUSSIAN_MC, rng=np.random.default_rng(seeds[4]))
    A = min(max(acc.value, 1.0 / k), 1.0)
    bound = _f(A, k) - H.value
    # Delta method: f'(A) = log((1 - A)/A) - log(k - 1); f is concave, so f(A_hat) is biased
    # low (conservative). The three estimates use independent draws.
    slope = abs(math.log(max(1.0 - A, 1e-300) / A) - math.log(k - 1)) if k > 1 else 0.0
    se = math.sqrt(R.stderr**2 + (slope * acc.stderr) ** 2 + H.stderr**2)
    tol = Z * se + ROUND_ULPS * EPS * (abs(R.value) + abs(bound) + 2 * abs(H.value))
    return Check(R.value, factor * bound, ">=", tol,
                 f"{p['layout']} k={k}: A*={acc.value:.5g} ({acc.method}), H={H.value:.5g} "
                 f"({H.method}), se={se:.3g}, T*={oracle.temperature:.5g}")


register(Claim(
    id="cor2-gaussian-bound",
    statement=(
        "For Gaussian mixtures (orthogonal, simplex, pairs, shifted layouts), every hard "
        "predictor (1-NN on a sample, or the Bayes classifier) has oracle-TS KL risk at least "
        "f(A*) - H(Y|X), with A* and H(Y|X) estimated."
    ),
    formula="R(g_T*) >= min_T R(g_T) >= H_b(A*) + (1 - A*) log(k - 1) - H(Y|X)",
    reference="THEORY.md 4.3, Corollary 2 (Gaussian families of 4.2)",
    kind="monte-carlo",
    tolerance=(
        f"T* is fitted by oracle_temperature on {_GAUSSIAN_MC} draws and R(g_T*) re-estimated "
        "on independent draws (unbiased for a quantity >= min_T R); A* and H are the library's "
        "estimates (exact or quadrature where available, else Monte Carlo on their own draws). "
        f"Standard errors are propagated (delta method for f(A*), independent estimates), and "
        f"the check allows Z = {Z:g} of them, one-sided: false-alarm probability Phi(-5) = 2.9e-7 "
        "per example when the bound is attained (the Bayes-classifier examples), less otherwise."
    ),
    parameters=_gaussian_params,
    check=_cor2_gaussian,
    wrong=lambda p: _cor2_gaussian(p, factor=1.5),
    wrong_description="the bound multiplied by 1.5",
    examples=(
        {"layout": "orthogonal", "n_classes": 4, "n_features": 1, "separation": 1.5,
         "labels": "bayes", "n": 10, "margin": 5.0, "seed": 0},
    ),
))


# ----------------------------------------------------------------------------------------------
# Proposition 3: the Mixup optimum minimises the Mixup risk
# ----------------------------------------------------------------------------------------------


def _smooth_direction(seed: int, k: int, lo: float, hi: float, n_terms: int = 4):
    """A random smooth function ``phi: R -> R^k`` (a few random cosines per class)."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 3.0, n_terms) * 2.0 * math.pi / max(hi - lo, 1e-12)
    phase = rng.uniform(0.0, 2.0 * math.pi, n_terms)
    coef = rng.standard_normal((n_terms, k)) / math.sqrt(n_terms)

    def phi(z):
        return np.cos(np.outer(z - lo, freq) + phase) @ coef

    return phi


def _cross_entropy(target: np.ndarray, log_g: np.ndarray) -> np.ndarray:
    """``-sum_c t_c log g_c`` row-wise, with ``0 log 0 = 0``."""
    with np.errstate(invalid="ignore"):
        return -np.sum(np.where(target > 0, target * log_g, 0.0), axis=1)


def _perturbed_risks(target, h, phi_z, eps):
    """Per-row CE at ``h`` and at ``h +- eps d`` for the directions ``d`` (``-inf`` entries of
    ``h``, impossible classes, stay ``-inf``). Returns ``(base, {name: per-row CE})``."""
    base = _cross_entropy(target, _log_softmax(h))
    finite = np.isfinite(h)
    directions = {
        "random": phi_z,
        "temperature": np.where(finite, h - np.max(h, axis=1, keepdims=True), 0.0),
    }
    out = {}
    for name, d in directions.items():
        for sign in (1.0, -1.0):
            moved = np.where(finite, h + sign * eps * d, -np.inf)
            out[f"{name}{'+' if sign > 0 else '-'}"] = _cross_entropy(target, _log_softmax(moved))
    return base, out


def _mixup_targets(x, labels, k, a, z):
    """Brute force: ``gbar(z) = sum_ij w_ij (lam e_yi + (1-lam) e_yj) / sum_ij w_ij`` over
    ordered pairs with ``x_i != x_j`` straddling ``z``, ``w_ij = f(lam_ij)/|x_i - x_j|``,
    ``lam_ij = (z - x_j)/(x_i - x_j)`` (Beta(a, a) density ``f``); ``swapped=True`` weights the
    labels by ``1 - lam`` and ``lam`` instead (the classic Mixup bug)."""
    xi, xj = np.meshgrid(x, x, indexing="ij")
    yi, yj = np.meshgrid(labels, labels, indexing="ij")
    keep = xi != xj
    xi, xj, yi, yj = xi[keep], xj[keep], yi[keep], yj[keep]
    lam = (z[:, None] - xj[None, :]) / (xi - xj)[None, :]
    inside = (lam > 0.0) & (lam < 1.0)
    lam_safe = np.where(inside, lam, 0.5)
    log_w = ((a - 1.0) * (np.log(lam_safe) + np.log1p(-lam_safe)) - betaln(a, a)
             - np.log(np.abs(xi - xj))[None, :])
    log_w = np.where(inside, log_w, -np.inf)
    w = np.exp(log_w - np.max(log_w, axis=1, keepdims=True))
    eye = np.eye(k)
    true = (w * lam_safe) @ eye[yi] + (w * (1.0 - lam_safe)) @ eye[yj]
    swapped = (w * (1.0 - lam_safe)) @ eye[yi] + (w * lam_safe) @ eye[yj]
    total = w.sum(axis=1, keepdims=True)
    return true / total, swapped / total


@st.composite
def _empirical_mixup_params(draw):
    return {
        "n_classes": draw(st.integers(2, 4)), "n": draw(st.integers(2, 10)),
        "decimals": draw(st.sampled_from((1, 16))), "alpha": draw(_log_uniform(-0.7, 1.0)),
        "eps": draw(_log_uniform(-3, 0.3)), "seed": draw(SEEDS),
    }


_MIXUP_NODES = 2000


def _prop3_empirical(p: dict, wrong: bool = False) -> Check:
    rng = np.random.default_rng(p["seed"])
    k, n, a = p["n_classes"], p["n"], p["alpha"]
    x = rng.uniform(0.0, 3.0, n)
    if p["decimals"] < 16:
        x = np.round(x, p["decimals"])  # duplicated inputs: atoms, merged locations
    x[1] = x[0] + 1.0  # at least two distinct inputs: the density part is not empty
    y = rng.integers(0, k, n)
    g = oc.EmpiricalMixupOptimum(alpha=a, n_classes=k).fit(x[:, None], y)
    # Common random nodes: mixed points of the density part (ordered pairs of distinct inputs).
    i, j = rng.integers(0, n, (2, 4 * _MIXUP_NODES))
    keep = x[i] != x[j]
    i, j = i[keep][:_MIXUP_NODES], j[keep][:_MIXUP_NODES]
    lam = rng.beta(a, a, i.size)
    z = lam * x[i] + (1.0 - lam) * x[j]
    # A training input is an atom, not part of the density; nodes within 1e-9 of one are
    # dropped so that no pair's lam rounds to 0 or 1 differently here and in the library.
    z = z[np.min(np.abs(z[:, None] - x[None, :]), axis=1) > 1e-9]
    target, swapped = _mixup_targets(x, y, k, a, z)
    if wrong:
        with np.errstate(divide="ignore"):
            h = np.log(swapped)
    else:
        h = g.logits(z[:, None])
    phi = _smooth_direction(p["seed"] + 1, k, float(x.min()), float(x.max()))(z)
    base, moved = _perturbed_risks(target, h, phi, p["eps"])
    checks = []
    for name, ce in moved.items():
        diff = ce - base
        mag = float(np.mean(np.abs(ce) + np.abs(base)))
        checks.append(Check(float(np.mean(ce)), float(np.mean(base)), ">=",
                            ROUND_ULPS * EPS * k * mag,
                            f"direction {name}, eps={p['eps']:.3g}: risk change "
                            f"{np.mean(diff):.3g}, smallest per-node change {diff.min():.3g}"))
    return all_of(checks, f"{z.size} nodes")


def _grid_prop3():
    return [{"n_classes": 3, "n": 8, "decimals": 16, "alpha": a, "eps": e, "seed": 0}
            for a in (0.5, 1.0, 2.0, 8.0) for e in np.round(np.logspace(-3, 0, 7), 6).tolist()]


register(Claim(
    id="prop3-mixup-empirical",
    statement=(
        "The finite-sample Mixup optimum (density part, EmpiricalMixupOptimum) minimises the "
        "Mixup risk of its training set: perturbing its logits by eps times a random smooth "
        "function of z, or changing its temperature, never lowers the risk."
    ),
    formula=("R_mix(g) = E_z[ sum_ij w_ij(z) CE(lam_ij e_yi + (1 - lam_ij) e_yj, g(z)) / D(z) ] "
             "is minimal at g = g_mix: R_mix(softmax(h_mix +- eps phi)) >= R_mix(g_mix)"),
    reference="THEORY.md 5, Proposition 3 (finite-sample optimum)",
    kind="bound",
    tolerance=(
        "Evaluation chosen: the *Rao-Blackwellised* empirical Mixup risk. Nodes z are mixed "
        "points drawn from the density part (common random numbers for every predictor), and "
        "each node's target is the lam-integrated label of all pairs straddling it, computed "
        "here by brute force over the n^2 pairs (not from g_mix). This is the exact empirical "
        "risk's integrand, so the inequality holds node by node, deterministically, iff g_mix "
        "is the conditional mean: a genuine test of the library. (A plain Monte Carlo risk with "
        "each draw's own label is minimised by interpolating the draws, not by g_mix, and "
        "differs from it at first order in eps; a risk computed from g_mix itself is circular.) "
        "Atoms (pairs of equal inputs) are left out, as in the library's definition. "
        "Tolerance: float64 rounding, 256 k ulps of the mean |CE|."
    ),
    parameters=_empirical_mixup_params,
    check=_prop3_empirical,
    wrong=lambda p: _prop3_empirical(p, wrong=True),
    wrong_description=("the optimum of the swapped labels (inputs mixed with lam, labels with "
                       "1 - lam) in place of g_mix"),
    grid=_grid_prop3,
    grid_axes=("eps", "alpha"),
    examples=({"n_classes": 3, "n": 6, "decimals": 16, "alpha": 1.0, "eps": 0.1, "seed": 0},),
))


_POP_DRAWS = 3000


@st.composite
def _population_mixup_params(draw):
    u = draw(_uniform(max_groups=2, group_sizes=(2, 3)))
    width = 1.0 + (u["group_size"] - 1) * (1.0 - u["overlap"])
    local = draw(st.booleans())
    delta = draw(st.floats(0.1, 1.0)) * width if local else None
    if delta is not None:
        u["spacing"] = max(u["spacing"], width + delta + 0.01)
    return {**u, "alpha": draw(_log_uniform(-0.5, 0.7)), "max_distance": delta,
            "eps": draw(_log_uniform(-2, 0)), "seed": draw(SEEDS)}


def _prop3_population(p: dict, wrong: bool = False) -> Check:
    dist = _make_uniform(p)
    k, a, delta = dist.n_classes, p["alpha"], p["max_distance"]
    g = oc.MixupOptimum(dist, alpha=a, max_distance=delta)
    rng = np.random.default_rng(p["seed"])
    draws = 4 * _POP_DRAWS if delta is not None else _POP_DRAWS
    X1, y1 = dist.sample(draws, rng=rng)
    X2, y2 = dist.sample(draws, rng=rng)
    x1, x2 = X1[:, 0], X2[:, 0]
    if delta is not None:  # rejection: the joint law restricted to |x1 - x2| <= delta
        keep = np.abs(x1 - x2) <= delta
        x1, x2, y1, y2 = x1[keep], x2[keep], y1[keep], y2[keep]
    x1, x2, y1, y2 = x1[:_POP_DRAWS], x2[:_POP_DRAWS], y1[:_POP_DRAWS], y2[:_POP_DRAWS]
    lam = rng.beta(a, a, x1.size)
    z = lam * x1 + (1.0 - lam) * x2
    target = np.zeros((z.size, k))
    np.add.at(target, (np.arange(z.size), y1), lam)
    np.add.at(target, (np.arange(z.size), y2), 1.0 - lam)
    h = g.logits(z[:, None])
    good = ~np.isnan(h).any(axis=1)
    z, target, h = z[good], target[good], h[good]
    if wrong:
        h = h / 2.0  # the optimum softened by T = 2
    lo, hi = dist.class_intervals[:, 0].min(), dist.class_intervals[:, 1].max()
    phi = _smooth_direction(p["seed"] + 1, k, lo, hi)(z)
    base, moved = _perturbed_risks(target, h, phi, p["eps"])
    checks = []
    for name, ce in moved.items():
        diff = ce - base
        se = float(np.std(diff, ddof=1) / math.sqrt(diff.size))
        checks.append(Check(float(np.mean(ce)), float(np.mean(base)), ">=",
                            Z * se + ROUND_ULPS * EPS * k * float(np.mean(np.abs(base))),
                            f"direction {name}, eps={p['eps']:.3g}: risk change "
                            f"{np.mean(diff):.3g} +- {se:.2g}"))
    return all_of(checks, f"{z.size} draws, {np.count_nonzero(~good)} off the mixed support")


register(Claim(
    id="prop3-mixup-population",
    statement=(
        "The population Mixup optimum of overlapping uniform groups (MixupOptimum, global or "
        "local mixing) minimises the population Mixup risk: perturbing its logits by eps times "
        "a random smooth function, or changing its temperature, does not lower the risk."
    ),
    formula=("E[CE(lam e_Y1 + (1-lam) e_Y2, softmax(h_mix(Z) +- eps phi(Z)))] >= "
             "E[CE(lam e_Y1 + (1-lam) e_Y2, g_mix(Z))],  Z = lam X1 + (1-lam) X2"),
    reference="THEORY.md 5, Proposition 3 (population optimum)",
    kind="monte-carlo",
    tolerance=(
        f"Monte Carlo on {_POP_DRAWS} mixed draws (X1, X2 from the distribution, restricted to "
        "|X1 - X2| <= delta by rejection for local mixing, lam ~ Beta(a, a)), the same draws for "
        "both predictors. The expected difference is E_z KL(g_mix(z) || g(z)) >= 0 exactly when "
        "g_mix is the conditional mean, and a mistake in g_mix shows as a first-order term. "
        f"The check allows Z = {Z:g} standard errors of the per-draw differences, one-sided: "
        "false-alarm probability at most 4 Phi(-5) = 1.2e-6 per example (four direction/sign "
        "comparisons)."
    ),
    parameters=_population_mixup_params,
    check=_prop3_population,
    wrong=lambda p: _prop3_population(p, wrong=True),
    wrong_description="the optimum softened by T = 2 in place of g_mix",
    examples=({"group_size": 2, "n_groups": 1, "overlap": 0.5, "spacing": 2.0, "alpha": 1.0,
               "max_distance": None, "eps": 0.3, "seed": 0},),
))


# ----------------------------------------------------------------------------------------------
# Proposition 4: two points
# ----------------------------------------------------------------------------------------------


def _prop4(p: dict, wrong: bool = False) -> Check:
    a = p["alpha"]
    z = np.asarray(p["z"], dtype=float)
    X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    checks = []
    for name, g in (("EmpiricalMixupOptimum", oc.EmpiricalMixupOptimum(alpha=a).fit(X, y)),
                    ("EmpiricalDMixupOptimum", oc.EmpiricalDMixupOptimum(alpha=a).fit(X, y))):
        g1 = g.predict_proba(z[:, None])[:, 1]
        expected = betainc(a, a, z) if wrong else z
        err = np.abs(g1 - expected)
        worst = int(np.argmax(err))
        checks.append(Check(float(g1[worst]), float(expected[worst]), "==", 16.0 * EPS,
                            f"{name}: g(z)_1 at z = {float(z[worst])!r}"))
    return all_of(checks)


register(Claim(
    id="prop4-two-points",
    statement=(
        "With x_1 = 0 (class 0), x_2 = 1 (class 1) and any symmetric Beta(a, a), the Mixup "
        "optimum predicts class 1 with probability z on (0, 1)."
    ),
    formula="g_mix(z)_1 = z,  0 < z < 1, every a > 0",
    reference="THEORY.md 5, Proposition 4",
    kind="exact",
    tolerance=(
        "16 ulps of a probability: one pair straddles z, lam = z exactly, and g = w lam / "
        "(w lam + w (1 - lam)) is formed in log space and exponentiated (a few roundings). "
        "Both finite-sample implementations are checked (EmpiricalMixupOptimum and "
        "EmpiricalDMixupOptimum with n_mix = 2 in 1-D)."
    ),
    parameters=lambda: st.fixed_dictionaries({
        "alpha": _log_uniform(-1.5, 2.0),
        "z": st.lists(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
                      min_size=1, max_size=20).map(tuple),
    }),
    check=_prop4,
    wrong=lambda p: _prop4(p, wrong=True),
    wrong_description="the Beta(a, a) CDF I_z(a, a) in place of z (P(lam <= z), not E[lam | z])",
    examples=({"alpha": 0.3, "z": (0.1, 0.5, 0.9)},),
))


# ----------------------------------------------------------------------------------------------
# Proposition 5: locality
# ----------------------------------------------------------------------------------------------

_GL_ORDER = 12


def _group_nodes(dist, delta: float):
    """Gauss-Legendre nodes and weights on group 0's segments, cut at the candidate kinks of
    ``g_mix`` (class ends, their midpoints, ends -/+ delta); pieces under 1e-9 are dropped.
    Also returns each node's piece length (for the finite-difference slopes)."""
    m = dist.group_size
    ends = np.unique(dist.class_intervals[:m].ravel())
    seg_lo, seg_hi = ends.min(), ends.max()
    cand = np.concatenate([ends, ends - delta, ends + delta,
                           0.5 * (ends[:, None] + ends[None, :]).ravel()])
    knots = np.unique(np.clip(cand, seg_lo, seg_hi))
    a, b = knots[:-1], knots[1:]
    keep = b - a > 1e-9
    a, b = a[keep], b[keep]
    t, w = np.polynomial.legendre.leggauss(_GL_ORDER)
    nodes = (0.5 * (a + b))[:, None] + (0.5 * (b - a))[:, None] * t[None, :]
    weights = (0.5 * (b - a))[:, None] * w[None, :]
    length = np.repeat(b - a, _GL_ORDER)
    return nodes.ravel(), weights.ravel(), length


def _group_risk(dist, g, nodes, weights, shift):
    """``sum_nodes w * density * KL(eta || g_mix)`` at ``nodes + shift``.

    Returns ``(R, magnitude, log g, eta, w * density)``; the magnitude is the same sum of
    ``|eta log eta| + |eta log g|`` (the scale of its rounding).
    """
    z = (nodes + shift)[:, None]
    eta = dist.posterior(z)
    log_g = g.log_proba(z)
    wd = weights * np.exp(dist.log_marginal_density(z))
    with np.errstate(invalid="ignore"):
        plogp = xlogy(eta, eta)
        plogg = np.where(eta > 0, eta * log_g, 0.0)
    kl = (plogp - plogg).sum(axis=1)
    magnitude = math.fsum(wd * (np.abs(plogp) + np.abs(plogg)).sum(axis=1))
    return math.fsum(wd * kl), magnitude, log_g, eta, wd


def _slopes(g, nodes, length, eta):
    """Central-difference slopes ``|dg/dz|`` and ``|d log g_c/dz|`` (classes with eta_c > 0),
    largest over classes, at each node; step 1e-3 of the node's piece (nodes sit at least 0.9%
    of their piece away from its ends, so both probes stay inside the piece)."""
    h = 1e-3 * length
    up, down = g.log_proba((nodes + h)[:, None]), g.log_proba((nodes - h)[:, None])
    slope = np.max(np.abs(np.exp(up) - np.exp(down)), axis=1) / (2.0 * h)
    with np.errstate(invalid="ignore"):
        dlog = np.where(eta > 0, np.abs(up - down), 0.0)
    return slope, np.max(dlog, axis=1) / (2.0 * h)


@st.composite
def _locality_params(draw):
    m = draw(st.sampled_from((2, 3, 4)))
    alpha = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)))
    width = 1.0 + (m - 1) * (1.0 - alpha)
    delta = draw(st.floats(0.05, 1.5)) * width
    spacing = width + delta + draw(_log_uniform(-2, 0.5))
    return {"group_size": m, "overlap": alpha, "max_distance": delta, "spacing": spacing,
            "n_groups": draw(st.integers(2, 6)), "alpha": draw(_log_uniform(-1, 1))}


def _prop5(p: dict, wrong: bool = False) -> Check:
    m, q, a = p["group_size"], p["n_groups"], p["alpha"]
    delta = p["max_distance"]
    one = oc.OverlappingUniform(m, p["overlap"], group_size=m, spacing=p["spacing"])
    many = oc.OverlappingUniform(m * q, p["overlap"], group_size=m, spacing=p["spacing"])
    g_one = oc.MixupOptimum(one, alpha=a, max_distance=delta)
    g_many = oc.MixupOptimum(many, alpha=a, max_distance=None if wrong else delta)
    nodes, weights, length = _group_nodes(one, delta)
    R_one, magnitude, log_one, eta, wd = _group_risk(one, g_one, nodes, weights, 0.0)
    slope, log_slope = _slopes(g_one, nodes, length, eta)
    parts, excess = [], 0.0
    for j in range(q):
        R_j, mag_j, log_j, _, _ = _group_risk(many, g_many, nodes, weights, j * p["spacing"])
        parts.append(R_j)
        magnitude = max(magnitude, q * mag_j)
        block = np.exp(log_j[:, j * m:(j + 1) * m])
        diff = np.maximum(np.max(np.abs(block - np.exp(log_one)), axis=1),
                          1.0 - block.sum(axis=1))  # ... and no mass outside group j
        excess = max(excess, float(np.max(diff / (1.0 + slope))))
    R_many = math.fsum(parts)  # group masses are 1/q of the one-group instance's: R = sum_j R_j
    # A node j s + z carries one rounding of the largest coordinate; g_mix moves by that
    # times its slope. Everything else is rounding of the sums.
    shift_error = ROUND_ULPS * EPS * (1.0 + float(many.class_intervals.max()))
    tol_r = ROUND_ULPS * EPS * magnitude + shift_error * math.fsum(wd * (1.0 + log_slope))
    return all_of([
        Check(R_many, R_one, "==", tol_r,
              f"R(g_mix) with {q} groups vs 1 group (translated Gauss-Legendre rule, "
              f"{nodes.size} nodes per group)"),
        Check(excess, 0.0, "<=", shift_error,
              "largest |g_mix^(k=mq)(z + j s) - g_mix^(k=m)(z)| / (1 + |dg_mix/dz|) over "
              "groups and nodes"),
    ], f"m={m}, q={q}, delta={delta:.4g}, s={p['spacing']:.4g}, a={a:.4g}, "
       f"largest slope {float(slope.max()):.3g}")


register(Claim(
    id="prop5-locality",
    statement=(
        "For uniform groups with local mixing delta < s - (1 + (m-1)(1-alpha)), no mixture "
        "crosses groups and all groups are translates, so the KL risk of the Mixup optimum "
        "does not depend on the number of groups: R(g_mix) is the same for k = m and k = m q."
    ),
    formula="R(g_mix; k = m q) = R(g_mix; k = m)   for every q >= 1 when delta < s - width",
    reference="THEORY.md 5, Proposition 5",
    kind="exact",
    tolerance=(
        "Both risks use one Gauss-Legendre rule (order 12 on group 0's segments cut at the "
        "candidate kinks of g_mix), translated to every group, so the quadrature error is the "
        "same on both sides and cancels: the comparison is exact up to rounding, and the "
        "pointwise check (g_mix of the q-group instance at z + j s equals the one-group g_mix "
        "at z, with no mass outside group j) is the stronger statement behind it. Tolerance: a "
        "node j s + z carries one rounding of the largest coordinate x_max, which moves g_mix by "
        "that times its slope (measured by central differences on the one-group optimum; near "
        "overlap 1 the class ends are 1 - alpha apart and g_mix is steep on that scale): 256 "
        "ulps of (1 + x_max) times (1 + |dg/dz|) pointwise and (1 + |d log g/dz|) in the risk, "
        "plus 256 ulps of the risk's magnitude. The library's adaptive population_kl "
        "is not used: it costs 0.3-10 s per instance here and does not finish for a < 0.45."
    ),
    parameters=_locality_params,
    check=_prop5,
    wrong=lambda p: _prop5(p, wrong=True),
    wrong_description="global mixing (no delta) for the q-group instance: groups contaminate",
    examples=({"group_size": 2, "overlap": 0.5, "max_distance": 0.6, "spacing": 2.5,
               "n_groups": 3, "alpha": 1.0},),
))
