"""What the torch heads share: the training loop (RNG isolation, early stopping, max_len, class weights, device
errors) and masking — padding never changes a video's output — checked for every torch head in the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache import heads
from framecache.errors import FramecacheError
from framecache.heads.base import count_truncated, even_subsample
from tests.synthetic import mixed_lengths as tiny

TORCH_TYPES = [name for name, record in heads.REGISTRY.items() if record.uses_torch]


def fast(kind: str, **extra) -> dict:
    return {"type": kind, **heads.REGISTRY[kind].tiny, **extra}


def test_torch_fit_leaves_global_rng_and_determinism_flag_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    X, y = tiny()
    heads.build_head(fast("gru"), random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)
    assert not torch.are_deterministic_algorithms_enabled()


def test_early_stopping_restores_best_epoch():
    from framecache.heads.neural import MIN_DELTA

    X, y = tiny(seed=4)
    Xv, yv = tiny(n_per_class=3, seed=5)
    head = heads.build_head(fast("lstm", max_epochs=30, patience=3, lr=0.05), random_state=0).fit(X, y, Xv, yv)
    losses = {r["step"]: r["val_loss"] for r in head.history_}
    best = losses[head.best_epoch_]
    assert best <= min(losses.values()) + MIN_DELTA
    assert max(losses) < 30 and max(losses) == head.best_epoch_ + 3  # stopped by patience
    # the restored weights are the best epoch's: their validation loss is that epoch's
    p = head.predict_proba(Xv)
    idx = np.searchsorted(head.classes_, yv)
    assert -np.mean(np.log(p[np.arange(len(yv)), idx])) == pytest.approx(best, rel=1e-5)


def test_regularisation_is_chosen_on_validation_from_the_grid():
    from framecache.heads.base import selection_key

    X, y = tiny(seed=4)
    Xv, yv = tiny(n_per_class=3, seed=5)
    config = fast("gru", dropout=0.0, dropout_grid=[0.5, 0.0], hidden_grid=[4], weight_decay_grid=[0.1])
    head = heads.build_head(config, random_state=0).fit(X, y, Xv, yv)
    # the head's own values first, each grid value once: 2 hidden x 2 dropout x 2 weight decay
    assert head.candidates()[0] == {"hidden": 8, "dropout": 0.0, "weight_decay": 0.01} and len(head.grid_) == 8
    assert {(r["hidden"], r["dropout"], r["weight_decay"]) for r in head.grid_} == {
        (h, d, w) for h in (8, 4) for d in (0.0, 0.5) for w in (0.01, 0.1)
    }
    best = min(head.grid_, key=lambda r: selection_key(r["val_accuracy"], r["val_loss"], r["step"]))
    assert head.best_params_ == {k: best[k] for k in ("hidden", "dropout", "weight_decay")}
    assert head.best_epoch_ == best["epoch"] and len(head.history_) == best["epochs_run"]
    # the kept model is the chosen candidate's: same as fitting that candidate alone
    alone = heads.build_head(fast("gru", **head.best_params_, dropout_grid=[]), random_state=0).fit(X, y, Xv, yv)
    np.testing.assert_allclose(head.predict_proba(Xv), alone.predict_proba(Xv), atol=1e-6)
    assert head.n_parameters_ == alone.n_parameters_


def test_max_len_subsamples_and_counts():
    X, y = tiny(lengths=(1, 12))
    head = heads.build_head(fast("gru", max_len=4), random_state=0).fit(X, y)
    assert head.truncated_ == count_truncated(X, 4) > 0
    np.testing.assert_array_equal(head.predict_proba([X[1]]), head.predict_proba([even_subsample(X[1], 4)]))


def test_explicit_cuda_without_gpu_is_a_user_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    X, y = tiny()
    with pytest.raises(FramecacheError, match="no CUDA"):
        heads.build_head(fast("rnn"), random_state=0, device="cuda").fit(X, y)


def test_class_weighting_changes_the_fit():
    X, y = tiny(seed=6)
    X, y = X[:8], y[:8]  # 6 of class 0, 2 of class 1
    a = heads.build_head(fast("rnn"), random_state=0).fit(X, y).predict_proba(X)
    b = heads.build_head(fast("rnn", class_weight="balanced"), random_state=0).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, b)
    c = heads.build_head(fast("pooled", class_weight="balanced"), random_state=0).fit(X, y)
    assert c.estimator_.named_steps["clf"].class_weight == "balanced"


@pytest.mark.parametrize("kind", TORCH_TYPES)
def test_padding_never_changes_a_masked_heads_output(kind):
    X, y = tiny(lengths=(1, 9), seed=7)
    head = heads.build_head(fast(kind), random_state=0).fit(X, y)
    together = head.predict_proba(X)
    alone = np.concatenate([head.predict_proba([x]) for x in X])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    # and at the module level, with garbage (not zeros) in the padded steps
    from framecache.heads.neural import pad

    module = head.module_.eval()
    prepared = head._prepare(X)
    x, lengths = pad(prepared, head.feature_mean_, head.feature_scale_)
    garbage = x.clone()
    for i, n in enumerate(lengths.tolist()):
        garbage[i, n:] = torch.randn(x.shape[1] - n, x.shape[2]) * 100
    with torch.no_grad():
        clean = module(x, lengths)
        dirty = module(garbage, lengths)
        single = torch.cat([module(*pad([p], head.feature_mean_, head.feature_scale_)) for p in prepared])
    torch.testing.assert_close(dirty, clean, rtol=0, atol=1e-5)
    torch.testing.assert_close(single, clean, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_fit_and_predict_standardise_per_batch_without_copying_the_data(kind):
    # a standardised float32 copy of every video (what the heads once kept for the whole fit: 0.78 GB at UCF101
    # scale) is a numpy allocation as large as the data; per-batch standardisation allocates one video at a time
    # (torch's own tensors are not traced by tracemalloc, the numpy copies are)
    import tracemalloc

    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    X = [(rng.standard_normal((10, 512)) + c).astype(np.float32) for c in y]
    data_bytes = sum(x.nbytes for x in X)
    # without the residual pooled head, which holds one pooled descriptor per video (N x k, as a pooled head does)
    head = heads.build_head(fast(kind, max_epochs=1, batch_size=8, residual_pooling="none"), random_state=0)
    # a first fit loads what a fit imports (scikit-learn's solvers for the residual pooled head, the parts of torch
    # that deterministic mode loads): modules, not data, which tracemalloc would count too
    heads.build_head(fast(kind, max_epochs=1), random_state=0).fit(X[:12], y[:12])
    tracemalloc.start()
    try:
        head.fit(X, y, X[:40], y[:40])
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        proba = head.predict_proba(X)
        _, predict_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert proba.shape == (120, 3)
    assert fit_peak < 0.2 * data_bytes and predict_peak < 0.2 * data_bytes, (fit_peak, predict_peak, data_bytes)
