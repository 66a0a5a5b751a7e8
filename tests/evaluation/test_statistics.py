"""Tests for framecache.evaluation.statistics: interval coverage, chance test, McNemar on known tables, paired
bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from framecache.evaluation import metrics, statistics


def _proba_from_predictions(y_pred: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Random probabilities whose argmax is y_pred."""
    p = rng.random((len(y_pred), n_classes))
    p[np.arange(len(y_pred)), y_pred] += n_classes
    return p / p.sum(axis=1, keepdims=True)


def test_resample_counts_rows_sum_to_n_and_are_deterministic():
    w = statistics.resample_counts(37, 50, seed=3)
    assert w.shape == (50, 37)
    assert np.all(w.sum(axis=1) == 37)
    np.testing.assert_array_equal(w, statistics.resample_counts(37, 50, seed=3))
    assert not np.array_equal(w, statistics.resample_counts(37, 50, seed=4))


def test_all_ones_weights_reproduce_point_metrics():
    rng = np.random.default_rng(0)
    n, c = 60, 7
    y = rng.integers(0, c - 1, n)  # class c-1 absent: mean class accuracy and macro-F1 skip it
    pred = np.where(rng.random(n) < 0.6, y, rng.integers(0, c, n))
    proba = _proba_from_predictions(pred, c, rng)
    got = statistics.resampled_metrics(y, proba, np.ones((1, n)))
    want = metrics.classification_metrics(y, proba)
    for name in statistics.BOOTSTRAP_METRICS:
        assert got[name][0] == pytest.approx(want[name]), name


def test_bootstrap_ci_covers_true_accuracy_at_about_nominal_rate():
    # 300 synthetic test sets of 150 videos, each prediction right with probability 0.7.
    rng = np.random.default_rng(1)
    n, c, true_acc, trials = 150, 5, 0.7, 300
    covered = 0
    widths = []
    for t in range(trials):
        y = rng.integers(0, c, n)
        wrong = (y + rng.integers(1, c, n)) % c
        pred = np.where(rng.random(n) < true_acc, y, wrong)
        proba = _proba_from_predictions(pred, c, rng)
        ci = statistics.bootstrap_metrics(y, [proba], n_boot=400, confidence=0.95, seed=t)["top1"]
        covered += ci.contains(true_acc)
        widths.append(ci.high - ci.low)
    rate = covered / trials
    # nominal 0.95; binomial sd over 300 trials is ~0.013, percentile bootstrap runs slightly narrow
    assert 0.89 <= rate <= 0.99, rate
    # width close to the normal approximation 2 * 1.96 * sqrt(p(1-p)/n) = 0.147
    assert np.mean(widths) == pytest.approx(0.147, abs=0.02)


def test_bootstrap_is_deterministic_and_averages_repeats():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40)
    p1 = _proba_from_predictions(y, 3, rng)  # all right
    p2 = _proba_from_predictions((y + 1) % 3, 3, rng)  # all wrong
    a = statistics.bootstrap_metrics(y, [p1, p2], 200, 0.9, seed=5)
    b = statistics.bootstrap_metrics(y, [p1, p2], 200, 0.9, seed=5)
    assert a == b
    assert a["top1"].point == pytest.approx(0.5)
    # every resample scores both repeats on the same videos: the mean is exactly 0.5 each time
    assert a["top1"].low == pytest.approx(0.5) and a["top1"].high == pytest.approx(0.5)


def test_chance_rate_is_the_majority_share_or_uniform():
    assert statistics.chance_rate(np.array([0, 0, 0, 1]), 2) == pytest.approx(0.75)
    assert statistics.chance_rate(np.array([0, 1, 2, 3]), 4) == pytest.approx(0.25)
    # a class absent from the test set still counts for the uniform floor
    assert statistics.chance_rate(np.array([0, 1]), 10) == pytest.approx(0.5)


def test_above_chance_says_no_on_random_and_yes_on_good_predictions():
    rng = np.random.default_rng(3)
    c, n = 6, 120
    y = rng.integers(0, c, n)
    chance = statistics.chance_rate(y, c)
    random_pred = rng.integers(0, c, n)
    good_pred = np.where(rng.random(n) < 0.8, y, random_pred)
    no = statistics.above_chance(random_pred == y, chance)
    yes = statistics.above_chance(good_pred == y, chance)
    assert not no.above and no.p_value > 0.05
    assert yes.above and yes.p_value < 1e-10
    assert yes.n == n and yes.correct == int(np.sum(good_pred == y))


def test_above_chance_majority_baseline_is_not_above_chance():
    # always predicting the majority class scores exactly the chance rate: not evidence of learning
    y = np.array([0] * 30 + [1] * 10)
    res = statistics.above_chance(np.zeros_like(y) == y, statistics.chance_rate(y, 2))
    assert not res.above


@pytest.mark.parametrize(
    ("only_a", "only_b", "exact", "mid"),
    [
        (1, 9, 0.021484375, 0.01171875),  # 2 * (1 + 10) / 1024; minus P(X = 1) = 10/1024
        (9, 1, 0.021484375, 0.01171875),  # symmetric
        (5, 5, 1.0, 1.0),  # the centre: 2 P(X <= 5) - P(X = 5) = 1
        (0, 6, 0.03125, 0.015625),  # 2 / 64; minus 1/64
        (0, 0, 1.0, 1.0),  # no discordant videos
    ],
)
def test_mcnemar_on_known_tables(only_a, only_b, exact, mid):
    both = 7  # concordant videos do not enter the test
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * 3, dtype=bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * 3, dtype=bool)
    res = statistics.mcnemar(a, b)
    assert (res.only_a, res.only_b) == (only_a, only_b)
    assert res.p_value == pytest.approx(exact)
    assert res.method == "exact"
    assert statistics.mcnemar(a, b, mid_p=True).p_value == pytest.approx(mid)


def test_mcnemar_rejects_unpaired_vectors():
    with pytest.raises(ValueError, match="differ in length"):
        statistics.mcnemar(np.ones(3), np.ones(4))


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(4)
    n = 200
    w = statistics.resample_counts(n, 1000, seed=0)
    a = (rng.random(n) < 0.9).astype(float)
    b = (rng.random(n) < 0.5).astype(float)
    res = statistics.paired_bootstrap(a, b, w, 0.95)
    assert res.diff.point == pytest.approx(a.mean() - b.mean())
    assert res.diff.low > 0 and res.p_value < 0.01
    same = statistics.paired_bootstrap(a, a, w, 0.95)
    assert same.diff.point == 0 and same.p_value == 1.0


def test_mean_interval_brackets_the_mean():
    scores = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    w = statistics.resample_counts(len(scores), 500, seed=1)
    ci = statistics.mean_interval(scores, w, 0.95)
    assert ci.point == pytest.approx(0.75)
    assert 0.0 <= ci.low < 0.75 < ci.high <= 1.0
    empty = statistics.mean_interval(np.array([]), w[:, :0], 0.95)
    assert np.isnan(empty.point)
