"""
(a) Overlap and the Bayes posterior
===================================

When classes overlap, the same input can carry different labels, and even the best possible
model must hesitate. This tutorial builds distributions with a tunable amount of overlap,
looks at their exact Bayes posterior, and checks the identity at the heart of the theory:

.. math:: \\mathrm{NLL}(g) = H(Y \\mid X) + R(g),

the log-likelihood of any model is the irreducible noise plus its KL risk
(:doc:`theory, section 2.1 <../../theory>`).
"""

# %%
# Overlapping uniform pairs
# -------------------------
# Four classes in two pairs. Within a pair, class ``2q`` is uniform on ``[0, 1]`` (shifted by
# the group) and class ``2q + 1`` on ``[0.5, 1.5]``: they overlap on half their width.
import math

import matplotlib.pyplot as plt
import numpy as np

import overlapcal as oc

dist = oc.OverlappingUniform(n_classes=4, overlap=0.5)
print(dist)
print("class intervals:\n", dist.class_intervals)
oc.plotting.plot_distribution_1d(dist, title="k = 4, overlap 0.5")
plt.show()

# %%
# The posterior is exact and piecewise constant: 1 where a single class is possible, 1/2 on
# the overlaps, NaN off the support (where no input can occur).
x = np.array([[0.25], [0.75], [1.25], [3.0], [4.75]])
print(np.round(dist.posterior(x), 3))

# %%
# Exact ground truth
# ------------------
# For pairs, the overlap mass is ``alpha``, the conditional entropy (the Bayes NLL) is
# ``alpha log 2`` and the Bayes accuracy ``1 - alpha / 2``. overlapcal computes them exactly
# from the interval arrangement, for any group size.
for alpha in [0.0, 0.25, 0.5, 1.0]:
    d = oc.OverlappingUniform(10, overlap=alpha)
    H, A = d.conditional_entropy(), d.bayes_accuracy()
    print(f"alpha = {alpha:4}: H(Y|X) = {H.value:.4f} (alpha log 2 = {alpha * math.log(2):.4f}), "
          f"A* = {A.value:.3f}, overlap mass = {float(d.overlap_mass()):.2f}, method = {H.method}")

# %%
# A Monte Carlo check of the same number: the Bayes predictor's NLL on a sample,
# ``mean(-log eta_y(x))``, estimates ``H(Y|X)``, with a standard error.
X, y = dist.sample(20_000, rng=0)
nll_i = -np.log(dist.posterior(X)[np.arange(len(y)), y])
print(f"sample Bayes NLL = {nll_i.mean():.4f} +- {nll_i.std(ddof=1) / np.sqrt(len(y)):.4f}, "
      f"exact H(Y|X) = {dist.conditional_entropy().value:.4f}")

# %%
# The identity NLL = H(Y|X) + R(g)
# --------------------------------
# Take any predictor, here a hard interpolator (1-nearest-neighbour labels with logit margin
# ``B = 3``) fitted on 40 points. Its KL risk ``R(g)`` is computed exactly (both the posterior
# and the predictor are piecewise constant in 1-D), and its NLL on a large test sample must
# agree with ``H(Y|X) + R(g)`` up to the sample's standard error.
X_train, y_train = dist.sample(40, rng=1)
hard = oc.HardInterpolator(margin=3.0).fit(X_train, y_train, n_classes=4)
R = oc.population_kl(hard, dist)
nll = -hard.log_proba(X)[np.arange(len(y)), y]
print(f"R(g) = {R.value:.4f} ({R.method}); H + R = {dist.conditional_entropy().value + R.value:.4f}")
print(f"sample NLL = {nll.mean():.4f} +- {nll.std(ddof=1) / np.sqrt(len(y)):.4f}")

# %%
# The same risk on a sample, without labels: average the KL divergence from the true
# posterior. No label noise enters, so this estimate is much tighter than the NLL's.
kl_i = oc.metrics.kl_to_posterior(hard.predict_proba(X), dist.posterior(X), reduction="none")
print(f"sample KL = {kl_i.mean():.4f} +- {kl_i.std(ddof=1) / np.sqrt(len(kl_i)):.4f}")

# %%
# Two reference predictors: the Bayes predictor has risk 0, and predicting uniformly at random
# has risk ``log k - H(Y|X)``, the yardstick of "no better than random".


class Uniform(oc.Predictor):
    """Always (1/k, ..., 1/k); constant, so it has no breakpoints (exact integration)."""

    def __init__(self, n_classes):
        self.n_classes_, self.n_features_in_ = n_classes, 1

    def _logits(self, X):
        return np.zeros((X.shape[0], self.n_classes_))

    def breakpoints(self):
        return np.array([])


print("R(Bayes)   =", round(oc.population_kl(oc.BayesPredictor(dist), dist).value, 12))
print("R(uniform) =", round(oc.population_kl(Uniform(4), dist).value, 6),
      " log k - H =", round(oc.bounds.uniform_risk(dist).value, 6))

# %%
# Overlap as a dial: Gaussian mixtures and label noise
# ----------------------------------------------------
# Gaussian classes overlap everywhere; their overlap is set by the distance between the means.
# ``with_bayes_error`` solves for the distance that gives a target Bayes error. Label noise is
# the other source of overlap: flipping each label to a fixed partner with probability ``rho``
# turns even well-separated classes into overlapping ones, with an exact posterior.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for ax, target in zip(axes, [0.02, 0.25]):
    gm = oc.GaussianMixture.with_bayes_error("simplex", target, n_classes=2, n_features=1)
    oc.plotting.plot_distribution_1d(gm, ax=ax, title=f"Gaussians, Bayes error {target}")
plt.show()

noisy = oc.LabelNoise(oc.OverlappingUniform(4, overlap=0.0), rate=0.2, kind="pair", rng=0)
print(f"class 0 flips to class {noisy.partner[0]}; posterior at x = 0.25:",
      np.round(noisy.posterior([[0.25]]), 3))
print(f"H(Y|X) = {noisy.conditional_entropy().value:.4f} "
      f"(binary entropy of 0.2 = {-(0.2 * math.log(0.2) + 0.8 * math.log(0.8)):.4f})")
