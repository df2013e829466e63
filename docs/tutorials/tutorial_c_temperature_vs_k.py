"""
(c) Temperature scaling versus the number of classes
====================================================

Corollary 2 (:doc:`theory, section 4.3 <../../theory>`) says that after the best possible
temperature an interpolator on overlapping pairs keeps a KL risk of at least

.. math:: H_b(A^*) + (1 - A^*) \\log(k - 1) - H(Y \\mid X),

which grows like :math:`(\\alpha/2) \\log k`. This tutorial measures it: hard interpolators for
``k`` from 2 to 256, recalibrated three ways (the oracle temperature, temperature scaling fitted
on held-out labels, and the paper's one-step LBFGS fit), against the bound and the uniform
predictor. Every KL risk is computed exactly.
"""

# %%
# The sweep
# ---------
import math

import matplotlib.pyplot as plt
import numpy as np

import overlapcal as oc


def corollary2(dist):
    """The right-hand side of Corollary 2, from the exact Bayes accuracy and entropy."""
    return oc.bounds.ts_lower_bound(dist).value


alpha = 0.5
ks = [2, 4, 8, 16, 32, 64, 128, 256]
results = []
for k in ks:
    dist = oc.OverlappingUniform(k, overlap=alpha)
    X, y = dist.sample(20 * k, rng=k)             # 20 training points per class
    X_val, y_val = dist.sample(10 * k, rng=k + 1)  # held-out labels for fitted TS
    hard = oc.HardInterpolator(margin=15.0).fit(X, y, n_classes=k)
    oracle = oc.oracle_temperature(hard, dist)
    fitted = oc.TemperatureScaling().fit(hard.logits(X_val), y_val)
    paper = oc.TemperatureScaling(method="paper-lbfgs").fit(hard.logits(X_val), y_val)
    results.append({
        "k": k,
        "oracle T": oracle.temperature, "oracle KL": oracle.kl.value,
        "fitted T": fitted.temperature_,
        "fitted KL": oc.population_kl(oc.TemperatureScaled(hard, fitted.temperature_), dist).value,
        "paper T": paper.temperature_,
        "paper KL": oc.population_kl(oc.TemperatureScaled(hard, paper.temperature_), dist).value,
        "bound": corollary2(dist),
        "uniform": oc.bounds.uniform_risk(dist).value,
    })

print(f"{'k':>4s} {'T*':>6s} {'KL(T*)':>7s} {'T fit':>6s} {'KL(fit)':>8s} {'T paper':>8s} "
      f"{'KL(paper)':>9s} {'bound':>6s} {'uniform':>7s}")
for r in results:
    print(f"{r['k']:4d} {r['oracle T']:6.2f} {r['oracle KL']:7.3f} {r['fitted T']:6.2f} "
          f"{r['fitted KL']:8.3f} {r['paper T']:8.3f} {r['paper KL']:9.3f} {r['bound']:6.3f} "
          f"{r['uniform']:7.3f}")

# %%
# Three things to see in the table. The oracle-TS risk is never below the bound, and tracks
# it: the interpolators' accuracy is close to the Bayes accuracy. Fitted TS lands close to the
# oracle temperature (a convex 1-D problem solved to convergence). The paper's single LBFGS
# step barely moves ``T`` from 1 and leaves most of the miscalibration in place.
#
# The Mixup optimum with local mixing has the same risk at every ``k`` (Proposition 5), so one
# computation gives its line.
dist2 = oc.OverlappingUniform(2, overlap=alpha)
mixup_kl = oc.oracle_temperature(oc.MixupOptimum(dist2, alpha=1.0, max_distance=1.5),
                                 dist2).kl.value

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
col = {key: np.array([r[key] for r in results]) for key in results[0]}
left.plot(ks, col["uniform"], "k:", label="uniform prediction")
left.plot(ks, col["paper KL"], "^-", color="C2", label="paper's LBFGS step")
left.plot(ks, col["fitted KL"], "s-", color="C1", label="fitted TS")
left.plot(ks, col["oracle KL"], "o-", color="C3", label="oracle TS")
left.plot(ks, col["bound"], "k--", label="Corollary 2 bound")
left.plot(ks, [mixup_kl] * len(ks), "-", color="C0", label="Mixup optimum, oracle TS")
left.set_xscale("log", base=2)
left.set_yscale("log")
left.set_xlabel("number of classes k")
left.set_ylabel("KL risk (nats)")
left.legend(fontsize=7)
right.plot(ks, col["oracle T"], "o-", color="C3", label="oracle T*")
right.plot(ks, col["fitted T"], "s--", color="C1", label="fitted T")
right.plot(ks, col["paper T"], "^-", color="C2", label="paper's LBFGS T")
right.set_xscale("log", base=2)
right.set_xlabel("number of classes k")
right.set_ylabel("temperature")
right.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Growth like log k
# -----------------
# Divide by ``log k``: the oracle-TS risk per nat of ``log k`` comes down towards
# ``alpha / 2 = 0.25``, the slope of the bound, and so does its ratio to the uniform
# predictor's risk. The interpolator never becomes much better than a fixed fraction of
# "random": a quarter of the uniform predictor's risk here, half of it at full overlap
# (``1 - 1/m`` for groups of ``m``; see the theory page's figure).
for r in results[2:]:
    print(f"k = {r['k']:3d}: KL(T*) / log k = {r['oracle KL'] / math.log(r['k']):.3f} "
          f"(alpha/2 = {alpha / 2}), KL(T*) / uniform = {r['oracle KL'] / r['uniform']:.3f}")

# %%
# The overlap dial at fixed k
# ---------------------------
# At ``k = 64`` the risk after oracle TS grows with the overlap ``alpha``; without overlap the
# interpolator is the Bayes classifier and temperature scaling can drive the risk to 0.
alphas = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]
k = 64
kl_alpha, bound_alpha = [], []
for a in alphas:
    dist = oc.OverlappingUniform(k, overlap=a)
    X, y = dist.sample(20 * k, rng=3)
    hard = oc.HardInterpolator(margin=15.0).fit(X, y, n_classes=k)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            # alpha = 0: the risk decreases as T -> 0 (separable), reported by a warning
            warnings.simplefilter("ignore", oc.CalibrationWarning)
            kl_alpha.append(oc.oracle_temperature(hard, dist).kl.value)
    bound_alpha.append(corollary2(dist))
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(alphas, kl_alpha, "o-", color="C3", label="hard interpolator, oracle TS")
ax.plot(alphas, bound_alpha, "k--", label="Corollary 2 bound")
ax.set_xlabel("overlap alpha")
ax.set_ylabel("KL risk (nats)")
ax.set_title(f"k = {k}")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
