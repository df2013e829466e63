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
    """Ground truth of one distribution setting.

    Attributes
    ----------
    family : str
        The class (and constructor or noise kind), e.g. ``"GaussianMixture.shifted"``.
    setting : str
        Its parameters in words, e.g. ``"k=10, m=2, alpha=0.5"``.
    n_classes : int
        ``k``.
    overlap_mass : float or None
        ``pi_X`` of the region where two classes overlap, for the families that define it
        (``OverlappingUniform.overlap_mass``), else None.
    conditional_entropy : float
        ``H(Y|X) = E_X[H(eta(X))]`` in nats, the Bayes NLL (THEORY.md 1).
    bayes_accuracy : float
        ``A* = E_X[max_c eta(X)_c]``.
    uniform_risk : float
        ``log k - H(Y|X)``: the KL risk of the uniform predictor (THEORY.md 2.2).
    method : str
        How the two ground-truth columns were obtained: ``"exact"``, ``"quadrature"``,
        ``"monte-carlo"`` or two of them joined by ``/``.

    Examples
    --------
    >>> import math
    >>> from overlapcal.experiments.families import FamilyRow
    >>> h = math.log(2) / 2            # k = 2, alpha = 0.5: half the mass has eta = (1/2, 1/2)
    >>> row = FamilyRow("OverlappingUniform", "k=2, m=2, alpha=0.5", 2, 0.5, h, 0.75,
    ...                 math.log(2) - h, "exact")
    >>> round(row.uniform_risk, 6)
    0.346574
    """

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
    """Compute the table rows; Monte Carlo columns use ``n_samples`` draws from ``rng``.

    The settings: ``OverlappingUniform`` with ``k = 10`` pairs at overlaps 0, 0.25, 0.5 and 1
    and with groups of 3 and 4; the paper's ``d = 300`` Gaussian preset at
    ``mu = 0.25, 0.1, 0.05, 0.01``; ten orthogonal Gaussians; pair and symmetric label noise.

    Parameters
    ----------
    n_samples : int >= 2, default 200_000
        Draws for the columns without a closed form or quadrature (the orthogonal Gaussians'
        entropy).
    rng : None, int or numpy Generator, default 0

    Returns
    -------
    list of FamilyRow
        One per setting, in the order above.

    Examples
    --------
    >>> from overlapcal.experiments.families import family_rows
    >>> rows = family_rows(n_samples=10_000, rng=0)
    >>> len(rows)
    13
    >>> r = rows[2]
    >>> r.setting, r.overlap_mass, r.bayes_accuracy, r.method    # A* = 1 - alpha / 2
    ('k=10, m=2, alpha=0.5', 0.5, 0.75, 'exact')
    >>> rows[7].setting, round(rows[7].bayes_accuracy, 4)         # the paper's preset
    ('d=300, mu=0.1', 0.8068)
    """
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
    """A Markdown table of the rows.

    Parameters
    ----------
    rows : list of FamilyRow

    Returns
    -------
    str
        A header, a rule and one line per row (four decimals; ``—`` for no overlap mass).

    Examples
    --------
    >>> from overlapcal.experiments.families import FamilyRow, format_table
    >>> row = FamilyRow("LabelNoise(pair)", "rate=0.2", 10, None, 0.5004, 0.8, 1.8022, "exact")
    >>> print(format_table([row]).splitlines()[-1])
    | LabelNoise(pair) | rate=0.2 | 10 | — | 0.5004 | 0.8000 | 1.8022 | exact |
    """
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
    """Class densities and posteriors of four 1-D settings, saved as PNG and PDF.

    Parameters
    ----------
    path_stem : pathlib.Path
        ``path_stem.png`` and ``path_stem.pdf`` are written (the folder must exist).

    See Also
    --------
    describe_families : calls it; its example draws the figure.
    """
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
    """Write ``families.md`` and ``families.png/pdf`` into ``out``; return the Markdown table.

    What ``overlapcal describe`` runs: :func:`format_table` of :func:`family_rows` (default
    ``n_samples`` and ``rng``) and :func:`plot_families`.

    Parameters
    ----------
    out : str or path-like
        An existing folder.

    Returns
    -------
    str
        The table, as written into ``families.md``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from overlapcal.experiments.families import describe_families
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     table = describe_families(folder)
    ...     print(sorted(p.name for p in Path(folder).iterdir()))
    ['families.md', 'families.pdf', 'families.png']
    >>> print(table.splitlines()[4])
    | OverlappingUniform | k=10, m=2, alpha=0.5 | 10 | 0.5000 | 0.3466 | 0.7500 | 1.9560 | exact |
    """
    out = Path(out)
    table = format_table(family_rows())
    text = ("# overlapcal: built-in distribution families\n\n"
            "Exact ground truth where a closed form exists; Monte Carlo columns carry a standard "
            "error below 1e-3.\n\n" + table + "\n")
    (out / "families.md").write_text(text)
    plot_families(out / "families")
    return table
