"""Tests of overlapcal.metrics against slow, independent oracles.

Oracles are written per sample with Python loops (no shared code with the library): the
predicted class by an explicit scan, bins by explicit comparisons with the edges ``b/M``,
equal-mass runs by slicing a sorted list, the smooth ECE by a direct O(n G) sum of the
reflected Gaussian kernel with explicit mirror images. Vectorized and loop results sum the same
numbers in a different order, so they agree to ~1e-12 (``RTOL``), not exactly.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm as normal

from overlapcal import metrics as M

# loop oracles and vectorized code add the same float64 terms in different orders: agreement is
# limited by accumulated rounding, ~n * eps ~ 1e-13 for the sizes used here
RTOL = 1e-11
ATOL = 1e-12


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def softmax_rows(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def make_data(n, k, seed, scale=2.0, wobble=0.15):
    """Probabilities with accuracy f + wobble sin(3 pi f): over- and under-confident regions."""
    rng = np.random.default_rng(seed)
    probs = softmax_rows(rng.normal(size=(n, k)) * scale)
    f = probs.max(axis=1)
    top = probs.argmax(axis=1)
    acc = np.clip(f + wobble * np.sin(3 * np.pi * f), 0, 1)
    correct = rng.random(n) < acc
    other = (top + rng.integers(1, k, n)) % k
    return probs, np.where(correct, top, other)


def draw_labels(probs, rng):
    """One label per row drawn from that row (inverse-CDF sampling)."""
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((u >= probs.cumsum(axis=1)).sum(axis=1), probs.shape[1] - 1)


# --------------------------------------------------------------------------------------------
# Slow oracles
# --------------------------------------------------------------------------------------------


def loop_top_label(probs, labels=None, posterior=None):
    conf, target = [], []
    for i in range(probs.shape[0]):
        row = [float(v) for v in probs[i]]
        best = 0
        for c in range(1, len(row)):
            if row[c] > row[best]:  # strict: ties keep the smallest index
                best = c
        conf.append(row[best])
        if posterior is None:
            target.append(1.0 if int(labels[i]) == best else 0.0)
        else:
            target.append(float(posterior[i][best]))
    return conf, target


def loop_uniform_bin(x, n_bins):
    edges = [b / n_bins for b in range(n_bins + 1)]
    if x <= edges[1]:
        return 0
    for b in range(1, n_bins):
        if edges[b] < x <= edges[b + 1]:
            return b
    raise AssertionError(x)


def loop_quantile_edges(values, n_bins):
    s = sorted(values)
    parts = min(n_bins, len(s))
    size, extra = divmod(len(s), parts)
    runs, start = [], 0
    for j in range(parts):
        stop = start + size + (1 if j < extra else 0)
        runs.append(s[start:stop])
        start = stop
    return sorted({(runs[j][-1] + runs[j + 1][0]) / 2 for j in range(parts - 1)})


def loop_quantile_bin(x, edges):
    for j, e in enumerate(edges):
        if x <= e:
            return j
    return len(edges)


def loop_bins(conf, target, n_bins, binning):
    """{bin: [list of conf, list of target]} with the documented edge conventions."""
    if binning == "quantile":
        edges = loop_quantile_edges(conf, n_bins)
    bins = {}
    for x, t in zip(conf, target, strict=True):
        b = loop_uniform_bin(x, n_bins) if binning == "uniform" else loop_quantile_bin(x, edges)
        bins.setdefault(b, ([], []))
        bins[b][0].append(x)
        bins[b][1].append(t)
    return bins


def loop_binned(conf, target, n_bins=15, binning="uniform", kind="l1"):
    bins = loop_bins(conf, target, n_bins, binning)
    n = len(conf)
    gaps = {b: abs(sum(ts) / len(ts) - sum(xs) / len(xs)) for b, (xs, ts) in bins.items()}
    sizes = {b: len(xs) for b, (xs, _) in bins.items()}
    if kind == "l1":
        return sum(sizes[b] / n * gaps[b] for b in bins)
    if kind == "l2":
        return math.sqrt(sum(sizes[b] / n * gaps[b] ** 2 for b in bins))
    if kind == "max":
        return max(gaps.values())
    if kind == "ace":
        return sum(gaps.values()) / len(gaps)
    if kind == "debiased":
        total = 0.0
        for xs, ts in bins.values():
            nb = len(xs)
            if nb < 2:
                continue
            ybar = sum(ts) / nb
            gap2 = (ybar - sum(xs) / nb) ** 2
            var = sum((t - ybar) ** 2 for t in ts) / (nb - 1) / nb  # = ybar(1-ybar)/(nb-1) for 0/1
            total += nb / n * (gap2 - var)
        return total
    raise ValueError(kind)


def loop_classwise(probs, labels=None, posterior=None, n_bins=15, binning="uniform", norm="l1"):
    n, k = probs.shape
    per_class = []
    for c in range(k):
        col = [float(probs[i][c]) for i in range(n)]
        tgt = [float(posterior[i][c]) if posterior is not None else float(labels[i] == c) for i in range(n)]
        if norm == "l1":
            per_class.append(loop_binned(col, tgt, n_bins, binning, "l1"))
        else:
            per_class.append(loop_binned(col, tgt, n_bins, binning, "l2") ** 2)
    mean = sum(per_class) / k
    return mean if norm == "l1" else math.sqrt(mean)


def direct_smooth_ece(conf, target, sigma, n_grid=4001, images=2):
    """(1/n) int_0^1 |sum_i r_i K(x, f_i)| dx with K summed over explicit mirror images.

    Images up to |m| = 2 (period 2): the next ones are >= 3 away, phi(3 / 0.4) ~ 1e-13 for the
    widest sigma used. Trapezoid on 4001 points: ~4e-8 error at sigma = 0.03 (checked against
    16001 points).
    """
    f = np.asarray(conf, dtype=float)
    r = np.asarray(target, dtype=float) - f
    x = np.linspace(0.0, 1.0, n_grid)
    smoothed = np.zeros(n_grid)
    for m in range(-images, images + 1):
        for u in (f + 2 * m, -f + 2 * m):
            smoothed += normal.pdf(x[:, None] - u[None, :], scale=sigma) @ r
    return np.trapezoid(np.abs(smoothed), x) / f.size


# --------------------------------------------------------------------------------------------
# Binned top-label metrics against the loop oracles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 4, 15])
def test_binned_metrics_match_loop_oracle(binning, n_bins):
    probs, labels = make_data(700, 4, seed=n_bins)
    conf, target = loop_top_label(probs, labels)
    for norm in ("l1", "l2", "max"):
        kind = norm
        got = M.ece(probs, labels, n_bins, binning, norm)
        assert got == pytest.approx(loop_binned(conf, target, n_bins, binning, kind), rel=RTOL, abs=ATOL)
    assert M.mce(probs, labels, n_bins, binning) == pytest.approx(
        loop_binned(conf, target, n_bins, binning, "max"), rel=RTOL, abs=ATOL)
    assert M.ace(probs, labels, n_bins, binning) == pytest.approx(
        loop_binned(conf, target, n_bins, binning, "ace"), rel=RTOL, abs=ATOL)
    squared = loop_binned(conf, target, n_bins, binning, "debiased")
    assert M.debiased_l2_ce(probs, labels, n_bins, binning, squared=True) == pytest.approx(
        squared, rel=RTOL, abs=ATOL)
    assert M.debiased_l2_ce(probs, labels, n_bins, binning) == pytest.approx(
        math.sqrt(max(squared, 0.0)), rel=RTOL, abs=ATOL)


def test_adaptive_ece_is_quantile_ece():
    probs, labels = make_data(500, 3, seed=3)
    for norm in ("l1", "l2", "max"):
        assert M.adaptive_ece(probs, labels, 10, norm) == M.ece(probs, labels, 10, "quantile", norm)


@given(
    logits=st.lists(st.lists(st.floats(-6, 6), min_size=3, max_size=3), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
    n_bins=st.integers(1, 12),
    binning=st.sampled_from(["uniform", "quantile"]),
)
def test_ece_matches_oracle_property(logits, seed, n_bins, binning):
    # rounding logits to a coarse grid creates exact ties between classes and between samples
    probs = softmax_rows(np.round(np.array(logits), 1))
    labels = np.random.default_rng(seed).integers(0, 3, probs.shape[0])
    conf, target = loop_top_label(probs, labels)
    assert M.ece(probs, labels, n_bins, binning) == pytest.approx(
        loop_binned(conf, target, n_bins, binning, "l1"), rel=RTOL, abs=ATOL)
    assert M.ace(probs, labels, n_bins, binning) == pytest.approx(
        loop_binned(conf, target, n_bins, binning, "ace"), rel=RTOL, abs=ATOL)


@pytest.mark.parametrize("n_bins", [1, 10, 15, 25, 41, 100])
def test_uniform_bin_index_is_exact_on_and_around_edges(n_bins):
    # n_bins = 25 and 41 have edges b/M whose product with M rounds above b in float64, so the
    # ceil(x M) shortcut alone would misplace them
    edges = np.arange(n_bins + 1) / n_bins
    x = np.concatenate([
        [0.0, 1.0, 1e-300, np.nextafter(1.0, 0.0)],
        edges,
        np.nextafter(edges, 0.0),
        np.nextafter(edges, 1.0),
        np.random.default_rng(0).random(500),
    ])
    x = np.clip(x, 0.0, 1.0)
    got = M._uniform_bin_index(x, n_bins)
    want = [loop_uniform_bin(v, n_bins) for v in x]
    np.testing.assert_array_equal(got, want)
    # also for float32 inputs: compared exactly as their float64 values
    x32 = np.concatenate([x, np.float32(edges), np.nextafter(np.float32(edges), np.float32(0)),
                          np.nextafter(np.float32(edges), np.float32(1))]).astype(np.float32)
    x32 = np.clip(x32, 0, 1)
    np.testing.assert_array_equal(M._uniform_bin_index(x32, n_bins),
                                  [loop_uniform_bin(float(v), n_bins) for v in x32])


def test_confidence_zero_first_bin_and_one_last_bin():
    # classwise binning sees probabilities exactly 0 and 1; with 2 bins, 0 must join (0, 0.5]
    # and 1 must join (0.5, 1]: a gap computed over {0, 0.3} and {0.8, 1}
    probs = np.array([[1.0, 0.0], [0.7, 0.3], [0.2, 0.8], [0.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    want = loop_classwise(probs, labels, n_bins=2)
    assert M.classwise_ece(probs, labels, n_bins=2) == pytest.approx(want, rel=RTOL, abs=ATOL)
    # hand value: class 0 bins {0.0 (y=0), 0.2 (y=0)} gap 0.1, {1.0 (1), 0.7 (1)} gap 0.15;
    # class 1 is the mirror image -> (0.5*0.1 + 0.5*0.15) for both classes
    assert want == pytest.approx(0.125, abs=1e-15)
    # top-label: confidence exactly 1.0 lands in the last bin, (14/15, 1]
    # (with a bin of its own for 1.0, as in torchmetrics, this would be 0.5 * 1 + 0.5 * 0.05)
    probs = np.array([[1.0, 0.0], [0.95, 0.05]])
    assert M.ece(probs, np.array([1, 0])) == pytest.approx(abs(0.5 - 0.975), abs=1e-15)


def test_confidence_on_an_edge_goes_to_the_lower_bin():
    # conf 0.6 = 3/5 is the right end of bin (0.4, 0.6]; left-closed libraries put it with 0.7
    probs = np.array([[0.6, 0.4], [0.7, 0.3]])
    labels = np.array([0, 1])
    # right-closed: bins {0.6: correct}, {0.7: wrong} -> (0.4 + 0.7) / 2
    assert M.ece(probs, labels, n_bins=5) == pytest.approx(0.55, abs=1e-15)


def test_equal_mass_bins_sizes_and_ties():
    rng = np.random.default_rng(5)
    n, n_bins = 1003, 10
    f = rng.uniform(0.5, 1.0, n)
    data = M._TopLabel(f, np.zeros(n))
    count, *_ = M._bin_sums(data, None, n_bins, "quantile")
    # array_split sizes: n mod M runs of ceil(n/M), the rest floor(n/M)
    np.testing.assert_array_equal(np.sort(count)[::-1], [101, 101, 101] + [100] * 7)
    # ties: 0.7 repeated across the boundary of the first two runs stays in one bin
    f2 = np.array([0.6, 0.7, 0.7, 0.7, 0.8, 0.9])
    count2, *_ = M._bin_sums(M._TopLabel(f2, np.zeros(6)), None, 2, "quantile")
    np.testing.assert_array_equal(count2, [4, 2])
    # more bins than samples: one bin per sample
    count3, *_ = M._bin_sums(M._TopLabel(np.array([0.6, 0.9]), np.zeros(2)), None, 15, "quantile")
    np.testing.assert_array_equal(count3, [1, 1])
    # all confidences equal: a single bin whatever n_bins
    count4, *_ = M._bin_sums(M._TopLabel(np.full(7, 0.8), np.zeros(7)), None, 3, "quantile")
    assert count4[count4 > 0].tolist() == [7]


def test_tie_rule_first_argmax():
    # [0.4, 0.4, 0.2]: predicted class 0 (smallest index), so label 1 counts as wrong
    probs = np.array([[0.4, 0.4, 0.2]])
    assert M.ece(probs, np.array([0])) == pytest.approx(0.6, abs=1e-15)
    assert M.ece(probs, np.array([1])) == pytest.approx(0.4, abs=1e-15)
    # uniform predictor: accuracy is the frequency of class 0
    probs = np.full((4, 4), 0.25)
    assert M.ece(probs, np.array([0, 1, 2, 3])) == pytest.approx(0.0, abs=1e-15)
    # posterior variant takes eta at the first argmax
    eta = np.array([[0.1, 0.6, 0.3]])
    assert M.ece(np.array([[0.4, 0.4, 0.2]]), posterior=eta) == pytest.approx(0.3, abs=1e-15)


# --------------------------------------------------------------------------------------------
# Classwise
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_classwise_matches_loop(binning, norm):
    probs, labels = make_data(300, 4, seed=11)
    got = M.classwise_ece(probs, labels, 7, binning, norm)
    assert got == pytest.approx(loop_classwise(probs, labels, None, 7, binning, norm), rel=RTOL, abs=ATOL)
    eta = softmax_rows(np.log(probs) * 0.7)
    got = M.classwise_ece(probs, n_bins=7, binning=binning, norm=norm, posterior=eta)
    assert got == pytest.approx(loop_classwise(probs, None, eta, 7, binning, norm), rel=RTOL, abs=ATOL)


def test_classwise_chunking_and_blocks_do_not_change_the_result(monkeypatch):
    probs, labels = make_data(400, 6, seed=12)
    want_u = M.classwise_ece(probs, labels)
    want_q = M.classwise_ece(probs, labels, binning="quantile")
    monkeypatch.setattr(M, "_CHUNK_BYTES", 7 * 6 * 8)  # 7 rows per chunk
    monkeypatch.setattr(M, "_BLOCK_BYTES", 2 * 400 * 8)  # 2 columns per block
    assert M.classwise_ece(probs, labels) == pytest.approx(want_u, rel=RTOL, abs=ATOL)
    assert M.classwise_ece(probs, labels, binning="quantile") == pytest.approx(want_q, rel=RTOL, abs=ATOL)


# --------------------------------------------------------------------------------------------
# Debiased l2: unbiasedness by simulation
# --------------------------------------------------------------------------------------------


def test_debiased_l2_is_unbiased_where_plug_in_is_not():
    # A calibrated model constant within each uniform bin (f in {0.6, 0.7, 0.8, 0.9}, one value per
    # bin): the true binned squared error is 0, so E[debiased CE^2] = 0 exactly, while the plug-in
    # l2^2 has expectation sum_b f_b (1 - f_b) / n > 0. Over R replicates the mean of the debiased
    # estimate must be within 4 standard errors of 0 (false-failure rate ~6e-5); the plug-in mean
    # is ~1e-3 / (stderr ~2e-5), i.e. tens of standard errors above 0.
    rng = np.random.default_rng(2024)
    n, reps = 200, 400
    debiased, plug_in = [], []
    for _ in range(reps):
        f = rng.choice([0.6, 0.7, 0.8, 0.9], size=n)
        probs = np.stack([f, 1 - f], axis=1)
        labels = (rng.random(n) >= f).astype(int)  # P(label 0) = f: calibrated
        debiased.append(M.debiased_l2_ce(probs, labels, n_bins=15, binning="uniform", squared=True))
        plug_in.append(M.ece(probs, labels, n_bins=15, norm="l2") ** 2)
    debiased, plug_in = np.array(debiased), np.array(plug_in)
    se = debiased.std(ddof=1) / np.sqrt(reps)
    assert abs(debiased.mean()) < 4 * se
    se_plug = plug_in.std(ddof=1) / np.sqrt(reps)
    assert plug_in.mean() > 10 * se_plug
    # E[plug-in l2^2] = sum_b (n_b/n) f_b (1 - f_b) / n_b = sum_b f_b (1 - f_b) / n
    expected_bias = (0.6 * 0.4 + 0.7 * 0.3 + 0.8 * 0.2 + 0.9 * 0.1) / n
    assert abs(plug_in.mean() - expected_bias) < 4 * se_plug


def test_debiased_bins_with_fewer_than_two_samples_contribute_zero():
    probs = np.array([[0.9, 0.1], [0.55, 0.45]])  # one sample per uniform bin
    assert M.debiased_l2_ce(probs, np.array([1, 1]), binning="uniform", squared=True) == 0.0
    assert M.debiased_l2_ce(probs, np.array([1, 1]), binning="uniform") == 0.0


# --------------------------------------------------------------------------------------------
# Smooth ECE
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.03, 0.1, 0.4])
@pytest.mark.parametrize("atoms", [False, True])
def test_smooth_ece_matches_direct_kernel_sum(sigma, atoms):
    probs, labels = make_data(200, 4, seed=21)
    if atoms:  # confidences of exactly 1.0 (a hard interpolator): reflection must keep their mass
        probs[:40] = np.eye(4)[np.arange(40) % 4]
    conf, target = loop_top_label(probs, labels)
    want = direct_smooth_ece(conf, target, sigma)
    # oracle error ~4e-8; ours ~2e-7 (linear binning at >= 32 grid steps per sigma): 2e-6 leaves
    # a 10x margin (relplot's discretisation is off by 2e-4 to 1e-2 on these data)
    assert M.smooth_ece(probs, labels, bandwidth=sigma) == pytest.approx(want, abs=2e-6)


def test_ece_blind_spot_zero_ece_large_kl():
    # THEORY.md 2.5 / Proposition 1b: overlapping pairs with full overlap (eta = 1/2 on the pair),
    # a hard interpolator after oracle TS puts p = A = 1/2 on its class and 1/6 elsewhere (k = 4):
    # top-label ECE against eta is exactly 0, the KL risk is (alpha/2) log(k - 1) = log(3)/2
    n, k = 400, 4
    pair = np.arange(n) % 2
    eta = np.zeros((n, k))
    eta[np.arange(n), 2 * pair] = 0.5
    eta[np.arange(n), 2 * pair + 1] = 0.5
    g = np.full((n, k), 1 / 6)
    g[np.arange(n), 2 * pair] = 0.5
    assert M.ece(g, posterior=eta) == 0.0
    assert M.smooth_ece(g, posterior=eta) == 0.0
    assert M.kl_to_posterior(g, eta) == pytest.approx(math.log(3) / 2, rel=1e-14)


def test_smoothing_keeps_the_mass_of_points_at_and_near_zero():
    # top-label confidences are >= 1/k, so masses at 0 are reached through the internal grid:
    # points at exactly 0 and within one grid step of it, against the direct kernel sum
    rng = np.random.default_rng(23)
    conf = np.concatenate([np.zeros(20), rng.uniform(0, 3e-4, 20), rng.uniform(0, 1, 60)])
    target = rng.random(100)
    grid = M._SmoothGrid(M._TopLabel(conf, target), None)
    for sigma in (0.02, 0.2):
        assert grid.value(sigma) == pytest.approx(direct_smooth_ece(conf, target, sigma), abs=2e-6)


def test_smooth_ece_same_sign_residuals_is_mean_residual():
    # reflection preserves mass, so if every residual has one sign, int |R| = |sum r| exactly
    rng = np.random.default_rng(1)
    f = rng.uniform(0.5, 1.0, 500)
    probs = np.stack([f, 1 - f], axis=1)
    eta = np.stack([f ** 2, 1 - f ** 2], axis=1)  # eta_top = f^2 <= f everywhere
    want = np.mean(f - f ** 2)
    for sigma in (0.001, 0.05, 1.0):
        assert M.smooth_ece(probs, posterior=eta, bandwidth=sigma) == pytest.approx(want, rel=1e-9)


def test_smooth_ece_monotone_in_bandwidth_and_fixed_point():
    probs, labels = make_data(2000, 5, seed=22)
    sigmas = np.geomspace(0.002, 0.8, 25)
    values = np.array([M.smooth_ece(probs, labels, bandwidth=s) for s in sigmas])
    # smECE_sigma is non-increasing in sigma (Blasiok & Nakkiran, Lemma); discretisation noise
    # is ~1e-9, far below the steps between these bandwidths
    assert np.all(np.diff(values) <= 1e-9)
    value = M.smooth_ece(probs, labels)
    # the default returns smECE at sigma*, and smECE(sigma*) = sigma*: bisection to 1e-7
    assert M.smooth_ece(probs, labels, bandwidth=value) == pytest.approx(value, abs=2e-7)
    assert values[0] > value > values[-1]


def test_smooth_ece_calibrated_is_small_and_shrinks_with_n():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(3, 0.7), size=100_000)
    labels = draw_labels(probs, rng)
    big = M.smooth_ece(probs, labels)
    small = M.smooth_ece(probs[:1000], labels[:1000])
    # noise-only smECE scales like n^(-1/3): measured ~0.03 at 1e3 and ~0.006 at 1e5
    assert big < 0.01
    assert big < small / 2
    assert M.smooth_ece(probs, posterior=probs) == 0.0
    # a miscalibrated model (accuracy f^2) is far above that
    f = probs.max(axis=1)
    eta_top = f ** 2
    assert M.smooth_ece(probs, posterior=_posterior_with_top(probs, eta_top)) > 0.1


def _posterior_with_top(probs, eta_top):
    """A posterior whose value at the argmax of probs is eta_top (rest spread evenly)."""
    n, k = probs.shape
    top = probs.argmax(axis=1)
    eta = np.repeat(((1 - eta_top) / (k - 1))[:, None], k, axis=1)
    eta[np.arange(n), top] = eta_top
    return eta


# --------------------------------------------------------------------------------------------
# NLL, Brier, KL
# --------------------------------------------------------------------------------------------


def test_nll_brier_kl_match_loops():
    probs, labels = make_data(200, 5, seed=31)
    eta = softmax_rows(np.log(probs) * 0.5)
    n, k = probs.shape
    nll = sum(-math.log(probs[i][labels[i]]) for i in range(n)) / n
    brier = sum(sum((probs[i][c] - (c == labels[i])) ** 2 for c in range(k)) for i in range(n)) / n
    kl = sum(sum(eta[i][c] * math.log(eta[i][c] / probs[i][c]) for c in range(k)) for i in range(n)) / n
    ce = sum(sum(-eta[i][c] * math.log(probs[i][c]) for c in range(k)) for i in range(n)) / n
    brier_eta = sum(sum(eta[i][c] * sum((probs[i][j] - (j == c)) ** 2 for j in range(k))
                        for c in range(k)) for i in range(n)) / n
    assert M.nll(probs, labels) == pytest.approx(nll, rel=RTOL)
    assert M.brier(probs, labels) == pytest.approx(brier, rel=RTOL)
    assert M.kl_to_posterior(probs, eta) == pytest.approx(kl, rel=RTOL)
    assert M.nll(probs, posterior=eta) == pytest.approx(ce, rel=RTOL)
    # the posterior Brier is the expectation over Y ~ eta, written without cancellation
    assert M.brier(probs, posterior=eta) == pytest.approx(brier_eta, rel=RTOL)
    # THEORY.md 2.1: E_{Y~eta}[-log g_Y] = H(eta) + KL(eta || g), per sample
    entropy = -np.sum(eta * np.log(eta), axis=1)
    np.testing.assert_allclose(M.nll(probs, posterior=eta, reduction="none"),
                               entropy + M.kl_to_posterior(probs, eta, reduction="none"), rtol=1e-12)


def test_zero_probabilities_give_inf_and_zero_terms():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert M.nll(probs, np.array([1, 0])) == math.inf
    assert M.nll(probs, np.array([0, 0])) == pytest.approx(math.log(2) / 2)
    eta = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert M.kl_to_posterior(probs, eta) == 0.0  # 0 log 0 = 0
    assert M.kl_to_posterior(probs, np.array([[0.5, 0.5], [0.5, 0.5]])) == math.inf
    assert M.nll(probs, posterior=np.array([[0.9, 0.1], [0.5, 0.5]])) == math.inf


def test_logits_are_exact_for_huge_margins():
    logits = np.array([[1000.0, 0.0, -5.0], [0.0, 800.0, 1.0]])
    labels = np.array([1, 2])
    # -log softmax(h)_y = logsumexp(h) - h_y; the softmax itself underflows to 0
    want = np.array([1000.0, 799.0])
    np.testing.assert_allclose(M.nll(logits, labels, from_logits=True, reduction="none"), want, rtol=1e-15)
    probs = softmax_rows(logits)
    assert M.nll(probs, labels) == math.inf
    eta = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    log_g = logits - (logits.max(axis=1, keepdims=True)
                      + np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(1, keepdims=True)))
    kl = np.sum(np.where(eta > 0, eta * (np.log(np.where(eta > 0, eta, 1)) - log_g), 0), axis=1)
    np.testing.assert_allclose(M.kl_to_posterior(logits, eta, from_logits=True, reduction="none"), kl, rtol=1e-13)
    ce = -np.sum(eta * log_g, axis=1)
    np.testing.assert_allclose(M.nll(logits, posterior=eta, from_logits=True, reduction="none"), ce, rtol=1e-13)
    # moderate logits: both paths agree
    h = np.random.default_rng(0).normal(size=(50, 4))
    y = np.arange(50) % 4
    assert M.nll(h, y, from_logits=True) == pytest.approx(M.nll(softmax_rows(h), y), rel=1e-12)


@pytest.mark.parametrize("offset", [1e17, -1e300, 1e300])
def test_logit_losses_are_shift_invariant_at_huge_offsets(offset):
    # softmax(h + c) = softmax(h): the oracle is the same loss on the unshifted logits. At
    # |c| >= 1e17 a log-sum-exp taken at the scale of c rounds log k away (1e17 + log 2 ==
    # 1e17); the shifted computation must still give log 2 and KL(eta || uniform) >= 0 exactly.
    h = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, -np.inf]])
    labels = np.array([0, 1, 0])
    eta = np.array([[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]])
    with np.errstate(over="ignore"):
        shifted = h + offset
    for reduction in ("none", "mean"):
        np.testing.assert_allclose(
            M.nll(shifted, labels, from_logits=True, reduction=reduction),
            M.nll(h, labels, from_logits=True, reduction=reduction), rtol=1e-15)
        np.testing.assert_allclose(
            M.kl_to_posterior(shifted, eta, from_logits=True, reduction=reduction),
            M.kl_to_posterior(h, eta, from_logits=True, reduction=reduction), rtol=1e-15, atol=0)
    assert M.nll(shifted[:1], labels[:1], from_logits=True) == pytest.approx(math.log(2), rel=1e-15)


def test_logits_at_the_float_limit_give_inf_or_zero_loss():
    logits = np.array([[1e308, -1e308]])  # the difference overflows: softmax is (1, 0) exactly
    assert M.nll(logits, np.array([0]), from_logits=True) == 0.0
    assert M.nll(logits, np.array([1]), from_logits=True) == math.inf
    assert M.kl_to_posterior(logits, np.array([[1.0, 0.0]]), from_logits=True) == 0.0


def test_brier_near_one_hot_has_no_cancellation():
    eps = 1e-12
    probs = np.array([[1 - eps, eps]])
    # exact: eps^2 + eps^2; the expanded form sum p^2 - 2 p_y + 1 would give ~1e-16 noise
    assert M.brier(probs, np.array([0])) == pytest.approx(2 * eps**2, rel=1e-3)
    assert M.brier(probs, posterior=np.array([[1.0, 0.0]])) == pytest.approx(2 * eps**2, rel=1e-3)


# --------------------------------------------------------------------------------------------
# Ground-truth variants (THEORY.md 2.4)
# --------------------------------------------------------------------------------------------


def test_posterior_variants_match_loop_exactly():
    probs, _ = make_data(400, 4, seed=41)
    eta = softmax_rows(np.log(probs) * 0.6)
    conf, target = loop_top_label(probs, posterior=eta)
    for binning in ("uniform", "quantile"):
        assert M.ece(probs, None, 10, binning, posterior=eta) == pytest.approx(
            loop_binned(conf, target, 10, binning, "l1"), rel=RTOL, abs=ATOL)
        assert M.ace(probs, None, 10, binning, posterior=eta) == pytest.approx(
            loop_binned(conf, target, 10, binning, "ace"), rel=RTOL, abs=ATOL)
        assert M.debiased_l2_ce(probs, None, 10, binning, squared=True, posterior=eta) == pytest.approx(
            loop_binned(conf, target, 10, binning, "debiased"), rel=RTOL, abs=ATOL)
    assert M.smooth_ece(probs, posterior=eta, bandwidth=0.05) == pytest.approx(
        direct_smooth_ece(conf, target, 0.05), abs=2e-6)


def test_posterior_variant_is_the_expectation_of_the_label_version():
    # Labels drawn from eta: NLL and Brier are linear in the label indicator, so their label
    # versions average to the posterior versions. A binned error is linear per bin as long as no
    # bin's gap changes sign: for this predictor (eta = probs sharpened, so top-label
    # underconfident) every populated bin's gap is >= 5 label-noise standard deviations
    # (sqrt(1/(4 n_b)), a bound) with 4 top-label bins and 3 per-class bins, so a sign flip has
    # probability < 1e-6 and E[label version] = posterior version up to that.
    rng = np.random.default_rng(42)
    probs = softmax_rows(rng.normal(size=(3000, 3)))
    eta = softmax_rows(np.log(probs) * 2.0)
    reps = 200
    draws = {"nll": [], "brier": [], "ece": [], "classwise": []}
    for _ in range(reps):
        labels = draw_labels(eta, rng)
        draws["nll"].append(M.nll(probs, labels))
        draws["brier"].append(M.brier(probs, labels))
        draws["ece"].append(M.ece(probs, labels, n_bins=4))
        draws["classwise"].append(M.classwise_ece(probs, labels, n_bins=3))
    exact = {
        "nll": M.nll(probs, posterior=eta),
        "brier": M.brier(probs, posterior=eta),
        "ece": M.ece(probs, n_bins=4, posterior=eta),
        "classwise": M.classwise_ece(probs, n_bins=3, posterior=eta),
    }
    for name, values in draws.items():
        values = np.array(values)
        se = values.std(ddof=1) / np.sqrt(reps)
        # 4 standard errors: false-failure rate ~6e-5 per check
        assert abs(values.mean() - exact[name]) < 4 * se, name


# --------------------------------------------------------------------------------------------
# Invariances, dtypes, input types
# --------------------------------------------------------------------------------------------

ALL_TOP = [
    lambda p, y: M.ece(p, y),
    lambda p, y: M.ece(p, y, 10, "quantile", "l2"),
    lambda p, y: M.mce(p, y),
    lambda p, y: M.ace(p, y),
    lambda p, y: M.adaptive_ece(p, y),
    lambda p, y: M.debiased_l2_ce(p, y, squared=True),
    lambda p, y: M.smooth_ece(p, y),
]
ALL_OTHER = [
    lambda p, y: M.classwise_ece(p, y),
    lambda p, y: M.classwise_ece(p, y, binning="quantile", norm="l2"),
    lambda p, y: M.nll(p, y),
    lambda p, y: M.brier(p, y),
]


def test_permuting_samples_or_classes_leaves_metrics_unchanged():
    probs, labels = make_data(800, 5, seed=51)
    rng = np.random.default_rng(0)
    perm = rng.permutation(800)
    cls = rng.permutation(5)  # class c becomes class cls[c]
    inv = np.argsort(cls)
    probs_c = probs[:, inv]
    labels_c = cls[labels]
    for metric in ALL_TOP + ALL_OTHER:
        base = metric(probs, labels)
        # smooth ECE's bisection compares values that differ by summation order (~1e-16)
        assert metric(probs[perm], labels[perm]) == pytest.approx(base, rel=1e-9, abs=1e-12)
        assert metric(probs_c, labels_c) == pytest.approx(base, rel=1e-9, abs=1e-12)
    eta = softmax_rows(np.log(probs) * 0.5)
    assert M.kl_to_posterior(probs_c, eta[:, inv]) == pytest.approx(M.kl_to_posterior(probs, eta), rel=1e-12)


def test_float32_and_float64_agree_to_float32_precision():
    probs, labels = make_data(3000, 6, seed=61)
    p32 = probs.astype(np.float32)
    p64 = p32.astype(np.float64)
    p64 /= p64.sum(axis=1, keepdims=True)  # float64 rows must sum to 1 within 1.5e-8
    for metric in ALL_TOP + ALL_OTHER:
        a, b = metric(p32, labels), metric(p64, labels)
        # inputs differ by ~1e-7 relative (the renormalisation); sums are float64 in both, so
        # results agree to ~1e-6 unless a confidence crosses a bin edge (none does for this seed)
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    assert M.ece(p32, labels) != M.ece(p64, labels)  # the float32 path really ran on float32


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    probs, labels = make_data(300, 4, seed=71)
    eta = softmax_rows(np.log(probs) * 0.5)
    tp, ty, te = torch.from_numpy(probs), torch.from_numpy(labels), torch.from_numpy(eta)
    assert M.ece(tp, ty) == M.ece(probs, labels)
    assert M.smooth_ece(tp, ty) == M.smooth_ece(probs, labels)
    assert M.classwise_ece(tp, posterior=te) == M.classwise_ece(probs, posterior=eta)
    assert M.kl_to_posterior(tp.float(), te) == M.kl_to_posterior(probs.astype(np.float32), eta)
    assert M.nll(tp, ty) == M.nll(probs, labels)


def test_half_precision_probabilities_are_checked_with_their_own_tolerance():
    # A float16 softmax has row sums off by up to ~k * 2**-11 / 2; it was rejected with the
    # float64 tolerance 1.5e-8 (check_array had cast it to float64 first). Now it is checked
    # with float16's sqrt(eps) = 0.031 and computed on its exact values in float32.
    probs, labels = make_data(400, 10, seed=72)
    p16 = probs.astype(np.float16)
    assert np.abs(p16.astype(np.float64).sum(axis=1) - 1).max() > 1e-4  # beyond float32's
    inputs = [p16]
    torch = None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is in the test environment
        pass
    if torch is not None:
        inputs += [torch.from_numpy(p16), torch.from_numpy(probs).to(torch.bfloat16)]
    for P in inputs:
        values = P if isinstance(P, np.ndarray) else P.float().numpy()  # exact in float32
        conf, target = loop_top_label(values, labels)
        # loop oracle on the same (exactly representable) values: RTOL as everywhere here
        assert M.ece(P, labels) == pytest.approx(loop_binned(conf, target), rel=RTOL)
        assert M.classwise_ece(P, labels, binning="quantile") == pytest.approx(
            loop_classwise(values, labels, binning="quantile"), rel=RTOL)
        picked = values[np.arange(400), labels].astype(np.float64)
        assert M.nll(P, labels) == pytest.approx(-np.log(picked).mean(), rel=RTOL)
        assert M.kl_to_posterior(P, P) == 0.0
        res = M.ece(P, labels, n_bootstrap=5, rng=0)  # resampling a half-precision input
        assert res.value == M.ece(P, labels)
        cw = M.classwise_ece(P, labels, n_bootstrap=3, rng=0)  # re-run on resampled copies
        assert np.isfinite(cw.samples).all()
    # unnormalised beyond the float16 tolerance: still an error, naming the tolerance
    bad = np.array([[0.5, 0.6]], dtype=np.float16)
    with pytest.raises(ValueError, match=r"'probs' parameter of expected_calibration_error "
                                         r"must have rows summing to 1 \(tolerance 3.1e-02\)\. "
                                         r"Got row 0 summing to 1.1000\d* instead"):
        M.ece(bad, np.array([0]))
    with pytest.raises(ValueError, match=r"'posterior' parameter of brier_score must have rows"):
        M.brier(p16, posterior=np.tile(bad, (400, 5)))


def test_ragged_nested_lists_name_the_parameter():
    ragged = [[0.5, 0.5], [1.0]]
    with pytest.raises(ValueError, match="The 'probs' parameter of expected_calibration_error "
                                         "must be a rectangular array"):
        M.ece(ragged, [0, 1])
    with pytest.raises(ValueError, match="The 'posterior' parameter of kl_to_posterior must be "
                                         "a rectangular array"):
        M.kl_to_posterior([[0.5, 0.5], [0.5, 0.5]], ragged)
    with pytest.raises(ValueError, match="The 'probs' parameter of negative_log_likelihood must "
                                         "be a rectangular array"):
        M.nll(ragged, [0, 1], from_logits=True)


def test_aliases_are_the_same_objects():
    assert M.ece is M.expected_calibration_error
    assert M.mce is M.maximum_calibration_error
    assert M.ace is M.average_calibration_error
    assert M.nll is M.negative_log_likelihood
    assert M.brier is M.brier_score
    import overlapcal as oc

    assert oc.metrics.ece is M.ece


@pytest.mark.parametrize("k", [2, 3, 10, 32, 33, 100])  # both sides of _SHORT_ROWS = 32
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["continuous", "ties", "one-hot", "uniform"])
def test_top_label_pass_is_first_argmax_and_its_probability(k, dtype, kind, monkeypatch):
    # the transposed short-row kernel counts maximisers with a matrix product and falls back to
    # argmax on ties; both paths must equal the explicit scan exactly, in C and F order, across
    # chunk boundaries (13 rows per chunk, ragged last chunk)
    rng = np.random.default_rng(k)
    n = 300
    if kind == "continuous":
        probs = rng.dirichlet(np.ones(k), n)
    elif kind == "ties":  # many rows with two or more equal maxima
        probs = rng.integers(0, 3, (n, k)) + 1e-3
        probs = probs / probs.sum(axis=1, keepdims=True)
    elif kind == "one-hot":
        probs = np.eye(k)[rng.integers(0, k, n)]
    else:
        probs = np.full((n, k), 1.0 / k)
    probs = probs.astype(dtype)
    labels = rng.integers(0, k, n)
    eta = rng.dirichlet(np.ones(k), n)
    monkeypatch.setattr(M, "_CHUNK_BYTES", 13 * k * np.dtype(dtype).itemsize)
    conf, target = loop_top_label(probs, labels)
    _, target_eta = loop_top_label(probs, posterior=eta)
    for P in (probs, np.asfortranarray(probs)):
        data = M._top_label(P, labels, None, "test")
        np.testing.assert_array_equal(data.conf, np.array(conf, dtype=dtype))
        np.testing.assert_array_equal(data.target, target)
        np.testing.assert_array_equal(M._top_label(P, None, eta, "test").target, target_eta)


@pytest.mark.parametrize("k", [3, 50])  # short-row kernel and argmax path
@pytest.mark.parametrize("bad,match", [(np.nan, "finite values"), (np.inf, "finite values"),
                                       (-0.1, "non-negative"), (0.5, "rows summing to 1")])
def test_bad_row_in_a_later_chunk_is_caught(k, bad, match, monkeypatch):
    # the per-chunk screen keeps no running state that NaN could slip past (min(1.0, nan) is 1.0
    # in Python): a bad entry in the last of many chunks still raises
    probs, labels = make_data(200, k, seed=7)
    probs[190, 1] = bad
    monkeypatch.setattr(M, "_CHUNK_BYTES", 9 * k * 8)
    with pytest.raises(ValueError, match=match):
        M.ece(probs, labels)


@pytest.mark.parametrize("n_bins", list(range(1, 64)) + [100, 1000, 4096, 10**6])
def test_uniform_bin_index_float32_is_exact_without_corrections(n_bins):
    # float32 confidences take the correction-free ceil(x M) - 1 path: every float32 within 3
    # ulps of every edge, and random ones, must bin as searchsorted on the float64 edges does
    edges = np.arange(n_bins + 1) / n_bins
    around = [edges.astype(np.float32)]
    lo = hi = around[0]
    for _ in range(3):
        lo, hi = np.nextafter(lo, np.float32(0)), np.nextafter(hi, np.float32(1))
        around += [lo, hi]
    x = np.concatenate(around + [np.random.default_rng(n_bins).random(1000, dtype=np.float32)])
    x = np.clip(x, 0, 1).astype(np.float32)
    want = np.searchsorted(edges[1:-1], x.astype(np.float64), side="left")
    np.testing.assert_array_equal(M._uniform_bin_index(x, n_bins), want)


def test_chunked_top_label_pass_matches_single_chunk(monkeypatch):
    probs, labels = make_data(1000, 7, seed=81)
    eta = softmax_rows(np.log(probs) * 0.5)
    want = [M.ece(probs, labels), M.nll(probs, labels), M.brier(probs, posterior=eta),
            M.kl_to_posterior(probs, eta), M.nll(np.log(probs), labels, from_logits=True)]
    monkeypatch.setattr(M, "_CHUNK_BYTES", 13 * 7 * 8)  # 13 rows per chunk, ragged last chunk
    got = [M.ece(probs, labels), M.nll(probs, labels), M.brier(probs, posterior=eta),
           M.kl_to_posterior(probs, eta), M.nll(np.log(probs), labels, from_logits=True)]
    np.testing.assert_allclose(got, want, rtol=1e-13)


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kwargs", [
    ("ece", {}),
    ("ece", {"binning": "quantile", "norm": "l2", "n_bins": 7}),
    ("mce", {}),
    ("ace", {"n_bins": 5}),
    ("adaptive_ece", {}),
    ("debiased_l2_ce", {"squared": True}),
    ("smooth_ece", {}),
    ("smooth_ece", {"bandwidth": 0.05}),
])
@pytest.mark.parametrize("outcome", ["labels", "posterior"])
def test_weighted_bootstrap_equals_recomputation_on_resampled_copies(name, kwargs, outcome):
    # fast path (counts as weights, probs read once) vs the generic path (the metric re-run on
    # probs[idx]); both draw the same indices from the same seed, so replicates must agree
    probs, labels = make_data(400, 4, seed=91)
    eta = softmax_rows(np.log(probs) * 0.5)
    metric = getattr(M, name)

    def wrapped(p, labels=None, posterior=None, **kw):
        return metric(p, labels, posterior=posterior, **kw)

    given_ = {"labels": labels} if outcome == "labels" else {"posterior": eta}
    fast = M.bootstrap(metric, probs, **given_, n_bootstrap=20, rng=7, **kwargs)
    slow = M.bootstrap(wrapped, probs, **given_, n_bootstrap=20, rng=7, **kwargs)
    np.testing.assert_allclose(fast.samples, slow.samples, rtol=1e-9, atol=1e-12)
    assert fast.value == pytest.approx(metric(probs, **given_, **kwargs), rel=1e-12)


def test_bootstrap_result_and_reproducibility():
    probs, labels = make_data(500, 3, seed=92)
    a = M.bootstrap(M.nll, probs, labels, n_bootstrap=50, rng=3, confidence=0.9)
    b = M.bootstrap(M.nll, probs, labels, n_bootstrap=50, rng=3, confidence=0.9)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a == b  # samples excluded from comparison, everything else equal
    assert a.value == M.nll(probs, labels) and float(a) == a.value
    assert a.low == pytest.approx(np.quantile(a.samples, 0.05))
    assert a.high == pytest.approx(np.quantile(a.samples, 0.95))
    assert a.stderr == pytest.approx(a.samples.std(ddof=1))
    c = M.bootstrap(M.nll, probs, labels, n_bootstrap=50, rng=4)
    assert not np.array_equal(a.samples, c.samples)
    eta = softmax_rows(np.log(probs) * 0.5)
    kl = M.bootstrap(M.kl_to_posterior, probs, posterior=eta, n_bootstrap=30, rng=0)
    per_sample = M.kl_to_posterior(probs, eta, reduction="none")
    assert kl.stderr == pytest.approx(per_sample.std() / np.sqrt(500), rel=0.35)  # 30 replicates
    cw = M.bootstrap(M.classwise_ece, probs, labels, n_bootstrap=5, rng=0, n_bins=5)
    assert cw.value == M.classwise_ece(probs, labels, n_bins=5)


@pytest.mark.parametrize("name, kwargs, outcome", [
    ("ece", {"n_bins": 10, "norm": "l2"}, "labels"),
    ("ece", {"binning": "quantile"}, "posterior"),
    ("mce", {"n_bins": 8}, "labels"),
    ("ace", {}, "labels"),
    ("adaptive_ece", {"n_bins": 12}, "posterior"),
    ("classwise_ece", {"n_bins": 6, "binning": "quantile"}, "labels"),
    ("debiased_l2_ce", {"squared": True}, "labels"),
    ("smooth_ece", {}, "labels"),
    ("smooth_ece", {"bandwidth": 0.05}, "posterior"),
    ("nll", {}, "labels"),
    ("nll", {"from_logits": True}, "posterior"),
    ("brier", {}, "posterior"),
    ("kl_to_posterior", {}, "posterior"),
    ("kl_to_posterior", {"from_logits": True}, "posterior"),
])
def test_metric_with_n_bootstrap_is_bootstrap_of_the_metric(name, kwargs, outcome):
    probs, labels = make_data(300, 3, seed=95)
    eta = softmax_rows(np.log(probs) * 0.5)
    metric = getattr(M, name)
    data = np.log(probs) if kwargs.get("from_logits") else probs
    if name == "kl_to_posterior":
        args, given_ = (data, eta), {}
    else:
        args, given_ = (data,), ({"labels": labels} if outcome == "labels" else {"posterior": eta})
    plain = metric(*args, **given_, **kwargs)
    assert isinstance(plain, float)
    boot = dict(n_bootstrap=20, confidence=0.8, rng=7)
    res = metric(*args, **given_, **kwargs, **boot)
    if name == "kl_to_posterior":
        ref = M.bootstrap(metric, data, posterior=eta, **kwargs, **boot)
    else:
        ref = M.bootstrap(metric, data, **given_, **kwargs, **boot)
    assert isinstance(res, M.BootstrapResult) and res == ref  # one code path: identical numbers
    np.testing.assert_array_equal(res.samples, ref.samples)
    assert res.value == plain and res.confidence == 0.8


def test_metric_n_bootstrap_errors_name_the_metric():
    with pytest.raises(ValueError, match="'n_bootstrap' parameter of expected_calibration_error"):
        M.ece(GOOD_P, GOOD_Y, n_bootstrap=1)
    with pytest.raises(ValueError, match="'confidence' parameter of smooth_ece"):
        M.smooth_ece(GOOD_P, GOOD_Y, n_bootstrap=5, confidence=1.0)
    with pytest.raises(TypeError, match="'rng' parameter must be"):
        M.classwise_ece(GOOD_P, GOOD_Y, n_bootstrap=5, rng="seed")
    with pytest.raises(ValueError, match="'reduction' parameter of negative_log_likelihood must "
                                         "be 'mean' when n_bootstrap is given"):
        M.nll(GOOD_P, GOOD_Y, reduction="none", n_bootstrap=5)
    with pytest.raises(ValueError, match="'reduction' parameter of kl_to_posterior"):
        M.kl_to_posterior(GOOD_P, GOOD_P, reduction="none", n_bootstrap=5)


def test_bootstrap_with_infinite_replicates_gives_infinite_bounds_not_nan():
    # one observed label with probability 0: the NLL is inf, and so is every replicate that
    # draws that row (about 1 - (1 - 1/n)^n = 63% of them); the others are finite
    probs, labels = make_data(200, 3, seed=94)
    probs[0] = [0.0, 0.4, 0.6]
    labels[0] = 0
    res = M.bootstrap(M.nll, probs, labels, n_bootstrap=400, rng=5)
    infinite = np.isinf(res.samples)
    assert 0.5 < infinite.mean() < 0.75 and not np.isnan(res.samples).any()
    assert res.value == np.inf and res.high == np.inf and res.stderr == np.inf
    # the lower 2.5% quantile lies among the finite replicates: numpy's own interpolation
    finite = np.sort(res.samples[~infinite])
    position = 0.025 * (res.samples.size - 1)
    i = int(position)
    assert res.low == pytest.approx(finite[i] + (position - i) * (finite[i + 1] - finite[i]),
                                    rel=1e-15)  # the same two order statistics and weight
    assert np.isfinite(res.low) and res.low <= res.high
    # an upper quantile that falls exactly on an infinite order statistic, or between two
    assert M._quantiles(np.array([1.0, 2.0, np.inf]), 0.25) == (1.5, np.inf)
    assert M._quantiles(np.array([1.0, np.inf, np.inf, np.inf, np.inf]), 0.0) == (1.0, np.inf)
    # all replicates finite: exactly np.quantile, as before
    ok = np.array([0.3, 0.1, 0.7, 0.2])
    assert M._quantiles(ok, 0.1) == tuple(np.quantile(ok, [0.1, 0.9]))


def test_bootstrap_interval_covers_the_truth_at_roughly_the_nominal_rate():
    # X uniform on 6 points with known eta and predictions g: the population NLL
    # sum_x pi(x) sum_c eta_c(x) (-log g_c(x)) is exact. Over R = 200 data sets of n = 400 the 90%
    # percentile interval must cover it in 0.90 +- 0.085 of cases: 4 binomial standard errors
    # (sqrt(0.09 / 200) = 0.021); the percentile method's own coverage error for a mean of n = 400
    # bounded terms is O(1/n), far inside that band.
    rng = np.random.default_rng(100)
    eta = rng.dirichlet(np.ones(3), size=6)
    g = softmax_rows(np.log(eta) * 0.6 + rng.normal(scale=0.3, size=(6, 3)))
    truth = np.mean(np.sum(-eta * np.log(g), axis=1))
    reps, n, covered = 200, 400, 0
    for r in range(reps):
        x = rng.integers(0, 6, n)
        labels = draw_labels(eta[x], rng)
        res = M.bootstrap(M.nll, g[x], labels, n_bootstrap=200, confidence=0.9, rng=r)
        covered += res.low <= truth <= res.high
    assert abs(covered / reps - 0.9) <= 4 * math.sqrt(0.9 * 0.1 / reps)


@pytest.mark.slow
def test_bootstrap_speed_n_1e5():
    probs, labels = make_data(100_000, 10, seed=93)
    for metric in (M.ece, M.adaptive_ece, M.smooth_ece):
        start = time.perf_counter()
        M.bootstrap(metric, probs, labels, n_bootstrap=200, rng=0)
        # measured 0.2-1.5 s on the 2-core dev machine; 10 s leaves room for a busy machine
        assert time.perf_counter() - start < 10.0


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

GOOD_P = np.array([[0.7, 0.3], [0.4, 0.6]])
GOOD_Y = np.array([0, 1])


@pytest.mark.parametrize("metric", [M.ece, M.mce, M.ace, M.adaptive_ece, M.debiased_l2_ce,
                                    M.smooth_ece, M.classwise_ece, M.nll, M.brier])
@pytest.mark.parametrize("probs,labels,match", [
    (np.array([[0.7, np.nan], [0.4, 0.6]]), GOOD_Y, r"'probs' parameter .* finite values"),
    (np.array([[0.7, np.inf], [0.4, 0.6]]), GOOD_Y, r"'probs' parameter .* finite values"),
    (np.array([[1.2, -0.2], [0.4, 0.6]]), GOOD_Y, r"'probs' parameter .* non-negative"),
    (np.array([[0.7, 0.2], [0.4, 0.6]]), GOOD_Y, r"'probs' parameter .* rows summing to 1"),
    (np.array([0.7, 0.3]), GOOD_Y, r"'probs' parameter .* 2-D array"),
    (np.array([[1.0], [1.0]]), GOOD_Y, r"'probs' parameter .* at least 2 classes"),
    (np.zeros((0, 2)), np.zeros(0, dtype=int), r"'probs' parameter .* non-empty"),
    (np.array([["a", "b"]]), GOOD_Y, r"'probs' parameter .* real numbers"),
    (GOOD_P, np.array([0, 2]), r"'labels' parameter .* class labels in \[0, 2\)"),
    (GOOD_P, np.array([0, -1]), r"'labels' parameter .* class labels in \[0, 2\)"),
    (GOOD_P, np.array([0.0, 1.0]), r"'labels' parameter .* integer class labels"),
    (GOOD_P, np.array([0, 1, 1]), r"'labels' parameter .* one label per sample \(2\)"),
    (GOOD_P, np.array([[0, 1]]), r"'labels' parameter .* 1-D array"),
    (GOOD_P, None, r"'labels' parameter .* must be an array of integer class labels"),
])
def test_invalid_data(metric, probs, labels, match):
    with pytest.raises(ValueError, match=match):
        metric(probs, labels)


def test_float32_rows_within_tolerance_are_accepted_and_beyond_are_not():
    p = np.array([[0.7, 0.3 + 2e-4], [0.4, 0.6]], dtype=np.float32)  # tolerance 3.5e-4
    M.ece(p, GOOD_Y)
    with pytest.raises(ValueError, match="rows summing to 1"):
        M.ece(p.astype(np.float64), GOOD_Y)  # float64 tolerance is 1.5e-8
    bad = np.array([[0.7, 0.3 + 1e-3], [0.4, 0.6]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"Got row 0 summing to"):
        M.ece(bad, GOOD_Y)


@pytest.mark.parametrize("metric", [M.ece, M.ace, M.classwise_ece, M.nll, M.brier, M.smooth_ece])
def test_posterior_errors(metric):
    with pytest.raises(ValueError, match="mutually exclusive"):
        metric(GOOD_P, GOOD_Y, posterior=GOOD_P)
    with pytest.raises(ValueError, match=r"'posterior' parameter .* same shape as 'probs' \(2, 2\)"):
        metric(GOOD_P, posterior=np.array([[0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"'posterior' parameter .* rows summing to 1"):
        metric(GOOD_P, posterior=np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"'posterior' parameter .* non-negative"):
        metric(GOOD_P, posterior=np.array([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"'posterior' parameter .* finite"):
        metric(GOOD_P, posterior=np.array([[np.nan, 0.5], [0.5, 0.5]]))


@pytest.mark.parametrize("call,match", [
    (lambda: M.ece(GOOD_P, GOOD_Y, n_bins=0),
     r"'n_bins' parameter of expected_calibration_error must be an int >= 1. Got 0"),
    (lambda: M.ece(GOOD_P, GOOD_Y, n_bins=2.0), r"'n_bins' parameter .* an int >= 1. Got 2.0"),
    (lambda: M.ece(GOOD_P, GOOD_Y, binning="equal"),
     r"'binning' parameter .* one of 'uniform', 'quantile'. Got 'equal'"),
    (lambda: M.ece(GOOD_P, GOOD_Y, norm="l3"), r"'norm' parameter .* one of 'l1', 'l2', 'max'"),
    (lambda: M.mce(GOOD_P, GOOD_Y, n_bins=-1), r"'n_bins' parameter of maximum_calibration_error"),
    (lambda: M.ace(GOOD_P, GOOD_Y, binning=None),
     r"'binning' parameter of average_calibration_error"),
    (lambda: M.adaptive_ece(GOOD_P, GOOD_Y, norm="L1"), r"'norm' parameter of adaptive_ece"),
    (lambda: M.classwise_ece(GOOD_P, GOOD_Y, norm="max"),
     r"'norm' parameter of classwise_ece must be one of 'l1', 'l2'"),
    (lambda: M.classwise_ece(GOOD_P, GOOD_Y, n_bins=0), r"'n_bins' parameter of classwise_ece"),
    (lambda: M.smooth_ece(GOOD_P, GOOD_Y, bandwidth=0.0),
     r"'bandwidth' parameter of smooth_ece must be a finite real number >= 0.0001"),
    (lambda: M.smooth_ece(GOOD_P, GOOD_Y, bandwidth=np.nan),
     r"'bandwidth' parameter of smooth_ece"),
    (lambda: M.nll(GOOD_P, GOOD_Y, reduction="sum"),
     r"'reduction' parameter of negative_log_likelihood must be one of 'mean', 'none'"),
    (lambda: M.brier(GOOD_P, GOOD_Y, reduction=None), r"'reduction' parameter of brier_score"),
    (lambda: M.nll(np.array([[np.inf, 0.0]]), np.array([0]), from_logits=True),
     r"'probs' parameter of negative_log_likelihood must contain finite values or -inf"),
    (lambda: M.kl_to_posterior(GOOD_P, None),
     r"'posterior' parameter of kl_to_posterior must be an array"),
    (lambda: M.kl_to_posterior(GOOD_P, np.ones((3, 2)) / 2),
     r"'posterior' parameter .* same shape"),
    (lambda: M.kl_to_posterior(np.array([[0.5, 0.6], [0.5, 0.5]]), GOOD_P),
     r"'probs' parameter of kl_to_posterior .* rows summing"),
    (lambda: M.kl_to_posterior(GOOD_P, GOOD_P, reduction="sum"),
     r"'reduction' parameter of kl_to_posterior"),
    (lambda: M.bootstrap(M.ece, GOOD_P, GOOD_Y, n_bootstrap=1),
     r"'n_bootstrap' parameter of bootstrap must be an int >= 2"),
    (lambda: M.bootstrap(M.ece, GOOD_P, GOOD_Y, confidence=1.0),
     r"'confidence' parameter of bootstrap must be a finite real number in \(0.0, 1.0\)"),
    (lambda: M.bootstrap("ece", GOOD_P, GOOD_Y),
     r"'metric' parameter of bootstrap must be a callable"),
    (lambda: M.bootstrap(M.ece, GOOD_P, GOOD_Y, n_bins=0),
     r"'n_bins' parameter of expected_calibration_error"),
    (lambda: M.bootstrap(M.kl_to_posterior, GOOD_P, GOOD_Y, posterior=GOOD_P),
     r"'labels' parameter of bootstrap must be None for kl_to_posterior"),
])
def test_invalid_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: M.debiased_l2_ce(GOOD_P, GOOD_Y, squared="yes"),
     r"'squared' parameter of debiased_l2_ce must be a bool. Got 'yes'"),
    # truthiness would read "False" as True and score probabilities as logits
    (lambda: M.nll(GOOD_P, GOOD_Y, from_logits="False"),
     r"'from_logits' parameter of negative_log_likelihood must be a bool. Got 'False'"),
    (lambda: M.nll(GOOD_P, GOOD_Y, from_logits=1, n_bootstrap=5),
     r"'from_logits' parameter of negative_log_likelihood must be a bool. Got 1"),
    (lambda: M.kl_to_posterior(GOOD_P, GOOD_P, from_logits=0),
     r"'from_logits' parameter of kl_to_posterior must be a bool. Got 0"),
    (lambda: M.ece(GOOD_P, GOOD_Y, n_bootstrap=5, rng=True),
     r"'rng' parameter must be None, an int, .* Got True"),
])
def test_flags_and_seeds_of_the_wrong_type(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_negative_seed_names_rng():
    with pytest.raises(ValueError, match=r"'rng' parameter must be a non-negative int seed. Got -1"):
        M.ece(GOOD_P, GOOD_Y, n_bootstrap=5, rng=-1)


def test_bootstrap_rejects_legacy_random_state_and_unknown_kwargs():
    with pytest.raises(TypeError, match="'rng' parameter must be"):
        M.bootstrap(M.ece, GOOD_P, GOOD_Y, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="bootstrap: expected_calibration_error has no "
                                        "parameter 'n_binz'"):  # not a private evaluator's name
        M.bootstrap(M.ece, GOOD_P, GOOD_Y, n_binz=3)
    with pytest.raises(TypeError, match="has no parameter 'caller'"):
        M.bootstrap(M.ece, GOOD_P, GOOD_Y, caller="x")


# --------------------------------------------------------------------------------------------
# Reliability curves (binned, class-wise, smooth)
# --------------------------------------------------------------------------------------------

from dataclasses import FrozenInstanceError  # noqa: E402


def loop_curve(conf, target, n_bins, binning):
    """Per-bin (count, mean conf, mean target) by the loop binning oracle, as dicts by bin."""
    bins = loop_bins(conf, target, n_bins, binning)
    return {b: (len(xs), sum(xs) / len(xs), sum(ts) / len(ts)) for b, (xs, ts) in bins.items()}


def assert_curve_matches_loop(curve, conf, target, n_bins, binning):
    want = loop_curve(conf, target, n_bins, binning)
    assert int(curve.count.sum()) == len(conf)
    for b in range(curve.count.size):
        if b in want:
            count, mean_conf, mean_target = want[b]
            assert curve.count[b] == count
            assert curve.confidence[b] == pytest.approx(mean_conf, rel=RTOL, abs=ATOL)
            assert curve.accuracy[b] == pytest.approx(mean_target, rel=RTOL, abs=ATOL)
        else:  # empty bin
            assert curve.count[b] == 0
            assert np.isnan(curve.confidence[b]) and np.isnan(curve.accuracy[b])
    if binning == "uniform":
        np.testing.assert_array_equal(curve.edges, [b / n_bins for b in range(n_bins + 1)])
    else:
        np.testing.assert_array_equal(curve.edges[1:-1], loop_quantile_edges(conf, n_bins))
        assert curve.edges[0] == 0.0 and curve.edges[-1] == 1.0


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 6, 15])
def test_reliability_curve_matches_loop_oracle(binning, n_bins):
    probs, labels = make_data(600, 4, seed=50 + n_bins)
    conf, target = loop_top_label(probs, labels)
    curve = M.reliability_curve(probs, labels, n_bins, binning)
    assert_curve_matches_loop(curve, conf, target, n_bins, binning)
    assert curve.target == "labels" and curve.class_index is None and curve.lower is None
    assert curve.value_range == (min(conf), max(conf))
    # ground-truth variant: the target is eta at the first argmax
    eta = softmax_rows(np.log(probs) * 0.6)
    conf, target = loop_top_label(probs, posterior=eta)
    curve = M.reliability_curve(probs, n_bins=n_bins, binning=binning, posterior=eta)
    assert_curve_matches_loop(curve, conf, target, n_bins, binning)
    assert curve.target == "posterior"


@given(
    logits=st.lists(st.lists(st.floats(-6, 6), min_size=3, max_size=3), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
    n_bins=st.integers(1, 12),
    binning=st.sampled_from(["uniform", "quantile"]),
)
def test_reliability_curve_matches_oracle_property(logits, seed, n_bins, binning):
    # coarse logits: ties between classes and samples, confidences on bin edges
    probs = softmax_rows(np.round(np.array(logits), 1))
    labels = np.random.default_rng(seed).integers(0, 3, probs.shape[0])
    conf, target = loop_top_label(probs, labels)
    curve = M.reliability_curve(probs, labels, n_bins, binning)
    assert_curve_matches_loop(curve, conf, target, n_bins, binning)
    assert curve.ece == M.ece(probs, labels, n_bins, binning)


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_curve_ece_is_the_count_weighted_distance_to_the_diagonal(binning, dtype):
    probs, labels = make_data(3000, 5, seed=61)
    probs = probs.astype(dtype)
    eta = softmax_rows(np.log(probs.astype(np.float64)) * 0.7)
    for outcome in ({"labels": labels}, {"posterior": eta}):
        curve = M.reliability_curve(probs, n_bins=12, binning=binning, **outcome)
        # the same bins and the same arithmetic as ece: bit-for-bit equal
        assert curve.ece == M.ece(probs, n_bins=12, binning=binning, **outcome)
        # recomputed from the stored per-bin means: equal up to the rounding of the means
        # (each |acc - conf| carries ~1e-16 relative error)
        ok = curve.count > 0
        weighted = np.sum(curve.count[ok] * np.abs(curve.accuracy[ok] - curve.confidence[ok]))
        assert weighted / curve.n_samples == pytest.approx(curve.ece, rel=1e-13, abs=1e-15)
        np.testing.assert_allclose(curve.gap, curve.accuracy - curve.confidence)
        assert curve.weights.sum() == pytest.approx(1.0, rel=1e-15)


def test_calibrated_posterior_curve_lies_on_the_diagonal():
    probs, _ = make_data(2000, 3, seed=62)
    curve = M.reliability_curve(probs, posterior=probs, n_bins=10)
    ok = curve.count > 0
    # each bin averages the same numbers for accuracy and confidence (t_i = f_i exactly)
    np.testing.assert_allclose(curve.accuracy[ok], curve.confidence[ok], rtol=1e-14)
    assert curve.ece == 0.0


def loop_percentile_band(per_bin, confidence):
    alpha = (1 - confidence) / 2
    lower = [np.quantile(v, alpha) if v else np.nan for v in per_bin]
    upper = [np.quantile(v, 1 - alpha) if v else np.nan for v in per_bin]
    return np.array(lower), np.array(upper)


def loop_bootstrap_band(target, curve_bin, nb, n_bootstrap, seed, confidence):
    """Resampling the samples, per replicate and per sample in loops, with the library's draws
    (one size-n draw per replicate from default_rng(seed); the library's (chunk, n) blocks come
    out of the generator in that order)."""
    rng = np.random.default_rng(seed)
    n = len(target)
    per_bin = [[] for _ in range(nb)]
    for _ in range(n_bootstrap):
        draw = rng.integers(0, n, size=n)
        sums = [0.0] * nb
        counts = [0] * nb
        for i in draw:
            counts[curve_bin[i]] += 1
            sums[curve_bin[i]] += target[i]
        for b in range(nb):
            if counts[b]:
                per_bin[b].append(sums[b] / counts[b])
    return loop_percentile_band(per_bin, confidence)


def loop_multinomial_band(target, curve_bin, nb, n_bootstrap, seed, confidence):
    """0/1 targets: the (bin, correct) cell shares counted in a loop, one multinomial draw of
    the n resampled samples over the cells per replicate (the library's draws)."""
    rng = np.random.default_rng(seed)
    n = len(target)
    cells = [0] * (2 * nb)
    for b, t in zip(curve_bin, target, strict=True):
        cells[2 * b + int(t)] += 1
    draws = rng.multinomial(n, np.array(cells) / n, size=n_bootstrap)
    per_bin = [[] for _ in range(nb)]
    for row in draws:
        for b in range(nb):
            if row[2 * b] + row[2 * b + 1]:
                per_bin[b].append(row[2 * b + 1] / (row[2 * b] + row[2 * b + 1]))
    return loop_percentile_band(per_bin, confidence)


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_bootstrap_band_matches_loop_oracle(binning, monkeypatch):
    probs, labels = make_data(300, 3, seed=63)
    eta = softmax_rows(np.log(probs) * 0.6)
    for outcome, oracle in (({"labels": labels}, loop_multinomial_band),
                            ({"posterior": eta}, loop_bootstrap_band)):
        conf, target = loop_top_label(probs, **outcome)
        curve = M.reliability_curve(probs, n_bins=8, binning=binning, n_bootstrap=60,
                                    confidence=0.9, rng=5, **outcome)
        edges = loop_quantile_edges(conf, 8) if binning == "quantile" else None
        curve_bin = [loop_uniform_bin(x, 8) if edges is None else loop_quantile_bin(x, edges)
                     for x in conf]
        lower, upper = oracle(target, curve_bin, curve.count.size, 60, 5, 0.9)
        np.testing.assert_allclose(curve.lower, lower, rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(curve.upper, upper, rtol=1e-12, equal_nan=True)
        assert curve.level == 0.9 and curve.n_bootstrap == 60
    # chunking the resampled replicates (7 per chunk here) changes nothing
    monkeypatch.setattr(M, "_CURVE_BOOTSTRAP_BYTES", 7 * 300 * 8)
    again = M.reliability_curve(probs, n_bins=8, binning=binning, n_bootstrap=60,
                                confidence=0.9, rng=5, posterior=eta)
    np.testing.assert_array_equal(again.lower, curve.lower)
    np.testing.assert_array_equal(again.upper, curve.upper)


def test_multinomial_cell_bootstrap_equals_resampling_samples_in_distribution():
    # A one-hot posterior at the label gives the targets 1{y = argmax}, the label targets,
    # but goes through the per-sample resampling path; with labels the (bin, correct) cell
    # counts are drawn from their multinomial. Same distribution, independent draws: with 2000
    # replicates a 90% percentile bound is estimated to ~2% of the band width (1 sd), so the
    # two bands agree to 12% of the width (> 4 sd of the difference) in every bin
    probs, labels = make_data(3000, 3, seed=60)
    onehot = np.eye(3)[labels]
    a = M.reliability_curve(probs, labels, n_bins=8, n_bootstrap=2000, confidence=0.9, rng=1)
    b = M.reliability_curve(probs, posterior=onehot, n_bins=8, n_bootstrap=2000,
                            confidence=0.9, rng=2)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)
    ok = a.count >= 20
    width = (b.upper - b.lower)[ok]  # 0 in a bin where every sample is correct: both bands [1, 1]
    assert np.all(np.abs(a.lower - b.lower)[ok] <= 0.12 * width + 1e-15)
    assert np.all(np.abs(a.upper - b.upper)[ok] <= 0.12 * width + 1e-15)
    assert np.abs(a.lower[ok] - b.lower[ok]).max() > 0  # independent draws, not a copy


def test_bootstrap_band_contains_the_estimate_shrinks_with_n_and_has_binomial_width():
    rng = np.random.default_rng(64)
    n_big = 64_000
    f = rng.uniform(0.4, 1.0, n_big)  # f > (1 - f) / 2: class 0 is predicted, confidence f
    probs = np.stack([f, (1 - f) / 2, (1 - f) / 2], axis=1)
    labels = np.where(rng.random(n_big) < f ** 1.5, 0, 1 + rng.integers(0, 2, n_big))
    small = M.reliability_curve(probs[:4000], labels[:4000], n_bins=10, n_bootstrap=300, rng=1)
    big = M.reliability_curve(probs, labels, n_bins=10, n_bootstrap=300, rng=1)
    for curve in (small, big):
        ok = curve.count > 0
        assert np.all(curve.count[ok] >= 100)  # every populated bin is well filled
        assert np.all(curve.lower[ok] <= curve.accuracy[ok])
        assert np.all(curve.accuracy[ok] <= curve.upper[ok])
        assert np.all(np.isnan(curve.lower[~ok]))
        # the resampled bin accuracy is a ratio of counts with standard error close to
        # sqrt(a (1 - a) / n_b): the 95% percentile width is ~2 * 1.96 of that. With 300
        # replicates the width of a percentile interval is estimated to ~8% (1 sd), so +-25%
        a, nb = curve.accuracy[ok], curve.count[ok]
        want = 2 * 1.96 * np.sqrt(a * (1 - a) / nb)
        np.testing.assert_allclose((curve.upper - curve.lower)[ok], want, rtol=0.25)
    # 16x the data: widths shrink by 4 (+-25% per bin, as above, so the mean ratio < 0.35)
    ok = (small.count > 0) & (big.count > 0)
    ratio = (big.upper - big.lower)[ok] / (small.upper - small.lower)[ok]
    assert ratio.mean() < 0.35


def test_curve_bootstrap_reproducible_and_seeded():
    probs, labels = make_data(500, 3, seed=65)
    a = M.reliability_curve(probs, labels, n_bootstrap=30, rng=3)
    b = M.reliability_curve(probs, labels, n_bootstrap=30, rng=np.random.default_rng(3))
    c = M.reliability_curve(probs, labels, n_bootstrap=30, rng=4)
    np.testing.assert_array_equal(a.lower, b.lower)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert not np.array_equal(a.lower, c.lower, equal_nan=True)
    # the point estimates do not depend on the bootstrap
    np.testing.assert_array_equal(a.accuracy, M.reliability_curve(probs, labels).accuracy)


def test_curves_are_frozen_and_read_only():
    probs, labels = make_data(200, 3, seed=66)
    curve = M.reliability_curve(probs, labels, n_bootstrap=10, rng=0)
    smooth = M.smooth_reliability_curve(probs, labels, n_grid=33, n_bootstrap=5, rng=0)
    with pytest.raises(FrozenInstanceError):
        curve.ece = 0.0
    with pytest.raises(FrozenInstanceError):
        smooth.smece = 0.0
    for arr in (curve.edges, curve.count, curve.accuracy, curve.confidence, curve.lower,
                smooth.grid, smooth.accuracy, smooth.density, smooth.upper):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0
    assert repr(curve).startswith("ReliabilityCurve(n_samples=200, bins=15 uniform")
    assert "band=0.95 (10 resamples)" in repr(curve)
    assert repr(smooth).startswith("SmoothReliabilityCurve(n_samples=200, n_grid=33")


def test_quantile_curve_with_ties_at_one_has_a_zero_width_bin():
    # a hard interpolator: 70% of confidences are exactly 1.0, so a split lands inside the ties
    # and the edge between them is 1.0 itself: the bin (1.0, 1.0] is empty and has zero width
    rng = np.random.default_rng(67)
    f = np.where(rng.random(100) < 0.7, 1.0, rng.uniform(0.5, 0.99, 100))
    probs = np.stack([f, 1 - f], axis=1)
    labels = rng.integers(0, 2, 100)
    curve = M.reliability_curve(probs, labels, n_bins=4, binning="quantile")
    conf, target = loop_top_label(probs, labels)
    assert_curve_matches_loop(curve, conf, target, 4, "quantile")
    assert curve.edges[-2] == 1.0 and curve.count[-1] == 0
    assert curve.ece == M.ece(probs, labels, 4, "quantile")


# ---- class-wise ------------------------------------------------------------------------------


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_classwise_curves_match_per_class_loop(binning):
    probs, labels = make_data(400, 4, seed=68)
    eta = softmax_rows(np.log(probs) * 0.7)
    for outcome, kind in (({"labels": labels}, "labels"), ({"posterior": eta}, "posterior")):
        curves = M.classwise_reliability_curves(probs, n_bins=7, binning=binning, **outcome)
        assert [c.class_index for c in curves] == [0, 1, 2, 3]
        for c, curve in enumerate(curves):
            col = [float(probs[i][c]) for i in range(400)]
            if kind == "labels":
                tgt = [float(labels[i] == c) for i in range(400)]
            else:
                tgt = [float(eta[i][c]) for i in range(400)]
            assert_curve_matches_loop(curve, col, tgt, 7, binning)
            assert curve.ece == pytest.approx(loop_binned(col, tgt, 7, binning, "l1"),
                                              rel=RTOL, abs=ATOL)
            assert curve.target == kind
        # the mean of the per-class errors is classwise_ece (sums in a different order)
        assert np.mean([c.ece for c in curves]) == pytest.approx(
            M.classwise_ece(probs, n_bins=7, binning=binning, **outcome), rel=1e-13)


def test_classwise_curves_subset_order_and_bands():
    probs, labels = make_data(500, 5, seed=69)
    every = M.classwise_reliability_curves(probs, labels, 6)
    some = M.classwise_reliability_curves(probs, labels, 6, classes=[3, 0])
    assert [c.class_index for c in some] == [3, 0]
    np.testing.assert_array_equal(some[0].accuracy, every[3].accuracy)
    np.testing.assert_array_equal(some[1].count, every[0].count)
    banded = M.classwise_reliability_curves(probs, labels, 6, classes=np.array([1]),
                                            n_bootstrap=20, rng=0)
    ok = banded[0].count > 0
    assert banded[0].lower is not None and np.all(banded[0].lower[ok] <= banded[0].upper[ok])


# ---- smooth ------------------------------------------------------------------------------------


def direct_smooth_curve(conf, target, sigma, x, weights=None, images=2):
    """(x + sum w r K / sum w K, sum w K / sum w) by explicit mirror images (see
    direct_smooth_ece for the number of images)."""
    f = np.asarray(conf, dtype=float)
    r = np.asarray(target, dtype=float) - f
    w = np.ones_like(f) if weights is None else weights
    kernel = np.zeros((x.size, f.size))
    for m in range(-images, images + 1):
        for u in (f + 2 * m, -f + 2 * m):
            kernel += normal.pdf(x[:, None] - u[None, :], scale=sigma)
    mass = kernel @ w
    with np.errstate(invalid="ignore"):  # 0 / 0 where the kernel underflows
        return x + (kernel @ (w * r)) / mass, mass / w.sum(), kernel


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.2])
def test_smooth_curve_matches_direct_kernel_sums(sigma):
    probs, labels = make_data(600, 4, seed=70)
    conf, target = loop_top_label(probs, labels)
    curve = M.smooth_reliability_curve(probs, labels, sigma, n_grid=101)
    x = curve.grid
    acc, density, _ = direct_smooth_curve(conf, target, sigma, x)
    # linear binning on the grid step h = 2^-L <= sigma / 32 adds h^2 / 6 to the kernel's
    # variance: relative errors up to (h / sigma)^2 / 12 at a peak (measured: 0.04 (h/sigma)^2
    # in the density, 0.08 (h/sigma)^2 in the accuracy). Tolerance 0.5 (h / sigma)^2: a 6x
    # margin, ~1e-6 at sigma = 0.05, far below a reflection or normalisation error (>= 1e-3)
    h = 2.0 ** -M._smooth_level(sigma)
    tol = 0.5 * (h / sigma) ** 2
    np.testing.assert_allclose(curve.density, density, rtol=0, atol=tol * density.max())
    dense = density > 1e-3 * density.max()
    np.testing.assert_allclose(curve.accuracy[dense], acc[dense], rtol=0, atol=tol)
    assert curve.bandwidth == sigma and np.array_equal(x, np.linspace(0, 1, 101))


