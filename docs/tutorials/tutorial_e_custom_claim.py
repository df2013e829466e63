"""
(e) Writing your own proofs_check claim
=======================================

Every statement marked (P) in the theory is a *claim* of the ``proofs_check`` package: a
function computes both sides of the statement at some parameters and returns a
:class:`proofs_check.Check`; Hypothesis searches the parameters for a counterexample; the
**margin** says how far the statement is from failing; and a deliberately *wrong* variant proves
that the check can fail at all. This tutorial writes a new claim from scratch, runs it with the
project's runner, and draws its margins.

The statement we check is the converse that tutorial (b) left open: a small KL risk *does*
force a small calibration error. For any predictions ``g_i`` with true posteriors ``eta_i``,

.. math::

   \\mathrm{ECE}_\\eta = \\sum_b \\frac{|B_b|}{n} \\big|\\mathrm{mean}_{B_b}(\\eta_{\\hat y})
   - \\mathrm{mean}_{B_b}(g_{\\hat y})\\big| \\;\\le\\; \\sqrt{\\tfrac12\\,
   \\mathrm{mean}_i\\, \\mathrm{KL}(\\eta_i \\,\\|\\, g_i)} .

*Proof.* The triangle inequality moves the absolute value inside the bins,
``|eta_yhat - g_yhat|`` is at most the total variation distance, Pinsker's inequality bounds
that by ``sqrt(KL / 2)``, and Jensen's inequality (``sqrt`` is concave) moves the mean inside.
"""

# %%
# The three ingredients
# ---------------------
# **Parameters**: a Hypothesis strategy of parameter dicts. Following the house style, the
# strategy builds valid inputs rather than filtering: it draws sizes, a seed and a ``scale``
# that sets how far the posterior is from the predictions (small scales are the interesting,
# nearly calibrated cases), and the check turns them into probability rows with a softmax.
import math

import matplotlib.pyplot as plt
import numpy as np
from hypothesis import strategies as st

from overlapcal import metrics
from overlapcal._numerics import softmax
from proofs_check import REGISTRY, Check, Claim, register
from proofs_check.runner import grid_margins, run_claim


def parameters():
    return st.fixed_dictionaries({
        "n_classes": st.integers(2, 8),
        "n_samples": st.integers(1, 50),
        "n_bins": st.integers(1, 20),
        "scale": st.floats(1e-4, 3.0),
        "seed": st.integers(0, 2**32 - 1),
    })


def arrays(p):
    """Predictions ``g`` (softmax of Gaussian logits) and a posterior ``eta`` perturbed from them."""
    rng = np.random.default_rng(p["seed"])
    logits = 2.0 * rng.standard_normal((p["n_samples"], p["n_classes"]))
    probs = softmax(logits)
    eta = softmax(logits + p["scale"] * rng.standard_normal(logits.shape))
    return probs, eta


# %%
# **The check**: both sides and the relation. The tolerance is the part of the slack that
# floating point may eat; here both sides are sums of at most ``n (k + 2)`` float64 terms of
# size at most 1 (ECE) or ``log``-sized (KL), so ``1e-12`` is far above their rounding
# (about ``n k`` times ``2**-53``) and far below any real violation.
TOL = 1e-12


def check(p, *, square_root=True):
    probs, eta = arrays(p)
    ece = metrics.ece(probs, posterior=eta, n_bins=p["n_bins"])
    kl = metrics.kl_to_posterior(probs, eta)
    rhs = math.sqrt(kl / 2.0) if square_root else kl
    return Check(ece, rhs, "<=", TOL, f"KL={kl:.3g}")


# %%
# **The claim**: the statement in words and as a formula, where it comes from, how the
# tolerance is justified, and the wrong variant. Here the wrong variant drops the square root,
# claiming ``ECE <= KL``, which is false for nearly calibrated predictions (``ECE`` shrinks
# like the distance, ``KL`` like its square). A grid of parameters gives the margins as data.
claim = Claim(
    id="tutorial-ece-pinsker",
    statement="The ground-truth ECE is at most sqrt(KL / 2), the square root of half the mean "
              "KL divergence from the posterior (Pinsker and Jensen).",
    formula="ECE_eta(g) <= sqrt(mean_i KL(eta_i || g_i) / 2)",
    reference="docs tutorial (e); THEORY.md 2.1 and 2.5",
    kind="bound",
    tolerance="1e-12: float64 rounding of sums of at most n (k + 2) bounded terms.",
    parameters=parameters,
    check=check,
    wrong=lambda p: check(p, square_root=False),
    wrong_description="drops the square root: ECE <= KL",
    grid=lambda: [{"n_classes": k, "n_samples": 200, "n_bins": 15, "scale": s, "seed": 0}
                  for k in (2, 10) for s in np.geomspace(1e-3, 3.0, 13).tolist()],
    grid_axes=("scale", "n_classes"),
)
if claim.id not in REGISTRY:  # register once (re-running this script in one session is fine)
    register(claim)

# %%
# Running it
# ----------
# :func:`proofs_check.runner.run_claim` wraps the check in a Hypothesis property, steers the
# search towards small margins, and shrinks any failure to a small counterexample. The ``ci``
# profile is deterministic (the same examples on every run), as in the test suite.
result = run_claim(claim, profile="ci", max_examples=100)
print(f"{result.id}: {result.status} on {result.examples} examples; "
      f"smallest margin {result.min_margin:.3g} at {result.worst_params}")

# %%
# The self-test: the wrong variant must be *caught*. Its status says so, and the runner gives
# the shrunk counterexample with a command line that replays it.
wrong = run_claim(claim, profile="ci", max_examples=100, variant="wrong")
print(f"wrong variant: {wrong.status}; counterexample {wrong.counterexample}")
print(f"  {wrong.counterexample_check}")

# %%
# Margins as data
# ---------------
# The grid evaluates the check at fixed parameters; the margin shows how tight the bound is.
# For nearly calibrated predictions the ECE and ``sqrt(KL / 2)`` shrink together (the bound is
# tight up to a constant), which is exactly why the square root cannot be dropped.
points, problems = grid_margins(claim)
assert not problems, problems
fig, ax = plt.subplots(figsize=(6, 3.4))
for k in (2, 10):
    pts = [q for q in points if q["n_classes"] == k]
    scale = [q["scale"] for q in pts]
    ax.plot(scale, [q["rhs"] for q in pts], "-", color=f"C{k % 9}", label=f"sqrt(KL/2), k = {k}")
    ax.plot(scale, [q["lhs"] for q in pts], "o--", ms=3, color=f"C{k % 9}", label=f"ECE, k = {k}")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("scale of the perturbation")
ax.set_ylabel("value")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
# Making it part of the suite
# ---------------------------
# A claim lives in a module under ``proofs_check/claims/``; importing the package registers it
# (add the module to ``proofs_check/claims/__init__.py``). From then on the command line runs
# it with the others, and the documentation's report shows its margins::
#
#     python -m proofs_check --list                          # every registered claim
#     python -m proofs_check --claim tutorial-ece-pinsker    # just this one
#     python -m proofs_check --profile thorough --out DIR    # more examples, targeted search
from proofs_check import all_claims  # noqa: E402  (imports and registers the package's claims)

ids = [c.id for c in all_claims()]
print(f"{len(ids)} claims registered in this session, ours among them: {claim.id in ids}")
