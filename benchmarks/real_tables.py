"""The Markdown of BENCHMARKS.md's "Heads on real data" section, from what :mod:`benchmarks.heads_real` measured:
the head × dataset table before and after, the issue's goals checked, and the levers' ablation rows."""

from __future__ import annotations

import math
import os
import platform
from typing import Any

# name -> where the videos are (relative to the repository; None: the demo, written by the demo stage's code)
SETS: dict[str, dict[str, Any]] = {
    "weizmann64": {"path": "../shared/data/real/weizmann64", "title": "Weizmann-64"},
    "ud810": {"path": "../shared/data/real/ud810", "title": "ud810"},
    "demo": {"path": None, "title": "demo"},
}
TORCH = ("rnn", "lstm", "gru", "attention", "transformer")
PAIRS_GOAL = 0.94
STRETCH = 0.03


def _low(r: dict[str, Any]) -> float:
    """The lower end of the report's interval; with too few test groups for one (the report shows none), the
    lower end of the exact interval over videos taken as independent."""
    return r["exact"][0] if _no_group_interval(r) else r["top1_low"]


def _no_group_interval(r: dict[str, Any]) -> bool:
    low = r.get("top1_low")
    return low is None or math.isnan(low)


def _cell(r: dict[str, Any] | None, pairs: bool = False) -> str:
    if r is None:
        return "–"
    if _no_group_interval(r):
        lo, hi = r["exact"]
        text = f"{100 * r['top1']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]†"
    else:
        text = f"{100 * r['top1']:.1f} [{100 * r['top1_low']:.1f}, {100 * r['top1_high']:.1f}]"
    if pairs and r.get("order_pairs") is not None:
        text += f" · pairs {100 * r['order_pairs']:.1f}"
    return text