def test_smooth_curve_encodes_smooth_ece():
    probs, labels = make_data(3000, 4, seed=71)
    # default bandwidth: the fixed point of smooth_ece, and its value bit-for-bit
    curve = M.smooth_reliability_curve(probs, labels)
    assert curve.smece == M.smooth_ece(probs, labels)
    assert curve.bandwidth == pytest.approx(curve.smece, abs=2e-7)
    probs32 = probs.astype(np.float32)
    assert M.smooth_reliability_curve(probs32, labels).smece == M.smooth_ece(probs32, labels)
    eta = softmax_rows(np.log(probs) * 0.8)
    for sigma in (0.05, 0.013):
        c = M.smooth_reliability_curve(probs, posterior=eta, bandwidth=sigma)
        assert c.smece == M.smooth_ece(probs, posterior=eta, bandwidth=sigma)
        # on smooth_ece's own grid (2^L + 1 points) the trapezoid rule of
        # int |accuracy - x| density dx is smooth_ece's sum: equal to round-off
        level = M._smooth_level(sigma)
        fine = M.smooth_reliability_curve(probs, posterior=eta, bandwidth=sigma,
                                          n_grid=2**level + 1)
        # (where the density is below 1e-9 of its maximum the accuracy is NaN: those points
        # contribute at most 1e-9 * max density * their width, below 1e-10 of the value here)
        gap = np.abs(fine.accuracy - fine.grid)
        value = np.trapezoid(np.where(np.isnan(gap), 0.0, gap * fine.density), fine.grid)
        assert value == pytest.approx(c.smece, rel=1e-10)
        # reflection keeps all the mass in [0, 1]
        assert np.trapezoid(fine.density, fine.grid) == pytest.approx(1.0, rel=1e-12)


