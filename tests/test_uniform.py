"""Tests of oc.OverlappingUniform (THEORY.md 4.1) against independent oracles.

Oracles: the interval formula evaluated class by class in Python, a brute-force Bayes rule
(a Python loop over classes), scipy.integrate.quad over the axis-0 marginal split at the
breakpoints, Monte Carlo within a stated number of standard errors, and the closed forms of
THEORY.md 4.1 (m = 2) and of the "at most two classes overlap" regime (alpha <= 1/2).
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, stats

import overlapcal as oc
from overlapcal.distributions import base as base_module
from overlapcal.distributions import uniform as uniform_module
from overlapcal.distributions.base import Distribution, Segments

EPS = np.finfo(float).eps

# (n_classes, overlap, group_size, spacing): pairs, triples, touching (alpha = 0), identical
# (alpha = 1), one group (m = k, also with alpha = 0 and the default spacing), disjoint classes
# (m = 1), a non-dyadic 1 - alpha, and tight spacings.
PARAMS = [
    (2, 0.5, 2, None),
    (4, 0.3, 2, None),
    (6, 0.25, 3, 7.5),
    (6, 0.0, 2, 2.5),
    (6, 1.0, 3, 1.5),
    (4, 0.5, 4, None),
    (4, 0.0, 4, None),
    (5, 0.7, 1, 1.3),
    (6, 2 / 3, 6, None),
    (8, 0.6, 4, 3.0),
    (12, 0.45, 3, 2.2),
]


def make(params, n_features=1):
    k, alpha, m, s = params
    return oc.OverlappingUniform(k, alpha, group_size=m, spacing=s, n_features=n_features)


# -- brute-force oracles (Python loops over classes, no library code) -----------------------


def formula_intervals(k, alpha, m, s):
    """THEORY.md 4.1 written out class by class."""
    s = float(k) if s is None else s
    out = []
    for c in range(k):
        q, j = divmod(c, m)
        lo = q * s + j * (1.0 - alpha)
        out.append((lo, lo + 1.0))
    return np.array(out)


def brute_posterior(intervals, X):
    """Bayes rule eta_c = p_c p(x|c) / sum_c' p_c' p(x|c'), one class at a time."""
    k = len(intervals)
    n = X.shape[0]
    joint = np.zeros((n, k))
    for c in range(k):
        lo, hi = intervals[c]
        in_box = (X[:, 0] >= lo) & (X[:, 0] <= hi)
        for axis in range(1, X.shape[1]):
            in_box &= (X[:, axis] >= 0.0) & (X[:, axis] <= 1.0)
        joint[:, c] = (1.0 / k) * in_box  # prior 1/k times the density 1 of a unit box
    marginal = joint.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / marginal[:, None], marginal


def probe_points(dist, rng, n_random=400):
    """Random points over the whole range plus every class end, its float neighbours and gaps."""
    ends = np.unique(dist.class_intervals)
    x = np.concatenate([
        rng.uniform(ends[0] - 1.0, ends[-1] + 1.0, n_random),
        ends,
        np.nextafter(ends, -np.inf),
        np.nextafter(ends, np.inf),
        (ends[:-1] + ends[1:]) / 2,
    ])
    if dist.n_features == 1:
        return x[:, None]
    other = rng.uniform(-0.2, 1.2, (x.size, dist.n_features - 1))
    other[::7] = 0.0
    other[1::7] = 1.0
    other[2::7] = rng.uniform(0, 1, other[2::7].shape)
    return np.column_stack([x, other])


def quad_functional(dist, functional):
    """integral of pi_X(x) functional(eta(x)) dx along axis 0, one quad per elementary interval."""
    intervals = dist.class_intervals
    ends = np.unique(intervals)

    def integrand(x):
        eta, marginal = brute_posterior(intervals, np.array([[x]]))
        return 0.0 if marginal[0] == 0 else marginal[0] * functional(eta[0])

    total = 0.0
    for a, b in zip(ends[:-1], ends[1:]):
        value, _ = integrate.quad(integrand, a, b, epsabs=1e-14, epsrel=1e-14)
        total += value
    return total


def entropy_of(p):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# -- construction ---------------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAMS)
def test_class_intervals_match_the_formula(params):
    dist = make(params)
    expected = formula_intervals(*params)
    # The library adds 1 to j(1 - alpha) before translating (so alpha in {0, 1} stays exactly
    # touching/identical); the formula here translates first: the two differ by rounding only,
    # at most one ulp of the largest end.
    assert_allclose(dist.class_intervals, expected, rtol=0, atol=2 * np.spacing(expected.max()))
    assert dist.class_intervals.shape == (params[0], 2)
    assert_allclose(dist.priors, np.full(params[0], 1 / params[0]), rtol=0, atol=0)
    assert dist.spacing == (float(params[0]) if params[3] is None else params[3])
    assert dist.n_groups == params[0] // params[2]


def test_attributes_are_read_only_and_repr_round_trips():
    dist = oc.OverlappingUniform(6, 0.25, group_size=3, spacing=7.5, n_features=2)
    assert repr(dist) == (
        "OverlappingUniform(n_classes=6, overlap=0.25, group_size=3, spacing=7.5, n_features=2)"
    )
    clone = eval(repr(dist), {"OverlappingUniform": oc.OverlappingUniform})
    assert_array_equal(clone.class_intervals, dist.class_intervals)
    with pytest.raises(AttributeError):
        dist.overlap = 0.5
    with pytest.raises(ValueError, match="read-only"):
        dist.class_intervals[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        dist.priors[0] = 1.0
    assert isinstance(dist, Distribution)
    assert oc.OverlappingUniform is oc.distributions.OverlappingUniform


# -- posterior, densities -------------------------------------------------------------------


@pytest.mark.parametrize("n_features", [1, 3])
@pytest.mark.parametrize("params", PARAMS)
def test_posterior_matches_brute_force_bayes_rule(params, n_features):
    dist = make(params, n_features)
    X = probe_points(dist, np.random.default_rng(0))
    eta, marginal = brute_posterior(dist.class_intervals, X)
    P = dist.posterior(X)
    L = dist.log_posterior(X)
    off = marginal == 0
    assert off.any() and (~off).any()  # the probe set exercises both branches
    # Off the support: whole rows NaN.
    assert np.isnan(P[off]).all() and np.isnan(L[off]).all()
    assert not np.isnan(P[~off]).any() and not np.isnan(L[~off]).any()
    # Impossible classes: probability exactly 0 and log-probability exactly -inf.
    assert_array_equal(P[~off] == 0, eta[~off] == 0)
    assert_array_equal(np.isneginf(L[~off]), eta[~off] == 0)
    # Possible classes: 1/count vs (1/k)/(count/k), a couple of roundings apart.
    assert_allclose(P[~off], eta[~off], rtol=4 * EPS, atol=0)
    assert_allclose(np.exp(L[~off]), eta[~off], rtol=4 * EPS, atol=0)
    assert_allclose(P[~off].sum(axis=1), 1.0, rtol=0, atol=params[2] * EPS)
    with np.errstate(divide="ignore"):
        assert_allclose(dist.log_marginal_density(X), np.log(marginal), rtol=4 * EPS, atol=0)
    # The class densities: 0 on the closed box, -inf outside, from the brute-force indicator.
    joint = np.stack(
        [brute_posterior(dist.class_intervals[c : c + 1], X)[1] for c in range(params[0])], axis=1
    )
    assert_array_equal(dist.class_log_density(X), np.where(joint > 0, 0.0, -np.inf))


@pytest.mark.parametrize("params", PARAMS)
def test_fast_posterior_agrees_with_the_base_class_route(params):
    # The base class computes log eta from _class_log_density and logsumexp over all k classes;
    # the override finds the covering classes by searchsorted. Same -inf/NaN pattern, values
    # within the rounding of logsumexp (a few eps on log values of size <= log k).
    dist = make(params, 2)
    X = probe_points(dist, np.random.default_rng(1))
    fast = dist.log_posterior(X)
    slow = Distribution._log_posterior(dist, X)
    assert_array_equal(np.isnan(fast), np.isnan(slow))
    assert_array_equal(np.isneginf(fast), np.isneginf(slow))
    finite = np.isfinite(fast)
    assert_allclose(fast[finite], slow[finite], rtol=0, atol=8 * EPS * math.log(params[0]))
    slow_marginal = Distribution.log_marginal_density(dist, X)
    assert_array_equal(np.isneginf(dist.log_marginal_density(X)), np.isneginf(slow_marginal))
    assert_array_equal(dist.predict_bayes(X)[finite.any(axis=1)],
                       np.argmax(slow, axis=1)[finite.any(axis=1)])


def test_chunked_paths_equal_single_block(monkeypatch):
    dist = oc.OverlappingUniform(12, 0.45, group_size=3, spacing=2.2, n_features=2)
    X = probe_points(dist, np.random.default_rng(2))
    whole = (dist.posterior(X), dist.log_posterior(X), dist.class_log_density(X))
    monkeypatch.setattr(uniform_module, "_SCATTER_ELEMENTS", 5)  # blocks of 1-2 rows
    monkeypatch.setattr(base_module, "CHUNK_ELEMENTS", 50)  # blocks of 4 rows of 12 classes
    chunked = (dist.posterior(X), dist.log_posterior(X), dist.class_log_density(X))
    for a, b in zip(whole, chunked):
        assert_array_equal(a, b)


def test_empty_and_float32_inputs():
    dist = oc.OverlappingUniform(4, 0.5, n_features=2)
    for method in (dist.posterior, dist.log_posterior, dist.class_log_density):
        assert method(np.empty((0, 2))).shape == (0, 4)
    assert dist.log_marginal_density(np.empty((0, 2))).shape == (0,)
    X = np.array([[0.75, 0.5], [4.25, 0.5]], dtype=np.float32)
    assert_array_equal(dist.posterior(X), dist.posterior(X.astype(np.float64)))


def test_posterior_is_translation_and_reflection_invariant():
    # Every group is a translate of group 0, and reflecting a group about its centre maps
    # position j to m - 1 - j: eta moves with the classes.
    k, m, alpha, s = 12, 4, 0.35, 3.5
    dist = oc.OverlappingUniform(k, alpha, group_size=m, spacing=s)
    seg = oc.OverlappingUniform(m, alpha, group_size=m).segments()
    x = (seg.left + seg.right) / 2  # interior points of group 0 (far from any end)
    width = 1 + (m - 1) * (1 - alpha)
    eta0 = dist.posterior(x[:, None])
    for q in range(k // m):
        shifted = dist.posterior((x + q * s)[:, None])
        assert_array_equal(shifted, np.roll(eta0, q * m, axis=1))
        reflected = dist.posterior((q * s + width - x)[:, None])
        block = eta0[:, :m][:, ::-1]
        assert_array_equal(reflected[:, q * m : (q + 1) * m], block)
        assert_array_equal(np.delete(reflected, np.s_[q * m : (q + 1) * m], axis=1), 0.0)


def test_extra_features_do_not_change_the_posterior():
    one = oc.OverlappingUniform(6, 0.4, group_size=3)
    three = oc.OverlappingUniform(6, 0.4, group_size=3, n_features=3)
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-1, 14, 500)
    inside = np.column_stack([x0, rng.uniform(0, 1, (500, 2))])
    assert_array_equal(three.posterior(inside), one.posterior(x0[:, None]))
    outside = inside.copy()
    outside[:, 2] = 1.0 + 1e-9
    assert np.isnan(three.posterior(outside)).all()
    for method in ("conditional_entropy", "bayes_accuracy", "bayes_error", "overlap_mass"):
        assert getattr(three, method)() == getattr(one, method)()


# -- sampling -------------------------------------------------------------------------------


def test_sample_shapes_dtypes_and_support():
    dist = oc.OverlappingUniform(6, 0.4, group_size=3, n_features=3)
    X, y = dist.sample(20_000, rng=0)
    assert X.shape == (20_000, 3) and X.dtype == np.float64
    assert y.shape == (20_000,) and y.dtype == np.intp
    assert y.min() >= 0 and y.max() < 6
    # Every point lies in the closed box of its own class.
    assert (dist.class_log_density(X)[np.arange(y.size), y] == 0).all()
    assert X[:, 1:].min() >= 0 and X[:, 1:].max() <= 1
    X0, y0 = dist.sample(0, rng=0)
    assert X0.shape == (0, 3) and X0.dtype == np.float64
    assert y0.shape == (0,) and y0.dtype == np.intp


def test_sample_is_reproducible():
    dist = oc.OverlappingUniform(4, 0.5)
    a, b = dist.sample(100, rng=7), dist.sample(100, rng=7)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])
    c = dist.sample(100, rng=np.random.default_rng(7))
    assert_array_equal(a[0], c[0])
    d = dist.sample(100, rng=np.random.SeedSequence(7))
    assert_array_equal(a[0], d[0])
    gen = np.random.default_rng(7)
    first, second = dist.sample(100, rng=gen), dist.sample(100, rng=gen)
    assert not np.array_equal(first[0], second[0])  # a Generator advances


