"""Tests of oc.LabelNoise (THEORY.md 4.2: pair and symmetric label noise, exact posteriors).

Oracles: the explicit matrix product eta @ T of brute-force (scipy) posteriors, hand-computed
finite sums from the THEORY.md 4.1 interval layout, 1-D scipy quadrature, and Monte Carlo
frequencies within 4 standard errors (fixed seeds; chance exceedance 6e-5 per check).
"""

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import overlapcal as oc
from overlapcal._numerics import entropy

GM = oc.GaussianMixture
LN = oc.LabelNoise


def within(estimate, reference, n_se=4.0, reference_se=0.0):
    se = math.hypot(estimate.stderr if hasattr(estimate, "stderr") else 0.0, reference_se)
    assert abs(float(estimate) - reference) <= n_se * se, (float(estimate), reference, se)


def brute_posterior(gm, X):
    log_joint = np.column_stack([
        stats.multivariate_normal(mean=mu, cov=gm.cov).logpdf(X).reshape(-1) for mu in gm.means
    ]) + np.log(gm.priors)
    return special.softmax(log_joint, axis=1), log_joint


BASE4 = GM([[0.0, 0.0], [1.0, 0.5], [0.0, 1.5], [2.0, 2.0]], cov=0.6,
           priors=[0.1, 0.2, 0.3, 0.4])


# -- transition matrix and partners --------------------------------------------------------------


def test_pair_transition_is_a_seeded_derangement():
    noisy = LN(BASE4, 0.3, kind="pair", rng=5)
    partner = noisy.partner
    assert sorted(partner) == [0, 1, 2, 3] and np.all(partner != np.arange(4))
    expected = 0.7 * np.eye(4)
    expected[np.arange(4), partner] = 0.3
    np.testing.assert_array_equal(noisy.transition, expected)
    np.testing.assert_array_equal(LN(BASE4, 0.3, rng=5).partner, partner)
    partners = {tuple(LN(GM.orthogonal(10), 0.1, rng=s).partner) for s in range(5)}
    assert len(partners) == 5
    for array in (noisy.transition, noisy.partner, noisy.priors):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    assert (noisy.n_classes, noisy.n_features) == (4, 2)
    assert repr(noisy).startswith("LabelNoise(GaussianMixture(") and "kind='pair'" in repr(noisy)


def test_partners_are_uniform_over_derangements():
    # k = 3 has exactly two derangements, the 3-cycles (1, 2, 0) and (2, 0, 1).
    base = GM.orthogonal(3)
    rng = np.random.default_rng(0)
    draws = [tuple(LN(base, 0.2, rng=rng).partner) for _ in range(2000)]
    assert set(draws) == {(1, 2, 0), (2, 0, 1)}
    share = draws.count((1, 2, 0)) / len(draws)
    assert abs(share - 0.5) <= 4 * math.sqrt(0.25 / len(draws))


def test_symmetric_transition():
    noisy = LN(BASE4, 0.3, kind="symmetric")
    np.testing.assert_allclose(noisy.transition, 0.7 * np.eye(4) + 0.1 * (1 - np.eye(4)),
                               rtol=1e-15)
    assert noisy.partner is None
    np.testing.assert_allclose(noisy.transition.sum(axis=1), 1.0, rtol=1e-15)