def test_smooth_curve_of_a_calibrated_model_follows_the_diagonal():
    # posterior = probs: every residual is exactly 0, so the curve is the diagonal
    probs, _ = make_data(2000, 3, seed=72)
    exact = M.smooth_reliability_curve(probs, posterior=probs, bandwidth=0.05)
    ok = ~np.isnan(exact.accuracy)
    np.testing.assert_allclose(exact.accuracy[ok], exact.grid[ok], rtol=0, atol=1e-15)
    assert exact.smece == 0.0
    # labels drawn from a calibrated binary model (n = 40000): accuracy(x) - x is label noise
    # with standard error se(x) = sqrt(sum K^2 f (1 - f)) / sum K (direct kernel sums). The
    # tolerance is 4.5 se(x) at 41 points where the density is substantial (false-failure rate
    # < 41 * 7e-6 = 3e-4); se(x) is 0.004 to 0.01 here, so the curve is within ~0.045 of the
    # diagonal (measured: 0.027, 2.9 se), while the f^2 model below sits >= 0.11 below it
    rng = np.random.default_rng(73)
    n = 40_000
    f = rng.uniform(0.5, 1.0, n)
    probs = np.stack([f, 1 - f], axis=1)
    labels = (rng.random(n) >= f).astype(int)  # P(y = 0) = f: calibrated
    curve = M.smooth_reliability_curve(probs, labels, n_grid=101)
    x_idx = np.arange(55, 96)
    x = curve.grid[x_idx]
    _, _, kernel = direct_smooth_curve(f, f, curve.bandwidth, x)
    se = np.sqrt((kernel ** 2) @ (f * (1 - f))) / kernel.sum(axis=1)
    assert np.all(np.abs(curve.accuracy[x_idx] - x) <= 4.5 * se)
    assert np.all(se < 0.012)
    over = M.smooth_reliability_curve(probs, (rng.random(n) >= f ** 2).astype(int), n_grid=101)
    assert np.all(x - over.accuracy[x_idx] > 0.08)


