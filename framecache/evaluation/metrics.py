"""Point metrics of a classifier's probabilities on a set of videos: top-1, top-5, mean class accuracy,
macro-F1 and log-loss, computed the same way for every head so the report compares like with like.

Top-k uses k = min(k, number of classes); with five classes or fewer top-5 is 1.0 by construction, and
:func:`classification_metrics` says so in ``top5_trivial``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, log_loss

METRIC_NAMES = ("top1", "top5", "mean_class_accuracy", "macro_f1", "log_loss")


def top_k_accuracy(y_true: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the k most probable (ties broken by class index)."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return float("nan")
    k = min(k, proba.shape[1])
    # stable argsort on -proba: equal probabilities rank the lower class index first, deterministically
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == y_true[:, None], axis=1)))


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class; NaN for a class with no videos in this set."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        mask = y_true == c
        if mask.any():
            out[c] = float(np.mean(y_pred[mask] == c))
    return out


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """All point metrics for integer labels ``y_true`` (N,) and class probabilities ``proba`` (N, C)."""
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    y_pred = np.argmax(proba, axis=1)
    present = np.unique(y_true)
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return {
        "top1": float(np.mean(y_pred == y_true)) if len(y_true) else float("nan"),
        "top5": top_k_accuracy(y_true, proba, 5),
        "top5_trivial": bool(n_classes <= 5),
        # mean over the classes present in this set: an absent class has no accuracy to average
        "mean_class_accuracy": float(np.nanmean(per_class_accuracy(y_true, y_pred, n_classes)[present])),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y_true, clipped, labels=np.arange(n_classes))),
    }


def nll(proba: np.ndarray, y_idx: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (probabilities clipped at 1e-15, as sklearn does)."""
    proba, y_idx = np.asarray(proba), np.asarray(y_idx, dtype=np.int64)
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y_idx)), y_idx], 1e-15, 1.0))))


def spread_proba(proba: np.ndarray, columns: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over ``columns`` (the classes a model saw) spread to all ``n_classes`` (the rest get 0)."""
    proba = np.asarray(proba)
    out = np.zeros((len(proba), n_classes), dtype=np.float64)
    out[:, np.asarray(columns, dtype=np.int64)] = proba
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of per-repeat values; the std of a single value is 0.

    The one spread of framecache: the train stage's ``metrics.json`` ``_std`` twins and the report's ± over
    repeats both come from here, so a head shows the same spread everywhere. ddof=1 is the spread a reader
    should expect from another repeat (the sample standard deviation), not the population one of these repeats.
    """
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return float("nan"), float("nan")
    std = float(np.std(a, ddof=1)) if a.size > 1 else 0.0
    return float(np.mean(a)), std