# -- posterior and densities --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pair", "symmetric"])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.75, 1.0])
def test_posterior_and_densities_match_brute_force(kind, rate):
    noisy = LN(BASE4, rate, kind=kind, rng=1)
    X = np.random.default_rng(2).normal(scale=2.0, size=(300, 2))
    eta, log_joint = brute_posterior(BASE4, X)
    T = noisy.transition
    np.testing.assert_allclose(noisy.posterior(X), eta @ T, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(noisy.priors, BASE4.priors @ T, rtol=1e-15)
    # p~(x | j) = sum_c p_c p(x | c) T_cj / p~_j
    dens = np.exp(log_joint) @ T / noisy.priors
    np.testing.assert_allclose(np.exp(noisy.class_log_density(X)), dens, rtol=1e-11)
    np.testing.assert_allclose(noisy.log_marginal_density(X), BASE4.log_marginal_density(X),
                               rtol=1e-12)


def test_rate_zero_is_the_base():
    X = np.random.default_rng(3).normal(size=(50, 2))
    noisy = LN(BASE4, 0.0, rng=0)
    np.testing.assert_allclose(noisy.log_posterior(X), BASE4.log_posterior(X), rtol=1e-14)
    two = GM.shifted(5, shift=0.4)
    for kind in ("pair", "symmetric"):
        clean = LN(two, 0.0, kind=kind)
        assert clean.conditional_entropy().value == pytest.approx(
            two.conditional_entropy().value, abs=1e-13)
        assert clean.bayes_error().value == pytest.approx(two.bayes_error().value, abs=1e-15)


def test_log_posterior_keeps_tiny_probabilities():
    # Far from class 0 its clean posterior underflows eta @ T, but log space keeps it.
    base = GM([[0.0], [40.0]])
    noisy = LN(base, 1e-300, kind="symmetric")
    log_post = noisy.log_posterior(np.array([[40.0]]))
    expected0 = np.logaddexp(np.log1p(-1e-300) - 800.0, np.log(1e-300))  # eta_0 = e^-800
    assert log_post[0, 0] == pytest.approx(expected0, rel=1e-12)


def test_symmetric_noise_at_rate_k_minus_1_over_k_is_uninformative():
    base = GM.orthogonal(4, separation=3.0)
    noisy = LN(base, 0.75, kind="symmetric")
    X, _ = base.sample(100, rng=4)
    np.testing.assert_allclose(noisy.posterior(X), 0.25, rtol=1e-14)
    acc = noisy.bayes_accuracy()
    assert (acc.value, acc.method) == (0.25, "exact")
    h = noisy.conditional_entropy(n_samples=1000, rng=0)
    assert h.value == pytest.approx(math.log(4), rel=1e-14) and h.stderr < 1e-14


def test_symmetric_noise_commutes_with_relabelling():
    perm = np.array([3, 1, 0, 2])
    permuted = GM(BASE4.means[perm], cov=BASE4.cov, priors=BASE4.priors[perm])
    X = np.random.default_rng(5).normal(size=(40, 2))
    np.testing.assert_allclose(LN(permuted, 0.4, kind="symmetric").posterior(X),
                               LN(BASE4, 0.4, kind="symmetric").posterior(X)[:, perm],
                               rtol=1e-12, atol=1e-15)


# -- sampling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pair", "symmetric"])
def test_sampled_labels_match_noisy_posterior(kind):
    noisy = LN(BASE4, 0.35, kind=kind, rng=6)
    X, y = noisy.sample(100_000, rng=7)
    X2, y2 = noisy.sample(100_000, rng=7)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(X, X2)
    eta = noisy.posterior(X)
    # Given X the label is Categorical(eta~(X)): per-class count minus sum of eta~ has
    # variance sum(eta~ (1 - eta~)).
    resid = np.bincount(y, minlength=4) - eta.sum(axis=0)
    assert np.all(np.abs(resid) <= 4 * np.sqrt((eta * (1 - eta)).sum(axis=0)))
    # and within bins of the clean posterior's argmax (where the flips concentrate)
    clean_top = BASE4.predict_bayes(X)
    for c in range(4):
        rows = clean_top == c
        r = np.bincount(y[rows], minlength=4) - eta[rows].sum(axis=0)
        assert np.all(np.abs(r) <= 4 * np.sqrt((eta[rows] * (1 - eta[rows])).sum(axis=0)))


def test_two_class_sampled_labels_in_log_odds_bins():
    base = GM([[0.0, 0.0], [0.8, 0.4]], cov=0.3, priors=[0.4, 0.6])
    noisy = LN(base, 0.2)
    X, y = noisy.sample(100_000, rng=8)
    eta = noisy.posterior(X)[:, 1]
    clean = base.posterior(X)[:, 1]
    log_odds = np.log(clean) - np.log1p(-clean)
    bins = np.clip(np.searchsorted(np.quantile(log_odds, np.linspace(0, 1, 11)), log_odds,
                                   side="right") - 1, 0, 9)
    resid = np.bincount(bins, weights=(y == 1) - eta, minlength=10)
    var = np.bincount(bins, weights=eta * (1 - eta), minlength=10)
    assert np.all(np.abs(resid) <= 4 * np.sqrt(var))
    np.testing.assert_allclose(eta, 0.2 + 0.6 * clean, rtol=1e-12)  # r + (1 - 2r) eta


def test_sample_edge_cases():
    noisy = LN(BASE4, 1.0, rng=0)
    X, y = noisy.sample(0, rng=0)
    assert X.shape == (0, 2) and y.shape == (0,)
    # rate 1 with pair noise: the base is sampled first from the same stream, then every label
    # moves to its partner.
    Xb, yb = BASE4.sample(2000, rng=1)
    Xn, yn = LN(BASE4, 1.0, rng=0).sample(2000, rng=1)
    np.testing.assert_array_equal(Xb, Xn)  # same base draws first
    np.testing.assert_array_equal(yn, noisy.partner[yb])


# -- exact ground truth on piecewise-constant bases ------------------------------------------------


def pairs_oracle(k, alpha, T, functional):
    """sum over regions of mass * functional(noisy posterior), from THEORY.md 4.1 (m = 2).

    Group q: [qs, qs + 1 - alpha) only class 2q (mass (1 - alpha)/k), the overlap
    [qs + 1 - alpha, qs + 1) with both (mass 2 alpha / k), [qs + 1, qs + 2 - alpha) only 2q + 1.
    """
    total = 0.0
    for q in range(k // 2):
        a, b = T[2 * q], T[2 * q + 1]
        total += (1 - alpha) / k * (functional(a) + functional(b))
        total += 2 * alpha / k * functional((a + b) / 2)
    return total


@pytest.mark.parametrize("kind, rate", [("pair", 0.3), ("symmetric", 0.3), ("pair", 0.8),
                                        ("symmetric", 0.95)])
def test_segments_give_exact_functionals_on_overlapping_uniform(kind, rate):
    base = oc.OverlappingUniform(6, overlap=0.4)
    noisy = LN(base, rate, kind=kind, rng=9)
    T = noisy.transition
    h, acc = noisy.conditional_entropy(), noisy.bayes_accuracy()
    assert h.method == acc.method == "exact"
    assert h.value == pytest.approx(pairs_oracle(6, 0.4, T, lambda p: entropy(p)), abs=1e-14)
    assert acc.value == pytest.approx(pairs_oracle(6, 0.4, T, np.max), abs=1e-14)
    seg = noisy.segments()
    np.testing.assert_allclose(seg.posterior, base.segments().posterior @ T, rtol=1e-15)
    # the posterior route agrees: Monte Carlo of H(eta~(X)) and of max eta~(X)
    X = base.sample_inputs(100_000, rng=10)
    post = noisy.posterior(X)
    for est, values in ((h, entropy(post)), (acc, post.max(axis=1))):
        within(est, values.mean(), reference_se=values.std() / math.sqrt(len(values)))


@pytest.mark.parametrize("kind", ["pair", "symmetric"])
def test_uniform_base_posterior_density_and_off_support(kind):
    base = oc.OverlappingUniform(4, overlap=0.5)
    noisy = LN(base, 0.2, kind=kind, rng=1)
    X = np.array([[0.25], [0.75], [3.0], [4.6]])  # class 0 only, overlap, gap, overlap
    clean = np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.25] * 4, [0, 0, 0.5, 0.5]])
    post = noisy.posterior(X)
    np.testing.assert_allclose(post[[0, 1, 3]], (clean @ noisy.transition)[[0, 1, 3]],
                               rtol=1e-14, atol=1e-16)
    assert np.all(np.isnan(post[2]))  # off the support: NaN, as for the base
    dens = np.exp(noisy.class_log_density(X))
    # p~(x | j) = sum_c p_c 1{x in class c} T_cj / p~_j with p_c = 1/4 and unit-length classes
    inside = np.array([[1.0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_allclose(dens, inside @ noisy.transition / 4 / noisy.priors, rtol=1e-14)


def test_no_segments_for_continuous_bases():
    assert LN(BASE4, 0.2, rng=0).segments() is None


# -- two-class Gaussian base: quadrature and affine accuracy ----------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.35, 0.7])
def test_two_class_gaussian_quadrature_matches_1d_integrals(rate):
    p0, p1, delta, sd = 0.4, 0.6, 1.1, 0.9
    base = GM([[0.0], [delta]], cov=sd**2, priors=[p0, p1])
    noisy = LN(base, rate)

    def noisy_eta(x):
        a, b = p0 * stats.norm.pdf(x, 0, sd), p1 * stats.norm.pdf(x, delta, sd)
        eta1 = b / (a + b)
        return rate * (1 - eta1) + (1 - rate) * eta1, a + b

    def ent(x):
        q, dens = noisy_eta(x)
        return dens * -(special.xlogy(q, q) + special.xlogy(1 - q, 1 - q))

    def top(x):
        q, dens = noisy_eta(x)
        return dens * max(q, 1 - q)

    kw = dict(epsabs=1e-14, epsrel=1e-12, limit=500)
    crossing = delta / 2 + sd**2 * math.log(p0 / p1) / delta
    h_ref = integrate.quad(ent, -30, 30, points=[crossing], **kw)[0]
    a_ref = integrate.quad(top, -30, 30, points=[crossing], **kw)[0]
    h, acc = noisy.conditional_entropy(), noisy.bayes_accuracy()
    assert (h.method, acc.method) == ("quadrature", "exact")
    # quad error ~1e-13; the library's quadrature claims 1e-12
    assert h.value == pytest.approx(h_ref, abs=1e-11)
    assert acc.value == pytest.approx(a_ref, abs=1e-11)


def test_two_class_gaussian_quadrature_matches_monte_carlo():
    noisy = LN(GM.shifted(20, shift=0.3), 0.15)
    X, y = noisy.sample(200_000, rng=11)
    eta = noisy.posterior(X)
    nll = -np.log(eta[np.arange(len(y)), y])  # E[-log eta~_Y(X)] = H(Y~|X)
    within(noisy.conditional_entropy(), nll.mean(), reference_se=nll.std() / math.sqrt(len(y)))
    correct = noisy.predict_bayes(X) == y
    within(noisy.bayes_accuracy(), correct.mean(),
           reference_se=correct.std() / math.sqrt(len(y)))


def test_symmetric_accuracy_is_affine_in_the_base_accuracy():
    base = GM.orthogonal(4, separation=2.0)
    noisy = LN(base, 0.3, kind="symmetric")
    acc = noisy.bayes_accuracy()
    assert acc.method == "quadrature"  # inherited from the base's closed form
    assert acc.value == pytest.approx(0.1 + 0.6 * base.bayes_accuracy().value, rel=1e-14)
    X, y = noisy.sample(200_000, rng=12)
    correct = noisy.predict_bayes(X) == y
    within(acc, correct.mean(), reference_se=correct.std() / math.sqrt(len(y)))


# -- Monte Carlo path --------------------------------------------------------------------------


@pytest.mark.parametrize("kind, rate", [("pair", 0.3), ("symmetric", 0.9)])
def test_monte_carlo_path_matches_label_frequencies(kind, rate):
    noisy = LN(BASE4, rate, kind=kind, rng=13)
    h = noisy.conditional_entropy(n_samples=100_000, rng=14)
    acc = noisy.bayes_accuracy(n_samples=100_000, rng=14)
    assert h.method == acc.method == "monte-carlo" and h.n_samples == 100_000
    assert h == noisy.conditional_entropy(n_samples=100_000, rng=14)
    X, y = noisy.sample(100_000, rng=15)
    eta = noisy.posterior(X)
    nll = -np.log(eta[np.arange(len(y)), y])
    within(h, nll.mean(), reference_se=nll.std() / math.sqrt(len(y)))
    correct = noisy.predict_bayes(X) == y
    within(acc, correct.mean(), reference_se=correct.std() / math.sqrt(len(y)))
    err = noisy.bayes_error(n_samples=100_000, rng=14)
    assert err.value == pytest.approx(1 - acc.value, abs=1e-15)


def test_monte_carlo_keywords_are_validated_even_when_unused():
    noisy = LN(oc.OverlappingUniform(4, overlap=0.5), 0.2, rng=0)
    with pytest.raises(ValueError, match="'n_samples' parameter of LabelNoise.conditional_entr"):
        noisy.conditional_entropy(n_samples=1)
    with pytest.raises(TypeError, match="'rng' parameter"):
        noisy.bayes_accuracy(rng=np.random.RandomState(0))


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda: LN("gaussian", 0.1), TypeError,
     "'base' parameter of LabelNoise must be an overlapcal Distribution. Got str"),
    (lambda: LN(BASE4, -0.1), ValueError, r"'rate' parameter of LabelNoise .* in \[0.0, 1.0\]"),
    (lambda: LN(BASE4, 1.5), ValueError, "'rate'"),
    (lambda: LN(BASE4, np.nan), ValueError, "'rate'"),
    (lambda: LN(BASE4, True), ValueError, "'rate'"),
    (lambda: LN(BASE4, "0.1"), ValueError, "'rate'"),
    (lambda: LN(BASE4, 0.1, kind="pairs"), ValueError, "'kind' .* one of 'pair', 'symmetric'"),
    (lambda: LN(BASE4, 0.1, rng=np.random.RandomState(0)), TypeError, "RandomState"),
    (lambda: LN(BASE4, 0.1, kind="symmetric", rng="x"), TypeError, "'rng' parameter"),
    (lambda: LN(BASE4, 0.1, rng=0).sample(-1), ValueError, "'n' parameter of LabelNoise.sample"),
    (lambda: LN(BASE4, 0.1, rng=0).posterior(np.ones((2, 3))), ValueError,
     "'X' parameter of LabelNoise.posterior"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