def test_sample_within_class_is_uniform():
    # (x0 - lo_y) is uniform on [0, 1) for every class; other axes uniform on [0, 1).
    dist = oc.OverlappingUniform(6, 0.3, group_size=2, n_features=2)
    # 200k draws: the KS test at level 1e-4 then detects CDF distortions above ~0.005.
    X, y = dist.sample(200_000, rng=11)
    u = X[:, 0] - dist.class_intervals[y, 0]
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    assert stats.kstest(X[:, 1], "uniform").pvalue > 1e-4


def test_sampled_label_frequencies_match_the_posterior():
    # Within each elementary interval, labels are i.i.d. with probabilities eta(x) (constant
    # there); the interval's share of points estimates its mass. Each count is binomial, so we
    # allow 5 standard errors: about 30 random comparisons, each exceeding 5 SE with
    # probability 5.7e-7 under a correct implementation (family-wise < 2e-5), seed fixed.
    dist = oc.OverlappingUniform(6, 0.4, group_size=3, spacing=4.0)
    seg = dist.segments()
    n = 300_000
    X, y = dist.sample(n, rng=2024)
    which = np.searchsorted(seg.left, X[:, 0], side="right") - 1
    assert (X[:, 0] <= seg.right[which]).all()
    n_r = np.bincount(which, minlength=len(seg.left))
    se_mass = np.sqrt(seg.mass * (1 - seg.mass) / n)
    assert (np.abs(n_r / n - seg.mass) <= 5 * se_mass).all()
    for r in range(len(seg.left)):
        freq = np.bincount(y[which == r], minlength=6) / n_r[r]
        p = seg.posterior[r]
        assert_array_equal(freq[p == 0], 0.0)  # impossible classes never appear
        se = np.sqrt(p * (1 - p) / n_r[r])
        assert (np.abs(freq - p)[p > 0] <= 5 * se[p > 0]).all()
        # and the library's posterior agrees with the segment's on the sampled points
        assert_array_equal(dist.posterior(X[which == r][:50]), np.tile(p, (min(50, n_r[r]), 1)))
    se_label = np.sqrt((1 / 6) * (5 / 6) / n)
    assert (np.abs(np.bincount(y, minlength=6) / n - 1 / 6) <= 5 * se_label).all()


