"""The report's sentences: the headline conclusions (which head validation chose for the dataset's classes,
and for the order-only pairs and the other classes when pairs are configured and present; who beats chance)
and the method notes that say how every number was computed and every head was chosen.

Plain text with Markdown emphasis (``**head**``) on head names; the page turns the emphasis into bold. Pair
wording appears only when the dataset has some of ``report.class_pairs``.
"""

from __future__ import annotations

from collections.abc import Sequence

from framecache.evaluation.intervals import min_groups
from framecache.report import formatting as fmt
from framecache.report.comparison import Comparison
from framecache.report.selection import ALL, OTHER, PAIRS, VALIDATION, Winner

LISTED = 12  # classes named in a sentence; more are only counted (the per-class table names them)


def _named(listed: str, counted: str, items: Sequence[str]) -> str:
    """``listed (a, b, c)`` for a few items; for more than :data:`LISTED`, ``counted`` alone, so a headline
    reads the same at 101 classes."""
    return f"{listed} ({', '.join(items)})" if len(items) <= LISTED else counted


def _groups(n: int) -> str:
    return f"{n} group{'' if n == 1 else 's'}"


def _videos(w: Winner) -> str:
    return f"{w.n_videos} test videos in {_groups(w.n_groups)}"


def _too_few(groups: int, needed: int) -> str:
    """Why nothing that resamples groups is shown: the rule of evaluation.intervals.min_groups, in words."""
    return (
        f"with {_groups(groups)} no group-level interval or test can be computed (an exact test over groups needs "
        f"at least {needed} to reach significance), so no head is called better or worse than another"
    )


def _winner_line(w: Winner, what: str, metric: str, conf: str, needed: int) -> str:
    chosen = (
        f"chosen on validation {metric}" if w.chosen_on == VALIDATION
        else f"chosen on test {metric}, as no head has validation predictions: this choice flatters it"
    )  # fmt: skip
    shown = fmt.ci(w.interval) + ("" if w.interval is None or fmt.is_missing(w.interval.low) else f" ({conf} CI)")
    s = f"On {what}, {_videos(w)}: **{w.best}** ({chosen}) scores {shown}"
    family = len(w.adjusted_p)
    if w.n_groups < needed:
        s += "; " + _too_few(w.n_groups, needed)
    elif w.tied:
        s += (
            f"; not significantly different on test (paired cluster bootstrap, Holm over {family}): {', '.join(w.tied)}"
        )
    elif family:
        s += f"; every other head differs significantly on test (paired cluster bootstrap, Holm over {family})"
    if w.better:
        s += f"; significantly better on test than this choice: {', '.join(w.better)}"
    s += "."
    if w.baseline and w.baseline != w.best:
        s += f" Best order-blind head here (chosen the same way): {w.baseline}, {fmt.ci(w.baseline_interval)}."
    return s + _order_line(w, conf, needed)


def _order_line(w: Winner, conf: str, needed: int) -> str:
    """Does reading frame order pay on these videos? The best head that reads it against the best order-blind one
    (both chosen on validation), and whether their difference is within its interval (zero inside it); with too
    few groups for an interval, only the difference, and no verdict."""
    if w.temporal_contrast is None:
        return ""
    d = w.temporal_contrast.diff
    kind = "an advantage" if d.point >= 0 else "a deficit"
    against = (
        f" Frame order: the best head that reads it, {w.temporal} ({fmt.ci(w.temporal_interval)}), against "
        f"{w.baseline}: {kind} of {100 * d.point:+.1f} points"
    )
    if w.n_groups < needed or fmt.is_missing(d.low) or fmt.is_missing(d.high):
        return (
            f"{against}, with no interval ({_groups(w.n_groups)}: too few groups), so these videos cannot tell "
            "whether reading frame order pays."
        )
    within = d.low <= 0 <= d.high
    verdict = (
        "within the interval, so these videos show no difference between reading frame order and pooling"
        if within
        else ("beyond the interval: reading frame order pays here" if d.point > 0 else "beyond the interval: "
              "the order-blind head does better here")
    )  # fmt: skip
    return f"{against} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] (paired cluster bootstrap, {conf} CI), {verdict}."


def headline(cmp: Comparison) -> list[str]:
    """The report's conclusions in plain sentences (Markdown emphasis on head names)."""
    conf = f"{100 * cmp.settings['confidence']:g}%"
    needed = min_groups(cmp.settings["confidence"])
    lines = []
    if PAIRS in cmp.winners:
        pairs = _named("the order-only pairs", f"the {len(cmp.pairs)} order-only pairs", [p.label for p in cmp.pairs])
        lines.append(_winner_line(cmp.winners[PAIRS], pairs, "within-pair accuracy", conf, needed))
    if OTHER in cmp.winners:
        other = _named("the appearance classes", f"the {len(cmp.other_classes)} appearance classes", cmp.other_classes)
        lines.append(_winner_line(cmp.winners[OTHER], other, "top-1", conf, needed))
    if ALL in cmp.winners:
        what = _named(
            f"the dataset's {len(cmp.classes)} classes", f"the dataset's {len(cmp.classes)} classes", cmp.classes
        )
        lines.append(_winner_line(cmp.winners[ALL], what, "top-1", conf, needed))
    scored = [r for r in cmp.rows if r["status"] == "ok"]
    if scored and all(fmt.is_missing(r.get("above_chance_p")) for r in scored):
        lines.append(
            f"Above chance ({fmt.pct(cmp.chance)}) is not tested: the test videos fall in {_groups(cmp.n_groups)}, "
            f"and a group-level test needs at least {needed}."
        )
        return lines
    above = [r["head"] for r in scored if r.get("above_chance")]
    grouped = ", with groups the larger of it and the cluster-bootstrap p" if cmp.grouped else ""
    lines.append(
        f"{len(above)} of {len(scored)} heads are above chance ({fmt.pct(cmp.chance)}; one-sided exact binomial "
        f"test{grouped}; Holm-adjusted over the {len(scored)} heads, p < {1 - cmp.settings['confidence']:.2g})."
    )
    return lines