def test_smooth_curve_bootstrap_matches_weighted_direct_sums():
    probs, labels = make_data(300, 3, seed=74)
    conf, target = loop_top_label(probs, labels)
    sigma, n_boot = 0.08, 25
    curve = M.smooth_reliability_curve(probs, labels, sigma, n_grid=21, n_bootstrap=n_boot,
                                       confidence=0.8, rng=9)
    x = curve.grid
    rng = np.random.default_rng(9)  # the same draws: one size-n draw per replicate
    reps = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, 300, size=300), minlength=300).astype(float)
        reps.append(direct_smooth_curve(conf, target, sigma, x, weights=w)[0])
    lower, upper = np.quantile(np.array(reps), [0.1, 0.9], axis=0)
    dense = curve.density > 1e-2 * curve.density.max()
    # each replicate carries the discretisation error of the point estimate: the tolerance rule
    # of test_smooth_curve_matches_direct_kernel_sums, 0.5 (h / sigma)^2 = 5e-6 (measured 7e-7)
    tol = 0.5 * (2.0 ** -M._smooth_level(sigma) / sigma) ** 2
    np.testing.assert_allclose(curve.lower[dense], lower[dense], rtol=0, atol=tol)
    np.testing.assert_allclose(curve.upper[dense], upper[dense], rtol=0, atol=tol)
    assert np.all(curve.lower[dense] <= curve.upper[dense])


