"""
(d) Mixup's optimum next to a trained Mixup network
===================================================

Mixup trains on mixed inputs ``z = lam x_i + (1 - lam) x_j`` with mixed labels
``lam e_{y_i} + (1 - lam) e_{y_j}``. Proposition 3 (:doc:`theory, section 5 <../../theory>`)
says what the best possible model for this objective is: at every ``z``, the average mixed
label of all the pairs that land there. This tutorial computes that optimum exactly and trains
small networks with Mixup to see them converge to it, first on two points (Proposition 4: the
optimum is the straight line ``g(z)_1 = z``), then on overlapping classes.
"""

# %%
# Two points
# ----------
# One point at 0 in class 0 and one at 1 in class 1 (repeated 64 times each, so that
# minibatches mix the two empirical classes in the right proportions). The finite-sample
# optimum is computed exactly by :class:`overlapcal.EmpiricalMixupOptimum`; the networks are
# small MLPs trained on the CPU in about a second each.
import matplotlib.pyplot as plt
import numpy as np
import torch

import overlapcal as oc

torch.set_num_threads(1)  # small networks: one thread is fastest and reproducible

X2 = np.array([[0.0]] * 64 + [[1.0]] * 64)
y2 = np.array([0] * 64 + [1] * 64)
optimum = oc.EmpiricalMixupOptimum(alpha=1.0).fit(X2, y2)
settings = dict(epochs=200, batch_size=32, lr=3e-3, width=64, lr_schedule="cosine", rng=0)
mix_net = oc.nets.train(X2, y2, "mixup", alpha=1.0, **settings)
erm_net = oc.nets.train(X2, y2, "erm", **settings)

z = np.linspace(-0.25, 1.25, 301)[:, None]
inside = (z[:, 0] > 0) & (z[:, 0] < 1)
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(z[inside, 0], optimum.predict_proba(z[inside])[:, 1], color="k", lw=5, alpha=0.3,
        label="Mixup optimum (exact): $g(z)_1 = z$")
ax.plot(z[:, 0], mix_net.predict_proba(z)[:, 1], color="C0", label="network trained with Mixup")
ax.plot(z[:, 0], erm_net.predict_proba(z)[:, 1], color="C3", ls="--", label="network trained with ERM")
ax.plot([0, 1], [0, 1], "o", color="k")
ax.set_xlabel("z")
ax.set_ylabel("P(class 1)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

grid = np.linspace(0.1, 0.9, 9)[:, None]
gap = np.abs(mix_net.predict_proba(grid)[:, 1] - grid[:, 0]).max()
print(f"largest gap between the Mixup network and the line on [0.1, 0.9]: {gap:.3f}")
print("atoms of the Mixup measure (a point mixed with a copy of itself):",
      optimum.atoms_.masses, "; share with a density:", optimum.density_mass_)

# %%
# The ERM network only has to separate two points and is free to do so with a steep step;
# the Mixup network is pinned to the optimum between the points, because each mixed input has
# exactly one possible mixed label there. Outside ``[0, 1]`` no mixture lands, so neither
# objective constrains the network.
#
# Overlapping classes
# -------------------
# Two classes overlapping on half their width (uniform on ``[0, 1]`` and ``[0.5, 1.5]``), 300
# training points. Three curves can be computed exactly: the Bayes posterior, the population
# Mixup optimum :class:`overlapcal.MixupOptimum` (the infinite-data target) and the optimum of
# this particular sample. The Mixup network should follow the latter.
dist = oc.OverlappingUniform(2, overlap=0.5)
X, y = dist.sample(300, rng=0)
population = oc.MixupOptimum(dist, alpha=1.0)
sample_opt = oc.EmpiricalMixupOptimum(alpha=1.0).fit(X, y)
mix_net = oc.nets.train(X, y, "mixup", alpha=1.0, epochs=200, batch_size=64, lr=3e-3,
                        width=64, lr_schedule="cosine", rng=0)
erm_net = oc.nets.train(X, y, "erm", epochs=200, batch_size=64, lr=1e-2, width=64, rng=0)

x = np.linspace(0.001, 1.499, 600)[:, None]
fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(x[:, 0], dist.posterior(x)[:, 1], color="gray", lw=1, label="Bayes posterior")
ax.plot(x[:, 0], population.predict_proba(x)[:, 1], color="k", lw=5, alpha=0.3,
        label="Mixup optimum, population")
ax.plot(x[:, 0], sample_opt.predict_proba(x)[:, 1], color="k", lw=1, ls=":",
        label="Mixup optimum, this sample")
ax.plot(x[:, 0], mix_net.predict_proba(x)[:, 1], color="C0", label="Mixup network")
ax.plot(x[:, 0], erm_net.predict_proba(x)[:, 1], color="C3", lw=0.8, label="ERM network")
ax.plot(X[:, 0], y + np.where(y == 1, 0.03, -0.03), "|", color="k", ms=6, alpha=0.5)
ax.set_xlabel("x")
ax.set_ylabel("P(class 1)")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
fig.tight_layout()
plt.show()

# %%
# The Mixup optimum is *not* the Bayes posterior: mixtures of the two classes spread class-1
# mass into ``[0, 0.5)`` and class-0 mass into ``(1, 1.5]``, so it is less confident than Bayes
# off the overlap. The Mixup network follows the optimum of its sample closely. Population KL
# risks (Monte Carlo with 20 000 inputs; no label noise enters), next to an *interpolating*
# model, the hard interpolator fitted on the same 300 points, even at its oracle temperature:
hard = oc.HardInterpolator(margin=15.0).fit(X, y)
hard_best = oc.oracle_temperature(hard, dist)
for name, model in [("Mixup optimum (population)", population), ("Mixup network", mix_net),
                    ("ERM network", erm_net)]:
    risk = oc.population_kl(model, dist, method="monte-carlo", n_samples=20_000, rng=1)
    print(f"{name:34s} R = {risk.value:.4f} +- {risk.stderr:.4f}")
print(f"{'hard interpolator, oracle TS':34s} R = {hard_best.kl.value:.4f} (exact)")
print(f"ERM network training accuracy: {erm_net.train_accuracy_:.3f} "
      f"(the Bayes accuracy is {dist.bayes_accuracy().value:.3f})")

# %%
# Two honest observations. This small ERM network did not interpolate (its training accuracy
# is far from 1 on data where a quarter of the labels are coin flips), stayed smooth, and ends
# up *closer* to the Bayes posterior than Mixup: with two classes, Mixup's smoothing has a
# price. The theory's gap is about models that interpolate, like the hard interpolator, whose
# risk even after the best temperature is several times Mixup's, and it widens like ``log k``
# with the number of classes (:doc:`tutorial_c_temperature_vs_k`), while the Mixup optimum's
# stays constant (Proposition 5).
