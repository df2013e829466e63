"""Tests of oc.GaussianMixture (THEORY.md 4.2) against independent oracles.

Oracles: Bayes' rule with scipy.stats.multivariate_normal densities, 1-D scipy quadrature of the
defining integrals, mpmath at 30+ digits, and Monte Carlo within 4 standard errors (a fixed seed
makes every check deterministic; 4 se would be exceeded by chance with probability 6e-5).
"""

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

import overlapcal as oc
from overlapcal.distributions import gaussian as gaussian_module

GM = oc.GaussianMixture


# -- helpers (oracles) -------------------------------------------------------------------------


def brute_class_log_density(means, cov, X):
    """log N(x; mu_c, Sigma) with scipy's density, class by class."""
    cov = np.eye(means.shape[1]) * (1.0 if cov is None else cov) if np.ndim(cov) == 0 else cov
    return np.column_stack([
        stats.multivariate_normal(mean=mu, cov=cov).logpdf(X).reshape(-1) for mu in means
    ])


def brute_log_joint(means, cov, priors, X):
    """log p_c + log N(x; mu_c, Sigma)."""
    with np.errstate(divide="ignore"):
        return brute_class_log_density(means, cov, X) + np.log(priors)


def spd_matrix(d, seed):
    A = np.random.default_rng(seed).standard_normal((d, d))
    return A @ A.T + d * np.eye(d)


def within(estimate, reference, n_se=4.0, reference_se=0.0):
    """|estimate - reference| <= n_se combined standard errors."""
    se = math.hypot(estimate.stderr if hasattr(estimate, "stderr") else 0.0, reference_se)
    value = float(estimate)
    assert abs(value - reference) <= n_se * se, (value, reference, se)


def quad_1d(func, lo=-40.0, hi=40.0, points=None):
    return integrate.quad(func, lo, hi, points=points, epsabs=1e-14, epsrel=1e-12, limit=500)[0]


# -- posterior, densities, sampling ----------------------------------------------------------------

CASES = {
    "identity": (np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [3.0, 1.0, -1.0]]), None, None),
    "scalar": (np.array([[0.0, 1.0, 0.0], [1.0, -2.0, 0.5], [0.0, 1.0, -1.0]]), 2.5,
               np.array([0.2, 0.5, 0.3])),
    "full": (np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [3.0, 1.0, -1.0], [0.5, 0.5, 0.5]]),
             spd_matrix(3, 0), np.array([0.1, 0.4, 0.25, 0.25])),
    "zero-prior": (np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [3.0, 1.0, -1.0]]),
                   spd_matrix(3, 1), np.array([0.0, 0.6, 0.4])),
}


