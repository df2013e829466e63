"""Input checks shared by every public function.

One error template everywhere (scikit-learn's):

    The 'n_bins' parameter of ece must be an int >= 1. Got 0 instead.

Each check validates once, at the public boundary, and returns the normalised value, so the
numerical code behind it never re-checks. Nothing is silently coerced: a float where an int is
expected, a 1-D array where 2-D is expected or a NaN are errors, not conversions.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

__all__ = [
    "check_random_state",
    "check_int",
    "check_real",
    "check_option",
    "check_array",
    "check_X",
    "check_labels",
    "check_probs",
    "check_logits",
    "param_error",
    "check_bool",
    "check_distribution",
]


def param_error(name: str, caller: str, expected: str, got) -> ValueError:
    """The one error message: ``The 'name' parameter of caller must be expected. Got got instead.``"""
    return ValueError(
        f"The {name!r} parameter of {caller} must be {expected}. Got {_show(got)} instead."
    )


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):  # 0.5, not np.float64(0.5)
        value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_random_state(rng) -> np.random.Generator:
    """Normalise ``rng`` (None, an int seed, a SeedSequence or a Generator) once (SPEC 7).

    A legacy ``np.random.RandomState`` is rejected rather than converted: library code never
    touches global or legacy random state.
    """
    if isinstance(rng, np.random.RandomState):
        raise TypeError(
            "The 'rng' parameter must be None, an int, a numpy SeedSequence or a numpy Generator. "
            "Got a legacy RandomState instead; use np.random.default_rng(seed)."
        )
    if isinstance(rng, (bool, np.bool_)) or (rng is not None and not isinstance(
        rng, (numbers.Integral, np.random.SeedSequence, np.random.Generator, np.random.BitGenerator)
    )):
        raise TypeError(
            "The 'rng' parameter must be None, an int, a numpy SeedSequence or a numpy Generator. "
            f"Got {_show(rng)} instead."
        )
    if isinstance(rng, numbers.Integral) and rng < 0:
        raise ValueError(
            f"The 'rng' parameter must be a non-negative int seed. Got {_show(rng)} instead."
        )
    return np.random.default_rng(rng)


def check_distribution(dist, name: str, caller: str):
    """Return ``dist`` if it is an overlapcal Distribution; a TypeError naming it otherwise."""
    from .distributions.base import Distribution  # here: the distributions import this module

    if not isinstance(dist, Distribution):
        raise TypeError(
            f"The {name!r} parameter of {caller} must be an overlapcal Distribution. "
            f"Got {type(dist).__name__} instead."
        )
    return dist


def check_bool(value, name: str, caller: str) -> bool:
    """Return ``value`` as a Python bool; anything but a bool (``1``, ``"False"``) is a TypeError.

    Truthiness is not used: ``from_logits="False"`` would otherwise silently mean True.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"The {name!r} parameter of {caller} must be a bool. Got {_show(value)} instead."
        )
    return bool(value)