# -- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAMS + [(1000, 0.3, 2, None), (1200, 0.8, 6, 9.0)])
def test_segments_structure(params):
    dist = make(params)
    seg = dist.segments()
    assert isinstance(seg, Segments)
    assert dist.segments() is seg  # computed once
    k = params[0]
    r = seg.left.size
    assert seg.right.shape == seg.density.shape == (r,) and seg.posterior.shape == (r, k)
    assert (seg.left < seg.right).all()  # non-empty
    assert (seg.right[:-1] <= seg.left[1:]).all()  # sorted and disjoint
    assert (seg.density > 0).all()
    # The masses sum to (1/k) * sum of the float64 class widths hi_c - lo_c, each within two
    # ulp of the largest end of 1 (translation by q*s is rounded), plus summation rounding.
    tol = 4 * np.spacing(dist.class_intervals.max()) + 8 * EPS
    assert abs(seg.mass.sum() - 1.0) <= tol
    # Segment ends are class ends.
    ends = set(dist.class_intervals.ravel().tolist())
    assert set(seg.left.tolist()) <= ends and set(seg.right.tolist()) <= ends
    # Brute force at the midpoints (small k) or at a subset (large k). A segment one ulp wide
    # has no float inside it (its midpoint rounds to an end, where the closed intervals add
    # classes): alpha = 2/3 rounds below 2/3, so 3(1 - alpha) > 1 and such a sliver is real.
    mid_all = (seg.left + seg.right) / 2
    interior = np.flatnonzero((seg.left < mid_all) & (mid_all < seg.right))
    assert interior.size >= r - k  # slivers are rare
    pick = interior if k <= 12 else np.random.default_rng(0).choice(interior, 60, replace=False)
    mid = mid_all[pick, None]
    eta, marginal = brute_posterior(dist.class_intervals, mid)
    assert_allclose(seg.posterior[pick], eta, rtol=4 * EPS, atol=0)
    assert_array_equal(seg.posterior[pick] == 0, eta == 0)
    assert_allclose(seg.density[pick], marginal, rtol=4 * EPS, atol=0)
    assert_array_equal(seg.posterior[pick], dist.posterior(mid))
    # Between consecutive segments there is either nothing (touching) or a zero-density gap.
    gaps = seg.right[:-1] < seg.left[1:]
    if gaps.any():
        mid_gap = ((seg.right[:-1] + seg.left[1:]) / 2)[gaps]
        assert np.isneginf(dist.log_marginal_density(mid_gap[:, None])).all()
    with pytest.raises(ValueError, match="read-only"):
        seg.posterior[0, 0] = 0.5


