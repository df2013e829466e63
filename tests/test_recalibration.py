"""Tests of overlapcal.recalibration: temperature scaling that converges, vector scaling, binning.

Oracles are independent of the library code: NLLs and gradients written naively with
scipy.special (in float64 or x87 long double), scipy root finding and minimisation, closed
forms for interpolating logits, and brute-force loops for histogram binning.
"""

import math
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax, softmax

import overlapcal as oc
from overlapcal import recalibration as R
from overlapcal.recalibration import CalibrationWarning

EPS = np.finfo(np.float64).eps


# ----------------------------------------------------------------------------------------
# Independent reference implementations
# ----------------------------------------------------------------------------------------


def planted(n, k, temperature, rng, scale=3.0):
    """Logits ``scale * N(0, 1)`` and labels drawn from ``softmax(z / T0)`` (Gumbel-max trick)."""
    z = scale * rng.standard_normal((n, k))
    y = np.argmax(z / temperature + rng.gumbel(size=(n, k)), axis=1)
    return z, y


def naive_nll(h, y, beta):
    return -np.mean(log_softmax(beta * h, axis=1)[np.arange(len(y)), y])


def naive_grad(h, y, beta):
    p = softmax(beta * h, axis=1)
    return np.mean((p * h).sum(axis=1) - h[np.arange(len(y)), y])


def ld_nll(h, y, beta):
    """NLL in x87 long double (about 3 more digits than float64)."""
    z = np.longdouble(beta) * h.astype(np.longdouble)
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return np.mean(lse - z[np.arange(len(y)), y])


def oracle_beta(h, y, grad=naive_grad):
    """Root of the (independently computed) NLL gradient by bracketing and Brent's method."""
    hi = 1.0
    while grad(h, y, hi) < 0:
        hi *= 2.0
    lo = hi / 2.0
    while grad(h, y, lo) > 0:
        lo /= 2.0
    return brentq(lambda b: grad(h, y, b), lo, hi, xtol=1e-300, rtol=8.9e-16, maxiter=500)


def fisher_stderr_beta(h, beta):
    """Asymptotic standard error of the MLE of beta: 1 / sqrt(n E[Var_p(h)])."""
    p = softmax(beta * h, axis=1)
    var = (p * h * h).sum(axis=1) - (p * h).sum(axis=1) ** 2
    return 1.0 / math.sqrt(h.shape[0] * var.mean())


def fit_quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        return estimator.fit(*args, **kwargs)


