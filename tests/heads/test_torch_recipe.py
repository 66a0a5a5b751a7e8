"""The torch heads' recipe (issue 19), over every torch head in the registry: the residual pooled head they start
from and fall back on, the readouts that pool over time, and the training options (label smoothing, warm-up,
temporal augmentation, seed averaging) — each changes the fit, and every fit stays deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from framecache import heads
from framecache.config.messages import ParamsError
from framecache.heads.pooled import PooledHead
from framecache.heads.residual import C_GRID
from framecache.heads.sequences import Augmentation
from tests.synthetic import mixed_lengths

TORCH_TYPES = [name for name, record in heads.REGISTRY.items() if record.uses_torch]
OPTIONS = {
    "label_smoothing": {"label_smoothing": 0.2},
    "warmup": {"warmup_epochs": 3},
    "augment": {"augment_speed": 1.5, "augment_crop": 0.6, "augment_drop": 0.3},
    "seeds": {"seeds": 2},
    "no_residual": {"residual_pooling": "none"},
}


def fast(kind: str, **extra) -> dict:
    return {"type": kind, **heads.REGISTRY[kind].tiny, **extra}


def data():
    X, y = mixed_lengths(seed=11, lengths=(3, 9))
    Xv, yv = mixed_lengths(n_per_class=3, seed=12, lengths=(3, 9))
    Xt, _ = mixed_lengths(n_per_class=2, seed=13, lengths=(3, 9))
    return X, y, Xv, yv, Xt


@pytest.mark.parametrize("kind", TORCH_TYPES)
@pytest.mark.parametrize("pooling", ["max", "maxmin"])
def test_epoch_zero_is_the_pooled_head_and_is_kept_when_no_epoch_beats_it(kind, pooling):
    X, y, Xv, yv, Xt = data()
    # a rate too small to move the net: no epoch lowers the validation loss, so the pooled head itself is kept
    head = heads.build_head(fast(kind, residual_pooling=pooling, lr=1e-9), random_state=0).fit(X, y, Xv, yv)
    assert head.best_epoch_ == 0 and head.history_[0]["step"] == 0
    pooled = PooledHead(pooling, C_grid=C_GRID, random_state=0).fit(X, y, Xv, yv)
    assert pooled.best_params_["C"] == head.residual_.C
    np.testing.assert_allclose(head.predict_proba(Xt), pooled.predict_proba(Xt), atol=1e-4)
    # the pooled head is frozen: only the net's own weights are counted and trained
    assert head.n_parameters_ == sum(p.numel() for p in head.module_.parameters() if p.requires_grad)


@pytest.mark.parametrize("kind", TORCH_TYPES)
def test_the_net_learns_on_top_of_the_pooled_head(kind):
    X, y, Xv, yv, _ = data()
    head = heads.build_head(fast(kind, residual_pooling="max"), random_state=0).fit(X, y, Xv, yv)
    losses = {r["step"]: r["val_loss"] for r in head.history_}
    assert head.best_epoch_ > 0 and losses[head.best_epoch_] < losses[0]


@pytest.mark.parametrize("kind", TORCH_TYPES)
@pytest.mark.parametrize("option", list(OPTIONS))
def test_each_training_option_changes_the_fit_and_stays_deterministic(kind, option):
    X, y, Xv, yv, Xt = data()
    plain = heads.build_head(fast(kind), random_state=0).fit(X, y, Xv, yv).predict_proba(Xt)
    config = fast(kind, **OPTIONS[option])
    a = heads.build_head(config, random_state=0).fit(X, y, Xv, yv).predict_proba(Xt)
    b = heads.build_head(config, random_state=0).fit(X, y, Xv, yv).predict_proba(Xt)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", TORCH_TYPES)
def test_seeds_average_the_members_predictions(kind):
    import torch

    X, y, Xv, yv, Xt = data()
    head = heads.build_head(fast(kind, seeds=3), random_state=0).fit(X, y, Xv, yv)
    members = head.module_.members
    assert len(members) == 3 and head.n_parameters_ == 3 * sum(p.numel() for p in members[0].parameters())
    x, lengths = head._pad(head._prepare(Xt))
    with torch.no_grad():
        mean = torch.stack([torch.softmax(m.eval()(x, lengths), 1) for m in members]).mean(0).double().numpy()
    np.testing.assert_allclose(head.predict_proba(Xt), mean, atol=1e-6)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "transformer"])
@pytest.mark.parametrize("readout", [["last"], ["mean"], ["max"], ["last", "mean", "max"]])
def test_every_readout_trains_and_ignores_padding(kind, readout):
    X, y, Xv, yv, Xt = data()
    head = heads.build_head(fast(kind, readout=readout), random_state=0).fit(X, y, Xv, yv)
    together = head.predict_proba(Xt)
    alone = np.concatenate([head.predict_proba([x]) for x in Xt])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)


def test_augmentation_keeps_frames_in_order_within_its_bounds():
    x = np.arange(20, dtype=np.float32)[:, None]
    rng = np.random.default_rng(0)
    crop = Augmentation(crop=0.5)
    for _ in range(50):
        out = crop(x, rng)
        assert 10 <= len(out) <= 20 and np.all(np.diff(out[:, 0]) == 1)  # one contiguous window
    speed = Augmentation(speed=2.0)
    lengths = {len(speed(x, rng)) for _ in range(200)}
    assert min(lengths) >= 10 and max(lengths) <= 40 and len(lengths) > 5
    drop = Augmentation(drop=0.9)
    for _ in range(50):
        out = drop(x, rng)
        assert len(out) >= 1 and np.all(np.diff(out[:, 0]) > 0)
    assert not Augmentation().active and np.array_equal(Augmentation()(x, rng), x)


@pytest.mark.parametrize("kind", TORCH_TYPES)
@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("augment_crop", 0, "a number > 0 and <= 1"),
        ("augment_drop", 0.95, "a number >= 0 and <= 0.9"),
        ("augment_speed", 0.5, "a number >= 1 and <= 4"),
        ("label_smoothing", 0.6, "a number >= 0 and <= 0.5"),
        ("seeds", 0, "an integer >= 1"),
        ("residual_pooling", "delta", "one of 'none', 'mean', 'max', 'min', 'maxmin'"),
    ],
)
def test_out_of_range_settings_name_the_key(kind, key, value, allowed):
    with pytest.raises(ParamsError, match=rf"heads\.mine\.{key} = {value!r} is not allowed: expected {allowed}"):
        heads.settings_of({"type": kind, key: value}, "mine")
