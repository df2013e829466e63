"""Smoke and structure tests of overlapcal.plotting (Agg backend, no image comparison).

Each test checks what was drawn (number of bars and lines, labels, legend texts, where it was
drawn), that the numbers on the figure are those of the computed curve, and, through an
autouse fixture, that global ``rcParams`` are unchanged and no figure is left open.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from overlapcal import metrics as M  # noqa: E402
from overlapcal import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _rcparams_untouched_and_figures_closed():
    before = dict(matplotlib.rcParams)
    yield
    after = dict(matplotlib.rcParams)
    changed = {key for key in before if before[key] != after[key]}
    plt.close("all")
    assert not changed, f"plotting changed rcParams: {sorted(changed)}"


def overconfident(n=3000, k=4, seed=0):
    """Probabilities at temperature 1/2 of the true posterior, labels drawn from it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 1.5
    eta = np.exp(logits - logits.max(1, keepdims=True))
    eta /= eta.sum(1, keepdims=True)
    labels = np.minimum((rng.random(n)[:, None] >= eta.cumsum(1)).sum(1), k - 1)
    z = 2.0 * logits
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return probs, labels, eta


PROBS, LABELS, ETA = overconfident()


def bars(ax):
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# --------------------------------------------------------------------------------------------
# Binned
# --------------------------------------------------------------------------------------------


def test_reliability_diagram_draws_one_bar_per_nonempty_bin():
    curve = M.reliability_curve(PROBS, LABELS, n_bins=12)
    ax = plotting.reliability_diagram(curve, label="model")
    nonempty = int((curve.count > 0).sum())
    accuracy_bars, gap_bars = bars(ax)
    assert len(accuracy_bars) == len(gap_bars) == nonempty < 12  # confidences >= 1/4
    np.testing.assert_allclose([p.get_height() for p in accuracy_bars],
                               curve.accuracy[curve.count > 0])
    # the gap runs from the accuracy to the bin's mean confidence
    np.testing.assert_allclose([p.get_y() + p.get_height() for p in gap_bars],
                               curve.confidence[curve.count > 0])
    # equal-width bins are drawn over the bin
    np.testing.assert_allclose([p.get_width() for p in accuracy_bars], 1 / 12)
    assert legend_texts(ax) == [f"model: accuracy, ECE = {curve.ece:.3f}",
                                "gap to mean confidence"]
    assert ax.get_ylabel() == "accuracy" and "confidence" in ax.get_xlabel()
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.0)
    # the diagonal
    (diagonal,) = ax.get_lines()
    np.testing.assert_array_equal(diagonal.get_xydata(), [[0, 0], [1, 1]])
    # the count strip: shares of the samples per bin, summing to 1
    strip = ax.count_axis
    assert strip in ax.child_axes
    shares = [p.get_height() for p in bars(strip)[0]]
    assert len(shares) == nonempty and sum(shares) == pytest.approx(1.0, rel=1e-14)
    assert strip.get_ylabel() == "share"


def test_reliability_diagram_draws_into_the_given_axes_and_options():
    curve = M.reliability_curve(PROBS, LABELS, n_bins=10, n_bootstrap=50, rng=0)
    fig, (left, right) = plt.subplots(1, 2)
    out = plotting.reliability_diagram(curve, ax=right, show_counts=False, show_gap=False)
    assert out is right
    assert len(fig.axes) == 2 and not left.has_data()  # nothing added elsewhere
    assert not right.child_axes and not hasattr(right, "count_axis")
    assert len(bars(right)) == 1  # accuracy bars only
    # the bootstrap band: one vertical segment per non-empty bin, from lower to upper
    (band,) = [c for c in right.collections if isinstance(c, LineCollection)]
    ok = curve.count > 0
    segments = band.get_segments()
    assert len(segments) == ok.sum()
    np.testing.assert_allclose([s[0, 1] for s in segments], curve.lower[ok])
    np.testing.assert_allclose([s[1, 1] for s in segments], curve.upper[ok])
    assert legend_texts(right) == [f"accuracy, ECE = {curve.ece:.3f}", "95% bootstrap band"]


def test_reliability_diagram_quantile_bins_span_the_data():
    curve = M.reliability_curve(PROBS, LABELS, n_bins=8, binning="quantile")
    ax = plotting.reliability_diagram(curve)
    patches = bars(ax)[0].patches
    lefts = np.array([p.get_x() for p in patches])
    rights = lefts + np.array([p.get_width() for p in patches])
    lo, hi = curve.value_range
    # outer bins reach 0 and 1 by definition but are drawn over the data only
    assert lefts[0] == pytest.approx(lo) and rights[-1] == pytest.approx(hi)
    np.testing.assert_allclose(lefts[1:], curve.edges[1:-1])
    # equal shares: the strip shows a histogram density, integrating to 1
    heights = np.array([p.get_height() for p in bars(ax.count_axis)[0]])
    assert np.sum(heights * (rights - lefts)) == pytest.approx(1.0, rel=1e-12)
    assert ax.count_axis.get_ylabel() == "density"


