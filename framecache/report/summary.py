"""summary.json: the report's flat numbers for ``dvc metrics show/diff`` and ``dvc exp show``."""

from __future__ import annotations

from typing import Any

from framecache.report.comparison import Comparison
from framecache.report.formatting import json_value
from framecache.report.selection import ALL, OTHER, PAIRS

HEAD_KEYS = ("top1", "top1_low", "top1_high", "macro_f1", "order_pairs", "appearance")


def summary_metrics(cmp: Comparison) -> dict[str, Any]:
    """Flat numbers for ``dvc metrics show/diff`` and ``dvc exp show``; the named heads are chosen on validation
    (``*_chosen_on`` says "test" where no validation predictions existed)."""
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    overall = cmp.winners[ALL]
    best = cmp.row(overall.best) if overall.best else max(scored, key=lambda r: r["top1"])
    out: dict[str, Any] = {
        "best_head": best["head"],
        "best_head_chosen_on": overall.chosen_on,
        "best_test_top1": json_value(best["top1"]),
        "test_videos": len(cmp.test_ids),
        "test_groups": cmp.n_groups,
        # null when no head could be tested (too few test groups): "0 heads above chance" would be a claim
        "heads_above_chance": sum(bool(r.get("above_chance")) for r in scored)
        if any(r.get("above_chance_p_holm") is not None for r in scored)
        else None,
    }
    for key, prefix in ((PAIRS, "order_pairs"), (OTHER, "appearance")):
        w = cmp.winners.get(key)
        if w and w.best and w.interval:
            out[f"{prefix}_best_head"] = w.best
            out[f"{prefix}_best"] = json_value(w.interval.point)
    out["heads"] = {r["head"]: {k: json_value(r.get(k)) for k in HEAD_KEYS if r.get(k) is not None} for r in scored}
    return out
