"""``overlapcal reproduce``: every theorem plot, its data, and verdicts computed from the numbers.

Five figures (THEORY.md 6), each a set of sweeps (the same runner and results store as
``overlapcal sweep``), a plot, and verdicts: a statement the theory makes, checked on the
measured numbers, with the numbers in the verdict line.

* F1: KL risk after oracle temperature scaling versus ``k`` on overlapping pairs.
* F2: the same versus the overlap ``alpha`` at fixed ``k``.
* F3: the paper's synthetic table (two Gaussians, ``d = 300``), converged TS and the paper's
  LBFGS temperature fitting side by side.
* F4: ECE versus KL after TS (the blind spot of Proposition 1) with reliability diagrams.
* F5: the Gaussian analogue of F1 (``GaussianMixture.pairs``) versus ``k``.

``quick=True`` (the README's main job) uses smaller grids and networks and finishes in a few
minutes on 2 CPU cores; ``quick=False`` is the full configuration (see :data:`FULL_RUNTIME`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import SweepConfig, config_from_dict, expand
from .store import write_rows_csv
from .sweep import check_writable, run_sweep

__all__ = ["Verdict", "FigureResult", "figure_configs", "reproduce"]

#: Measured wall time of ``overlapcal reproduce`` (full configuration) on 2 CPU cores.
FULL_RUNTIME = ("about 80 minutes on 2 CPU cores (4785 s measured by benchmarks/bench_reproduce.py "
                "--full; the quick configuration: 131 s)")

F1_OVERLAP = 0.5
F2_CLASSES = 16
F5_BAYES_ERROR = 0.1


@dataclass(frozen=True)
class Verdict:
    """One checked statement: does the measurement agree with the theory?

    Attributes
    ----------
    figure : str
        The figure the statement belongs to (``"F1"`` ... ``"F5"``).
    claim : str
        The statement the theory makes, in words.
    passed : bool or None
        True when the measured numbers agree, False when they do not, None for a measured
        finding the theory makes no prediction about (not counted in the report's score).
        A ``numpy.bool_`` is stored as a plain ``bool``.
    detail : str
        The numbers the verdict was computed from.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal.experiments.reproduce import Verdict
    >>> v = Verdict("F1", "KL after TS >= Corollary 2's bound", np.float64(0.5) >= 0.2,
    ...             "min margin 0.3")
    >>> v.passed is True
    True
    >>> print(v.line())
    - **agrees**: KL after TS >= Corollary 2's bound (min margin 0.3)
    >>> print(Verdict("F3", "Mixup + TS NLL", None, "0.41 nats").line())
    - **finding**: Mixup + TS NLL (0.41 nats)
    """

    figure: str
    claim: str
    passed: bool | None  # None: a measured finding the theory makes no prediction about
    detail: str

    def __post_init__(self):
        # numpy comparisons give np.bool_; store a plain bool so `passed is True` counts it.
        if self.passed is not None:
            object.__setattr__(self, "passed", bool(self.passed))

    def line(self) -> str:
        """The verdict as a Markdown list item: ``- **agrees|DISAGREES|finding**: claim (detail)``.

        Returns
        -------
        str
        """
        mark = {True: "agrees", False: "DISAGREES", None: "finding"}[self.passed]
        return f"- **{mark}**: {self.claim} ({self.detail})"


@dataclass
class FigureResult:
    """A figure's id, title, prediction, rows, files and verdicts.

    What :func:`reproduce` returns, one per figure.

    Attributes
    ----------
    key : str
        The figure's id, ``"F1"`` ... ``"F5"``.
    title : str
        Its title in the report.
    prediction : str
        What the theory predicts for it, in words.
    rows : list of dict, default []
        The tidy rows of its sweeps (F4 reuses F1's).
    files : list of pathlib.Path, default []
        The files it wrote (PNG and PDF figures; F3 also a Markdown table).
    verdicts : list of Verdict, default []
        The statements checked on the numbers.
    seconds : float, default 0.0
        Wall time of the figure (sweeps, drawing and verdicts).

    Examples
    --------
    >>> from overlapcal.experiments.reproduce import FigureResult, Verdict
    >>> result = FigureResult("F2", "KL after oracle TS versus the overlap",
    ...                       "The risk grows with the overlap.",
    ...                       verdicts=[Verdict("F2", "grows with alpha", True, "slope 0.4")])
    >>> result.key, len(result.rows), [v.passed for v in result.verdicts]
    ('F2', 0, [True])
    """

    key: str
    title: str
    prediction: str
    rows: list = field(default_factory=list)
    files: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    seconds: float = 0.0


# -- configurations -------------------------------------------------------------------------

def _config(name: str, grid: dict, fixed: dict, seed: int = 2024, replicates: int = 1) -> SweepConfig:
    return config_from_dict({"name": name, "task": "calibration", "seed": seed,
                             "replicates": replicates, "grid": grid, "fixed": fixed},
                            source=f"reproduce:{name}")


def _powers(lo: int, hi: int) -> list[int]:
    return [2**e for e in range(int(math.log2(lo)), int(math.log2(hi)) + 1)]


def figure_configs(quick: bool = True) -> dict[str, list[SweepConfig]]:
    """The sweeps behind each figure; ``quick`` shrinks grids, samples and networks.

    Parameters
    ----------
    quick : bool, default True
        Smaller grids, fewer replicates (1 instead of 3) and shorter network training: a few
        minutes on 2 CPU cores instead of the full configuration's ``FULL_RUNTIME``.

    Returns
    -------
    dict of str to list of SweepConfig
        ``{"F1": [...], "F2": [...], "F3": [...], "F5": [...]}``: the validated
        ``"calibration"`` sweeps each figure runs (F4 is drawn from F1's rows). Every config
        has seed 2024, so its cells and their stores are the same on every machine.

    Raises
    ------
    ConfigError
        Never for the built-in configurations (they are validated here, so a broken one
        fails before any sweep runs).

    Examples
    --------
    >>> from overlapcal.experiments.reproduce import figure_configs
    >>> configs = figure_configs(quick=True)
    >>> list(configs)
    ['F1', 'F2', 'F3', 'F5']
    >>> [(c.name, c.n_cells) for c in configs["F1"]]
    [('f1-closed-forms', 30), ('f1-global-mixup', 4), ('f1-erm-networks', 3),
     ('f1-mixup-networks', 3)]
    >>> configs["F1"][0].grid["n_classes"][-1], configs["F1"][0].fixed["overlap"]
    (1024, 0.5)
    >>> quick = sum(c.n_cells for cs in configs.values() for c in cs)
    >>> full = sum(c.n_cells for cs in figure_configs(quick=False).values() for c in cs)
    >>> quick, full
    (103, 317)
    """
    q = quick
    recal = ["none", "oracle", "fitted"]
    uniform = {"family": "overlapping_uniform", "recalibrations": recal,
               "n_per_class": 20, "n_val": 2000, "n_test": 4000, "kl_samples": 20000}
    # Trained networks. ERM networks must interpolate (train accuracy 1, as the theory assumes):
    # on the 1-D family that takes thousands of epochs through the overlap, so they see the same
    # family with n_features = 8 (the extra axes are class-independent noise: the posterior,
    # the Bayes accuracy and Corollary 2 are unchanged) and train at a constant rate until they
    # interpolate. Mixup networks must approach the Mixup optimum of the 1-D family, so they
    # train on it (more data, a cosine schedule): noise axes are not neutral for Mixup, since
    # the law of lam X1 + (1 - lam) X2 on them depends on lam. The two are therefore trained on
    # different data, and the report says so. Settings measured in bench_minimizers.py.
    scale = 1 if q else 2
    uniform_nets = {
        "erm_net": {"n_features": 8, "n_per_class": 250, "width": 128, "depth": 2,
                    "epochs": 30 * scale, "batch_size": 64, "lr": 3e-3,
                    "until_interpolation": True},
        "mixup_net": {"n_features": 1, "n_per_class": 1000, "width": 128, "depth": 3,
                      "epochs": 40 * scale, "batch_size": 128, "lr": 3e-3,
                      "lr_schedule": "cosine"},
    }
    # n_features = 16 needs k <= 16 (GaussianMixture.pairs: d >= k); ERM and Mixup networks
    # see the same data (the noise axes change the posterior nowhere, but the Mixup optimum in
    # d = 16 is not the closed-form optimum drawn for d = k).
    gaussian = {"n_features": 16, "n_per_class": 500, "width": 128, "depth": 2,
                "epochs": 30 * scale, "batch_size": 128, "lr": 3e-3}
    gaussian_nets = {"erm_net": {**gaussian, "until_interpolation": True},
                     "mixup_net": {**gaussian, "lr_schedule": "cosine"}}
    reps = 1 if q else 3
    ks = _powers(2, 1024)
    configs = {
        "F1": [
            _config("f1-closed-forms", {"n_classes": ks,
                                        "method": ["hard_interpolator", "soft_interpolator",
                                                   "mixup_optimum_local"]},
                    {**uniform, "overlap": F1_OVERLAP}, replicates=reps),
            _config("f1-global-mixup", {"n_classes": _powers(2, 16 if q else 128),
                                        "method": ["mixup_optimum"]},
                    {**uniform, "overlap": F1_OVERLAP}),
            *_network_configs("f1", {"n_classes": _powers(2, 8 if q else 32)},
                              {**uniform, "overlap": F1_OVERLAP}, uniform_nets, reps),
        ],
        "F2": [
            _config("f2-closed-forms", {"overlap": [0.0, 0.1, 0.25, 0.5, 0.75, 1.0],
                                        "method": ["hard_interpolator", "soft_interpolator",
                                                   "mixup_optimum_local"]
                                        + ([] if q else ["mixup_optimum"])},
                    {**uniform, "n_classes": F2_CLASSES}, replicates=reps),
            *_network_configs("f2", {"overlap": [0.25, 1.0] if q
                                     else [0.0, 0.1, 0.25, 0.5, 0.75, 1.0]},
                              {**uniform, "n_classes": 4 if q else F2_CLASSES},
                              uniform_nets, reps),
        ],
        "F3": _paper_table_configs(q),
        "F5": [
            _config("f5-gaussian-pairs", {"n_classes": _powers(2, 64 if q else 256),
                                          "method": ["hard_interpolator", "soft_interpolator"]},
                    {"family": "gaussian_pairs", "bayes_error": F5_BAYES_ERROR,
                     "recalibrations": recal, "n_per_class": 20, "n_val": 2000,
                     "n_test": 4000, "kl_samples": 10000 if q else 40000}, replicates=reps),
            _config("f5-gaussian-mixup", {"n_classes": _powers(2, 8 if q else 64),
                                          "method": ["mixup_optimum"]},
                    {"family": "gaussian_pairs", "bayes_error": F5_BAYES_ERROR,
                     "recalibrations": recal, "n_per_class": 50, "n_val": 2000,
                     "n_test": 4000, "kl_samples": 5000 if q else 20000}),
            *_network_configs("f5-gaussian", {"n_classes": _powers(2, 8 if q else 16)},
                              {"family": "gaussian_pairs", "bayes_error": F5_BAYES_ERROR,
                               "recalibrations": recal, "n_val": 2000, "n_test": 4000,
                               "kl_samples": 5000 if q else 20000}, gaussian_nets),
        ],
    }
    return configs


def _network_configs(prefix: str, grid: dict, fixed: dict, settings: dict,
                     replicates: int = 1) -> list[SweepConfig]:
    """One sweep per network method (``{method: its settings}``) over the same grid."""
    return [_config(f"{prefix}-{method.removesuffix('_net')}-networks",
                    {**grid, "method": [method]}, {**fixed, **net}, replicates=replicates)
            for method, net in settings.items()]


def _paper_table_configs(quick: bool) -> list[SweepConfig]:
    shifts = [0.25, 0.1, 0.05, 0.01]
    fixed = {"family": "gaussian_shifted", "n_classes": 2, "n_train": 3600, "n_val": 400,
             "n_test": 10000, "kl_samples": 10000,
             "recalibrations": ["none", "fitted", "paper_lbfgs"],
             "width": 256, "depth": 2, "epochs": 20 if quick else 200,
             "batch_size": 128, "lr": 1e-3}
    return [
        _config("f3-paper-table", {"shift": shifts, "method": ["bayes", "erm_net", "mixup_net"]},
                fixed),
        _config("f3-paper-table-dmixup", {"shift": shifts, "n_mix": [3, 5],
                                          "method": ["dmixup_net"]}, fixed),
    ]


# -- helpers ---------------------------------------------------------------------------------

def _select(rows, **conditions):
    return [r for r in rows if all(r.get(k) == v for k, v in conditions.items())]


def _mean_by(rows, key, value="kl"):
    """Mean of ``value`` grouped by ``key`` (over replicates), sorted by key."""
    xs, means, _ = _mean_se_by(rows, key, value)
    return xs, means


def _mean_se_by(rows, key, value="kl"):
    """Mean of ``value`` by ``key`` with its standard error, sorted by key.

    The error of a mean over ``n`` replicates is ``sqrt(v / n)``, ``v`` the larger of the
    cells' mean squared Monte Carlo error (``value + "_stderr"``, 0 for exact values) and, with
    ``n >= 2``, the replicates' sample variance (which also sees training noise). With one
    replicate only the Monte Carlo error is known.
    """
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[key], []).append((r.get(value, float("nan")),
                                              r.get(value + "_stderr") or 0.0))
    xs = sorted(groups)
    means, ses = [], []
    for x in xs:
        v, e = np.array(groups[x], dtype=float).T
        var = float(np.mean(e**2))
        if v.size >= 2:
            var = max(var, float(np.var(v, ddof=1)))
        means.append(float(np.mean(v)))
        ses.append(math.sqrt(var / v.size))
    return np.array(xs, dtype=float), np.array(means), np.array(ses)


def _growth_verdict(fig: str, claim: str, rows, extra: str = "") -> list[Verdict]:
    """"``kl`` grows with k": the weighted least-squares slope of the means against log k
    must exceed 2 standard errors (below -2: disagrees; in between: inconclusive, a
    finding). No verdict from fewer than two k."""
    k, kl, se = _mean_se_by(rows, "n_classes")
    if k.size < 2:
        return []
    t = np.log(k)
    w = 1.0 / np.maximum(se, 1e-12) ** 2
    tc = t - np.sum(w * t) / np.sum(w)
    slope = float(np.sum(w * tc * kl) / np.sum(w * tc * tc))
    slope_se = float(1.0 / math.sqrt(np.sum(w * tc * tc)))
    reps = sorted({r.get("replicate", 0) for r in rows})
    detail = (f"slope in log k = {slope:.3f} +- {slope_se:.3f}; KL {_values(kl)} at k "
              f"{_grid_values(k)}; {len(reps)} replicate{'s' if len(reps) > 1 else ''}"
              + (" (Monte Carlo error only)" if len(reps) == 1 else "") + extra)
    if abs(slope) <= 2 * slope_se:
        return [Verdict(fig, claim + ": inconclusive at this size (slope within 2 standard "
                        "errors of 0)", None, detail)]
    return [Verdict(fig, claim, slope > 0, detail)]


def _grid_values(values) -> str:
    """Grid values as written in a config: ``[2, 4, 8]`` or ``[0.25, 1]``."""
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _paired(a_rows, b_rows, key, value="kl"):
    """Means of ``value`` by ``key`` for two sets of rows, at the keys both have."""
    xa, a = _mean_by(a_rows, key, value)
    xb, b = _mean_by(b_rows, key, value)
    common = np.intersect1d(xa, xb)
    return common, a[np.isin(xa, common)], b[np.isin(xb, common)]


def _savefig(fig, out: Path, stem: str) -> list[Path]:
    paths = []
    for suffix in (".png", ".pdf"):
        path = out / f"{stem}{suffix}"
        fig.savefig(path, dpi=130)
        paths.append(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METHOD_STYLE = {
    "hard_interpolator": ("C3", "o", "hard interpolator (1-NN)"),
    "soft_interpolator": ("C1", "s", "regular interpolator"),
    "erm_net": ("C5", "v", "ERM network"),
    "mixup_optimum": ("C0", "D", "Mixup optimum (global)"),
    "mixup_optimum_local": ("C2", "^", "Mixup optimum (local)"),
    "mixup_net": ("C9", "P", "Mixup network"),
}


def _plot_versus(rows, key, ax, *, log_x: bool):
    """Oracle-TS KL (filled, solid) and fitted-TS KL (hollow, dashed) per method versus ``key``."""
    ks = {r["n_classes"] for r in _select(rows, method="hard_interpolator")}
    for method, (color, marker, label) in METHOD_STYLE.items():
        oracle = _select(rows, method=method, recalibration="oracle")
        if not oracle:
            continue
        own = sorted({r["n_classes"] for r in oracle})
        if key != "n_classes" and ks and set(own) != ks:  # e.g. networks at a smaller k
            label += f" (k = {', '.join(map(str, own))}: its own bound is lower)"
        x, y = _mean_by(oracle, key)
        ax.plot(x, y, color=color, marker=marker, lw=1.5, ms=5, label=label)
        fitted = _select(rows, method=method, recalibration="fitted")
        if fitted:
            xf, yf = _mean_by(fitted, key)
            ax.plot(xf, yf, color=color, marker=marker, ls=":", lw=1, ms=5, mfc="none")
    if _select(rows, recalibration="fitted"):
        ax.plot([], [], color="0.3", marker="o", ls=":", lw=1, ms=5, mfc="none",
                label="hollow, dotted: the same after fitted TS (held-out NLL)")
    ref = _select(rows, method="hard_interpolator", recalibration="oracle")
    if ref:
        x, bound = _mean_by(ref, key, "corollary2_bound")
        _, uniform = _mean_by(ref, key, "uniform_risk")
        ax.plot(x, bound, color="k", lw=2, ls="--", label="Corollary 2 bound (hard interpolators)")
        ax.plot(x, uniform, color="0.5", lw=1.5, ls="-.", label="uniform predictor")
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set_ylabel("KL risk after temperature scaling (nats)")
    ax.grid(alpha=0.3)


# -- figures ---------------------------------------------------------------------------------

def _f1(rows, out: Path) -> tuple[list[Path], list[Verdict]]:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    _plot_versus(rows, "n_classes", ax, log_x=True)
    ax.set_xlabel("number of classes k")
    ax.set_title(f"F1: overlapping pairs, alpha = {F1_OVERLAP}: solid = oracle TS, "
                 "dotted/hollow = fitted TS", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    files = _savefig(fig, out, "F1_kl_vs_k")
    return files, _verdicts_versus_k(rows, "F1", F1_OVERLAP / 2)


def _verdicts_versus_k(rows, fig: str, slope_theory: float | None) -> list[Verdict]:
    verdicts = []
    hard = _select(rows, method="hard_interpolator", recalibration="oracle")
    if hard:
        slack = [r["kl"] - r["corollary2_bound"] + 4 * (r["kl_stderr"] or 0) for r in hard]
        verdicts.append(Verdict(fig, "hard interpolator: KL after oracle TS >= Corollary 2 bound "
                                "at every k", min(slack) >= -1e-9,
                                f"smallest slack {min(slack):.3g} nats"))
        k, kl = _mean_by(hard, "n_classes")
        big = k >= 4
        slope = float(np.polyfit(np.log(k[big]), kl[big], 1)[0]) if big.sum() >= 2 else float("nan")
        if slope_theory is not None:
            ok = 0.7 * slope_theory <= slope <= 1.3 * slope_theory
            verdicts.append(Verdict(fig, "hard interpolator: KL after oracle TS grows like "
                                    "(alpha/2) log k", ok,
                                    f"slope in log k = {slope:.3f}, theory {slope_theory:.3f}"))
        else:
            verdicts += _growth_verdict(fig, "hard interpolator: KL after oracle TS grows "
                                        "with k", [r for r in hard if r["n_classes"] >= 4])
    local = _select(rows, method="mixup_optimum_local", recalibration="oracle")
    if local:
        # Monte Carlo on each k's own distribution: "the same" means within the noise, i.e.
        # every value within 4 combined standard errors of the precision-weighted mean.
        kl = np.array([r["kl"] for r in local])
        se = np.array([max(r["kl_stderr"], 1e-12) for r in local])
        w = 1 / se**2
        centre = float(np.sum(w * kl) / np.sum(w))
        z = float(np.max(np.abs(kl - centre) / se))
        verdicts.append(Verdict(fig, "local-mixing Mixup optimum: KL after oracle TS is the same "
                                "for every k (Proposition 5)", z < 4.0,
                                f"{centre:.4f} nats; largest deviation {z:.1f} standard errors, "
                                f"spread {kl.max() - kl.min():.1e} over k"))
    for mixup in ("mixup_optimum_local", "mixup_optimum"):
        mix = _select(rows, method=mixup, recalibration="oracle")
        if hard and mix:
            km, klm = _mean_by(mix, "n_classes")
            kh, klh = _mean_by(hard, "n_classes")
            common = np.intersect1d(km, kh)
            common = common[common >= 4]
            if common.size:
                worse = [float(klh[kh == c][0] - klm[km == c][0]) for c in common]
                at = int(common[int(np.argmin(worse))])
                verdicts.append(Verdict(fig, f"{METHOD_STYLE[mixup][2]} beats the hard "
                                        "interpolator after oracle TS for k >= 4",
                                        min(worse) > 0,
                                        f"smallest advantage {min(worse):.3f} nats, at k = "
                                        f"{at}, over k in {_grid_values(common)}"))
    erm = _select(rows, method="erm_net", recalibration="oracle")
    mixnet = _select(rows, method="mixup_net", recalibration="oracle")
    if erm:
        accs = [r.get("train_accuracy", float("nan")) for r in _select(rows, method="erm_net",
                                                                       recalibration="none")]
        verdicts += _growth_verdict(fig, "interpolating ERM networks: KL after oracle TS grows "
                                    "with k", erm, f"; train accuracy {min(accs):.3f} to "
                                    f"{max(accs):.3f}")
    optimum = _select(rows, method="mixup_optimum", recalibration="oracle")
    if mixnet and optimum and _dimensions(mixnet) == _dimensions(optimum):
        kn, kln = _mean_by(mixnet, "n_classes")
        ko, klo = _mean_by(optimum, "n_classes")
        common = np.intersect1d(kn, ko)
        gaps = [float(kln[kn == c][0] - klo[ko == c][0]) for c in common]
        verdicts.append(Verdict(fig, "trained Mixup networks approach the Mixup optimum: KL "
                                "after oracle TS within 0.1 nats of g_mix's", max(map(abs, gaps))
                                <= 0.1, f"network minus optimum {_values(gaps)} at k "
                                f"{_grid_values(common)}"))
    if erm and mixnet:
        verdicts.append(_network_comparison(fig, erm, mixnet, "n_classes"))
    fitted = _select(rows, method="hard_interpolator", recalibration="fitted")
    if hard and fitted:
        _, a = _mean_by(hard, "n_classes")
        _, b = _mean_by(fitted, "n_classes")
        gap = float(np.max(b - a))
        verdicts.append(Verdict(fig, "fitted TS (held-out NLL) lands within 0.05 nats of oracle "
                                "TS for the hard interpolator", 0 <= gap + 1e-9 and gap < 0.05,
                                f"largest excess {gap:.4f} nats"))
    return verdicts


def _values(v) -> str:
    return ", ".join(f"{x:.3f}" for x in v)


#: Parameters that decide what a network is trained on (beyond the distribution itself).
_TRAINING_DATA = ("n_features", "n_per_class", "n_train", "label_noise")


def _same_data(a, b) -> bool:
    """Whether two sets of rows were fitted on samples of the same law and size."""
    return all({r.get(k) for r in a} == {r.get(k) for r in b} for k in _TRAINING_DATA)


def _dimensions(rows) -> set:
    """The input dimensions of the rows' distributions (the families' defaults resolved)."""
    def dim(r):
        if r.get("n_features"):
            return r["n_features"]
        family = r.get("family", "overlapping_uniform")
        return {"overlapping_uniform": 1, "gaussian_shifted": 300}.get(family, r["n_classes"])
    return {dim(r) for r in rows}


def _network_comparison(fig: str, erm, mixnet, key: str) -> Verdict:
    """ERM versus Mixup networks after oracle TS at the common grid values: a verdict when
    both were trained on the same data, a finding (with what differs) when not."""
    xe, kle = _mean_by(erm, key)
    xm, klm = _mean_by(mixnet, key)
    common = np.intersect1d(xe, xm)
    if key != "n_classes":
        common = common[common >= 0.25]
    gaps = [float(kle[xe == c][0] - klm[xm == c][0]) for c in common]
    detail = f"ERM minus Mixup {_values(gaps)} at {key} {_grid_values(common)}"
    claim = "trained networks: ERM is worse than Mixup after oracle TS"
    if _same_data(erm, mixnet):
        return Verdict(fig, claim + " (same training data)", min(gaps) > 0, detail)
    differ = "; ".join(f"{k}: ERM {sorted({r.get(k) for r in erm}, key=str)}, Mixup "
                       f"{sorted({r.get(k) for r in mixnet}, key=str)}" for k in _TRAINING_DATA
                       if {r.get(k) for r in erm} != {r.get(k) for r in mixnet})
    return Verdict(fig, claim + " (different training data, so not a test of the theory)", None,
                   f"{detail}; {differ}. ERM networks interpolate 1-D overlapping data only "
                   "with extra input axes; those axes are not neutral for Mixup, whose mixed "
                   "points reveal lam through them (lam X1 + (1 - lam) X2 has a lam-dependent "
                   "law there), so its optimum is not the 1-D one")


def _f2(rows, out: Path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    _plot_versus(rows, "overlap", ax, log_x=False)
    ax.set_xlabel("overlap alpha")
    net_k = sorted({r["n_classes"] for r in rows if str(r["method"]).endswith("_net")}
                   - {F2_CLASSES})
    nets = f" (networks: k = {', '.join(map(str, net_k))})" if net_k else ""
    ax.set_title(f"F2: overlapping pairs, k = {F2_CLASSES}{nets}: solid = oracle TS, "
                 "dotted/hollow = fitted TS", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    files = _savefig(fig, out, "F2_kl_vs_overlap")
    verdicts = []
    hard = _select(rows, method="hard_interpolator", recalibration="oracle",
                   n_classes=F2_CLASSES)
    if hard:
        a, kl = _mean_by(hard, "overlap")
        verdicts.append(Verdict("F2", "hard interpolator: KL after oracle TS increases with the "
                                "overlap", bool(np.all(np.diff(kl) > 0)),
                                "KL " + ", ".join(f"{v:.3f}" for v in kl)
                                + f" at alpha {_grid_values(a)}"))
        slack = [r["kl"] - r["corollary2_bound"] for r in hard]
        tight = hard[int(np.argmin(slack))]
        why = (" (the bound is attained where the interpolator's accuracy equals the Bayes "
               f"accuracy: {tight['accuracy']:.4f} vs {tight['bayes_accuracy']:.4f})"
               if min(slack) < 1e-6 else "")
        verdicts.append(Verdict("F2", "hard interpolator: KL after oracle TS >= Corollary 2 "
                                "bound at every overlap", min(slack) >= -1e-9,
                                f"smallest slack {min(slack):.3g} nats, at alpha "
                                f"{tight['overlap']:g}" + why))
    local = _select(rows, method="mixup_optimum_local", recalibration="oracle")
    a, klh, klm = _paired(hard, local, "overlap") if hard and local else (np.array([]),) * 3
    mask = a >= 0.25
    if mask.any():
        gap = float(np.min(klh[mask] - klm[mask]))
        verdicts.append(Verdict("F2", "local Mixup optimum beats the hard interpolator after "
                                "oracle TS at overlap >= 0.25", gap > 0,
                                f"smallest advantage {gap:.3f} nats"))
    erm = _select(rows, method="erm_net", recalibration="oracle")
    mixnet = _select(rows, method="mixup_net", recalibration="oracle")
    if erm and mixnet:
        verdict = _network_comparison("F2", erm, mixnet, "overlap")
        verdicts.append(Verdict("F2", verdict.claim + f" (k = {erm[0]['n_classes']})",
                                verdict.passed, verdict.detail))
    return files, verdicts


F3_COLUMNS = [("bayes", None, "none", "Bayes (exact posterior)"),
              ("erm_net", None, "none", "ERM"),
              ("erm_net", None, "fitted", "ERM + TS"),
              ("mixup_net", None, "none", "Mixup"),
              ("dmixup_net", 3, "none", "2-Mixup (3 points)"),
              ("dmixup_net", 5, "none", "4-Mixup (5 points)"),
              ("mixup_net", None, "fitted", "Mixup + TS")]


def _paper_table(rows, recal_ts: str) -> str:
    shifts = sorted({r["shift"] for r in rows}, reverse=True)
    head = "| model | " + " | ".join(f"mu = {s}: NLL / ECE / ACE" for s in shifts) + " |"
    lines = [head, "|---|" + "---:|" * len(shifts)]
    for method, n_mix, recal, label in F3_COLUMNS:
        recal = recal_ts if recal == "fitted" else recal
        cells = []
        for s in shifts:
            cond = {"method": method, "recalibration": recal, "shift": s}
            if n_mix is not None:
                cond["n_mix"] = n_mix
            sel = _select(rows, **cond)
            if not sel:
                cells.append("—")
                continue
            failed = [r for r in sel if "error" in r]
            if failed:
                cells.append(f"failed: T = {failed[0]['error'].split('of ')[-1].split(';')[0]}")
                continue
            nll = np.mean([r["test_nll"] for r in sel])
            ece = np.mean([r["test_ece"] for r in sel])
            ace = np.mean([r["test_ace"] for r in sel])
            cells.append(f"{nll:.3f} / {ece:.3f} / {ace:.3f}")
        name = label.replace("TS", "TS (paper LBFGS)") if recal == "paper_lbfgs" else label
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    bayes = _select(rows, method="bayes", recalibration="none")
    if bayes:
        ent = {r["shift"]: r["conditional_entropy"] for r in bayes}
        lines.append("| exact H(Y\\|X) (Bayes NLL) | " + " | ".join(
            f"{ent[s]:.4f}" for s in shifts) + " |")
    return "\n".join(lines)


def _f3(rows, out: Path):
    plt = _pyplot()
    tables = {"fitted": _paper_table(rows, "fitted"), "paper_lbfgs": _paper_table(rows,
                                                                                "paper_lbfgs")}
    (out / "F3_paper_table.md").write_text(
        "## F3: the paper's synthetic table (d = 300), converged temperature scaling\n\n"
        + tables["fitted"] + "\n\n## F3b: the same with the paper's LBFGS temperature fitting\n\n"
        + tables["paper_lbfgs"] + "\n")
    shifts = sorted({r["shift"] for r in rows})
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for method, n_mix, recal, label in F3_COLUMNS:
        cond = {"method": method, "recalibration": recal}
        if n_mix is not None:
            cond["n_mix"] = n_mix
        sel = _select(rows, **cond)
        if sel:
            x, y = _mean_by(sel, "shift", "test_nll")
            ax.plot(x, y, marker="o", label=label)
    lbfgs = _select(rows, method="erm_net", recalibration="paper_lbfgs")
    if lbfgs:
        x, y = _mean_by(lbfgs, "shift", "test_nll")
        ax.plot(x, y, marker="x", ls="--", color="k", label="ERM + TS (paper LBFGS)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean shift mu (smaller = more overlap)")
    ax.set_ylabel("test NLL (nats)")
    ax.set_title("F3: two Gaussians in d = 300 (the paper's synthetic preset)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    files = _savefig(fig, out, "F3_paper_table") + [out / "F3_paper_table.md"]
    verdicts = []
    entropy = {r["shift"]: r["conditional_entropy"] for r in _select(rows, method="bayes")}

    def excess(sel):
        """Test NLL minus the exact H(Y|X), per mu in decreasing order (more overlap last)."""
        mu, nll = _mean_by(sel, "shift", "test_nll")
        return mu[::-1], nll[::-1] - np.array([entropy.get(m, np.nan) for m in mu[::-1]])


    failed = [r for r in lbfgs if "error" in r]
    lbfgs = [r for r in lbfgs if "error" not in r]
    if failed:
        verdicts.append(Verdict("F3", f"{len(failed)} paper-LBFGS fit(s) failed (left out of "
                                "the comparisons below)", None,
                                "; ".join(f"{r['method']} at mu {r['shift']}: {r['error']}"
                                          for r in failed)))
    ermts = _select(rows, method="erm_net", recalibration="fitted")
    if lbfgs and entropy:
        mu, ex = excess(lbfgs)
        verdicts.append(Verdict("F3", "the published trend: ERM + TS fitted with the paper's "
                                "LBFGS has an excess NLL over H(Y|X) that grows as the overlap "
                                "grows (mu falls)", bool(np.all(np.diff(ex) > 0)),
                                f"excess {_values(ex)} at mu {_grid_values(mu)}"))
    if ermts and entropy:
        mu, ex = excess(ermts)
        verdicts.append(Verdict("F3", "with a converged temperature, ERM + TS has an excess NLL "
                                "over H(Y|X) of at most " + f"{np.nanmax(ex):.3f}", None,
                                f"excess {_values(ex)} at mu {_grid_values(mu)}; with two "
                                "classes Corollary 2's log(k - 1) term vanishes, so the theory "
                                "predicts little harm from TS here"))
    d4 = _select(rows, method="dmixup_net", n_mix=5, recalibration="none")
    if d4 and entropy:
        mu, ex = excess(d4)
        verdicts.append(Verdict("F3", "4-Mixup: excess NLL over H(Y|X) without TS", None,
                                f"excess {_values(ex)} at mu {_grid_values(mu)}"))

    def heavy(ts_rows, mixup_rows):
        """Test NLLs at mu <= 0.05, in decreasing mu (the tables' order)."""
        mu, a, b = _paired(ts_rows, mixup_rows, "shift", "test_nll")
        keep = np.flatnonzero(mu <= 0.05)[::-1]
        return mu[keep], a[keep], b[keep]

    if lbfgs and d4:
        mu, a, b = heavy(lbfgs, d4)
        verdicts.append(Verdict("F3", "the published comparison: 4-Mixup beats ERM + TS fitted "
                                "with the paper's LBFGS at heavy overlap (mu <= 0.05)",
                                bool(np.all(b < a)), f"test NLL at mu {_grid_values(mu)}: 4-Mixup "
                                f"{_values(b)} vs ERM + TS (LBFGS) {_values(a)}"))
    if ermts and d4:
        mu, a, b = heavy(ermts, d4)
        wins = bool(np.all(b < a))
        verdicts.append(Verdict("F3", "with a converged temperature, " + (
            "4-Mixup still beats ERM + TS" if wins else "ERM + TS matches or beats 4-Mixup")
            + " at mu <= 0.05", None, f"test NLL at mu {_grid_values(mu)}: 4-Mixup {_values(b)} vs "
            f"ERM + TS (converged) {_values(a)}"))
    if lbfgs:
        t = [r["temperature"] for r in lbfgs]
        tc = [r["converged_temperature"] for r in lbfgs]
        verdicts.append(Verdict("F3", "the paper's one-step LBFGS barely moves T while the "
                                "converged fit moves it far", max(abs(np.log(t))) < abs(
                                    np.log(tc)).min(),
                                f"LBFGS T in [{min(t):.2f}, {max(t):.2f}], converged T in "
                                f"[{min(tc):.2f}, {max(tc):.2f}]"))
    bayes = _select(rows, method="bayes", recalibration="none")
    if bayes:
        gap = max(abs(r["test_nll"] - r["conditional_entropy"]) for r in bayes)
        verdicts.append(Verdict("F3", "the Bayes predictor's test NLL matches the exact H(Y|X)",
                                gap < 0.03, f"largest |NLL - H| {gap:.4f} on 10^4 test points"))
    return files, verdicts


def _f4(rows, out: Path, cells: dict):
    """ECE (against the true posterior) versus KL after oracle TS, plus reliability diagrams
    of two of F1's cells (``cells`` maps F1's cell ids to their cells)."""
    from overlapcal import metrics, plotting
    from overlapcal._numerics import softmax

    from .tasks import build_predictor, cell_data

    plt = _pyplot()
    fig = plt.figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    for method, (color, marker, label) in METHOD_STYLE.items():
        sel = _select(rows, method=method, recalibration="oracle")
        if sel:
            ax.scatter([r["kl"] for r in sel], [r["test_ece_posterior"] for r in sel],
                       color=color, marker=marker, s=22, label=label)
    ax.set_xlabel("KL risk after oracle TS (nats)")
    ax.set_ylabel("top-label ECE against the true posterior\n(after oracle TS)")
    ax.set_title("F4: ECE says calibrated, KL says not", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    # Reliability diagrams of two stored F1 cells (k = 16, alpha = 0.5, replicate 0), redrawn
    # from their seeds: the same predictor, oracle temperature and test set as their rows, so
    # the ECE and KL in the titles are the numbers in results.csv.
    both = [{r["n_classes"] for r in _select(rows, method=m, recalibration="oracle")}
            for m in ("hard_interpolator", "mixup_optimum_local")]
    common = both[0] & both[1]
    if not common:
        raise ValueError("reproduce: F4 needs F1 rows of the hard interpolator and the local "
                         "Mixup optimum at a common k")
    k = F2_CLASSES if F2_CLASSES in common else max(common)  # 16 unless the grid lacks it
    notes = []
    for ax, (name, method) in zip(axes[1:], [("hard interpolator", "hard_interpolator"),
                                             ("local Mixup optimum", "mixup_optimum_local")]):
        (row,) = _select(rows, method=method, recalibration="oracle", n_classes=k,
                         replicate=0)
        cell = cells[row["cell_id"]]
        data = cell_data(cell)
        model, _ = build_predictor(data.params, data.dist, data.X, data.y, cell.method_rng())
        probs = softmax(model.logits(data.X_test) / row["temperature"])
        curve = metrics.reliability_curve(probs, posterior=data.eta_test,
                                          n_bins=data.params["n_bins"])
        plotting.reliability_diagram(curve, ax=ax)
        ax.set_title(f"{name} after oracle TS (k = {k})\nECE {curve.ece:.3f}, "
                     f"KL {row['kl']:.3f} nats", fontsize=9)
        notes.append((name, curve.ece, row["kl"]))
    files = _savefig(fig, out, "F4_ece_vs_kl")
    verdicts = []
    hard_rows = _select(rows, method="hard_interpolator", recalibration="oracle")
    big = [r for r in hard_rows if r["n_classes"] >= 16]
    if big:
        ece = max(r["test_ece_posterior"] for r in big)
        kl = min(r["kl"] for r in big)
        verdicts.append(Verdict("F4", "hard interpolator after oracle TS: ECE near 0 while the "
                                "KL risk is large (the blind spot of Proposition 1)",
                                ece < 0.02 and kl > 0.5,
                                f"ECE <= {ece:.4f} while KL >= {kl:.3f} nats for k >= 16"))
    (name_h, ece_h, kl_h), (name_m, ece_m, kl_m) = notes
    verdicts.append(Verdict("F4", f"at k = {k} the hard interpolator has the smaller ECE but "
                            "the larger KL than the local Mixup optimum",
                            ece_h < ece_m and kl_h > kl_m,
                            f"{name_h}: ECE {ece_h:.4f}, KL {kl_h:.3f}; "
                            f"{name_m}: ECE {ece_m:.4f}, KL {kl_m:.3f}"))
    return files, verdicts


def _f5(rows, out: Path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    _plot_versus(rows, "n_classes", ax, log_x=True)
    ax.set_xlabel("number of classes k")
    ax.set_title(f"F5: Gaussian pairs (within-pair Bayes error {F5_BAYES_ERROR})", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    files = _savefig(fig, out, "F5_gaussian_kl_vs_k")
    return files, _verdicts_versus_k(rows, "F5", None)


FIGURES = {
    "F1": ("KL after oracle TS versus the number of classes (overlapping pairs)",
           "Hard interpolators stay miscalibrated after the best temperature, by at least "
           "Corollary 2's bound, which grows like (alpha/2) log k; regular interpolators and "
           "interpolating ERM networks stay far above the Mixup optimum and also grow with k "
           "(the paper's order-log k result for regular interpolators; Corollary 2's constant "
           "is for hard ones only); the local Mixup optimum's risk does not depend on k "
           "(Proposition 5), and trained Mixup networks approach the Mixup optimum.", _f1),
    "F2": ("KL after oracle TS versus the overlap",
           "The hard interpolator's risk after TS grows with the overlap alpha and stays above "
           "Corollary 2's bound; the local Mixup optimum stays calibrated at every overlap.", _f2),
    "F3": ("The paper's synthetic table (two Gaussians, d = 300)",
           "The published result: ERM + TS, fitted with the paper's one-step LBFGS, degrades as "
           "the classes overlap more, while 4-Mixup does better at heavy overlap; the one-step "
           "LBFGS leaves T near 1. With two classes Corollary 2's log(k - 1) term is 0, so the "
           "theory itself predicts little harm from a converged TS here: the rows with a "
           "converged temperature are reported as findings.", _f3),
    "F4": ("ECE versus KL after TS",
           "After oracle TS a hard interpolator has ECE 0 but a large KL risk: ECE cannot see "
           "the failure (Proposition 1).", _f4),
    "F5": ("The Gaussian analogue of F1",
           "Interpolators' risk after oracle TS grows with k on Gaussian pairs too, above "
           "Corollary 2's bound for hard interpolators; trained ERM networks stay worse than "
           "trained Mixup networks on the same data.", _f5),
}


def reproduce(out, *, quick: bool = True, scheduler=None, workers=None, progress=True,
              figures=None) -> list[FigureResult]:
    """Run every figure's sweeps, draw the figures, and write ``report.md`` and ``results.csv``.

    This is ``overlapcal reproduce``. The sweeps are those of ``figure_configs(quick)``, run
    (or resumed) with :func:`~overlapcal.experiments.sweep.run_sweep` into
    ``out/sweeps-quick/`` or ``out/sweeps-full/``; each figure is then drawn from the stored
    numbers and its verdicts computed from them.

    Parameters
    ----------
    out : str or path-like
        The output folder (created if needed): the figures (``F1_kl_vs_k.png`` ...),
        ``results.csv`` (every row, with a ``figure`` column), ``report.md`` and the stores.
    quick : bool, default True
        The small configuration (a few minutes on 2 CPU cores); False runs the full one
        (``FULL_RUNTIME``).
    scheduler : str, optional
        A Dask scheduler address; None runs on local processes.
    workers : int, optional
        Local worker processes (default: every CPU); 1 runs in-process.
    progress : bool, default True
        Show a progress bar per sweep.
    figures : list of str, optional
        A subset of ``["F1", "F2", "F3", "F4", "F5"]`` to run and draw, in that order; None
        draws all five. The report and ``results.csv`` cover only these.

    Returns
    -------
    list of FigureResult
        One per figure drawn, with its rows, files and verdicts.

    Raises
    ------
    ImportError
        Before any sweep, when a requested figure trains networks and PyTorch is missing, or
        when ``scheduler`` is given without the ``dask`` extra.
    SchedulerError
        When ``scheduler`` is malformed or cannot be reached.
    PermissionError or OSError
        When ``out`` cannot be created or written (checked before any sweep).
    KeyError
        For a name in ``figures`` that is not a figure.

    Examples
    --------
    The sweeps it would run, without running them:

    >>> from overlapcal.experiments.reproduce import figure_configs
    >>> {key: sum(c.n_cells for c in configs)
    ...  for key, configs in figure_configs(quick=True).items()}
    {'F1': 40, 'F2': 22, 'F3': 20, 'F5': 21}

    Running two figures (minutes, and F1 trains networks, so it needs PyTorch):

    >>> import tempfile
    >>> from overlapcal.experiments.reproduce import reproduce
    >>> results = reproduce(tempfile.mkdtemp(), quick=True,
    ...                     figures=["F1", "F2"])  # doctest: +SKIP
    >>> [r.key for r in results]  # doctest: +SKIP
    ['F1', 'F2']
    """
    out = check_writable(out, "reproduce")
    configs = figure_configs(quick)
    _check_torch(configs, figures or FIGURES)
    store_dir = check_writable(out / ("sweeps-quick" if quick else "sweeps-full"), "reproduce")
    results = []
    all_rows = []
    rows_by_key: dict[str, list] = {}
    for key in figures or FIGURES:
        start = time.perf_counter()
        title, prediction, draw = FIGURES[key]
        source = "F1" if key == "F4" else key
        if source not in rows_by_key:
            rows = []
            for config in configs[source]:
                rows += run_sweep(config, store_dir, scheduler=scheduler, workers=workers,
                                  progress=progress).rows
            rows_by_key[source] = rows
        rows = rows_by_key[source]
        if key == "F4":  # redraws two of F1's cells from their seeds
            cells = {c.cell_id: c for config in configs["F1"] for c in expand(config)}
            files, verdicts = draw(rows, out, cells)
        else:
            files, verdicts = draw(rows, out)
        result = FigureResult(key, title, prediction, rows, files, verdicts,
                              time.perf_counter() - start)
        results.append(result)
        if key != "F4":
            all_rows += [{"figure": key, **r} for r in rows]
    write_rows_csv(all_rows, out / "results.csv")
    (out / "report.md").write_text(_report(results, quick))
    return results


def _check_torch(configs, keys) -> None:
    """Fail before any sweep when a figure trains networks and PyTorch is missing."""
    import importlib.util

    nets = [c.name for key in keys for c in configs.get("F1" if key == "F4" else key, [])
            if any(str(m).endswith("_net") for m in c.grid.get("method", ())
                   + (c.fixed.get("method", ""),))]
    if nets and importlib.util.find_spec("torch") is None:
        raise ImportError(f"reproduce: the sweeps {nets[:3]} train networks and need PyTorch: "
                          "pip install 'overlapcal[torch]' (or torch==2.13.0 for the CPU build)")


def _report(results: list[FigureResult], quick: bool) -> str:
    n_ok = sum(v.passed is True for r in results for v in r.verdicts)
    n_all = sum(v.passed is not None for r in results for v in r.verdicts)
    lines = [
        "# overlapcal reproduce: report",
        "",
        f"Configuration: {'quick' if quick else 'full'}. Verdicts are computed from the numbers "
        f"in `results.csv` (F4 is drawn from F1's rows; its reliability diagrams redraw two "
        f"of F1's cells from their seeds): **{n_ok} of {n_all} agree with the theory.** "
        "Findings are measurements the theory makes no prediction about (or comparisons on "
        "different data); they are not counted.",
        "",
    ]
    for r in results:
        lines += [f"## {r.key}: {r.title}", "", f"**Theory predicts.** {r.prediction}", ""]
        pngs = [f for f in r.files if f.suffix == ".png"]
        lines += [f"![{r.key}]({p.name})" for p in pngs] + [""]
        if r.key == "F3":
            lines += [Path(r.files[-1]).read_text(), ""]
        lines += [v.line() for v in r.verdicts] + ["", f"_{r.seconds:.0f} s_", ""]
    return "\n".join(lines)
