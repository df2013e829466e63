"""Tests of overlapcal.interpolators and overlapcal.population.population_accuracy.

Oracles: a brute-force O(n^2) numpy distance matrix with ``np.argmin`` (first minimum = smallest
training index) for the nearest neighbours and their tie rule; dense grids for the breakpoints;
scipy.integrate.quad of pointwise integrands (predictor evaluated one x at a time, posterior and
density from the distribution's public methods) split at the breakpoints and the class-interval
ends; Monte Carlo within 4 standard errors; the closed forms of THEORY.md 4.3 (Proposition 1,
Proposition 1b, Corollary 2).
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.special import rel_entr, softmax, xlogy

import overlapcal as oc
from overlapcal.recalibration import CalibrationWarning

# ----------------------------------------------------------------------------------------
# Independent oracles
# ----------------------------------------------------------------------------------------


def brute_distances(X_train, X):
    """All query-to-training Euclidean distances, shape (n_queries, n_train)."""
    return np.sqrt(np.square(X[:, None, :] - X_train[None, :, :]).sum(axis=2))


def brute_nearest(X_train, y_train, X):
    """1-NN by np.argmin over the distance matrix: ties go to the smallest training index."""
    D = brute_distances(X_train, X)
    idx = np.argmin(D, axis=1)
    return D[np.arange(X.shape[0]), idx], idx, y_train[idx]


def brute_kneighbors(X_train, X, K):
    """The K nearest distinct locations (each as its first training index), ordered by
    (distance, index)."""
    first = np.array([i for i in range(len(X_train))
                      if not any(np.array_equal(X_train[i], X_train[j]) for j in range(i))])
    D = brute_distances(X_train[first], X)
    order = np.lexsort((np.broadcast_to(first, D.shape), D), axis=-1)[:, :K]
    return np.take_along_axis(D, order, axis=1), first[order]


def knots(dist, extra):
    """Sorted class-interval ends of ``dist`` (independent of segments()) and extra points."""
    ends = dist.class_intervals.ravel()
    return np.unique(np.concatenate([ends, np.asarray(extra, dtype=float)]))


def quad_expectation(dist, f, points):
    """E_X[f(x)] = int f(x) p(x) dx by scipy quad on the pieces between consecutive points.

    ``f`` gets a scalar x and the posterior row; p(x) = exp(log_marginal_density). Off the
    support p = 0 and the piece is skipped.
    """
    total = 0.0
    for a, b in zip(points[:-1], points[1:]):
        mid = np.array([[0.5 * (a + b)]])
        if not np.isfinite(dist.log_marginal_density(mid)[0]):
            continue

        def integrand(x):
            X = np.array([[x]])
            return f(x, dist.posterior(X)[0]) * math.exp(dist.log_marginal_density(X)[0])

        value, _ = quad(integrand, a, b, epsabs=1e-15, epsrel=1e-13, limit=200)
        total += value
    return total


def quad_accuracy(dist, predictor, points):
    """A = int eta_{yhat(x)}(x) p(x) dx with yhat = predictor.predict, one x at a time."""
    return quad_expectation(
        dist, lambda x, eta: eta[predictor.predict(np.array([[x]]))[0]], points
    )


def quad_runner_up_bound(dist, predictor, points):
    """E[(1 - eta_yhat)(log(k - 1) - H(eta~))], the Proposition 1b bound, by quad."""
    k = dist.n_classes

    def f(x, eta):
        y = predictor.predict(np.array([[x]]))[0]
        rest = np.delete(eta, y)
        mass = rest.sum()
        if mass == 0:
            return 0.0
        tilde = rest / mass
        return mass * (math.log(k - 1) + xlogy(tilde, tilde).sum())

    return quad_expectation(dist, f, points)


def binary_entropy(a):
    return -xlogy(a, a) - xlogy(1 - a, 1 - a)


def prop1_risk(A, k, H, margin, T):
    """-H - A log p - (1 - A) log((1 - p)/(k - 1)), p = e^{B/T}/(e^{B/T} + k - 1), computed as
    log p = -log1p((k - 1) e^{-B/T}) and log((1 - p)/(k - 1)) = -B/T + log p (no cancellation
    in 1 - p when B/T is large)."""
    log_p = -math.log1p((k - 1) * math.exp(-margin / T))
    return -H - A * log_p - (1 - A) * (-margin / T + log_p)


def prop1_min(A, k, H):
    """H_b(A) + (1 - A) log(k - 1) - H(Y|X) (Proposition 1, valid for A >= 1/k)."""
    return binary_entropy(A) + (1 - A) * math.log(k - 1) - H


def fitted_hard(k, alpha, m, n, seed, margin=10.0):
    dist = oc.OverlappingUniform(k, alpha, group_size=m)
    X, y = dist.sample(n, rng=seed)
    return dist, X, y, oc.HardInterpolator(margin=margin).fit(X, y, n_classes=k)


# ----------------------------------------------------------------------------------------
# Nearest neighbours and the tie rule
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 10])
def test_nearest_neighbour_matches_brute_force(d):
    rng = np.random.default_rng(d)
    X_train = rng.standard_normal((150, d))
    y_train = rng.integers(0, 5, 150)
    X = np.vstack([rng.standard_normal((400, d)) * 1.5, X_train[:20]])
    hard = oc.HardInterpolator(margin=3.0).fit(X_train, y_train)
    r, idx, labels = brute_nearest(X_train, y_train, X)
    np.testing.assert_array_equal(hard.predict(X), labels)
    expected = np.zeros((X.shape[0], 5))
    expected[np.arange(X.shape[0]), labels] = 3.0
    np.testing.assert_array_equal(hard.logits(X), expected)
    dist, ind = hard.kneighbors(X)
    np.testing.assert_array_equal(ind[:, 0], idx)
    # KD-tree and numpy sum the squared differences in different orders: a few ulps.
    np.testing.assert_allclose(dist[:, 0], r, rtol=1e-13, atol=0)
    for K in (2, 7):
        dk, ik = hard.kneighbors(X, n_neighbors=K)
        bd, bi = brute_kneighbors(X_train, X, K)
        np.testing.assert_array_equal(ik, bi)
        np.testing.assert_allclose(dk, bd, rtol=1e-13, atol=0)
    assert hard.train_accuracy_ == 1.0 and hard.n_samples_fit_ == 150 and hard.n_classes_ == 5


def test_ties_in_one_dimension_go_to_the_smallest_training_index():
    # Locations 4 (index 0), 0 (index 1), 2 (indices 2 and 3, conflicting labels), 7 (index 4).
    X_train = np.array([[4.0], [0.0], [2.0], [2.0], [7.0]])
    y_train = np.array([1, 0, 2, 3, 0])
    hard = oc.HardInterpolator().fit(X_train, y_train)
    X = np.array([[1.0], [3.0], [5.5], [2.0], [-1.0], [9.0], [4.0], [0.0]])
    # 1: tie 0 (idx 1) / 2 (idx 2) -> idx 1; 3: tie 2 (idx 2) / 4 (idx 0) -> idx 0;
    # 5.5: tie 4 (idx 0) / 7 (idx 4) -> idx 0; 2: duplicate location -> idx 2 (label 2, not 3).
    _, idx, labels = brute_nearest(X_train, y_train, X)
    np.testing.assert_array_equal(idx, [1, 0, 0, 2, 1, 4, 0, 1])
    np.testing.assert_array_equal(hard.kneighbors(X)[1][:, 0], idx)
    np.testing.assert_array_equal(hard.predict(X), labels)
    # The conflicting duplicate is the one training point not interpolated.
    assert hard.train_accuracy_ == pytest.approx(4 / 5, abs=0)
    # Breakpoints: midpoints of consecutive locations 0, 2, 4, 7 with labels 0, 2, 1, 0.
    np.testing.assert_array_equal(hard.breakpoints(), [1.0, 3.0, 5.5])
    np.testing.assert_array_equal(hard.kneighbors(X, n_neighbors=3)[1],
                                  brute_kneighbors(X_train, X, 3)[1])


@pytest.mark.parametrize("d", [2, 10])
def test_ties_on_a_lattice_match_brute_force(d):
    # Integer coordinates: squared distances are exact small integers (or quarters), so both
    # the KD-tree and the brute force see the exact ties; many duplicates with conflicts.
    rng = np.random.default_rng(10 + d)
    high = 4 if d == 2 else 2
    X_train = rng.integers(0, high, (60, d)).astype(float)
    y_train = rng.integers(0, 4, 60)
    # explicit conflicting duplicates, appended last (so they lose the tie)
    X_train = np.vstack([X_train, X_train[:10]])
    y_train = np.append(y_train, (y_train[:10] + 1) % 4)
    X = np.vstack([rng.integers(-1, high + 1, (300, d)), rng.integers(0, 2 * high, (300, d)) / 2])
    hard = oc.HardInterpolator().fit(X_train, y_train, n_classes=4)
    r, idx, labels = brute_nearest(X_train, y_train, X)
    ties = (np.sum(brute_distances(X_train, X) == r[:, None], axis=1) > 1).sum()
    assert ties > 100  # the lattice really produces ties
    d1, i1 = hard.kneighbors(X)
    np.testing.assert_array_equal(i1[:, 0], idx)
    np.testing.assert_array_equal(d1[:, 0], r)
    np.testing.assert_array_equal(hard.predict(X), labels)
    for K in (2, 5):
        np.testing.assert_array_equal(hard.kneighbors(X, K)[1], brute_kneighbors(X_train, X, K)[1])
    # Training accuracy: a point is right iff its location's first occurrence has its label.
    _, _, own = brute_nearest(X_train, y_train, X_train)
    assert hard.train_accuracy_ == np.mean(own == y_train) < 1


def test_n_classes_inferred_or_given_and_float32_and_refit():
    X = np.array([[0.0], [1.0]], dtype=np.float32)
    hard = oc.HardInterpolator().fit(X, [0, 2])
    assert hard.n_classes_ == 3 and hard.logits(X).shape == (2, 3)
    assert hard.fit(X, [0, 1], n_classes=6).n_classes_ == 6
    assert hard.logits(np.array([[0.9]])).tolist() == [[0, 10, 0, 0, 0, 0]]
    # a sample missing the first classes: labels keep their meaning
    assert hard.fit(X, [4, 5]).predict(np.array([[0.2], [0.8]])).tolist() == [4, 5]
    # -0.0 and 0.0 are one location (a conflicting duplicate) in every dimension
    for d in (1, 2):
        Z = np.zeros((2, d))
        Z[0, 0] = -0.0
        assert oc.HardInterpolator().fit(Z, [0, 1]).train_accuracy_ == 0.5


# ----------------------------------------------------------------------------------------
# Breakpoints
# ----------------------------------------------------------------------------------------


def test_breakpoints_are_where_the_logits_change():
    rng = np.random.default_rng(5)
    X_train = rng.uniform(0, 10, (80, 1))
    y_train = rng.integers(0, 3, 80)
    hard = oc.HardInterpolator(margin=2.0).fit(X_train, y_train)
    bp = hard.breakpoints()
    # Independently: sorted locations, brute labels, midpoints where consecutive labels differ.
    u = np.sort(X_train[:, 0])
    lab = brute_nearest(X_train, y_train, u[:, None])[2]
    change = lab[:-1] != lab[1:]
    np.testing.assert_array_equal(bp, (0.5 * (u[:-1] + u[1:]))[change])
    assert np.all(np.diff(bp) > 0)
    grid = np.linspace(-1, 11, 200_001)
    logits = hard.logits(grid[:, None])
    piece = np.searchsorted(bp, grid)  # grid points equal to a breakpoint are excluded below
    inside = ~np.isin(grid, bp)
    same = piece[1:] == piece[:-1]
    both = inside[1:] & inside[:-1]
    np.testing.assert_array_equal(logits[1:][same & both], logits[:-1][same & both])
    # Every piece is visited by the grid (gaps between breakpoints exceed the grid step)...
    assert np.diff(bp).min() > 12 / 200_000 and set(piece[inside]) == set(range(bp.size + 1))
    # ...and the logits differ on the two sides of every breakpoint, as the brute force says.
    delta = 1e-9
    left, right = hard.logits((bp - delta)[:, None]), hard.logits((bp + delta)[:, None])
    assert np.all(np.any(left != right, axis=1))
    np.testing.assert_array_equal(np.argmax(left, 1), brute_nearest(X_train, y_train,
                                                                   (bp - delta)[:, None])[2])
    np.testing.assert_array_equal(np.argmax(right, 1), brute_nearest(X_train, y_train,
                                                                    (bp + delta)[:, None])[2])
    # Only 1-D fits are piecewise constant with known breakpoints.
    assert oc.HardInterpolator().fit(rng.random((5, 2)), [0, 1, 0, 1, 1]).breakpoints() is None


def test_tie_at_a_breakpoint_is_consistent():
    # A point exactly at a breakpoint is a tie: the smallest training index wins, both for the
    # 1-D midpoint rule and the brute force.
    for X_train, y_train in (([[0.0], [1.0]], [0, 1]), ([[1.0], [0.0]], [1, 0])):
        hard = oc.HardInterpolator().fit(X_train, y_train)
        assert hard.breakpoints().tolist() == [0.5]
        expected = brute_nearest(np.array(X_train), np.array(y_train), np.array([[0.5]]))[2]
        assert hard.predict(np.array([[0.5]])).tolist() == expected.tolist() == [y_train[0]]
    # Adjacent floats: the midpoint rounds onto a training point, which keeps its own label.
    a = 1.0
    b = np.nextafter(a, 2.0)
    hard = oc.HardInterpolator().fit(np.array([[b], [a]]), [1, 0])
    assert hard.predict(np.array([[a], [b]])).tolist() == [0, 1] and hard.train_accuracy_ == 1.0


# ----------------------------------------------------------------------------------------
# population_accuracy
# ----------------------------------------------------------------------------------------

CASES = [(2, 0.5, 2, 30, 0), (6, 0.3, 3, 40, 1), (8, 1.0, 2, 50, 2), (4, 0.0, 4, 25, 3),
         (10, 0.8, 5, 60, 4)]


@pytest.mark.parametrize("k, alpha, m, n, seed", CASES)
def test_exact_accuracy_matches_quad_and_monte_carlo(k, alpha, m, n, seed):
    dist, X, y, hard = fitted_hard(k, alpha, m, n, seed)
    acc = oc.population_accuracy(hard, dist)
    assert acc.method == "exact" and acc.stderr == 0.0 and acc.n_samples is None
    # The integrand is constant on each piece, so quad is exact up to rounding: 1e-12.
    assert abs(acc.value - quad_accuracy(dist, hard, knots(dist, hard.breakpoints()))) < 1e-12
    mc = oc.population_accuracy(hard, dist, method="monte-carlo", n_samples=100_000, rng=seed)
    assert mc.method == "monte-carlo" and mc.n_samples == 100_000
    # 4 se: two-sided tail 6e-5. With alpha = 1 and yhat in the right group, eta_yhat = 1/m
    # everywhere: stderr 0 and the mean exact up to rounding (1e-14).
    assert abs(mc.value - acc.value) <= 4 * mc.stderr + 1e-14
    # Same seed, same numbers.
    again = oc.population_accuracy(hard, dist, method="monte-carlo", n_samples=100_000, rng=seed)
    assert again == mc
    assert acc.value <= dist.bayes_accuracy().value + 1e-15


def test_accuracy_of_bayes_and_in_two_dimensions():
    dist = oc.OverlappingUniform(6, 0.4, group_size=3)
    bayes = oc.population_accuracy(oc.BayesPredictor(dist), dist)
    assert abs(bayes.value - dist.bayes_accuracy().value) < 1e-14
    # 2-D: no segments, Monte Carlo; oracle: an independent sample with brute-force labels.
    dist2 = oc.OverlappingUniform(4, 0.5, n_features=2)
    X, y = dist2.sample(200, rng=0)
    hard = oc.HardInterpolator().fit(X, y, n_classes=4)
    mc = oc.population_accuracy(hard, dist2, n_samples=50_000, rng=1)
    assert mc.method == "monte-carlo"
    Z, _ = dist2.sample(20_000, rng=2)
    values = dist2.posterior(Z)[np.arange(20_000), brute_nearest(X, y, Z)[2]]
    se = math.hypot(mc.stderr, values.std(ddof=1) / math.sqrt(values.size))
    assert abs(mc.value - values.mean()) < 4 * se  # two independent estimates, 4 se


# ----------------------------------------------------------------------------------------
# Proposition 1, Corollary 2, the ECE blind spot
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, alpha, m, n, seed", CASES)
def test_proposition_1(k, alpha, m, n, seed):
    dist, X, y, hard = fitted_hard(k, alpha, m, n, seed, margin=7.0)
    H = dist.conditional_entropy().value
    A = oc.population_accuracy(hard, dist).value
    A_quad = quad_accuracy(dist, hard, knots(dist, hard.breakpoints()))
    assert abs(A - A_quad) < 1e-12
    # R(g_T) in closed form at several temperatures (exact sums: float64 rounding, 1e-12).
    for T in (0.25, 1.0, 3.0, 20.0):
        kl = oc.population_kl(oc.TemperatureScaled(hard, T), dist)
        assert kl.method == "exact"
        assert abs(kl.value - prop1_risk(A_quad, k, H, 7.0, T)) < 1e-12 * max(1.0, kl.value)
    assert A_quad > 1 / k + 1e-3  # these samples are informative (the uniform case is below)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = oc.oracle_temperature(hard, dist)
    assert res.status == "converged"
    p = 1.0 / (1.0 + (k - 1) * math.exp(-7.0 / res.temperature))
    # Newton converges to the root of R'(beta) = A - p(beta): p = A to rounding (1e-10).
    assert abs(p - A) < 1e-10 and abs(p - A_quad) < 1e-10
    assert abs(res.kl.value - prop1_min(A_quad, k, H)) < 1e-10
    assert abs(res.kl.value - prop1_min(A, k, H)) < 1e-10


def test_proposition_1_uniform_case_below_one_over_k():
    # Wrong labels in group 0, none in group 1: yhat = 1 on [0, 0.75), 0 beyond, so only
    # class 1 on [0.5, 0.75) and class 0 on [0.75, 1) are right: A = 2 * (1/4)(1/4) = 1/8.
    dist = oc.OverlappingUniform(4, 0.5)
    hard = oc.HardInterpolator().fit(np.array([[0.2], [1.3]]), [1, 0], n_classes=4)
    A = oc.population_accuracy(hard, dist).value
    assert A == pytest.approx(1 / 8, abs=1e-15)
    with pytest.warns(CalibrationWarning):
        res = oc.oracle_temperature(hard, dist)
    assert res.status == "uniform" and res.temperature == math.inf
    H = dist.conditional_entropy().value
    assert abs(res.kl.value - (math.log(4) - H)) < 1e-12


@st.composite
def overlap_problems(draw):
    m = draw(st.sampled_from([1, 2, 3, 4]))
    k = m * draw(st.integers(1 if m > 1 else 2, 4))
    alpha = draw(st.floats(0.0, 1.0))
    n = draw(st.integers(1, 25))
    seed = draw(st.integers(0, 2**32 - 1))
    return k, alpha, m, n, seed


@given(overlap_problems())
def test_corollary_2_lower_bound(problem):
    k, alpha, m, n, seed = problem
    dist, X, y, hard = fitted_hard(k, alpha, m, n, seed)
    H = dist.conditional_entropy().value
    A_star = dist.bayes_accuracy().value
    A = oc.population_accuracy(hard, dist).value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # A = 1 or A <= 1/k
        res = oc.oracle_temperature(hard, dist)
    bound = prop1_min(A_star, k, H)
    assert A <= A_star + 1e-12
    # exact sums agree with the closed forms to ~1e-13; 1e-10 leaves room for the solver
    assert res.kl.value >= bound - 1e-10
    if 1 / k + 1e-6 < A < 1 - 1e-6:
        assert abs(res.kl.value - prop1_min(A, k, H)) < 1e-10
    if A < 1 / k - 1e-6:
        assert abs(res.kl.value - (math.log(k) - H)) < 1e-10


def test_top_label_ece_is_zero_after_oracle_ts_while_kl_is_large():
    k, alpha = 16, 0.7
    dist, X, y, hard = fitted_hard(k, alpha, 2, 300, 7)
    res = oc.oracle_temperature(hard, dist)
    scaled = oc.TemperatureScaled(hard, res.temperature)
    grid = np.concatenate([np.linspace(g * k, g * k + 1, 2001) for g in range(k // 2)])
    conf = scaled.predict_proba(grid[:, None]).max(axis=1)
    p = conf[0]
    np.testing.assert_allclose(conf, p, rtol=1e-15, atol=0)  # a single confidence value
    # Population top-label calibration: E[eta_yhat | conf = p] = E[eta_yhat] = A (by quad).
    A = quad_accuracy(dist, hard, knots(dist, hard.breakpoints()))
    assert abs(A - p) < 1e-10  # population top-label ECE |A - p| is 0 to solver precision
    # Ground-truth ECE on a sample (eta in place of labels): a single bin, |mean eta_yhat - p|.
    Z, _ = dist.sample(50_000, rng=1)
    eta_yhat = dist.posterior(Z)[np.arange(Z.shape[0]), scaled.predict(Z)]
    assert abs(eta_yhat.mean() - p) < 4 * eta_yhat.std(ddof=1) / math.sqrt(Z.shape[0])
    # ...while the KL risk stays at least the Corollary 2 bound (1.11 here).
    H = dist.conditional_entropy().value
    assert res.kl.value >= prop1_min(dist.bayes_accuracy().value, k, H) > 1.1


# ----------------------------------------------------------------------------------------
# Proposition 1b
# ----------------------------------------------------------------------------------------


def prop1b_predictors(X, y, k):
    """Hard, soft Gaussian and soft linear interpolators (all with equal non-argmax logits)."""
    return [
        oc.HardInterpolator(margin=6.0).fit(X, y, n_classes=k),
        oc.SoftInterpolator(margin=6.0, radius=0.02).fit(X, y, n_classes=k),
        oc.SoftInterpolator(margin=6.0, radius=0.02, profile="linear").fit(X, y, n_classes=k),
    ]


@pytest.mark.parametrize("k, alpha, m", [(8, 0.6, 2), (6, 0.5, 3)])
def test_proposition_1b_runner_up_part(k, alpha, m):
    dist = oc.OverlappingUniform(k, alpha, group_size=m)
    X, y = dist.sample(120, rng=k)
    for pred in prop1b_predictors(X, y, k):
        points = pred.breakpoints()
        if points is None:
            points = pred.smooth_breakpoints()
        # The bound's integrand is constant between these points: quad is exact (1e-12).
        bound = quad_runner_up_bound(dist, pred, knots(dist, points))
        for T in (0.5, 1.0, 4.0):
            scaled = oc.TemperatureScaled(pred, T)
            # the wrapper forwards the knots (dividing by T moves none)
            for name in ("breakpoints", "smooth_breakpoints"):
                inner, outer = getattr(pred, name)(), getattr(scaled, name)()
                assert (inner is None and outer is None) or np.array_equal(inner, outer)
            kl = oc.population_kl(scaled, dist)
            # Equal non-argmax logits: g~ uniform, the bound holds with equality at every T.
            # Exact sums: rounding (1e-12); quadrature: its 1e-10 error budget.
            tol = 1e-12 if kl.method == "exact" else 1e-10
            assert kl.method == ("exact" if isinstance(pred, oc.HardInterpolator)
                                 else "quadrature")
            assert abs(kl.runner_up - bound) < tol
            assert kl.runner_up >= bound - tol
        if m == 2 and getattr(pred, "profile", None) != "linear":
            # yhat in the right pair everywhere on the support -> bound >= (alpha/2) log(k-1).
            # (Not for the linear profile: beyond gamma from the data its logits are all 0
            # and the argmax is class 0.)
            seg = dist.segments()
            grid = np.concatenate([np.linspace(a, b, 50)[1:-1] for a, b in
                                   zip(seg.left, seg.right)])
            group = np.floor(grid / dist.spacing)
            assert np.all(pred.predict(grid[:, None]) // 2 == group)
            assert bound >= alpha / 2 * math.log(k - 1) - 1e-12


def test_neighbour_votes_escape_the_runner_up_bound():
    # K > 1 gives the runner-up classes unequal logits: Proposition 1b's hypothesis fails and
    # the runner-up part (and even the oracle-TS risk) falls below what the K = 1 version gets.
    k, alpha = 16, 1.0
    dist = oc.OverlappingUniform(k, alpha)
    X, y = dist.sample(400, rng=3)
    one = oc.SoftInterpolator(margin=10.0, radius=0.05).fit(X, y, n_classes=k)
    votes = oc.SoftInterpolator(margin=10.0, radius=0.05, n_neighbors=5,
                                neighbor_weight=0.4).fit(X, y, n_classes=k)
    bound = alpha / 2 * math.log(k - 1)
    assert abs(oc.population_kl(one, dist).runner_up - bound) < 1e-10
    kl = oc.population_kl(votes, dist)
    assert kl.runner_up < 0.7 * bound
    H = dist.conditional_entropy().value
    corollary = prop1_min(dist.bayes_accuracy().value, k, H)
    assert oc.oracle_temperature(votes, dist).kl.value < corollary
    grid = np.linspace(0, 1.0, 5001)[:, None]
    np.testing.assert_array_equal(votes.predict(grid), one.predict(grid))  # argmax: 1-NN label


# ----------------------------------------------------------------------------------------
# The soft interpolator
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["gaussian", "linear"])
@pytest.mark.parametrize("d", [1, 3])
def test_soft_margin_profile_and_argmax(profile, d):
    rng = np.random.default_rng(d)
    X_train = rng.uniform(0, 1, (40, d))
    y_train = rng.integers(0, 4, 40)
    B, gamma = 5.0, 0.1
    soft = oc.SoftInterpolator(margin=B, radius=gamma, profile=profile).fit(X_train, y_train)
    hard = oc.HardInterpolator(margin=B).fit(X_train, y_train)
    # Interpolates with the full margin at the training points.
    np.testing.assert_array_equal(soft.logits(X_train), hard.logits(X_train))
    X = rng.uniform(-0.3, 1.3, (3000, d))
    r, _, labels = brute_nearest(X_train, y_train, X)
    t = r / gamma
    phi = np.exp(-t**2) if profile == "gaussian" else 1 - t
    phi = np.maximum(phi, oc.interpolators.MARGIN_FLOOR)  # the documented floor, 1e-12
    # brute and tree distances differ by ulps: relative 1e-12 on the margin
    np.testing.assert_allclose(soft.margin_at(X), B * phi, rtol=1e-12, atol=1e-300)
    logits = soft.logits(X)
    expected = np.zeros_like(logits)
    expected[np.arange(X.shape[0]), labels] = B * phi
    np.testing.assert_allclose(logits, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(soft.predict(X), labels)  # the 1-NN label, everywhere
    # Confident near the data: B(x) >= B/e within gamma (Gaussian), >= B/2 within gamma/2
    # (linear) of a training point.
    reach, floor = (gamma, B / math.e) if profile == "gaussian" else (gamma / 2, B / 2)
    step = rng.standard_normal((2000, d))
    step *= reach * rng.random((2000, 1)) / np.linalg.norm(step, axis=1, keepdims=True)
    near = X_train[rng.integers(0, 40, 2000)] + step  # within reach of some training point
    assert np.all(soft.margin_at(near) >= floor * (1 - 1e-12))
    assert soft.breakpoints() is None
    assert (soft.smooth_breakpoints() is None) == (d > 1)


@pytest.mark.parametrize("profile", ["gaussian", "linear"])
@pytest.mark.parametrize("n_neighbors", [1, 3])
@pytest.mark.parametrize("d", [1, 2])
def test_soft_argmax_is_the_nearest_neighbour_label_off_the_support(profile, n_neighbors, d):
    # Clusters 10 apart with gamma = 0.05: the gaps are far beyond gamma (where the linear
    # profile is 0) and beyond 27 gamma (where exp(-t^2) underflows). Labels avoid class 0 in
    # the clusters' cells, so an argmax of all-equal logits (class 0) would show.
    rng = np.random.default_rng(d)
    centres = np.array([0.0, 10.0, 20.0])
    X_train = (centres[:, None, None] + rng.uniform(0, 1, (3, 6, d))).reshape(-1, d)
    y_train = np.repeat([2, 1, 3], 6)
    y_train[[1, 8]] = [1, 3]
    soft = oc.SoftInterpolator(margin=8.0, radius=0.05, profile=profile,
                               n_neighbors=n_neighbors).fit(X_train, y_train, n_classes=4)
    hard = oc.HardInterpolator().fit(X_train, y_train, n_classes=4)
    grid = np.linspace(-15.0, 35.0, 4001)
    X = np.column_stack([grid] + [np.full_like(grid, 0.5)] * (d - 1))
    gaps = soft.kneighbors(X)[0][:, 0] > 27 * soft.radius
    assert gaps.sum() > 1000  # many points off the support
    expected = hard.predict(X)
    np.testing.assert_array_equal(expected, brute_nearest(X_train, y_train, X)[2])
    np.testing.assert_array_equal(soft.predict(X), expected)
    np.testing.assert_array_equal(np.argmax(soft.logits(X), axis=1), expected)
    np.testing.assert_array_equal(np.argmax(soft.predict_proba(X), axis=1), expected)
    np.testing.assert_array_equal(np.argmax(soft.log_proba(X), axis=1), expected)
    # Far from the data the prediction is uniform to the floor's accuracy (1e-12 B).
    np.testing.assert_allclose(soft.predict_proba(X[gaps]), 0.25, atol=1e-10)
    # Temperature scaling keeps the classifier (TemperatureScaled.predict delegates).
    np.testing.assert_array_equal(oc.TemperatureScaled(soft, 50.0).predict(X), expected)


@pytest.mark.parametrize("profile", ["gaussian", "linear"])
def test_soft_logits_are_lipschitz_inside_cells(profile):
    rng = np.random.default_rng(0)
    X_train = np.sort(rng.uniform(0, 1, (30, 1)), axis=0)
    y_train = rng.integers(0, 3, 30)
    B, gamma = 4.0, 0.05
    soft = oc.SoftInterpolator(margin=B, radius=gamma, profile=profile).fit(X_train, y_train)
    grid = np.linspace(-0.2, 1.2, 400_001)
    step = grid[1] - grid[0]
    lip = B / gamma * (math.sqrt(2 / math.e) if profile == "gaussian" else 1.0)
    margin = soft.margin_at(grid[:, None])
    # The margin is Lipschitz everywhere (continuous across cells).
    assert np.abs(np.diff(margin)).max() <= lip * step * (1 + 1e-9)
    # The logits are Lipschitz inside each nearest-neighbour cell, and jump only between cells
    # at the breakpoints of the hard interpolator (where the label changes).
    logits = soft.logits(grid[:, None])
    cell = soft.kneighbors(grid[:, None])[1][:, 0]
    same = cell[1:] == cell[:-1]
    jumps = np.abs(np.diff(logits, axis=0)).max(axis=1)
    assert jumps[same].max() <= lip * step * (1 + 1e-9)
    bp = oc.HardInterpolator().fit(X_train, y_train).breakpoints()
    big = np.flatnonzero(jumps > lip * step * (1 + 1e-9))
    assert np.all(np.abs(grid[big][:, None] - bp[None, :]).min(axis=1) <= step)
    # The smooth breakpoints contain every breakpoint (where the logits may jump).
    assert np.all(np.isin(bp, soft.smooth_breakpoints()))


def test_soft_quadrature_matches_quad_oracle_and_monte_carlo():
    dist = oc.OverlappingUniform(4, 0.5)
    X, y = dist.sample(30, rng=0)

    for soft in (oc.SoftInterpolator(radius=0.05, profile="linear", n_neighbors=3).fit(X, y),
                 oc.SoftInterpolator(margin=3.0, radius=0.2).fit(X, y)):
        kl = oc.population_kl(soft, dist)
        assert kl.method == "quadrature"

        def f(x, eta):
            return rel_entr(eta, softmax(soft.logits(np.array([[x]]))[0])).sum()

        # Independent cuts: every pairwise midpoint, the training points and +-radius.
        u = np.unique(X[:, 0])
        cuts = np.concatenate([0.5 * (u[:, None] + u[None, :]).ravel(), u, u - soft.radius,
                               u + soft.radius])
        # quad on smooth pieces: ~1e-14 per piece; the design's own budget is 1e-10
        assert abs(kl.value - quad_expectation(dist, f, knots(dist, cuts))) < 1e-10
        mc = oc.population_kl(soft, dist, method="monte-carlo", n_samples=100_000, rng=2)
        assert abs(mc.value - kl.value) < 4 * mc.stderr  # 4 se


# ----------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------


def test_errors():
    X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    with pytest.raises(RuntimeError, match="not fitted yet. Call 'fit' before 'predict'"):
        oc.HardInterpolator().predict(X)
    with pytest.raises(RuntimeError, match="before 'breakpoints'"):
        oc.HardInterpolator().breakpoints()
    with pytest.raises(RuntimeError, match="before 'smooth_breakpoints'"):
        oc.SoftInterpolator().smooth_breakpoints()
    with pytest.raises(RuntimeError, match="before 'margin_at'"):
        oc.SoftInterpolator().margin_at(X)
    hard = oc.HardInterpolator().fit(X, y)
    with pytest.raises(ValueError, match="'X' parameter of HardInterpolator.predict must have 1"):
        hard.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="'n_neighbors' parameter of HardInterpolator.kneighbors"
                                         " must be an int in \\[1, 2\\]. Got 3"):
        hard.kneighbors(X, 3)
    for bad in (0.0, -1.0, math.inf, math.nan, "5", True):
        with pytest.raises(ValueError, match="'margin' parameter of HardInterpolator must be a "
                                             "finite real number > 0"):
            oc.HardInterpolator(margin=bad)
    for bad in (0.0, -0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="'radius' parameter of SoftInterpolator must be a "
                                             "finite real number > 0"):
            oc.SoftInterpolator(radius=bad)
    with pytest.raises(ValueError, match="'margin' parameter of SoftInterpolator"):
        oc.SoftInterpolator(margin=0)
    with pytest.raises(ValueError, match="'profile' parameter of SoftInterpolator must be one of "
                                         "'gaussian', 'linear'. Got 'cubic'"):
        oc.SoftInterpolator(profile="cubic")
    with pytest.raises(ValueError, match="'n_neighbors' parameter of SoftInterpolator must be an "
                                         "int >= 1. Got 0"):
        oc.SoftInterpolator(n_neighbors=0)
    with pytest.raises(ValueError, match="'neighbor_weight' parameter of SoftInterpolator must be"
                                         " a finite real number in \\[0.0, 0.5\\). Got 0.5"):
        oc.SoftInterpolator(neighbor_weight=0.5)
    with pytest.raises(ValueError, match="'n_neighbors' parameter of SoftInterpolator must be at "
                                         "most the number of distinct training locations"):
        oc.SoftInterpolator(n_neighbors=3).fit(np.array([[0.0], [1.0], [1.0]]), [0, 1, 1])
    fit = oc.HardInterpolator().fit
    with pytest.raises(ValueError, match="'y' parameter of HardInterpolator.fit must hold class "
                                         "labels in \\[0, 2\\). Got label 2"):
        fit(X, [0, 2], n_classes=2)
    with pytest.raises(ValueError, match="'y' parameter of HardInterpolator.fit must hold class "
                                         "labels in >= 0. Got label -1"):
        fit(X, [0, -1])
    with pytest.raises(ValueError, match="'y' parameter .* must be an array of integer class"):
        fit(X, [0.0, 1.0])
    with pytest.raises(ValueError, match="must have one label per sample \\(2\\). Got 3 labels"):
        fit(X, [0, 1, 1])
    with pytest.raises(ValueError, match="'X' parameter of HardInterpolator.fit must be a "
                                         "non-empty array"):
        fit(np.zeros((0, 1)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="'X' parameter of HardInterpolator.fit must be a 2-D"):
        fit(np.zeros(3), [0, 1, 1])
    with pytest.raises(ValueError, match="'X' parameter of HardInterpolator.fit must contain only"
                                         " finite values"):
        fit(np.array([[0.0], [np.nan]]), y)
    with pytest.raises(ValueError, match="'y' parameter of HardInterpolator.fit must contain a "
                                         "label >= 1 when 'n_classes' is not given"):
        fit(X, [0, 0])
    with pytest.raises(ValueError, match="'n_classes' parameter of HardInterpolator.fit must be "
                                         "an int >= 2. Got 1"):
        fit(X, [0, 0], n_classes=1)


def test_bayes_predictor_errors_and_undefined_rows():
    with pytest.raises(TypeError, match="'dist' parameter of BayesPredictor must be an overlapcal "
                                        "Distribution. Got str instead"):
        oc.BayesPredictor("uniform")
    # Off the support the posterior (hence the logits) is NaN: predict gives the documented 0,
    # whatever the class order (here the support's only class there would be 3).
    dist = oc.OverlappingUniform(4, 0.5, spacing=3.0)  # gaps between the groups
    bayes = oc.BayesPredictor(dist)
    X = np.array([[-1.0], [2.5], [4.9]])
    assert np.all(np.isnan(bayes.logits(X)[:2]))
    np.testing.assert_array_equal(bayes.predict(X), [0, 0, bayes.dist.predict_bayes(X[2:])[0]])


def test_population_accuracy_errors():
    dist = oc.OverlappingUniform(4, 0.5)
    X, y = dist.sample(20, rng=0)
    hard = oc.HardInterpolator().fit(X, y, n_classes=4)
    with pytest.raises(ValueError, match="'method' parameter of population_accuracy must be one "
                                         "of 'auto', 'exact', 'monte-carlo'. Got 'quadrature'"):
        oc.population_accuracy(hard, dist, method="quadrature")
    with pytest.raises(ValueError, match="'n_samples' parameter of population_accuracy"):
        oc.population_accuracy(hard, dist, n_samples=1)
    soft = oc.SoftInterpolator().fit(X, y, n_classes=4)
    with pytest.raises(ValueError, match="'method' parameter of population_accuracy can be "
                                         "'exact' only"):
        oc.population_accuracy(soft, dist, method="exact")
    assert oc.population_accuracy(soft, dist, n_samples=1000, rng=0).method == "monte-carlo"
    with pytest.raises(ValueError, match="must have n_classes_ = 4 to match the distribution. "
                                         "Got 3"):
        oc.population_accuracy(oc.HardInterpolator().fit(X, np.minimum(y, 2)), dist)
    with pytest.raises(TypeError, match="'dist' parameter of population_accuracy must be an "
                                        "overlapcal Distribution"):
        oc.population_accuracy(hard, "dist")
    with pytest.raises(TypeError, match="'rng' parameter"):
        oc.population_accuracy(hard, dist, method="monte-carlo", rng="seed")
