"""Confusion that stays readable at any class count (UCF101's 101 classes): the count matrix, the most confused
(actual, predicted) pairs over the scored heads, which classes a plot shows (every class up to
:data:`PLOT_ALL`, else the classes of the most confused pairs), and the worst and best classes of the per-class
table. Pure numpy and pandas: the sections write and draw what this computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

PLOT_ALL = 30  # classes: up to this many a confusion plot shows every class (with counts up to 30)
PLOT_SHOWN = 20  # more classes than PLOT_ALL: the plot shows this many, those of the most confused pairs
PAIRS_SHOWN = 15  # rows of the "most confused pairs" table
TABLE_ALL = 30  # classes: up to this many the per-class table lists every class
TABLE_SHOWN = 10  # more than TABLE_ALL: this many worst and this many best classes (all of them in per_class.csv)


def counts(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    """The (n, n) count matrix: row = actual class, column = predicted class."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def matrix_frame(matrix: np.ndarray, classes: Sequence[str]) -> pd.DataFrame:
    """The full matrix as a table for a CSV: first column the actual class, one column per predicted class."""
    df = pd.DataFrame(matrix, columns=list(classes))
    df.insert(0, "actual \\ predicted", list(classes))
    return df


def most_confused(matrices: Mapping[str, np.ndarray], top: int = PAIRS_SHOWN) -> list[tuple[int, int]]:
    """The ``top`` off-diagonal (actual, predicted) cells with the most videos summed over the heads' matrices;
    ties by class indices (deterministic). Cells no head got wrong are never listed."""
    total = sum(m.astype(np.int64) for m in matrices.values())
    off = total.copy()
    np.fill_diagonal(off, 0)
    flat = np.flatnonzero(off)
    order = sorted(flat, key=lambda f: (-off.flat[f], f))[:top]
    n = off.shape[0]
    return [(int(f // n), int(f % n)) for f in order]


def pairs_table(
    matrices: Mapping[str, np.ndarray], classes: Sequence[str], chosen: str | None, top: int = PAIRS_SHOWN
) -> pd.DataFrame:
    """The most confused pairs: actual, predicted as, videos (summed over heads), how many heads make the
    mistake, and the chosen head's count with its share of the actual class's test videos."""
    rows: list[dict[str, Any]] = []
    for a, p in most_confused(matrices, top):
        row = {
            "actual": classes[a],
            "predicted as": classes[p],
            "videos, all heads": int(sum(int(m[a, p]) for m in matrices.values())),
            "heads": f"{sum(int(m[a, p]) > 0 for m in matrices.values())} of {len(matrices)}",
        }
        if chosen in matrices:
            m = matrices[chosen]
            share = m[a, p] / max(int(m[a].sum()), 1)
            row[chosen] = f"{int(m[a, p])} of {int(m[a].sum())} ({100 * share:.0f}%)"
        rows.append(row)
    return pd.DataFrame(rows)


def shown_classes(matrix: np.ndarray, limit: int = PLOT_SHOWN) -> list[int]:
    """Indices of the classes a plot shows: all up to :data:`PLOT_ALL`; else the classes of this matrix's most
    confused pairs until ``limit`` are found, filled up with the lowest-recall classes; in class order."""
    n = matrix.shape[0]
    if n <= PLOT_ALL:
        return list(range(n))
    chosen: list[int] = []
    for a, p in most_confused({"": matrix}, top=n * n):
        for c in (a, p):
            if c not in chosen and len(chosen) < limit:
                chosen.append(c)
        if len(chosen) >= limit:
            break
    rows = matrix.sum(axis=1)
    recall = np.where(rows > 0, np.diag(matrix) / np.maximum(rows, 1), np.inf)  # a class without test videos: last
    for c in np.argsort(recall, kind="stable"):
        if len(chosen) >= limit:
            break
        if int(c) not in chosen:
            chosen.append(int(c))
    return sorted(chosen)


def worst_and_best(per_class: pd.DataFrame, heads: Sequence[str], shown: int = TABLE_SHOWN) -> list[tuple[str, Any]]:
    """The per-class table as (title, frame) parts: the whole table up to :data:`TABLE_ALL` classes, else the
    ``shown`` worst and best classes by mean accuracy over ``heads`` (ties by class name)."""
    if len(per_class) <= TABLE_ALL or not heads:
        return [("", per_class)]
    ranked = per_class.assign(_mean=per_class[list(heads)].astype(float).mean(axis=1, skipna=True))
    ranked = ranked.sort_values(["_mean", "class"], ascending=[True, True], kind="stable", na_position="first")
    ranked = ranked.rename(columns={"_mean": "mean over heads"})
    cols = ["class", *[c for c in ranked.columns if c not in ("class", "mean over heads")], "mean over heads"]
    worst = ranked.head(shown)[cols].reset_index(drop=True)
    best = ranked.tail(shown).iloc[::-1][cols].reset_index(drop=True)
    return [(f"The {shown} worst classes", worst), (f"The {shown} best classes", best)]
