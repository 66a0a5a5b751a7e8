"""The report's sentences: the headline conclusions (who wins on the order-only pairs and on the appearance
classes, who beats chance) and the method notes that say how every number was computed.

Plain text with Markdown emphasis (``**head**``) on head names; the page turns the emphasis into bold.
"""

from __future__ import annotations

from framecache.report import formatting as fmt
from framecache.report.baseline import Winner
from framecache.report.comparison import Comparison


def _winner_line(w: Winner | None, what: str, metric: str, conf: str) -> str:
    if w is None or w.best is None:
        return f"No test videos of {what}: no winner to name."
    s = f"On {what}, {w.n_videos} test videos, **{w.best}** wins: {metric} {fmt.ci(w.interval)} ({conf} CI)"
    if w.tied:
        s += f"; statistically tied with it (paired bootstrap CI of the difference includes 0): {', '.join(w.tied)}"
    else:
        s += "; every other head is significantly worse (paired bootstrap)"
    s += "."
    if w.baseline and w.baseline != w.best:
        s += f" Best order-blind head here: {w.baseline}, {fmt.ci(w.baseline_interval)}."
    return s


def headline(cmp: Comparison) -> list[str]:
    """The report's conclusions in plain sentences (Markdown emphasis on head names)."""
    conf = f"{100 * cmp.settings['confidence']:g}%"
    ok_pairs = [p.label for p in cmp.pairs if p.status == "ok"]
    lines = [
        _winner_line(cmp.order_winner, f"the order-only pairs ({', '.join(ok_pairs)})", "within-pair accuracy", conf),
        _winner_line(cmp.appearance_winner, f"the appearance classes ({', '.join(cmp.appearance_classes)})",
                     "accuracy", conf),
    ]  # fmt: skip
    if not ok_pairs:
        lines.append("None of the class pairs in report.class_pairs is present in this dataset.")
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    best = max(scored, key=lambda r: r["top1"])
    above = [r["head"] for r in scored if r["above_chance"]]
    lines.append(
        f"Best overall test top-1: **{best['head']}** {fmt.pct(best['top1'])} "
        f"[{100 * best['top1_low']:.1f}, {100 * best['top1_high']:.1f}]. "
        f"{len(above)} of {len(scored)} heads are above chance ({fmt.pct(cmp.chance)}, one-sided binomial test, "
        f"p < {1 - cmp.settings['confidence']:.2g})."
    )
    return lines


def methods_text(cmp: Comparison) -> list[str]:
    """How the intervals, the chance test, the baseline contrast, within-pair accuracy and winners are computed."""
    s = cmp.settings
    conf = f"{100 * s['confidence']:g}%"
    return [
        f"Intervals: {conf} percentile bootstrap over the {len(cmp.test_ids)} test videos, {s['bootstrap']} "
        f"resamples seeded with params seed = {s['seed']}; every head is scored on the same resamples. With "
        "several training repeats a metric is the mean over repeats (± its standard deviation across repeats) "
        "and each resample scores every repeat on the same videos.",
        f"Above chance: one-sided exact binomial test of repeat 0's test top-1 against the chance rate "
        f"{fmt.pct(cmp.chance)} (the largest test-class share, at least 1/C: what always guessing one class "
        f"scores), at level {1 - s['confidence']:.2g}.",
        f"Baseline: {cmp.baseline_rule}"
        + (f" — {cmp.baseline}." if cmp.baseline else ".")
        + " Δ top-1 is the paired bootstrap difference (head − baseline) of repeat-mean correctness; McNemar p is "
        "the exact two-sided McNemar test (binomial on discordant videos, not mid-p) on repeat 0, under it "
        "the discordant counts: videos only this head got right vs only the baseline.",
        "Within-pair accuracy: over test videos whose true class is a or b, the prediction is whichever of p(a) "
        "and p(b) is larger, so it measures telling the two apart regardless of other classes. Appearance "
        "accuracy is ordinary top-1 on test videos of classes in no pair.",
        "Winners: the head with the highest mean; tied heads are those whose paired bootstrap interval of the "
        "difference to the winner includes 0.",
    ]
