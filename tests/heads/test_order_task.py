"""The order task: a sequence vs its exact reversal. Order-blind heads provably score 50%, heads that read
order learn it; and the synthetic order task of :mod:`tests.synthetic` is what it claims to be."""

from __future__ import annotations

import numpy as np
import pytest

from framecache import heads
from tests.synthetic import order_pairs, order_task, pair_accuracy

BLIND = [
    {"type": "pooled", "pooling": "mean"},
    {"type": "pooled", "pooling": "max"},
    {"type": "pooled", "pooling": "min"},
    {"type": "pooled", "pooling": "maxmin"},
    {"type": "svm", "kernel": "linear", "pooling": "mean", "calibration_folds": 2},
    {"type": "svm", "kernel": "rbf", "pooling": "maxmin", "calibration_folds": 2},
    {"type": "attention", "positional": False, "hidden": 8, "max_epochs": 5},
]


@pytest.mark.parametrize("config", BLIND, ids=lambda c: f"{c['type']}-{c.get('pooling', 'nopos')}")
def test_static_heads_provably_cannot_tell_a_sequence_from_its_reversal(config):
    X, y = order_pairs(20)
    head = heads.build_head(config, random_state=0).fit(X, y)
    Xt, yt = order_pairs(10, seed=1)
    proba = head.predict_proba(Xt)
    # each test pair is (path, reversed path): identical descriptors, hence identical probabilities
    if config["type"] == "attention":
        np.testing.assert_allclose(proba[0::2], proba[1::2], rtol=0, atol=1e-6)
    else:
        np.testing.assert_array_equal(proba[0::2], proba[1::2])
    assert np.mean(head.predict(Xt) == yt) == 0.5


TEMPORAL = {
    "rnn": {"hidden": 16},
    "lstm": {"hidden": 16},
    "gru": {"hidden": 16},
    "attention": {"hidden": 16, "attention_hidden": 8},
    "transformer": {"hidden": 16, "num_heads": 2, "feedforward": 32},
    "pooled": {"pooling": "delta"},  # the dynamic descriptor is not order-blind either
}


@pytest.mark.parametrize("kind", list(TEMPORAL))
def test_temporal_heads_learn_the_order_task(kind):
    X, y = order_pairs(30)
    Xv, yv = order_pairs(8, seed=2)
    Xt, yt = order_pairs(20, seed=3)
    config = {"type": kind, **TEMPORAL[kind]}
    if kind != "pooled":
        config.update(max_epochs=60, patience=10, input_dropout=0.0, dropout=0.0, lr=0.01)
    head = heads.build_head(config, random_state=0).fit(X, y, Xv, yv)
    assert np.mean(head.predict(Xt) == yt) >= 0.9


def test_synthetic_order_task_pairs_are_exact_reversals_in_the_same_split():
    d = order_task(clips_per_class=4, frames=(1, 6), k=12, latent=4, seed=3)
    assert len(d.classes) == 10 and len(d.X) == 40 and d.pairs == [(4, 5), (6, 7), (8, 9)]
    for fwd, rev in d.pairs:
        a, b = np.flatnonzero(d.y == fwd), np.flatnonzero(d.y == rev)
        for i, j in zip(a, b, strict=True):
            np.testing.assert_array_equal(d.X[j], d.X[i][::-1])
            assert d.split[i] == d.split[j]
    # identical probabilities for a clip and its reversal: exactly half right within the pair
    proba = np.tile([0.1, 0.9], (8, 1))
    assert pair_accuracy(np.array([0, 1] * 4), proba, (0, 1)) == 0.5