# -- exact functionals ----------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAMS)
def test_functionals_match_quadrature(params):
    dist = make(params)
    # quad integrates a constant on every piece (exact up to rounding); the breakpoints of
    # group q carry the rounding of q*s, at most 2 ulp of the largest end (< 3e-14 here), so
    # 1e-12 absolute bounds the disagreement with room to spare.
    tol = 1e-12
    cases = {
        "conditional_entropy": entropy_of,
        "bayes_accuracy": lambda p: p.max(),
        "bayes_error": lambda p: 1.0 - p.max(),
        "overlap_mass": lambda p: float((p > 0).sum() >= 2),
    }
    for name, functional in cases.items():
        result = getattr(dist, name)()
        assert isinstance(result, oc.Estimate)
        assert result.method == "exact" and result.stderr == 0.0 and result.n_samples is None
        assert abs(result.value - quad_functional(dist, functional)) <= tol, name


@pytest.mark.parametrize(
    "params", [(4, 0.3, 2, None), (6, 0.25, 3, 7.5), (8, 0.6, 4, 3.0), (6, 2 / 3, 6, None)]
)
def test_functionals_match_monte_carlo(params):
    # Monte Carlo (the base class's estimator, and a direct mean for the overlap mass) within 4
    # standard errors: two-sided false-alarm probability 6e-5 per check, seed fixed.
    dist = make(params)
    n = 200_000
    for name in ("conditional_entropy", "bayes_accuracy"):
        mc = getattr(Distribution, name)(dist, n_samples=n, rng=5)
        assert mc.stderr > 0
        assert abs(getattr(dist, name)().value - mc.value) <= 4 * mc.stderr, name
    X, _ = dist.sample(n, rng=6)
    overlapping = ((dist.posterior(X) > 0).sum(axis=1) >= 2).astype(float)
    se = overlapping.std(ddof=1) / math.sqrt(n)
    assert se > 0
    assert abs(dist.overlap_mass().value - overlapping.mean()) <= 4 * se