def _intervals_note(cmp: Comparison, conf: str) -> str:
    s = cmp.settings
    n, g = len(cmp.test_ids), cmp.n_groups
    text = (
        f"Intervals ({conf}) over {n} test videos in {_groups(g)} (prepare's manifest `group`; a video without one "
        "is its own group). Shares of videos (top-1"
        + (", top-5" if cmp.shows_top5 else "")
        + (", within-pair and appearance accuracy" if cmp.has_pairs else "")
        + ") get the exact Clopper-Pearson interval (scipy binomtest, method exact; a repeat-mean share uses "
        "the same beta quantiles at its fractional count), which holds at any n and is never zero-width. "
    )
    if cmp.grouped:
        text += (
            "Because some groups hold several videos, which are not independent, each such interval is widened "
            "to the hull of Clopper-Pearson and a cluster-bootstrap percentile interval that resamples whole "
            "groups. "
        )
    needed = min_groups(s["confidence"])
    if g < needed:
        text += (
            f"With fewer than {needed} groups (the fewest at which an exact two-sided sign test over groups can "
            f"reach p < {1 - s['confidence']:.2g}), a bootstrap over groups has too little spread to mean anything: "
            f"{'intervals of grouped videos, ' if cmp.grouped else ''}bootstrap intervals and tests show "
            f"“{fmt.TOO_FEW_GROUPS}” and claim nothing; the McNemar column's exact test still holds. "
        )
    if cmp.out_of_fold:
        text += f"Evaluation: {cmp.out_of_fold}. "
    if cmp.evaluation_reason:
        text += f"Protocol: {cmp.evaluation_reason}. "
    return text + (
        f"Mean class accuracy, macro-F1 and differences between heads come from a percentile bootstrap that "
        f"resamples groups ({s['bootstrap']} resamples, seed = {s['seed']}; every head on the same resamples); "
        "mean class accuracy and macro-F1 are widened to contain the exact interval of the same share at this n. "
        "With several training repeats a metric is the mean over repeats, ± its sample standard deviation "
        "(ddof=1, as in the train stage's metrics.json)."
    )


def methods_text(cmp: Comparison) -> list[str]:
    """How intervals, tests, corrections and every named head were computed and chosen."""
    conf = f"{100 * cmp.settings['confidence']:g}%"
    alpha = f"{1 - cmp.settings['confidence']:.2g}"
    group_level = (
        " With groups, the p-value is the larger of the exact binomial p and the one-sided cluster-bootstrap p."
        if cmp.grouped else ""
    )  # fmt: skip
    notes = [
        _intervals_note(cmp, conf),
        f"Above chance: one-sided exact binomial test of repeat 0's test top-1 against {fmt.pct(cmp.chance)} (the "
        f"largest test-class share, at least 1/C: what always guessing one class scores).{group_level} Holm's "
        f"correction over the family of all scored heads (above_chance_p_holm in comparison.csv), level {alpha}.",
        f"Baseline: {cmp.baseline_rule}"
        + (f" — {cmp.baseline}." if cmp.baseline else ".")
        + " Δ top-1 is the paired cluster-bootstrap difference (head − baseline) of repeat-mean correctness; "
        "McNemar p is the exact two-sided test on repeat 0"
        + (", at group level: a sign test over the groups where the two heads' mean correctness differs (under it "
           "the counts of such groups favouring each head)" if cmp.grouped
           else " (binomial on discordant videos, under it the counts: only this head right vs only the baseline)")
        + ". Holm-adjusted p-values over the family of heads compared with the baseline are in comparison.csv.",
        "Choices: every head named in the headline, and the order-blind head shown for contrast, is chosen on "
        "validation (the val rows of predictions.csv, scored on the same subset of classes; ties: lower "
        "validation log-loss, then train.heads order), never on the test set it is reported on; the headline "
        "says so where no validation predictions existed and a head had to be chosen on test. Heads not "
        f"significantly different from the chosen one: paired cluster bootstrap p ≥ {alpha} after Holm's "
        "correction over that subset's family (every other head).",
    ]  # fmt: skip
    if cmp.has_pairs:
        notes.append(
            "Within-pair accuracy: over test videos whose true class is a or b, the prediction is whichever of "
            "p(a) and p(b) is larger, so it measures telling the two apart regardless of other classes. "
            "Appearance accuracy is ordinary top-1 on test videos of classes in no pair."
        )
    return notes