@pytest.mark.parametrize("case", list(CASES))
def test_posterior_and_densities_match_bayes_rule(case):
    means, cov, priors = CASES[case]
    gm = GM(means, cov=cov, priors=priors)
    X = np.random.default_rng(1).normal(scale=3.0, size=(200, 3))
    log_joint = brute_log_joint(means, cov, gm.priors, X)
    log_marginal = special.logsumexp(log_joint, axis=1)
    # float64 rounding of the cancelled quadratic terms is ~eps * ||x||^2_Sigma ~ 1e-13.
    np.testing.assert_allclose(gm.posterior(X), np.exp(log_joint - log_marginal[:, None]),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gm.class_log_density(X), brute_class_log_density(means, cov, X),
                               rtol=1e-11)
    np.testing.assert_allclose(gm.log_marginal_density(X), log_marginal, rtol=1e-11)
    expected_log_post = log_joint - log_marginal[:, None]
    finite = np.isfinite(expected_log_post)
    log_post = gm.log_posterior(X)
    np.testing.assert_array_equal(np.isfinite(log_post), finite)
    np.testing.assert_allclose(log_post[finite], expected_log_post[finite], rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(gm.predict_bayes(X), np.argmax(log_joint, axis=1))


@given(
    k=st.integers(2, 5), d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
    log_var=st.floats(-2.0, 2.0),
)
def test_posterior_property_random_mixtures(k, d, seed, log_var):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=2.0, size=(k, d))
    priors = rng.dirichlet(np.ones(k))
    priors /= priors.sum()
    gm = GM(means, cov=math.exp(log_var), priors=priors)
    X = rng.normal(scale=3.0, size=(20, d))
    expected = special.softmax(brute_log_joint(means, math.exp(log_var), gm.priors, X), axis=1)
    np.testing.assert_allclose(gm.posterior(X), expected, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(gm.posterior(X).sum(axis=1), 1.0, rtol=1e-14)


def test_block_size_and_sparse_path_do_not_change_results(monkeypatch):
    assert GM.orthogonal(100)._sparse_weights_t is not None  # 1% non-zero: sparse by default
    assert GM.orthogonal(6)._sparse_weights_t is None
    means = GM.orthogonal(6, n_features=8, separation=2.0).means
    X = np.random.default_rng(2).normal(size=(50, 8))
    cov = spd_matrix(8, 2)

    def results():
        iso, full = GM(means), GM(means, cov=cov)
        return [iso.log_posterior(X), iso.class_log_density(X), full.log_posterior(X),
                full.class_log_density(X)], iso._sparse_weights_t is not None

    monkeypatch.setattr(gaussian_module, "_SPARSE_FRACTION", 1.0)  # force sparse
    reference, used_sparse = results()
    assert used_sparse
    monkeypatch.setattr(gaussian_module, "_BLOCK_ELEMENTS", 16)  # blocks of 2 rows
    monkeypatch.setattr(gaussian_module, "_SPARSE_FRACTION", -1.0)  # force dense matmul
    again, used_sparse = results()
    assert not used_sparse
    for a, b in zip(reference, again):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_float32_and_empty_inputs():
    gm = GM.orthogonal(3)
    X32 = np.ones((4, 3), dtype=np.float32)
    np.testing.assert_allclose(gm.posterior(X32), gm.posterior(X32.astype(np.float64)))
    assert gm.posterior(np.empty((0, 3))).shape == (0, 3)
    X, y = gm.sample(0, rng=0)
    assert X.shape == (0, 3) and y.shape == (0,)


def test_sample_is_seeded_and_has_the_right_moments():
    cov = spd_matrix(3, 3) / 3
    priors = np.array([0.2, 0.3, 0.5])
    gm = GM(CASES["identity"][0], cov=cov, priors=priors)
    n = 200_000
    X, y = gm.sample(n, rng=7)
    X2, y2 = gm.sample(n, rng=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(gm.sample(10, rng=8)[0], X[:10])
    assert y.dtype == np.intp and X.dtype == np.float64
    # class frequencies: binomial standard error
    freq = np.bincount(y, minlength=3) / n
    assert np.all(np.abs(freq - priors) <= 4 * np.sqrt(priors * (1 - priors) / n))
    # class means: standard error sqrt(Sigma_ii / n_c)
    for c in range(3):
        Xc = X[y == c]
        se = np.sqrt(np.diag(cov) / len(Xc))
        assert np.all(np.abs(Xc.mean(axis=0) - gm.means[c]) <= 4 * se)
    # covariance of the residuals: se of entry (i, j) is sqrt((S_ii S_jj + S_ij^2) / n)
    R = X - gm.means[y]
    emp = R.T @ R / n
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(emp - cov) <= 4 * se)


def test_sampled_labels_match_posterior_in_log_odds_bins():
    gm = GM([[0.0, 0.0, 0.0, 0.0, 0.0], [0.6, 0.0, 0.3, 0.0, 0.2]], cov=0.25,
            priors=[0.3, 0.7])
    X, y = gm.sample(200_000, rng=3)
    eta = gm.posterior(X)[:, 1]
    log_odds = np.log(eta) - np.log1p(-eta)
    edges = np.quantile(log_odds, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, log_odds, side="right") - 1, 0, 9)
    # Given X, y ~ Bernoulli(eta): sum(y - eta) has variance sum(eta (1 - eta)) per bin.
    resid = np.bincount(bins, weights=(y == 1) - eta, minlength=10)
    var = np.bincount(bins, weights=eta * (1 - eta), minlength=10)
    assert np.all(np.abs(resid) <= 4 * np.sqrt(var)), resid / np.sqrt(var)