def check_int(value, name: str, caller: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as a Python int in ``[low, high]``; bools and floats are rejected."""
    expected = "an int" + _bounds(low, high, True, True)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise param_error(name, caller, expected, value)
    value = operator.index(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise param_error(name, caller, expected, value)
    return value


def check_real(
    value,
    name: str,
    caller: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite Python float within the stated bounds."""
    expected = "a finite real number" + _bounds(low, high, low_inclusive, high_inclusive)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise param_error(name, caller, expected, value)
    value = float(value)
    if not np.isfinite(value):
        raise param_error(name, caller, expected, value)
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise param_error(name, caller, expected, value)
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise param_error(name, caller, expected, value)
    return value


def check_option(value, name: str, caller: str, options) -> str:
    """Return ``value`` if it is one of ``options`` (strings)."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise param_error(name, caller, f"one of {listed}", value)
    return value


def _bounds(low, high, low_inclusive, high_inclusive) -> str:
    if low is not None and high is not None:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        return f" in {left}{low}, {high}{right}"
    if low is not None:
        return f" {'>=' if low_inclusive else '>'} {low}"
    if high is not None:
        return f" {'<=' if high_inclusive else '<'} {high}"
    return ""


_EPS64 = float(np.finfo(np.float64).eps)


def _is_tensor(array) -> bool:
    return type(array).__module__.startswith("torch")


def _to_numpy(array, name: str | None = None, caller: str | None = None):
    """Accept numpy arrays, array-likes and torch tensors (moved to CPU).

    Tensors keep their dtype, except bfloat16 (which numpy lacks): it becomes float32, exactly.
    A ragged nested sequence is an error naming the parameter (when ``name`` is given).
    """
    if _is_tensor(array):
        import torch

        array = array.detach().cpu()
        if array.dtype == torch.bfloat16:
            array = array.to(torch.float32)
        return array.numpy()
    try:
        return np.asarray(array)
    except ValueError as exc:  # numpy: "... inhomogeneous shape ..."
        where = f"The {name!r} parameter of {caller}" if name else "An array argument"
        raise ValueError(
            f"{where} must be a rectangular array (all rows of the same length). "
            f"Got a ragged nested sequence instead ({exc})."
        ) from exc


def _input_eps(array) -> float:
    """Machine epsilon of the input's own float dtype (numpy float16, torch float16 and
    bfloat16 included), before any conversion; float64's for non-float input."""
    if _is_tensor(array):
        import torch

        return float(torch.finfo(array.dtype).eps) if array.is_floating_point() else _EPS64
    dtype = getattr(array, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return float(np.finfo(dtype).eps)
    return _EPS64


def _all_finite(arr: np.ndarray) -> bool:
    """``np.isfinite(arr).all()`` without its boolean temporary of ``arr``'s shape.

    A sum is finite only if every term is (NaN and infinities propagate through it), so one
    reduction decides the common case; the elementwise test runs only when the sum is not finite
    (a non-finite value, or an overflow of a sum of huge finite values).
    """
    with np.errstate(all="ignore"):
        if math.isfinite(arr.sum()):
            return True
    return bool(np.isfinite(arr).all())


def check_array(
    array,
    name: str,
    caller: str,
    *,
    ndim: int,
    allow_empty: bool = False,
    finite: bool = True,
    keep_float32: bool = True,
) -> np.ndarray:
    """Return a real floating array with ``ndim`` dimensions and (optionally) only finite values.

    float32 stays float32 and half precision (float16, torch bfloat16) becomes float32 (when
    ``keep_float32``); integer and float64 input becomes float64. Complex, object, string and
    boolean arrays and ragged nested sequences are errors.
    """
    arr = _to_numpy(array, name, caller)
    if arr.dtype.kind not in "iuf":
        raise param_error(name, caller, "an array of real numbers", arr)
    if arr.ndim != ndim:
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = " (use X.reshape(-1, 1) for one feature)" if name == "X" else ""
        raise ValueError(
            f"The {name!r} parameter of {caller} must be a {ndim}-D array{hint}. "
            f"Got an array of shape {arr.shape} instead."
        )
    if not allow_empty and arr.size == 0:
        raise ValueError(
            f"The {name!r} parameter of {caller} must be a non-empty array. "
            f"Got an array of shape {arr.shape} instead."
        )
    if arr.dtype == np.float32 and keep_float32:
        pass
    elif arr.dtype == np.float16 and keep_float32:
        arr = arr.astype(np.float32)  # exact
    elif arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    if finite and not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"The {name!r} parameter of {caller} must contain only finite values. "
            f"Got {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)} instead."
        )
    return arr


def check_X(X, n_features: int, caller: str, *, allow_empty: bool = True) -> np.ndarray:
    """Inputs ``X`` of shape ``(n_samples, n_features)``, finite, float64."""
    X = check_array(X, "X", caller, ndim=2, allow_empty=True, keep_float32=False)
    if X.shape[1] != n_features:
        raise ValueError(
            f"The 'X' parameter of {caller} must have {n_features} feature column(s). "
            f"Got an array of shape {X.shape} instead."
        )
    if not allow_empty and X.shape[0] == 0:
        raise ValueError(f"The 'X' parameter of {caller} must have at least one row. Got 0 rows.")
    return X