def test_smooth_curve_band_contains_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(75)
    n = 32_000
    f = rng.uniform(0.5, 1.0, n)
    probs = np.stack([f, 1 - f], axis=1)
    labels = (rng.random(n) >= f ** 1.5).astype(int)
    sigma = 0.05  # fixed, so the two sample sizes smooth alike
    small = M.smooth_reliability_curve(probs[:2000], labels[:2000], sigma, n_grid=51,
                                       n_bootstrap=100, rng=0)
    big = M.smooth_reliability_curve(probs, labels, sigma, n_grid=51, n_bootstrap=100, rng=0)
    inside = (big.grid > 0.55) & (big.grid < 0.95)
    for c in (small, big):
        assert np.all(c.lower[inside] <= c.accuracy[inside])
        assert np.all(c.accuracy[inside] <= c.upper[inside])
    # 16x the data: kernel-regression noise shrinks like 1/sqrt(n), widths by ~4
    ratio = (big.upper - big.lower)[inside] / (small.upper - small.lower)[inside]
    assert ratio.mean() < 0.35


def test_smooth_curve_small_bandwidth_many_fourier_terms():
    # sigma = 2e-3 needs a 2^14 grid and ~1600 Fourier terms (built in several cosine blocks)
    probs, labels = make_data(400, 3, seed=76)
    conf, target = loop_top_label(probs, labels)
    curve = M.smooth_reliability_curve(probs, labels, 2e-3, n_grid=301)
    x = curve.grid
    acc, density, _ = direct_smooth_curve(conf, target, 2e-3, x)
    # the tolerance rule of test_smooth_curve_matches_direct_kernel_sums (h / sigma = 0.03)
    tol = 0.5 * (2.0 ** -M._smooth_level(2e-3) / 2e-3) ** 2
    np.testing.assert_allclose(curve.density, density, rtol=0, atol=tol * density.max())
    ok = density > 1e-3 * density.max()
    np.testing.assert_allclose(curve.accuracy[ok], acc[ok], rtol=0, atol=tol)
    # far from every confidence the density underflows: NaN, not round-off
    assert np.isnan(curve.accuracy[density < 1e-12 * density.max()]).all()


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("call,match", [
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, n_bins=0),
     r"'n_bins' parameter of reliability_curve must be an int >= 1. Got 0"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, n_bins=3.0), r"'n_bins' parameter .* Got 3.0"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, binning="equal"),
     r"'binning' parameter of reliability_curve must be one of 'uniform', 'quantile'"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, n_bootstrap=1),
     r"'n_bootstrap' parameter of reliability_curve must be an int >= 2. Got 1"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, n_bootstrap=10.0),
     r"'n_bootstrap' parameter of reliability_curve"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, confidence=1.0),
     r"'confidence' parameter of reliability_curve must be a finite real number in \(0.0, 1.0\)"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, confidence="95%"),
     r"'confidence' parameter of reliability_curve"),
    (lambda: M.reliability_curve(GOOD_P),
     r"'labels' parameter of reliability_curve must be an array of integer class labels"),
    (lambda: M.reliability_curve(GOOD_P, GOOD_Y, posterior=GOOD_P),
     r"'labels' and 'posterior' parameters of reliability_curve are mutually exclusive"),
    (lambda: M.reliability_curve(np.array([[0.5, 0.6]]), np.array([0])),
     r"'probs' parameter of reliability_curve must have rows summing to 1"),
    (lambda: M.reliability_curve(GOOD_P, np.array([0, 2])),
     r"'labels' parameter of reliability_curve must hold class labels in \[0, 2\)"),
    (lambda: M.reliability_curve(GOOD_P, posterior=np.ones((2, 3)) / 3),
     r"'posterior' parameter of reliability_curve must have the same shape"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, n_bins=-2),
     r"'n_bins' parameter of classwise_reliability_curves must be an int >= 1"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, binning="log"),
     r"'binning' parameter of classwise_reliability_curves"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=[2]),
     r"'classes' parameter of classwise_reliability_curves must be a non-empty 1-D sequence "
     r"of distinct class indices in \[0, 2\). Got \[2\]"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=[0, 0]),
     r"'classes' parameter .* distinct .* Got \[0, 0\]"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=[-1]), r"'classes' parameter"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=[0.0]), r"'classes' parameter"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=[]), r"'classes' parameter"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, classes=1), r"'classes' parameter"),
    (lambda: M.classwise_reliability_curves(GOOD_P, GOOD_Y, n_bootstrap=0),
     r"'n_bootstrap' parameter of classwise_reliability_curves"),
    (lambda: M.classwise_reliability_curves(np.array([[0.5, -0.5], [0.5, 0.5]]), GOOD_Y),
     r"'probs' parameter of classwise_reliability_curves must be non-negative"),
    (lambda: M.classwise_reliability_curves(GOOD_P, posterior=np.array([[0.5, 0.6], [0.5, 0.5]])),
     r"'posterior' parameter of classwise_reliability_curves must have rows summing to 1"),
    (lambda: M.smooth_reliability_curve(GOOD_P, GOOD_Y, bandwidth=0.0),
     r"'bandwidth' parameter of smooth_reliability_curve must be a finite real number >= 0.0001"),
    (lambda: M.smooth_reliability_curve(GOOD_P, GOOD_Y, bandwidth=np.inf),
     r"'bandwidth' parameter of smooth_reliability_curve"),
    (lambda: M.smooth_reliability_curve(GOOD_P, GOOD_Y, n_grid=1),
     r"'n_grid' parameter of smooth_reliability_curve must be an int >= 2. Got 1"),
    (lambda: M.smooth_reliability_curve(GOOD_P, GOOD_Y, n_bootstrap=1),
     r"'n_bootstrap' parameter of smooth_reliability_curve"),
    (lambda: M.smooth_reliability_curve(GOOD_P, GOOD_Y, confidence=0.0),
     r"'confidence' parameter of smooth_reliability_curve"),
    (lambda: M.smooth_reliability_curve(GOOD_P, np.array([0.0, 1.0])),
     r"'labels' parameter of smooth_reliability_curve must be an array of integer class labels"),
])
def test_invalid_reliability_curve_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("function", [M.reliability_curve, M.classwise_reliability_curves,
                                      M.smooth_reliability_curve])
