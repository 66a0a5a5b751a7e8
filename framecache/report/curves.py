"""What a head's training records mean, by head kind: a torch head's training history (train and validation
loss per epoch, the restored epoch marked), and the candidates validation chose among (a pooled/SVM head's C,
or C × γ, grid; a torch head's settings grid when it has one), shown as a small table, never drawn as a curve.

The candidates come from ``selection.csv`` (one row per candidate, ``chosen`` = 1 on the kept one) when the
train stage writes it; from an older train stage, a pooled/SVM head's ``curve.csv`` is its grid: C and γ are
then rebuilt from the head's settings in the order the head tries them (C outer, γ inner), the chosen point
from ``metrics.json`` ``selected``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from framecache import heads as registry
from framecache.report import formatting as fmt
from framecache.report.results import HeadResult

GRID_KEYS = ("C", "gamma")


SCORE_COLUMNS = ("train_loss", "val_loss", "val_accuracy", "chosen")
KEY_COLUMNS = ("repeat", "fold", "step")
TITLES = {"gamma": "γ", "weight_decay": "weight decay", "epoch": "restored epoch", "epochs_run": "epochs run"}


def restored_epoch(head: HeadResult) -> int | None:
    """The epoch whose weights a torch head kept (first curve in the file): the curve's ``restored`` flag, else
    metrics.json ``selected.epoch``; None when neither records it."""
    curve = head.curve
    if curve is not None and "restored" in curve.columns and len(curve):
        first = curve[(curve["repeat"] == curve["repeat"].min()) & (curve["restored"] == 1)]
        if len(first):
            return int(first["step"].iloc[0])
    selected = head.metrics.get("selected")
    if isinstance(selected, dict) and isinstance(selected.get("epoch"), int | float) and selected["epoch"] > 0:
        return int(selected["epoch"])
    return None


def _grid_points(head: HeadResult) -> list[dict[str, float]] | None:
    """The head's grid, in the order it tries it (as SVMHead/PooledHead ``_candidates``)."""
    try:
        settings = registry.settings_of(head.config or {"type": head.type})
    except Exception:  # an unreadable config must not break the report: the table then lacks C/γ
        return None
    cs = [float(c) for c in getattr(settings, "C_grid", [])]
    if getattr(settings, "kernel", "linear") == "rbf":
        return [{"C": c, "gamma": float(g)} for c, g in itertools.product(cs, settings.gamma_grid)]
    return [{"C": c} for c in cs]


def _chosen_step(rows: pd.DataFrame, head: HeadResult) -> int | None:
    selected = head.metrics.get("selected")
    keys = [k for k in GRID_KEYS if k in rows.columns]
    if isinstance(selected, dict) and keys and all(k in selected for k in keys):
        match = np.all([np.isclose(rows[k].astype(float), float(selected[k])) for k in keys], axis=0)
        if match.any():
            return int(rows.loc[match, "step"].iloc[0])
    if rows["val_accuracy"].isna().all():
        return None
    # the heads' selection rule: best validation accuracy, then lower validation loss, then the earlier point
    order = rows.assign(_loss=rows["val_loss"].fillna(np.inf))
    order = order.sort_values(["val_accuracy", "_loss", "step"], ascending=[False, True, True])
    return int(order["step"].iloc[0])


def _one_fit(selection: pd.DataFrame) -> pd.DataFrame:
    """The candidates of one fitted model: repeat 0's; under group k-fold the refitted model's, else fold 0's."""
    rows = selection[selection["repeat"] == selection["repeat"].min()]
    if "fold" in rows.columns:
        folds = rows["fold"].fillna("").astype(str)
        pick = "refit" if (folds == "refit").any() else ("" if (folds == "").any() else sorted(set(folds))[0])
        rows = rows[folds == pick]
    return rows.sort_values("step").reset_index(drop=True)


def selection_table(head: HeadResult) -> pd.DataFrame | None:
    """The candidates of selection.csv (one fitted model): their settings, validation scores, the chosen one."""
    if head.selection is None or len(head.selection) < 2:
        return None
    rows = _one_fit(head.selection)
    out: dict[str, Any] = {}
    for c in rows.columns:
        if c not in (*KEY_COLUMNS, *SCORE_COLUMNS) and rows[c].notna().any():
            out[TITLES.get(c, c)] = [fmt.DASH if fmt.is_missing(v) else f"{v:g}" for v in rows[c]]
    if "val_accuracy" in rows.columns:
        out["validation accuracy"] = [fmt.pct(v) for v in rows["val_accuracy"]]
    if "val_loss" in rows.columns:
        out["validation loss"] = [fmt.DASH if fmt.is_missing(v) else f"{v:.3f}" for v in rows["val_loss"]]
    out["chosen"] = ["✓" if v == 1 else "" for v in rows["chosen"]]
    return pd.DataFrame(out)


def grid_table(head: HeadResult) -> pd.DataFrame | None:
    """What validation chose among: selection.csv when written, else a pooled/SVM head's grid in curve.csv
    (repeat 0: C, γ for RBF, validation accuracy and loss, which point was chosen)."""
    if head.selection is not None:
        return selection_table(head)
    if not head.grid_search:
        return None
    curve = head.curve
    if curve is None or not len(curve):
        return None
    rows = curve[curve["repeat"] == curve["repeat"].min()].sort_values("step").reset_index(drop=True)
    rows = rows.assign(**{c: np.nan for c in ("val_accuracy", "val_loss") if c not in rows.columns})
    if not all(k in rows.columns for k in GRID_KEYS[:1]):
        points = _grid_points(head)
        if points is not None and len(points) == len(rows):
            rows = pd.concat([rows, pd.DataFrame(points)], axis=1)
    chosen = _chosen_step(rows, head)
    out: dict[str, Any] = {}
    for k, title in (("C", "C"), ("gamma", "γ")):
        if k in rows.columns and rows[k].notna().any():
            out[title] = [f"{v:g}" for v in rows[k].astype(float)]
    out["validation accuracy"] = [fmt.pct(v) for v in rows["val_accuracy"]]
    out["validation loss"] = [fmt.DASH if fmt.is_missing(v) else f"{v:.3f}" for v in rows["val_loss"]]
    out["chosen"] = ["✓" if int(s) == chosen else "" for s in rows["step"]]
    return pd.DataFrame(out)
