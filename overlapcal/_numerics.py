"""Stable elementwise numerics shared by the library (no validation here: callers validate)."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, xlogy

__all__ = ["log_softmax", "softmax", "entropy", "binary_entropy", "kl_rows"]


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``h - logsumexp(h)`` row-wise; exact for huge logits (max is subtracted first).

    Rows that are entirely ``-inf`` give NaN (an undefined distribution).
    """
    m = np.max(logits, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    shifted = logits - m
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(log_softmax(h))``; dtype preserved."""
    m = np.max(logits, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(logits - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy ``H(p) = -sum_c p_c log p_c`` in nats, with ``0 log 0 = 0``."""
    return -np.sum(xlogy(p, p), axis=axis)


def binary_entropy(a) -> np.ndarray:
    """``H_b(a) = -a log a - (1 - a) log(1 - a)``, with ``H_b(0) = H_b(1) = 0``."""
    a = np.asarray(a, dtype=float)
    return -xlogy(a, a) - xlogy(1.0 - a, 1.0 - a)


def kl_rows(p: np.ndarray, log_q: np.ndarray, axis: int = -1) -> np.ndarray:
    """``KL(p || q) = sum_c p_c (log p_c - log q_c)`` row-wise, with ``0 log(0/q) = 0``.

    Takes ``log q`` (not ``q``) so that predictors with huge logits keep full precision in the
    small probabilities. Terms with ``p_c = 0`` contribute 0 even where ``log q_c = -inf``.
    """
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, xlogy(p, p) - p * log_q, 0.0)
    return np.sum(terms, axis=axis)


def logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``logsumexp`` over the last axis (SciPy's, re-exported for one import site)."""
    return logsumexp(a, axis=-1)
