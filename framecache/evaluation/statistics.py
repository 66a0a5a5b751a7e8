"""The uncertainty behind every number in the report: bootstrap confidence intervals over test videos, the
test that a head beats chance, and paired tests between two heads scored on the same test videos.

A test set of a few dozen videos makes a difference of a few points of accuracy meaningless, so the report
never shows a point estimate alone. The randomness the intervals describe is *which test videos we happened
to get*: every interval resamples test videos with replacement (the percentile bootstrap). Seed-to-seed
variation of training (``train.repeats``) is a different source and is reported separately as mean ± std.

Resampling is expressed as a matrix of resample counts ``W`` (B resamples × N videos) shared by every head
and metric, so the intervals of two heads come from the same resamples (a paired bootstrap for free) and
each metric is one matrix product instead of B Python-level metric calls. The report builds ``W`` over
*groups* of videos (:func:`framecache.evaluation.intervals.cluster_resample_counts`) and gives shares of videos
exact intervals instead (:mod:`framecache.evaluation.intervals`): a percentile bootstrap alone is too narrow at
small n and has zero width at a perfect score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

BOOTSTRAP_METRICS = ("top1", "top5", "mean_class_accuracy", "macro_f1")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided confidence interval."""

    point: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def resample_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) matrix: how often each of n items appears in each bootstrap resample (rows sum to n).

    Deterministic for a given seed, so two report runs give identical intervals.
    """
    if n <= 0:
        return np.zeros((n_boot, 0))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (idx + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile-bootstrap bounds of a 1-D array of resampled statistics (NaN resamples ignored)."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-resample mean of per-video ``values`` (N,) under resample counts ``weights`` (B, N)."""
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ np.asarray(values, dtype=np.float64)) / total


def resampled_metrics(y_true: np.ndarray, proba: np.ndarray, weights: np.ndarray, k: int = 5) -> dict[str, np.ndarray]:
    """Each of :data:`BOOTSTRAP_METRICS` on every resample; shape (B,) each.

    Definitions match :func:`framecache.evaluation.metrics.classification_metrics` on each resample (all-ones
    weights give exactly its values): mean class accuracy and macro-F1 average over the classes present in the
    resample.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    pred = np.argmax(proba, axis=1)
    correct = (pred == y_true).astype(np.float64)
    top = np.argsort(-proba, axis=1, kind="stable")[:, : min(k, n_classes)]
    in_top = np.any(top == y_true[:, None], axis=1).astype(np.float64)

    onehot_true = np.eye(n_classes)[y_true]  # (N, C)
    onehot_pred = np.eye(n_classes)[pred]
    support = weights @ onehot_true  # (B, C)
    hits = weights @ (onehot_true * correct[:, None])
    predicted = weights @ onehot_pred
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, hits / support, np.nan)
        f1 = np.where(present, 2 * hits / (support + predicted), np.nan)
        mean_class = np.nanmean(recall, axis=1) if n_classes else np.full(len(weights), np.nan)
        macro_f1 = np.nanmean(f1, axis=1) if n_classes else np.full(len(weights), np.nan)
    return {
        "top1": weighted_mean(correct, weights),
        "top5": weighted_mean(in_top, weights),
        "mean_class_accuracy": mean_class,
        "macro_f1": macro_f1,
    }


def bootstrap_metrics(
    y_true: np.ndarray,
    probas: Sequence[np.ndarray],
    n_boot: int,
    confidence: float,
    seed: int,
    weights: np.ndarray | None = None,
) -> dict[str, Interval]:
    """Point value and CI of each metric, averaged over training repeats, resampling test videos.

    ``probas`` holds one (N, C) array per repeat, rows aligned with ``y_true``. Each resample picks test
    videos once and scores every repeat on them, so the interval describes the repeat-mean metric.
    ``weights`` (from :func:`resample_counts`) lets callers share resamples across heads.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    if weights is None:
        weights = resample_counts(len(y_true), n_boot, seed)
    ones = np.ones((1, len(y_true)))
    with np.errstate(invalid="ignore"):
        points = [resampled_metrics(y_true, p, ones) for p in probas]
        boots = [resampled_metrics(y_true, p, weights) for p in probas]
    out = {}
    for name in BOOTSTRAP_METRICS:
        point = float(np.mean([p[name][0] for p in points]))
        low, high = percentile_interval(np.mean([b[name] for b in boots], axis=0), confidence)
        out[name] = Interval(point, low, high)
    return out


