"""Agreement of overlapcal.metrics with peer libraries (run with ``pytest -m peers``).

Needs the ``peers`` extra (netcal, torchmetrics, relplot, uncertainty-calibration; TorchUncertainty
optional); each test is skipped when its library is missing. The data are continuous, so no
confidence sits exactly on a bin edge, where the libraries' edge conventions differ (see the
module docstring of overlapcal.metrics).
"""

from __future__ import annotations

import numpy as np
import pytest

from overlapcal import metrics as M

pytestmark = pytest.mark.peers


def make_data(n=4000, k=10, seed=0):
    """Accuracy f + 0.15 sin(3 pi f): over- and under-confident regions, every class present."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 2.5
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    f = probs.max(axis=1)
    top = probs.argmax(axis=1)
    correct = rng.random(n) < np.clip(f + 0.15 * np.sin(3 * np.pi * f), 0, 1)
    labels = np.where(correct, top, (top + rng.integers(1, k, n)) % k)
    return probs, labels


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_torchmetrics(norm):
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("torchmetrics.functional.classification")
    probs, labels = make_data()
    theirs = functional.multiclass_calibration_error(
        torch.from_numpy(probs), torch.from_numpy(labels), num_classes=probs.shape[1],
        n_bins=15, norm=norm,
    ).item()
    # torchmetrics accumulates in float32: ~1e-7 relative
    assert M.ece(probs, labels, 15, "uniform", norm) == pytest.approx(theirs, rel=1e-5)


def test_netcal():
    netcal = pytest.importorskip("netcal.metrics")
    probs, labels = make_data()
    assert M.ece(probs, labels) == pytest.approx(netcal.ECE(bins=15).measure(probs, labels), rel=1e-12)
    assert M.mce(probs, labels) == pytest.approx(netcal.MCE(bins=15).measure(probs, labels), rel=1e-12)
    assert M.ace(probs, labels) == pytest.approx(netcal.ACE(bins=15).measure(probs, labels), rel=1e-12)


def test_uncertainty_calibration():
    uc = pytest.importorskip("calibration")
    probs, labels = make_data()
    assert M.ece(probs, labels) == pytest.approx(uc.get_ece(probs, labels, num_bins=15), rel=1e-12)
    assert M.adaptive_ece(probs, labels) == pytest.approx(uc.get_ece_em(probs, labels, num_bins=15), rel=1e-12)
    assert M.debiased_l2_ce(probs, labels) == pytest.approx(
        uc.get_top_calibration_error(probs, labels, p=2, debias=True), rel=1e-12)
    assert M.classwise_ece(probs, labels) == pytest.approx(
        uc.get_ece(probs, labels, num_bins=15, mode="marginal"), rel=1e-12)
    assert M.classwise_ece(probs, labels, binning="quantile", norm="l2") == pytest.approx(
        uc.lower_bound_scaling_ce(probs, labels, p=2, debias=False, num_bins=15,
                                  binning_scheme=uc.get_equal_bins, mode="marginal"), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relplot(seed):
    rp = pytest.importorskip("relplot")
    probs, labels = make_data(seed=seed)
    f, y = rp.multiclass_logits_to_confidences(probs, labels, probs=True)
    # relplot's coarser discretisation (smooth_ece docstring) and its 10-step bisection: 1e-3
    assert M.smooth_ece(probs, labels) == pytest.approx(rp.smECE(f, y), abs=1e-3)
    for sigma in (0.03, 0.1):
        assert M.smooth_ece(probs, labels, bandwidth=sigma) == pytest.approx(
            rp.smECE_sigma(f, y, sigma), abs=1e-3)


def test_torch_uncertainty():
    torch = pytest.importorskip("torch")
    tu = pytest.importorskip("torch_uncertainty.metrics.classification")
    probs, labels = make_data()
    k = probs.shape[1]
    tp, ty = torch.from_numpy(probs), torch.from_numpy(labels)
    adaptive = tu.AdaptiveCalibrationError(task="multiclass", num_bins=15, num_classes=k)
    adaptive.update(tp, ty)
    # TorchUncertainty casts confidences to float32: ~1e-7 relative
    assert M.adaptive_ece(probs, labels) == pytest.approx(adaptive.compute().item(), rel=1e-5)
    classwise = tu.ClasswiseCalibrationError(num_classes=k, num_bins=15)
    classwise.update(tp, ty)
    assert M.classwise_ece(probs, labels) == pytest.approx(classwise.compute().item(), rel=1e-5)
    smooth = tu.SmoothCalibrationError(kernel_type="reflected")  # a port of relplot's
    smooth.update(tp.float(), ty)
    assert M.smooth_ece(probs, labels) == pytest.approx(smooth.compute().item(), abs=1e-3)


def test_float32_inputs():
    """float32 probabilities: overlapcal bins float32 confidences exactly and sums in float64."""
    torch = pytest.importorskip("torch")
    functional = pytest.importorskip("torchmetrics.functional.classification")
    netcal = pytest.importorskip("netcal.metrics")
    uc = pytest.importorskip("calibration")
    probs, labels = make_data()
    p32 = probs.astype(np.float32)
    ours = M.ece(p32, labels)
    # netcal bins the float32 confidences against float64 edges and averages in float64: the
    # same sums in another order (~1e-16)
    assert ours == pytest.approx(netcal.ECE(bins=15).measure(p32, labels), rel=1e-12)
    assert M.mce(p32, labels) == pytest.approx(netcal.MCE(bins=15).measure(p32, labels), rel=1e-12)
    assert M.ace(p32, labels) == pytest.approx(netcal.ACE(bins=15).measure(p32, labels), rel=1e-12)
    # uncertainty-calibration averages float32 values in float32 (np.mean of n/15 terms per bin):
    # ~sqrt(n) eps32 ~ 1e-6 relative at most for n = 4000
    assert ours == pytest.approx(uc.get_ece(p32, labels, num_bins=15), rel=1e-5)
    theirs = functional.multiclass_calibration_error(
        torch.from_numpy(p32), torch.from_numpy(labels), num_classes=p32.shape[1], n_bins=15,
    ).item()
    assert ours == pytest.approx(theirs, rel=1e-5)  # torchmetrics accumulates in float32


def test_confidence_exactly_one_is_in_the_last_bin():
    """A confidence of 1.0 belongs to the last bin (14/15, 1] (Guo et al. 2017).

    Half the rows say 1.0 and are right 94% of the time, half say 0.94 and are always right:
    the last bin's accuracy and mean confidence are both 0.97, so ECE = MCE = 0. netcal
    (``histogramdd`` closes the last bin) and uncertainty-calibration (``searchsorted``) agree;
    torchmetrics (``bucketize(right=True) - 1``) and relplot's ``binnedECE`` give 1.0 a 16th bin
    of its own and report 0.06 (benchmarks/bench_calibration.py, section 5a).
    """
    netcal = pytest.importorskip("netcal.metrics")
    uc = pytest.importorskip("calibration")
    n, k = 10_000, 10
    probs = np.zeros((n, k))
    half = n // 2
    probs[:half, 0] = 1.0
    probs[half:, 0] = 0.94
    probs[half:, 1:] = 0.06 / (k - 1)
    labels = np.zeros(n, dtype=np.int64)
    wrong = np.random.default_rng(3).permutation(half)[: int(0.06 * half)]
    labels[wrong] = 1 + np.arange(wrong.size) % 2  # > 2 label values: netcal stays multiclass
    # float64 rounding of (1 + 0.94) / 2 against the mean of 0/1 outcomes: ~1e-16; netcal clips
    # confidences to [eps, 1 - eps] first, which moves them by ~1e-16 each (1e-13 budget)
    assert M.ece(probs, labels) == pytest.approx(0.0, abs=1e-13)
    assert M.mce(probs, labels) == pytest.approx(0.0, abs=1e-13)
    assert netcal.ECE(bins=15).measure(probs, labels) == pytest.approx(0.0, abs=1e-13)
    assert uc.get_ece(probs, labels, num_bins=15) == pytest.approx(0.0, abs=1e-13)
    # moving the 1.0 rows just inside the bin changes the ECE by the moved confidence only
    inside = probs.copy()
    inside[:half, 0] = 1.0 - 1e-9
    inside[:half, 1] = 1e-9
    assert M.ece(inside, labels) == pytest.approx(1e-9 / 2, abs=1e-13)
