"""Tests for framecache.evaluation.intervals and design: exact intervals that hold at small n, group-aware
intervals that widen with correlated groups, Holm's correction, the group-level McNemar and chance tests, and
the one mean ± std (ddof=1)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from framecache.evaluation import intervals, statistics
from framecache.evaluation.design import GroupDesign
from framecache.evaluation.metrics import mean_std


def test_perfect_score_has_the_exact_interval_not_zero_width():
    low, high = intervals.exact_interval(16, 16, 0.95)
    assert low == pytest.approx(0.7941, abs=1e-4) and high == 1.0
    iv = intervals.share_interval(np.ones(16), np.ones((10, 16)), np.arange(16), 0.95)
    assert (round(100 * iv.low, 1), iv.high) == (79.4, 1.0)
    assert intervals.exact_interval(0, 16, 0.95) == (0.0, pytest.approx(1 - 0.7941, abs=1e-4))


def test_fractional_counts_use_the_same_clopper_pearson_bounds():
    # the beta-quantile form at an integer count equals scipy's exact interval; fractional counts lie between
    for k, n in ((3, 10), (9, 24), (0, 5), (7, 7)):
        want = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
        tail = 0.05
        low = 0.0 if k == 0 else stats.beta.ppf(tail, k, n - k + 1)
        high = 1.0 if k == n else stats.beta.ppf(1 - tail, k + 1, n - k)
        assert (low, high) == pytest.approx((want.low, want.high))
        assert intervals.exact_interval(k, n, 0.9) == pytest.approx((want.low, want.high))
    a, b, mid = (intervals.exact_interval(k, 24, 0.95) for k in (9, 10, 9.5))
    assert a[0] < mid[0] < b[0] and a[1] < mid[1] < b[1]


def test_exact_interval_covers_at_small_n():
    # n = 24 videos, true accuracy 0.95: the percentile bootstrap covers far less often; the exact interval
    # covers at least as often as claimed
    n, p, sims = 24, 0.95, 4000
    rng = np.random.default_rng(0)
    bounds = {k: intervals.exact_interval(k, n, 0.95) for k in range(n + 1)}
    ks = rng.binomial(n, p, sims)
    covered = np.mean([bounds[k][0] <= p <= bounds[k][1] for k in ks])
    assert covered >= 0.93
    weights = statistics.resample_counts(n, 400, seed=1)
    boot_covered = np.mean([
        statistics.mean_interval(np.r_[np.ones(k), np.zeros(n - k)], weights, 0.95).contains(p) for k in ks[:300]
    ])  # fmt: skip
    assert boot_covered < covered  # what the report used before: perfect scores gave [100, 100]


def _correlated_set(n_groups: int, size: int, right_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Videos in groups that are right or wrong together (a source's clips share its difficulty)."""
    codes = np.repeat(np.arange(n_groups), size)
    correct = np.repeat((np.arange(n_groups) < right_groups).astype(np.float64), size)
    return correct, codes


def test_group_correlated_set_gets_wider_intervals_than_iid():
    correct, codes = _correlated_set(8, 3, 6)  # 24 videos, 18 right (75%), in 8 groups of 3
    grouped = GroupDesign(codes, intervals.cluster_resample_counts(codes, 2000, 0), 0.95)
    iid = GroupDesign(np.arange(24), intervals.cluster_resample_counts(np.arange(24), 2000, 0), 0.95)
    g, i = grouped.share(correct), iid.share(correct)
    assert g.point == i.point == 0.75
    assert (g.high - g.low) > (i.high - i.low) + 0.05
    assert g.low <= i.low and g.high >= i.high  # never narrower than the exact interval of independent videos
    assert (i.low, i.high) == pytest.approx(intervals.exact_interval(18, 24, 0.95))
    # the chance test is also more cautious with the groups
    assert grouped.chance(correct.astype(bool), 0.5).p_value > iid.chance(correct.astype(bool), 0.5).p_value


def test_cluster_resampling_moves_groups_together_and_reduces_to_the_plain_bootstrap():
    codes = intervals.group_codes(["b", "a", "b", "c", "a"])
    assert list(codes) == [0, 1, 0, 2, 1] and intervals.n_groups(codes) == 3 and intervals.is_grouped(codes)
    w = intervals.cluster_resample_counts(codes, 50, seed=2)
    np.testing.assert_array_equal(w[:, 0], w[:, 2])
    np.testing.assert_array_equal(w[:, 1], w[:, 4])
    assert np.all(w[:, [0, 1, 3]].sum(axis=1) == 3)
    singles = intervals.group_codes([f"v{i}" for i in range(9)])
    assert not intervals.is_grouped(singles)
    np.testing.assert_array_equal(
        intervals.cluster_resample_counts(singles, 40, 5), statistics.resample_counts(9, 40, 5)
    )