# ----------------------------------------------------------------------------------------
# NLL temperature scaling: correctness
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("t0", [0.5, 2.0, 10.0])
def test_planted_temperature_is_recovered(t0):
    rng = np.random.default_rng(int(100 * t0))
    z, y = planted(100_000, 10, t0, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    se = fisher_stderr_beta(z, 1.0 / t0)
    # The MLE of beta is asymptotically normal with this standard error; 4 se is a 6e-5
    # two-sided tail for a correct fit (and the seeds are fixed).
    assert abs(ts.beta_ - 1.0 / t0) < 4.0 * se
    assert ts.converged_ and ts.status_ == "converged"
    assert ts.temperature_ == pytest.approx(1.0 / ts.beta_, rel=1e-15)


def test_optimum_matches_root_of_independent_gradient():
    rng = np.random.default_rng(1)
    z, y = planted(5000, 7, 1.7, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    # Brent on the naive float64 gradient resolves the root to ~1e-15 relative; the solver
    # stops at a gradient of 16 sqrt(k) eps times the logit scale, i.e. ~1e-13 in beta here.
    assert ts.beta_ == pytest.approx(oracle_beta(z, y), rel=1e-11)
    assert ts.nll_ == pytest.approx(naive_nll(z, y, ts.beta_), rel=1e-13)


def test_optimum_matches_minimize_scalar_on_a_fine_bracket():
    rng = np.random.default_rng(2)
    z, y = planted(3000, 5, 0.8, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    b = ts.beta_
    res = minimize_scalar(lambda x: ld_nll(z, y, x), bounds=(0.99 * b, 1.01 * b),
                          method="bounded", options={"xatol": 1e-14})
    # Minimising a function locates its minimiser only to sqrt(rounding / curvature): with the
    # long-double NLL (eps 1.1e-19) that is ~1e-9 relative here, so 1e-8 is 10x margin.
    assert b == pytest.approx(res.x, rel=1e-8)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_and_hessian_match_finite_differences(soft, weighted):
    rng = np.random.default_rng(3)
    n, k = 400, 6
    h = 2.0 * rng.standard_normal((n, k))
    h[rng.random((n, k)) < 0.2] = -np.inf  # impossible classes (population use)
    h[:, 0] = np.where(np.isfinite(h[:, 0]), h[:, 0], 0.0)
    finite = np.isfinite(h)
    if soft:
        t = rng.random((n, k)) * finite
        t /= t.sum(axis=1, keepdims=True)
    else:
        t = np.array([rng.choice(np.flatnonzero(row)) for row in finite])
    w = rng.random(n) if weighted else None
    data = R._Data.from_arrays(h, t, w, allow_inf=True)
    total = float(n if w is None else w.sum())

    def loss(beta):  # naive, with the same masking rule: -inf logits have probability 0
        logp = log_softmax(np.where(finite, beta * np.where(finite, h, 0), -np.inf), axis=1)
        tt = np.eye(k)[t] if t.ndim == 1 else t
        with np.errstate(invalid="ignore"):  # 0 * -inf on impossible classes, masked out
            per = -np.where(tt > 0, tt * logp, 0.0).sum(axis=1)
        return np.average(per, weights=w)

    beta, step = 0.7, 1e-4
    ev = R._evaluate(data, beta, total)
    assert ev.loss == pytest.approx(loss(beta), rel=1e-14)
    # Central differences: truncation O(step^2 L''') ~ 1e-8, rounding eps L / step ~ 1e-12.
    fd_grad = (loss(beta + step) - loss(beta - step)) / (2 * step)
    assert ev.grad == pytest.approx(fd_grad, rel=1e-6)
    # Second difference: truncation O(step^2) ~ 1e-8, rounding 4 eps L / step^2 ~ 1e-8.
    fd_hess = (loss(beta + step) - 2 * loss(beta) + loss(beta - step)) / step**2
    assert ev.hess == pytest.approx(fd_hess, rel=1e-5)
    up, down = R._evaluate(data, beta + step, total), R._evaluate(data, beta - step, total)
    assert ev.hess == pytest.approx((up.grad - down.grad) / (2 * step), rel=1e-6)


def test_float32_input_gives_the_float64_temperature_where_float32_sees_a_flat_nll():
    """The peer bug: a float32 optimiser sees no change in the NLL near T = 1 and stops there."""
    rng = np.random.default_rng(4)
    z, y = planted(50_000, 10, 1.0, rng)
    b = oracle_beta(z, y)
    # Rescale so that the optimum is at T = 1 + 2e-4: NLL(T = 1) - NLL(T*) ~ H dbeta^2 / 2 ~ 2e-8,
    # below the float32 resolution (6e-8) of an NLL near 1.
    z32 = (z * (b / (1.0 + 2e-4))).astype(np.float32)
    z64 = z32.astype(np.float64)  # exactly the same numbers
    ts32 = fit_quiet(oc.TemperatureScaling(), z32, y)
    ts64 = fit_quiet(oc.TemperatureScaling(), z64, y)
    assert ts32.temperature_ == ts64.temperature_
    assert ts32.beta_ == pytest.approx(oracle_beta(z64, y), rel=1e-11)
    assert abs(ts32.temperature_ - 1.0) > 1e-4

    def nll32(temperature):  # what a float32 optimiser evaluates
        zz = z32 / np.float32(temperature)
        zz = zz - zz.max(axis=1, keepdims=True)
        lse = np.log(np.exp(zz).sum(axis=1, dtype=np.float32))
        return np.mean(lse - zz[np.arange(len(y)), y], dtype=np.float32)

    # The float32 loss cannot tell T = 1 from the optimum: the difference is a few ulps.
    assert abs(nll32(ts32.temperature_) - nll32(1.0)) <= 4 * np.finfo(np.float32).eps * nll32(1.0)
    assert ld_nll(z64, y, 1.0) - ld_nll(z64, y, ts64.beta_) > 0  # but there is one


def test_interpolating_logits_have_the_closed_form_optimum():
    """h = B e_yhat: NLL(beta) = -A log p - (1 - A) log((1 - p)/(k - 1)) is minimal at p = A."""
    rng = np.random.default_rng(5)
    n, k, margin = 10_000, 10, 15.0
    yhat = rng.integers(0, k, n)
    y = np.where(rng.random(n) < 0.6, yhat, (yhat + rng.integers(1, k, n)) % k)
    h = margin * np.eye(k)[yhat]
    acc = np.mean(y == yhat)
    ts = fit_quiet(oc.TemperatureScaling(), h, y)
    assert ts.beta_ == pytest.approx(math.log(acc * (k - 1) / (1 - acc)) / margin, rel=1e-12)
    p = ts.predict_proba(h)
    assert p[np.arange(n), yhat] == pytest.approx(np.full(n, acc), rel=1e-12)


def test_sample_weights_equal_repeated_rows_and_soft_onehot_equals_labels():
    rng = np.random.default_rng(6)
    z, y = planted(2000, 4, 1.3, rng)
    counts = rng.integers(0, 4, 2000)
    counts[0] = 1
    weighted = fit_quiet(oc.TemperatureScaling(), z, y, sample_weight=counts.astype(float))
    repeated = fit_quiet(
        oc.TemperatureScaling(), np.repeat(z, counts, axis=0), np.repeat(y, counts)
    )
    assert weighted.beta_ == pytest.approx(repeated.beta_, rel=1e-12)
    soft = fit_quiet(oc.TemperatureScaling(), z, np.eye(4)[y])
    assert soft.beta_ == pytest.approx(fit_quiet(oc.TemperatureScaling(), z, y).beta_, rel=1e-12)


def test_soft_targets_from_the_planted_model_give_its_temperature_exactly():
    """With t = softmax(beta0 h) the gradient vanishes exactly at beta0 (oracle TS)."""
    rng = np.random.default_rng(7)
    z = 3.0 * rng.standard_normal((3000, 8))
    for t0 in (0.1, 1.0, 30.0):
        ts = fit_quiet(oc.TemperatureScaling(), z, softmax(z / t0, axis=1))
        assert ts.temperature_ == pytest.approx(t0, rel=1e-11)


@pytest.mark.parametrize("scale", [1e-6, 1e-2, 1.0, 1e2, 1e4])
def test_extreme_logit_scales_and_temperatures(scale):
    """Huge logits (1e4) need logsumexp; tiny ones an optimum at T ~ 1e-6."""
    rng = np.random.default_rng(8)
    for t_rel in (0.05, 20.0):
        z, y = planted(2000, 5, t_rel * scale, rng, scale=scale)
        ts = fit_quiet(oc.TemperatureScaling(), z, y)
        assert ts.beta_ == pytest.approx(oracle_beta(z, y), rel=1e-10)


@pytest.mark.parametrize("warm_start", [False, True])
def test_temperature_is_scale_equivariant_from_1e_minus_6_to_1e300(warm_start, monkeypatch):
    """T(s h) = s T(h). Above ~1e154, h * h in the variance and the Hessian overflowed (NaN
    start, NaN Newton steps: max_iter at T ~ 1); the solver now works on h / 2**j.

    Tolerance: s h rounds every logit (1e-16 relative) and the fit stops at the default
    gradient tolerance (T within ~1e-12 of the exact minimiser), so 1e-10 is a wide margin.
    """
    if warm_start:  # the subsample solve, then the full data from its optimum (and scale)
        monkeypatch.setattr(R, "_WARM_START_ELEMENTS", 2**10)
    rng = np.random.default_rng(8)
    z, y = planted(6000, 5, 2.0, rng)
    reference = fit_quiet(oc.TemperatureScaling(), z, y)
    for scale in (1e-6, 1e-3, 1e3, 1e100, 1e154, 1e160, 1e200, 1e250, 1e300):
        ts = fit_quiet(oc.TemperatureScaling(), z * scale, y)
        assert ts.converged_ and ts.status_ == "converged"
        assert ts.temperature_ / scale == pytest.approx(reference.temperature_, rel=1e-10)
        assert ts.nll_ == pytest.approx(reference.nll_, rel=1e-12)
        # soft targets and weights take the same path
        w = np.linspace(0.5, 1.5, z.shape[0])
        soft = fit_quiet(oc.TemperatureScaling(), z * scale, softmax(z / 2.0, axis=1), w)
        assert soft.temperature_ / scale == pytest.approx(2.0, rel=1e-10)
    assert reference.temperature_ == pytest.approx(2.0, rel=0.1)  # planted T0 = 2


@pytest.mark.parametrize("impossible", [False, True])
def test_logits_whose_spread_overflows_are_refused(impossible):
    # 1e308 - (-1e308) is inf in float64: before, the fit ran on NaN moments to max_iter and
    # returned T = inf. The optimum (about 2.9e308 here) is not representable either.
    z = np.array([[1e308, -1e308, 0.0], [-1e308, 1e308, 0.0], [1e308, -1e308, 0.0]])
    if impossible:  # the -inf masking must not swallow an overflowed difference
        z[0, 2] = -np.inf
    with pytest.raises(ValueError, match=r"logits must differ by less than the float64 "
                       r"maximum .* Divide them by a power of two"):
        oc.TemperatureScaling().fit(z, np.array([0, 1, 1]))
    ts = fit_quiet(oc.TemperatureScaling(), z / 4, np.array([0, 1, 1]))  # spread now finite
    assert ts.converged_ and np.isfinite(ts.temperature_)


def test_denormal_separable_margin_gives_a_positive_temperature_and_finite_nll():
    # separable, smallest margin 5e-324: the documented bound m / log((k - 1) / eps) is not
    # representable (beta = inf gave T = 0.0 and nll_ = NaN); beta is capped at a finite value
    z = np.array([[0.0, -5e-324], [0.0, -1.0], [-2.0, 0.0]])
    y = np.array([0, 0, 1])
    with pytest.warns(CalibrationWarning, match="not representable"):
        ts = oc.TemperatureScaling().fit(z, y)
    assert ts.status_ == "separable" and not ts.converged_
    assert 0.0 < ts.temperature_ < 1e-300 and math.isfinite(ts.beta_)
    # at that beta the first row is still a tie to float64 precision: log 2 of 3 rows, the
    # others contribute exp(-beta) = 0
    assert ts.nll_ == pytest.approx(math.log(2.0) / 3, rel=1e-12)
    assert np.isfinite(ts.predict_proba(z)).all()
    # the whole data at a denormal scale (every margin denormal): the same cap, no NaN
    with pytest.warns(CalibrationWarning, match="not representable"):
        tiny = oc.TemperatureScaling().fit(z[:1], y[:1])
    assert tiny.temperature_ > 0 and tiny.nll_ == pytest.approx(math.log(2.0), rel=1e-12)


@pytest.mark.parametrize("n, k", [(3000, 2), (40, 10_000)])
def test_two_and_ten_thousand_classes(n, k):
    rng = np.random.default_rng(9)
    z, y = planted(n, k, 2.0, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    assert ts.beta_ == pytest.approx(oracle_beta(z, y), rel=1e-10)


def test_near_separable_data_converge_to_a_large_finite_beta():
    rng = np.random.default_rng(10)
    z = rng.standard_normal((5000, 6))
    y = z.argmax(axis=1)
    y[0] = (y[0] + 1) % 6  # one mistake: the optimum is finite but far out
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    assert ts.beta_ == pytest.approx(oracle_beta(z, y), rel=1e-10)
    assert ts.beta_ > 5 and ts.n_iter_ <= 20


def test_warm_start_path_on_a_subsample(monkeypatch):
    monkeypatch.setattr(R, "_WARM_START_ELEMENTS", 2**10)
    rng = np.random.default_rng(11)
    z, y = planted(20_000, 5, 0.7, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    assert ts.beta_ == pytest.approx(oracle_beta(z, y), rel=1e-11)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    k=st.integers(2, 6),
    scale=st.sampled_from([1e-3, 1.0, 50.0]),
)
def test_argmax_never_changes(seed, n, k, scale):
    rng = np.random.default_rng(seed)
    z = scale * rng.standard_normal((n, k))
    y = rng.integers(0, k, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        ts = oc.TemperatureScaling().fit(z, y)
    if math.isfinite(ts.temperature_):
        assert np.array_equal(ts.predict_proba(z).argmax(axis=1), z.argmax(axis=1))
        assert np.array_equal(ts.transform(z).argmax(axis=1), z.argmax(axis=1))
    else:  # T = inf: all logits become 0, every class ties
        assert np.all(ts.transform(z) == 0)


def test_float32_stays_float32_and_torch_input():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    z, y = planted(1000, 4, 1.5, rng)
    z32 = z.astype(np.float32)
    ts = fit_quiet(oc.TemperatureScaling(), torch.from_numpy(z32), torch.from_numpy(y))
    assert ts.beta_ == fit_quiet(oc.TemperatureScaling(), z32, y).beta_
    out = ts.transform(torch.from_numpy(z32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert ts.predict_proba(z32).dtype == np.float32
    assert ts.transform(z).dtype == np.float64
    # the tempered logits, shifted so each row's max is 0 (softmax-equivalent to z / T); one
    # float64 product rounded once to float32: within 2 float32 ulps (2 * 6e-8 relative)
    shifted = (z32.astype(np.float64) - z32.max(axis=1, keepdims=True)) / ts.temperature_
    np.testing.assert_allclose(ts.transform(z32), shifted, rtol=2e-7, atol=0)


def test_transform_keeps_minus_inf_at_infinite_temperature_and_cannot_overflow():
    rng = np.random.default_rng(14)
    z = rng.standard_normal((300, 4))
    with pytest.warns(CalibrationWarning, match="uniform"):
        uniform = oc.TemperatureScaling().fit(z, z.argmin(axis=1))  # T = inf, beta_ = 0
    h = np.array([[1.0, -np.inf, 2.0, 0.5], [-3.0, 0.0, -np.inf, -np.inf]])
    for dtype in (np.float64, np.float32):
        out = uniform.transform(h.astype(dtype))
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, np.where(np.isinf(h), -np.inf, 0.0))
        # uniform over the finite classes, exactly; was NaN (-inf / inf) before
        np.testing.assert_array_equal(uniform.predict_proba(h.astype(dtype)),
                                      np.array([[1, 0, 1, 1], [1, 1, 0, 0]], dtype) / np.array(
                                          [[3], [2]], dtype))
    # float32 logits near the float32 maximum at T < 1: h / T overflowed to inf (NaN rows)
    zt, yt = planted(4000, 3, 0.5, np.random.default_rng(15), scale=1.0)
    ts = fit_quiet(oc.TemperatureScaling(), zt, yt)
    assert ts.temperature_ < 0.9
    big = np.array([[3e38, 2.9e38, -3e38], [1e37, -np.inf, 1e37]], dtype=np.float32)
    p = ts.predict_proba(big)
    assert p.dtype == np.float32 and np.isfinite(p).all()
    # exact values: gaps of 1e37 / T and more underflow to 0; equal logits split evenly
    np.testing.assert_array_equal(p, [[1, 0, 0], [0.5, 0, 0.5]])
    np.testing.assert_array_equal(ts.transform(big)[1], [0, -np.inf, 0])


# ----------------------------------------------------------------------------------------
# Boundary cases
# ----------------------------------------------------------------------------------------


def test_separable_data_warn_and_return_the_documented_bound():
    rng = np.random.default_rng(13)
    k = 5
    z = rng.standard_normal((200, k))
    y = z.argmax(axis=1)
    with pytest.warns(CalibrationWarning, match="separable"):
        ts = oc.TemperatureScaling().fit(z, y)
    top2 = np.sort(z, axis=1)[:, -2:]
    margin = np.min(top2[:, 1] - top2[:, 0])
    assert ts.temperature_ == pytest.approx(margin / math.log((k - 1) / EPS), rel=1e-14)
    assert not ts.converged_ and ts.status_ == "separable"
    # At that T the NLL is within float64 eps of its infimum 0 (checked in long double).
    assert 0 < ld_nll(z, y, ts.beta_) <= EPS


def test_labels_no_better_than_uniform_give_infinite_temperature():
    rng = np.random.default_rng(14)
    z = rng.standard_normal((300, 4))
    with pytest.warns(CalibrationWarning, match="uniform"):
        ts = oc.TemperatureScaling().fit(z, z.argmin(axis=1))
    assert ts.temperature_ == math.inf and ts.beta_ == 0.0 and ts.status_ == "uniform"
    np.testing.assert_array_equal(ts.predict_proba(z), np.full((300, 4), 0.25))
    assert ts.nll_ == pytest.approx(math.log(4), rel=1e-15)
    assert naive_grad(z, z.argmin(axis=1), 0.0) >= 0  # the criterion, independently


def test_constant_logits_give_temperature_one():
    with pytest.warns(CalibrationWarning, match="constant within every row"):
        ts = oc.TemperatureScaling().fit(np.full((10, 3), 2.5), np.arange(10) % 3)
    assert ts.temperature_ == 1.0 and ts.status_ == "flat" and ts.converged_
    assert ts.nll_ == pytest.approx(math.log(3), rel=1e-15)


def test_max_iter_reached_warns():
    rng = np.random.default_rng(15)
    z, y = planted(500, 4, 0.3, rng)
    with pytest.warns(CalibrationWarning, match="did not reach the tolerance"):
        ts = oc.TemperatureScaling(max_iter=1).fit(z, y)
    assert not ts.converged_ and ts.status_ == "max_iter"


# ----------------------------------------------------------------------------------------
# Other methods
# ----------------------------------------------------------------------------------------


def test_ece_method_minimises_the_metrics_ece():
    rng = np.random.default_rng(16)
    z, y = planted(20_000, 5, 2.0, rng)
    ts = fit_quiet(oc.TemperatureScaling(method="ece", n_bins=15), z, y)
    nll_fit = fit_quiet(oc.TemperatureScaling(), z, y)

    def ece(temperature):  # the public metric, an independent implementation
        return oc.metrics.ece(softmax(z / temperature, axis=1), y, n_bins=15)

    assert ts.ece_ == pytest.approx(ece(ts.temperature_), abs=1e-12)
    assert ts.ece_ <= ece(nll_fit.temperature_) + 1e-15
    assert ts.ece_ <= ece(1.0) + 1e-15
    # Locally minimal: no better value on a fine grid of +-2% around it.
    for factor in np.linspace(0.98, 1.02, 41):
        assert ts.ece_ <= ece(ts.temperature_ * factor) + 1e-15
    # The planted model is calibrated at T0 = 2; the ECE-minimising T is near it (the ECE of
    # 20000 samples at T0 is ~0.01, which moves its minimiser by a few percent at most).
    assert abs(ts.temperature_ / 2.0 - 1.0) < 0.1
    assert ts.nll_ == pytest.approx(naive_nll(z, y, ts.beta_), rel=1e-13)


def test_paper_lbfgs_barely_moves_on_interpolating_logits():
    pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    n, k, margin = 5000, 10, 15.0
    yhat = rng.integers(0, k, n)
    y = np.where(rng.random(n) < 0.6, yhat, (yhat + rng.integers(1, k, n)) % k)
    h = (margin * np.eye(k)[yhat]).astype(np.float32)
    ts = oc.TemperatureScaling(method="paper-lbfgs").fit(h, y)
    acc = np.mean(y == yhat)
    t_star = margin / math.log(acc * (k - 1) / (1 - acc))  # the NLL optimum, about 5.8
    assert ts.converged_temperature_ == pytest.approx(t_star, rel=1e-10)
    assert t_star > 4
    assert 1.0 < ts.temperature_ < 1.5  # THEORY.md 3: "moves T from 1 to about 1.1"
    assert not ts.converged_
    gap = naive_nll(h.astype(float), y, ts.beta_) - naive_nll(h.astype(float), y, 1 / t_star)
    assert ts.converged_nll_gap_ == pytest.approx(gap, rel=1e-10)
    assert gap > 0.1


@pytest.mark.parametrize("soft", [False, True])
def test_paper_lbfgs_accepts_minus_inf_logits(soft):
    # Oracle: an impossible class (-inf in every row) adds exp(-inf) = 0 to every softmax, so the
    # paper's LBFGS step must take the same path as on the other columns (it gave T = NaN: the
    # gradient of -inf / T is 0 * inf). The sums are the same up to exact zeros, so T agrees to
    # rounding of a reordered vectorized sum over 50 iterations (1e-12 relative is ample).
    pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z, y = planted(400, 3, 2.0, rng)
    target = softmax(z / 2.0, axis=1) if soft else y
    with_impossible = np.concatenate([z, np.full((400, 1), -np.inf)], axis=1)
    wide_target = np.concatenate([target, np.zeros((400, 1))], axis=1) if soft else y
    a = oc.TemperatureScaling(method="paper-lbfgs").fit(z, target)
    b = oc.TemperatureScaling(method="paper-lbfgs").fit(with_impossible, wide_target)
    assert math.isfinite(b.temperature_) and b.temperature_ != 1.0
    assert b.temperature_ == pytest.approx(a.temperature_, rel=1e-12)
    assert b.nll_ == pytest.approx(a.nll_, rel=1e-12) and b.n_iter_ == a.n_iter_
    assert b.converged_temperature_ == pytest.approx(a.converged_temperature_, rel=1e-10)
    # scattered -inf (a different class impossible in different rows), float32
    scattered = z.astype(np.float32)
    scattered[::3, 0] = -np.inf
    labels = np.where(np.arange(400) % 3 == 0, 1 + (y % 2), y)
    c = oc.TemperatureScaling(method="paper-lbfgs").fit(scattered, labels)
    assert math.isfinite(c.temperature_) and c.temperature_ > 0 and math.isfinite(c.nll_)


def test_paper_lbfgs_without_torch_raises(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="needs PyTorch"):
        oc.TemperatureScaling(method="paper-lbfgs").fit(np.eye(3), np.arange(3))


@pytest.mark.peers
def test_agrees_with_sklearn_temperature_calibration():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    if "temperature" not in CalibratedClassifierCV._parameter_constraints["method"][0].options:
        pytest.skip(f"scikit-learn {sklearn.__version__} has no method='temperature'")

    class Logits(ClassifierMixin, BaseEstimator):  # decision_function returns its input
        def fit(self, X, y):
            self.classes_ = np.unique(y)
            return self

        def decision_function(self, X):
            return X

        def predict(self, X):
            return self.classes_[np.argmax(X, axis=1)]

    rng = np.random.default_rng(18)
    z, y = planted(5000, 4, 1.8, rng)
    cal = CalibratedClassifierCV(FrozenEstimator(Logits().fit(z, y)), method="temperature")
    cal.fit(z, y)
    beta_sklearn = float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    # sklearn minimises the loss with bounded Brent on log beta: sqrt(eps)-accurate (~1e-8).
    assert ts.beta_ == pytest.approx(beta_sklearn, rel=1e-6)


def test_vector_scaling_is_stationary_and_beats_temperature_scaling():
    rng = np.random.default_rng(19)
    n, k = 4000, 4
    z = rng.standard_normal((n, k))
    planted_logits = z * [2.0, 1.0, 0.5, 1.5] + [0.0, 0.5, -0.5, 0.2]
    y = np.argmax(planted_logits + rng.gumbel(size=(n, k)), axis=1)
    vs = fit_quiet(oc.VectorScaling(), z, y)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    coef, bias = vs.coef_, vs.intercept_

    def nll(w, b):
        return -np.mean(log_softmax(z * w + b, axis=1)[np.arange(n), y])

    assert vs.nll_ == pytest.approx(nll(coef, bias), rel=1e-13)
    assert vs.nll_ <= ts.nll_ + 1e-12  # TS is vector scaling with w = beta 1, b = 0
    assert abs(bias.sum()) < 1e-12
    # Stationary: central differences of the naive NLL vanish (truncation ~1e-10, rounding
    # eps / 1e-5 ~ 2e-11; the fit stops at gradient 1e-10).
    for j in range(2 * k):
        e = np.zeros(2 * k)
        e[j] = 1e-5
        up = nll(coef + e[:k], bias + e[k:])
        down = nll(coef - e[:k], bias - e[k:])
        assert abs(up - down) / 2e-5 < 1e-7
    p = vs.predict_proba(z)
    np.testing.assert_allclose(p, softmax(z * coef + bias, axis=1), rtol=1e-12)
    assert vs.transform(z.astype(np.float32)).dtype == np.float32


def test_vector_scaling_weights_equal_repeats_and_soft_targets():
    rng = np.random.default_rng(20)
    z = rng.standard_normal((600, 3))
    y = np.argmax(z + rng.gumbel(size=(600, 3)), axis=1)
    counts = rng.integers(1, 3, 600)
    a = fit_quiet(oc.VectorScaling(), z, y, sample_weight=counts)
    b = fit_quiet(oc.VectorScaling(), np.repeat(z, counts, axis=0), np.repeat(y, counts))
    c = fit_quiet(oc.VectorScaling(), z, np.eye(3)[y], sample_weight=counts)
    # Same convex objective; L-BFGS stops at gradient 1e-10, so parameters agree to ~1e-8.
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    np.testing.assert_allclose(a.coef_, c.coef_, atol=1e-7)
    assert a.nll_ == pytest.approx(b.nll_, rel=1e-12)


@pytest.mark.parametrize("mode", ["top-label", "one-vs-rest"])
def test_histogram_binning_matches_a_brute_force_loop(mode):
    rng = np.random.default_rng(21)
    n, k, n_bins = 300, 3, 5
    z = 2.0 * rng.standard_normal((n, k))
    y = np.argmax(z + rng.gumbel(size=(n, k)), axis=1)
    w = rng.random(n)
    hb = oc.HistogramBinning(n_bins=n_bins, mode=mode).fit(z, y, sample_weight=w)
    p = softmax(z, axis=1)

    def bin_of(v):  # (b/M, (b+1)/M], 0 in the first bin
        for b in range(n_bins):
            if v <= (b + 1) / n_bins:
                return b
        return n_bins - 1

    z_new = 2.0 * rng.standard_normal((50, k))
    q = softmax(z_new, axis=1)
    out = hb.predict_proba(z_new)
    for i in range(50):
        if mode == "top-label":
            c = int(np.argmax(q[i]))
            b = bin_of(q[i, c])
            members = [j for j in range(n) if bin_of(p[j].max()) == b]
            if members:
                hits = sum(w[j] * (y[j] == p[j].argmax()) for j in members)
                top = hits / sum(w[j] for j in members)
            else:
                top = q[i, c]
            expected = q[i] * (1 - top) / (1 - q[i, c])
            expected[c] = top
        else:
            expected = np.empty(k)
            for c in range(k):
                b = bin_of(q[i, c])
                members = [j for j in range(n) if bin_of(p[j, c]) == b]
                if members:
                    hits = sum(w[j] * (y[j] == c) for j in members)
                    expected[c] = hits / sum(w[j] for j in members)
                else:
                    expected[c] = q[i, c]
            expected = expected / expected.sum()
        np.testing.assert_allclose(out[i], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(softmax(hb.transform(z_new), axis=1), out, rtol=1e-12)


@pytest.mark.parametrize("mode", ["top-label", "one-vs-rest"])
def test_histogram_binning_minus_inf_logits_keep_probability_zero(mode):
    # Oracle: a class whose logit is -inf in every row has probability 0 in every softmax, so
    # the fit and the predictions on the other columns must be those without it (the same
    # float64 arithmetic on the same numbers: exactly), with probability 0 in its column.
    rng = np.random.default_rng(22)
    z = 2.0 * rng.standard_normal((300, 3))
    y = np.argmax(z + rng.gumbel(size=z.shape), axis=1)
    impossible = np.full((300, 1), -np.inf)
    a = oc.HistogramBinning(n_bins=6, mode=mode).fit(z, y)
    b = oc.HistogramBinning(n_bins=6, mode=mode).fit(np.hstack([z, impossible]), y)
    z_new = 2.0 * rng.standard_normal((40, 3))
    pa = a.predict_proba(z_new)
    pb = b.predict_proba(np.hstack([z_new, impossible[:40]]))
    np.testing.assert_array_equal(pb[:, :3], pa)
    assert np.all(pb[:, 3] == 0.0)
    if mode == "one-vs-rest":
        np.testing.assert_array_equal(b.bin_values_[:3], a.bin_values_)
        assert b.bin_weights_[3].sum() == 0  # impossible entries are not binned
    else:
        np.testing.assert_array_equal(b.bin_values_, a.bin_values_)
    # a row with one possible class keeps probability 1 there; -inf never gets mass, also
    # where the top confidence rounds to 1 (the rest was shared evenly over all k - 1 classes)
    rows = np.array([[0.0, -np.inf, -np.inf, -np.inf], [800.0, 0.0, -np.inf, 1.0]])
    out = b.predict_proba(rows)
    np.testing.assert_array_equal(out[0], [1.0, 0.0, 0.0, 0.0])
    assert out[1, 2] == 0.0 and out[1].sum() == pytest.approx(1.0, rel=1e-15)
    assert np.isneginf(b.transform(rows)[0, 1:]).all()


def test_histogram_binning_top_label_is_calibrated_in_sample():
    """After top-label binning, each bin's confidence equals its accuracy: zero ECE in sample."""
    rng = np.random.default_rng(22)
    z = 3.0 * rng.standard_normal((5000, 2))
    y = np.argmax(z / 3.0 + rng.gumbel(size=(5000, 2)), axis=1)
    hb = oc.HistogramBinning(n_bins=10).fit(z, y)
    assert oc.metrics.ece(hb.predict_proba(z), y, n_bins=10) < 1e-12


# ----------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------

Z = np.array([[1.0, 0.0, -1.0], [0.5, 0.2, 0.1], [0.0, 2.0, 1.0]])
Y = np.array([0, 2, 1])


@pytest.mark.parametrize(
    "kwargs, logits, y, match",
    [
        ({"method": "brier"}, Z, Y, "'method' parameter of TemperatureScaling.fit must be one of"),
        ({"n_bins": 0}, Z, Y, "'n_bins' parameter .* must be an int >= 1. Got 0"),
        ({"n_bins": 2.5}, Z, Y, "'n_bins' parameter .* must be an int >= 1. Got 2.5"),
        ({"tol": 0.0}, Z, Y, "'tol' parameter .* in \\(0.0, 1.0\\)"),
        ({"max_iter": 0}, Z, Y, "'max_iter' parameter .* must be an int >= 1"),
        ({}, np.array([[np.nan, 0.0], [0.0, 1.0]]), np.array([0, 1]), "finite values or -inf"),
        ({}, np.array([[np.inf, 0.0], [0.0, 1.0]]), np.array([0, 1]), "finite values or -inf"),
        ({}, np.zeros(3), Y, "must be a 2-D array"),
        ({}, np.zeros((3, 1)), Y, "at least 2 classes"),
        ({}, np.zeros((0, 3)), np.zeros(0, int), "non-empty array"),
        ({}, Z, np.array([0, 3, 1]), "class labels in \\[0, 3\\). Got label 3"),
        ({}, Z, np.array([0, -1, 1]), "Got label -1"),
        ({}, Z, np.array([0, 1]), "one label per sample \\(3\\). Got 2"),
        ({}, Z, np.array([0.0, 1.0, 2.0]), "integer class labels"),
        ({}, Z, np.array([[0.5, 0.6, 0.0]] * 3), "rows summing to 1"),
        ({}, Z, np.full((2, 3), 1 / 3), "one row per sample \\(3\\)"),
        ({}, Z, np.full((3, 2), 0.5), "must have 3 columns"),
        ({}, Z, np.zeros((3, 3, 1), int), "1-D array of class labels"),
    ],
)
def test_fit_errors(kwargs, logits, y, match):
    with pytest.raises(ValueError, match=match):
        oc.TemperatureScaling(**kwargs).fit(logits, y)


@pytest.mark.parametrize(
    "weight, match",
    [
        (np.array([1.0, -1.0, 1.0]), "non-negative with a positive sum. Got 'min -1.0 and "
                                     "sum 1.0' instead"),  # plain floats, not np.float64(...)
        (np.zeros(3), "non-negative with a positive sum"),
        (np.ones(2), "one weight per sample \\(3\\)"),
        (np.array([1.0, np.nan, 1.0]), "only finite values"),
    ],
)
def test_sample_weight_errors(weight, match):
    for estimator in (oc.TemperatureScaling(), oc.VectorScaling(), oc.HistogramBinning()):
        with pytest.raises(ValueError, match=match):
            estimator.fit(Z, Y, sample_weight=weight)


def test_half_precision_logits_and_soft_targets():
    # float16 / bfloat16 soft targets have row sums off by ~1e-3: accepted with their own
    # tolerance (they were rejected with float64's 1.5e-8); logits become float32, exactly
    rng = np.random.default_rng(16)
    z, _ = planted(2000, 4, 1.0, rng)
    soft = softmax(z / 2.0, axis=1)
    z16, soft16 = z.astype(np.float16), soft.astype(np.float16)
    ts = fit_quiet(oc.TemperatureScaling(), z16, soft16)
    # the solver on the same values in float64, without validation (identical arithmetic)
    data = R._Data.from_arrays(z16.astype(np.float64), soft16.astype(np.float64), None)
    assert ts.beta_ == R._solve(data, rtol=None, max_iter=100).beta
    assert ts.transform(z16).dtype == np.float32
    torch = pytest.importorskip("torch")
    bf = fit_quiet(oc.TemperatureScaling(), torch.from_numpy(z).to(torch.bfloat16),
                   torch.from_numpy(soft).to(torch.bfloat16))
    assert bf.temperature_ == pytest.approx(2.0, rel=0.05)  # bfloat16 keeps ~3 digits


@pytest.mark.parametrize(
    "estimator", [oc.TemperatureScaling, oc.VectorScaling, oc.HistogramBinning]
)
def test_transform_before_fit_and_with_other_k(estimator):
    with pytest.raises(RuntimeError, match="not fitted yet. Call 'fit' before"):
        estimator().transform(Z)
    with pytest.raises(RuntimeError, match="not fitted yet"):
        estimator().predict_proba(Z)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        fitted = estimator().fit(Z, Y)
    with pytest.raises(ValueError, match="must have 3 columns"):
        fitted.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="finite values"):
        fitted.predict_proba(np.array([[0.0, np.nan, 1.0]]))


def test_other_estimator_parameter_errors():
    with pytest.raises(ValueError, match="'max_iter' parameter of VectorScaling.fit"):
        oc.VectorScaling(max_iter=0).fit(Z, Y)
    with pytest.raises(ValueError, match="'tol' parameter of VectorScaling.fit"):
        oc.VectorScaling(tol=2.0).fit(Z, Y)
    with pytest.raises(ValueError, match="'mode' parameter of HistogramBinning.fit"):
        oc.HistogramBinning(mode="isotonic").fit(Z, Y)
    with pytest.raises(ValueError, match="'n_bins' parameter of HistogramBinning.fit"):
        oc.HistogramBinning(n_bins=0).fit(Z, Y)


def test_internal_solver_rejects_infinite_targets():
    h = np.array([[0.0, -np.inf], [0.0, 1.0]])

    def solve(logits, target):
        data = R._Data.from_arrays(logits, target, None, allow_inf=True)
        return R._solve(data, rtol=None, max_iter=10)

    with pytest.raises(ValueError, match="infinite at every temperature"):
        solve(h, np.array([1, 0]))
    with pytest.raises(ValueError, match="infinite at every temperature"):
        solve(h, np.array([[0.5, 0.5], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        solve(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="at least one finite entry"):
        solve(np.array([[-np.inf, -np.inf]]), np.array([0]))


def test_paper_lbfgs_nonpositive_temperature_raises(monkeypatch):
    torch = pytest.importorskip("torch")

    class Broken(torch.optim.LBFGS):
        def step(self, closure):
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(-1.0)

    monkeypatch.setattr(torch.optim, "LBFGS", Broken)
    with pytest.raises(RuntimeError, match="gave a temperature of -1.0"):
        oc.TemperatureScaling(method="paper-lbfgs").fit(Z, Y)


@pytest.mark.peers
@pytest.mark.parametrize("k", [2, 10])
def test_float32_logits_reach_the_float64_optimum(k):
    """On float32 logits the fit minimises the exact (float64) NLL of those logits.

    scikit-learn evaluates its loss in the input dtype, so on float32 input its Brent search
    stops anywhere in the region where the float32 loss is flat (measured: up to 3e-4 relative
    off); run on a float64 copy of the same logits it finds the optimum to Brent's sqrt(eps).
    netcal's TemperatureScaling (scipy L-BFGS-B with a finite-difference gradient) even returns
    T = 1 on float32 input (benchmarks/bench_calibration.py, section 5b).
    """
    pytest.importorskip("sklearn")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Logits(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.arange(k)
            return self

        def decision_function(self, X):  # binary: the score x with logits (-x, x)
            return 0.5 * (X[:, 1] - X[:, 0]) if k == 2 else X

        def predict(self, X):
            return np.argmax(X, axis=1)

    rng = np.random.default_rng(31)
    z, y = planted(5000, k, 2.0, rng)
    z32 = z.astype(np.float32)
    ts32 = fit_quiet(oc.TemperatureScaling(), z32, y)
    ts64 = fit_quiet(oc.TemperatureScaling(), z32.astype(np.float64), y)
    # the float32 path computes in float64 from the same values: identical arithmetic
    assert ts32.beta_ == ts64.beta_
    cal = CalibratedClassifierCV(FrozenEstimator(Logits().fit(z32, y)), method="temperature")
    cal.fit(z32.astype(np.float64), y)
    beta_sklearn = float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
    # bounded Brent on log beta with xatol = 64 eps: ~1e-8 relative
    assert ts32.beta_ == pytest.approx(beta_sklearn, rel=1e-6)


@pytest.mark.peers
def test_agrees_with_netcal_temperature_scaling_in_float64():
    netcal_scaling = pytest.importorskip("netcal.scaling")
    rng = np.random.default_rng(32)
    z, y = planted(5000, 5, 2.5, rng)
    ts = fit_quiet(oc.TemperatureScaling(), z, y)
    theirs = netcal_scaling.TemperatureScaling()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(softmax(z, axis=1), y, tensorboard=False)
    # netcal fits the weight 1/T by L-BFGS-B with a finite-difference gradient (step 1e-8) and
    # gtol 1e-5 on log(softmax) clipped at 1e-16: ~1e-5 relative
    assert float(np.ravel(theirs.weights)[0]) == pytest.approx(ts.beta_, rel=1e-4)


def test_minus_inf_logits_mark_impossible_classes():
    # Oracle: a class whose logit is -inf in every row contributes exp(-inf) = 0 to every
    # softmax, so the fit must equal the fit on the remaining columns (to solver tolerance).
    rng = np.random.default_rng(5)
    z = rng.normal(size=(400, 3)) * 3.0
    y = rng.integers(0, 3, size=400)
    with_impossible = np.concatenate([z, np.full((400, 1), -np.inf)], axis=1)
    a = oc.TemperatureScaling().fit(z, y)
    b = oc.TemperatureScaling().fit(with_impossible, y)
    assert b.temperature_ == pytest.approx(a.temperature_, rel=1e-10)
    assert np.all(b.predict_proba(with_impossible)[:, 3] == 0.0)
    # A label on an impossible class makes the loss infinite at every temperature.
    with pytest.raises(ValueError, match="infinite at every temperature"):
        oc.TemperatureScaling().fit(with_impossible, np.full(400, 3))