def test_reliability_curves_reject_legacy_random_state(function):
    with pytest.raises(TypeError, match="'rng' parameter must be"):
        function(GOOD_P, GOOD_Y, n_bootstrap=5, rng=np.random.RandomState(0))
    with pytest.raises(TypeError, match="'rng' parameter must be"):
        function(GOOD_P, GOOD_Y, rng="seed")


# -- -inf logits (impossible classes, e.g. a Bayes predictor's log-posterior) --------------------

def test_nll_from_logits_accepts_minus_inf_for_impossible_classes():
    logits = np.array([[0.0, -np.inf, np.log(3.0)], [-np.inf, 1.0, 1.0]])
    labels = np.array([2, 1])
    # Oracle: -log softmax computed by hand, with exp(-inf) = 0.
    expected = np.mean([-np.log(3.0 / 4.0), -np.log(0.5)])
    assert M.nll(logits, labels, from_logits=True) == pytest.approx(expected, rel=1e-15)
    eta = np.array([[0.25, 0.0, 0.75], [0.0, 0.5, 0.5]])
    expected_soft = np.mean([-(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), np.log(2.0)])
    assert M.nll(logits, posterior=eta, from_logits=True) == pytest.approx(expected_soft)
    # A label on an impossible class has infinite loss (the true value).
    assert M.nll(logits, np.array([1, 1]), reduction="none", from_logits=True)[0] == np.inf