def test_group_sign_test_is_mcnemar_for_single_videos_and_counts_groups_otherwise():
    rng = np.random.default_rng(3)
    a, b = rng.random(40) < 0.8, rng.random(40) < 0.6
    mc = statistics.mcnemar(a, b)
    gs = intervals.group_sign_test(a, b, np.arange(40))
    assert (gs.only_a, gs.only_b, gs.p_value) == (mc.only_a, mc.only_b, pytest.approx(mc.p_value))
    # two groups of 20: one group per side at most, so the test cannot be significant
    grouped = intervals.group_sign_test(np.r_[np.ones(20), np.zeros(20)], np.zeros(40), np.repeat([0, 1], 20))
    assert (grouped.only_a, grouped.only_b, grouped.p_value) == (1, 0, 1.0)


def test_holm_adjusts_within_the_family():
    adjusted = intervals.holm([0.01, 0.04, 0.03, None, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.09, max(0.09, 0.08), max(.., 0.5)
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, None, 0.5])
    assert intervals.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert intervals.holm([0.02, 0.3]) == pytest.approx([0.04, 0.3])
    assert intervals.holm([]) == []


def test_mean_std_is_the_sample_std():
    assert mean_std([0.5, 0.7, 0.9]) == pytest.approx((0.7, 0.2))  # ddof=1: sqrt(0.08 / 2)
    assert mean_std([0.8]) == (0.8, 0.0)
    assert mean_std([0.6, 0.8])[1] == pytest.approx(np.std([0.6, 0.8], ddof=1))


def test_widened_bootstrap_interval_contains_the_exact_one():
    iv = intervals.widened(1.0, 1.0, 1.0, 16, 0.95)
    assert iv.low == pytest.approx(0.7941, abs=1e-4) and iv.high == 1.0
    wide = intervals.widened(0.5, 0.1, 0.9, 16, 0.95)
    assert (wide.low, wide.high) == (0.1, 0.9)


def test_min_groups_is_where_an_exact_sign_test_over_groups_can_reach_the_level():
    assert intervals.min_groups(0.95) == 6 and intervals.min_groups(0.99) == 8 and intervals.min_groups(0.9) == 5
    for confidence in (0.9, 0.95, 0.99):
        g = intervals.min_groups(confidence)
        assert 2 * 0.5**g < 1 - confidence <= 2 * 0.5 ** (g - 1)  # every group favouring one head: p = 2·0.5^G


@pytest.mark.parametrize("groups", [1, 5])
def test_too_few_groups_give_no_group_level_interval_or_test(groups):
    """One group (or five): a cluster bootstrap has no spread, so nothing that rests on it is claimed; the exact
    sign test over groups still holds."""
    n = 40
    design = GroupDesign.build([f"g{i % groups}" for i in range(n)], n_boot=500, confidence=0.95, seed=0)
    a, b = np.ones(n), np.r_[np.zeros(10), np.ones(n - 10)]  # head a right on 10 more videos, in every group
    assert not design.enough_groups
    diff = design.contrast(a, b)
    assert diff.diff.point == pytest.approx(0.25) and np.isnan(diff.diff.low) and np.isnan(diff.p_value)
    assert np.isnan(design.share(b).low) and design.share(b).point == pytest.approx(0.75)
    assert np.isnan(design.widen(statistics.Interval(0.75, 0.7, 0.8)).high)
    chance = design.chance(a.astype(bool), 0.1)
    assert np.isnan(chance.p_value) and not chance.above
    assert design.mcnemar(a, b).p_value >= 2 * 0.5**groups  # exact: never below what G groups can show


def test_enough_groups_or_independent_videos_keep_every_interval_and_test():
    n = 40
    design = GroupDesign.build([f"g{i % 6}" for i in range(n)], n_boot=500, confidence=0.95, seed=0)
    a, b = np.ones(n), np.r_[np.zeros(10), np.ones(n - 10)]
    assert design.enough_groups and not np.isnan(design.contrast(a, b).p_value)
    assert not np.isnan(design.share(b).low) and not np.isnan(design.chance(a.astype(bool), 0.1).p_value)
    few = GroupDesign.build([f"v{i}" for i in range(4)], n_boot=500, confidence=0.95, seed=0)
    # four independent videos: exact Clopper-Pearson and the binomial test hold; no bootstrap difference
    assert not few.grouped and not few.enough_groups
    assert few.share(np.ones(4)).low == pytest.approx(intervals.exact_interval(4, 4, 0.95)[0])
    assert not np.isnan(few.chance(np.ones(4, bool), 0.25).p_value)
    assert np.isnan(few.contrast(np.ones(4), np.zeros(4)).p_value)