def check_labels(labels, n_classes: int | None, caller: str, *, n_samples: int | None = None,
                 name: str = "labels") -> np.ndarray:
    """Integer labels of shape ``(n_samples,)`` in ``[0, n_classes)``.

    Float arrays holding whole numbers are rejected: a float label usually means probabilities
    were passed where labels belong.
    """
    arr = _to_numpy(labels, name, caller)
    if arr.dtype.kind not in "iu":
        raise param_error(name, caller, "an array of integer class labels", arr)
    if arr.ndim != 1:
        raise ValueError(
            f"The {name!r} parameter of {caller} must be a 1-D array of class labels. "
            f"Got an array of shape {arr.shape} instead."
        )
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have one label per sample ({n_samples}). "
            f"Got {arr.shape[0]} labels instead."
        )
    if arr.size == 0:
        raise ValueError(f"The {name!r} parameter of {caller} must be non-empty. Got 0 labels.")
    low, high = arr.min(), arr.max()
    if low < 0 or (n_classes is not None and high >= n_classes):
        bad = low if low < 0 else high
        bound = f"[0, {n_classes})" if n_classes is not None else ">= 0"
        raise ValueError(
            f"The {name!r} parameter of {caller} must hold class labels in {bound}. "
            f"Got label {int(bad)} instead."
        )
    return arr.astype(np.intp, copy=False)


def probability_tolerance(dtype) -> float:
    """Tolerance on row sums: ``sqrt(eps)`` of the dtype (3.5e-4 in float32, 1.5e-8 in float64)."""
    return float(np.sqrt(np.finfo(dtype).eps))


def check_probs(probs, caller: str, *, name: str = "probs", n_classes: int | None = None,
                allow_k1: bool = False) -> np.ndarray:
    """Probability rows of shape ``(n_samples, n_classes)``: finite, non-negative, summing to 1.

    The row-sum tolerance is dtype-aware (:func:`probability_tolerance`) and scales with the
    number of classes (``tol * max(1, k / 100)``), since summing k float32 numbers accumulates
    rounding. The dtype is the input's own: half-precision probabilities (numpy float16, torch
    float16 or bfloat16) are returned as float32 but checked with their own tolerance
    (``sqrt(eps)``: 0.031 for float16, 0.088 for bfloat16).
    """
    eps = _input_eps(probs)
    probs = check_array(probs, name, caller, ndim=2)
    k = probs.shape[1]
    if k < 2 and not allow_k1:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have at least 2 classes (columns). "
            f"Got an array of shape {probs.shape} instead."
        )
    if n_classes is not None and k != n_classes:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have {n_classes} columns. "
            f"Got an array of shape {probs.shape} instead."
        )
    if probs.min() < 0:
        where = np.unravel_index(np.argmin(probs), probs.shape)
        raise ValueError(
            f"The {name!r} parameter of {caller} must be non-negative. "
            f"Got {probs[where]} at index {tuple(int(i) for i in where)} instead."
        )
    sums = probs.sum(axis=1, dtype=np.float64)
    tol = max(probability_tolerance(probs.dtype), math.sqrt(eps)) * max(1.0, k / 100)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > tol:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have rows summing to 1 (tolerance {tol:.1e}). "
            f"Got row {worst} summing to {float(sums[worst])!r} instead."
        )
    return probs


def check_logits(logits, caller: str, *, name: str = "logits", n_classes: int | None = None,
                 allow_k1: bool = False, allow_neg_inf: bool = False) -> np.ndarray:
    """Finite logits of shape ``(n_samples, n_classes)``; float32 stays float32.

    With ``allow_neg_inf``, ``-inf`` marks an impossible class (``log 0``, as in the logits of
    a Bayes predictor); NaN and ``+inf`` are still errors and every row needs a finite entry.
    """
    logits = check_array(logits, name, caller, ndim=2, finite=not allow_neg_inf)
    if allow_neg_inf and not _all_finite(logits):  # all finite (the usual case): nothing to check
        bad = np.isnan(logits) | (logits == np.inf)
        if bad.any() or logits.size and not np.isfinite(logits.max(axis=1)).all():
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                got = f"{logits[where]} at index {where}"
            else:
                got = f"row {int(np.argmin(np.isfinite(logits.max(axis=1))))} entirely -inf"
            raise ValueError(
                f"The {name!r} parameter of {caller} must contain finite values or -inf "
                f"(an impossible class), with a finite entry in every row. Got {got} instead."
            )
    k = logits.shape[1]
    if k < 2 and not allow_k1:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have at least 2 classes (columns). "
            f"Got an array of shape {logits.shape} instead."
        )
    if n_classes is not None and k != n_classes:
        raise ValueError(
            f"The {name!r} parameter of {caller} must have {n_classes} columns. "
            f"Got an array of shape {logits.shape} instead."
        )
    return logits