def test_kl_to_posterior_from_logits_accepts_minus_inf_for_impossible_classes():
    logits = np.array([[0.0, -np.inf, np.log(3.0)], [-np.inf, 1.0, 1.0]])
    eta = np.array([[0.5, 0.0, 0.5], [0.0, 0.25, 0.75]])
    # Oracle by hand: g = (1/4, 0, 3/4) and (0, 1/2, 1/2); the eta_c = 0 terms are 0
    expected = [0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75),
                0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)]
    got = M.kl_to_posterior(logits, eta, from_logits=True, reduction="none")
    np.testing.assert_allclose(got, expected, rtol=1e-15)  # a few float64 operations
    # the same as on the probabilities (where the zeros need no special logits)
    probs = np.array([[0.25, 0.0, 0.75], [0.0, 0.5, 0.5]])
    np.testing.assert_allclose(got, M.kl_to_posterior(probs, eta, reduction="none"), rtol=1e-15)
    # a possible class (eta_c > 0) with logit -inf: the divergence is +inf, the true value
    bad = np.array([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    kl = M.kl_to_posterior(logits, bad, from_logits=True, reduction="none")
    assert kl[0] == np.inf and kl[1] == got[1]
    assert M.kl_to_posterior(logits, bad, from_logits=True) == np.inf


@pytest.mark.parametrize("bad, match", [
    (np.array([[np.nan, 0.0]]), "finite values or -inf"),
    (np.array([[np.inf, 0.0]]), "finite values or -inf"),
    (np.array([[-np.inf, -np.inf]]), "entirely -inf"),
])
def test_nll_from_logits_rejects_nan_plus_inf_and_all_minus_inf_rows(bad, match):
    with pytest.raises(ValueError, match=match):
        M.nll(bad, np.array([0]), from_logits=True)
    with pytest.raises(ValueError, match=match):
        M.kl_to_posterior(bad, np.array([[0.5, 0.5]]), from_logits=True)
