"""Intervals and tests that hold at any test-set size and respect groups of related videos.

* A share of videos (top-1, top-5, within-pair accuracy...) gets the exact Clopper-Pearson interval, which
  covers the true rate at least as often as it claims for every n (16 of 16 right gives [79.4, 100], never a
  zero-width [100, 100]).
* Videos of one group (the clips cut from one source, one person, a mirrored twin) are not independent. When
  the test set has groups, a share gets the *hull* of the exact interval and the percentile interval of a
  **cluster bootstrap** (resampling whole groups): as wide as the groups make it, never narrower than the
  exact interval of independent videos. Statistics that are not shares of videos (differences between
  heads, mean class accuracy, macro-F1) come from the cluster bootstrap alone, widened for scores in [0, 1]
  to contain the exact interval of the same share (:func:`widened`).
* Tests: the above-chance test with groups takes the larger of the exact binomial p and the one-sided
  cluster-bootstrap p; McNemar's test with groups becomes an exact sign test over groups (a group counts for
  the head whose mean correctness on it is higher), which is McNemar's test when every group is one video.
* A family of tests (every head against chance; every head against the winner) is corrected with Holm's
  step-down method (:func:`holm`).
* Too few groups: a cluster bootstrap over G groups has at most G distinct clusters to draw (over one group,
  no spread at all: Δ +25 [+25, +25], p = 1/B), so with fewer groups than :func:`min_groups` the group-level
  intervals and tests are not computed (:class:`~framecache.evaluation.design.GroupDesign` gives NaN bounds and
  p-values, which claim nothing); the exact sign test over groups still holds and is still given.

Groups are given as integer codes per video (:func:`group_codes`); :func:`cluster_resample_counts` turns a
bootstrap over groups into the per-video resample-count matrix that :mod:`framecache.evaluation.statistics`
uses, so every existing statistic becomes a cluster-bootstrap statistic unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from framecache.evaluation.statistics import (
    ChanceTest,
    Interval,
    McNemar,
    percentile_interval,
    resample_counts,
    weighted_mean,
)

EXACT_METHOD = "exact"  # scipy's name for Clopper-Pearson in BinomTestResult.proportion_ci


def min_groups(confidence: float) -> int:
    """The fewest test groups (independent units) for group-level intervals and tests at ``confidence``: the
    smallest G at which an exact two-sided sign test over G groups can reach p < α (2·0.5^G < α; 6 at 95%).
    With fewer, not even every group favouring one head would be significant, so a bootstrap that finds a
    difference only reflects its missing spread."""
    alpha = 1.0 - confidence
    g = 1
    while 2.0 * 0.5**g >= alpha:
        g += 1
    return g


def group_codes(groups: Sequence[object]) -> np.ndarray:
    """Integer codes 0..G-1 in order of first appearance (distinct groups per video give 0..N-1 in order)."""
    codes: dict[object, int] = {}
    return np.array([codes.setdefault(g, len(codes)) for g in groups], dtype=np.int64)


def n_groups(codes: np.ndarray) -> int:
    return int(codes.max()) + 1 if len(codes) else 0


def is_grouped(codes: np.ndarray) -> bool:
    """Does any group hold more than one video (so videos are not independent)?"""
    return n_groups(codes) < len(codes)


def cluster_resample_counts(codes: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, N) per-video resample counts of a bootstrap that draws whole groups with replacement.

    A video's count is its group's count; with one video per group (codes 0..N-1 in order) this is exactly
    :func:`framecache.evaluation.statistics.resample_counts` with the same seed.
    """
    codes = np.asarray(codes, dtype=np.int64)
    return resample_counts(n_groups(codes), n_boot, seed)[:, codes]


def exact_interval(successes: float, n: float, confidence: float) -> tuple[float, float]:
    """Clopper-Pearson bounds of a share ``successes / n``.

    Integer counts use scipy's ``binomtest(...).proportion_ci(method="exact")``. A repeat-mean share (the mean
    over training repeats of 0/1 correctness) has a fractional count; the same bounds are then the beta
    quantiles that define Clopper-Pearson, ``Beta(α/2; k, n−k+1)`` and ``Beta(1−α/2; k+1, n−k)``.
    """
    if n <= 0:
        return float("nan"), float("nan")
    k = float(min(max(successes, 0.0), n))
    if float(k).is_integer() and float(n).is_integer():
        ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method=EXACT_METHOD)
        return float(ci.low), float(ci.high)
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return low, high


