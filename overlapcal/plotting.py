"""Figures: compute first, plot second.

Every function takes computed objects and an optional matplotlib ``ax``, imports matplotlib
lazily and never touches global ``rcParams``.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_bool

__all__ = [
    "plot_distribution_1d",
    "reliability_diagram",
    "smooth_reliability_diagram",
    "classwise_reliability_diagram",
]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    return ax


def plot_distribution_1d(dist, *, ax=None, n_grid: int = 2001, x_range=None, title=None):
    """Draw the class densities ``p_c p(x|c)`` (filled) and the posterior ``eta(x)`` (lines).

    Parameters
    ----------
    dist : Distribution
        A distribution with ``n_features == 1``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    n_grid : int
        Number of evaluation points.
    x_range : (float, float), optional
        Plotted interval; by default the 0.1% to 99.9% range of a large sample.
    title : str, optional

    Returns
    -------
    ax : matplotlib Axes
        The axes, with the posterior drawn on a twin axis stored as ``ax.posterior_axis``.

    Notes
    -----
    THEORY.md 1: the joint densities ``pi(x, c) = p_c p(x | c)`` sum to the marginal
    ``pi_X(x)``, and the posterior is their ratio ``eta(x)_c = p_c p(x | c) / pi_X(x)``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt, overlapcal as oc
    >>> ax = oc.plotting.plot_distribution_1d(oc.OverlappingUniform(4, overlap=0.5))
    >>> len(ax.collections), len(ax.posterior_axis.lines)  # a density and a posterior per class
    (4, 4)
    >>> plt.close(ax.figure)
    """
    if dist.n_features != 1:
        raise ValueError(
            "The 'dist' parameter of plot_distribution_1d must have n_features == 1. "
            f"Got n_features={dist.n_features} instead."
        )
    ax = _axes(ax)
    if x_range is None:
        sample = dist.sample_inputs(20_000, rng=0)[:, 0]
        lo, hi = np.quantile(sample, [0.001, 0.999])
        pad = 0.05 * (hi - lo)
        x_range = (lo - pad, hi + pad)
    x = np.linspace(x_range[0], x_range[1], n_grid)[:, None]
    with np.errstate(divide="ignore"):
        joint = np.exp(dist.class_log_density(x) + np.log(dist.priors))
    post = dist.posterior(x)
    colors = [f"C{c % 10}" for c in range(dist.n_classes)]
    for c in range(dist.n_classes):
        ax.fill_between(x[:, 0], joint[:, c], color=colors[c], alpha=0.25, lw=0)
    ax.set_xlabel("x")
    ax.set_ylabel(r"$p_c\,p(x\mid c)$")
    twin = ax.twinx()
    for c in range(dist.n_classes):
        twin.plot(x[:, 0], post[:, c], color=colors[c], lw=1.2)
    twin.set_ylim(-0.03, 1.03)
    twin.set_ylabel(r"posterior $\eta(x)_c$")
    if title:
        ax.set_title(title, fontsize=9)
    ax.posterior_axis = twin
    return ax


# --------------------------------------------------------------------------------------------
# Reliability diagrams (compute with overlapcal.metrics.reliability_curve & co., then draw)
# --------------------------------------------------------------------------------------------

#: Narrowest bar drawn for an equal-mass bin whose confidences are (nearly) all equal.
_MIN_BAR_WIDTH = 0.01
#: The smooth curve is drawn dotted where the density is below this fraction of its maximum.
_SPARSE_DENSITY = 0.02
_LEGEND_SIZE = 7.5
_CONFIDENCE = r"confidence $\mathrm{max}_c\,p_c$"


def _require(value, cls, name: str, caller: str, hint: str = ""):
    if not isinstance(value, cls):
        from ._validation import _show

        raise TypeError(
            f"The {name!r} parameter of {caller} must be a {cls.__name__}{hint}. "
            f"Got {_show(value) if not hasattr(value, '__dict__') else type(value).__name__} "
            "instead."
        )




def _square_axes(ax, size=(4.4, 5.0)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _axis_labels(curve):
    """(x label, y label, short name of the plotted target) for a binned curve."""
    if curve.class_index is None:
        x = _CONFIDENCE
        if curve.target == "posterior":
            return x, r"mean true prob. $\eta_{\hat y}$", "mean $\\eta_{\\hat y}$"
        return x, "accuracy", "accuracy"
    c = curve.class_index
    x = f"predicted $p_{{{c}}}$"
    if curve.target == "posterior":
        return x, f"mean true prob. $\\eta_{{{c}}}$", f"mean $\\eta_{{{c}}}$"
    return x, f"frequency of class {c}", "frequency"


def _ece_name(curve):
    return "ECE" if curve.class_index is None else f"CE$_{{{curve.class_index}}}$"


def _bar_extents(curve):
    """Left and right ends of each drawn bar.

    Equal-width bins are drawn over the bin. Equal-mass bins are drawn over the part of the bin
    that holds data (the outer bins reach 0 and 1 by definition but only span the data), at
    least ``_MIN_BAR_WIDTH`` wide around the bin's mean confidence.
    """
    left, right = curve.edges[:-1].copy(), curve.edges[1:].copy()
    if curve.binning == "quantile":
        lo, hi = curve.value_range
        left = np.maximum(left, lo)
        right = np.minimum(right, hi)
        narrow = (right - left < _MIN_BAR_WIDTH) & (curve.count > 0)
        centre = np.clip(curve.confidence[narrow], _MIN_BAR_WIDTH / 2, 1 - _MIN_BAR_WIDTH / 2)
        left[narrow] = centre - _MIN_BAR_WIDTH / 2
        right[narrow] = centre + _MIN_BAR_WIDTH / 2
    return left, right


#: The strips a diagram stacks on top of its axes, by the attribute that stores them.
_STRIPS = ("count_axis", "density_axis")


def _top_strip(ax, attribute, values, height=0.2):
    """A short axis stacked on top of ``ax`` (same x range), for counts or densities.

    Stored as ``ax.<attribute>`` and made once: a second model drawn on ``ax`` reuses it, its
    y range growing to the larger maximum (``strip.top``); a strip of the other kind goes above
    it. Returns ``(strip, reused)``. Its y axis has one labelled tick, at the largest value,
    formatted by the caller.
    """
    strip = getattr(ax, attribute, None)
    reused = strip is not None
    if not reused:
        below = sum(hasattr(ax, name) for name in _STRIPS)
        strip = ax.inset_axes([0.0, 1.03 + below * (height + 0.03), 1.0, height], sharex=ax)
        strip.tick_params(axis="x", labelbottom=False, length=2)
        strip.tick_params(axis="y", labelsize=7, length=2, pad=1)
        for side in ("top", "right"):
            strip.spines[side].set_visible(False)
        strip.top = 0.0
        setattr(ax, attribute, strip)
    strip.top = max(strip.top, float(np.max(values)) if np.size(values) else 1.0)
    strip.set_ylim(0.0, strip.top * 1.08 if strip.top > 0 else 1.0)
    strip.set_yticks([0.0, strip.top])
    return strip, reused


def _legend(ax, handles):
    """The legend of ``ax``: the entries of its current legend (an earlier model drawn on the
    same axes) followed by ``handles``, each label once."""
    entries = {}
    old = ax.get_legend()
    if old is not None:
        for handle, text in zip(old.legend_handles, old.get_texts(), strict=True):
            entries.setdefault(text.get_text(), handle)
    for handle in handles:
        entries.setdefault(handle.get_label(), handle)
    ax.legend(list(entries.values()), list(entries), loc="upper left", fontsize=_LEGEND_SIZE,
              frameon=False, handlelength=1.6)


def _draw_binned(curve, ax, *, show_counts, show_gap, label, color, legend):
    """Draw ``curve`` on ``ax``; returns the legend handles (bars, gap, band) that were drawn."""
    xlabel, ylabel, short = _axis_labels(curve)
    left, right = _bar_extents(curve)
    ok = curve.count > 0
    width = (right - left)[ok]
    acc = curve.accuracy[ok]
    conf = curve.confidence[ok]
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="0.45", zorder=1, label="_diagonal")
    ece_text = f"{_ece_name(curve)} = {curve.ece:.3f}"
    bar_label = f"{label}: {short}, {ece_text}" if label else f"{short}, {ece_text}"
    handles = [ax.bar(left[ok], acc, width=width, align="edge", color=color, alpha=0.85,
                      edgecolor="white", linewidth=0.6, zorder=2, label=bar_label)]
    if show_gap:
        handles.append(ax.bar(
            left[ok], conf - acc, bottom=acc, width=width, align="edge",
            facecolor=(0.84, 0.15, 0.16, 0.18), edgecolor=(0.84, 0.15, 0.16, 0.9),
            hatch="////", linewidth=0.6, zorder=3, label="gap to mean confidence"))
    if curve.lower is not None:
        centre = 0.5 * (left + right)[ok]
        handles.append(ax.vlines(centre, curve.lower[ok], curve.upper[ok], color="black",
                                 linewidth=1.1, zorder=4,
                                 label=f"{curve.level:.0%} bootstrap band"))
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        _legend(ax, handles)
    if show_counts:
        share = curve.count[ok] / curve.n_samples
        if curve.binning == "uniform":  # equal widths: the share of samples per bin
            height, name = share, "share"
        else:  # equal shares: a histogram density (share per unit of confidence) is informative
            height, name = share / width, "density"
        strip, reused = _top_strip(ax, "count_axis", height)
        # a second model on the same strip: its own colour, translucent over the first
        strip.bar(left[ok], height, width=width, align="edge", color=color if reused else "0.55",
                  alpha=0.5 if reused else 1.0, edgecolor="white", linewidth=0.4)
        strip.set_yticklabels(["0", f"{strip.top:.0%}" if name == "share" else f"{strip.top:.3g}"])
        strip.set_ylabel(name, fontsize=7, labelpad=1)
    return handles


def reliability_diagram(curve, *, ax=None, show_counts=True, show_gap=True, label=None,
                        color="C0"):
    """Draw a binned reliability diagram: per-bin accuracy bars against the diagonal.

    Parameters
    ----------
    curve : overlapcal.metrics.ReliabilityCurve
        From :func:`overlapcal.metrics.reliability_curve` (top-label) or one element of
        :func:`overlapcal.metrics.classwise_reliability_curves`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    show_counts : bool, default True
        Draw the number of samples per bin on a short axis stacked on top of ``ax`` (stored as
        ``ax.count_axis``; a later diagram drawn on the same ``ax`` adds its bars there, in its
        ``color``, rather than stacking a second strip).
    show_gap : bool, default True
        Draw the gap between each bin's accuracy and its *mean confidence* (hatched), the
        quantity the ECE weighs (not the gap to the bin centre of Guo et al.'s figures).
    label : str, optional
        Name of the model, prefixed to the legend entry that carries the ECE. Drawing several
        models on one ``ax`` (one call each, with different ``label`` and ``color``) keeps
        every model's entry: the legend adds to the entries already on ``ax``, each label once.
    color : matplotlib color, default "C0"
        Colour of the accuracy bars.

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    TypeError
        If ``curve`` is not a :class:`~overlapcal.metrics.ReliabilityCurve`.
    ValueError
        If ``show_counts`` or ``show_gap`` is not a bool.

    Notes
    -----
    Bars span the bins (equal-mass bins: the part of the bin that holds data) and rise to
    ``acc(B_b)``; empty bins are not drawn. The ECE in the legend is
    ``sum_b |B_b|/n |acc(B_b) - conf(B_b)|`` (THEORY.md 2.3): the count-weighted hatched area
    per unit width. A bootstrap band, when the curve has one, is a vertical segment per bin.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from overlapcal import metrics, plotting
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=2000)
    >>> labels = np.array([rng.choice(3, p=p) for p in probs])
    >>> ax = plotting.reliability_diagram(metrics.reliability_curve(probs, labels, n_bins=10))
    >>> ax.get_ylabel(), len(ax.containers)        # accuracy bars and gap bars
    ('accuracy', 2)
    >>> plt.close("all")
    """
    from .metrics import ReliabilityCurve

    caller = "reliability_diagram"
    _require(curve, ReliabilityCurve, "curve", caller,
             " (from overlapcal.metrics.reliability_curve)")
    show_counts = check_bool(show_counts, "show_counts", caller)
    show_gap = check_bool(show_gap, "show_gap", caller)
    ax = _square_axes(ax)
    _draw_binned(curve, ax, show_counts=show_counts, show_gap=show_gap, label=label,
                 color=color, legend=True)
    return ax


def smooth_reliability_diagram(curve, *, ax=None, show_density=True, label=None, color="C3"):
    """Draw a smooth reliability diagram: the kernel-smoothed curve, its band and the density.

    Parameters
    ----------
    curve : overlapcal.metrics.SmoothReliabilityCurve
        From :func:`overlapcal.metrics.smooth_reliability_curve`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    show_density : bool, default True
        Shade the density of the confidences on a short axis stacked on top of ``ax`` (stored
        as ``ax.density_axis``; a later diagram on the same ``ax`` shades its density there,
        in its ``color``).
    label : str, optional
        Name of the model, prefixed to the legend entry that carries the smooth ECE; the
        legend adds to the entries already on ``ax`` (several models, one call each).
    color : matplotlib color, default "C3"

    Returns
    -------
    ax : matplotlib Axes

    Raises
    ------
    TypeError
        If ``curve`` is not a :class:`~overlapcal.metrics.SmoothReliabilityCurve`.
    ValueError
        If ``show_density`` is not a bool.

    Notes
    -----
    The line is ``x + r_hat(x)`` (see :func:`overlapcal.metrics.smooth_reliability_curve`),
    solid where the density of confidences is at least 2% of its maximum and dotted where it is
    lower (little data: the curve there is mostly extrapolated by the kernel). Its distance from
    the diagonal, weighted by the density, integrates to the smECE shown in the legend
    (THEORY.md 2.3). A bootstrap band, when present, is shaded around the line.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from overlapcal import metrics, plotting
    >>> rng = np.random.default_rng(0)
    >>> f = rng.uniform(0.5, 1.0, size=3000)
    >>> labels = (rng.random(3000) > f ** 2).astype(int)
    >>> curve = metrics.smooth_reliability_curve(np.stack([f, 1 - f], axis=1), labels)
    >>> ax = plotting.smooth_reliability_diagram(curve, label="model")
    >>> ax.get_legend().get_texts()[0].get_text()
    'model: smECE = 0.176 (σ = 0.176)'
    >>> plt.close("all")
    """
    from .metrics import SmoothReliabilityCurve

    caller = "smooth_reliability_diagram"
    _require(curve, SmoothReliabilityCurve, "curve", caller,
             " (from overlapcal.metrics.smooth_reliability_curve)")
    show_density = check_bool(show_density, "show_density", caller)
    ax = _square_axes(ax)
    x = curve.grid
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="0.45", zorder=1, label="_diagonal")
    text = f"smECE = {curve.smece:.3f} (σ = {curve.bandwidth:.3f})"
    line_label = f"{label}: {text}" if label else text
    dense = curve.density >= _SPARSE_DENSITY * curve.density.max()
    solid = np.where(dense, curve.accuracy, np.nan)
    # the dotted (sparse) part takes one extra grid point on each side, so the two parts join
    sparse = ~dense
    joined = sparse | np.r_[sparse[1:], False] | np.r_[False, sparse[:-1]]
    handles = ax.plot(x, solid, color=color, lw=2.0, zorder=3, label=line_label)
    ax.plot(x, np.where(joined, curve.accuracy, np.nan), color=color, lw=1.2, ls=":",
            zorder=3, label="_sparse")
    if curve.lower is not None:
        handles.append(ax.fill_between(x, curve.lower, curve.upper, color=color, alpha=0.2,
                                       linewidth=0, zorder=2,
                                       label=f"{curve.level:.0%} bootstrap band"))
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(_CONFIDENCE)
    ax.set_ylabel("accuracy" if curve.target == "labels" else r"mean true prob. $\eta_{\hat y}$")
    _legend(ax, handles)
    if show_density:
        strip, reused = _top_strip(ax, "density_axis", curve.density)
        strip.fill_between(x, curve.density, color=color if reused else "0.55",
                           alpha=0.3 if reused else 0.6, linewidth=0)
        strip.set_yticklabels(["0", f"{strip.top:.3g}"])
        strip.set_ylabel("density", fontsize=7, labelpad=1)
    return ax


def classwise_reliability_diagram(curves, *, axes=None, fig=None, max_classes=12, ncols=None,
                                  show_counts=True, show_gap=True, color="C0"):
    """Draw one reliability diagram per class on a grid of panels.

    Parameters
    ----------
    curves : sequence of overlapcal.metrics.ReliabilityCurve
        Typically :func:`overlapcal.metrics.classwise_reliability_curves` (curves without a
        ``class_index`` are titled by their position).
    axes : array_like of matplotlib Axes, optional
        Panels to draw into (at least as many as classes drawn); unused ones are left alone.
    fig : matplotlib Figure, optional
        Figure in which to make the grid of panels (not with ``axes``).
    max_classes : int, default 12
        Draw at most this many classes: when there are more, the ``max_classes`` with the
        largest calibration error ``CE_c``, in class order.
    ncols : int, optional
        Columns of the grid (default ``min(4, classes drawn)``).
    show_counts, show_gap, color
        As in :func:`reliability_diagram`.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (classes drawn,)
        The panels in class order; their figure is ``axes[0].figure``.

    Raises
    ------
    TypeError
        If ``curves`` is not a non-empty sequence of ReliabilityCurve, or ``axes`` holds
        something other than Axes.
    ValueError
        If ``max_classes`` or ``ncols`` is not an int >= 1, both ``axes`` and ``fig`` are given,
        or ``axes`` has fewer panels than classes drawn.

    Notes
    -----
    Panel ``c`` compares ``mean p_c`` with the frequency of class ``c`` per bin of ``p_c``, with
    ``CE_c`` in its title; the mean of ``CE_c`` over all classes is
    :func:`overlapcal.metrics.classwise_ece` (THEORY.md 2.3), shown in the figure title when every
    class is drawn. Top-label diagrams hide *which* class a model is miscalibrated on; the
    runner-up classes that interpolators get wrong (THEORY.md 4.3, Proposition 1b) show up here.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from overlapcal import metrics, plotting
    >>> rng = np.random.default_rng(0)
    >>> probs = rng.dirichlet(np.ones(3), size=2000)
    >>> labels = np.array([rng.choice(3, p=p) for p in probs])
    >>> curves = metrics.classwise_reliability_curves(probs, labels, n_bins=10)
    >>> axes = plotting.classwise_reliability_diagram(curves)
    >>> len(axes), axes[2].get_title()
    (3, 'class 2: CE$_{2}$ = 0.024')
    >>> plt.close("all")
    """
    from ._validation import check_int, param_error
    from .metrics import ReliabilityCurve

    caller = "classwise_reliability_diagram"
    if isinstance(curves, ReliabilityCurve) or not hasattr(curves, "__len__") or len(curves) == 0:
        raise TypeError(
            f"The 'curves' parameter of {caller} must be a non-empty sequence of "
            "ReliabilityCurve (from overlapcal.metrics.classwise_reliability_curves). "
            f"Got {type(curves).__name__} instead."
        )
    for i, curve in enumerate(curves):
        _require(curve, ReliabilityCurve, f"curves[{i}]", caller)
    max_classes = check_int(max_classes, "max_classes", caller, low=1)
    if ncols is not None:
        ncols = check_int(ncols, "ncols", caller, low=1)
    show_counts = check_bool(show_counts, "show_counts", caller)
    show_gap = check_bool(show_gap, "show_gap", caller)
    if axes is not None and fig is not None:
        raise ValueError(
            f"The 'axes' and 'fig' parameters of {caller} are mutually exclusive: pass the panels "
            "to draw into, or a figure in which to make them."
        )
    curves = list(curves)
    order = np.arange(len(curves))
    if len(curves) > max_classes:
        errors = np.array([c.ece for c in curves])
        order = np.sort(np.argsort(-errors, kind="stable")[:max_classes])
    shown = [curves[i] for i in order]
    m = len(shown)
    if axes is None:
        import matplotlib.pyplot as plt

        cols = min(4, m) if ncols is None else ncols
        rows = -(-m // cols)
        panel = (2.7, 3.35 if show_counts else 2.85)
        if fig is None:
            fig = plt.figure(figsize=(panel[0] * cols, panel[1] * rows + 0.35),
                             layout="constrained")
        grid = np.asarray(fig.subplots(rows, cols, squeeze=False))
        panels = grid.ravel()
        for extra in panels[m:]:
            extra.set_visible(False)
        first_col = [i % cols == 0 for i in range(m)]
        last_row = [i + cols >= m for i in range(m)]
    else:
        from matplotlib.axes import Axes

        panels = np.asarray(axes, dtype=object).ravel()
        for i, a in enumerate(panels):
            if not isinstance(a, Axes):
                raise TypeError(
                    f"The 'axes' parameter of {caller} must hold matplotlib Axes. "
                    f"Got {type(a).__name__} at position {i} instead."
                )
        if panels.size < m:
            raise param_error("axes", caller, f"at least {m} Axes (one per class drawn)",
                              f"{panels.size} Axes")
        fig = panels[0].figure
        first_col = last_row = [True] * m
    own_figure = axes is None
    for i, curve in enumerate(shown):
        ax = panels[i]
        handles = _draw_binned(curve, ax, show_counts=show_counts, show_gap=show_gap,
                               label=None, color=color, legend=False)
        if i == 0:
            legend_handles = handles
        ax.set_xticks([0.0, 0.5, 1.0])  # narrow panels: fewer ticks, so neighbours never touch
        cls = curve.class_index if curve.class_index is not None else int(order[i])
        ax.set_title(f"class {cls}: {_ece_name(curve)} = {curve.ece:.3f}", fontsize=9)
        if not first_col[i]:
            ax.set_ylabel("")
        elif own_figure:  # one label for a row of different classes
            ax.set_ylabel("observed frequency" if curve.target == "labels"
                          else r"mean true prob. $\eta_c$")
        if not last_row[i]:
            ax.set_xlabel("")
    # one legend for all panels, with labels that do not name a class
    names = ["observed frequency" if shown[0].target == "labels" else "mean true probability"]
    names += ["gap to mean predicted probability"] if show_gap else []
    names += [f"{shown[0].level:.0%} bootstrap band"] if shown[0].lower is not None else []
    if own_figure:
        fig.legend(legend_handles, names, loc="outside lower center", ncols=len(names),
                   fontsize=_LEGEND_SIZE + 0.5, frameon=False)
        if m == len(curves):
            title = f"class-wise reliability: mean CE = {np.mean([c.ece for c in curves]):.3f}"
        else:
            title = f"class-wise reliability: {m} of {len(curves)} classes (largest CE)"
        fig.suptitle(title, fontsize=10)
    else:
        panels[0].legend(legend_handles, names, loc="upper left", fontsize=_LEGEND_SIZE,
                         frameon=False, handlelength=1.6)
    return panels[:m]
