"""Which heads the report names, chosen on validation, never on the test set they are then reported on: the
winner of each subset of videos (all videos; the order-only pairs; the other classes), the order-blind head
shown for contrast, and the baseline every head is compared with.

Each head's validation predictions (predictions.csv rows with split ``val``) are scored on the same subset as
on test (within-pair accuracy for the pairs, top-1 otherwise); the best validation score wins, ties broken
by the lower validation log-loss and then by the order of ``train.heads``. Only when no candidate has
validation predictions is a head chosen on test, and the page says so. Against the chosen winner, every
other head is tested on test (paired cluster bootstrap), Holm-corrected within the subset's family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from framecache.errors import FramecacheError
from framecache.evaluation import intervals, statistics
from framecache.evaluation.design import GroupDesign
from framecache.evaluation.metrics import nll
from framecache.report.pairs import PairSpec, within_pair_correct
from framecache.report.results import VAL, HeadResult, aligned

ALL, PAIRS, OTHER = "all", "pairs", "other"
VALIDATION, TEST = "validation", "test"
RULE_VALIDATION = (
    "the order-blind pooled head (pooled/SVM on mean, max, min or max-min pooling) with the best validation top-1"
)
RULE_TEST = "the order-blind pooled head with the best test top-1 (no validation predictions were available)"
RULE_NONE = "none: no order-blind pooled head (pooled/SVM on a static pooling) was trained"


@dataclass
class Validation:
    """Each head's validation score per subset (absent where it has no validation videos) and log-loss."""

    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    loss: dict[str, float] = field(default_factory=dict)


def _val_arrays(head: HeadResult) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        _, y, proba = aligned(head, VAL, None)
    except FramecacheError:
        return None
    return (y, proba) if proba.size else None


def validation_scores(
    usable: Sequence[HeadResult], pairs: Sequence[PairSpec], pair_classes: Sequence[int]
) -> Validation:
    """Validation top-1 on all videos and on the non-pair classes, and within-pair accuracy on the pairs; a
    head without validation rows in predictions.csv (e.g. group k-fold, whose validation sets are carved out
    per fold) falls back to metrics.json's ``val_top1`` for all videos."""
    out = Validation()
    for h in usable:
        arrays = _val_arrays(h)
        if arrays is None:
            if isinstance(h.metrics.get("val_top1"), int | float):
                out.scores[h.name] = {ALL: float(h.metrics["val_top1"])}
                out.loss[h.name] = float(h.metrics.get("val_log_loss", np.inf))
            continue
        y, proba = arrays
        correct = (np.argmax(proba, axis=2) == y).astype(np.float64)  # (R, N)
        pair_mask, pair_correct = within_pair_correct(pairs, {h.name: proba}, y)
        other = ~np.isin(y, list(pair_classes))
        scores = {ALL: float(correct.mean())}
        if pair_mask.any():
            scores[PAIRS] = float(pair_correct[h.name][:, pair_mask].mean())
        if other.any() and pair_mask.any():
            scores[OTHER] = float(correct[:, other].mean())
        out.scores[h.name] = scores
        out.loss[h.name] = float(np.mean([nll(p, y) for p in proba]))
    return out


def choose(
    candidates: Sequence[str], subset: str, val: Validation, test_means: Mapping[str, float]
) -> tuple[str | None, str]:
    """(chosen head, "validation" or "test"): the best validation score, else the best test score."""
    order = list(candidates)
    on_val = [h for h in order if subset in val.scores.get(h, {})]
    if on_val:
        best = max(on_val, key=lambda h: (val.scores[h][subset], -val.loss.get(h, np.inf), -order.index(h)))
        return best, VALIDATION
    on_test = [h for h in order if h in test_means]
    if on_test:
        return max(on_test, key=lambda h: (test_means[h], -order.index(h))), TEST
    return None, TEST


@dataclass
class Baseline:
    name: str | None
    rule: str  # how it was chosen, in words for the report's method notes
    candidates: list[str]
    problem: str | None = None


def choose_baseline(usable: Sequence[HeadResult], val: Validation, test_top1: Mapping[str, float]) -> Baseline:
    """The order-blind pooled head every other head is contrasted with (Δ top-1, McNemar)."""
    candidates = [h.name for h in usable if h.baseline_candidate]
    name, on = choose(candidates, ALL, val, test_top1)
    if name is None:
        return Baseline(None, RULE_NONE, candidates)
    if on == TEST:
        return Baseline(name, RULE_TEST, candidates, "no validation predictions: the baseline head was chosen on test")
    return Baseline(name, RULE_VALIDATION, candidates)


@dataclass
class Winner:
    """The head chosen for a subset of test videos, its test interval, and how the others compare with it."""

    subset: str
    best: str | None
    chosen_on: str
    interval: statistics.Interval | None
    tied: list[str]  # not significantly different on test (Holm-adjusted paired cluster bootstrap)
    better: list[str]  # significantly better on test than the chosen head
    adjusted_p: dict[str, float]
    baseline: str | None  # the order-blind head for contrast, also chosen on validation
    baseline_interval: statistics.Interval | None
    n_videos: int
    n_groups: int
    # the best head that reads frame order (chosen on validation too) and its paired difference from the baseline
    temporal: str | None = None
    temporal_interval: statistics.Interval | None = None
    temporal_contrast: statistics.PairedBootstrap | None = None


def winner(
    subset: str,
    scores: dict[str, np.ndarray],
    design: GroupDesign,
    order: Sequence[str],
    baselines: Sequence[str],
    val: Validation,
    temporal: Sequence[str] = (),
) -> Winner:
    """Choose the subset's head on validation, then test every other head against it on test (Holm); contrast the
    best of the ``temporal`` heads (those that read frame order) with the best order-blind one of ``baselines``."""
    n = design.n_videos
    means = {h: float(np.mean(s)) for h, s in scores.items()}
    best, on = choose([h for h in order if h in scores], subset, val, means)
    if best is None or n == 0:
        return Winner(subset, None, on, None, [], [], {}, None, None, n, design.n_groups)
    others = [h for h in order if h in scores and h != best]
    tests = [design.contrast(scores[best], scores[h]) for h in others]
    adjusted = intervals.holm([t.p_value for t in tests])
    alpha = design.alpha
    tied = [h for h, p in zip(others, adjusted, strict=True) if p is not None and p >= alpha]
    better = [
        h for h, t, p in zip(others, tests, adjusted, strict=True) if p is not None and p < alpha and t.diff.point < 0
    ]
    base, _ = choose([h for h in order if h in scores and h in baselines], subset, val, means)
    found = Winner(
        subset, best, on, design.share(scores[best]), tied, better,
        {h: float(p) for h, p in zip(others, adjusted, strict=True) if p is not None},
        base, design.share(scores[base]) if base else None, n, design.n_groups,
    )  # fmt: skip
    aware, _ = choose([h for h in order if h in scores and h in temporal], subset, val, means)
    if aware is not None and base is not None:
        found.temporal, found.temporal_interval = aware, design.share(scores[aware])
        found.temporal_contrast = design.contrast(scores[aware], scores[base])
    return found