def _best_blind(rows: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return max(((h, r) for h, r in rows.items() if r["order_blind"]), key=lambda hr: hr[1]["top1"])


def _best_lever(variants: dict[str, Any], head: str, key: str) -> str:
    """Where a goal is missed: the lever row that gives ``head`` its best ``key`` on the set, as a reason to read."""
    rows = [(v, r[head][key]) for v, r in variants.items() if v not in ("before", "after") and r.get(head)]
    rows = [(v, x) for v, x in rows if x is not None]
    if not rows:
        return ""
    v, x = max(rows, key=lambda vx: vx[1])
    if x <= variants["after"][head][key]:
        return "; no lever row does better"
    return f"; best lever row {v} {100 * x:.1f}"


def _goal_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for ds, variants in results.items():
        after = variants.get("after")
        if not after:
            continue
        blind, b = _best_blind(after)
        torch = {h: r for h, r in after.items() if h in TORCH}
        title = SETS[ds]["title"]
        if ds == "demo":
            low = [f"{h} {100 * r['order_pairs']:.1f} ({_best_lever(variants, h, 'order_pairs').lstrip('; ')})"
                   for h, r in torch.items() if r["order_pairs"] < PAIRS_GOAL]  # fmt: skip
            best_t = max(torch.items(), key=lambda hr: hr[1]["top1"])
            lines.append(
                f"- {title}: within the reversal pairs, every torch head ≥ {100 * PAIRS_GOAL:.0f}%: "
                + ("**met**" if not low else f"**missed** by {', '.join(low)}")
                + f"; best temporal head {best_t[0]} {100 * best_t[1]['top1']:.1f} vs best order-blind {blind} "
                f"{100 * b['top1']:.1f}: **{'met' if best_t[1]['top1'] >= b['top1'] else 'missed'}**."
            )
            continue
        short = {h: r for h, r in torch.items() if r["top1"] < _low(b)}
        far = {h: r for h, r in torch.items() if r["top1"] < b["top1"] - STRETCH - 1e-9}
        lines.append(
            f"- {title}: every torch head ≥ {100 * _low(b):.1f} (lower end of {blind}'s interval"
            + ("†" if _no_group_interval(b) else "") + "): "
            + ("**met**" if not short else "**missed** by " + ", ".join(
                f"{h} ({100 * (_low(b) - r['top1']):.1f} points{_best_lever(variants, h, 'top1')})"
                for h, r in short.items()))
            + f"; stretch, within {100 * STRETCH:.0f} points of {blind} ({100 * b['top1']:.1f}): "
            + ("**met**" if not far else "**missed** by " + ", ".join(
                f"{h} ({100 * (b['top1'] - STRETCH - r['top1']):.1f}{_best_lever(variants, h, 'top1')})"
                for h, r in far.items()))
            + "."
        )  # fmt: skip
    return lines


def _lever_table(ds: str, variants: dict[str, Any]) -> list[str]:
    pairs = ds == "demo"
    head = "| row | " + " | ".join(TORCH) + " | fit s per model (5 heads) |"
    lines = [f"**{SETS[ds]['title']}**" + (" (top-1 · within-pair accuracy)" if pairs else " (top-1)"), "", head,
             "| --- | " + " | ".join("---:" for _ in TORCH) + " | ---: |"]  # fmt: skip
    for variant, rows in variants.items():
        cells = []
        for h in TORCH:
            r = rows.get(h)
            cells.append("–" if r is None else f"{100 * r['top1']:.1f}" + (
                f" · {100 * r['order_pairs']:.1f}" if pairs and r.get("order_pairs") is not None else ""))  # fmt: skip
        fit = sum(rows[h]["fit_seconds"] for h in TORCH if h in rows)
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {fit:.0f} |")
    return [*lines, ""]


def render(
    results: dict[str, dict[str, Any]],
    params: Any,
    levers: dict[str, dict[str, Any]],
    command: str,
    seconds: float,
    loads: tuple[float, float],
) -> str:
    sets = [ds for ds in SETS if ds in results]
    heads = list(params["train"]["heads"])
    lines = [
        "## Heads on real data: every head under group k-fold, the torch recipe before and after",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, `train.cpu_threads` = "
        f"{params['train']['cpu_threads']}; load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end; "
        f"{seconds / 60:.0f} min (cached fits are not retrained). Every number: top-1 (%) out of fold "
        f"(`train.evaluation: group_kfold`, {params['train']['folds']} folds or one per group when fewer; "
        "Weizmann-64: 72 videos, groups = mirrored twins; ud810: 27 videos, groups = 3 persons, so 3 folds; demo: "
        "240 videos), with the report's 95% interval (exact, widened by the cluster bootstrap over groups; † where the "
        "test videos fall into fewer groups than a group-level interval needs, 6 at 95%, so the report shows none: "
        "ud810's 3 persons. There the exact Clopper-Pearson interval over videos taken as independent is shown, "
        "which is narrower than an honest one for grouped videos); on the demo also the accuracy within its three "
        "reversal pairs. `before`: the torch heads as params.yaml had them before issue 19; `after`: today's "
        "defaults. The order-blind heads are the same in both.",
        "",
        "| head | " + " | ".join(f"{SETS[ds]['title']} before | {SETS[ds]['title']} after" for ds in sets) + " |",
        "| --- | " + " | ".join("---: | ---:" for _ in sets) + " |",
    ]
    for h in heads:
        cells = [c for ds in sets for c in (_cell(results[ds].get("before", {}).get(h), ds == "demo"),
                                            _cell(results[ds].get("after", {}).get(h), ds == "demo"))]  # fmt: skip
        lines.append(f"| {h} | " + " | ".join(cells) + " |")
    lines += ["", "Goals (issue 19), with today's defaults:", "", *_goal_lines(results), ""]
    lines += ["### Levers: today's defaults with one setting changed", "",
              "Today's torch recipe: `residual_pooling: max` (a frozen pool_max-style logistic regression inside the "
              "net, which starts as that pooled head and keeps it unless an epoch lowers the validation loss), "
              "`readout: [last, mean, max]` (transformer `[mean, max]`), no dropout grid (one fit per model), "
              "`patience: 5`. Each row below changes one setting from it ("
              + "; ".join(f"`{k}`: {v}" for k, v in levers.items())
              + "); the demo, whose folds cost the most, runs only the rows in its table. Fit seconds: "
              "the mean per fitted model (folds and the refit), summed over the five torch heads.", ""]  # fmt: skip
    for ds in sets:
        lines += _lever_table(ds, results[ds])
    return "\n".join(lines)
