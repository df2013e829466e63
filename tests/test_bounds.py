"""The closed forms of Proposition 1 and Corollary 2 against numerical oracles.

Oracles: the library's exact population KL of a temperature-scaled hard interpolator (a finite
sum over the 1-NN intervals of a 1-D OverlappingUniform, independent of the formula), a brute
force minimization over T with scipy, and a grid for monotonicity.
"""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import overlapcal as oc
from overlapcal.bounds import (corollary2_f, hard_interpolator_risk, oracle_confidence,
                               oracle_hard_interpolator_risk, ts_lower_bound, uniform_risk)


def fitted_hard(k, overlap, n_per_class, seed, margin=2.0, group_size=2):
    dist = oc.OverlappingUniform(k, overlap, group_size=group_size)
    X, y = dist.sample(n_per_class * k, rng=seed)
    hard = oc.HardInterpolator(margin=margin).fit(X, y, n_classes=k)
    accuracy = oc.population_accuracy(hard, dist)
    assert accuracy.method == "exact"
    return dist, hard, accuracy.value


@pytest.mark.parametrize("k, overlap, group_size, temperature",
                         [(2, 0.5, 2, 1.0), (4, 0.3, 2, 0.4), (6, 0.9, 3, 3.0), (10, 1.0, 2, 25.0)])
def test_proposition1_risk_equals_the_exact_population_kl(k, overlap, group_size, temperature):
    dist, hard, accuracy = fitted_hard(k, overlap, 15, seed=k, group_size=group_size)
    exact = oc.population_kl(oc.TemperatureScaled(hard, temperature), dist)
    assert exact.method == "exact"
    formula = hard_interpolator_risk(accuracy, k, dist.conditional_entropy().value,
                                     margin=2.0, temperature=temperature)
    # Both are float64 sums of O(1) terms over O(n) intervals: agreement to ~1e-12.
    assert formula == pytest.approx(exact.value, abs=1e-12)


@pytest.mark.parametrize("k, overlap", [(2, 0.5), (8, 0.5), (16, 1.0), (64, 0.25)])
def test_oracle_risk_is_the_minimum_over_temperature(k, overlap):
    dist, hard, accuracy = fitted_hard(k, overlap, 10, seed=3)
    h = dist.conditional_entropy().value
    closed = oracle_hard_interpolator_risk(accuracy, k, h)
    # Brute force: minimize the Proposition 1 risk over log T (bounded scalar search).
    brute = minimize_scalar(lambda s: hard_interpolator_risk(accuracy, k, h, margin=2.0,
                                                             temperature=math.exp(s)),
                            bounds=(-8, 8), method="bounded", options={"xatol": 1e-10})
    # The minimum is quadratic in log T: an xatol of 1e-10 leaves ~1e-15 in the value.
    assert closed == pytest.approx(brute.fun, abs=1e-9)
    # ... and the library's numerical oracle TS on the exact population KL.
    oracle = oc.oracle_temperature(hard, dist)
    assert oracle.kl.value == pytest.approx(closed, abs=1e-8)  # the solver's tolerance on beta
    # p at the oracle temperature is the accuracy (when A >= 1/k).
    p = 1.0 / (1.0 + (k - 1) * math.exp(-2.0 / oracle.temperature))
    assert p == pytest.approx(oracle_confidence(accuracy, k), abs=1e-6)


def test_below_chance_accuracy_gives_the_uniform_risk():
    h = 0.2
    assert oracle_hard_interpolator_risk(0.05, 10, h) == pytest.approx(math.log(10) - h)
    assert oracle_confidence(0.05, 10) == 0.1


def test_corollary2_f_decreases_from_log_k_to_zero():
    for k in (2, 3, 10, 1000):
        a = np.linspace(1 / k, 1, 2001)
        f = np.array([corollary2_f(x, k) for x in a])
        assert f[0] == pytest.approx(math.log(k), rel=1e-12) and f[-1] == 0.0
        assert np.all(np.diff(f) < 0)


@pytest.mark.parametrize("k, overlap", [(2, 0.5), (16, 0.5), (128, 1.0), (10, 0.0)])
def test_lower_bound_for_overlapping_pairs(k, overlap):
    bound = ts_lower_bound(oc.OverlappingUniform(k, overlap))
    half = overlap / 2
    hb = 0.0 if half == 0 else -half * math.log(half) - (1 - half) * math.log(1 - half)
    assert bound.method == "exact" and bound.stderr == 0.0
    assert bound.value == pytest.approx(hb + half * math.log(k - 1) - overlap * math.log(2),
                                        abs=1e-14)