def test_reliability_diagram_single_value_bin_is_visible():
    # a hard interpolator's confidences are all equal: one equal-mass bin of zero data width
    probs = np.tile([0.97, 0.01, 0.01, 0.01], (50, 1))
    curve = M.reliability_curve(probs, np.arange(50) % 4, binning="quantile")
    ax = plotting.reliability_diagram(curve)
    (patch,) = bars(ax)[0].patches
    assert patch.get_width() == pytest.approx(plotting._MIN_BAR_WIDTH)
    assert patch.get_x() + patch.get_width() / 2 == pytest.approx(0.97)
    assert patch.get_height() == pytest.approx(13 / 50)  # labels 0, 4, ..., 48 are class 0


def test_reliability_diagram_labels_for_posterior_and_classwise_curves():
    curve = M.reliability_curve(PROBS, posterior=ETA)
    ax = plotting.reliability_diagram(curve)
    assert "eta" in ax.get_ylabel()
    assert legend_texts(ax)[0].startswith("mean $\\eta_{\\hat y}$, ECE = ")
    (c2,) = M.classwise_reliability_curves(PROBS, LABELS, classes=[2])
    ax = plotting.reliability_diagram(c2)
    assert ax.get_ylabel() == "frequency of class 2"
    assert ax.get_xlabel() == "predicted $p_{2}$"
    assert legend_texts(ax)[0] == f"frequency, CE$_{{2}}$ = {c2.ece:.3f}"


# --------------------------------------------------------------------------------------------
# Smooth
# --------------------------------------------------------------------------------------------


def test_smooth_reliability_diagram_line_band_and_density():
    curve = M.smooth_reliability_curve(PROBS, LABELS, n_bootstrap=20, rng=0)
    ax = plotting.smooth_reliability_diagram(curve, label="model")
    diagonal, solid, dotted = ax.get_lines()
    np.testing.assert_array_equal(diagonal.get_xydata(), [[0, 0], [1, 1]])
    # solid where the density is at least 2% of its maximum, dotted elsewhere (one grid point
    # of overlap so that they join); together they draw the whole curve
    y_solid = solid.get_ydata()
    y_dotted = dotted.get_ydata()
    dense = curve.density >= 0.02 * curve.density.max()
    np.testing.assert_array_equal(np.isnan(y_solid), ~dense | np.isnan(curve.accuracy))
    drawn = np.where(np.isnan(y_solid), y_dotted, y_solid)
    np.testing.assert_array_equal(drawn, curve.accuracy)
    assert dotted.get_linestyle() == ":"
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert band.get_label() == "95% bootstrap band"
    assert legend_texts(ax) == [
        f"model: smECE = {curve.smece:.3f} (σ = {curve.bandwidth:.3f})", "95% bootstrap band"]
    strip = ax.density_axis
    assert strip in ax.child_axes and strip.get_ylabel() == "density"
    assert len(strip.collections) == 1  # the shaded density


def test_smooth_reliability_diagram_into_axes_without_density_or_band():
    curve = M.smooth_reliability_curve(PROBS, posterior=ETA, n_grid=101)
    fig, ax = plt.subplots()
    assert plotting.smooth_reliability_diagram(curve, ax=ax, show_density=False) is ax
    assert len(fig.axes) == 1 and not ax.child_axes
    assert not ax.collections  # no band
    assert "eta" in ax.get_ylabel()
    assert legend_texts(ax) == [f"smECE = {curve.smece:.3f} (σ = {curve.bandwidth:.3f})"]


# --------------------------------------------------------------------------------------------
# Class-wise panels
# --------------------------------------------------------------------------------------------