def test_sampled_labels_match_posterior_per_class():
    means, cov, priors = CASES["full"]
    gm = GM(means, cov=cov / 4, priors=priors)
    X, y = gm.sample(100_000, rng=4)
    eta = gm.posterior(X)
    resid = np.bincount(y, minlength=4) - eta.sum(axis=0)
    assert np.all(np.abs(resid) <= 4 * np.sqrt((eta * (1 - eta)).sum(axis=0)))


# -- THEORY.md 4.2: reference table and two-class closed forms --------------------------------------


@pytest.mark.parametrize("mu, D, error, entropy", [
    (0.25, "4.330", "0.0152", "0.0410"),
    (0.10, "1.732", "0.1932", "0.4178"),
    (0.05, "0.866", "0.3325", "0.6073"),
    (0.01, "0.173", "0.4655", "0.6894"),
])
def test_theory_reference_table(mu, D, error, entropy):
    gm = GM.shifted(shift=mu)
    assert gm.n_features == 300
    assert f"{gm.mahalanobis_distances()[0, 1]:.3f}" == D
    err, h = gm.bayes_error(), gm.conditional_entropy()
    assert (err.method, h.method) == ("exact", "quadrature")
    assert f"{err.value:.4f}" == error
    assert f"{h.value:.4f}" == entropy
    assert gm.bayes_accuracy().value == pytest.approx(1 - err.value, abs=1e-15)


@pytest.mark.parametrize("priors", [[0.5, 0.5], [0.3, 0.7], [0.95, 0.05]])
@pytest.mark.parametrize("delta, variance", [(1.3, 0.8), (0.05, 1.0), (6.0, 0.5)])
def test_two_class_closed_forms_match_1d_quadrature(priors, delta, variance):
    # d = 1: integrate the definitions directly in x (no log-odds argument involved).
    gm = GM([[0.0], [delta]], cov=variance, priors=priors)
    p0, p1 = priors
    sd = math.sqrt(variance)
    f0 = lambda x: p0 * stats.norm.pdf(x, 0.0, sd)  # noqa: E731
    f1 = lambda x: p1 * stats.norm.pdf(x, delta, sd)  # noqa: E731

    def cond_entropy(x):
        a, b = f0(x), f1(x)
        return -(special.xlogy(a, a / (a + b)) + special.xlogy(b, b / (a + b)))

    lo, hi = -30 * sd, delta + 30 * sd
    crossing = 0.5 * delta + variance * math.log(p0 / p1) / delta
    points = [crossing] if lo < crossing < hi else None
    error = quad_1d(lambda x: min(f0(x), f1(x)), lo, hi, points)
    entropy = quad_1d(cond_entropy, lo, hi, points)
    # quad's absolute error is ~1e-13 here; our closed form/quadrature claim is 1e-12.
    assert gm.bayes_error().value == pytest.approx(error, abs=1e-11)
    assert gm.conditional_entropy().value == pytest.approx(entropy, abs=1e-11)


@pytest.mark.parametrize("D, p1", [(0.01, 0.5), (1.0, 0.2), (8.0, 0.5), (15.0, 0.1),
                                   (30.0, 0.6), (3.0, 1e-6)])
def test_two_class_entropy_matches_mpmath(D, p1):
    gm = GM([[0.0], [D]], priors=[1 - p1, p1])
    with mp.workdps(40):
        reference = _mp_two_class_entropy(D, p1)
    # The documented accuracy: absolute 1e-13, and relative 1e-12 while H > 1e-20.
    value = gm.conditional_entropy().value
    assert abs(value - reference) <= (1e-12 * reference if reference > 1e-20 else 1e-13)


