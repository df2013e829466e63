"""A tour of the built-in distribution families: exact ground truth in a table, and a figure.

This is what ``overlapcal describe`` runs. Every number comes from the distributions' own
ground-truth methods, and the table says how each was obtained (exact, quadrature, Monte Carlo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FamilyRow", "family_rows", "format_table", "describe_families"]


@dataclass(frozen=True)
class FamilyRow:
    """Ground truth of one distribution setting."""

    family: str
    setting: str
    n_classes: int
    overlap_mass: float | None
    conditional_entropy: float
    bayes_accuracy: float
    uniform_risk: float  # log k - H(Y|X): the KL risk of the uniform predictor (THEORY.md 2.2)
    method: str


def _settings(rng_seed: int = 0):
    import overlapcal as oc

    for overlap in (0.0, 0.25, 0.5, 1.0):
        yield "OverlappingUniform", f"k=10, m=2, alpha={overlap}", oc.OverlappingUniform(10, overlap)
    yield "OverlappingUniform", "k=12, m=3, alpha=0.5", oc.OverlappingUniform(12, 0.5, group_size=3)
    yield "OverlappingUniform", "k=12, m=4, alpha=1.0", oc.OverlappingUniform(12, 1.0, group_size=4)
    for mu in (0.25, 0.1, 0.05, 0.01):
        yield "GaussianMixture.shifted", f"d=300, mu={mu}", oc.GaussianMixture.shifted(300, shift=mu)
    yield "GaussianMixture.orthogonal", "k=10, separation=2", oc.GaussianMixture.orthogonal(
        10, separation=2.0)
    yield "LabelNoise(pair)", "rate=0.2 on k=10, alpha=0", oc.LabelNoise(
        oc.OverlappingUniform(10, 0.0), 0.2, kind="pair", rng=rng_seed)
    yield "LabelNoise(symmetric)", "rate=0.2 on k=10, alpha=0.5", oc.LabelNoise(
        oc.OverlappingUniform(10, 0.5), 0.2, kind="symmetric")


def family_rows(*, n_samples: int = 200_000, rng=0) -> list[FamilyRow]:
    """Compute the table rows; Monte Carlo columns use ``n_samples`` draws from ``rng``."""
    rows = []
    for family, setting, dist in _settings():
        kwargs = {"n_samples": n_samples, "rng": rng}
        entropy = dist.conditional_entropy(**kwargs)
        accuracy = dist.bayes_accuracy(**kwargs)
        overlap = float(dist.overlap_mass()) if hasattr(dist, "overlap_mass") else None
        methods = sorted({entropy.method, accuracy.method})
        rows.append(FamilyRow(
            family, setting, dist.n_classes, overlap, float(entropy), float(accuracy),
            float(np.log(dist.n_classes) - float(entropy)), "/".join(methods),
        ))
    return rows


def format_table(rows: list[FamilyRow]) -> str:
    """A Markdown table of the rows."""
    lines = [
        "| family | setting | k | overlap mass | H(Y|X) (nats) | Bayes accuracy | log k - H(Y|X) | method |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        overlap = "—" if r.overlap_mass is None else f"{r.overlap_mass:.4f}"
        lines.append(
            f"| {r.family} | {r.setting} | {r.n_classes} | {overlap} | {r.conditional_entropy:.4f} "
            f"| {r.bayes_accuracy:.4f} | {r.uniform_risk:.4f} | {r.method} |"
        )
    return "\n".join(lines)


def plot_families(path_stem: Path) -> None:
    """Class densities and posteriors of four 1-D settings, saved as PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import overlapcal as oc
    from overlapcal.plotting import plot_distribution_1d

    d = 0.1 * np.sqrt(300)  # the paper's mu = 0.1 preset, projected on the mean direction
    panels = [
        (oc.OverlappingUniform(4, 0.5), "OverlappingUniform(k=4, alpha=0.5)", (-0.2, 6.2)),
        (oc.OverlappingUniform(6, 0.6, group_size=3, spacing=3.5),
         "OverlappingUniform(k=6, m=3, alpha=0.6, s=3.5)", (-0.2, 5.5)),
        (oc.GaussianMixture(np.array([[0.0], [d]])), f"GaussianMixture, D={d:.3f} (mu=0.1 preset)",
         None),
        (oc.LabelNoise(oc.OverlappingUniform(4, 0.0), 0.2, kind="pair", rng=0),
         "LabelNoise(pair, 0.2) on k=4, alpha=0", (-0.2, 6.2)),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), layout="constrained")
    for ax, (dist, title, x_range) in zip(axes.ravel(), panels):
        plot_distribution_1d(dist, ax=ax, x_range=x_range, title=title)
    fig.suptitle("Class densities (filled) and Bayes posteriors (lines)")
    for suffix in (".png", ".pdf"):
        fig.savefig(path_stem.with_suffix(suffix), dpi=130)
    plt.close(fig)


def describe_families(out: Path) -> str:
    """Write ``families.md`` and ``families.png/pdf`` into ``out``; return the Markdown table."""
    out = Path(out)
    table = format_table(family_rows())
    text = ("# overlapcal: built-in distribution families\n\n"
            "Exact ground truth where a closed form exists; Monte Carlo columns carry a standard "
            "error below 1e-3.\n\n" + table + "\n")
    (out / "families.md").write_text(text)
    plot_families(out / "families")
    return table
