"""Trained networks: ERM, Mixup and d-Mixup with one training loop (PyTorch).

THEORY.md 4.3 and 5: an ERM network trained to interpolate is the realistic "regular
interpolator" of the lower bound; a network trained with Mixup or d-Mixup approximates the Mixup
optimum ``g_mix`` of Proposition 3. Both come out of :func:`train` as a :class:`TrainedNetwork`,
an ordinary :class:`~overlapcal.predictors.Predictor` (float64 numpy logits), so every metric,
population functional and temperature scaling works on them unchanged.

The three methods share one loop (Adam on the soft-target cross-entropy) and differ only in the
batch transform ``(xb, tb, generator) -> (x_mixed, soft_targets)`` built by
:func:`make_batch_transform`:

* ``"erm"``: the identity, ``tb`` is one-hot;
* ``"mixup"`` (Zhang et al. 2018): ``z = lam x_i + (1 - lam) x_j``, target
  ``lam e_{y_i} + (1 - lam) e_{y_j}``, ``lam ~ Beta(alpha, alpha)``;
* ``"dmixup"`` (Chidambaram and Ge): ``n_mix`` points mixed with weights
  ``w ~ Dirichlet(alpha 1_{n_mix})``.

``n_mix`` counts the mixed points. The paper's ``d``-Mixup mixes ``d + 1`` points, so its
"2-Mixup" is ``n_mix=3`` and its "4-Mixup" is ``n_mix=5`` (THEORY.md 6.3: "d-Mixup (mixing 3 and
5 points)"); Mixup is ``n_mix=2``. The paper's released code calls the same number ``mix_size``.

This is the only module of overlapcal that imports torch (the ``torch`` extra:
``pip install 'overlapcal[torch]'``).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "overlapcal.nets needs PyTorch. Install it with: pip install 'overlapcal[torch]'"
    ) from exc

from ._validation import (
    check_array,
    check_bool,
    check_int,
    check_labels,
    check_option,
    check_random_state,
    check_real,
    param_error,
)
from .predictors import Predictor

__all__ = [
    "train",
    "TrainedNetwork",
    "TrainingConfig",
    "TrainingHistory",
    "EpochRecord",
    "InterpolationWarning",
    "make_batch_transform",
    "draw_mixing",
    "mlp",
]

METHODS = ("erm", "mixup", "dmixup")
MIX_MODES = ("per-example", "per-batch")
PARTNERS = ("random", "permutation")
LR_SCHEDULES = ("constant", "cosine")
DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: Rows per forward pass when predicting or evaluating the training accuracy.
EVAL_BATCH_ROWS = 8192

#: Defaults of the MLP; ``width``/``depth`` other than these cannot be combined with ``module``.
DEFAULT_WIDTH = 256
DEFAULT_DEPTH = 2


class InterpolationWarning(UserWarning):
    """An ERM network that does not interpolate: ``train(..., until_interpolation=True)``
    stopped at ``max_epochs`` below training accuracy 1, or ``method="erm"`` ended its
    ``epochs`` below it.

    The network returned is then not an interpolator, so it is not the "regular
    interpolator" of THEORY.md 4.3; the warning says which arguments to raise.

    Examples
    --------
    Two copies of one input with different labels: no classifier interpolates them.

    >>> import warnings
    >>> import numpy as np
    >>> from overlapcal.nets import InterpolationWarning, train
    >>> X, y = np.zeros((2, 1)), np.array([0, 1])
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always", InterpolationWarning)
    ...     net = train(X, y, epochs=1, max_epochs=2, until_interpolation=True, width=4, rng=0)
    >>> [str(w.message).split(":")[0] for w in caught if w.category is InterpolationWarning]
    ['train(until_interpolation=True) stopped at max_epochs=2 with training accuracy 0.5000 < 1']
    >>> net.train_accuracy_, len(net.history)
    (0.5, 2)
    """


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did; passed to ``callback`` and collected in :class:`TrainingHistory`.

    ``loss`` is the mean training objective over the epoch (the soft-target cross-entropy on
    the *mixed* batches, weighted by batch size). ``train_nll`` and ``train_accuracy`` are
    measured on the *unmixed* training set after the epoch, in eval mode; they are NaN on epochs
    skipped by ``eval_every``. ``seconds`` is the wall time since training started.

    Attributes
    ----------
    epoch : int
        From 1.
    loss : float
        ``sum_batches b * L_batch / n`` with ``L_batch = -(t * log_softmax(h(z))).sum(1).mean()``
        on the transformed batch ``(z, t)``.
    train_nll : float
        ``-(1/n) sum_i log g(x_i)_{y_i}`` on the unmixed training set (NaN if not measured).
    train_accuracy : float
        ``(1/n) sum_i [argmax_c h(x_i)_c = y_i]`` on the unmixed training set (NaN if not
        measured).
    seconds : float
        Wall time since training started.

    Examples
    --------
    A ``callback`` sees one record per epoch (it stops training by returning True):

    >>> import numpy as np
    >>> from overlapcal.nets import train
    >>> X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    >>> seen = []
    >>> net = train(X, y, "mixup", epochs=3, eval_every=2, width=4, rng=0,
    ...             callback=lambda record, module: seen.append(record))
    >>> [r.epoch for r in seen], [bool(np.isnan(r.train_accuracy)) for r in seen]
    ([1, 2, 3], [True, False, False])
    >>> [r.loss for r in net.history.records()] == [r.loss for r in seen]
    True
    """

    epoch: int
    loss: float
    train_nll: float
    train_accuracy: float
    seconds: float