def _mp_two_class_entropy(D, p1):
    """sum_y p_y E[H(sigma(lambda)) | y] integrated in lambda, the log-odds, with mpmath."""
    D, p1 = mp.mpf(D), mp.mpf(p1)
    t = mp.log(p1 / (1 - p1))

    def h_sigmoid(lam):  # H(sigma(lam)) with -log sigma(lam) = log1p(exp(-lam)), no 0 * log 0
        return (mp.log1p(mp.exp(-lam)) / (1 + mp.exp(-lam))
                + mp.log1p(mp.exp(lam)) / (1 + mp.exp(lam)))

    def density(lam):
        return (p1 * mp.npdf(lam, t + D**2 / 2, D) + (1 - p1) * mp.npdf(lam, t - D**2 / 2, D))

    # h decays like |lam| e^-|lam|: beyond |lam| = 200 nothing is left at 40 digits.
    points = sorted({-200, -50, -10, 0, 10, 50, 200} | {
        m for m in (t + D**2 / 2, t - D**2 / 2) if -200 < m < 200})
    return float(mp.quad(lambda lam: h_sigmoid(lam) * density(lam), points))


def test_full_covariance_two_class_matches_monte_carlo():
    gm = GM([[0.0, 0.0, 0.0], [1.0, -0.5, 0.3]], cov=spd_matrix(3, 4) / 6, priors=[0.35, 0.65])
    X, y = gm.sample(200_000, rng=5)
    eta = gm.posterior(X)
    err = gm.bayes_error()
    correct = gm.predict_bayes(X) == y
    within(err, 1 - correct.mean(), reference_se=correct.std() / math.sqrt(len(y)))
    nll = -np.log(eta[np.arange(len(y)), y])  # E[-log eta_Y(X)] = H(Y|X)
    within(gm.conditional_entropy(), nll.mean(), reference_se=nll.std() / math.sqrt(len(y)))


def test_degenerate_two_class_cases():
    same = GM([[1.0, 2.0], [1.0, 2.0]], priors=[0.3, 0.7])
    assert same.bayes_error().value == pytest.approx(0.3, abs=1e-15)
    h = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    assert same.conditional_entropy().value == pytest.approx(h, abs=1e-15)
    one_class = GM([[0.0], [1.0]], priors=[0.0, 1.0])
    assert one_class.bayes_error().value == 0.0
    assert one_class.conditional_entropy().value == 0.0


# -- equidistant layouts ------------------------------------------------------------------------


def equidistant_full_cov():
    # Orthogonal means pushed through A with Sigma = A A^T: Mahalanobis distances all r sqrt(2).
    A = np.linalg.cholesky(spd_matrix(5, 6))
    return GM(2.0 * np.eye(5) @ A.T, cov=A @ A.T)


@pytest.mark.parametrize("make", [
    lambda: GM.orthogonal(5, separation=1.5),
    lambda: GM.simplex(4, n_features=6, separation=2.5, sigma=1.5),
    lambda: GM.orthogonal(12, n_features=14, separation=3.0),
    equidistant_full_cov,
], ids=["orthogonal5", "simplex4", "orthogonal12", "full-cov"])
def test_equidistant_accuracy_matches_monte_carlo(make):
    gm = make()
    acc = gm.bayes_accuracy()
    assert acc.method == "quadrature" and acc.stderr == 0.0
    X, y = gm.sample(200_000, rng=9)
    correct = gm.predict_bayes(X) == y
    within(acc, correct.mean(), reference_se=correct.std() / math.sqrt(len(y)))
    # and against E[max eta] with the library's own Monte Carlo route
    mc = oc.distributions.base.monte_carlo_mean(
        lambda Z: gm.posterior(Z).max(axis=1), gm, 200_000, 10, "test")
    within(mc, acc.value)


@pytest.mark.parametrize("k", [3, 10, 1000])
@pytest.mark.parametrize("delta", [0.5, 3.0, 20.0, 30.0])  # 30: errors ~1e-100
def test_equidistant_error_matches_mpmath(k, delta):
    gm = GM.orthogonal(k, separation=delta)  # Delta = r / sigma = delta
    with mp.workdps(50):
        d = mp.mpf(delta)

        def integrand(z):  # phi(z) (1 - Phi(z + Delta)^(k-1)), complement kept exact
            return mp.npdf(z) * -mp.expm1((k - 1) * mp.log1p(-mp.ncdf(-(z + d))))

        # The integrand lives on [-Delta/2 - 12, sqrt(2 log k) + 12] (tails below 1e-30
        # relative); finite pieces of width <= 2 keep mpmath's tanh-sinh accurate.
        lo, hi = -d / 2 - 12, mp.sqrt(2 * mp.log(k)) + 12
        ref = float(mp.quad(integrand, mp.linspace(lo, hi, int((hi - lo) / 2) + 2)))
    assert gm.bayes_error().value == pytest.approx(ref, rel=1e-12)