@given(
    n_groups=st.integers(1, 40),
    alpha=st.floats(0.0, 1.0),
    extra=st.one_of(st.none(), st.floats(1e-3, 50.0)),
)
def test_pairs_closed_forms(n_groups, alpha, extra):
    # THEORY.md 4.1, m = 2: overlap mass alpha, H(Y|X) = alpha log 2, A* = 1 - alpha/2.
    # The interval ends 1 - alpha and 1 + (1 - alpha) are float64 (one rounding each, <= 2**-53
    # absolute), so the exact arrangement sums differ from the closed forms by a few 2**-53;
    # 1e-15 (about 9 * 2**-53) bounds that.
    spacing = None if extra is None else 2.0 - alpha + extra
    dist = oc.OverlappingUniform(2 * n_groups, alpha, spacing=spacing)
    assert abs(dist.overlap_mass().value - alpha) <= 1e-15
    assert abs(dist.conditional_entropy().value - alpha * math.log(2)) <= 1e-15
    assert abs(dist.bayes_accuracy().value - (1 - alpha / 2)) <= 1e-15
    assert abs(dist.bayes_error().value - alpha / 2) <= 1e-15
    # The global segments (ends translated by q*s, rounded to ulp(q*s)) agree up to that rounding.
    seg = dist.segments()
    tol = 8 * np.spacing(dist.class_intervals.max()) + 1e-15
    counts = (seg.posterior > 0).sum(axis=1)
    assert abs(seg.expect(np.log(counts)) - alpha * math.log(2)) <= tol
    assert abs(seg.expect(seg.posterior.max(axis=1)) - (1 - alpha / 2)) <= tol
    assert abs(seg.expect(counts >= 2) - alpha) <= tol


