"""Frame pooling and the helpers every head shares: descriptor values, order invariance, subsampling, hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from framecache.heads.base import count_truncated, even_subsample, holdout
from framecache.heads.pooling import POOLINGS, is_order_invariant, pool, pool_one


def test_pooling_values_and_delta_edge_cases():
    x = np.array([[0.0, 5.0], [1.0, 3.0], [4.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(pool_one(x, "mean"), [5 / 3, 4.0], rtol=1e-6)
    np.testing.assert_array_equal(pool_one(x, "maxmin"), [4, 5, 0, 3])
    # differences x[t+1] - x[t]: [1, -2], [3, 1] -> max [3, 1], min [1, -2]
    np.testing.assert_array_equal(pool_one(x, "delta"), [3, 1, 1, -2])
    np.testing.assert_array_equal(pool_one(x, "delta", delta_step=2), [4, -1, 4, -1])
    np.testing.assert_array_equal(pool_one(x, "delta", delta_step=9), [4, -1, 4, -1])  # capped at T - 1
    np.testing.assert_array_equal(pool_one(x[:1], "delta"), [0, 0, 0, 0])  # T = 1: no change, zeros
    assert pool_one(x, "maxmin_delta").shape == (8,)
    # reversal flips the dynamic descriptor: max of the reversal is minus the original's min
    np.testing.assert_array_equal(pool_one(x[::-1].copy(), "delta"), [-1, 2, -3, -1])


@pytest.mark.parametrize("pooling", POOLINGS)
def test_static_pooling_is_exactly_order_invariant(pooling):
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(int(t), 6)).astype(np.float32) for t in rng.integers(2, 30, size=20)]
    same = np.array_equal(pool(X, pooling), pool([x[::-1].copy() for x in X], pooling))
    assert same == is_order_invariant(pooling)


def test_even_subsample_and_truncation_count():
    x = np.arange(10, dtype=np.float32)[:, None]
    np.testing.assert_array_equal(even_subsample(x, 4)[:, 0], [0, 3, 6, 9])
    assert even_subsample(x, 10) is x and even_subsample(x, None) is x
    assert count_truncated([x, x[:3]], 5) == 1 and count_truncated([x], None) == 0


def test_holdout_is_stratified_and_degrades_on_tiny_data():
    y = np.repeat([0, 1, 2], 10)
    fit, val = holdout(y, 0.2, 0)
    assert np.bincount(y[val]).tolist() == [2, 2, 2] and len(np.intersect1d(fit, val)) == 0
    fit, val = holdout(np.array([0, 0, 1]), 0.2, 0)  # a singleton class cannot be stratified
    assert len(val) == 1 and len(fit) == 2
    fit, val = holdout(np.array([0]), 0.2, 0)
    assert fit.tolist() == val.tolist() == [0]
