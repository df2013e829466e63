"""Figures: compute first, plot second.

Every function takes computed objects and an optional matplotlib ``ax``, imports matplotlib
lazily and never touches global ``rcParams``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_distribution_1d"]


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