@given(m=st.integers(2, 8), n_groups=st.integers(1, 5), alpha=st.floats(0.0, 0.5))
def test_at_most_two_overlap_closed_forms(m, n_groups, alpha):
    # For alpha <= 1/2 (1 - alpha >= 1/2) no point of positive mass is covered by three
    # classes: a group has m - 1 overlaps of length alpha (density 2/k there) and union length
    # 1 + (m - 1)(1 - alpha). Hence overlap mass 2(m-1)alpha/m, H = 2(m-1)alpha log 2 / m and
    # A* = (1 + (m-1)(1-alpha))/m. Tolerance as in the pair test, scaled by m (m ends per group).
    dist = oc.OverlappingUniform(m * n_groups, alpha, group_size=m)
    tol = 4 * m * 2.0**-53
    mass = 2 * (m - 1) * alpha / m
    assert abs(dist.overlap_mass().value - mass) <= tol
    assert abs(dist.conditional_entropy().value - mass * math.log(2)) <= tol
    assert abs(dist.bayes_accuracy().value - (1 + (m - 1) * (1 - alpha)) / m) <= tol
    assert abs(dist.bayes_error().value - (m - 1) * alpha / m) <= tol


@pytest.mark.parametrize(
    "m, n_groups", [(1, 2), (1, 7), (2, 1), (2, 2), (2, 7), (3, 1), (3, 7), (5, 1), (5, 2)]
)
def test_extreme_overlaps(m, n_groups):
    k = m * n_groups
    # alpha = 0: intervals of a group touch at single points, so no mass is shared.
    touching = oc.OverlappingUniform(k, 0.0, group_size=m)
    assert touching.overlap_mass().value == 0.0
    assert touching.conditional_entropy().value == 0.0
    assert touching.bayes_error().value == 0.0
    assert touching.bayes_accuracy().value == 1.0
    if m >= 2:  # ... but the touching point itself is shared
        assert_array_equal(touching.posterior([[1.0]])[0, :2], [0.5, 0.5])
        assert touching.segments().left.size == k  # one unit segment per class
    # alpha = 1: all classes of a group share [q s, q s + 1]: eta uniform over the group.
    same = oc.OverlappingUniform(k, 1.0, group_size=m)
    assert same.overlap_mass().value == (1.0 if m >= 2 else 0.0)
    assert abs(same.conditional_entropy().value - math.log(m)) <= 2 * EPS
    assert abs(same.bayes_accuracy().value - 1 / m) <= EPS
    assert abs(same.bayes_error().value - (1 - 1 / m)) <= EPS
    assert_allclose(same.posterior([[0.5]])[0, :m], 1 / m, rtol=EPS)
    assert same.segments().left.size == n_groups