def test_classwise_diagram_one_panel_per_class():
    curves = M.classwise_reliability_curves(PROBS, LABELS, n_bins=8)
    axes = plotting.classwise_reliability_diagram(curves)
    assert len(axes) == 4
    fig = axes[0].figure
    for c, ax in enumerate(axes):
        assert ax.get_title() == f"class {c}: CE$_{{{c}}}$ = {curves[c].ece:.3f}"
        assert len(bars(ax)[0]) == int((curves[c].count > 0).sum())
        assert ax.get_legend() is None
    # one figure legend and a title with the class-wise ECE (the mean of the CE_c)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        "observed frequency", "gap to mean predicted probability"]
    assert fig._suptitle.get_text() == (
        f"class-wise reliability: mean CE = {M.classwise_ece(PROBS, LABELS, n_bins=8):.3f}")
    # one row of 4: the row shares a generic y label
    assert axes[0].get_ylabel() == "observed frequency"
    assert all(ax.get_ylabel() == "" for ax in axes[1:])


def test_classwise_diagram_max_classes_picks_the_worst_in_class_order():
    probs, labels, _ = overconfident(n=2000, k=7, seed=1)
    curves = M.classwise_reliability_curves(probs, labels, n_bins=6)
    errors = np.array([c.ece for c in curves])
    axes = plotting.classwise_reliability_diagram(curves, max_classes=3, ncols=2)
    worst = sorted(np.argsort(-errors)[:3])
    assert [ax.get_title().split(":")[0] for ax in axes] == [f"class {c}" for c in worst]
    fig = axes[0].figure
    # 2 x 2 grid, the 4th panel hidden
    assert len([a for a in fig.axes if a.get_visible() and a not in
                [s for ax in axes for s in ax.child_axes]]) == 3
    assert fig._suptitle.get_text() == "class-wise reliability: 3 of 7 classes (largest CE)"
    # top row panels lose their x labels, right column their y labels
    assert axes[0].get_xlabel() == "" and axes[2].get_xlabel() != ""
    assert axes[1].get_ylabel() == ""


def test_classwise_diagram_draws_into_given_axes_or_figure():
    curves = M.classwise_reliability_curves(PROBS, posterior=ETA, n_bins=5, n_bootstrap=10,
                                            rng=0)
    fig, grid = plt.subplots(2, 3)
    axes = plotting.classwise_reliability_diagram(curves, axes=grid, show_counts=False)
    assert list(axes) == list(grid.ravel()[:4])
    assert not grid.ravel()[4].has_data() and not grid.ravel()[5].has_data()
    assert len(fig.axes) == 6  # no strips, no new axes
    # without a figure of its own the legend goes in the first panel
    assert legend_texts(axes[0]) == ["mean true probability", "gap to mean predicted probability",
                                     "95% bootstrap band"]
    assert not fig.legends
    fig2 = plt.figure()
    axes2 = plotting.classwise_reliability_diagram(curves[:2], fig=fig2, show_gap=False)
    assert axes2[0].figure is fig2 and len(bars(axes2[0])) == 1
    assert axes2[0].get_ylabel() == r"mean true prob. $\eta_c$"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

CURVE = M.reliability_curve(PROBS, LABELS)
SMOOTH = M.smooth_reliability_curve(PROBS, LABELS, n_grid=33)


@pytest.mark.parametrize("call,match", [
    (lambda: plotting.reliability_diagram(CURVE, show_counts="yes"),
     r"'show_counts' parameter of reliability_diagram must be a bool. Got 'yes'"),
    (lambda: plotting.reliability_diagram(CURVE, show_gap=1),
     r"'show_gap' parameter of reliability_diagram must be a bool"),
    (lambda: plotting.smooth_reliability_diagram(SMOOTH, show_density=None),
     r"'show_density' parameter of smooth_reliability_diagram must be a bool"),
    (lambda: plotting.classwise_reliability_diagram([CURVE], show_counts="no"),
     r"'show_counts' parameter of classwise_reliability_diagram"),
    (lambda: plotting.reliability_diagram(SMOOTH),
     r"'curve' parameter of reliability_diagram must be a ReliabilityCurve \(from "
     r"overlapcal.metrics.reliability_curve\). Got SmoothReliabilityCurve instead"),
    (lambda: plotting.reliability_diagram(np.zeros(3)),
     r"'curve' parameter of reliability_diagram must be a ReliabilityCurve .* Got an array"),
    (lambda: plotting.smooth_reliability_diagram(CURVE),
     r"'curve' parameter of smooth_reliability_diagram must be a SmoothReliabilityCurve"),
    (lambda: plotting.classwise_reliability_diagram(CURVE),
     r"'curves' parameter of classwise_reliability_diagram must be a non-empty sequence"),
    (lambda: plotting.classwise_reliability_diagram([]), r"'curves' parameter .* non-empty"),
    (lambda: plotting.classwise_reliability_diagram(iter([CURVE])), r"'curves' parameter"),
    (lambda: plotting.classwise_reliability_diagram([CURVE, SMOOTH]),
     r"'curves\[1\]' parameter of classwise_reliability_diagram must be a ReliabilityCurve"),
    (lambda: plotting.classwise_reliability_diagram([CURVE], axes=["not an axes"]),
     r"'axes' parameter of classwise_reliability_diagram must hold matplotlib Axes. "
     r"Got str at position 0"),
])
def test_type_errors(call, match):
    with pytest.raises(TypeError, match=match):
        call()


