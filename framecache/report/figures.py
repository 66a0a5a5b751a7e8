"""The report's plots as PNG files: a confusion matrix per head and a loss curve per torch head.

Deterministic bytes: no timestamps or version stamps in the PNG metadata, so the same inputs give the
same files (and ``dvc repro`` twice is a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

# Headless: the report stage runs on servers and in CI without a display.
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay

from framecache.fileio import atomic_path


def _save(fig: Any, path: Path) -> None:
    # Fixed metadata: matplotlib would otherwise stamp its version, changing bytes across installs.
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str, path: Path) -> None:
    n = len(classes)
    size = min(3.0 + 0.32 * n, 18.0)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(n)), display_labels=list(classes), ax=ax, colorbar=False,
        include_values=n <= 30, xticks_rotation="vertical", cmap="Blues",
    )  # fmt: skip
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_curve(curve: pd.DataFrame, title: str, path: Path, restored: int | None = None) -> bool:
    """A torch head's train and validation loss per epoch (and validation accuracy), one line per repeat, the
    restored epoch of repeat 0 marked; False when there is nothing to plot."""
    if curve["step"].nunique() < 2:
        return False
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    for r, part in curve.sort_values(["repeat", "step"]).groupby("repeat"):
        first = r == curve["repeat"].min()
        alpha = 1.0 if first else 0.35
        for col, colour, name in (
            ("train_loss", "tab:blue", "train loss"),
            ("val_loss", "tab:orange", "validation loss"),
        ):
            if col in part and part[col].notna().any():
                ax_loss.plot(part["step"], part[col], color=colour, alpha=alpha, label=name if first else None)
        if "val_accuracy" in part and part["val_accuracy"].notna().any():
            ax_acc.plot(part["step"], part["val_accuracy"], color="tab:green", alpha=alpha)
    if restored is not None:
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