def test_orthogonal_and_simplex_with_the_same_separation_agree():
    for k in (2, 3, 7):
        ortho = GM.orthogonal(k, separation=1.7, sigma=0.8)
        simp = GM.simplex(k, separation=1.7, sigma=0.8)
        assert simp.n_features == k - 1
        np.testing.assert_allclose(simp.means.sum(axis=0), 0.0, atol=1e-14)
        np.testing.assert_allclose(simp.mahalanobis_distances(), ortho.mahalanobis_distances(),
                                   rtol=1e-13, atol=1e-14)
        assert simp.bayes_accuracy().value == pytest.approx(ortho.bayes_accuracy().value,
                                                            rel=1e-12)
    # Only separation / sigma matters.
    assert GM.orthogonal(4, separation=3.0, sigma=2.0).bayes_error().value == pytest.approx(
        GM.orthogonal(4, separation=1.5).bayes_error().value, rel=1e-12)
    # Separation 0: all means equal, A* = 1/k.
    assert GM.orthogonal(5, separation=0.0).bayes_accuracy().value == pytest.approx(0.2, abs=1e-13)


def test_layout_geometry():
    ortho = GM.orthogonal(3, n_features=5, separation=2.0)
    np.testing.assert_array_equal(ortho.means[:, :3], 2.0 * np.eye(3))
    np.testing.assert_array_equal(ortho.means[:, 3:], 0.0)
    assert ortho.cov == 1.0
    pairs = GM.pairs(6, separation=1.5, pair_distance=12.0, sigma=2.0)
    D = pairs.mahalanobis_distances() * 2.0  # back to Euclidean (sigma = 2)
    same_pair = np.kron(np.eye(3), np.ones((2, 2))).astype(bool)
    np.testing.assert_allclose(D[same_pair & ~np.eye(6, dtype=bool)], 1.5, rtol=1e-13)
    np.testing.assert_allclose(D[~same_pair], math.sqrt(12.0**2 + 1.5**2 / 2), rtol=1e-13)
    centres = (pairs.means[0::2] + pairs.means[1::2]) / 2
    assert np.linalg.norm(centres[0] - centres[1]) == pytest.approx(12.0, rel=1e-14)
    # default pair distance: cross-pair bound (k - 2) Phi(-P / (2 sigma)) = 1e-15
    default = GM.pairs(10, separation=1.0, sigma=0.5)
    P = np.linalg.norm((default.means[0] + default.means[1] - default.means[2]
                        - default.means[3]) / 2)
    assert P == pytest.approx(1.0 + 2 * 0.5 * -special.ndtri(1e-15 / 8), rel=1e-12)
    assert 8 * special.ndtr(-P / (2 * 0.5)) <= 1.0001e-15
    assert GM.pairs(2).n_features == 2


def test_pairs_bayes_error_is_within_the_stated_bounds():
    s, sigma = 1.2, 1.0
    gm = GM.pairs(4, separation=s, pair_distance=4.0)  # cross-pair bound 2 Phi(-2) = 0.045
    err = gm.bayes_error(n_samples=200_000, rng=11)
    assert err.method == "monte-carlo" and err.stderr > 0
    low = special.ndtr(-s / (2 * sigma))
    high = low + 2 * special.ndtr(-4.0 / 2)
    assert low - 4 * err.stderr <= err.value <= high + 4 * err.stderr
    assert err.value > low + 4 * err.stderr  # the cross-pair overlap is visible at P = 4


