"""What a head's ``curve.csv`` means, by head kind: a torch head's training history (train and validation
loss per epoch, the restored epoch from ``metrics.json`` ``selected.epoch``), or a pooled/SVM head's
validation grid (one row per C, or C × γ, point; the chosen one from ``metrics.json`` ``selected``).

A grid is shown as a small table, never drawn as a curve. When curve.csv lacks the grid's columns (``C``,
``gamma``), they are rebuilt from the head's settings in the order the head tries them (C outer, γ inner).
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


def restored_epoch(head: HeadResult) -> int | None:
    """The epoch whose weights a torch head kept (repeat 0), from metrics.json; None when not recorded."""
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


def grid_table(head: HeadResult) -> pd.DataFrame | None:
    """Repeat 0's validation grid: C, γ (RBF only), validation accuracy and loss, and which point was chosen."""
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