@dataclass(frozen=True)
class TrainingHistory:
    """Per-epoch training record, one entry per epoch (read-only float64 arrays, epoch from 1).

    Examples
    --------
    >>> h = TrainingHistory.from_records([EpochRecord(1, 0.7, 0.6, 0.5, 0.1)])
    >>> len(h), h.train_accuracy.tolist()
    (1, [0.5])
    """

    epoch: np.ndarray
    loss: np.ndarray
    train_nll: np.ndarray
    train_accuracy: np.ndarray
    seconds: np.ndarray

    @classmethod
    def from_records(cls, records) -> "TrainingHistory":
        """Stack a sequence of :class:`EpochRecord` into columns."""
        columns = {}
        for name in ("epoch", "loss", "train_nll", "train_accuracy", "seconds"):
            dtype = np.int64 if name == "epoch" else np.float64
            column = np.array([getattr(r, name) for r in records], dtype=dtype)
            column.setflags(write=False)
            columns[name] = column
        return cls(**columns)

    def __len__(self) -> int:
        return int(self.epoch.shape[0])

    def records(self) -> list[EpochRecord]:
        """The history as a list of :class:`EpochRecord` (one tidy row per epoch)."""
        return [
            EpochRecord(int(e), float(l), float(n), float(a), float(s))
            for e, l, n, a, s in zip(
                self.epoch, self.loss, self.train_nll, self.train_accuracy, self.seconds
            )
        ]


@dataclass(frozen=True)
class TrainingConfig:
    """The arguments a :class:`TrainedNetwork` was trained with, after validation.

    ``architecture`` is ``"mlp"`` for the default network, else the class name of the user's
    module (then ``width`` and ``depth`` are None). ``n_mix`` is 1 for ERM (no mixing).
    ``seed`` is the integer drawn from ``rng`` that seeded this run's two random streams (the
    weight initialisation and the numpy Generator of shuffling and mixing);
    ``train(..., seed=config.seed)`` repeats the run.

    Attributes
    ----------
    method : {"erm", "mixup", "dmixup"}
    n_classes, n_features, n_samples : int
        ``k``, ``d`` and ``n`` of the training set.
    alpha : float
        The mixing concentration (recorded, unused by ERM).
    n_mix : int
        Points per mixture: 1 for ERM, 2 for Mixup, ``d + 1`` for the paper's d-Mixup.
    mix_mode : {"per-example", "per-batch"}
    partners : {"permutation", "random"}
    architecture : str
        ``"mlp"`` or the class name of the custom module.
    width, depth : int or None
        Of the default MLP; None with a custom module.
    epochs, max_epochs : int
        The requested epochs and the cap of ``until_interpolation`` (``max_epochs = epochs``
        without it).
    until_interpolation : bool
    batch_size : int
    lr : float
    lr_schedule : {"constant", "cosine"}
    weight_decay : float
    eval_every : int
    device : str
        E.g. ``"cpu"`` or ``"cuda:0"``.
    dtype : {"float32", "float64"}
    seed : int
        In ``[0, 2**63)``; ``numpy.random.SeedSequence(seed).generate_state(2)`` gives the
        seeds of the initialisation and of the shuffling and mixing stream.

    Examples
    --------
    >>> import numpy as np
    >>> from overlapcal.nets import train
    >>> X, y = np.array([[0.0], [1.0]]), np.array([0, 1])
    >>> config = train(X, y, "mixup", epochs=2, width=4, rng=0).config
    >>> config.method, config.n_mix, config.architecture, (config.width, config.depth)
    ('mixup', 2, 'mlp', (4, 2))
    >>> config.epochs, config.max_epochs, config.device, config.dtype
    (2, 2, 'cpu', 'float32')
    >>> train(X, y, "mixup", epochs=2, width=4, rng=0).config == config   # same rng, same seed
    True
    """

    method: str
    n_classes: int
    n_features: int
    n_samples: int
    alpha: float
    n_mix: int
    mix_mode: str
    partners: str
    architecture: str
    width: int | None
    depth: int | None
    epochs: int
    max_epochs: int
    until_interpolation: bool
    batch_size: int
    lr: float
    lr_schedule: str
    weight_decay: float
    eval_every: int
    device: str
    dtype: str
    seed: int


# --------------------------------------------------------------------------------------------
# Mixing: the only place where methods differ
# --------------------------------------------------------------------------------------------


