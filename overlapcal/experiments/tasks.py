"""What one sweep cell computes.

The ``calibration`` task is the data flow of DESIGN.md in one function::

    distribution --sample--> (X, y) --fit--> predictor --recalibrate--> predictor --evaluate--> rows

A cell fixes a distribution (``family`` and its parameters), a fitting ``method`` and sample
sizes; it returns one row per recalibration (``none``, ``oracle``, ``fitted``, ``paper_lbfgs``)
with the population KL risk (and its top-label / runner-up parts), the population accuracy, and
sample metrics on a test set (NLL, ECE, ACE with labels; ECE against the true posterior).
Ground truth (``H(Y|X)``, Bayes accuracy, Corollary 2's bound, the uniform predictor's risk) is
stored in every row so plots and verdicts need nothing else.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .config import Cell, ConfigError, SweepConfig

__all__ = ["Task", "TASKS", "FAMILIES", "METHODS", "RECALIBRATIONS", "CellData",
           "build_distribution", "build_predictor", "cell_data"]

FAMILIES = ("overlapping_uniform", "gaussian_pairs", "gaussian_orthogonal", "gaussian_shifted")
METHODS = ("bayes", "hard_interpolator", "soft_interpolator", "erm_net", "mixup_net",
           "dmixup_net", "mixup_optimum", "mixup_optimum_local")
RECALIBRATIONS = ("none", "oracle", "fitted", "paper_lbfgs")

#: Every parameter the calibration task understands: ``name: (default, meaning)``.
PARAMETERS = {
    "family": ("overlapping_uniform", "the distribution family: one of " + ", ".join(FAMILIES)),
    "n_classes": (2, "number of classes k"),
    "overlap": (0.5, "overlapping_uniform: the overlap alpha of neighbouring classes"),
    "group_size": (2, "overlapping_uniform: classes per group m (2: the paper's pairs)"),
    "spacing": (None, "overlapping_uniform: distance s between groups (default: k)"),
    "bayes_error": (0.1, "gaussian_pairs: the within-pair Bayes error (sets the separation)"),
    "separation": (2.0, "gaussian_orthogonal: the norm of each mean"),
    "shift": (0.1, "gaussian_shifted: mu of the paper's d = 300 preset"),
    "n_features": (None, "input dimension d (default: the family's; extra uniform or Gaussian "
                         "axes carry no class information)"),
    "label_noise": (0.0, "label-noise rate rho (0: none)"),
    "noise_kind": ("pair", "label noise: 'pair' (a fixed partner per class) or 'symmetric'"),
    "method": ("hard_interpolator", "the predictor: one of " + ", ".join(METHODS)),
    "n_per_class": (20, "training points per class (n_train = n_per_class k)"),
    "n_train": (None, "training points (overrides n_per_class)"),
    "n_val": (2000, "labelled held-out points for fitted temperature scaling"),
    "n_test": (5000, "test points for the sample metrics"),
    "kl_samples": (20000, "Monte Carlo points for population functionals (when not exact)"),
    "recalibrations": (["none", "oracle", "fitted"],
                       "rows per cell, a list from " + ", ".join(RECALIBRATIONS)),
    "n_bins": (15, "bins of the sample ECE and ACE"),
    "margin": (15.0, "interpolators: the logit margin B"),
    "radius": (0.5, "soft interpolator: regularity radius gamma, in units of the mean "
                    "nearest-neighbour spacing of the training set"),
    "mix_alpha": (1.0, "Mixup: lam ~ Beta(alpha, alpha)"),
    "max_distance": (None, "local Mixup optimum: the mixing radius delta (default: the largest "
                           "that keeps mixtures inside their group)"),
    "n_mix": (3, "d-Mixup: points mixed"),
    "width": (256, "networks: hidden units per layer"),
    "depth": (2, "networks: hidden layers"),
    "epochs": (100, "networks: training epochs"),
    "batch_size": (128, "networks: minibatch size"),
    "lr": (1e-3, "networks: Adam learning rate"),
    "lr_schedule": ("constant", "networks: 'constant' or 'cosine' (decay to 0 over epochs)"),
    "until_interpolation": (False, "networks: after epochs, train on (up to 10 x epochs) until "
                                   "the training accuracy is 1; not with lr_schedule = "
                                   "'cosine'"),
}
DEFAULTS = {name: default for name, (default, _) in PARAMETERS.items()}


def parameter_table() -> str:
    """The calibration task's parameters as a Markdown table (name, default, allowed values,
    meaning), for the documentation.

    Examples
    --------
    >>> from overlapcal.experiments.tasks import parameter_table
    >>> print(parameter_table().splitlines()[2])  # doctest: +ELLIPSIS
    | `family` | `"overlapping_uniform"` | a name | the distribution family: ...
    """
    lines = ["| parameter | default | must be | meaning |", "|---|---|---|---|"]
    for name, (default, meaning) in PARAMETERS.items():
        rule = PARAMETER_RULES.get(name, ("a name",))[0] if name != "recalibrations" else "a list"
        shown = "none (see meaning)" if default is None else f"`{json.dumps(default)}`"
        lines.append(f"| `{name}` | {shown} | {rule} | {meaning} |")
    return "\n".join(lines)


DATA_KEYS = ("family", "n_classes", "overlap", "group_size", "spacing", "bayes_error",
             "separation", "shift", "n_features", "label_noise", "noise_kind", "n_per_class",
             "n_train", "n_val", "n_test")


@dataclass(frozen=True)
class Task:
    """A named computation on a cell: ``run(cell) -> rows`` and config validation.

    The tasks a config can name are the keys of ``TASKS`` (``"calibration"``:
    :func:`run_calibration`).

    Attributes
    ----------
    name : str
        The name a config's ``task`` field gives.
    run : callable
        ``run(cell) -> list of dict``: computes one cell, one dict per result row.
    validate : callable
        ``validate(config, source) -> None``: raises ``ConfigError`` (naming ``source`` and the
        field) for any parameter the task cannot run, before any cell runs.
    data_keys : tuple of str
        The default ``SweepConfig.data_keys``: the parameters that determine the data.
    defaults : dict, default {}
        The parameters a config may leave out, with their values; they are filled in before a
        cell's id and seeds are computed.
    version : int, default 1
        Bumped when a cell's numbers change meaning, so stores written before are not reused
        (the version is part of every cell id).

    Examples
    --------
    >>> from overlapcal.experiments.tasks import TASKS
    >>> task = TASKS["calibration"]
    >>> task.name, task.run.__name__, task.version
    ('calibration', 'run_calibration', 2)
    >>> task.defaults["n_classes"], task.defaults["method"]
    (2, 'hard_interpolator')
    >>> "family" in task.data_keys, "method" in task.data_keys
    (True, False)
    """

    name: str
    run: Callable[[Cell], list[dict]]
    validate: Callable[[SweepConfig, str], None]
    data_keys: tuple[str, ...]
    defaults: dict = field(default_factory=dict)  # parameters a config may leave out
    version: int = 1  # bump when a cell's numbers change meaning, so old stores are not reused


# -- building blocks ------------------------------------------------------------------------

def build_distribution(p: dict, rng=None):
    """The distribution a cell's parameters describe (``rng`` draws label-noise partners).

    Parameters
    ----------
    p : dict
        Every calibration parameter (``{**DEFAULTS, **cell.params}``); the family's own
        parameters (``overlap``, ``bayes_error`` ...) and ``n_features``, ``label_noise``,
        ``noise_kind`` are read.
    rng : int, numpy.random.Generator or None, default None
        Draws the partner classes of pair label noise (unused without label noise).

    Returns
    -------
    Distribution
        ``OverlappingUniform``, ``GaussianMixture.with_bayes_error("pairs", ...)``,
        ``GaussianMixture.orthogonal`` or ``GaussianMixture.shifted``, wrapped in
        ``LabelNoise`` when ``label_noise > 0``.

    Raises
    ------
    ValueError
        For an unknown ``family``, ``gaussian_shifted`` with ``n_classes != 2``, or parameters
        the family's constructor rejects.

    Examples
    --------
    >>> from overlapcal.experiments.tasks import DEFAULTS, build_distribution
    >>> dist = build_distribution({**DEFAULTS, "n_classes": 4, "overlap": 0.5})
    >>> dist
    OverlappingUniform(n_classes=4, overlap=0.5, group_size=2, spacing=4.0, n_features=1)
    >>> float(dist.bayes_accuracy())            # 1 - alpha/2
    0.75
    >>> noisy = build_distribution({**DEFAULTS, "n_classes": 4, "label_noise": 0.1}, rng=0)
    >>> type(noisy).__name__, noisy.n_classes
    ('LabelNoise', 4)
    """
    import overlapcal as oc

    family, k = p["family"], p["n_classes"]
    if family == "overlapping_uniform":
        dist = oc.OverlappingUniform(k, p["overlap"], group_size=p["group_size"],
                                     spacing=p["spacing"], n_features=p["n_features"] or 1)
    elif family == "gaussian_pairs":
        dist = oc.GaussianMixture.with_bayes_error("pairs", p["bayes_error"], n_classes=k,
                                                   **_features(p))
    elif family == "gaussian_orthogonal":
        dist = oc.GaussianMixture.orthogonal(k, separation=p["separation"], **_features(p))
    elif family == "gaussian_shifted":
        if k != 2:
            raise ValueError(f"family 'gaussian_shifted' has 2 classes; got n_classes={k}")
        dist = oc.GaussianMixture.shifted(p["n_features"] or 300, shift=p["shift"])
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    if p["label_noise"]:
        dist = oc.LabelNoise(dist, p["label_noise"], kind=p["noise_kind"], rng=rng)
    return dist


def _features(p):
    return {} if p["n_features"] is None else {"n_features": p["n_features"]}


def _local_max_distance(dist) -> float:
    """The largest local-mixing distance that keeps every mixture inside its group (Prop. 5)."""
    width = 1.0 + (dist.group_size - 1) * (1.0 - dist.overlap)
    gap = dist.spacing - width
    return 0.5 * gap if dist.n_classes > dist.group_size else width


def build_predictor(p: dict, dist, X, y, rng):
    """Fit the cell's method on ``(X, y)``; returns ``(predictor, info)``.

    Parameters
    ----------
    p : dict
        Every calibration parameter; ``method`` and that method's settings (``margin``,
        ``radius``, ``mix_alpha``, ``max_distance``, the network settings ...) are read.
    dist : Distribution
        The cell's distribution: the Bayes predictor and the Mixup optima are computed from
        it, not from the sample.
    X : ndarray of shape (n_samples, n_features)
        Training inputs.
    y : ndarray of shape (n_samples,)
        Training labels, ints in ``[0, dist.n_classes)``.
    rng : numpy.random.Generator
        Drives the networks' initialisation and minibatches (the closed forms ignore it).

    Returns
    -------
    predictor : Predictor
        The fitted predictor (``logits(X)`` of shape ``(n, k)``).
    info : dict
        What the row should record about the fit: ``radius_abs`` (the soft interpolator's
        radius, ``radius`` times the mean nearest-neighbour spacing of ``X``),
        ``max_distance`` (the local Mixup optimum's mixing radius), ``train_accuracy`` and
        ``epochs_run`` (networks); empty for the other methods.

    Raises
    ------
    ValueError
        For an unknown ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal.experiments.tasks import DEFAULTS, build_distribution, build_predictor
    >>> p = {**DEFAULTS, "n_classes": 4, "method": "hard_interpolator"}
    >>> dist = build_distribution(p)
    >>> X, y = dist.sample(80, rng=np.random.default_rng(0))
    >>> model, info = build_predictor(p, dist, X, y, np.random.default_rng(1))
    >>> type(model).__name__, info, model.logits(X).shape
    ('HardInterpolator', {}, (80, 4))
    >>> float(np.mean(model.logits(X).argmax(axis=1) == y))   # it interpolates
    1.0
    >>> _, info = build_predictor({**p, "method": "mixup_optimum_local"}, dist, X, y, None)
    >>> info                    # the largest radius that keeps mixtures inside a pair
    {'max_distance': 1.25}
    """
    import overlapcal as oc

    method, k = p["method"], dist.n_classes
    info: dict = {}
    if method == "bayes":
        return oc.BayesPredictor(dist), info
    if method == "hard_interpolator":
        return oc.HardInterpolator(margin=p["margin"]).fit(X, y, n_classes=k), info
    if method == "soft_interpolator":
        spacing = _mean_nn_spacing(X)
        info["radius_abs"] = p["radius"] * spacing
        model = oc.SoftInterpolator(margin=p["margin"], radius=p["radius"] * spacing)
        return model.fit(X, y, n_classes=k), info
    if method in ("erm_net", "mixup_net", "dmixup_net"):
        kind = method.split("_")[0]
        extra = {"alpha": p["mix_alpha"]} if kind != "erm" else {}
        if kind == "dmixup":
            extra["n_mix"] = p["n_mix"]
        with warnings.catch_warnings():  # not interpolating is recorded: train_accuracy
            warnings.simplefilter("ignore", oc.nets.InterpolationWarning)
            net = oc.nets.train(X, y, kind, n_classes=k, width=p["width"], depth=p["depth"],
                                epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"],
                                lr_schedule=p["lr_schedule"],
                                until_interpolation=p["until_interpolation"], rng=rng, **extra)
        info["train_accuracy"] = float(net.train_accuracy_)
        info["epochs_run"] = len(net.history)
        return net, info
    if method == "mixup_optimum":
        return oc.MixupOptimum(dist, alpha=p["mix_alpha"]), info
    if method == "mixup_optimum_local":
        delta = p["max_distance"] if p["max_distance"] is not None else _local_max_distance(dist)
        info["max_distance"] = float(delta)
        return oc.MixupOptimum(dist, alpha=p["mix_alpha"], max_distance=delta), info
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def _mean_nn_spacing(X) -> float:
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(X).query(X, k=2)
    return float(np.mean(dist[:, 1]))


def _ground_truth(dist, p, rng) -> dict:
    from overlapcal.bounds import corollary2_f

    k = dist.n_classes
    mc = {"n_samples": max(p["kl_samples"], 100_000), "rng": rng}
    entropy = dist.conditional_entropy(**mc)
    accuracy = dist.bayes_accuracy(**mc)
    a = float(accuracy)
    bound = corollary2_f(a, k) - float(entropy) if k > 1 else 0.0
    return {"conditional_entropy": float(entropy), "bayes_accuracy": a,
            "uniform_risk": math.log(k) - float(entropy), "corollary2_bound": bound,
            "ground_truth_method": entropy.method}


# -- the calibration task ---------------------------------------------------------------------

@dataclass(frozen=True)
class CellData:
    """What a calibration cell computes on: its distribution and samples, from its data seed.

    Attributes
    ----------
    params : dict
        The cell's parameters with the task's defaults filled in.
    dist : Distribution
    X, y : ndarray
        The training sample (``n_train``, or ``n_per_class * k`` points).
    X_val, y_val, X_test, y_test : ndarray
        The validation sample (fitted TS) and the test sample (sample metrics).
    eta_test : ndarray
        The true posterior at ``X_test``.
    eval_seed : int
        The seed of every population functional of the cell (common random numbers).
    """

    params: dict
    dist: object
    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    eta_test: np.ndarray
    eval_seed: int


def cell_data(cell: Cell) -> CellData:
    """Rebuild a calibration cell's distribution and samples from its data seed.

    The same draws, in the same order, as :func:`run_calibration`, so a figure can redraw a
    stored cell exactly (``build_predictor(data.params, data.dist, data.X, data.y,
    cell.method_rng())`` refits its predictor).

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict, expand
    >>> from overlapcal.experiments.tasks import cell_data
    >>> cell = expand(config_from_dict({"name": "demo", "task": "calibration", "seed": 0,
    ...                                 "grid": {"n_classes": [4]}}))[0]
    >>> a, b = cell_data(cell), cell_data(cell)
    >>> a.X.shape, a.eta_test.shape[1], bool((a.X_test == b.X_test).all())
    ((80, 1), 4, True)
    """
    p = {**DEFAULTS, **cell.params}
    data_rng = cell.data_rng()
    dist = build_distribution(p, rng=data_rng)
    n_train = p["n_train"] or p["n_per_class"] * dist.n_classes
    X, y = dist.sample(n_train, rng=data_rng)
    X_val, y_val = dist.sample(p["n_val"], rng=data_rng)
    X_test, y_test = dist.sample(p["n_test"], rng=data_rng)
    eval_seed = int(data_rng.integers(2**63))  # common random numbers for every evaluation
    return CellData(p, dist, X, y, X_val, y_val, X_test, y_test, dist.posterior(X_test),
                    eval_seed)


def run_calibration(cell: Cell) -> list[dict]:
    """Sample, fit, recalibrate and evaluate one cell; one row per recalibration.

    Parameters
    ----------
    cell : Cell
        A cell of a ``"calibration"`` config; its parameters are completed with the task's
        defaults (``TASKS["calibration"].defaults``).

    Returns
    -------
    list of dict
        One row per entry of ``recalibrations`` (``"none"``, ``"oracle"``, ``"fitted"``,
        ``"paper_lbfgs"``), each with ``recalibration``, ``temperature``, the population
        ``kl`` (``kl_stderr``, ``kl_method``, ``kl_top_label``, ``kl_runner_up``),
        ``accuracy`` (``accuracy_stderr``), the test-set ``test_nll``, ``test_ece``,
        ``test_ace``, ``test_ece_posterior``, ``test_accuracy``, ``fit_seconds``, the ground
        truth (``conditional_entropy``, ``bayes_accuracy``, ``uniform_risk``,
        ``corollary2_bound``, ``ground_truth_method``) and the method's ``info``. A
        ``paper_lbfgs`` fit that steps to ``T <= 0`` gives a row with ``temperature`` NaN and
        the reason in ``error``.

    Raises
    ------
    RuntimeError
        When a temperature fit other than ``paper_lbfgs`` fails.

    Notes
    -----
    The data (training, validation and test samples) come from ``cell.data_rng()``, the
    fitting method from ``cell.method_rng()``; every population functional of the cell uses
    one evaluation seed drawn from the data stream (common random numbers). With ``eta`` the
    true posterior and ``g_T = softmax(logits / T)`` (THEORY.md 2.1-2.2, 3, 4.3):

    * ``kl = R(g_T) = E_X[KL(eta(X) || g_T(X))]``, an exact finite sum when the distribution
      and the predictor are piecewise constant in 1-D (``kl_method = "exact"``), else Monte
      Carlo on ``kl_samples`` points; ``kl_top_label + kl_runner_up = kl``;
    * ``T`` is 1 (``none``), ``argmin_T R(g_T)`` (``oracle``), or the NLL minimiser on the
      ``n_val`` validation points (``fitted``; ``paper_lbfgs``: the paper's fixed-step LBFGS);
    * ``uniform_risk = log k - H(Y|X)`` and ``corollary2_bound = H_b(A*) + (1 - A*) log(k - 1)
      - H(Y|X)``, the lower bound on ``min_T R(g_T)`` of every hard interpolator.

    Examples
    --------
    >>> from overlapcal.experiments.config import config_from_dict, expand
    >>> from overlapcal.experiments.tasks import run_calibration
    >>> config = config_from_dict({
    ...     "name": "demo", "task": "calibration", "seed": 0, "grid": {"n_classes": [2]},
    ...     "fixed": {"method": "hard_interpolator", "overlap": 0.5, "n_val": 200,
    ...               "n_test": 200, "kl_samples": 500}})
    >>> rows = run_calibration(expand(config)[0])
    >>> [(r["recalibration"], r["kl_method"], round(r["kl"], 3)) for r in rows]
    [('none', 'exact', 3.403), ('oracle', 'exact', 0.216), ('fitted', 'exact', 0.217)]

    With ``k = 2`` the interpolator's accuracy is the Bayes accuracy, so the oracle
    temperature attains Corollary 2's bound exactly, far below the uniform predictor's risk:

    >>> oracle = rows[1]
    >>> oracle["accuracy"], round(oracle["corollary2_bound"], 4), round(oracle["uniform_risk"], 4)
    (0.75, 0.2158, 0.3466)
    >>> abs(oracle["kl"] - oracle["corollary2_bound"]) < 1e-9
    True
    """
    import overlapcal as oc
    from overlapcal import metrics
    from overlapcal._numerics import softmax

    data = cell_data(cell)
    p, dist, eval_seed = data.params, data.dist, data.eval_seed
    X_val, y_val, X_test, y_test, eta_test = (data.X_val, data.y_val, data.X_test, data.y_test,
                                              data.eta_test)
    truth = _ground_truth(dist, p, eval_seed)

    start = time.perf_counter()
    predictor, info = build_predictor(p, dist, data.X, data.y, cell.method_rng())
    fit_seconds = time.perf_counter() - start
    # Exact finite sums when both the distribution and the predictor are piecewise constant
    # in 1-D; otherwise Monte Carlo on common random numbers (``eval_seed``). Adaptive
    # quadrature is exact enough but its cost grows with the number of training points.
    exact = dist.n_features == 1 and dist.segments() is not None \
        and predictor.breakpoints() is not None
    population_method = "exact" if exact else "monte-carlo"
    base_logits_val = predictor.logits(X_val)
    base_logits_test = predictor.logits(X_test)

    rows = []
    for recal in p["recalibrations"]:
        try:
            temperature, extra = _temperature(recal, predictor, dist, base_logits_val, y_val,
                                              p, eval_seed, population_method)
        except RuntimeError as exc:
            if recal != "paper_lbfgs":
                raise
            # The paper's fixed-step LBFGS can step to T <= 0; that outcome is recorded as a
            # result of the method (NaN metrics and the reason), not hidden or "repaired".
            rows.append({"recalibration": recal, "temperature": float("nan"),
                         "error": str(exc), "fit_seconds": fit_seconds, **truth, **info})
            continue
        scaled = predictor if temperature == 1.0 else oc.TemperatureScaled(predictor, temperature)
        kl = oc.population_kl(scaled, dist, n_samples=p["kl_samples"], rng=eval_seed,
                              method=population_method)
        acc = oc.population_accuracy(predictor, dist, n_samples=p["kl_samples"], rng=eval_seed,
                                     method=population_method)
        logits = base_logits_test / temperature
        probs = softmax(logits)
        rows.append({
            "recalibration": recal,
            "temperature": temperature,
            "kl": kl.value, "kl_stderr": kl.stderr, "kl_method": kl.method,
            "kl_top_label": kl.top_label, "kl_runner_up": kl.runner_up,
            "accuracy": float(acc), "accuracy_stderr": acc.stderr,
            "test_nll": metrics.nll(logits, y_test, from_logits=True),
            "test_ece": metrics.ece(probs, y_test, n_bins=p["n_bins"]),
            "test_ace": metrics.ace(probs, y_test, n_bins=p["n_bins"]),
            "test_ece_posterior": metrics.ece(probs, posterior=eta_test, n_bins=p["n_bins"]),
            "test_accuracy": float(np.mean(np.argmax(logits, axis=1) == y_test)),
            "fit_seconds": fit_seconds,
            **truth, **info, **extra,
        })
    return rows


def _temperature(recal, predictor, dist, logits_val, y_val, p, eval_seed, population_method):
    import overlapcal as oc

    if recal == "none":
        return 1.0, {}
    if recal == "oracle":
        # Separable cells (overlap 0) legitimately drive T to 0 and useless predictors to
        # T = inf; both are recorded in the row, so the solver's warnings are not repeated.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", oc.CalibrationWarning)
            result = oc.oracle_temperature(predictor, dist, n_samples=p["kl_samples"],
                                           rng=eval_seed, method=population_method)
        return _finite_temperature(result.temperature), {}
    method = {"fitted": "nll", "paper_lbfgs": "paper-lbfgs"}[recal]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", oc.CalibrationWarning)
        ts = oc.TemperatureScaling(method=method).fit(logits_val, y_val)
    extra = {}
    if recal == "paper_lbfgs":
        extra["converged_temperature"] = float(ts.converged_temperature_)
    return _finite_temperature(ts.temperature_), extra


def _finite_temperature(t: float) -> float:
    """Temperatures of +inf (uniform is best) are capped at 1e12, where softmax is uniform."""
    return float(min(t, 1e12))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int_at_least(lo):
    return f"an integer >= {lo}", lambda v: _is_int(v) and v >= lo


_POSITIVE = ("a finite number > 0", lambda v: _is_real(v) and v > 0)

#: What each scalar parameter must be (the names in FAMILIES, METHODS ... are checked apart).
PARAMETER_RULES = {
    "n_classes": _int_at_least(2),
    "overlap": ("a number in [0, 1]", lambda v: _is_real(v) and 0 <= v <= 1),
    "group_size": _int_at_least(1),
    "spacing": _POSITIVE,
    "bayes_error": ("a number in (0, 0.5)", lambda v: _is_real(v) and 0 < v < 0.5),
    "separation": _POSITIVE,
    "shift": _POSITIVE,
    "n_features": _int_at_least(1),
    "label_noise": ("a number in [0, 1)", lambda v: _is_real(v) and 0 <= v < 1),
    "n_per_class": _int_at_least(1),
    "n_train": _int_at_least(2),
    "n_val": _int_at_least(2),
    "n_test": _int_at_least(2),
    "kl_samples": _int_at_least(2),
    "n_bins": _int_at_least(1),
    "margin": _POSITIVE,
    "radius": _POSITIVE,
    "mix_alpha": _POSITIVE,
    "max_distance": _POSITIVE,
    "n_mix": _int_at_least(2),
    "width": _int_at_least(1),
    "depth": _int_at_least(1),
    "epochs": _int_at_least(1),
    "batch_size": _int_at_least(1),
    "lr": _POSITIVE,
    "lr_schedule": ("'constant' or 'cosine'", lambda v: v in ("constant", "cosine")),
    "until_interpolation": ("true or false", lambda v: isinstance(v, bool)),
}


def _validate_points(config: SweepConfig, source: str) -> None:
    """Every parameter value has its type and range, and every grid point describes a
    distribution that can be built (checked before any cell runs)."""
    for key, (expected, ok) in PARAMETER_RULES.items():
        where = "grid" if key in config.grid else "fixed"
        values = config.grid.get(key, (config.fixed[key],) if key in config.fixed else ())
        for value in values:
            if not ok(value):
                raise ConfigError(f"{source}: field '{where}.{key}' must be {expected}, "
                                  f"got {value!r}")
    unknown = [k for k in config.data_keys if k not in DEFAULTS]
    if unknown:
        raise ConfigError(f"{source}: field 'data_keys' names {unknown[0]!r}, which is not a "
                          "parameter of the calibration task")
    from overlapcal.mixup import ALPHA_RANGE

    axes = list(config.grid)
    built = set()
    for values in itertools.product(*config.grid.values()):
        point = dict(zip(axes, values))
        p = {**DEFAULTS, **config.fixed, **point}
        if p["lr_schedule"] == "cosine" and p["until_interpolation"]:
            raise ConfigError(f"{source}: 'lr_schedule' = 'cosine' and 'until_interpolation' = "
                              f"true exclude each other (grid point {point})")
        if p["method"] in ("mixup_optimum", "mixup_optimum_local"):
            if not ALPHA_RANGE[0] <= p["mix_alpha"] <= ALPHA_RANGE[1]:
                raise ConfigError(
                    f"{source}: 'mix_alpha' = {p['mix_alpha']!r} is outside the range of the "
                    f"exact Mixup optimum, [{ALPHA_RANGE[0]:g}, {ALPHA_RANGE[1]:g}] "
                    f"(grid point {point}); networks ('mixup_net') take any alpha > 0")
        key = json.dumps({k: p[k] for k in DATA_KEYS}, sort_keys=True)
        if key in built:
            continue
        built.add(key)
        try:
            build_distribution(p, rng=0)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: grid point {point} does not describe a valid "
                              f"distribution: {exc}") from None


_NETS = ("erm_net", "mixup_net", "dmixup_net")

#: Parameters that only some methods or families read: setting one that none of the sweep's
#: methods (families) reads is an error, not a silently ignored column of the results.
USED_BY = {
    "margin": ("method", ("hard_interpolator", "soft_interpolator")),
    "radius": ("method", ("soft_interpolator",)),
    "mix_alpha": ("method", ("mixup_optimum", "mixup_optimum_local", "mixup_net",
                             "dmixup_net")),
    "max_distance": ("method", ("mixup_optimum_local",)),
    "n_mix": ("method", ("dmixup_net",)),
    **{name: ("method", _NETS) for name in ("width", "depth", "epochs", "batch_size", "lr",
                                             "lr_schedule", "until_interpolation")},
    **{name: ("family", ("overlapping_uniform",)) for name in ("overlap", "group_size",
                                                                "spacing")},
    "bayes_error": ("family", ("gaussian_pairs",)),
    "separation": ("family", ("gaussian_orthogonal",)),
    "shift": ("family", ("gaussian_shifted",)),
}


def _check_used(config: SweepConfig, source: str) -> None:
    """Every method- or family-specific parameter the config sets is read by one of its
    methods (families)."""
    runs = {axis: set(config.grid.get(axis, (config.fixed.get(axis, DEFAULTS[axis]),)))
            for axis in ("method", "family")}
    for key, (axis, readers) in USED_BY.items():
        where = "grid" if key in config.grid else "fixed" if key in config.fixed else None
        if where is not None and not runs[axis] & set(readers):
            raise ConfigError(
                f"{source}: field '{where}.{key}' is read only by {axis} "
                f"{' or '.join(repr(r) for r in readers)}, which this sweep does not run "
                f"(its {axis}: {sorted(runs[axis])}); remove it or add such a {axis}")


def _validate_calibration(config: SweepConfig, source: str) -> None:
    known = set(DEFAULTS)
    for where, params in (("grid", config.grid), ("fixed", config.fixed)):
        for key in params:
            if key not in known:
                raise ConfigError(f"{source}: field '{where}.{key}' is not a parameter of the "
                                  f"calibration task (known: {', '.join(sorted(known))})")
    choices = {"family": FAMILIES, "method": METHODS, "noise_kind": ("pair", "symmetric")}
    for key, allowed in choices.items():
        where = "grid" if key in config.grid else "fixed"
        values = config.grid.get(key, (config.fixed.get(key, DEFAULTS[key]),))
        for value in values:
            if value not in allowed:
                raise ConfigError(f"{source}: field '{where}.{key}' must be one of "
                                  f"{list(allowed)}, got {value!r}")
    if "recalibrations" in config.grid:  # a grid value would be one name, iterated by letter
        raise ConfigError(f"{source}: field 'grid.recalibrations' cannot be a grid axis; list "
                          f"them in 'fixed.recalibrations' (every cell evaluates each one)")
    recals = config.fixed.get("recalibrations", DEFAULTS["recalibrations"])
    if (not isinstance(recals, list) or not recals or len(set(recals)) != len(recals)
            or any(r not in RECALIBRATIONS for r in recals)):
        raise ConfigError(f"{source}: field 'fixed.recalibrations' must be a non-empty list "
                          f"of distinct names from {list(RECALIBRATIONS)}, got {recals!r}")
    _validate_points(config, source)
    _check_used(config, source)


TASKS = {
    "calibration": Task("calibration", run_calibration, _validate_calibration, DATA_KEYS,
                        DEFAULTS, version=2),
}
