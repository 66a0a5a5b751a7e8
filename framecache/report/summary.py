"""summary.json: the report's flat numbers for ``dvc metrics show/diff`` and ``dvc exp show``."""

from __future__ import annotations

from typing import Any

from framecache.report.comparison import Comparison
from framecache.report.formatting import json_value

HEAD_KEYS = ("top1", "top1_low", "top1_high", "macro_f1", "order_pairs", "appearance")


def summary_metrics(cmp: Comparison) -> dict[str, Any]:
    """Flat numbers for ``dvc metrics show/diff`` and ``dvc exp show``."""
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    best = max(scored, key=lambda r: r["top1"])
    out: dict[str, Any] = {
        "best_head": best["head"],
        "best_test_top1": json_value(best["top1"]),
        "test_videos": len(cmp.test_ids),
        "heads_above_chance": sum(bool(r["above_chance"]) for r in scored),
    }
    if cmp.order_winner and cmp.order_winner.best:
        out["order_pairs_best_head"] = cmp.order_winner.best
        out["order_pairs_best"] = json_value(cmp.order_winner.interval.point)  # type: ignore[union-attr]
    if cmp.appearance_winner and cmp.appearance_winner.best:
        out["appearance_best_head"] = cmp.appearance_winner.best
        out["appearance_best"] = json_value(cmp.appearance_winner.interval.point)  # type: ignore[union-attr]
    out["heads"] = {r["head"]: {k: json_value(r.get(k)) for k in HEAD_KEYS if r.get(k) is not None} for r in scored}
    return out