def mean_interval(scores: np.ndarray, weights: np.ndarray, confidence: float) -> Interval:
    """Mean of per-video ``scores`` (N,) with its bootstrap CI under shared resample ``weights``."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    low, high = percentile_interval(weighted_mean(scores, weights), confidence)
    return Interval(float(scores.mean()), low, high)


@dataclass(frozen=True)
class PairedBootstrap:
    """Mean difference of per-video scores a − b with its CI and a two-sided bootstrap p-value."""

    diff: Interval
    p_value: float


def paired_bootstrap(
    scores_a: np.ndarray, scores_b: np.ndarray, weights: np.ndarray, confidence: float
) -> PairedBootstrap:
    """Compare two heads on the same test videos by resampling the videos (the same rows for both).

    The p-value is the two-sided bootstrap p: twice the smaller share of resamples on either side of zero,
    capped at 1 (the smallest reportable value is 1/B).
    """
    delta = np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b, dtype=np.float64)
    if delta.size == 0:
        nan = float("nan")
        return PairedBootstrap(Interval(nan, nan, nan), nan)
    boot = weighted_mean(delta, weights)
    low, high = percentile_interval(boot, confidence)
    p = 2.0 * min(np.mean(boot <= 0), np.mean(boot >= 0))
    return PairedBootstrap(Interval(float(delta.mean()), low, high), float(min(1.0, max(p, 1.0 / len(boot)))))


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test on the discordant pairs of two classifiers scored on the same videos."""

    only_a: int  # videos head a got right and head b wrong
    only_b: int  # videos head b got right and head a wrong
    p_value: float
    method: str


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, mid_p: bool = False) -> McNemar:
    """McNemar's test of equal accuracy for paired 0/1 correctness vectors.

    Exact form: under H0 each discordant video is equally likely to favour either head, so the count
    favouring a is Binomial(b + c, 1/2); the two-sided p doubles the smaller tail (capped at 1). The mid-p
    variant subtracts the probability of the observed count once, which is less conservative.
    With no discordant videos the heads are indistinguishable here: p = 1.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"correctness vectors differ in length: {a.shape} vs {b.shape}")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    n = only_a + only_b
    if n == 0:
        return McNemar(only_a, only_b, 1.0, "exact (mid-p)" if mid_p else "exact")
    k = min(only_a, only_b)
    p = 2.0 * stats.binom.cdf(k, n, 0.5)
    if mid_p:
        p -= stats.binom.pmf(k, n, 0.5)
    return McNemar(only_a, only_b, float(min(1.0, p)), "exact (mid-p)" if mid_p else "exact")


@dataclass(frozen=True)
class ChanceTest:
    """One-sided binomial test of accuracy against a chance rate."""

    correct: int
    n: int
    chance: float
    p_value: float
    above: bool


def chance_rate(y_true: np.ndarray, n_classes: int) -> float:
    """The accuracy a label-blind guesser can reach on this set: the largest class share, at least 1/C.

    Always predicting the most frequent test class scores exactly its share, so beating it (not just 1/C)
    is what "learned something" means on an unbalanced test set.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) == 0:
        return float("nan")
    shares = np.bincount(y_true, minlength=n_classes) / len(y_true)
    return float(max(shares.max(), 1.0 / n_classes))


def above_chance(correct: np.ndarray, chance: float, alpha: float = 0.05) -> ChanceTest:
    """Is accuracy above ``chance``? One-sided exact binomial test (H1: accuracy > chance) at level ``alpha``."""
    correct = np.asarray(correct, dtype=bool)
    n, k = int(correct.size), int(correct.sum())
    if n == 0:
        return ChanceTest(0, 0, chance, float("nan"), False)
    p = float(stats.binomtest(k, n, chance, alternative="greater").pvalue)
    return ChanceTest(k, n, chance, p, p < alpha)
