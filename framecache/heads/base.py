"""What every head shares: input checking for lists of ``(T_i, k)`` sequences, label encoding, the
stratified hold-out used when ``fit`` gets no validation split, and the even subsampling behind ``max_len``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

log = logging.getLogger(__name__)


def check_sequences(X: Sequence[np.ndarray], name: str = "X", k: int | None = None) -> list[np.ndarray]:
    """``X`` as a list of C-contiguous float32 ``(T_i, k)`` arrays, each with T_i >= 1 and one common k."""
    if isinstance(X, np.ndarray) and X.ndim == 3:
        X = list(X)
    if len(X) == 0:
        raise ValueError(f"{name} is empty: a head needs at least one video")
    out = []
    for i, x in enumerate(X):
        a = np.ascontiguousarray(x, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f"{name}[{i}] has shape {a.shape}: expected (T, k) with T >= 1")
        if k is None:
            k = a.shape[1]
        elif a.shape[1] != k:
            raise ValueError(f"{name}[{i}] has {a.shape[1]} features per frame, expected {k}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}[{i}] contains NaN or infinite values")
        out.append(a)
    return out


def encode_labels(y: Sequence, classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, indices)``: the sorted distinct labels and each label's column index.

    With ``classes`` given, labels outside it get index -1 (a validation video of a class absent from train).
    """
    y = np.asarray(y)
    if classes is None:
        classes, idx = np.unique(y, return_inverse=True)
        return classes, idx.astype(np.int64)
    pos = np.searchsorted(classes, y)
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = np.where(classes[pos] == y, pos, -1)
    return classes, idx.astype(np.int64)


def holdout(y: np.ndarray, fraction: float, random_state: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(fit, val)`` splitting train for selection when no validation split was given.

    Stratified when every class has two videos or more; otherwise a plain shuffled split (tiny data), and with
    fewer than two videos nothing can be held out, so both parts are all of train (logged).
    """
    n = len(y)
    idx = np.arange(n)
    if n < 2:
        log.warning("only %d training video: selecting on the training data itself", n)
        return idx, idx
    n_val = max(1, round(fraction * n))
    n_classes = len(np.unique(y))
    stratify = y if np.min(np.bincount(y)) >= 2 and n_val >= n_classes and n - n_val >= n_classes else None
    fit_idx, val_idx = train_test_split(idx, test_size=n_val, random_state=random_state, stratify=stratify)
    return np.sort(fit_idx), np.sort(val_idx)


def even_subsample(x: np.ndarray, max_len: int | None) -> np.ndarray:
    """At most ``max_len`` rows of ``x``, evenly spaced over the whole video (first and last kept)."""
    if max_len is None or len(x) <= max_len:
        return x
    keep = np.round(np.linspace(0, len(x) - 1, max_len)).astype(np.int64)
    return x[keep]


def count_truncated(X: Sequence[np.ndarray], max_len: int | None) -> int:
    """How many videos a ``max_len`` cap shortens."""
    if max_len is None:
        return 0
    return int(sum(len(x) > max_len for x in X))


def balanced_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" class weights n / (C · count_c); classes absent from train get weight 0."""
    counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
    with np.errstate(divide="ignore"):
        w = np.where(counts > 0, len(y_idx) / (n_classes * counts), 0.0)
    return w


def selection_key(val_accuracy: float, val_loss: float, order: int) -> tuple[float, float, int]:
    """Sort key for grid selection: best validation accuracy, then lowest log-loss, then the earlier entry."""
    return (-val_accuracy, val_loss, order)