def test_mahalanobis_distances_full_covariance():
    means, cov, priors = CASES["full"]
    gm = GM(means, cov=cov, priors=priors)
    inv = np.linalg.inv(cov)
    diff = means[:, None, :] - means[None, :, :]
    expected = np.sqrt(np.einsum("ijk,kl,ijl->ij", diff, inv, diff))
    np.testing.assert_allclose(gm.mahalanobis_distances(), expected, rtol=1e-12, atol=1e-12)


# -- with_bayes_error -------------------------------------------------------------------------------


@pytest.mark.parametrize("layout, k", [("orthogonal", 2), ("orthogonal", 3), ("simplex", 10),
                                       ("shifted", 2), ("orthogonal", 50)])
@pytest.mark.parametrize("target", [0.3, 1e-3, 1e-40])
def test_with_bayes_error_round_trip(layout, k, target):
    kwargs = {"n_features": 20} if layout == "shifted" else {"sigma": 0.7}
    gm = GM.with_bayes_error(layout, target, n_classes=k, **kwargs)
    if layout == "shifted":
        assert gm.n_features == 20
    else:
        assert gm.cov == pytest.approx(0.49)
    err = gm.bayes_error()
    assert err.value == pytest.approx(target, rel=1e-10)


def test_with_bayes_error_near_the_top_of_the_range():
    gm = GM.with_bayes_error("orthogonal", 2 / 3 - 1e-6, n_classes=3)
    assert gm.bayes_error().value == pytest.approx(2 / 3 - 1e-6, rel=1e-10)


def test_with_bayes_error_pairs():
    gm = GM.with_bayes_error("pairs", 0.1, n_classes=4, sigma=2.0)
    s = np.linalg.norm(gm.means[0] - gm.means[1])
    assert special.ndtr(-s / (2 * 2.0)) == pytest.approx(0.1, rel=1e-12)
    err = gm.bayes_error(n_samples=200_000, rng=12)
    within(err, 0.1)  # the cross-pair term is below 1e-15 with the default pair distance
    with pytest.raises(ValueError, match="'pair_distance' parameter .* cross-pair"):
        GM.with_bayes_error("pairs", 0.1, n_classes=4, pair_distance=3.0)


# -- Monte Carlo fallback and interface ----------------------------------------------------------


def test_monte_carlo_fallback_matches_1d_quadrature():
    priors = np.array([0.2, 0.5, 0.3])
    mus, sd = np.array([0.0, 1.0, 2.5]), 0.9
    gm = GM(mus[:, None], cov=sd**2, priors=priors)

    def joint(x):
        return priors * stats.norm.pdf(x, mus, sd)

    def max_joint(x):
        return joint(x).max()

    def ent(x):
        j = joint(x)
        return -special.xlogy(j, j / j.sum()).sum()

    acc_ref = quad_1d(max_joint, -30, 30, points=[0.5, 1.75])
    ent_ref = quad_1d(ent, -30, 30, points=[0.5, 1.75])
    acc = gm.bayes_accuracy(n_samples=200_000, rng=13)
    ent_est = gm.conditional_entropy(n_samples=200_000, rng=13)
    assert acc.method == ent_est.method == "monte-carlo"
    assert acc.n_samples == 200_000
    within(acc, acc_ref)
    within(ent_est, ent_ref)
    within(gm.bayes_error(n_samples=200_000, rng=14), 1 - acc_ref)
    assert gm.bayes_accuracy(n_samples=1000, rng=3) == gm.bayes_accuracy(n_samples=1000, rng=3)
    assert gm.bayes_accuracy(n_samples=1000, rng=3) != gm.bayes_accuracy(n_samples=1000, rng=4)


def test_closed_forms_ignore_monte_carlo_keywords_but_validate_them():
    gm = GM.orthogonal(3)
    assert gm.bayes_error(n_samples=10, rng=1) == gm.bayes_error()
    with pytest.raises(ValueError, match="'n_samples' parameter of GaussianMixture.bayes_error"):
        gm.bayes_error(n_samples=1)
    with pytest.raises(TypeError, match="'rng' parameter"):
        gm.conditional_entropy(rng="seed")
    with pytest.raises(ValueError, match="'n_samples' parameter of GaussianMixture.bayes_accur"):
        gm.bayes_accuracy(n_samples=0.5)


