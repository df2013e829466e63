"""Trained networks against the exact minimizers they stand for (THEORY.md 4.3 and 5).

* A Mixup network trained on a 1-D :class:`~overlapcal.OverlappingUniform` approaches the
  population Mixup optimum ``g_mix`` of Proposition 3 (:class:`~overlapcal.MixupOptimum`),
  and the gap shrinks as the training budget (samples, width, epochs) grows.
* An ERM network that interpolates (training accuracy 1.0) is compared after oracle temperature
  scaling with the population Mixup optimum (which TS calibrates: the network's KL stays well
  above it) and with the hard interpolator fitted on the same sample, whose value is exact
  (Proposition 1): the network is better than the hard interpolator, and the difference is
  its runner-up part (Proposition 1b), which Corollary 2's bound assumes away.

The gap between a network and ``g_mix`` is the mean total-variation distance
``(1/2) sum_c |g_c(x) - g_mix(x)_c|`` over a grid of ``pi_X``: the midpoints of ``m`` equal cells
of every class interval. With equal priors and uniform classes, ``pi_X`` is the equal mixture of
the class intervals, so the plain mean over that grid is a midpoint rule for ``E_X``. For two
classes it is the mean absolute error of ``P(class 1)``. Midpoints avoid the ends of the support,
where no mixture lands and ``g_mix`` is undefined (``D(z) = 0``).

All numbers quoted in comments were measured on the 2-core CPU box with one torch thread
(``python benchmarks/bench_minimizers.py`` prints the full tables).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import overlapcal as oc  # noqa: E402
from overlapcal.bounds import oracle_hard_interpolator_risk  # noqa: E402

MC = 20_000        # Monte Carlo points of the population functionals (d > 1)
MC_SEED = 123      # common random numbers: every predictor is evaluated on the same points


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks: one intra-op thread is faster on the shared 2-core box and deterministic."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def support_grid(dist, cells_per_class=200):
    """Midpoints of ``cells_per_class`` equal cells of every class interval, shape (k m, 1)."""
    lo, hi = dist.class_intervals[:, 0], dist.class_intervals[:, 1]
    u = (np.arange(cells_per_class) + 0.5) / cells_per_class
    return (lo[:, None] + u[None, :] * (hi - lo)[:, None]).reshape(-1, 1)


def mean_tv(p, q):
    """Mean over rows of the total-variation distance between probability rows."""
    return float(np.mean(0.5 * np.abs(p - q).sum(axis=1)))


def prop1_value(accuracy, k, entropy):
    """Proposition 1: ``min_T R(g_T) = H_b(A) + (1 - A) log(k - 1) - H(Y|X)`` for A >= 1/k."""
    return oracle_hard_interpolator_risk(accuracy, k, entropy)


def train_mixup(dist, n, *, width, epochs, seed, method="mixup", lr_schedule="cosine"):
    X, y = dist.sample(n, rng=seed)
    return oc.nets.train(X, y, method, n_classes=dist.n_classes, alpha=1.0, width=width,
                         depth=2, epochs=epochs, batch_size=128, lr=3e-3,
                         lr_schedule=lr_schedule, rng=seed)


# ---------------------------------------------------------------------------------------------
# Mixup networks converge to the Mixup optimum (Proposition 3)
# ---------------------------------------------------------------------------------------------

# k = 2, overlap 0.5, 3000 points, width 32, 30 epochs with a cosine schedule (0.6 s of CPU).
# Measured gap over 8 seeds: 0.007 to 0.017 (mean 0.010). Most of it is the finite sample: the
# exact empirical Mixup optimum of the same 3000 points is itself 0.005 to 0.016 from g_mix
# (oc.EmpiricalMixupOptimum, too slow to recompute here). The tolerance 0.025 sits above that
# spread and well below the distances to the predictors a wrong training would produce: the
# Bayes posterior (0.078; what ERM learns), the uniform predictor (0.25) and the Mixup optimum
# of Beta(0.2, 0.2) (0.043). The first two are asserted below so the test keeps its teeth.
MIXUP_TV_TOL = 0.025


def test_mixup_net_approaches_the_population_mixup_optimum():
    dist = oc.OverlappingUniform(2, overlap=0.5)
    grid = support_grid(dist)
    target = oc.MixupOptimum(dist, alpha=1.0).predict_proba(grid)
    net = train_mixup(dist, 3000, width=32, epochs=30, seed=1)
    gap = mean_tv(net.predict_proba(grid), target)
    assert gap < MIXUP_TV_TOL, f"mean TV to g_mix {gap:.4f}"

    # The tolerance separates g_mix from the posterior ERM aims at and from Beta(0.2, 0.2)'s
    # optimum: a net that learned either would fail.
    assert mean_tv(dist.posterior(grid), target) > 3 * MIXUP_TV_TOL
    wrong_alpha = oc.MixupOptimum(dist, alpha=0.2).predict_proba(grid)
    assert mean_tv(wrong_alpha, target) > MIXUP_TV_TOL
    # ... and an ERM net with the same data and budget is indeed far from g_mix (measured 0.07).
    # On the 1-D overlap it cannot interpolate (training accuracy ~0.76), and train says so.
    with pytest.warns(oc.nets.InterpolationWarning, match="training accuracy"):
        erm = train_mixup(dist, 3000, width=32, epochs=30, seed=1, method="erm",
                          lr_schedule="constant")
    assert mean_tv(erm.predict_proba(grid), target) > 2 * MIXUP_TV_TOL


@pytest.mark.slow
def test_mixup_gap_to_the_optimum_shrinks_as_the_budget_grows():
    # k = 4 (two groups: global mixing puts cross-group mixtures between and inside groups).
    # Samples, width and epochs grow together; mean over 3 seeds. Measured means
    # 0.42 / 0.079 / 0.016 for (250, 16, 20), (1000, 32, 50), (4000, 64, 100): each step
    # shrinks the gap several-fold, so "strictly decreasing" has a wide margin against the
    # seed-to-seed spread (at most 0.04, 0.02 and 0.002 around those means).
    dist = oc.OverlappingUniform(4, overlap=0.5)
    grid = support_grid(dist)
    target = oc.MixupOptimum(dist, alpha=1.0).predict_proba(grid)
    budgets = [(250, 16, 20), (1000, 32, 50), (4000, 64, 100)]
    means = []
    for n, width, epochs in budgets:
        gaps = [mean_tv(train_mixup(dist, n, width=width, epochs=epochs, seed=s)
                        .predict_proba(grid), target) for s in range(3)]
        means.append(float(np.mean(gaps)))
    assert all(b < a for a, b in zip(means, means[1:])), means
    # The largest budget is within the fast test's tolerance at k = 4 too.
    assert means[-1] < MIXUP_TV_TOL, means


# ---------------------------------------------------------------------------------------------
# Interpolating ERM networks against the hard interpolator (Proposition 1, Corollary 2)
# ---------------------------------------------------------------------------------------------


def interpolating_erm(k, seed, n_features=8, n_per_class=250):
    """ERM on overlapping pairs whose extra axes are uniform noise, trained to accuracy 1.

    The noise axes let the network memorise the labels in the overlap (as real networks do
    with their many input dimensions); on the 1-D problem alone it stalls at 0.75 to 0.9.
    """
    dist = oc.OverlappingUniform(k, overlap=0.5, n_features=n_features)
    X, y = dist.sample(n_per_class * k, rng=seed)
    net = oc.nets.train(X, y, "erm", n_classes=k, width=128, depth=2, epochs=30, batch_size=64,
                        lr=3e-3, until_interpolation=True, rng=seed)
    return dist, X, y, net


def erm_versus_hard(k, seed):
    dist, X, y, net = interpolating_erm(k, seed)
    assert net.train_accuracy_ == 1.0
    assert np.array_equal(net.predict(X), y)  # independently of the training loop's count
    hard = oc.HardInterpolator().fit(X, y, n_classes=k)
    mc = {"n_samples": MC, "rng": MC_SEED}
    out = {"dist": dist, "H": float(dist.conditional_entropy()),
           "A_star": float(dist.bayes_accuracy())}
    for name, predictor in (("net", net), ("hard", hard)):
        out[name] = oc.oracle_temperature(predictor, dist, **mc).kl
        out["A_" + name] = float(oc.population_accuracy(predictor, dist, **mc))
    return out


# What is claimed for an interpolating ERM net after oracle TS, and the measurements behind
# each threshold (d = 8, 250 points per class; k = 4 over seeds 0-7, k = 2, 8, 16 over 0-2):
#
# 1. TS does not make it calibrated: its KL stays above twice the Mixup optimum's (exact, the
#    1-D distribution, whose posterior and H(Y|X) are those of the 8-D one; the noise axes
#    carry no label information). Measured net / optimum 2.5-2.9 (k = 4; the net's KL 0.221 to
#    0.251, sd ~0.01, so the factor 2 sits 5 sd below), 3.5-3.8 (k = 2), 3.9-4.5 (k = 8) and
#    7.2-7.3 (k = 16).
# 2. It is better than the hard interpolator of the same sample (net / hard 0.36-0.42 at k = 4,
#    0.53-0.58, 0.42-0.49, 0.61-0.62 at k = 2, 8, 16; the gap 0.35-0.40 at k = 4 is ~80 times
#    the sum of the two Monte Carlo standard errors, of which 10 are required), so Corollary 2,
#    which bounds hard interpolators, does not bound it (net 0.22-0.25 against the bound 0.490
#    at k = 4).
# 3. What separates them is the runner-up part (Proposition 1b): the net keeps most of the
#    information about which other class is plausible (runner-up part 0.022-0.042 against the
#    hard interpolator's 0.33-0.35 at k = 4: below a third; below a half up to k = 16, measured
#    0.34 there), and the runner-up difference is at least two thirds of the whole gap
#    (measured 0.80-0.84 at k = 4; above 1 at k = 8 and 16, where the net's lower accuracy
#    makes its top-label part the larger one). For k = 2 there is no runner-up part and the
#    gap is in the top-label part: the net's confidence varies with x, the hard one's does not.
MIXUP_FACTOR = 2.0
RUNNER_UP_SHARE = 2.0 / 3.0


def mixup_optimum_kl(k):
    flat = oc.OverlappingUniform(k, overlap=0.5)
    return oc.oracle_temperature(oc.MixupOptimum(flat, alpha=1.0), flat).kl


def test_interpolating_erm_net_against_the_hard_interpolator():
    k = 4
    r = erm_versus_hard(k, seed=0)
    net, hard = r["net"], r["hard"]

    # The reference is right: the hard interpolator's KL after oracle TS is Proposition 1's
    # closed form at its own accuracy. On common points the Monte Carlo KL is exactly
    # f(A_mc) - H_mc; the remaining difference is H_mc - H, whose standard error is
    # sd(H(eta)) / sqrt(MC) = (log 2 / 2) / sqrt(MC) = 0.0025: allow 4 of them.
    assert abs(hard.value - prop1_value(r["A_hard"], k, r["H"])) < 4 * 0.0025
    # Corollary 2 bounds every hard interpolator (its accuracy is below the Bayes accuracy).
    cor2 = prop1_value(r["A_star"], k, r["H"])
    assert hard.value >= cor2 - 4 * hard.stderr

    # 1. Far above what TS achieves for the Mixup optimum (measured 0.221 against 0.087).
    mix = mixup_optimum_kl(k)
    assert net.value > MIXUP_FACTOR * mix.value, (net.value, mix.value)
    # 2. Below the hard interpolator, hence not bounded by Corollary 2 (measured 0.221 against
    #    0.609 and the bound 0.490).
    assert net.value < hard.value - 10 * (net.stderr + hard.stderr), (net.value, hard.value)
    assert net.value < cor2
    # 3. The runner-up part separates them (measured 0.024 vs 0.337; share of the gap 0.80).
    assert net.runner_up < hard.runner_up / 3, (net.runner_up, hard.runner_up)
    share = (hard.runner_up - net.runner_up) / (hard.value - net.value)
    assert share >= RUNNER_UP_SHARE, share


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 8, 16])
def test_interpolating_erm_net_against_the_hard_interpolator_for_more_classes(k):
    # Same statements at k = 2, 8, 16 (measurements in the comment above).
    r = erm_versus_hard(k, seed=0)
    net, hard = r["net"], r["hard"]
    assert abs(hard.value - prop1_value(r["A_hard"], k, r["H"])) < 4 * 0.0025
    assert net.value > MIXUP_FACTOR * mixup_optimum_kl(k).value
    assert net.value < hard.value - 10 * (net.stderr + hard.stderr), (net.value, hard.value)
    if k > 2:  # for two classes there is no runner-up part
        assert net.runner_up < hard.runner_up / 2, (net.runner_up, hard.runner_up)
        share = (hard.runner_up - net.runner_up) / (hard.value - net.value)
        assert share >= RUNNER_UP_SHARE, share