def test_lower_bound_holds_for_fitted_hard_interpolators():
    for seed in range(5):
        dist, hard, _ = fitted_hard(8, 0.6, 5, seed)
        assert oc.oracle_temperature(hard, dist).kl.value >= ts_lower_bound(dist).value - 1e-10


def test_gaussian_bound_carries_a_standard_error():
    dist = oc.GaussianMixture.orthogonal(4, separation=1.5)
    bound = ts_lower_bound(dist, n_samples=20_000, rng=0)
    assert bound.method == "monte-carlo" and bound.stderr > 0
    # Independent check from a much larger sample: within 4 combined standard errors
    # (the stated stderr is conservative, so the false-alarm rate is below 1e-4).
    big = ts_lower_bound(dist, n_samples=400_000, rng=1)
    assert abs(bound.value - big.value) < 4 * (bound.stderr + big.stderr)


def test_uniform_risk():
    dist = oc.OverlappingUniform(10, 0.5)
    assert uniform_risk(dist).value == pytest.approx(math.log(10) - 0.5 * math.log(2), abs=1e-14)
    uniform = oc.population_kl(oc.TemperatureScaled(oc.HardInterpolator().fit(
        *dist.sample(50, rng=0), n_classes=10), 1e300), dist)
    assert uniform.value == pytest.approx(uniform_risk(dist).value, abs=1e-12)


def test_extreme_margins_and_temperatures_stay_finite_or_exact():
    # B/T = inf: p = 1; risk is -H when A = 1 and +inf otherwise.
    assert hard_interpolator_risk(1.0, 5, 0.0, margin=1e300, temperature=1e-300) == 0.0
    assert hard_interpolator_risk(0.9, 5, 0.0, margin=1e300, temperature=1e-300) == math.inf
    # B/T -> 0: the uniform predictor's risk log k - H.
    assert hard_interpolator_risk(0.7, 5, 0.1, temperature=1e300) == pytest.approx(
        math.log(5) - 0.1, abs=1e-15)


@pytest.mark.parametrize("call, match", [
    (lambda: corollary2_f(0.5, 1), r"'n_classes' parameter of corollary2_f must be an int >= 2"),
    (lambda: corollary2_f(1.5, 3), r"'accuracy' parameter of corollary2_f must be"),
    (lambda: corollary2_f(float("nan"), 3), r"'accuracy' parameter"),
    (lambda: hard_interpolator_risk(0.5, 3, -0.1), r"'conditional_entropy' parameter"),
    (lambda: hard_interpolator_risk(0.5, 3, 0.1, temperature=0.0), r"'temperature' parameter"),
    (lambda: hard_interpolator_risk(0.5, 3, 0.1, margin=-1.0), r"'margin' parameter"),
    (lambda: oracle_hard_interpolator_risk(0.5, 2.0, 0.1), r"'n_classes' parameter"),
])
def test_errors_name_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    # H(Y|X) above f(A) (Fano) describes no distribution: the risk would come out negative
    (lambda: oracle_hard_interpolator_risk(1.0, 4, 0.5),
     r"'conditional_entropy' parameter of oracle_hard_interpolator_risk must be at most "
     r"f\(A\) = .* = 0 for accuracy 1 and k = 4 \(Fano's inequality.*Got 0.5"),
    (lambda: hard_interpolator_risk(0.75, 4, 10.0),
     r"'conditional_entropy' parameter of hard_interpolator_risk must be at most f\(A\)"),
])
def test_entropy_above_fano_is_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_entropy_at_fano_equality_is_accepted():
    # labels independent of X, uniform: H = log k, A = 1/k, f(A) = log k (rounding tolerated)
    k = 7
    assert oracle_hard_interpolator_risk(1 / k, k, math.log(k)) == pytest.approx(0.0, abs=1e-15)
    assert oracle_hard_interpolator_risk(1.0, k, 0.0) == 0.0


@pytest.mark.parametrize("function", [uniform_risk, ts_lower_bound])
@pytest.mark.parametrize("dist", ["x", None, 3])
def test_bounds_of_a_distribution_check_it(function, dist):
    with pytest.raises(TypeError, match=rf"'dist' parameter of {function.__name__} must be an "
                                        r"overlapcal Distribution"):
        function(dist)