def test_permuting_classes_permutes_posterior_and_keeps_ground_truth():
    means, cov, priors = CASES["full"]
    perm = np.array([2, 0, 3, 1])
    gm = GM(means, cov=cov, priors=priors)
    gp = GM(means[perm], cov=cov, priors=priors[perm])
    X = np.random.default_rng(15).normal(size=(100, 3))
    np.testing.assert_allclose(gp.posterior(X), gm.posterior(X)[:, perm], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gp.mahalanobis_distances(),
                               gm.mahalanobis_distances()[np.ix_(perm, perm)], atol=1e-12)
    two = GM(means[:2], cov=cov, priors=[0.3, 0.7])
    swapped = GM(means[1::-1], cov=cov, priors=[0.7, 0.3])
    assert swapped.bayes_error().value == pytest.approx(two.bayes_error().value, abs=1e-15)
    assert swapped.conditional_entropy().value == pytest.approx(
        two.conditional_entropy().value, abs=1e-14)


def test_attributes_are_read_only_and_repr():
    gm = GM([[0.0, 1.0], [1.0, 0.0]], cov=[[2.0, 0.5], [0.5, 1.0]])
    for array in (gm.means, gm.priors, gm.cov):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1.0
    assert repr(gm) == "GaussianMixture(n_classes=2, n_features=2, cov=<full matrix>)"
    assert repr(GM.orthogonal(3)) == "GaussianMixture(n_classes=3, n_features=3, cov=1.0)"
    assert GM([[0.0], [1.0]], cov=np.float64(2.0)).cov == 2.0
    assert GM([[0.0], [1.0]], cov=np.array(2.0)).cov == 2.0


# -- error branches -------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    ({"means": [0.0, 1.0]}, ValueError, "'means' parameter of GaussianMixture must be a 2-D"),
    ({"means": [[0.0, 1.0]]}, ValueError, "'means' .* at least 2 rows"),
    ({"means": [[0.0], [np.nan]]}, ValueError, "'means' .* finite"),
    ({"means": [["a"], ["b"]]}, ValueError, "'means' .* real numbers"),
    ({"cov": 0.0}, ValueError, "'cov' parameter of GaussianMixture must be a finite real .* > 0"),
    ({"cov": -1.0}, ValueError, "'cov' parameter"),
    ({"cov": np.inf}, ValueError, "'cov' parameter"),
    ({"cov": True}, ValueError, "'cov' parameter"),
    ({"cov": [1.0, 2.0]}, ValueError, r"'cov' parameter .* a \(2, 2\) symmetric positive-def"),
    ({"cov": np.eye(3)}, ValueError, r"'cov' .* \(2, 2\) matrix .* shape \(3, 3\)"),
    ({"cov": [[1.0, 0.5], [0.4, 1.0]]}, ValueError, "'cov' .* symmetric"),
    ({"cov": [[1.0, 1.0], [1.0, 1.0]]}, ValueError, "'cov' .* positive definite .* singular"),
    ({"cov": [[1.0, 0.0], [0.0, -1.0]]}, ValueError, "'cov' .* positive definite"),
    ({"cov": [[1.0, np.nan], [np.nan, 1.0]]}, ValueError, "'cov' .* finite"),
    ({"priors": [0.5, 0.3]}, ValueError, "'priors' .* sum to 1 within 1e-10 .* 0.8"),
    ({"priors": [1.2, -0.2]}, ValueError, "'priors' .* non-negative"),
    ({"priors": [0.5, 0.5, 0.0]}, ValueError, r"'priors' .* one entry per class \(2\)"),
    ({"priors": [[0.5, 0.5]]}, ValueError, "'priors' .* 1-D"),
    ({"priors": [0.5, np.nan]}, ValueError, "'priors' .* finite"),
])
def test_constructor_errors(kwargs, error, match):
    args = {"means": [[0.0, 0.0], [1.0, 1.0]], **kwargs}
    with pytest.raises(error, match=match):
        GM(**args)


