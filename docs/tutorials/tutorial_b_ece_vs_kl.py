"""
(b) Why ECE can say "calibrated" while KL says otherwise
========================================================

The expected calibration error (ECE) only looks at the top probability of each prediction.
This tutorial builds a model whose ECE is essentially zero after temperature scaling and whose
KL risk is nevertheless large, and shows where the difference sits: in the probabilities of
the classes the model did *not* predict (:doc:`theory, section 4.3 <../../theory>`,
Propositions 1 and 1b).
"""

# %%
# A model that interpolates overlapping classes
# ---------------------------------------------
# Ten classes in five overlapping pairs (``alpha = 0.5``). The hard interpolator fits 20
# training points per class: it predicts the label of the nearest training point with a logit
# margin ``B``, so it is (over)confident everywhere, including on the overlaps.
import matplotlib.pyplot as plt
import numpy as np

import overlapcal as oc
from overlapcal import metrics

k, alpha = 10, 0.5
dist = oc.OverlappingUniform(k, overlap=alpha)
X, y = dist.sample(20 * k, rng=0)
hard = oc.HardInterpolator(margin=15.0).fit(X, y, n_classes=k)

# %%
# Give it the best possible temperature: the oracle temperature minimises the exact population
# KL risk using the true posterior. (A practitioner would fit ``T`` on held-out labels with
# :class:`overlapcal.TemperatureScaling`; we do that too below.)
best = oc.oracle_temperature(hard, dist)
accuracy = oc.population_accuracy(hard, dist).value
print(f"oracle T* = {best.temperature:.3f}, accuracy A = {accuracy:.4f}")
print(f"KL risk before TS: {best.kl_at_1.value:.3f}, after oracle TS: {best.kl.value:.3f} nats")

# %%
# Proposition 1: after the oracle temperature the hard interpolator puts exactly ``p = A`` on
# its predicted class, so its confidence equals its accuracy.
p = 1.0 / (1.0 + (k - 1) * np.exp(-hard.margin / best.temperature))
print(f"confidence p = {p:.4f} = accuracy A = {accuracy:.4f}")

# %%
# Five predictors, two numbers each
# ---------------------------------
# On a test sample we compute the ECE with labels (15 equal-width bins), the ground-truth ECE
# (labels replaced by the true posterior, no label noise), and the KL divergence from the
# posterior; the population KL risk is computed exactly. Fitted TS uses 2000 held-out labelled
# points. The Mixup optimum (local mixing, oracle TS) is the model Mixup training aims at.
X_test, y_test = dist.sample(20_000, rng=1)
eta_test = dist.posterior(X_test)
X_val, y_val = dist.sample(2000, rng=2)
fitted = oc.TemperatureScaling().fit(hard.logits(X_val), y_val)
mixup = oc.MixupOptimum(dist, alpha=1.0, max_distance=1.5)
mixup_best = oc.oracle_temperature(mixup, dist)


class Uniform(oc.Predictor):
    def __init__(self, n_classes):
        self.n_classes_, self.n_features_in_ = n_classes, 1

    def _logits(self, X):
        return np.zeros((X.shape[0], self.n_classes_))

    def breakpoints(self):
        return np.array([])


models = {
    "Bayes posterior": oc.BayesPredictor(dist),
    "hard interpolator, T = 1": hard,
    f"hard interpolator, fitted T = {fitted.temperature_:.2f}":
        oc.TemperatureScaled(hard, fitted.temperature_),
    f"hard interpolator, oracle T = {best.temperature:.2f}":
        oc.TemperatureScaled(hard, best.temperature),
    f"Mixup optimum, oracle T = {mixup_best.temperature:.2f}":
        oc.TemperatureScaled(mixup, mixup_best.temperature),
    "uniform prediction": Uniform(k),
}
rows = []
for name, model in models.items():
    probs = model.predict_proba(X_test)
    risk = oc.population_kl(model, dist)
    rows.append((name, metrics.ece(probs, y_test), metrics.ece(probs, posterior=eta_test),
                 risk.value, risk.top_label, risk.runner_up))
print(f"{'predictor':42s} {'ECE':>7s} {'ECE(eta)':>9s} {'KL risk':>8s} {'top':>7s} {'runner-up':>9s}")
for name, e, e_eta, kl, top, runner in rows:
    print(f"{name:42s} {e:7.4f} {e_eta:9.4f} {kl:8.4f} {top:7.4f} {runner:9.4f}")

# %%
# Read the table row by row. The interpolator at the oracle temperature has an ECE
# indistinguishable from the Bayes posterior's (the labelled ECE is a few thousandths for
# *both*: that is binning and label noise), yet its KL risk is far from 0. The Mixup optimum
# has a larger ECE and a KL risk twenty times smaller. Even predicting uniformly at random
# scores an ECE near 0 here (its confidence ``1/k`` matches the frequency of class 0, which it
# "predicts" by the tie rule) while its KL risk is the worst in the table. Ranking models by
# ECE would get this exactly backwards.
names = [r[0] for r in rows]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
axes[0].barh(names, [r[2] for r in rows], color="C1")
axes[0].set_xlabel("ground-truth ECE")
axes[1].barh(names, [r[4] for r in rows], color="C1", label="top-label part")
axes[1].barh(names, [r[5] for r in rows], left=[r[4] for r in rows], color="C0",
             label="runner-up part")
axes[1].set_xlabel("KL risk (nats)")
axes[1].legend(fontsize=8)
axes[0].invert_yaxis()
fig.tight_layout()
plt.show()

# %%
# Where the KL risk hides: the runner-up part
# -------------------------------------------
# Proposition 1b splits the KL divergence into a top-label part (is the confidence right?) and
# a runner-up part (is the remaining mass on the right classes?). The interpolator spreads the
# remaining mass evenly over all ``k - 1`` other classes; on the overlaps the truth puts it on
# the one partner class. That costs ``(1 - eta_yhat)(log(k - 1) - H(eta~))`` at every input
# and no temperature changes it. For pairs, with the prediction inside the right pair, this is
# ``(alpha / 2) log(k - 1)``; the interpolator pays a little more, because next to the
# overlaps the nearest training point sometimes carries the other label of the pair:
print(f"runner-up part after oracle TS: {best.kl.runner_up:.4f}; "
      f"(alpha/2) log(k-1) = {alpha / 2 * np.log(k - 1):.4f}")
print(f"runner-up part at T = 1:        {best.kl_at_1.runner_up:.4f} (the same: T cannot touch it)")

# %%
# The reliability diagram of the oracle-scaled interpolator, against the true posterior: every
# prediction has the same confidence ``p = A`` and sits on the diagonal. By this picture the
# model is perfectly calibrated.
probs = models[f"hard interpolator, oracle T = {best.temperature:.2f}"].predict_proba(X_test)
curve = metrics.reliability_curve(probs, posterior=eta_test, n_bins=15)
ax = oc.plotting.reliability_diagram(curve)
ax.set_title(f"hard interpolator at T* = {best.temperature:.2f}: ECE(eta) = {curve.ece:.4f}")
plt.show()

# %%
# The converse does hold: a small KL risk forces a small ECE. Pinsker's inequality bounds the
# ground-truth ECE by ``sqrt(KL / 2)`` (tutorial (e) turns this into an executable claim).
# What fails is only "small ECE => small KL".
for name, e, e_eta, kl, top, runner in rows:
    if np.isfinite(kl):
        print(f"{name:42s} ECE(eta) = {e_eta:.4f} <= sqrt(KL/2) = {np.sqrt(kl / 2):.4f}")