@pytest.mark.parametrize("spacing", [None, 4.1, 7.3, 9.7])
def test_touching_intervals_stay_exactly_touching(spacing):
    # alpha = 0 with a spacing that is not a binary fraction: hi_c and lo_{c+1} of one group must
    # be the same float, or the arrangement grows zero-mass slivers and false overlaps.
    dist = oc.OverlappingUniform(400, 0.0, group_size=4, spacing=spacing)
    lo, hi = dist.class_intervals.T.reshape(2, 100, 4)
    assert_array_equal(hi[:, :-1], lo[:, 1:])
    seg = dist.segments()
    assert seg.left.size == 400  # one segment per class, nothing shared
    assert ((seg.posterior > 0).sum(axis=1) == 1).all()
    assert_array_equal(dist.posterior(hi[:, :-1].reshape(-1, 1)).max(axis=1), 0.5)


def test_disjoint_classes_group_size_one():
    dist = oc.OverlappingUniform(5, 0.7, group_size=1, spacing=1.3)
    X, y = dist.sample(1000, rng=0)
    assert_array_equal(dist.predict_bayes(X), y)  # every point has a single possible class
    assert dist.bayes_accuracy().value == 1.0 and dist.overlap_mass().value == 0.0


def test_large_k():
    dist = oc.OverlappingUniform(1000, 0.3)
    assert abs(dist.conditional_entropy().value - 0.3 * math.log(2)) <= 1e-15
    seg = dist.segments()
    assert seg.left.size == 1500  # three elementary intervals per pair
    X, _ = dist.sample(3000, rng=1)
    slow = np.exp(Distribution._log_posterior(dist, X))
    assert_allclose(dist.posterior(X), slow, rtol=4 * EPS, atol=0)
    # One group of 1000 classes (every x covered by many classes at once).
    one = oc.OverlappingUniform(1000, 0.99, group_size=1000)
    X, _ = one.sample(500, rng=2)
    assert_allclose(one.posterior(X), np.exp(Distribution._log_posterior(one, X)),
                    rtol=4 * EPS, atol=0)
    assert abs(one.segments().mass.sum() - 1.0) <= 1e-12


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_classes=1, overlap=0.5), r"'n_classes' .* int >= 2\. Got 1"),
        (dict(n_classes=0, overlap=0.5), r"'n_classes' .* int >= 2\. Got 0"),
        (dict(n_classes=4.0, overlap=0.5), r"'n_classes' .* an int >= 2\. Got 4\.0"),
        (dict(n_classes=True, overlap=0.5), r"'n_classes' .* Got True"),
        (dict(n_classes=6, overlap=0.5, group_size=4),
         r"'group_size' .* divisor of n_classes=6\. Got 4"),
        (dict(n_classes=6, overlap=0.5, group_size=0), r"'group_size' .* int >= 1\. Got 0"),
        (dict(n_classes=6, overlap=0.5, group_size=2.0), r"'group_size' .* Got 2\.0"),
        (dict(n_classes=4, overlap=-0.1), r"'overlap' .* in \[0\.0, 1\.0\]\. Got -0\.1"),
        (dict(n_classes=4, overlap=1.5), r"'overlap' .* in \[0\.0, 1\.0\]\. Got 1\.5"),
        (dict(n_classes=4, overlap=float("nan")), r"'overlap' .* finite .* Got nan"),
        (dict(n_classes=4, overlap=float("inf")), r"'overlap' .* Got inf"),
        (dict(n_classes=4, overlap="0.5"), r"'overlap' .* real number .* Got '0\.5'"),
        (dict(n_classes=4, overlap=0.5, spacing=1.5),
         r"'spacing' .* > .* = 1\.5 so that groups do not touch.* Got 1\.5"),
        (dict(n_classes=6, overlap=0.0, group_size=3, spacing=2.9),
         r"'spacing' .* = 3\.0 .* Got 2\.9"),
        (dict(n_classes=4, overlap=0.5, spacing=float("nan")), r"'spacing' .* finite"),
        (dict(n_classes=4, overlap=0.5, spacing=0.0), r"'spacing' .* > 0"),
        (dict(n_classes=2, overlap=0.5, spacing=-1.0), r"'spacing' .* > 0"),
        (dict(n_classes=4, overlap=0.5, spacing="4"), r"'spacing' .* Got '4'"),
        (dict(n_classes=4, overlap=0.5, spacing=2.0**33),
         r"'spacing' .* < 4\.29497e\+09 with 2 groups.*2\*\*32"),
        (dict(n_classes=6, overlap=0.5, spacing=1e308),
         r"'spacing' .* < 2\.14748e\+09 with 3 groups"),
        (dict(n_classes=4, overlap=0.5, n_features=0), r"'n_features' .* int >= 1\. Got 0"),
        (dict(n_classes=4, overlap=0.5, n_features=1.0), r"'n_features' .* Got 1\.0"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        oc.OverlappingUniform(**kwargs)


def test_groups_that_touch_by_rounding_are_rejected():
    # s exceeds the group width in exact arithmetic, but q*s rounds onto the previous group's
    # end: the check on the float64 ends catches it.
    width = 1 + (1 - 0.5)
    s = np.nextafter(width, np.inf)
    ok = oc.OverlappingUniform(4, 0.5, spacing=s)  # one translate: 1*s, still separated
    assert ok.class_intervals[1, 1] < ok.class_intervals[2, 0]
    k = 2 * 2**20
    with pytest.raises(ValueError, match="'spacing'"):
        oc.OverlappingUniform(k, 0.5, spacing=s)


def test_default_spacing_with_one_group_is_allowed():
    # s = k = m equals the group width 1 + (m-1)(1-0) when alpha = 0: irrelevant with one group.
    dist = oc.OverlappingUniform(3, 0.0, group_size=3)
    assert dist.spacing == 3.0 and dist.overlap_mass().value == 0.0


@pytest.mark.parametrize(
    "n, match",
    [
        (-1, r"'n' parameter of OverlappingUniform\.sample must be an int >= 0\. Got -1"),
        (1.5, r"'n' .* Got 1\.5"),
        (10.0, r"'n' .* Got 10\.0"),
        ("10", r"'n' .* Got '10'"),
    ],
)
def test_sample_n_errors(n, match):
    with pytest.raises(ValueError, match=match):
        oc.OverlappingUniform(4, 0.5).sample(n, rng=0)


@pytest.mark.parametrize("rng", ["seed", 1.5, np.random.RandomState(0)])
def test_sample_rng_errors(rng):
    with pytest.raises(TypeError, match="'rng' parameter"):
        oc.OverlappingUniform(4, 0.5).sample(10, rng=rng)


def test_sample_accepts_numpy_integers():
    X, y = oc.OverlappingUniform(4, 0.5).sample(np.int64(5), rng=np.int64(3))
    assert X.shape == (5, 1)


@pytest.mark.parametrize(
    "method",
    ["posterior", "log_posterior", "class_log_density", "log_marginal_density", "predict_bayes"],
)
def test_X_errors(method):
    dist = oc.OverlappingUniform(4, 0.5, n_features=2)
    f = getattr(dist, method)
    caller = rf"'X' parameter of OverlappingUniform\.{method}"
    with pytest.raises(ValueError, match=caller + " must have 2 feature"):
        f(np.zeros((3, 1)))
    with pytest.raises(ValueError, match=caller + r" must be a 2-D array.*shape \(3,\)"):
        f(np.zeros(3))
    with pytest.raises(ValueError, match=r"'X' .* finite values. Got nan at index \(1, 0\)"):
        f(np.array([[0.5, 0.5], [np.nan, 0.5]]))
    with pytest.raises(ValueError, match=r"'X' .* array of real numbers"):
        f(np.array([["a", "b"]]))