def widened(point: float, low: float, high: float, n: int, confidence: float) -> Interval:
    """A bootstrap interval of a score in [0, 1], widened to contain the exact interval of the same share
    over ``n`` videos: a percentile bootstrap is too narrow at small n (zero width at a perfect score)."""
    if np.isnan(point) or n <= 0:
        return Interval(point, low, high)
    e_low, e_high = exact_interval(point * n, n, confidence)
    return Interval(point, float(np.nanmin([low, e_low])), float(np.nanmax([high, e_high])))


def share_interval(scores: np.ndarray, weights: np.ndarray, codes: np.ndarray, confidence: float) -> Interval:
    """Interval of the mean of per-video scores in [0, 1] (0/1 correctness, or its mean over repeats).

    Independent videos: Clopper-Pearson on (sum, n). Grouped videos: the hull of Clopper-Pearson and the
    cluster-bootstrap percentile interval under ``weights`` (from :func:`cluster_resample_counts`).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan)
    point = float(scores.mean())
    low, high = exact_interval(float(scores.sum()), n, confidence)
    if is_grouped(codes):
        b_low, b_high = percentile_interval(weighted_mean(scores, weights), confidence)
        low, high = min(low, b_low), max(high, b_high)
    return Interval(point, low, high)


def chance_test(correct: np.ndarray, chance: float, weights: np.ndarray, codes: np.ndarray, alpha: float) -> ChanceTest:
    """One-sided test that accuracy exceeds ``chance``: exact binomial; with groups, the larger of that p and
    the cluster-bootstrap p (share of group resamples at or below chance, at least 1/B)."""
    correct = np.asarray(correct, dtype=bool)
    n, k = int(correct.size), int(correct.sum())
    if n == 0:
        return ChanceTest(0, 0, chance, float("nan"), False)
    p = float(stats.binomtest(k, n, chance, alternative="greater").pvalue)
    if is_grouped(codes) and len(weights):
        boot = weighted_mean(correct.astype(np.float64), weights)
        p = max(p, float(max(np.mean(boot <= chance), 1.0 / len(boot))))
    return ChanceTest(k, n, chance, p, p < alpha)


def group_sign_test(correct_a: np.ndarray, correct_b: np.ndarray, codes: np.ndarray) -> McNemar:
    """McNemar's exact test at group level: a sign test over the groups where the two heads' mean correctness
    differs (``only_a``/``only_b`` count groups). With one video per group it is the exact McNemar test."""
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"correctness vectors differ in length: {a.shape} vs {b.shape}")
    g = n_groups(codes)
    size = np.bincount(codes, minlength=g)
    diff = (np.bincount(codes, weights=a, minlength=g) - np.bincount(codes, weights=b, minlength=g)) / np.maximum(
        size, 1
    )
    only_a, only_b = int(np.sum(diff > 1e-12)), int(np.sum(diff < -1e-12))
    n = only_a + only_b
    method = "exact sign test over groups" if is_grouped(codes) else "exact"
    if n == 0:
        return McNemar(only_a, only_b, 1.0, method)
    p = float(stats.binomtest(min(only_a, only_b), n, 0.5).pvalue)
    return McNemar(only_a, only_b, min(1.0, p), method)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values of one family (missing or NaN p-values are not in the family).

    Sorted ascending, the i-th smallest (from 0) is multiplied by m − i, made monotone and capped at 1;
    rejecting where the adjusted p < α controls the family-wise error rate at α.
    """
    present = [i for i, p in enumerate(p_values) if p is not None and not np.isnan(p)]
    out: list[float | None] = [None] * len(p_values)
    m, running = len(present), 0.0
    for rank, i in enumerate(sorted(present, key=lambda j: p_values[j])):  # type: ignore[arg-type,return-value]
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))  # type: ignore[arg-type]
        out[i] = running
    return out
