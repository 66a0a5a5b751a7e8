"""The figures train@<head> draws next to its outputs (``plots/`` in the head's folder, names from
:mod:`framecache.layout`): the confusion matrix of its test predictions, and for a torch head its training curve
(train and validation loss per epoch, validation accuracy, the restored epoch marked).

The report assembles these files instead of redrawing every head on every change; it may also call these
functions itself. Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global state;
matplotlib is imported on first use), with fixed PNG metadata so the same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from framecache.fileio import atomic_path


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _save(fig: Any, path: Path) -> None:
    # no version stamp in the metadata: the bytes depend on the inputs only
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts: row = true class, column = predicted class."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return counts


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str, path: Path) -> None:
    """The confusion matrix as a PNG: counts, rows true class, columns predicted (values shown up to 30 classes)."""
    n = len(classes)
    counts = confusion_counts(y_true, y_pred, n)
    size = min(3.0 + 0.32 * n, 18.0)
    fig = _figure(size, size * 0.9)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, int(counts.max())))
    if n <= 30:
        half = counts.max() / 2
        for (i, j), c in np.ndenumerate(counts):
            ax.text(j, i, str(c), ha="center", va="center", color="white" if c > half else "black", fontsize=8)
    ax.set_xticks(range(n), list(classes), rotation=90)
    ax.set_yticks(range(n), list(classes))
    ax.set(xlabel="predicted label", ylabel="true label", title=title)
    fig.tight_layout()
    _save(fig, path)


def plot_curve(history: Sequence[dict[str, Any]], restored: int | None, title: str, path: Path) -> bool:
    """A training curve as a PNG: train and validation loss per epoch, validation accuracy, the restored epoch
    marked; False (nothing written) with fewer than two epochs."""
    if len(history) < 2:
        return False
    step = [h["step"] for h in history]
    fig = _figure(9, 3.4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(step, [h["train_loss"] for h in history], color="tab:blue", label="train loss")
    ax_loss.plot(step, [h["val_loss"] for h in history], color="tab:orange", label="validation loss")
    acc = [h.get("val_accuracy", float("nan")) for h in history]
    if np.any(np.isfinite(acc)):
        ax_acc.plot(step, acc, color="tab:green")
    if restored is not None:  # epoch 0: a torch head that kept its residual pooled head
        for ax in (ax_loss, ax_acc):
            ax.axvline(restored, color="black", linestyle="--", linewidth=1,
                       label=f"restored epoch {restored}" if ax is ax_loss else None)  # fmt: skip
    ax_loss.set(xlabel="epoch", ylabel="loss", title=f"{title}: loss per epoch")
    ax_loss.legend(loc="upper right", fontsize="small")
    ax_acc.set(xlabel="epoch", ylabel="val accuracy", title=f"{title}: validation accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    return True