@pytest.mark.parametrize("call,match", [
    (lambda: plotting.classwise_reliability_diagram([CURVE], max_classes=0),
     r"'max_classes' parameter of classwise_reliability_diagram must be an int >= 1. Got 0"),
    (lambda: plotting.classwise_reliability_diagram([CURVE], ncols=1.5),
     r"'ncols' parameter of classwise_reliability_diagram must be an int >= 1"),
    (lambda: plotting.classwise_reliability_diagram([CURVE], axes=[], fig=plt.figure()),
     r"'axes' and 'fig' parameters of classwise_reliability_diagram are mutually exclusive"),
    (lambda: plotting.classwise_reliability_diagram([CURVE, CURVE], axes=plt.subplots()[1]),
     r"'axes' parameter of classwise_reliability_diagram must be at least 2 Axes \(one per "
     r"class drawn\). Got '1 Axes' instead"),
])
def test_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Several models on one axes
# --------------------------------------------------------------------------------------------


def test_two_binned_models_on_one_axes_keep_both_legend_entries_and_one_strip():
    hot = M.reliability_curve(PROBS, LABELS, n_bins=10)
    cold_probs, cold_labels, _ = overconfident(n=2000, seed=1)
    cold = M.reliability_curve(cold_probs, cold_labels, n_bins=10, n_bootstrap=20, rng=0)
    ax = plotting.reliability_diagram(hot, label="A")
    strip = ax.count_axis
    out = plotting.reliability_diagram(cold, ax=ax, label="B", color="C1")
    assert out is ax and ax.count_axis is strip and ax.child_axes == [strip]  # not stacked
    # the first model's entry survives; the shared "gap" entry appears once
    assert legend_texts(ax) == [f"A: accuracy, ECE = {hot.ece:.3f}", "gap to mean confidence",
                                f"B: accuracy, ECE = {cold.ece:.3f}", "95% bootstrap band"]
    handles = ax.get_legend().legend_handles
    assert handles[0].get_facecolor() != handles[2].get_facecolor()  # A's and B's bars keep their colours in the legend
    # both models' shares in the strip, its y range covering the larger one
    first, second = bars(strip)
    np.testing.assert_allclose([p.get_height() for p in first], hot.weights[hot.count > 0])
    np.testing.assert_allclose([p.get_height() for p in second], cold.weights[cold.count > 0])
    top = max(hot.weights.max(), cold.weights.max())
    assert strip.get_yticks()[-1] == pytest.approx(top)
    assert strip.get_yticklabels()[-1].get_text() == f"{top:.0%}"
    assert strip.get_ylim()[1] == pytest.approx(1.08 * top)


def test_two_smooth_models_on_one_axes_and_a_binned_one_underneath():
    f = np.random.default_rng(3).uniform(0.5, 1.0, size=3000)
    labels = (np.random.default_rng(4).random(3000) > f ** 2).astype(int)
    first = M.smooth_reliability_curve(np.stack([f, 1 - f], axis=1), labels)
    second = M.smooth_reliability_curve(PROBS, LABELS, n_bootstrap=20, rng=0)
    ax = plotting.smooth_reliability_diagram(first, label="A")
    plotting.smooth_reliability_diagram(second, ax=ax, label="B", color="C0")
    texts = legend_texts(ax)
    assert texts[0].startswith("A: smECE = ") and texts[1].startswith("B: smECE = ")
    assert texts[2] == "95% bootstrap band" and len(texts) == 3
    assert ax.child_axes == [ax.density_axis]
    assert len(ax.density_axis.collections) == 2
    top = max(first.density.max(), second.density.max())
    assert ax.density_axis.get_yticklabels()[-1].get_text() == f"{top:.3g}"
    # a binned diagram on the same axes: its count strip goes above the density strip
    plotting.reliability_diagram(M.reliability_curve(PROBS, LABELS), ax=ax, label="C")
    assert len(ax.child_axes) == 2 and legend_texts(ax)[:3] == texts
    assert legend_texts(ax)[3].startswith("C: accuracy, ECE = ")
    low = ax.density_axis.get_position().y1
    assert ax.count_axis.get_position().y0 > low - 1e-9  # stacked, not overlapping
