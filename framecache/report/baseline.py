"""Who the heads are measured against, and who wins: the order-blind baseline head (chosen on validation
accuracy, never on the test set it is then compared on) and the winner of a subset of test videos with the
heads statistically tied with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from framecache.errors import FramecacheError
from framecache.evaluation import statistics
from framecache.report.results import VAL, HeadResult, aligned

RULE_VALIDATION = (
    "the order-blind pooled head (pooled/SVM on mean, max, min or max-min pooling) with the best validation top-1"
)
RULE_TEST = "the order-blind pooled head with the best test top-1 (no validation predictions were available)"
RULE_NONE = "none: no order-blind pooled head (pooled/SVM on a static pooling) was trained"


@dataclass
class Baseline:
    name: str | None
    rule: str  # how it was chosen, in words for the report's method notes
    candidates: list[str]
    problem: str | None = None


@dataclass
class Winner:
    """The best head on a subset of test videos and the heads statistically tied with it."""

    subset: str
    best: str | None
    interval: statistics.Interval | None
    tied: list[str]
    baseline: str | None
    baseline_interval: statistics.Interval | None
    n_videos: int


def _val_top1(head: HeadResult) -> float | None:
    """Validation top-1 (mean over repeats) from the predictions, else from metrics.json, else None."""
    try:
        _, yv, pv = aligned(head, VAL, None)
    except FramecacheError:
        pv = np.zeros((0, 0, 0))
    if pv.size:
        return float(np.mean(np.argmax(pv, axis=2) == yv))
    if isinstance(head.metrics.get("val_top1"), int | float):
        return float(head.metrics["val_top1"])
    return None


def choose_baseline(usable: Sequence[HeadResult], correct: Mapping[str, np.ndarray]) -> Baseline:
    """The baseline among the usable heads (ties: first in ``train.heads``); ``correct`` is test correctness."""
    order = [h.name for h in usable]
    candidates = [h.name for h in usable if h.baseline_candidate]
    val_top1 = {h.name: v for h in usable if h.baseline_candidate and (v := _val_top1(h)) is not None}
    if val_top1:
        return Baseline(max(val_top1, key=lambda h: (val_top1[h], -order.index(h))), RULE_VALIDATION, candidates)
    if candidates:
        name = max(candidates, key=lambda h: (float(correct[h].mean()), -order.index(h)))
        return Baseline(
            name, RULE_TEST, candidates, "no validation predictions: the baseline head was chosen on the test set"
        )
    return Baseline(None, RULE_NONE, candidates)


def winner(
    subset: str,
    scores: dict[str, np.ndarray],
    weights: np.ndarray,
    confidence: float,
    order: Sequence[str],
    baselines: Sequence[str],
) -> Winner:
    """Best head by mean score (ties: first in ``train.heads``) and the heads whose paired-bootstrap CI of the
    difference to it includes zero."""
    n = len(next(iter(scores.values()))) if scores else 0
    if not scores or n == 0:
        return Winner(subset, None, None, [], None, None, n)
    means = {h: float(np.mean(s)) for h, s in scores.items()}
    best = max(order, key=lambda h: (means.get(h, -1.0), -order.index(h)))
    tied = [
        h
        for h in order
        if h in scores
        and h != best
        and statistics.paired_bootstrap(scores[best], scores[h], weights, confidence).diff.low <= 0
    ]
    base = [h for h in order if h in scores and h in baselines]
    top_base = max(base, key=lambda h: (means[h], -order.index(h))) if base else None
    return Winner(
        subset,
        best,
        statistics.mean_interval(scores[best], weights, confidence),
        tied,
        top_base,
        statistics.mean_interval(scores[top_base], weights, confidence) if top_base else None,
        n,
    )
