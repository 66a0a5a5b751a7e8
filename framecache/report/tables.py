"""The report's tables as a reader sees them: formatted strings, one row per head (comparison, within-pair
accuracy) or per class. Markdown and HTML render the same frames; a cell's second line (an interval, a
p-value, counts) is separated by a newline so each format can show it its own way.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from framecache.evaluation import statistics
from framecache.report import formatting as fmt
from framecache.report.comparison import Comparison

METRIC_TITLES = {
    "top1": "top-1",
    "top5": "top-5",
    "mean_class_accuracy": "mean class acc.",
    "macro_f1": "macro-F1",
}


def _metric_cells(r: dict[str, Any], multi: bool, top5: bool) -> dict[str, str]:
    cells = {}
    for m, title in METRIC_TITLES.items():
        if m == "top5" and not top5:
            continue
        if r.get(m) is None:
            cells[title] = fmt.DASH
            continue
        cell = f"{100 * r[m]:.1f}"
        if multi and r.get(f"{m}_std") is not None:
            cell += f" ±{100 * r[f'{m}_std']:.1f}"
        cells[title] = cell + "\n" + fmt.bounds(r[f"{m}_low"], r[f"{m}_high"])
    return cells


def _contrast_cells(r: dict[str, Any]) -> dict[str, str]:
    """Δ top-1 against the baseline (paired bootstrap) and McNemar's p with its discordant counts."""
    if r.get("delta_top1") is None:
        return {
            "Δ top-1 vs baseline": "baseline" if r.get("baseline") == "(this head)" else fmt.DASH,
            "McNemar p": fmt.DASH,
        }
    return {
        "Δ top-1 vs baseline": (
            f"{100 * r['delta_top1']:+.1f}\n{fmt.bounds(r['delta_top1_low'], r['delta_top1_high'], signed=True)}"
        ),
        "McNemar p": (
            f"{fmt.p_value(r['mcnemar_p'])}\nHolm {fmt.p_value(r.get('mcnemar_p_holm'))}; "
            f"{r['mcnemar_head_only']} vs {r['mcnemar_baseline_only']}"
        ),
    }


def _cost_cells(r: dict[str, Any]) -> dict[str, str]:
    return {
        "fit s": fmt.DASH if r.get("fit_seconds") is None else f"{r['fit_seconds']:.2f}",
        "ms/video": fmt.DASH if r.get("inference_ms_per_video") is None else f"{r['inference_ms_per_video']:.2f}",
        "parameters": fmt.DASH if r.get("parameters") is None else f"{int(r['parameters']):,}",
    }


def display_table(cmp: Comparison) -> pd.DataFrame:
    """The comparison as a reader sees it: formatted strings, one row per head."""
    multi = any((r.get("repeats") or 0) > 1 for r in cmp.rows)
    out = []
    for r in cmp.rows:
        d: dict[str, str] = {"head": r["head"], "type": r["type"] + (" (order-blind)" if r["order_blind"] else "")}
        d.update(_metric_cells(r, multi, cmp.shows_top5))
        d["log-loss"] = fmt.DASH if r.get("log_loss") is None else f"{r['log_loss']:.3f}"
        d["above chance"] = (
            fmt.DASH if r.get("above_chance_p") is None
            else f"not tested\n{fmt.TOO_FEW_GROUPS}" if fmt.is_missing(r["above_chance_p"])
            else f"{'yes' if r['above_chance'] else 'no'}\nHolm p {fmt.p_relation(r['above_chance_p_holm'])}"
        )  # fmt: skip
        d.update(_contrast_cells(r))
        d.update(_cost_cells(r))
        if r["status"] != "ok":
            d["head"] += " (missing)"
        out.append(d)
    return pd.DataFrame(out)


def pair_table(cmp: Comparison) -> pd.DataFrame:
    """Within-pair accuracy: heads as rows, the pairs present in this dataset as columns."""
    heads = list(dict.fromkeys(r["head"] for r in cmp.pair_rows))
    data: dict[str, list[str]] = {"head": heads}
    for p in cmp.pairs:
        col = []
        for h in heads:
            r = next(x for x in cmp.pair_rows if x["head"] == h and x["pair"] == p.label)
            ok = r["status"] == "ok"
            col.append(fmt.ci(statistics.Interval(r["accuracy"], r["low"], r["high"])) if ok else r["status"])
        data[p.label] = col
    data["all pairs"] = [
        fmt.ci(statistics.Interval(cmp.row(h)["order_pairs"], cmp.row(h)["order_pairs_low"],
                                   cmp.row(h)["order_pairs_high"]))
        if cmp.row(h).get("order_pairs") is not None else fmt.DASH
        for h in heads
    ]  # fmt: skip
    return pd.DataFrame(data)


def per_class_table(cmp: Comparison) -> pd.DataFrame:
    """Per-class test accuracy: one row per class, one column per head (fractions, for the heat map)."""
    return pd.DataFrame(cmp.per_class_rows).rename(columns={"test_videos": "test videos"})