@pytest.mark.parametrize("call, error, match", [
    (lambda: GM.orthogonal(1), ValueError, "'n_classes' parameter of GaussianMixture.orthogonal"),
    (lambda: GM.orthogonal(2.0), ValueError, "'n_classes' .* an int"),
    (lambda: GM.orthogonal(4, n_features=3), ValueError, "'n_features' .* >= 4"),
    (lambda: GM.orthogonal(3, separation=-1.0), ValueError, "'separation' .* >= 0"),
    (lambda: GM.orthogonal(3, sigma=0.0), ValueError, "'sigma' .* > 0"),
    (lambda: GM.simplex(4, n_features=2), ValueError, "'n_features' parameter of Gaussian"
                                                      r"Mixture.simplex must be an int >= 3"),
    (lambda: GM.simplex(3, separation=np.nan), ValueError, "'separation'"),
    (lambda: GM.pairs(3), ValueError, "'n_classes' parameter of GaussianMixture.pairs must be an"
                                      " even int"),
    (lambda: GM.pairs(4, pair_distance=-1.0), ValueError, "'pair_distance' .* >= 0"),
    (lambda: GM.pairs(4, n_features=3), ValueError, "'n_features'"),
    (lambda: GM.shifted(shift=np.inf), ValueError, "'shift' parameter of GaussianMixture.shifted"),
    (lambda: GM.shifted(0, shift=0.1), ValueError, "'n_features' .* >= 1"),
    (lambda: GM.shifted(), TypeError, "shift"),
    (lambda: GM.with_bayes_error("grid", 0.1), ValueError, "'layout' .* one of 'orthogonal'"),
    (lambda: GM.with_bayes_error("simplex", 0.1, n_classes=1), ValueError,
     "'n_classes' parameter of GaussianMixture.with_bayes_error"),
    (lambda: GM.with_bayes_error("orthogonal", 0.5), ValueError,
     r"'target' .* in \[1e-100, 0.5\)"),
    (lambda: GM.with_bayes_error("orthogonal", 0.0, n_classes=3), ValueError,
     r"'target' .* \[1e-100, 0.666667\)"),
    (lambda: GM.with_bayes_error("simplex", -0.1), ValueError, "'target'"),
    (lambda: GM.with_bayes_error("simplex", "0.1"), ValueError, "'target'"),
    (lambda: GM.with_bayes_error("simplex", np.nan), ValueError, "'target'"),
    (lambda: GM.with_bayes_error("pairs", 0.6, n_classes=4), ValueError, r"'target' .* 0.5\)"),
    (lambda: GM.with_bayes_error("shifted", 0.1, n_classes=3), ValueError,
     "'n_classes' .* 2 for the 'shifted' layout"),
    (lambda: GM.with_bayes_error("pairs", 0.1, n_classes=3), ValueError, "even int"),
    (lambda: GM.with_bayes_error("orthogonal", 0.1, separation=2.0), TypeError,
     "solves for 'separation'"),
    (lambda: GM.with_bayes_error("shifted", 0.1, shift=2.0), TypeError, "solves for 'shift'"),
    (lambda: GM.with_bayes_error("orthogonal", 0.1, sigma=-1.0), ValueError, "'sigma'"),
    (lambda: GM.with_bayes_error("orthogonal", 0.1, colour=1), TypeError, "colour"),
    (lambda: GM.orthogonal(2).sample(-1), ValueError, "'n' parameter of GaussianMixture.sample"),
    (lambda: GM.orthogonal(2).sample(3, rng=np.random.RandomState(0)), TypeError, "RandomState"),
    (lambda: GM.orthogonal(2).posterior(np.ones((3, 3))), ValueError, "'X' .* 2 feature"),
    (lambda: GM.orthogonal(2).posterior(np.ones(2)), ValueError, "'X' .* 2-D"),
])
def test_layout_and_call_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- scale ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_scale_k1000_d1000_n1e5():
    gm = GM.orthogonal(1000, separation=3.0)
    X, y = gm.sample(100_000, rng=0)
    P = gm.posterior(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    accuracy = (P.argmax(axis=1) == y).mean()
    within(gm.bayes_accuracy(), accuracy, reference_se=math.sqrt(0.25 / 100_000))