def draw_mixing(batch_size: int, *, n_mix: int, alpha: float, mix_mode: str = "per-example",
                partners: str = "permutation", rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw the random part of one (d-)Mixup batch: mixing weights and partner indices.

    Parameters
    ----------
    batch_size : int >= 1
        Rows ``b`` in the batch.
    n_mix : int >= 2
        Points per mixture (2 for Mixup; the paper's d-Mixup is ``n_mix = d + 1``).
    alpha : float > 0
        Concentration: ``w ~ Dirichlet(alpha 1_{n_mix})``; for ``n_mix = 2`` the first weight
        is ``lam ~ Beta(alpha, alpha)``.
    mix_mode : {"per-example", "per-batch"}
        One weight vector per row, or one shared by the whole batch (the paper's code).
    partners : {"permutation", "random"}
        Partner ``j`` of row ``i`` is ``perm_j[i]`` for an independent random permutation
        ``perm_j`` of the batch (the paper's and Zhang et al.'s code), or an independent uniform
        index in ``[0, b)``.
    rng : None, int or numpy Generator

    Returns
    -------
    weights : ndarray of shape (b, n_mix) or (1, n_mix), float64
        Rows on the simplex (non-negative, summing to 1 up to rounding).
    index : ndarray of shape (n_mix, b), int64
        ``index[0] = arange(b)`` (the row itself); ``index[j]`` the ``j``-th partner.

    Notes
    -----
    Mixture ``i`` is ``sum_j weights[i, j] x[index[j, i]]`` (row 0 of ``weights`` when
    per-batch). A partner may be the row itself (a permutation's fixed point, or a repeated
    random index); such mixtures are training points again, the atoms of THEORY.md 5.
    The per-batch and per-example modes have the same expected loss (the same Mixup risk and
    optimum, Proposition 3); they differ only in gradient noise.

    Examples
    --------
    >>> w, idx = draw_mixing(4, n_mix=3, alpha=1.0, rng=0)
    >>> w.shape, idx.shape, bool(np.allclose(w.sum(axis=1), 1.0))
    ((4, 3), (3, 4), True)
    """
    caller = "draw_mixing"
    batch_size = check_int(batch_size, "batch_size", caller, low=1)
    n_mix = check_int(n_mix, "n_mix", caller, low=2)
    alpha = check_real(alpha, "alpha", caller, low=0.0, low_inclusive=False)
    mix_mode = check_option(mix_mode, "mix_mode", caller, MIX_MODES)
    partners = check_option(partners, "partners", caller, PARTNERS)
    return _draw_mixing(batch_size, n_mix, alpha, mix_mode, partners, check_random_state(rng))


def _draw_mixing(b, n_mix, alpha, mix_mode, partners, rng):
    rows = b if mix_mode == "per-example" else 1
    weights = rng.dirichlet(np.full(n_mix, alpha), size=rows)
    index = np.empty((n_mix, b), dtype=np.int64)
    index[0] = np.arange(b)
    if partners == "permutation":
        index[1:] = rng.permuted(np.broadcast_to(np.arange(b), (n_mix - 1, b)), axis=1)
    else:
        index[1:] = rng.integers(0, b, size=(n_mix - 1, b))
    return weights, index


def _combine(tensor, weights, index):
    """``sum_j weights[:, j] * tensor[index[j]]``, summed in the order j = 0, 1, ..."""
    out = weights[:, 0:1] * tensor[index[0]]
    for j in range(1, index.shape[0]):  # n_mix terms, not a loop over samples
        out = out + weights[:, j : j + 1] * tensor[index[j]]
    return out


def make_batch_transform(method: str = "erm", *, alpha: float = 1.0, n_mix: int | None = None,
                         mix_mode: str = "per-example", partners: str = "permutation"):
    """The batch transform of a training method: ``(xb, tb, generator) -> (x_mixed, targets)``.

    Parameters
    ----------
    method : {"erm", "mixup", "dmixup"}
    alpha : float > 0
        Beta / Dirichlet concentration (ignored by ERM).
    n_mix : int >= 2 or None
        Points per mixture; None means 2 for ``"mixup"`` and 3 for ``"dmixup"``. ``"mixup"``
        accepts only 2; ignored by ERM.
    mix_mode, partners : str
        See :func:`draw_mixing`.

    Returns
    -------
    transform : callable
        ``transform(xb, tb, generator)`` with ``xb`` a tensor of shape (b, d), ``tb`` soft or
        one-hot targets of shape (b, k) and ``generator`` a numpy Generator; returns the mixed
        inputs (b, d) and soft targets (b, k), both combined with the *same* weights and
        partners (one call of :func:`draw_mixing`), in ``xb``'s dtype and device. ERM returns
        ``(xb, tb)`` unchanged and draws nothing.

    Raises
    ------
    ValueError
        Unknown method, ``alpha <= 0``, ``n_mix < 2``, ``n_mix != 2`` with ``"mixup"``, unknown
        ``mix_mode`` or ``partners``.

    Examples
    --------
    >>> import torch
    >>> transform = make_batch_transform("mixup", mix_mode="per-batch")
    >>> xb = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    >>> tb = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> z, t = transform(xb, tb, np.random.default_rng(0))
    >>> bool(torch.equal(z[:, 0], t[:, 1]))   # on this data, P(class 1) of the target is z
    True
    """
    caller = "make_batch_transform"
    method, alpha, n_mix, mix_mode, partners = _check_mixing(
        method, alpha, n_mix, mix_mode, partners, caller
    )
    if method == "erm":
        return _identity_transform

    def transform(xb, tb, generator):
        weights, index = _draw_mixing(xb.shape[0], n_mix, alpha, mix_mode, partners, generator)
        w = torch.as_tensor(weights, dtype=xb.dtype, device=xb.device)
        idx = torch.as_tensor(index, device=xb.device)
        return _combine(xb, w, idx), _combine(tb.to(xb.dtype), w, idx)

    transform.__doc__ = (
        f"{method} batch transform: n_mix={n_mix}, alpha={alpha}, mix_mode={mix_mode!r}, "
        f"partners={partners!r}."
    )
    return transform


def _identity_transform(xb, tb, generator):
    """ERM: no mixing."""
    return xb, tb


def _check_mixing(method, alpha, n_mix, mix_mode, partners, caller):
    method = check_option(method, "method", caller, METHODS)
    alpha = check_real(alpha, "alpha", caller, low=0.0, low_inclusive=False)
    mix_mode = check_option(mix_mode, "mix_mode", caller, MIX_MODES)
    partners = check_option(partners, "partners", caller, PARTNERS)
    if n_mix is not None:
        n_mix = check_int(n_mix, "n_mix", caller, low=2)
    if method == "mixup":
        if n_mix not in (None, 2):
            raise ValueError(
                f"The 'n_mix' parameter of {caller} must be 2 (or None) with method='mixup', "
                f"which mixes pairs. Got {n_mix} instead; use method='dmixup' to mix more points."
            )
        n_mix = 2
    elif method == "dmixup":
        n_mix = 3 if n_mix is None else n_mix
    else:
        if n_mix is not None:
            raise ValueError(
                f"The 'n_mix' parameter of {caller} must be None with method='erm', which mixes "
                f"nothing. Got {n_mix} instead; use method='mixup' or 'dmixup' to mix points."
            )
        n_mix = 1
    return method, alpha, n_mix, mix_mode, partners


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def mlp(n_features: int, n_classes: int, *, width: int = DEFAULT_WIDTH,
        depth: int = DEFAULT_DEPTH, rng=None) -> "nn.Sequential":
    """A ReLU MLP from ``d`` inputs to ``k`` logits with ``depth`` hidden layers of ``width`` units.

    The layers are float64 on the CPU; :func:`train` moves a copy to its ``device`` and ``dtype``.

    Parameters
    ----------
    n_features, n_classes : int >= 1, int >= 2
    width, depth : int >= 1
        Hidden units per layer and number of hidden layers.
    rng : None, int or numpy Generator
        Seeds a ``torch.Generator`` for the initialisation; torch's global random state is not
        touched.

    Returns
    -------
    torch.nn.Sequential
        On the CPU in float64; move it with ``.to(device=..., dtype=...)``.

    Notes
    -----
    Every weight and bias of a layer with ``fan_in`` inputs is drawn from
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``: the distribution of PyTorch's default ``nn.Linear``
    initialisation (Kaiming-uniform with ``a = sqrt(5)``), drawn from a seeded generator in
    float64 so that the initial network is the same on every device and in every dtype (up to
    the final rounding to float32).

    Examples
    --------
    >>> net = mlp(3, 2, width=8, depth=2, rng=0)
    >>> [tuple(p.shape) for p in net.parameters()]
    [(8, 3), (8,), (8, 8), (8,), (2, 8), (2,)]
    """
    caller = "mlp"
    n_features = check_int(n_features, "n_features", caller, low=1)
    n_classes = check_int(n_classes, "n_classes", caller, low=2)
    width = check_int(width, "width", caller, low=1)
    depth = check_int(depth, "depth", caller, low=1)
    rng = check_random_state(rng)
    return _mlp(n_features, n_classes, width, depth, int(rng.integers(2**63)))


class Standardize(nn.Module):
    """A fixed affine layer ``(x - shift) / scale`` (buffers, not parameters: never trained).

    Mixing commutes with it (``lam a + (1 - lam) b`` maps to the same mixture of the images),
    so a network that starts with it has the same Mixup optimum as one that does not.

    Examples
    --------
    >>> import torch
    >>> layer = Standardize(shift=[1.0, 10.0], scale=[2.0, 5.0])
    >>> layer(torch.tensor([[3.0, 0.0]], dtype=torch.float64))
    tensor([[ 1., -2.]], dtype=torch.float64)
    """

    def __init__(self, shift, scale):
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float64))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float64))

    def forward(self, x):
        return (x - self.shift) / self.scale


def _check_fits(X: np.ndarray, dtype: str, name: str, caller: str) -> None:
    """Finite inputs beyond the network's float range would become inf (and NaN outputs)."""
    limit = float(np.finfo(np.dtype(dtype)).max)
    if X.size and (largest := max(float(X.max()), -float(X.min()))) > limit:  # no |X| copy
        raise ValueError(
            f"The {name!r} parameter of {caller} must fit in dtype={dtype!r} (|x| <= "
            f"{limit:.3g}). Got a largest |x| of {largest:.3g} instead; pass dtype='float64' "
            "or rescale the inputs."
        )


def _mlp(n_features, n_classes, width, depth, seed, standardize_from=None):
    generator = torch.Generator(device="cpu").manual_seed(seed)
    sizes = [n_features] + [width] * depth + [n_classes]
    layers = []
    if standardize_from is not None:
        shift = standardize_from.mean(axis=0)
        scale = standardize_from.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # constant features: shift only
        layers.append(Standardize(shift, scale))
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        # skip_init: no default initialisation, which would draw from torch's global generator
        linear = torch.nn.utils.skip_init(nn.Linear, fan_in, fan_out, dtype=torch.float64,
                                          device="cpu")
        bound = 1.0 / np.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
        layers.append(linear)
        if i < depth:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# Devices and dtypes
# --------------------------------------------------------------------------------------------


def _check_device(device, caller: str) -> "torch.device":
    """A torch.device that exists here; CUDA/MPS only when asked for and available."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise param_error(
            "device", caller, "a torch device such as 'cpu', 'cuda' or 'cuda:0'", device
        ) from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"The 'device' parameter of {caller} is {str(device)!r}, but CUDA is not "
                "available on this machine (torch.cuda.is_available() is False). "
                "Use device='cpu'."
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise RuntimeError(
                f"The 'device' parameter of {caller} is {str(device)!r}, but only {count} CUDA "
                f"device(s) are available (indices 0 to {count - 1})."
            )
        return dev
    if dev.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if backend is None or not backend.is_available():
            raise RuntimeError(
                f"The 'device' parameter of {caller} is {str(device)!r}, but MPS is not "
                "available on this machine. Use device='cpu'."
            )
        return dev
    raise param_error("device", caller, "a 'cpu', 'cuda' or 'mps' device", device)


def _forward_in_batches(module, X_t):
    """Logits of ``module`` on a device tensor, ``EVAL_BATCH_ROWS`` rows at a time, no autograd."""
    rows = EVAL_BATCH_ROWS
    with torch.no_grad():
        return torch.cat([module(X_t[s : s + rows]) for s in range(0, X_t.shape[0], rows)])


def _check_module_output(module, X_t, n_classes, caller):
    module.eval()
    with torch.no_grad():
        out = module(X_t[:2])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (min(2, X_t.shape[0]), n_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The 'module' parameter of {caller} must map inputs of shape (n, {X_t.shape[1]}) to "
            f"logits of shape (n, {n_classes}). Got output {shape} for "
            f"{min(2, X_t.shape[0])} input row(s) instead."
        )


# --------------------------------------------------------------------------------------------
# The predictor
# --------------------------------------------------------------------------------------------


class TrainedNetwork(Predictor):
    """A torch module as an overlapcal :class:`~overlapcal.predictors.Predictor`.

    :func:`train` returns one; wrap any other trained module (mapping ``(n, d)`` to ``(n, k)``
    logits) with the constructor to evaluate it with the toolkit.

    Parameters
    ----------
    module : torch.nn.Module
        Maps a ``(n, n_features)`` tensor to ``(n, n_classes)`` logits.
    n_features : int >= 1
    n_classes : int >= 2
    device : str or torch.device, default "cpu"
        Where the module lives; inputs are moved there and logits back to the CPU.
    dtype : {"float32", "float64"}, default "float32"
        The module's floating dtype; inputs are cast to it.
    history, config : optional
        :class:`TrainingHistory` and :class:`TrainingConfig` (set by :func:`train`).
    train_accuracy : float, optional
        Accuracy on the unmixed training set (set by :func:`train`).

    Attributes
    ----------
    module, device, dtype, history, config
    train_accuracy_ : float or None
    n_features_in_, n_classes_ : int

    Notes
    -----
    ``logits`` evaluates in eval mode under ``torch.no_grad`` in chunks of
    ``EVAL_BATCH_ROWS`` rows and returns float64 numpy ``(n, k)``: float32 networks are
    evaluated in float32 and the result is widened exactly.

    Examples
    --------
    Any module mapping ``(n, d)`` to ``(n, k)`` logits becomes a predictor:

    >>> import numpy as np, torch, overlapcal as oc
    >>> from overlapcal.nets import TrainedNetwork
    >>> linear = torch.nn.Linear(1, 2, dtype=torch.float64)
    >>> with torch.no_grad():
    ...     _ = linear.weight.copy_(torch.tensor([[-4.0], [4.0]]))
    ...     _ = linear.bias.copy_(torch.tensor([3.0, -3.0]))
    >>> net = TrainedNetwork(linear, n_features=1, n_classes=2, dtype="float64")
    >>> net.predict(np.array([[0.25], [1.5]]))
    array([0, 1])
    >>> acc = oc.population_accuracy(net, oc.OverlappingUniform(2, overlap=0.5), n_samples=20_000,
    ...                              rng=0)
    >>> round(acc.value, 2)       # the threshold 0.75 is a Bayes classifier: A = 0.75
    0.75
    """

    def __init__(self, module, *, n_features: int, n_classes: int, device="cpu",
                 dtype: str = "float32", history: TrainingHistory | None = None,
                 config: TrainingConfig | None = None, train_accuracy: float | None = None):
        caller = "TrainedNetwork"
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"The 'module' parameter of {caller} must be a torch.nn.Module. "
                f"Got {type(module).__name__} instead."
            )
        self.module = module
        self.n_features_in_ = check_int(n_features, "n_features", caller, low=1)
        self.n_classes_ = check_int(n_classes, "n_classes", caller, low=2)
        self.device = _check_device(device, caller)
        self.dtype = check_option(dtype, "dtype", caller, tuple(DTYPES))
        self.history = history
        self.config = config
        self.train_accuracy_ = train_accuracy

    def __repr__(self) -> str:
        method = self.config.method if self.config is not None else "wrapped"
        return (
            f"TrainedNetwork(method={method!r}, n_features={self.n_features_in_}, "
            f"n_classes={self.n_classes_}, device={str(self.device)!r}, dtype={self.dtype!r})"
        )

    def _logits(self, X: np.ndarray) -> np.ndarray:
        _check_fits(X, self.dtype, "X", "TrainedNetwork.logits")
        X_t = torch.as_tensor(X, dtype=DTYPES[self.dtype], device=self.device)
        self.module.eval()
        out = _forward_in_batches(self.module, X_t) if X.shape[0] else None
        if out is None:
            return np.empty((0, self.n_classes_), dtype=np.float64)
        if tuple(out.shape) != (X.shape[0], self.n_classes_):
            raise RuntimeError(
                f"The module of this TrainedNetwork returned logits of shape {tuple(out.shape)} "
                f"for {X.shape[0]} rows; expected ({X.shape[0]}, {self.n_classes_})."
            )
        return out.detach().to("cpu").numpy().astype(np.float64)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def soft_cross_entropy(logits, targets):
    """``-(t * log_softmax(h)).sum(1).mean()``: Mixup's loss, the weighted sum of hard CEs.

    Parameters
    ----------
    logits : torch.Tensor of shape (b, n_classes)
    targets : torch.Tensor of shape (b, n_classes)
        Rows on the simplex (one-hot for ERM, ``sum_j w_j e_{y_j}`` for (d-)Mixup).

    Returns
    -------
    torch.Tensor
        A scalar: ``-(1/b) sum_i sum_c t_ic log softmax(h_i)_c``. Linear in ``t``, so a mixed
        target's loss is the ``w``-weighted sum of the hard-label cross-entropies (THEORY.md 5).

    Examples
    --------
    >>> import torch
    >>> from overlapcal.nets import soft_cross_entropy
    >>> h = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    >>> ce = [soft_cross_entropy(h, torch.tensor([t], dtype=torch.float64)).item()
    ...       for t in ([1.0, 0.0], [0.0, 1.0], [0.25, 0.75])]
    >>> [round(v, 6) for v in ce]
    [0.126928, 2.126928, 1.626928]
    >>> abs(ce[2] - (0.25 * ce[0] + 0.75 * ce[1])) < 1e-12
    True
    """
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def train(X, y, method: str = "erm", *, n_classes: int | None = None, module=None,
          alpha: float = 1.0, n_mix: int | None = None, mix_mode: str = "per-example",
          partners: str = "permutation", width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH,
          epochs: int = 100, batch_size: int = 128, lr: float = 1e-3,
          lr_schedule: str = "constant", weight_decay: float = 0.0,
          until_interpolation: bool = False, max_epochs: int | None = None, eval_every: int = 1,
          standardize: bool = True,
          callback=None, device="cpu", dtype: str = "float32", rng=None, seed: int | None = None,
          progress: bool = False) -> TrainedNetwork:
    """Train a network with ERM, Mixup or d-Mixup and return it as a predictor.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Finite training inputs.
    y : array-like of int, shape (n_samples,)
        Labels in ``[0, n_classes)``.
    method : {"erm", "mixup", "dmixup"}, default "erm"
        The batch transform (see :func:`make_batch_transform`); everything else is shared.
    n_classes : int >= 2, optional
        Number of classes ``k``; default ``max(y) + 1`` (which must be >= 2).
    module : torch.nn.Module, optional
        A custom network mapping ``(n, n_features)`` to ``(n, n_classes)`` logits. It is copied
        (the argument is left untouched) and trained from its current weights, so seed its
        initialisation yourself. Default: :func:`mlp` with ``width`` and ``depth``, initialised
        from ``rng``.
    alpha : float > 0, default 1.0
        ``Beta(alpha, alpha)`` / ``Dirichlet(alpha 1_{n_mix})`` concentration (ignored by ERM).
    n_mix : int >= 2, optional
        Points per mixture: 2 for ``"mixup"`` (the only value it accepts), default 3 for
        ``"dmixup"``. The paper's d-Mixup is ``n_mix = d + 1``: its 2-Mixup is ``n_mix=3``,
        its 4-Mixup ``n_mix=5``. Ignored by ERM.
    mix_mode : {"per-example", "per-batch"}, default "per-example"
        One weight vector per example, or one per batch (the paper's code).
    partners : {"permutation", "random"}, default "permutation"
        Partners from random permutations of the batch (the paper's code) or independent
        uniform indices. ``mix_mode="per-batch", partners="permutation"`` is the paper's
        ``GeneralMixupLoss``.
    width, depth : int >= 1, default 256 and 2
        Hidden units and hidden layers of the default MLP. Values other than the defaults
        cannot be combined with ``module``.
    epochs : int >= 1, default 100
        Passes over the training set.
    batch_size : int >= 1, default 128
        Minibatch size (the last batch of an epoch may be smaller).
    lr : float > 0, default 1e-3
        Adam learning rate (the peak rate with a cosine schedule).
    lr_schedule : {"constant", "cosine"}, default "constant"
        Constant (the paper's setting), or cosine decay per step from ``lr`` to 0 over
        ``epochs`` epochs, ``lr_t = lr (1 + cos(pi t / T)) / 2``, which removes most of the
        final-iterate noise when a smooth optimum (Mixup's) is the target. Not with
        ``until_interpolation``.
    weight_decay : float >= 0, default 0.0
        Adam's (L2) weight decay.
    standardize : bool, default True
        Start the default MLP with a fixed :class:`Standardize` layer that maps the training
        inputs to mean 0 and standard deviation 1 per feature (constant features are only
        shifted). Mixing commutes with this affine map, so the Mixup optimum is unchanged; it
        makes raw inputs on very different scales (a 1-D input in ``[0, 1000]``) trainable with
        the default learning rate. Ignored with a custom ``module``.
    until_interpolation : bool, default False
        If True, keep training after ``epochs`` until the training accuracy (unmixed) is 1.0,
        for at most ``max_epochs`` epochs in total; an :class:`InterpolationWarning` says so
        if it is never reached. ``epochs`` epochs are always run, so the margins keep growing
        past the first epoch that classifies every training point correctly.
    max_epochs : int >= epochs, optional
        Cap for ``until_interpolation``; default ``10 * epochs``. Only with
        ``until_interpolation=True``.
    eval_every : int >= 1, default 1
        Measure the training accuracy and NLL on the unmixed data every ``eval_every`` epochs
        and on every epoch from ``epochs`` on (any of them may be the last); one forward pass
        over the training set each time. Skipped epochs hold NaN in the history.
    callback : callable, optional
        ``callback(record, module)`` after every epoch, with an :class:`EpochRecord`; return
        True to stop training (e.g. ``lambda r, m: r.train_accuracy == 1.0`` stops at the
        first interpolating epoch).
    device : str or torch.device, default "cpu"
        ``"cuda"``/``"cuda:N"`` (or ``"mps"``) when available. The whole training set is
        moved to the device once.
    dtype : {"float32", "float64"}, default "float32"
        Floating dtype of the network and of the data on the device.
    rng : None, int or numpy Generator
        Seeds everything: one integer drawn from it seeds a torch.Generator for the
        initialisation and a numpy Generator for shuffling and mixing.
    seed : int in [0, 2**63), optional
        That integer itself, e.g. the ``config.seed`` of an earlier run, to repeat it exactly;
        overrides ``rng``.
    progress : bool, default False
        Show a tqdm progress bar over epochs (needs tqdm, in the ``torch`` extra).

    Returns
    -------
    TrainedNetwork
        With ``.module``, ``.history`` (:class:`TrainingHistory`), ``.train_accuracy_``
        (final, unmixed training set), ``.config`` (:class:`TrainingConfig`), ``.device``.

    Raises
    ------
    ValueError
        Unknown ``method``/``mix_mode``/``partners``/``dtype``/``lr_schedule``,
        ``alpha <= 0``, ``n_mix < 2`` (or ``!= 2`` with Mixup), ``width``, ``depth``,
        ``epochs``, ``batch_size`` or ``eval_every`` < 1, ``lr <= 0``, ``weight_decay < 0``,
        ``max_epochs < epochs`` or without ``until_interpolation``, non-finite ``X``,
        ``X``/``y`` length mismatch, labels out of range, fewer than 2 classes,
        ``width``/``depth`` combined with ``module``, a module with the wrong output shape, an
        unknown device string, a cosine schedule with ``until_interpolation``.
    RuntimeError
        ``device`` names CUDA (or MPS) and it is not available.
    TypeError
        ``module`` is not an ``nn.Module``, ``callback`` not callable, a non-bool flag.
    ImportError
        ``progress=True`` and tqdm is not installed.

    Notes
    -----
    Every step minimises the soft-target cross-entropy ``-(t * log_softmax(h(z))).sum(1).mean()``
    of the transformed batch ``(z, t)``; with Mixup targets this equals the ``w``-weighted sum
    of hard-label cross-entropies (THEORY.md 5), so Mixup training minimises the empirical
    Mixup risk whose population optimum is ``g_mix`` (Proposition 3; Proposition 4: with
    ``x = 0`` in class 0 and ``x = 1`` in class 1, ``g_mix(z)_1 = z`` on (0, 1)).

    The defaults make ERM interpolate the paper's synthetic preset (3600 training points,
    ``d = 300``, two unit Gaussians with means 0 and ``mu 1``, ``mu = 0.1``, Bayes accuracy
    0.81) by about epoch 6 of 100, in about 8 s of single-thread CPU time per network. The
    paper's released code uses ``epochs=200, batch_size=500, mix_mode="per-batch"`` (with
    ResNets instead of an MLP).

    Mixing weights are drawn with numpy (``Generator.dirichlet``), as are the epoch
    permutations and partners, then moved to the device: torch's Beta/Dirichlet samplers take
    no generator, and one numpy stream makes shuffling and mixing identical on every device.
    The same ``rng`` gives bitwise-identical weights on the CPU (same torch build and thread
    count); on GPUs, kernels may not be bitwise deterministic.

    Examples
    --------
    >>> import numpy as np, overlapcal as oc
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)   # random labels
    >>> net = oc.nets.train(X, y, epochs=50, batch_size=20, lr=1e-2, width=64, rng=0,
    ...                     until_interpolation=True)
    >>> net.train_accuracy_, net.logits(X).shape, net.logits(X).dtype
    (1.0, (40, 2), dtype('float64'))
    >>> mix = oc.nets.train(X, y, "dmixup", n_mix=3, epochs=5, width=32, rng=0)
    >>> mix.config.n_mix, len(mix.history)
    (3, 5)
    """
    caller = "train"
    method, alpha, n_mix, mix_mode, partners = _check_mixing(
        method, alpha, n_mix, mix_mode, partners, caller
    )
    X = check_array(X, "X", caller, ndim=2, keep_float32=True)
    if n_classes is not None:
        n_classes = check_int(n_classes, "n_classes", caller, low=2)
    y = check_labels(y, n_classes, caller, n_samples=X.shape[0], name="y")
    if n_classes is None:
        n_classes = int(y.max()) + 1
        if n_classes < 2:
            raise ValueError(
                f"The 'y' parameter of {caller} must contain at least 2 classes when "
                f"'n_classes' is not given. Got only label 0; pass n_classes explicitly."
            )
    n_samples, n_features = X.shape
    custom = module is not None
    if custom:
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"The 'module' parameter of {caller} must be a torch.nn.Module. "
                f"Got {type(module).__name__} instead."
            )
        for name, value, default in (("width", width, DEFAULT_WIDTH),
                                     ("depth", depth, DEFAULT_DEPTH)):
            if value != default:
                raise ValueError(
                    f"The {name!r} parameter of {caller} describes the default MLP and cannot "
                    f"be combined with 'module'. Got {name}={value!r} with a module."
                )
    else:
        width = check_int(width, "width", caller, low=1)
        depth = check_int(depth, "depth", caller, low=1)
    epochs = check_int(epochs, "epochs", caller, low=1)
    batch_size = check_int(batch_size, "batch_size", caller, low=1)
    eval_every = check_int(eval_every, "eval_every", caller, low=1)
    lr = check_real(lr, "lr", caller, low=0.0, low_inclusive=False)
    lr_schedule = check_option(lr_schedule, "lr_schedule", caller, LR_SCHEDULES)
    weight_decay = check_real(weight_decay, "weight_decay", caller, low=0.0)
    until_interpolation = check_bool(until_interpolation, "until_interpolation", caller)
    standardize = check_bool(standardize, "standardize", caller)
    progress = check_bool(progress, "progress", caller)
    if max_epochs is None:
        max_epochs = 10 * epochs if until_interpolation else epochs
    else:
        if not until_interpolation:
            raise ValueError(
                f"The 'max_epochs' parameter of {caller} is only used with "
                f"until_interpolation=True. Got max_epochs={max_epochs!r} with "
                "until_interpolation=False; set 'epochs' instead."
            )
        max_epochs = check_int(max_epochs, "max_epochs", caller, low=epochs)
    if until_interpolation and lr_schedule == "cosine":
        raise ValueError(
            f"The 'lr_schedule' parameter of {caller} must be 'constant' with "
            "until_interpolation=True: the cosine schedule ends at lr 0 after 'epochs' epochs, "
            "so further epochs could not make progress. Got 'cosine' instead."
        )
    if callback is not None and not callable(callback):
        raise TypeError(
            f"The 'callback' parameter of {caller} must be callable or None. "
            f"Got {type(callback).__name__} instead."
        )
    dtype = check_option(dtype, "dtype", caller, tuple(DTYPES))
    dev = _check_device(device, caller)
    rng = check_random_state(rng)
    bar_factory = _tqdm() if progress else None

    if seed is None:
        seed = int(rng.integers(2**63))
    else:
        seed = check_int(seed, "seed", caller, low=0, high=2**63 - 1)
    init_seed, stream_seed = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    generator = np.random.default_rng(int(stream_seed))
    torch_dtype = DTYPES[dtype]

    if custom:
        net = copy.deepcopy(module).to(device=dev, dtype=torch_dtype)
        architecture = type(module).__name__
        width = depth = None
    else:
        net = _mlp(n_features, n_classes, width, depth, int(init_seed),
                   standardize_from=X if standardize else None).to(dev, torch_dtype)
        architecture = "mlp"
    _check_fits(X, dtype, "X", caller)
    X_t = torch.as_tensor(X).to(torch_dtype).to(dev)  # cast on the CPU, move once
    y_t = torch.as_tensor(y, device=dev)
    T_t = torch.nn.functional.one_hot(y_t, n_classes).to(torch_dtype)
    if custom:
        _check_module_output(net, X_t, n_classes, caller)

    config = TrainingConfig(
        method=method, n_classes=n_classes, n_features=n_features, n_samples=n_samples,
        alpha=alpha, n_mix=n_mix, mix_mode=mix_mode, partners=partners,
        architecture=architecture, width=width, depth=depth, epochs=epochs,
        max_epochs=max_epochs, until_interpolation=until_interpolation, batch_size=batch_size,
        lr=lr, lr_schedule=lr_schedule, weight_decay=weight_decay, eval_every=eval_every,
        device=str(dev), dtype=dtype, seed=seed,
    )
    transform = make_batch_transform(method, alpha=alpha, n_mix=n_mix if n_mix > 1 else None,
                                     mix_mode=mix_mode, partners=partners)
    records = _fit(net, X_t, y_t, T_t, transform, generator, config, callback, bar_factory)
    history = TrainingHistory.from_records(records)
    final_accuracy = float(history.train_accuracy[-1])
    if until_interpolation and final_accuracy < 1.0:
        warnings.warn(
            f"train(until_interpolation=True) stopped at max_epochs={max_epochs} with training "
            f"accuracy {final_accuracy:.4f} < 1: the network does not interpolate. Raise "
            "'max_epochs', 'lr', 'width' or 'depth'.",
            InterpolationWarning,
            stacklevel=2,
        )
    elif method == "erm" and final_accuracy < 1.0:
        warnings.warn(
            f"train(method='erm') ended after {epochs} epochs with training accuracy "
            f"{final_accuracy:.4f} < 1: the network is not an ERM interpolator (THEORY.md 4.3). "
            "Pass until_interpolation=True, or raise 'epochs', 'lr', 'width' or 'depth'.",
            InterpolationWarning,
            stacklevel=2,
        )
    net.eval()
    return TrainedNetwork(
        net, n_features=n_features, n_classes=n_classes, device=dev, dtype=dtype,
        history=history, config=config, train_accuracy=final_accuracy,
    )


def _fit(net, X_t, y_t, T_t, transform, generator, config, callback, bar_factory):
    """The one training loop shared by every method; returns the list of EpochRecords."""
    n = X_t.shape[0]
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    bar = bar_factory(total=config.epochs, unit="epoch") if bar_factory is not None else None
    records = []
    start = time.perf_counter()
    epoch = 0
    cosine = config.lr_schedule == "cosine"
    step, n_steps = 0, config.epochs * -(-n // config.batch_size)
    try:
        while True:
            epoch += 1
            net.train()
            order = torch.as_tensor(generator.permutation(n), device=X_t.device)
            total = torch.zeros((), dtype=X_t.dtype, device=X_t.device)
            for s in range(0, n, config.batch_size):
                if cosine:
                    for group in optimizer.param_groups:
                        group["lr"] = 0.5 * config.lr * (1.0 + math.cos(math.pi * step / n_steps))
                    step += 1
                batch = order[s : s + config.batch_size]
                xb, tb = transform(X_t[batch], T_t[batch], generator)
                loss = soft_cross_entropy(net(xb), tb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.detach() * batch.shape[0]
            # From epoch `epochs` on, every epoch may be the last: always measure there.
            nll = accuracy = float("nan")
            if epoch >= config.epochs or epoch % config.eval_every == 0:
                nll, accuracy = _evaluate(net, X_t, y_t)
            record = EpochRecord(epoch, float(total) / n, nll, accuracy,
                                 time.perf_counter() - start)
            if bar is not None:
                bar.total = max(bar.total, epoch)
                bar.update(1)
                bar.set_postfix(loss=f"{record.loss:.4f}", acc=f"{accuracy:.4f}")
            result = callback(record, net) if callback is not None else None
            if result is not None and not isinstance(result, (bool, np.bool_)):
                raise TypeError(
                    "The 'callback' of train must return True (stop), False or None. "
                    f"Got {type(result).__name__} {result!r} instead."
                )
            stop = bool(result)
            if stop and np.isnan(accuracy):
                nll, accuracy = _evaluate(net, X_t, y_t)
                record = EpochRecord(epoch, record.loss, nll, accuracy, record.seconds)
            records.append(record)
            interpolating = accuracy == 1.0
            if stop or epoch >= config.max_epochs or (
                epoch >= config.epochs and (not config.until_interpolation or interpolating)
            ):
                return records
    finally:
        if bar is not None:
            bar.close()


def _evaluate(net, X_t, y_t):
    """Mean NLL and accuracy of ``net`` on the unmixed training set (eval mode, no autograd)."""
    net.eval()
    logits = _forward_in_batches(net, X_t)
    nll = torch.nn.functional.cross_entropy(logits, y_t, reduction="mean")
    accuracy = (logits.argmax(dim=1) == y_t).to(torch.float64).mean()
    return float(nll), float(accuracy)




def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError(
            "progress=True needs tqdm, which is not installed. Install it with "
            "pip install tqdm (or the extra: pip install 'overlapcal[torch]'), or pass "
            "progress=False."
        ) from None
    return tqdm

